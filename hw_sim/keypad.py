"""Virtual matrix keypad wired to virtual pins, electrically: a pressed key joins its row wire to its
column wire, so a column input reads low while the row of one of its pressed keys is driven low;
otherwise the column's pull-up holds it high. The firmware's scanning and debouncing run unchanged.
"""
import asyncio

from hw_sim.pins import Pin


class VirtualKeypad:
    hold_ms = 60        # how long a finger stays on a key
    gap_ms = 60         # between two presses

    def __init__(self, rows, cols, keymap):
        self.rows = rows
        self.cols = cols
        self.keymap = keymap
        self._where = {}
        for r, names in enumerate(keymap):
            for c, name in enumerate(names):
                self._where[name] = (r, c)
        self._pressed = set()           # (row, col) of keys held down
        for c, pin in enumerate(cols):
            pin.external = self._column_reader(c)

    @classmethod
    def with_pins(cls, keymap, row_ids=None, col_ids=None):
        """A keypad and its own pins: rows as outputs (high), columns as inputs with pull-ups."""
        row_ids = row_ids or range(len(keymap))
        col_ids = col_ids or range(len(keymap[0]))
        rows = [Pin(i, Pin.OUT, value=1, name="row%d" % n) for n, i in enumerate(row_ids)]
        cols = [Pin(i, Pin.IN, Pin.PULL_UP, name="col%d" % n) for n, i in enumerate(col_ids)]
        return cls(rows, cols, keymap)

    def _column_reader(self, c):
        def level():
            for r, cc in self._pressed:
                if cc == c and self.rows[r].drives_low():
                    return 0
            return None     # not driven: the pull-up decides
        return level

    def _position(self, key):
        try:
            return self._where[key]
        except KeyError:
            raise ValueError("no key %r on this keypad (keys: %s)"
                             % (key, " ".join(sorted(self._where)))) from None

    # --- a finger on the keys -----------------------------------------------------------------
    def down(self, key):
        self._pressed.add(self._position(key))

    def up(self, key):
        self._pressed.discard(self._position(key))

    def release_all(self):
        self._pressed.clear()

    async def press(self, key, hold_ms=None):
        self.down(key)
        try:
            await asyncio.sleep((self.hold_ms if hold_ms is None else hold_ms) / 1000)
        finally:
            self.up(key)

    async def bounce(self, key, pattern_ms):
        """Chattering contacts: alternately closed and open for the given durations (ms)."""
        closed = True
        for ms in pattern_ms:
            (self.down if closed else self.up)(key)
            await asyncio.sleep(ms / 1000)
            closed = not closed
        self.up(key)

    async def type(self, keys, hold_ms=None, gap_ms=None):
        """Press keys one after another: a string of single-character keys ("12.50") or a list
        of key names (["1", "2", "DEL", "OK"])."""
        for key in keys:
            await self.press(key, hold_ms)
            await asyncio.sleep((self.gap_ms if gap_ms is None else gap_ms) / 1000)
