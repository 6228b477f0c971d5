# Stand-in peripherals for the scripts that run on real MicroPython (mp_runner.mjs copies this file to
# /lib next to the firmware): keys and scans come out of a ring, speech and the LED are recorded.
from core.ring import Ring


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
