# Runs on real MicroPython (WebAssembly) via mp_runner.mjs: the drivers' tasks and the HTTP
# client's response reading on MicroPython's asyncio, with stand-in UARTs, pins and streams (the UART and
# the key matrix are the virtual board's, mp_standins). Prints "RESULT <json>".
import json

import asyncio

from core import http
from drivers import scan_engine, voice
from drivers.keypad import Keypad
from drivers.status_led import StatusLed
from mp_standins import KeyMatrix, Uart

KEYMAP = (("1", "2", "3", "DEL"), ("4", "5", "6", "CLR"), ("7", "8", "9", "FN"), (".", "0", "00", "OK"))


class FakePin:
    """A pin that counts how often it was driven to another level (the LED's blinking)."""

    def __init__(self, level=1):
        self.level = level
        self.changes = 0

    def value(self, v=None):
        if v is None:
            return self.level
        if v != self.level:
            self.changes += 1
        self.level = v


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


def gm65(uart, data):
    if data == scan_engine.TRIGGER:
        uart.rx.extend(scan_engine.ACK)


class Syn6288:
    """Answers status queries busy `busy` times, then idle; acknowledges synthesis frames."""

    def __init__(self, busy):
        self.busy = busy
        self.spoken = []

    def __call__(self, uart, data):
        if data == voice.SYN_STATUS:
            uart.rx.extend(b"\x41\x4e" if self.busy else b"\x41\x4f")
            self.busy = max(0, self.busy - 1)
        elif data[0] == 0xFD and data[3] == 0x01:
            self.spoken.append(data[5:-1])
            uart.rx.extend(b"\x41")


async def check_scan_engine():
    uart = Uart(gm65)
    engine = scan_engine.ScanEngine(uart)
    try:
        engine.trigger()                                # answered with the ACK
        uart.rx.extend(b"134567890123456789\r\n")
        codes = [await asyncio.wait_for_ms(engine.__anext__(), 1000)]
        uart.rx.extend(b"2812345678901234")              # no line ending: ends when the line idles
        codes.append(await asyncio.wait_for_ms(engine.__anext__(), 1000))
        return codes
    finally:
        engine.deinit()


async def check_voice():
    module = Syn6288(busy=2)
    uart = Uart(module)
    tts = voice.Voice(uart)
    tts.poll_ms = 5
    try:
        tts.say("请出示付款码")
        await asyncio.sleep_ms(10)
        await asyncio.wait_for_ms(tts.wait_done(), 2000)
        return {"frames": [s.hex() for s in module.spoken],
                "status_queries": uart.sent.count(voice.SYN_STATUS), "silent": tts.silent_module}
    finally:
        tts.deinit()


async def check_keypad():
    matrix = KeyMatrix(KEYMAP)
    matrix.down.append((1, 1))                              # "5" held down
    pad = Keypad(matrix.rows, matrix.cols, KEYMAP)
    try:
        return await asyncio.wait_for_ms(pad.__anext__(), 1000)
    finally:
        pad.deinit()


async def check_led():
    red, green, blue = FakePin(0), FakePin(0), FakePin(0)
    led = StatusLed(red, green, blue)
    led.blink_ms = 10
    led.show("blue", blink=True)
    await asyncio.sleep_ms(100)
    toggles = blue.changes
    led.show("green")
    await asyncio.sleep_ms(30)
    return {"toggles": toggles, "final": [red.level, green.level, blue.level]}


async def check_http():
    answers = []
    for raw in (b"HTTP/1.1 200 OK\r\nContent-Type: application/cbor\r\nContent-Length: 3\r\nX-Server-Time: 9\r\n\r\nabc",
                b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                b"HTTP/1.0 200 OK\r\n\r\nto the end"):
        client = http.HttpClient("http://127.0.0.1:8080/base")
        client._reader = FakeStream(raw)
        response = await client._read_response(await client._reader.readline())
        answers.append([response.status, response.headers.get("x-server-time"), response.body.decode()])
    return answers


async def main():
    return {
        "scan": await check_scan_engine(),
        "voice": await check_voice(),
        "keypad": await check_keypad(),
        "led": await check_led(),
        "http": await check_http(),
        "url": list(http.split_url("https://pay.example.com/base/")),
    }


# On MicroPython WebAssembly the top-level coroutine cannot be cancelled, which wait_for needs:
# everything runs in a task the top level awaits.
result = await asyncio.create_task(main())
print("RESULT " + json.dumps(result))
