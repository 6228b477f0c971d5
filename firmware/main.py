# Boot entry of the enhanced scan box: load /config.json, join the network, build the board's
# peripherals and run the app. Everything below the board is hardware-independent.
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
