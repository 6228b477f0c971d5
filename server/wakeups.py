"""Long-poll wake-ups: a `query` waiting on an order is woken when the order changes.

In-process now (an asyncio.Event per waiter). With several processes on PostgreSQL the same
interface is served by LISTEN/NOTIFY.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Protocol


class Watch(Protocol):
    async def wait(self, timeout_s: float) -> bool:
        """True when the order changed before the timeout."""
        ...


class OrderWakeups(Protocol):
    def watch(self, order_id: str) -> contextlib.AbstractContextManager[Watch]:
        """Subscribe before reading the order, so a change between read and wait is not missed."""
        ...

    def notify(self, order_id: str) -> None: ...


class _EventWatch:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def wait(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self.event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class LocalWakeups:
    def __init__(self) -> None:
        self._watches: dict[str, set[_EventWatch]] = {}

    @contextlib.contextmanager
    def watch(self, order_id: str) -> Iterator[Watch]:
        watch = _EventWatch()
        self._watches.setdefault(order_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(order_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[order_id]

    def notify(self, order_id: str) -> None:
        for watch in self._watches.get(order_id, ()):
            watch.event.set()

    def waiting(self) -> int:
        """How many watches are open (for tests and metrics)."""
        return sum(len(w) for w in self._watches.values())
