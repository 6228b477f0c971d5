# Boot entry of every scanpay device: load /config.json, pick the profile's board file, join the
# network (when the profile has one), build the peripherals and run the profile's app.
# Everything below the board is hardware-independent.
#
# /config.json (written by the provisioning tool):
#   profile         "enhanced_box" (default), "handheld_gun", "qr_stand", "basic_box" or "speaker"
#   device_id       "D0001"                      required (basic box: its serial number)
#   device_key      64 hex characters            required, except on the basic box
#   server_url      "https://pay.example.com"    required, except on the basic box
#   wifi            {"ssid": ..., "password": ...}
#   modem           {"apn": "cmnet", "pin": ""}  handheld gun: 3G/4G through PPP instead of Wi-Fi;
#                   "pwrkey_ms": how long PWRKEY is pressed to power the modem on (500; EC200U 2000)
#   ca_file         "/ca.pem"   CA the https server's certificate must chain to
#   max_fen         5000000     largest amount the keypad accepts (fen; `info` may lower it)
#   scan_timeout_s  30          how long the box waits for the customer's code
#   code_prefixes   [[channel, lo, hi, min_len, max_len], ...]   until `info` sends the server's
#   subject         text shown on the payer's bill
#   voice_chip      "syn6288" or "xfs5152";  voice_busy_pin  true if BUSY is wired
#   display         "st7789" or "ssd1306"  (QR stand; the gun has an ST7789)
#   scan_engine     true if the QR stand has one
#   journal_path    "/journal.json"
#   fs_root         "/"     where /ota.json, /release.pub and /slots live (core/ota.py)
#   heartbeat_first_s       seconds from start-up to the first heartbeat (box, stand: 10; gun, speaker: 0)
#   announce        false: payments on the shop's codes are not said here (core/announce.py)
#   announce_path   where the announcements' cursor is kept (<fs_root>/announce.json)
#   volume          speaker: 0-10 at power-on (6)
import asyncio
import json

CONFIG_PATH = "/config.json"
PROFILES = ("enhanced_box", "handheld_gun", "qr_stand", "basic_box", "speaker")


def load_config(path=CONFIG_PATH):
    with open(path) as f:
        config = json.loads(f.read())
    profile = config.setdefault("profile", "enhanced_box")
    if profile not in PROFILES:
        raise ValueError("config %s: unknown profile %r" % (path, profile))
    required = ("device_id",) if profile == "basic_box" else ("device_id", "device_key", "server_url")
    for name in required:
        if not config.get(name):
            raise ValueError("config %s lacks %r" % (path, name))
    return config


def board_module(config):
    """The board file of the config's profile (boards/<profile>.py)."""
    profile = config.get("profile", "enhanced_box")
    if profile == "handheld_gun":
        from boards import handheld_gun as board
    elif profile == "qr_stand":
        from boards import qr_stand as board
    elif profile == "basic_box":
        from boards import basic_box as board
    elif profile == "speaker":
        from boards import speaker as board
    else:
        from boards import enhanced_box as board
    return board


async def main(config_path=CONFIG_PATH, board=None):
    """board: a module like boards/<profile>.py (build, connect_network, make_app) instead of the
    config's profile's own: the virtual board's test jig."""
    config = load_config(config_path)
    board = board or board_module(config)
    hw = board.build(config)
    # no network yet is not fatal: each payment reports "网络异常" until it comes up
    await board.connect_network(config, hw)
    app = board.make_app(hw, config)
    await app.run()


def start(config_path=CONFIG_PATH, board=None):
    """Run the device. Before anything imports the application: put the active OTA slot first on
    sys.path and roll back a new version that never reached the server (boot_select.py)."""
    import boot_select
    boot_select.select()
    if hasattr(asyncio, "run"):
        asyncio.run(main(config_path, board))
    else:
        # MicroPython's WebAssembly port (the virtual board): asyncio runs on the host's event loop
        return asyncio.create_task(main(config_path, board))


if __name__ == "__main__":
    start()
