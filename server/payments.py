"""The order lifecycle: take a payment, apply channel answers, wait for changes, expire.

Order of work on `pay`: refuse early, insert the order as PAYING, only then call the channel, so a
crash at any point leaves a row the resolver finishes. Every status change is conditional on the
order still being PAYING; whoever wins wakes the long polls.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

from .channels import CancelResult, Channel, ChannelResult, Channels, Outcome, PayCommand, Reason
from .clock import ms, new_id, new_trade_no, now_ms
from .device_messages import PayRequest
from .masking import mask
from .routing import CodeRouter
from .storage import CLOSED, FAILED, PAYING, SUCCESS, Device, Order, Storage
from .wakeups import OrderWakeups

log = logging.getLogger(__name__)


class UnsupportedCode(Exception):
    """No active channel takes this payment code."""


class OrderConflict(Exception):
    """The order_no was used before with a different amount or payment code."""


class OrderNotFound(Exception):
    """The device never sent this order_no."""


def hash_auth_code(auth_code: str) -> str:
    return hashlib.sha256(auth_code.encode("ascii")).hexdigest()


def status_for(result: ChannelResult) -> str | None:
    """The final order status a channel result leads to, or None while still open."""
    if result.outcome is Outcome.SUCCESS:
        return SUCCESS
    if result.outcome is Outcome.FAILED:
        # A payment that was reversed or revoked is closed, not failed: the payer did nothing wrong.
        return CLOSED if result.reason == Reason.TIMEOUT else FAILED
    return None


class Payments:
    def __init__(self, storage: Storage, channels: Channels, router: CodeRouter, wakeups: OrderWakeups):
        self._storage = storage
        self._channels = channels
        self._router = router
        self._wakeups = wakeups

    def route(self, auth_code: str) -> Channel:
        channel_name = self._router.channel_for(auth_code)
        channel = self._channels.get(channel_name) if channel_name else None
        if channel is None:
            raise UnsupportedCode("no wallet this server routes takes this payment code")
        return channel

    async def check_pay(self, device: Device, request: PayRequest) -> None:
        """Refuse a pay that cannot go ahead, changing nothing (pay checks again, for races)."""
        self.route(request.auth_code)
        existing = await self._storage.get_order(device.id, request.order_no)
        if existing is not None:
            self._same_order(existing, request, hash_auth_code(request.auth_code))

    async def pay(self, device: Device, request: PayRequest) -> Order:
        channel = self.route(request.auth_code)
        code_hash = hash_auth_code(request.auth_code)

        existing = await self._storage.get_order(device.id, request.order_no)
        if existing is not None:
            return self._same_order(existing, request, code_hash)

        now = now_ms()
        schedule = channel.schedule
        order = Order(
            id=new_id(), device_id=device.id, order_no=request.order_no, trade_no=new_trade_no(),
            amount_fen=request.amount_fen, channel=channel.name, status=PAYING, subject=request.subject,
            auth_code_hash=code_hash, auth_code_masked=mask(request.auth_code), created_at=now,
            deadline_at=now + ms(schedule.deadline_s),
            # Should this process die during the pay call, the resolver takes over once it would
            # have timed out anyway.
            next_check_at=now + ms(schedule.pay_timeout_s + 1))
        order, created = await self._storage.create_order(order)
        if not created:  # a concurrent duplicate got in first; it makes the channel call
            return self._same_order(order, request, code_hash)
        await self._storage.add_event(order.id, now, "created", f"{order.amount_fen} fen via {order.channel}")
        log.info("pay %s/%s %d fen code %s -> %s as %s", device.id, order.order_no, order.amount_fen,
                 order.auth_code_masked, order.channel, order.trade_no)

        result = await channel.pay(PayCommand(trade_no=order.trade_no, amount_fen=order.amount_fen,
                                              auth_code=request.auth_code, subject=request.subject,
                                              device_id=device.id))
        order = await self.apply(order, result, source="pay")
        if result.outcome is Outcome.UNKNOWN and order.status == PAYING:
            # WeChat's guidance on SYSTEMERROR / timeouts: query at once.
            order = await self.apply(order, await channel.query(order.trade_no), source="query")
        return order

    def _same_order(self, order: Order, request: PayRequest, code_hash: str) -> Order:
        same = (order.amount_fen == request.amount_fen
                and hmac.compare_digest(order.auth_code_hash, code_hash))
        if not same:
            raise OrderConflict(f"order_no {order.order_no} was used with a different amount or payment code")
        return order

    async def get(self, device: Device, order_no: str) -> Order:
        order = await self._storage.get_order(device.id, order_no)
        if order is None:
            raise OrderNotFound(order_no)
        return order

    async def wait_for_change(self, device: Device, order_no: str, wait_s: float) -> Order:
        """The order, once it is final or after `wait_s` seconds, whichever comes first."""
        order = await self.get(device, order_no)
        if order.status != PAYING or wait_s <= 0:
            return order
        with self._wakeups.watch(order.id) as watch:
            order = await self.get(device, order_no)   # it may have changed before we subscribed
            if order.status == PAYING:
                await watch.wait(wait_s)
                order = await self.get(device, order_no)
        return order

    async def apply(self, order: Order, result: ChannelResult, *, source: str) -> Order:
        """Record a channel answer; finish the order when it is final, else schedule the next query."""
        if not await self._settle(order, result, source=source):
            interval = self._channels[order.channel].schedule.query_interval_s
            await self._storage.reschedule_order(order.id, now_ms() + ms(interval), count_attempt=True)
        return await self._reload(order)

    async def expire(self, order: Order) -> Order:
        """The deadline passed: a last query, then reverse until the channel confirms it."""
        channel = self._channels[order.channel]
        if await self._settle(order, await channel.query(order.trade_no), source="query"):
            return await self._reload(order)
        for _ in range(channel.schedule.cancel_attempts):
            cancel = await channel.cancel(order.trade_no)
            await self._record_cancel(order, cancel)
            if cancel.cancelled:
                await self._finish(order, CLOSED, reason=Reason.TIMEOUT, message=cancel.message, channel_trade_no=None)
                return await self._reload(order)
            if not cancel.retry:
                break
            await asyncio.sleep(channel.schedule.cancel_retry_s)
        # Not confirmed: never close an order locally that the channel may still take money for.
        await self._storage.reschedule_order(order.id, now_ms() + ms(channel.schedule.cancel_retry_s),
                                             count_attempt=True)
        return await self._reload(order)

    async def _settle(self, order: Order, result: ChannelResult, *, source: str) -> bool:
        """Record the answer; finish the order if it is final. True when the answer was final."""
        await self._storage.add_event(order.id, now_ms(), f"{source}:{result.outcome.value}",
                                      result.reason or result.message, dict(result.raw) or None)
        status = status_for(result)
        if status is None:
            return False
        await self._finish(order, status, reason=result.reason, message=result.message,
                           channel_trade_no=result.channel_trade_no)
        return True

    async def _finish(self, order: Order, status: str, *, reason: str | None, message: str | None,
                      channel_trade_no: str | None) -> None:
        won = await self._storage.finish_order(order.id, status, reason=reason, message=message,
                                               channel_trade_no=channel_trade_no, finished_at=now_ms())
        if won:
            log.info("order %s/%s %s %s", order.device_id, order.order_no, status, reason or "")
            self._wakeups.notify(order.id)

    async def _record_cancel(self, order: Order, cancel: CancelResult) -> None:
        kind = "cancel:done" if cancel.cancelled else ("cancel:retry" if cancel.retry else "cancel:failed")
        await self._storage.add_event(order.id, now_ms(), kind, cancel.message, dict(cancel.raw) or None)

    async def _reload(self, order: Order) -> Order:
        fresh = await self._storage.get_order_by_id(order.id)
        assert fresh is not None, "orders are never deleted"
        return fresh

    def channel_of(self, order: Order) -> Channel | None:
        return self._channels.get(order.channel)
