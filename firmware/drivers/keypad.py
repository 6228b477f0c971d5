# Matrix keypad: rows are outputs, driven low one at a time; columns are inputs with pull-ups.
# A pressed key connects its row to its column, so the column reads low while that row is low.
# A key counts as pressed (or released) once it has read the same for `debounce_ms`; contacts
# bounce for a few milliseconds and a cashier must never get "11" for one press of "1".
import asyncio

from core.compat import asleep_ms, ticks_diff, ticks_ms
from core.ring import Ring


class Keypad:
    debounce_ms = 20
    scan_ms = 5         # one whole-matrix scan every scan_ms

    def __init__(self, rows, cols, keymap, queue_size=8, start=True):
        """rows, cols: Pin objects (the board configures them: rows OUT, cols IN + PULL_UP).
        keymap: one sequence of key names per row, one name per column."""
        if len(keymap) != len(rows) or any(len(r) != len(cols) for r in keymap):
            raise ValueError("keymap must be %d rows x %d columns" % (len(rows), len(cols)))
        self._rows = rows
        self._cols = cols
        self._keymap = keymap
        n = len(rows) * len(cols)
        self._raw = bytearray(n)        # 1 = reads pressed on the last scan
        self._stable = bytearray(n)     # 1 = debounced pressed
        self._since = [0] * n           # ticks when the raw reading last changed
        self._keys = Ring(queue_size)
        for row in rows:
            row.value(1)
        self._task = asyncio.create_task(self._run()) if start else None

    def deinit(self):
        if self._task:
            self._task.cancel()
        for row in self._rows:
            row.value(1)

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._keys.get()

    def get_nowait(self):
        return self._keys.get_nowait()

    def scan(self, now_ms):
        """Read the matrix once; queue the keys that have just become (debounced) pressed."""
        ncols = len(self._cols)
        for r in range(len(self._rows)):
            row = self._rows[r]
            row.value(0)        # the interpreter's call overhead (µs) is settling time enough
            for c in range(ncols):
                i = r * ncols + c
                down = 0 if self._cols[c].value() else 1
                if down != self._raw[i]:
                    self._raw[i] = down
                    self._since[i] = now_ms
                elif down != self._stable[i] and ticks_diff(now_ms, self._since[i]) >= self.debounce_ms:
                    self._stable[i] = down
                    if down:
                        self._keys.put(self._keymap[r][c])
            row.value(1)

    async def _run(self):
        while True:
            self.scan(ticks_ms())
            await asleep_ms(self.scan_ms)
