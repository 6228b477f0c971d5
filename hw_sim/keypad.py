"""Virtual matrix keypad wired to virtual pins, electrically: a pressed key joins its row wire to its
column wire, so a column input reads low while the row of one of its pressed keys is driven low;
otherwise the column's pull-up holds it high. The firmware's scanning and debouncing run unchanged.
"""
import asyncio

from hw_sim.pins import Pin


class VirtualKeypad:
    hold_ms = 60        # how long a finger stays on a key (at least)
    gap_ms = 60         # between two presses (at least)
    # A real press lasts ~100 ms, many debounce periods. On a loaded test machine the firmware's scan
    # loop can stall for longer than a short simulated press, so while something scans the matrix,
    # a finger also stays (and stays off) until the key was read `min_scans` times in that state.
    min_scans = 6
    max_wait_ms = 2000

    def __init__(self, rows, cols, keymap):
        self.rows = rows
        self.cols = cols
        self.keymap = keymap
        self._where = {}
        for r, names in enumerate(keymap):
            for c, name in enumerate(names):
                self._where[name] = (r, c)
        self._pressed = set()           # (row, col) of keys held down
        self._reads = {}                # (row, col) -> times the column was read with that row low
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
            for r, row in enumerate(self.rows):
                if row.drives_low():
                    self._reads[(r, c)] = self._reads.get((r, c), 0) + 1
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

    async def _stay(self, key, ms):
        """Wait ms, then until the key was read min_scans times since (if anything is scanning)."""
        where = self._position(key)
        start = self._reads.get(where, 0)
        await asyncio.sleep(ms / 1000)
        if self._reads.get(where, 0) == start:
            return          # nobody scans this keypad: nothing to wait for
        waited = 0
        while self._reads.get(where, 0) - start < self.min_scans and waited < self.max_wait_ms:
            await asyncio.sleep(0.005)
            waited += 5

    async def press(self, key, hold_ms=None):
        self.down(key)
        try:
            await self._stay(key, self.hold_ms if hold_ms is None else hold_ms)
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
            await self._stay(key, self.gap_ms if gap_ms is None else gap_ms)
