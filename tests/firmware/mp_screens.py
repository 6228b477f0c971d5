# Runs on real MicroPython (WebAssembly) via mp_runner.mjs, against the real server through the JS
# bridge: the QR stand shows a one-time code for a typed amount (drawn by MicroPython's own framebuf on
# an SSD1306 driver whose I2C writes are kept), then the gun pays, opens its history and looks the
# order up. Input /input.json: {url, stand: [id, key], gun: [id, key], code}. Prints "RESULT <json>".
import json
from binascii import hexlify

import asyncio

import drivers.keypad
import drivers.scan_engine
import drivers.voice
from core import app as app_mod
from core.gun import GunApp
from mp_standins import Source, Speaker
from core.stand import StandApp
from drivers.display import SSD1306, ST7789, Screen

with open("/input.json") as f:
    params = json.loads(f.read())


class I2C:
    def __init__(self):
        self.frame = b""

    def writeto(self, addr, buf):
        pass

    def writevto(self, addr, vector):
        self.frame = b"".join(bytes(v) for v in vector)


class SPI:
    def __init__(self):
        self.bytes = 0

    def write(self, buf):
        self.bytes += len(buf)


class Pin:
    def value(self, v=None):
        pass


class Board:
    rows = cols = keymap = led_pins = None
    scan_uart = "stand-in"
    voice_uart = voice_busy = ssl = None


def parts(device, key, journal):
    keys, scans, speaker = Source(), Source(), Speaker()
    drivers.keypad.Keypad = lambda *a: keys
    drivers.scan_engine.ScanEngine = lambda *a: scans
    drivers.voice.Voice = lambda *a: speaker
    p = app_mod.app_parts(Board(), {"device_id": device, "device_key": key, "server_url": params["url"],
                                    "journal_path": journal})
    p["led"] = app_mod.NoLed()
    return p, keys, scans, speaker


async def until(check, ms=20000):
    for _ in range(ms // 10):
        if check():
            return True
        await asyncio.sleep_ms(10)
    return False


async def type_keys(keys, seq):
    for k in seq:
        keys.ring.put(k)
        await asyncio.sleep_ms(20)


out = {}
# ---- the stand
i2c = I2C()
p, keys, scans, speaker = parts(params["stand"][0], params["stand"][1], "/stand.json")
stand = StandApp(Screen(SSD1306(i2c)), **p)
task = asyncio.create_task(stand.run())
await until(lambda: stand.static_code is not None)
out["static_frame"] = hexlify(i2c.frame).decode()
await type_keys(keys, ["6", "8", "8", "OK"])
await until(lambda: stand.state == "SHOW_CODE")
await asyncio.sleep_ms(50)
out["stand"] = {"state": stand.state, "order_no": stand.order_no,
                "frame": hexlify(i2c.frame).decode(), "lines": stand.screen.lines}
await type_keys(keys, ["CLR"])          # the payer walked away: the code is closed on the server
await until(lambda: stand.state == "IDLE")
out["stand"]["said"] = speaker.said
task.cancel()
await asyncio.sleep_ms(20)

# ---- the gun
spi = SPI()
p, keys, scans, speaker = parts(params["gun"][0], params["gun"][1], "/gun.json")
gun = GunApp(Screen(ST7789(spi, Pin(), Pin())), network_kind="wifi", **p)
gun.result_ms = 50
task = asyncio.create_task(gun.run())
await until(lambda: gun.info is not None)
await type_keys(keys, ["3", "OK"])
scans.ring.put(params["code"])
await until(lambda: gun.state == "IDLE" and len(speaker.said) >= 2)
await type_keys(keys, ["FN"])
history = list(gun.screen.lines)
await type_keys(keys, ["1", "OK"])
await until(lambda: gun.looked_up is not None)
await asyncio.sleep_ms(20)
out["gun"] = {"said": speaker.said, "history": history, "lookup": list(gun.screen.lines),
              "spi_bytes": spi.bytes}
task.cancel()
await asyncio.sleep_ms(20)
print("RESULT " + json.dumps(out))
