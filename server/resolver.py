"""The resolver: drives every PAYING order and every PENDING refund to a final state, in the background.

Each PAYING order carries its next_check_at and deadline_at in the database, so a restarted server
picks up where the last one stopped. Work is claimed by pushing next_check_at a lease ahead (on
PostgreSQL with `FOR UPDATE SKIP LOCKED`, so processes claiming at once skip each other's rows): two
loops, in one process or several, never act on the same order at once. Before the deadline an order
is queried on its channel's schedule; at the deadline it is reversed (B2C) or closed (C2B).
"""
from __future__ import annotations

import asyncio
import logging

from .clock import ms, now_ms
from .metrics import Metrics
from .payments import Payments
from .settings import ResolverSettings
from .storage import Order, Refund, Storage

log = logging.getLogger(__name__)

# An order whose channel is no longer configured is looked at again this much later.
_ORPHAN_RETRY_S = 60.0


class Resolver:
    def __init__(self, storage: Storage, payments: Payments, settings: ResolverSettings,
                 metrics: Metrics | None = None):
        self._storage = storage
        self._payments = payments
        self._settings = settings
        self._metrics = metrics or Metrics()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the pass under way, then return from run() (work left is claimed again at the next start)."""
        self._stopping.set()

    async def run(self) -> None:
        log.info("resolver started (tick %.2fs)", self._settings.tick_s)
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                # One bad pass must not stop the loop that finishes everyone's payments.
                log.exception("resolver pass failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self._settings.tick_s)
            except TimeoutError:
                pass

    async def run_once(self) -> int:
        """Claim the due orders and refunds and drive each one step; returns how many were claimed."""
        lease = ms(self._settings.lease_s)
        orders = await self._storage.claim_due_orders(now_ms(), lease, self._settings.batch)
        refunds = await self._storage.claim_due_refunds(now_ms(), lease, self._settings.batch)
        steps = [self._step(order) for order in orders] + [self._refund_step(refund) for refund in refunds]
        if steps:
            results = await asyncio.gather(*steps, return_exceptions=True)
            for work, result in zip([*orders, *refunds], results):
                if isinstance(result, Exception):
                    log.error("resolving %s failed", getattr(work, "trade_no", None) or work.refund_trade_no,
                              exc_info=result)
        return len(steps)

    async def _step(self, order: Order) -> None:
        self._metrics.resolver_steps.labels("order").inc()
        if order.channel and self._payments.channel_of(order) is None:
            log.warning("order %s: channel %s is not configured", order.trade_no, order.channel)
            await self._storage.reschedule_order(order.id, now_ms() + ms(_ORPHAN_RETRY_S), count_attempt=False)
            return
        await self._payments.step(order)

    async def _refund_step(self, refund: Refund) -> None:
        self._metrics.resolver_steps.labels("refund").inc()
        await self._payments.refund_step(refund)
