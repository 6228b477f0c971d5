# Runs on real MicroPython (WebAssembly) via mp_runner.mjs: the drivers' tasks and the HTTP
# client's response reading on MicroPython's asyncio, with stand-in UARTs, pins and streams.
import json

import asyncio

from core import http
from drivers import scan_engine, voice
from drivers.keypad import Keypad
from drivers.status_led import StatusLed

out = {}


class FakeUART:
    """machine.UART's polling API over a byte buffer; `on_write` plays the peripheral."""

    def __init__(self, on_write=None):
        self.rx = bytearray()
        self.written = bytearray()
        self.on_write = on_write

    def any(self):
        return len(self.rx)

    def read(self, n=None):
        if not self.rx:
            return None
        n = len(self.rx) if n is None else min(n, len(self.rx))
        data = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return data

    def readinto(self, buf):
        data = self.read(len(buf))
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)

    def write(self, data):
        self.written.extend(data)
        if self.on_write:
            self.on_write(self, bytes(data))
        return len(data)


class FakePin:
    def __init__(self, level=1):
        self.level = level
        self.changes = 0

    def value(self, v=None):
        if v is None:
            return self.level
        if v != self.level:
            self.changes += 1
        self.level = v


# --- scan engine: ACK, CRLF, and a code with no line ending (idle end) ---------------------------
def gm65(uart, data):
    if data == scan_engine.TRIGGER:
        uart.rx.extend(scan_engine.ACK)


scan_uart = FakeUART(gm65)
engine = scan_engine.ScanEngine(scan_uart)
engine.trigger()
scan_uart.rx.extend(b"134567890123456789\r\n")
codes = [await asyncio.wait_for_ms(engine.__anext__(), 1000)]
scan_uart.rx.extend(b"2812345678901234")
codes.append(await asyncio.wait_for_ms(engine.__anext__(), 1000))
engine.deinit()
out["scan"] = codes

# --- voice: status queries answered busy twice, then idle ------------------------------------------
busy_answers = [2]
spoken = []


def syn6288(uart, data):
    if data == voice.SYN_STATUS:
        if busy_answers[0]:
            busy_answers[0] -= 1
            uart.rx.extend(b"\x41\x4e")
        else:
            uart.rx.extend(b"\x41\x4f")
    elif data[0] == 0xFD and data[3] == 0x01:
        spoken.append(data[5:-1])
        uart.rx.extend(b"\x41")


voice_uart = FakeUART(syn6288)
tts = voice.Voice(voice_uart)
tts.poll_ms = 5
tts.say("请出示付款码")
await asyncio.sleep_ms(10)
await asyncio.wait_for_ms(tts.wait_done(), 2000)
tts.deinit()
out["voice"] = {"frames": [s.hex() for s in spoken], "status_queries": voice_uart.written.count(voice.SYN_STATUS),
                "silent": tts.silent_module}

# --- keypad task: one steady press of "5" -------------------------------------------------------------
rows = [FakePin() for _ in range(4)]
cols = [FakePin() for _ in range(4)]
held = (1, 1)


class Column(FakePin):
    def __init__(self, c):
        FakePin.__init__(self)
        self.c = c

    def value(self, v=None):
        if v is not None:
            return
        return 0 if (self.c == held[1] and rows[held[0]].level == 0) else 1


cols = [Column(c) for c in range(4)]
KEYMAP = (("1", "2", "3", "DEL"), ("4", "5", "6", "CLR"), ("7", "8", "9", "FN"), (".", "0", "00", "OK"))
pad = Keypad(rows, cols, KEYMAP)
out["keypad"] = await asyncio.wait_for_ms(pad.__anext__(), 1000)
pad.deinit()

# --- status LED blinking ------------------------------------------------------------------------------
red, green, blue = FakePin(0), FakePin(0), FakePin(0)
led = StatusLed(red, green, blue)
led.blink_ms = 10
led.show("blue", blink=True)
await asyncio.sleep_ms(100)
toggles = blue.changes
led.show("green")
out["led"] = {"toggles": toggles, "final": [red.level, green.level, blue.level]}


# --- HTTP response reading over a stream -------------------------------------------------------------
class FakeStream:
    def __init__(self, data):
        self.data = data

    async def readline(self):
        i = self.data.find(b"\n")
        i = len(self.data) if i < 0 else i + 1
        line, self.data = self.data[:i], self.data[i:]
        return line

    async def readexactly(self, n):
        if len(self.data) < n:
            raise EOFError
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk

    async def read(self, n):
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


responses = []
for raw in (b"HTTP/1.1 200 OK\r\nContent-Type: application/cbor\r\nContent-Length: 3\r\nX-Server-Time: 9\r\n\r\nabc",
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nto the end"):
    client = http.HttpClient("http://127.0.0.1:8080/base")
    client._reader = FakeStream(raw)
    status_line = await client._reader.readline()
    response = await client._read_response(status_line)
    responses.append([response.status, response.headers.get("x-server-time"), response.body.decode()])
out["http"] = responses
out["url"] = list(http.split_url("https://pay.example.com/base/"))

print("RESULT " + json.dumps(out))
