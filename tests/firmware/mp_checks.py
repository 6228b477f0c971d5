# Runs on real MicroPython (WebAssembly) via mp_runner.mjs: feeds the firmware's core modules the
# cases in /input.json and prints "RESULT <json>". test_fw_micropython.py compares the answers with
# cbor2, Python's hmac and the same modules run on CPython.
import json
import os
import sys
from binascii import hexlify, unhexlify


from core import amount, api, cbor, codes, compact, journal, place
from core.hmac_sha256 import hmac_sha256
from drivers import modem, scan_engine, voice
from drivers.keypad import Keypad

with open("/input.json") as f:
    cases = json.loads(f.read())
out = {"implementation": sys.implementation.name}


def hx(b):
    return hexlify(b).decode()


# --- CBOR ------------------------------------------------------------------------------------
round_trips = []
for item in cases["cbor"]:
    round_trips.append(hx(cbor.encode(cbor.decode(unhexlify(item)))))
out["cbor"] = round_trips

refused = []
for item in cases["cbor_bad"]:
    try:
        cbor.decode(unhexlify(item))
        refused.append("accepted")
    except cbor.CBORError as e:
        refused.append("CBORError")
out["cbor_bad"] = refused
try:
    cbor.encode({"amount_fen": 12.5})
    out["cbor_float"] = "accepted"
except cbor.CBORError:
    out["cbor_float"] = "CBORError"
out["cbor_request"] = hx(cbor.encode({"order_no": "D0001-ab12-000001", "amount_fen": 1250,
                                      "auth_code": "134567890123456789", "neg": -(2 ** 63),
                                      "big": 2 ** 64 - 1, "ok": True, "none": None, "raw": b"\x00\xff"}))

# --- HMAC ------------------------------------------------------------------------------------
out["hmac"] = [hx(hmac_sha256(unhexlify(k), unhexlify(m))) for k, m in cases["hmac"]]

# --- amount entry ------------------------------------------------------------------------------
amounts = []
for max_fen, keys in cases["amount"]:
    entry = amount.AmountEntry(max_fen)
    taken = []
    for key in keys:
        if key == "DEL":
            taken.append(entry.backspace())
        elif key == "CLR":
            entry.clear()
            taken.append(True)
        else:
            taken.append(entry.press(key))
    amounts.append([entry.text, entry.fen, taken, entry.display()])
out["amount"] = amounts

# --- payment codes ---------------------------------------------------------------------------
checked = []
for code in cases["codes"]:
    try:
        checked.append(codes.check(code))
    except codes.CodeRefused as e:
        checked.append("!" + e.reason)
out["codes"] = checked

# --- voice frames and scan parsing --------------------------------------------------------------
out["syn6288"] = [hx(voice.syn6288_frame(t)) for t in cases["speech"]]
out["xfs5152"] = [hx(voice.xfs5152_frame(t)) for t in cases["speech"]]
scans = []
for chunks in cases["scan"]:
    rest = b""
    found = []
    for chunk in chunks:
        got, rest = scan_engine.parse(rest + unhexlify(chunk))
        found += got
    tail = scan_engine.finish(rest)
    if tail:
        found.append(tail)
    scans.append(found)
out["scan"] = scans

# --- signing ------------------------------------------------------------------------------------
key_hex, path, body_hex, ts, nonce = cases["sign"]
device = api.DeviceApi(None, "D0001", key_hex)
out["sign"] = device.sign(path, unhexlify(body_hex), ts, nonce)
# the compact form: the envelope (nonce as raw bytes) and field numbers, both ways
out["compact"] = hx(api.sign_compact(unhexlify(key_hex), "D0001", path, unhexlify(body_hex), ts, nonce.encode(),
                                     ("a4cf12fe3b5c", "0123456789abcdef")))
packed = compact.pack_keys({"order": {"order_no": "A1", "status": "SUCCESS"}, "server_time": 1, "new": [{"wait": 0}]})
out["packed"] = hx(cbor.encode(packed))
out["unpacked"] = compact.unpack_keys(cbor.decode(cbor.encode(packed)))

