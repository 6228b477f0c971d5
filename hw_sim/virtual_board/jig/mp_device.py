# Runs on the virtual board without a REPL (board.mjs --run; `python -m hw_sim.virtual_board pay`,
# tests/tools/test_flashed_board.py): boots the flashed files as the device does, main.start() with the
# jig (mp_jig_board) as its board,
# then plays cashier and customer from /jig/input.json:
#   {"pay": {"keys": [...], "code": "..."} or null, "until": "paid" | "reset" | "ota:<step>", "wait_s": 60,
#    "cut": {"step": "download", "nth": 3} or null}
# and prints "RESULT <json>" (a reset ends the run before that: exit status 3; a power cut: 4).
import json
from binascii import hexlify

import main             # the flashed /main.py
import mp_jig_board as jig

with open("/jig/input.json") as f:
    params = json.loads(f.read())

jig.cut = params.get("cut")
main.start(board=jig)   # boot_select picks the slot; the app runs as a task on Node's event loop

from mp_standins import until  # noqa: E402  (it needs the slot's `core` on the path, which start() puts there)


def seen(kind, **fields):
    for event in jig.events:
        if event["event"] == kind and all(event.get(k) == fields[k] for k in fields):
            return True
    return False


wait_s = params.get("wait_s", 60)
await until(lambda: jig.app is not None and jig.app.info is not None, wait_s)
if params["until"].startswith("ota:"):             # e.g. "ota:confirmed", "ota:failed"; then pay
    await until(lambda: seen("ota", step=params["until"][4:]), wait_s)
if params.get("pay"):
    for key in params["pay"]["keys"]:
        await jig.keys.press(key)
    jig.scan_uart.feed(params["pay"]["code"].encode() + b"\r")
    await until(lambda: seen("state", state="RESULT") and jig.app.state == "IDLE", wait_s)
if params["until"] == "reset":
    await until(lambda: False, wait_s)      # the firmware's reset ends the process before this does

import boot_select  # noqa: E402
from core.version import VERSION  # noqa: E402

print("RESULT " + json.dumps({
    "version": VERSION,
    "pointer": boot_select.read_pointer(),
    "voice": hexlify(jig.voice_uart.sent).decode(),
    "states": [e["state"] for e in jig.events if e["event"] == "state"],
    "ota": [e["step"] for e in jig.events if e["event"] == "ota"],
    "errors": [e for e in jig.events if e["event"] == "error"],
    "journal": jig.app.journal.orders() if jig.app else None,
}))
