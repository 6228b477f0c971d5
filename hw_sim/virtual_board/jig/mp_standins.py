# Stand-in peripherals for the scripts that run on real MicroPython (tests/firmware/mp_runner.mjs copies this
# file to /lib next to the firmware; the virtual board's jig, mp_jig_board.py, builds its board on them):
# keys and scans come out of a ring, speech and the LED are recorded; `until` is the scripts' wait for a state.
import asyncio

from core.ring import Ring


async def until(done, seconds):
    """Wait until done() is true, looking every 20 ms for at most `seconds`; says whether it became true."""
    for _ in range(seconds * 50):
        if done():
            return True
        await asyncio.sleep_ms(20)
    return False


class Source:
    """Stands in for the keypad or the scan engine: a ring of events read with `async for`."""

    def __init__(self):
        self.ring = Ring(8)
        self.triggers = 0

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.ring.get()

    def trigger(self):
        self.triggers += 1

    def clear(self):
        self.ring.clear()

    def deinit(self):
        pass


class Speaker:
    def __init__(self):
        self.said = []

    def say(self, text):
        self.said.append(text)

    def deinit(self):
        pass


class Led:
    colour = "off"
    blinking = False

    def show(self, colour, blink=False):
        self.colour = colour
        self.blinking = blink

    def off(self):
        self.show("off")

    def deinit(self):
        pass


# ---- wire-level stand-ins: the real drivers (keypad, scan engine, voice, LED) run on these ---------
class Level:
    """A Pin: value() reads, value(v) drives (the LED's, a row's, the voice module's BUSY)."""

    def __init__(self, level=0):
        self.level = level

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = 1 if level else 0


class KeyMatrix:
    """A keypad's matrix: rows the driver drives low one at a time, columns with pull-ups; a pressed
    key joins its row to its column, so that column reads low while its row is low."""

    def __init__(self, keymap):
        self.keymap = keymap
        self.down = []          # (row, col) held now
        self.rows = [Level(1) for _ in keymap]
        self.cols = [_Column(self, c) for c in range(len(keymap[0]))]

    async def press(self, key, hold_ms=60, gap_ms=60):
        for r in range(len(self.keymap)):
            for c in range(len(self.keymap[r])):
                if self.keymap[r][c] == key:
                    self.down.append((r, c))
                    await asyncio.sleep_ms(hold_ms)
                    self.down.remove((r, c))
                    await asyncio.sleep_ms(gap_ms)
                    return
        raise ValueError("no key %r" % key)


class _Column:
    def __init__(self, matrix, col):
        self.matrix = matrix
        self.col = col

    def value(self, level=None):
        for r, c in self.matrix.down:
            if c == self.col and not self.matrix.rows[r].level:
                return 0
        return 1


class Uart:
    """A UART: what the firmware writes is kept in `sent`; `feed` puts bytes in its receive buffer.
    `on_write(uart, data)`, if given, plays the peripheral: it answers what the firmware wrote."""

    def __init__(self, on_write=None):
        self.sent = bytearray()
        self.rx = bytearray()
        self.on_write = on_write

    def write(self, data):
        self.sent.extend(data)
        if self.on_write:
            self.on_write(self, bytes(data))
        return len(data)

    def feed(self, data):
        self.rx.extend(data)

    def any(self):
        return len(self.rx)

    def read(self, n=None):
        if not self.rx:
            return None
        n = len(self.rx) if n is None else min(n, len(self.rx))
        data = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return data

    def readinto(self, buf, n=None):
        data = self.read(min(len(buf), n if n is not None else len(buf)))
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)
