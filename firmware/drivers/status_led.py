# RGB status LED, the enhanced box's only display: blue blinking while a payment is under way,
# green for paid, red for refused or failed, off when idle.
import asyncio

from core.compat import asleep_ms

OFF = "off"
RED = "red"
GREEN = "green"
BLUE = "blue"
YELLOW = "yellow"

_MIX = {OFF: (0, 0, 0), RED: (1, 0, 0), GREEN: (0, 1, 0), BLUE: (0, 0, 1), YELLOW: (1, 1, 0)}


class StatusLed:
    blink_ms = 250

    def __init__(self, red, green, blue, active_high=True):
        self._pins = (red, green, blue)
        self._on = 1 if active_high else 0
        self.colour = OFF
        self.blinking = False
        self._blink_task = None
        self._write(OFF)

    def _write(self, colour):
        mix = _MIX[colour]
        for i in range(3):
            self._pins[i].value(self._on if mix[i] else 1 - self._on)

    def show(self, colour, blink=False):
        if colour not in _MIX:
            raise ValueError("unknown colour %r" % colour)
        if self._blink_task:
            self._blink_task.cancel()
            self._blink_task = None
        self.colour = colour
        self.blinking = blink and colour != OFF
        self._write(colour)
        if self.blinking:
            self._blink_task = asyncio.create_task(self._blink(colour))

    def off(self):
        self.show(OFF)

    def deinit(self):
        self.off()

    async def _blink(self, colour):
        lit = True
        while True:
            await asleep_ms(self.blink_ms)
            lit = not lit
            self._write(colour if lit else OFF)
