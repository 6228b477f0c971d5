"""The resolver: drives every PAYING order to a final state, in the background.

Each PAYING order carries its next_check_at and deadline_at in the database, so a restarted server
picks up where the last one stopped. Work is claimed with a conditional update that pushes
next_check_at a lease ahead: two loops (or two processes) never act on the same order at once.
Before the deadline the order is queried on the channel's schedule; at the deadline it is reversed.
"""
from __future__ import annotations

import asyncio
import logging

from .clock import ms, now_ms
from .payments import Payments
from .settings import ResolverSettings
from .storage import Order, Storage

log = logging.getLogger(__name__)

# An order whose channel is no longer configured is looked at again this much later.
_ORPHAN_RETRY_S = 60.0


class Resolver:
    def __init__(self, storage: Storage, payments: Payments, settings: ResolverSettings):
        self._storage = storage
        self._payments = payments
        self._settings = settings

    async def run(self) -> None:
        log.info("resolver started (tick %.2fs)", self._settings.tick_s)
        while True:
            try:
                await self.run_once()
            except Exception:
                # One bad pass must not stop the loop that finishes everyone's payments.
                log.exception("resolver pass failed")
            await asyncio.sleep(self._settings.tick_s)

    async def run_once(self) -> int:
        """Claim the due orders and drive each one step; returns how many were claimed."""
        claimed = await self._storage.claim_due_orders(now_ms(), ms(self._settings.lease_s), self._settings.batch)
        if claimed:
            results = await asyncio.gather(*(self._step(order) for order in claimed), return_exceptions=True)
            for order, result in zip(claimed, results):
                if isinstance(result, Exception):
                    log.error("resolving %s failed", order.trade_no, exc_info=result)
        return len(claimed)

    async def _step(self, order: Order) -> None:
        channel = self._payments.channel_of(order)
        if channel is None:
            log.warning("order %s: channel %s is not configured", order.trade_no, order.channel)
            await self._storage.reschedule_order(order.id, now_ms() + ms(_ORPHAN_RETRY_S), count_attempt=False)
            return
        if now_ms() >= order.deadline_at:
            await self._payments.expire(order)
        else:
            await self._payments.apply(order, await channel.query(order.trade_no), source="query")
