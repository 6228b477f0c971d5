# A fixed-size event buffer between a producer (a driver's polling task) and one consumer
# (`async for` in the app). The slots are allocated once; when the consumer falls behind, the
# oldest event is dropped, because the newest key press or scan is the one the cashier means.
import asyncio


class Ring:
    def __init__(self, size):
        self._slots = [None] * size
        self._size = size
        self._head = 0      # next slot to read
        self._count = 0
        self.dropped = 0    # events lost to overflow, for diagnostics
        self._ready = asyncio.Event()

    def __len__(self):
        return self._count

    def put(self, item):
        if self._count == self._size:
            self._head = (self._head + 1) % self._size
            self._count -= 1
            self.dropped += 1
        self._slots[(self._head + self._count) % self._size] = item
        self._count += 1
        self._ready.set()

    def get_nowait(self):
        """The oldest event, or None when empty."""
        if not self._count:
            return None
        item = self._slots[self._head]
        self._slots[self._head] = None
        self._head = (self._head + 1) % self._size
        self._count -= 1
        return item

    def clear(self):
        while self._count:
            self.get_nowait()

    async def get(self):
        while not self._count:
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait()

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.get()
