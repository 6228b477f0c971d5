"""The resolver: drives every PAYING order and every PENDING refund to a final state, in the background.

Each PAYING order carries its next_check_at and deadline_at in the database; before the deadline it is
queried on its channel's schedule, at the deadline it is reversed (B2C) or closed (C2B).

Claims die with their owner. A process claims due work in its own name (`claim_owner`, random per
start) for `lease_s`, and a heartbeat renews the claims of everything it still works on every lease_s / 3.
Every step ends with a conditional update on the claim (`... AND claimed_by = me`) that lets go of it:
nobody else can claim an order while its claim holds, and an owner that lost its claim changes nothing.
A process that dies leaves claims nobody renews; they pass on sooner than the lease: a restarted process
on SQLite (one process per file) lets go of every claim but its own at start, and on PostgreSQL every
owner holds a session advisory lock for as long as it lives, so any live process's next look lets go of
the claims of owners without one (a SIGKILLed process's connection closes, and its lock with it).

Every order on its own schedule. Each claimed order or refund is a task of its own; nobody waits for
anybody else's step. What is shared is the channel: its calls go through a gate (at most
`concurrency_per_channel` under way, at most `max_rate_per_channel_per_s` started a second). A step's
pause (a reverse retried 2 s later) holds no slot, and calls are served first come, first served. Each
look claims, channel by channel, while fewer than `batch` of that channel's newly claimed orders are still
waiting for their first call: a slow channel leaves its due orders in the database, for another process
or a later look, and never holds back another channel's. A channel whose look took all it had room for
may have more due: it is looked at again as soon as half its room is free, not a tick later (10,000
waiting orders asked every 5 s are 2,000 due a second; a look a tick would cap that at batch / tick_s).

Every wait to the moment. When this process reschedules an order (an answer journalled by Payments.apply),
it is told when the order is due again (`due_at`) and looks then, not at its next tick: a payer's schedule
of 1 s steps is kept to a few milliseconds rather than rounded up to the tick. Those looks come at most every
_SOONEST_GAP_S; an order rescheduled by another process is found at that process's look or the next tick.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .alerts import resolver_lag_s
from .clock import ms, now_ms
from .metrics import Metrics
from .payments import Payments
from .settings import ResolverSettings
from .storage import Order, Refund, Storage

if TYPE_CHECKING:
    from .channels import Channel

log = logging.getLogger(__name__)

# An order whose channel is no longer configured is looked at again this much later.
_ORPHAN_RETRY_S = 60.0
# A step that failed unexpectedly (a database error) is tried again this much later.
_FAILED_STEP_RETRY_S = 5.0
# On PostgreSQL, the claims of processes that are gone are let go of at most this often (and the lag
# gauge is read as often).
_REAP_S = 1.0
# Looks for orders this process rescheduled, due before the next tick, come at most this often (each look is a
# claim statement a channel): at most 1 / _SOONEST_GAP_S such looks a second, besides the ticks.
_SOONEST_GAP_S = 0.05
# A rate limiter lets this many seconds' worth of calls start at once after a quiet spell.
_BURST_S = 0.2
# The channel calls the resolver makes; a channel's other attributes pass through unpaced.
_PACED_CALLS = frozenset({"query", "cancel", "close", "cancel_paid", "refund", "refund_query"})


class Pace:
    """At most `per_s` starts a second, evenly spaced, with a burst of _BURST_S seconds' worth."""

    def __init__(self, per_s: float):
        self._interval = 1.0 / per_s
        self._next = 0.0       # the loop time the next start is due (GCRA's theoretical arrival time)

    async def take(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._next = max(self._next, now) + self._interval
        wait = self._next - now - _BURST_S
        if wait > 0:
            await asyncio.sleep(wait)


class ChannelGate:
    """One channel's calls from the resolver: `concurrency` under way at most, `rate_per_s` started a second
    (first come, first served: a newly claimed order queues with the next calls of orders under way)."""

    def __init__(self, concurrency: int, rate_per_s: float):
        self._slots = asyncio.Semaphore(concurrency)
        self._pace = Pace(rate_per_s)
        self.fresh = 0         # claimed and not yet through to a first call: how much more a look may claim
        self.full = False      # the last look took all the room there was: more may be due

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        await self._slots.acquire()
        try:
            await self._pace.take()
            yield
        finally:
            self._slots.release()


class PacedChannel:
    """A channel whose calls go through its gate; everything else (name, schedule, bill) is the channel's.
    `started` is called once, when the first call is through the gate."""

    if TYPE_CHECKING:
        # Typed as what it wraps: every attribute is the channel's (forwarded by __getattr__), so what is built
        # is a Channel to the type checker. At run time object.__new__ builds it.
        def __new__(cls, channel: Channel, gate: ChannelGate, started: Callable[[], None] = ...) -> Channel: ...

    def __init__(self, channel: Channel, gate: ChannelGate, started: Callable[[], None] = lambda: None):
        self._channel = channel
        self._gate = gate
        self._started = started

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._channel, name)
        if name not in _PACED_CALLS:
            return value

        async def paced(*args: Any, **kwargs: Any) -> Any:
            async with self._gate.call():
                self._started()
                return await value(*args, **kwargs)
        return paced


