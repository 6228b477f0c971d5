# Boot entry of the enhanced scan box: load /config.json, join the network, build the board's
# peripherals and run the app. Everything below the board is hardware-independent.
#
# /config.json (written by the provisioning tool):
#   device_id       "D0001"                      required
#   device_key      64 hex characters            required (the HMAC key's 32 bytes)
#   server_url      "https://pay.example.com"    required
#   wifi            {"ssid": ..., "password": ...}
#   ca_file         "/ca.pem"   CA the https server's certificate must chain to
#   max_fen         5000000     largest amount the keypad accepts (fen)
#   scan_timeout_s  30          how long the box waits for the customer's code
#   code_prefixes   [[channel, lo, hi, min_len, max_len], ...]   replaces the built-in table
#   subject         text shown on the payer's bill
#   voice_chip      "syn6288" or "xfs5152";  voice_busy_pin  true if BUSY is wired
#   journal_path    "/journal.json"
import asyncio
import json

CONFIG_PATH = "/config.json"


def load_config(path=CONFIG_PATH):
    with open(path) as f:
        config = json.loads(f.read())
    for name in ("device_id", "device_key", "server_url"):
        if not config.get(name):
            raise ValueError("config %s lacks %r" % (path, name))
    return config


async def main(config_path=CONFIG_PATH):
    from boards import enhanced_box as board
    from core.app import make_app

    config = load_config(config_path)
    # no network yet is not fatal: each payment reports "网络异常" until Wi-Fi comes up
    await board.connect_network(config)
    app = make_app(board.build(config), config)
    await app.run()


if __name__ == "__main__":
    asyncio.run(main())
