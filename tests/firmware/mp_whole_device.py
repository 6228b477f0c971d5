# Runs on real MicroPython, either port (mp_run.py): the whole enhanced box as it boots, main.main()
# with the profile's Hardware built on wire-level stand-ins (mp_standins: the real keypad, GM65, SYN6288
# and LED drivers run on them), its app with the heartbeat, the journal and the HTTP client the port
# picks (natively core/http.py on real sockets, on WebAssembly the JS bridge), against the real server;
# then one payment typed and scanned as a cashier and a customer do. The heap is read at each step.
#
# Input /input.json: {"config": {...} (written to /config.json), "journal": {...} or null (written to
# /journal.json: an old JSON journal, converted at start-up; a journal in the current format is put
# there by the runner, mp_run's files=), "keys": ["1", ..., "OK"], "code": "<payment code>"}.
# Prints "RESULT <json>" with heap_base (before the firmware is imported), heap_idle (collected, once
# the server answered info and the first heartbeat), heap_peak (sampled every millisecond during the
# payment: garbage included), heap_after (collected, the payment over) and what the device did.
import gc
import json

import asyncio

from mp_standins import KeyMatrix, Level, Uart



def prepare():
    """The device's files from the input; in a function, so nothing of the input stays on the heap."""
    with open("/input.json") as f:
        given = json.loads(f.read())
    with open("/config.json", "w") as f:
        f.write(json.dumps(given["config"]))
    if given.get("journal"):
        with open("/journal.json", "w") as f:
            json.dump(given["journal"], f)
    return {"keys": given["keys"], "code": given["code"]}


params = prepare()
gc.collect()
heap_base = gc.mem_alloc()


class Jig:
    """In place of boards/enhanced_box.py (no `machine` here): the same Hardware and the same app."""
    keys = None         # KeyMatrix: press(key) as a cashier does
    scan_uart = None    # Uart: feed(b"<code>\r") is the customer showing a code
    app = None
    events = []

    @staticmethod
    def build(config):
        from boards import Hardware
        from boards.enhanced_box import KEYMAP
        Jig.keys, Jig.scan_uart = KeyMatrix(KEYMAP), Uart()
        return Hardware(Jig.scan_uart, Uart(), Jig.keys.rows, Jig.keys.cols, KEYMAP,
                        (Level(), Level(), Level()), voice_busy=Level(0))

    @staticmethod
    async def connect_network(config, hw):
        return True

    @staticmethod
    def make_app(hw, config):
        from core.app import make_app
        Jig.app = make_app(hw, config, None, Jig.events.append, reset=lambda: None)
        Jig.app.result_ms = 50
        return Jig.app


crashed = []     # a task that died (a MemoryError in a capped heap): the run ends at once


def on_crash(loop, context):
    crashed.append(repr(context.get("exception")))


try:
    asyncio.get_event_loop().set_exception_handler(on_crash)
except AttributeError:      # the WebAssembly port's asyncio (driven by JavaScript) has no handler
    pass


async def until(done, seconds):
    for _ in range(seconds * 50):
        if done():
            return True
        if crashed:
            return False
        await asyncio.sleep_ms(20)
    return False


peak = [0]


async def watch_heap():
    while True:
        used = gc.mem_alloc()
        if used > peak[0]:
            peak[0] = used
        await asyncio.sleep_ms(1)


def seen(kind, **fields):
    for event in Jig.events:
        if event["event"] == kind and all(event.get(k) == fields[k] for k in fields):
            return True
    return False


async def whole_device():
    import main
    device = asyncio.create_task(main.main("/config.json", board=Jig))
    up = await until(lambda: Jig.app is not None and Jig.app.info is not None
                     and Jig.app.heartbeats.contacted, 30)
    if not up:
        device.cancel()
        return {"up": False, "paid": False, "crashed": crashed}
    await asyncio.sleep_ms(100)
    gc.collect()
    heap_idle = gc.mem_alloc()
    peak[0] = heap_idle
    watcher = asyncio.create_task(watch_heap())
    for key in params["keys"]:
        await Jig.keys.press(key)
    Jig.scan_uart.feed(params["code"].encode() + b"\r")
    paid = await until(lambda: seen("state", state="RESULT") and Jig.app.state == "IDLE", 30)
    watcher.cancel()
    device.cancel()
    await asyncio.sleep_ms(20)
    gc.collect()
    return {
        "up": up, "paid": paid, "crashed": crashed,
        "transport": type(Jig.app.api.transport).__name__,
        "heap_base": heap_base, "heap_idle": heap_idle, "heap_peak": peak[0], "heap_after": gc.mem_alloc(),
        "heap_total": gc.mem_alloc() + gc.mem_free(),
        "said": [e["text"] for e in Jig.events if e["event"] == "say"],
        "states": [e["state"] for e in Jig.events if e["event"] == "state"],
        "errors": [e for e in Jig.events if e["event"] == "error"],
        "journal": len(Jig.app.journal),
        "newest": Jig.app.journal.orders(0, 1)[0],     # one order read: the list of all would not fit
    }


# On MicroPython WebAssembly the top-level coroutine cannot be cancelled: everything runs in a task.
result = await asyncio.create_task(whole_device())
print("RESULT " + json.dumps(result))
