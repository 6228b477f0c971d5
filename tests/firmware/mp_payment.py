# Runs on real MicroPython (WebAssembly) via mp_runner.mjs: one whole payment by the box's state
# machine (core/app.py) against the real server, HTTP going through the JS bridge (core/js_http.py).
# Keys, scans, voice and LED are stand-ins fed from here; everything else is the firmware as built
# (DeviceApi, CBOR, HMAC, journal, JsHttpTransport picked by app_parts on the webassembly port).
# Input /input.json: {url, device_id, key_hex, code, keys}. Prints "RESULT <json>".
import gc
import json

import asyncio

import scanpay_http
from core import app as app_mod
from mp_standins import Source, Speaker, Led

with open("/input.json") as f:
    params = json.loads(f.read())


class Board:
    """What app_parts needs from a board; the drivers are replaced below."""
    rows = cols = keymap = led_pins = None
    scan_uart = "stand-in"
    voice_uart = voice_busy = ssl = None


config = {"device_id": params["device_id"], "device_key": params["key_hex"], "server_url": params["url"],
          "journal_path": "/journal.json"}
gc.collect()
base_heap = gc.mem_alloc()
peak = [base_heap]


async def watch_heap():
    while True:
        used = gc.mem_alloc()
        if used > peak[0]:
            peak[0] = used
        await asyncio.sleep_ms(1)


watcher = asyncio.create_task(watch_heap())
keys, scans, speaker, led = Source(), Source(), Speaker(), Led()
import drivers.keypad  # noqa: E402
import drivers.scan_engine  # noqa: E402
import drivers.voice  # noqa: E402
drivers.keypad.Keypad = lambda *a: keys
drivers.scan_engine.ScanEngine = lambda *a: scans
drivers.voice.Voice = lambda *a: speaker
parts = app_mod.app_parts(Board(), config)
parts["led"] = led
events = []
parts["on_event"] = events.append
box = app_mod.App(**parts)
box.result_ms = 50
transport = type(box.api.transport).__name__
runner = asyncio.create_task(box.run())
for _ in range(200):
    await asyncio.sleep_ms(10)
    if box.info is not None:
        break
for key in params["keys"]:
    keys.ring.put(key)
    await asyncio.sleep_ms(20)
scans.ring.put(params["code"])
for _ in range(3000):
    await asyncio.sleep_ms(10)
    if box.state == app_mod.IDLE and any(e["event"] == "state" and e["state"] == "RESULT" for e in events):
        break
runner.cancel()
watcher.cancel()
await asyncio.sleep_ms(20)
print("RESULT " + json.dumps({
    "transport": transport,
    "said": speaker.said,
    "states": [e["state"] for e in events if e["event"] == "state"],
    "journal": box.journal.orders(),
    "heap_base": base_heap,
    "heap_peak": peak[0],
    "wire": json.loads(str(scanpay_http.stats())),
}))
