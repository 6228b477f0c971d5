# Runs on real MicroPython (WebAssembly) via mp_runner.mjs: the profile-specific modules (QR encoder,
# screen on a stand-in I2C panel, battery curve, modem reply parsing, basic box line protocol and its
# app over a stand-in serial line). Prints "RESULT <json>"; the test compares with CPython.
import json
from binascii import hexlify

import asyncio

from core import line_protocol as lp
from core import qr
from core.basic_box import BasicBox
from drivers.battery import percent_from_mv
from drivers.display import SSD1306, Screen
from drivers.modem import csq_to_dbm, parse_reply
from core.ring import Ring

with open("/input.json") as f:
    params = json.loads(f.read())

out = {}
out["qr"] = [hexlify(qr.encode(t).bits).decode() for t in params["qr"]]


class I2C:
    def __init__(self):
        self.data = b""

    def writeto(self, addr, buf):
        pass

    def writevto(self, addr, vector):
        self.data = b"".join(bytes(v) for v in vector)


i2c = I2C()
screen = Screen(SSD1306(i2c))
screen.clear()
screen.qr(qr.encode(params["qr"][0]), top=0)
screen.show()
out["oled"] = hexlify(i2c.data).decode()
out["battery"] = [percent_from_mv(mv) for mv in params["mv"]]
out["modem"] = [list(parse_reply(t)) for t in params["replies"]] + [csq_to_dbm(["+CSQ: 20,99"])]
lines = []
for raw in params["lines"]:
    try:
        lines.append(list(lp.parse_line(raw.encode())))
    except lp.BadLine as e:
        lines.append(["!" + e.reason, e.seq])
out["lines"] = lines


class Serial:
    def __init__(self):
        self.rx = b""
        self.tx = b""

    def any(self):
        return len(self.rx)

    def read(self, n=None):
        data, self.rx = self.rx, b""
        return data

    def write(self, data):
        self.tx += data


class Part:
    def __init__(self):
        self.ring = Ring(4)
        self.said = []
        self.shown = []

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.ring.get()

    def say(self, text):
        self.said.append(text)

    def stop(self):
        self.said.append("<stop>")

    def show(self, colour, blink=False):
        self.shown.append([colour, blink])

    def deinit(self):
        pass


serial, scanner, voice, led = Serial(), Part(), Part(), Part()
box = BasicBox(serial, scanner, voice, led, "SPB0009")
task = asyncio.create_task(box.run())
await asyncio.sleep_ms(20)
serial.rx = "SAY 7 请出示付款码\nLED 8 blue blink\nSAY 7 请出示付款码\nJUMP 9\n".encode()
await asyncio.sleep_ms(50)
scanner.ring.put("134567890123456789")
await asyncio.sleep_ms(50)
serial.rx = b"ACK 2\n"
await asyncio.sleep_ms(50)
task.cancel()
await asyncio.sleep_ms(10)
out["basic"] = {"tx": serial.tx.decode(), "said": voice.said, "led": led.shown}
print("RESULT " + json.dumps(out))
