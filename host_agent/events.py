"""Events in the order they happened, and a way to wait for one (the agent's own, and the simulated
boards' in hw_sim, which tests and consoles follow)."""
import asyncio


class EventLog(list):
    """A list of events (dicts); `wait` returns the first one from `start` on that a predicate accepts,
    waiting for it to be appended when none has been yet."""

    def __init__(self, what="event"):
        super().__init__()
        self.what = what            # for the timeout message: "agent event", "event"
        self._waiters = []

    def append(self, event):
        super().append(event)
        for waiter in list(self._waiters):
            waiter.set()

    async def wait(self, predicate, timeout=10.0, start=0):
        woken = asyncio.Event()
        self._waiters.append(woken)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    woken.clear()
                    for event in self[start:]:
                        if predicate(event):
                            return event
                    await woken.wait()
        except TimeoutError:
            raise TimeoutError("no matching %s within %ss; events: %r"
                               % (self.what, timeout, self[start:])) from None
        finally:
            self._waiters.remove(woken)
