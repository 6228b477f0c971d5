# TTS voice module on a UART: SYN6288 (default) or XFS5152CE.
# MicroPython has no GB2312/GBK codec, so text goes in Unicode mode, packed as UTF-16 by hand
# (big-endian for SYN6288, little-endian for XFS5152). The module speaks one text at a time and
# drops a frame that arrives while it is busy, so each utterance waits until the module is idle:
# by its BUSY pin when the board wires it, else by the status query.
# Volume: both chips read an inline tag `[vN]` at the head of a text (SYN6288 0-16, XFS5152 0-10); with
# `volume` set (0-10, the speaker's keys) every text goes out with its tag, scaled to the chip.
import asyncio

from core.compat import asleep_ms, const, ticks_diff, ticks_ms
from core.ring import Ring

_FRAME_HEAD = const(0xFD)
_CMD_SYNTH = const(0x01)
_ENC_GB2312 = const(0)
_ENC_GBK = const(1)
_ENC_BIG5 = const(2)
_ENC_UNICODE = const(3)
_MAX_TEXT = const(200)      # bytes of text one SYN6288 frame carries
_ACK = b"\x41"             # the module's "frame received"
_REPLY_BUSY = const(0x4E)
_REPLY_IDLE = const(0x4F)

SYN6288 = "syn6288"
XFS5152 = "xfs5152"

# fixed SYN6288 frames (checksum included)
SYN_STOP = b"\xfd\x00\x02\x02\xfd"
SYN_PAUSE = b"\xfd\x00\x02\x03\xfc"
SYN_RESUME = b"\xfd\x00\x02\x04\xfb"
SYN_STATUS = b"\xfd\x00\x02\x21\xde"
SYN_POWER_DOWN = b"\xfd\x00\x02\x88\x77"
# XFS5152: no checksum, length = command + data
XFS_STOP = b"\xfd\x00\x01\x02"
XFS_STATUS = b"\xfd\x00\x01\x21"


def utf16(text, big_endian=True):
    """UTF-16 bytes of text, surrogate pairs for characters beyond the BMP."""
    out = bytearray()
    for ch in text:
        cp = ord(ch)
        if cp >= 0x10000:
            cp -= 0x10000
            units = (0xD800 | (cp >> 10), 0xDC00 | (cp & 0x3FF))
        else:
            units = (cp,)
        for u in units:
            if big_endian:
                out.append(u >> 8)
                out.append(u & 0xFF)
            else:
                out.append(u & 0xFF)
                out.append(u >> 8)
    return bytes(out)


def syn6288_frame(text, encoding=_ENC_UNICODE):
    """Synthesis frame `FD LenH LenL 01 Param text XOR`. `text` is a str (sent as UTF-16 BE,
    Unicode mode) or bytes already in `encoding` (0 GB2312, 1 GBK, 2 BIG5, 3 Unicode).
    Len counts every byte after itself, checksum included; XOR covers every earlier byte."""
    data = utf16(text) if isinstance(text, str) else bytes(text)
    if not data:
        raise ValueError("nothing to say")
    if len(data) > _MAX_TEXT:
        raise ValueError("text too long for one frame: %d bytes (max %d)" % (len(data), _MAX_TEXT))
    length = len(data) + 3
    frame = bytearray((_FRAME_HEAD, length >> 8, length & 0xFF, _CMD_SYNTH, encoding & 0x07))
    frame.extend(data)
    xor = 0
    for b in frame:
        xor ^= b
    frame.append(xor)
    return bytes(frame)


def xfs5152_frame(text):
    """XFS5152CE synthesis frame `FD LenH LenL 01 03 text`, UTF-16 LE, no checksum."""
    data = utf16(text, big_endian=False)
    if not data:
        raise ValueError("nothing to say")
    if len(data) > 4000:
        raise ValueError("text too long for one frame")
    length = len(data) + 2
    return bytes((_FRAME_HEAD, length >> 8, length & 0xFF, _CMD_SYNTH, _ENC_UNICODE)) + data


def parse_status(reply):
    """True idle, False busy, None no answer, from the bytes the module sent back."""
    for i in range(len(reply) - 1, -1, -1):
        b = reply[i]
        if b == _REPLY_IDLE:
            return True
        if b == _REPLY_BUSY:
            return False
    return None


class Voice:
    poll_ms = 40            # between status queries while the module speaks
    reply_ms = 200          # how long the module may take to answer a frame
    longest_ms = 20000      # give up waiting for idle after this (a stuck module must not stop the box)

    def __init__(self, uart, busy_pin=None, chip=SYN6288, queue_size=4):
        self._uart = uart
        self._busy_pin = busy_pin
        self._chip = chip
        self._texts = Ring(queue_size)
        self._idle = asyncio.Event()
        self._idle.set()
        self.silent_module = False      # True once the module failed to answer (logged by the app)
        self.volume = None              # 0-10, or None: the chip's own default
        self._task = asyncio.create_task(self._run())

    def deinit(self):
        self._task.cancel()

    def say(self, text):
        """Queue text to be spoken after whatever is being spoken now; returns at once."""
        self._idle.clear()
        self._texts.put(text)

    def stop(self):
        """Forget queued texts and cut the current one short."""
        self._texts.clear()
        self._uart.write(SYN_STOP if self._chip == SYN6288 else XFS_STOP)

    async def wait_done(self):
        """Until every queued text has been handed to the module."""
        await self._idle.wait()

    def _frame(self, text):
        volume = self.volume
        if volume is not None:
            text = "[v%d]%s" % ((volume * 16 + 5) // 10 if self._chip == SYN6288 else volume, text)
        return syn6288_frame(text) if self._chip == SYN6288 else xfs5152_frame(text)

    def _drain(self):
        data = b""
        while self._uart.any():
            chunk = self._uart.read()
            if not chunk:
                break
            data += chunk
        return data

    async def _reply(self):
        start = ticks_ms()
        data = b""
        while ticks_diff(ticks_ms(), start) < self.reply_ms:
            data += self._drain()
            if data:
                await asleep_ms(5)      # let the rest of a two-byte answer arrive
                return data + self._drain()
            await asleep_ms(5)
        return data

    async def _wait_module_idle(self):
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < self.longest_ms:
            if self._busy_pin is not None:
                if not self._busy_pin.value():     # BUSY is high while speaking
                    return True
            else:
                self._drain()
                self._uart.write(SYN_STATUS if self._chip == SYN6288 else XFS_STATUS)
                idle = parse_status(await self._reply())
                if idle is None:
                    self.silent_module = True
                    return False        # no answer: speak anyway rather than hang
                if idle:
                    return True
            await asleep_ms(self.poll_ms)
        return False

    async def _run(self):
        while True:
            if not len(self._texts):
                self._idle.set()
            text = await self._texts.get()
            await self._wait_module_idle()
            try:
                frame = self._frame(text)
            except ValueError:
                continue        # empty or too long: nothing sensible to send
            self._drain()
            self._uart.write(frame)
            reply = await self._reply()
            self.silent_module = _ACK not in reply