class Resolver:
    def __init__(self, storage: Storage, payments: Payments, settings: ResolverSettings,
                 metrics: Metrics | None = None, *, channels: list[str] | None = None):
        self._storage = storage
        self._payments = payments
        self._settings = settings
        self._metrics = metrics or Metrics()
        self.owner = payments.claim_owner
        self._stopping = asyncio.Event()
        names = channels if channels is not None else payments.channel_names()
        self._gates = {name: ChannelGate(settings.concurrency_per_channel, settings.max_rate_per_channel_per_s)
                       for name in names}
        self._orders: dict[str, asyncio.Task] = {}     # what this process holds now, by id
        self._refunds: dict[str, asyncio.Task] = {}
        self._next_reap = 0.0
        self._room = asyncio.Event()    # a channel whose last look was full has half its room free again
        # When the orders this process rescheduled are due again (Unix ms; a heap, soonest first): a look at the
        # soonest, so a payer's schedule (1 s, 1 s, ...) is kept to the moment, not to the tick.
        self._due: list[int] = []
        self._sooner = asyncio.Event()
        self._last_sooner_look = 0.0    # the loop time of the last look for an order due before the tick
        payments.on_due = self.due_at

    def due_at(self, at_ms: int) -> None:
        """An order is due again at `at_ms`: look then if that is before the next tick."""
        if not self._due or at_ms < self._due[0]:
            self._sooner.set()
        heapq.heappush(self._due, at_ms)

    @property
    def _soonest(self) -> float:
        return self._due[0] if self._due else float("inf")

    def stop(self) -> None:
        """Claim nothing more; return from run() once the work in hand is done (or run() is cancelled):
        what is left is let go of, for the next look of any process."""
        self._stopping.set()

    @property
    def in_hand(self) -> int:
        return len(self._orders) + len(self._refunds)

    async def run(self) -> None:
        log.info("resolver %s started (tick %.2fs, lease %.0fs)", self.owner, self._settings.tick_s,
                 self._settings.lease_s)
        released = await self._storage.release_stale_claims(self.owner)
        if released:
            log.info("resolver: took back %d orders and refunds claimed by a process that is gone", released)
        heartbeat = asyncio.create_task(self._heartbeat(), name="resolver-heartbeat")
        try:
            next_look = 0.0
            loop = asyncio.get_running_loop()
            while not self._stopping.is_set():
                try:
                    if loop.time() >= next_look or now_ms() >= self._soonest:
                        next_look = loop.time() + self._settings.tick_s
                        if now_ms() >= self._soonest:
                            self._last_sooner_look = loop.time()
                        while self._due and self._due[0] <= now_ms():
                            heapq.heappop(self._due)         # what is due by now, this look claims
                        await self.run_once()
                    else:
                        await self._look_again()
                except Exception:
                    # One bad look must not stop the loop that finishes everyone's payments.
                    log.exception("resolver look failed")
                    await asyncio.sleep(min(self._settings.tick_s, _FAILED_STEP_RETRY_S))
                await self._until_next_look(next_look)
            while self.in_hand:
                await asyncio.wait([*self._orders.values(), *self._refunds.values()])
        finally:
            heartbeat.cancel()
            work = [heartbeat, *self._orders.values(), *self._refunds.values()]
            for task in work:
                task.cancel()
            await asyncio.gather(*work, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._storage.release_claims(self.owner))

    async def _until_next_look(self, next_look: float) -> None:
        """Wait for the next tick, or less: until a channel whose last look was full has room again, or an
        order this process rescheduled is due (at most one look every _SOONEST_GAP_S for those)."""
        self._room.clear()
        if any(gate.full and gate.fresh <= self._settings.batch // 2 for gate in self._gates.values()):
            return
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            self._sooner.clear()
            until = next_look - loop.time()
            if self._soonest != float("inf"):
                until = min(until, max((self._soonest - now_ms() + 1) / 1000,
                                       self._last_sooner_look + _SOONEST_GAP_S - loop.time()))
            if until <= 0:
                return
            sooner = asyncio.ensure_future(self._sooner.wait())
            waits = [sooner, asyncio.ensure_future(self._stopping.wait())]
            if any(gate.full for gate in self._gates.values()):
                waits.append(asyncio.ensure_future(self._room.wait()))
            try:
                done, _ = await asyncio.wait(waits, timeout=until, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            if done != {sooner}:
                return          # the time came, a channel has room, or the resolver stops
            # only an order due sooner than this wait: wait again, for it

    async def _look_again(self) -> int:
        """Between ticks: claim more of the channels whose last look took all the room they had."""
        now, claimed = now_ms(), 0
        for name, gate in self._gates.items():
            if gate.full:
                claimed += await self._claim_channel(name, gate, now)
        return claimed

    async def _claim_channel(self, name: str, gate: ChannelGate, now: int) -> int:
        room = self._settings.batch - gate.fresh
        if room <= 0:
            return 0
        orders = await self._storage.claim_due_orders(now, ms(self._settings.lease_s), room, owner=self.owner,
                                                      channel=name)
        gate.full = len(orders) == room
        for order in orders:
            self._start_order(order)
        return len(orders)

    async def run_once(self) -> int:
        """One look: claim what is due and has room, start a task for each; how many were claimed."""
        now = now_ms()
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_reap:
            self._next_reap = loop.time() + _REAP_S
            if self._storage.shared_claims:
                if released := await self._storage.release_stale_claims(self.owner):
                    log.info("resolver: took back %d orders and refunds of a process that is gone", released)
            self._metrics.resolver_lag.set(await resolver_lag_s(self._storage, now))
        lease, batch, claimed = ms(self._settings.lease_s), self._settings.batch, 0
        for name, gate in self._gates.items():
            claimed += await self._claim_channel(name, gate, now)
        # One-time codes nobody opened (no channel, nothing to call), and orders of channels no longer
        # configured (looked at again later).
        for order in await self._storage.claim_due_orders(now, lease, batch, owner=self.owner, channel=""):
            self._start_order(order)
            claimed += 1
        for order in await self._storage.claim_due_orders(now, lease, batch, owner=self.owner,
                                                          other_than=("", *self._gates)):
            self._start_order(order)
            claimed += 1
        for refund in await self._storage.claim_due_refunds(now, lease, batch, owner=self.owner):
            self._start(self._refunds, refund.id, "", lambda started, refund=refund: self._refund_step(refund, started),
                        self._release_refund)
            claimed += 1
        return claimed

    def _start_order(self, order: Order) -> None:
        self._start(self._orders, order.id, order.channel, lambda started: self._step(order, started),
                    self._release_order)

    def _start(self, held: dict[str, asyncio.Task], work_id: str, channel_name: str,
               step: Callable[[Callable[[], None]], Awaitable[None]],
               release: Callable[[str], Awaitable[None]]) -> None:
        gate = self._gates.get(channel_name)
        if gate is not None:
            gate.fresh += 1
        counted = [gate is not None]

        def started() -> None:
            if counted[0] and gate is not None:     # counted only with a gate
                counted[0] = False
                gate.fresh -= 1
                if gate.full and gate.fresh <= self._settings.batch // 2:
                    self._room.set()

        async def work() -> None:
            try:
                await step(started)
            except Exception:
                log.exception("resolving %s failed", work_id)
                with contextlib.suppress(Exception):
                    await release(work_id)
            finally:
                started()
                if held.get(work_id) is asyncio.current_task():   # not a later claim of the same work
                    del held[work_id]
        held[work_id] = asyncio.create_task(work(), name=f"resolve-{work_id}")

    def _paced(self, order: Order, started: Callable[[], None]) -> Channel | None:
        channel, gate = self._payments.channel_of(order), self._gates.get(order.channel)
        return PacedChannel(channel, gate, started) if channel is not None and gate is not None else None

    async def _step(self, order: Order, started: Callable[[], None]) -> None:
        self._metrics.resolver_steps.labels("order").inc()
        if order.channel and self._payments.channel_of(order) is None:
            log.warning("order %s: channel %s is not configured", order.trade_no, order.channel)
            await self._storage.reschedule_order(order.id, now_ms() + ms(_ORPHAN_RETRY_S), count_attempt=False,
                                                 claim=self.owner)
            return
        await self._payments.step(order, claim=self.owner, channel=self._paced(order, started))

    async def _refund_step(self, refund: Refund, started: Callable[[], None]) -> None:
        self._metrics.resolver_steps.labels("refund").inc()
        order = await self._storage.get_order_by_id(refund.order_id)
        if order is None:
            raise LookupError(f"refund {refund.id}: its order {refund.order_id} is gone")
        await self._payments.refund_step(refund, order, claim=self.owner, channel=self._paced(order, started))

    async def _release_order(self, order_id: str) -> None:
        await self._storage.reschedule_order(order_id, now_ms() + ms(_FAILED_STEP_RETRY_S), count_attempt=False,
                                             claim=self.owner)

    async def _release_refund(self, refund_id: str) -> None:
        await self._storage.reschedule_refund(refund_id, now_ms() + ms(_FAILED_STEP_RETRY_S), claim=self.owner)

    async def _heartbeat(self) -> None:
        """Renew the claims of the work in hand every lease_s / 3, so they outlive any one call."""
        every = self._settings.lease_s / 3
        while True:
            await asyncio.sleep(every)
            if not self.in_hand:
                continue
            try:
                await self._storage.renew_claims(self.owner, now_ms() + ms(self._settings.lease_s),
                                                 order_ids=list(self._orders), refund_ids=list(self._refunds))
            except Exception as e:
                # Claims not renewed run out: another process may take the work over, and this one's
                # conditional updates then change nothing.
                log.warning("resolver heartbeat failed (%s)", e.__class__.__name__)
