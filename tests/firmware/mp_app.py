# Runs on real MicroPython (WebAssembly) via mp_runner.mjs: the box's state machine (core/app.py)
# with stand-in drivers and a scripted server, on MicroPython's own asyncio. Prints "RESULT <json>".
import json

import asyncio

from core import app as app_mod
from core.journal import Journal
from mp_standins import Source, Speaker, Led


class Server:
    def __init__(self):
        self.calls = []

    async def pay(self, order_no, amount_fen, auth_code, subject=None):
        self.calls.append(["pay", order_no, amount_fen, auth_code])
        return {"order_no": order_no, "amount_fen": amount_fen, "channel": "wechat", "status": "PAYING"}

    async def query(self, order_no, wait=0):
        self.calls.append(["query", order_no, wait])
        await asyncio.sleep_ms(30)
        return {"order_no": order_no, "amount_fen": 1250, "channel": "wechat", "status": "SUCCESS"}


async def settle():
    for _ in range(20):
        await asyncio.sleep_ms(5)


keys, scans, speaker, led, server = Source(), Source(), Speaker(), Led(), Server()
events = []
box = app_mod.App(keys, scans, speaker, led, server, Journal("/journal.json"), "D0001",
                  on_event=lambda e: events.append(e))
box.result_ms = 50
runner = asyncio.create_task(box.run())
await settle()

scans.ring.put("134567890123456789")        # a scan before any amount
await settle()
for key in ["1", "2", ".", "5", "0", "OK"]:
    keys.ring.put(key)
    await settle()
state_after_ok = box.state
scans.ring.put("134567890123456789")
for _ in range(40):
    await settle()
    if box.state == app_mod.IDLE and len(speaker.said) >= 4:
        break
runner.cancel()
await settle()

print("RESULT " + json.dumps({
    "said": speaker.said,
    "states": [e["state"] for e in events if e["event"] == "state"],
    "state_after_ok": state_after_ok,
    "triggers": scans.triggers,
    "calls": server.calls,
    "journal": box.journal.orders(),
    "led": [e["colour"] for e in events if e["event"] == "led"],
}))
