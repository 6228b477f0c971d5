# GM65-family barcode scan engine on a TTL UART (GM65, GM805, GM810, GM861).
# The engine sends each decoded code as text followed by a line ending (CR, CRLF, TAB or none,
# depending on its settings: sources disagree on the default). It may also put its 7-byte ACK in
# front of the text after a command. Parsing is pure (`parse`), the UART loop only feeds it.
import asyncio

from core.compat import asleep_ms, const, ticks_diff, ticks_ms
from core.ring import Ring

_HEAD = b"\x7e\x00"
_TYPE_READ = const(0x07)
_TYPE_WRITE = const(0x08)
_TYPE_SAVE = const(0x09)
ACK = b"\x02\x00\x00\x01\x00\x33\x31"
_CR = const(0x0D)
_LF = const(0x0A)
_TAB = const(0x09)
_MAX_CODE = const(512)      # longer than any payment code or QR text we care about

# Zone 0x0002 bit 0 = 1: start one read now (command-trigger mode). "AB CD" skips the CRC check,
# which every GM65 accepts; command_frame() builds the checked form.
TRIGGER = b"\x7e\x00\x08\x01\x00\x02\x01\xab\xcd"
SAVE = b"\x7e\x00\x09\x01\x00\x00\x00\xde\xc8"


def crc16_xmodem(data, crc=0):
    """CRC-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def command_frame(frame_type, address, data):
    """`7E 00 | type | len | addr hi, lo | data | CRC hi, lo`, CRC over type..data."""
    body = bytearray((frame_type, len(data), address >> 8, address & 0xFF))
    body.extend(data)
    crc = crc16_xmodem(body)
    return _HEAD + bytes(body) + bytes((crc >> 8, crc & 0xFF))


def write_zone(address, value):
    return command_frame(_TYPE_WRITE, address, bytes((value,)))


def read_zone(address, count=1):
    return command_frame(_TYPE_READ, address, bytes((count,)))


def _ack_prefix_len(buf):
    # how many bytes at the end of buf could be the start of an ACK still arriving
    for n in range(min(len(buf), len(ACK) - 1), 0, -1):
        if buf[len(buf) - n:] == ACK[:n]:
            return n
    return 0


def _text(raw):
    try:
        return str(raw, "utf-8")
    except UnicodeError:
        # GBK or binary content: keep the ASCII, mark the rest; payment codes are ASCII digits
        return "".join(chr(b) if 32 <= b < 127 else "?" for b in raw)


def parse(buf):
    """Split received bytes into finished codes. Returns (codes, rest): `rest` is the start of a
    code (or of an ACK) still arriving; feed it back in front of the next bytes. ACKs are dropped,
    CR, LF, CRLF and TAB end a code, empty lines are ignored."""
    data = bytes(buf)
    i = data.find(ACK)
    while i >= 0:
        data = data[:i] + data[i + len(ACK):]
        i = data.find(ACK)
    codes = []
    start = 0
    for i in range(len(data)):
        b = data[i]
        if b == _CR or b == _LF or b == _TAB:
            if i > start:
                codes.append(_text(data[start:i]))
            start = i + 1
    return codes, data[start:]


def finish(rest):
    """The code held in `rest` once the line has gone quiet (engines set to no line ending), or None."""
    keep = _ack_prefix_len(rest)
    if keep:
        rest = rest[:len(rest) - keep]
    return _text(rest) if rest else None


class ScanEngine:
    idle_ms = 60        # no byte for this long ends a code that came without a line ending
    poll_ms = 10        # the UART is polled: works for machine.UART and virtual UARTs alike

    def __init__(self, uart, queue_size=4):
        self._uart = uart
        self._codes = Ring(queue_size)
        self._buf = bytearray(256)
        self._rest = b""
        self._last_ms = 0
        self._task = asyncio.create_task(self._run())

    def deinit(self):
        self._task.cancel()

    def trigger(self):
        """Ask for one read (command-trigger mode). Harmless in continuous or sensor mode."""
        self._uart.write(TRIGGER)

    def clear(self):
        """Forget codes scanned before now (a code shown while no amount was asked for)."""
        self._codes.clear()

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._codes.get()

    def feed(self, data, now_ms=None):
        """Bytes from the UART (the loop calls this; tests may too)."""
        codes, rest = parse(self._rest + bytes(data))
        for code in codes:
            self._codes.put(code)
        if len(rest) > _MAX_CODE:
            rest = b""      # noise on the line, not a code
        self._rest = rest
        self._last_ms = ticks_ms() if now_ms is None else now_ms

    def idle(self, now_ms):
        """End a code that came without a line ending, once the line is quiet."""
        if self._rest and ticks_diff(now_ms, self._last_ms) >= self.idle_ms:
            code = finish(self._rest)
            self._rest = b""
            if code:
                self._codes.put(code)

    async def _run(self):
        mv = memoryview(self._buf)
        while True:
            if self._uart.any():
                n = self._uart.readinto(mv)
                if n:
                    self.feed(mv[:n])
            else:
                self.idle(ticks_ms())
            await asleep_ms(self.poll_ms)