# --- journal on the MicroPython file system, with a power cut before a write reaches it -----------------
try:
    os.mkdir("/flash")
except OSError:
    pass
j = journal.Journal("/flash/journal.json")
numbers = [j.next_order_no("D0001"), j.next_order_no("D0001")]
j.record({"order_no": numbers[0], "amount_fen": 1250, "status": "SUCCESS"})


def power_cut(name, mode="r"):
    if "+" in mode:             # the journal opens itself for an in-place write
        raise OSError(5)
    return open(name, mode)


journal.open = power_cut
try:
    j.record({"order_no": numbers[1], "amount_fen": 990, "status": "NEW"})
except OSError:
    pass
journal.open = open
j2 = journal.Journal("/flash/journal.json")
out["journal"] = {"numbers": numbers, "orders": j2.orders(), "next": j2.next_order_no("D0001")}


# --- keypad scanning with minimal pins -------------------------------------------------------------
class FakePin:
    def __init__(self):
        self.level = 1
        self.read = None

    def value(self, v=None):
        if v is None:
            return self.read() if self.read else self.level
        self.level = v


KEYMAP = (("1", "2", "3", "DEL"), ("4", "5", "6", "CLR"), ("7", "8", "9", "FN"), (".", "0", "00", "OK"))
rows = [FakePin() for _ in range(4)]
cols = [FakePin() for _ in range(4)]
held = []


def column(c):
    def read():
        for r, cc in held:
            if cc == c and rows[r].level == 0:
                return 0
        return 1
    return read


for c in range(4):
    cols[c].read = column(c)
pad = Keypad(rows, cols, KEYMAP, start=False)
t = 0
for r, c, ms in cases["keypad"]:       # each press: (row, col, held for ms); then 50 ms released
    held.append((r, c))
    for step in range(0, ms, 5):
        pad.scan(t)
        t += 5
    held.remove((r, c))
    for step in range(10):
        pad.scan(t)
        t += 5
keys = []
while True:
    k = pad.get_nowait()
    if k is None:
        break
    keys.append(k)
out["keypad"] = keys


# --- the API client's retries, on MicroPython's asyncio -------------------------------------------
class Answer:
    def __init__(self, status, body):
        self.status = status
        self.headers = {}
        self.body = cbor.encode(body)


class Scripted:
    def __init__(self, answers):
        self.answers = answers
        self.sent = []

    async def request(self, method, path, headers, body, timeout_ms=None):
        self.sent.append([headers["X-Timestamp"], headers["X-Nonce"], hx(body)])
        answer = self.answers.pop(0)
        if answer is None:
            raise api.NetworkError("down")
        return answer


order = {"order_no": "A1", "amount_fen": 1250, "channel": "wechat", "status": "SUCCESS"}
transport = Scripted([
    Answer(401, {"error": {"code": "stale_timestamp", "message": ""}, "server_time": 1763776800}),
    None,
    Answer(200, {"order": order, "server_time": 1763776801}),
])
client = api.DeviceApi(transport, "D0001", key_hex)
client.retry_ms = 1
paid = await client.pay("A1", 1250, "134567890123456789")
out["api"] = {"status": paid["status"], "sent": transport.sent, "now": client.clock.now()}

# --- the place: AT answers of the modem, a Wi-Fi scan as the ESP32 returns it ------------------------
wifi = cases["place"]["wifi"]
scanned = [(unhexlify(ssid), unhexlify(bssid), channel, rssi, 3, False) for ssid, bssid, channel, rssi in wifi["scan"]]
out["place"] = {
    "area": [modem.parse_area(modem.parse_reply(text)[1]) for text in cases["place"]["registration"]],
    "operator": [modem.parse_operator(modem.parse_reply(text)[1]) for text in cases["place"]["cops"]],
    "wifi": place.wifi_place(scanned, wifi["ssid"], wifi["channel"], wifi["rssi"]),
}

print("RESULT " + json.dumps(out))
