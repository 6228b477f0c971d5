# Runs on real MicroPython, either port (mp_run.py): the whole cloud speaker as it boots, main.main() with
# the speaker's Hardware built on wire-level stand-ins (mp_standins: the real keypad driver reads its two
# volume keys, the real SYN6288 driver writes its frames), its app with the heartbeat and the announcer
# (core/announce.py) on the HTTP client the port picks (natively core/http.py on real sockets), against
# the real server; with "mqtt" the server's Mosquitto through micropython-lib's umqtt.simple in /lib.
#
# Input /input.json: {"config": {...} (written to /config.json), "expect": n, "keys": [...]}: runs until
# the speaker has said n payments (prints "HEARD 1" after the first and presses `keys`), then 1 s more
# (nothing said twice).
# Prints "RESULT <json>": what it said, the announcements it handled, the cursor in its flash, errors.
import json

import asyncio

from mp_standins import KeyMatrix, Level, Uart, until


def prepare():
    with open("/input.json") as f:
        given = json.loads(f.read())
    with open("/config.json", "w") as f:
        f.write(json.dumps(given["config"]))
    return given


params = prepare()


class Jig:
    """In place of boards/speaker.py (no `machine` here): the same Hardware and the same app."""
    keys = None
    voice_uart = None
    app = None
    events = []

    @staticmethod
    def build(config):
        from boards import Hardware
        from boards.speaker import KEYMAP
        Jig.keys, Jig.voice_uart = KeyMatrix(KEYMAP), Uart()
        return Hardware(None, Jig.voice_uart, Jig.keys.rows, Jig.keys.cols, KEYMAP,
                        (Level(), Level(), Level()), voice_busy=Level(0))

    @staticmethod
    async def connect_network(config, hw):
        return True

    @staticmethod
    def make_app(hw, config):
        from core.speaker import make_app
        Jig.app = make_app(hw, config, None, Jig.events.append, network_kind="4g", reset=lambda: None)
        return Jig.app


def takings():
    return [e["text"] for e in Jig.events if e["event"] == "say" and "收款" in e["text"]]


def listening():
    """Over MQTT: logged in and subscribed (the broker takes the device's login a moment after `info`)."""
    announcer = Jig.app.announcer if Jig.app is not None else None
    if announcer is None or announcer.transport != "mqtt":
        return True
    return any(e["event"] == "mqtt" and e.get("connected") for e in Jig.events)


async def speaker():
    import main
    device = asyncio.create_task(main.main("/config.json", board=Jig))
    await until(lambda: len(takings()) >= 1 and listening(), 30)
    print("HEARD 1")        # the test pays the next one now: said while the speaker listens
    for key in params["keys"]:
        await Jig.keys.press(key)
    done = await until(lambda: len(takings()) >= params["expect"], 30)
    await asyncio.sleep_ms(1000)
    announcer = Jig.app.announcer if Jig.app is not None else None
    device.cancel()
    await asyncio.sleep_ms(20)
    try:
        with open(params["config"].get("announce_path", "/announce.json")) as f:
            saved = json.loads(f.read())
    except OSError:
        saved = None
    return {
        "done": done,
        "transport": type(Jig.app.api.transport).__name__ if Jig.app else None,
        "announce_transport": announcer.transport if announcer else None,
        "mqtt_client": announcer.mqtt_client is not None if announcer else None,
        "said": [e["text"] for e in Jig.events if e["event"] == "say"],
        "announced": [[e.get("amount_fen"), e.get("said"), e.get("via")] for e in Jig.events if e["event"] == "announce"],
        "volume": Jig.app.voice.volume if Jig.app else None,
        # the volume tag at the head of every text the chip got (SYN6288: UTF-16 big-endian), 7 of 10 -> [v11]
        "volume_tags": bytes(Jig.voice_uart.sent).count(b"\x00[\x00v\x001\x001\x00]"),
        "saved": saved,
        "errors": [e for e in Jig.events if e["event"] == "error"],
        "mqtt": [e for e in Jig.events if e["event"] == "mqtt"],
    }


# On MicroPython WebAssembly the top-level coroutine cannot be cancelled: everything runs in a task.
result = await asyncio.create_task(speaker())
print("RESULT " + json.dumps(result))
