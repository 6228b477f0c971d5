"""The order lifecycle: take a payment, show a one-time code, apply channel answers, wait for changes,
close, expire, refund.

Order of work on `pay`: refuse early, insert the order as PAYING, only then call the channel, so a
crash at any point leaves a row the resolver finishes. Every status change is conditional on the
status it leaves; whoever wins wakes the long polls (in this process directly, in the others through
the database's NOTIFY).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import static_codes
from .announce import Announcer
from .channels import (
    CancelResult, Channel, ChannelResult, Channels, Fault, NoticeAnswer, NoticeRefused, Outcome, Payer, PayCommand,
    PrecreateCommand, PrecreateResult, Reason, RefundCommand, RefundResult, SubMerchant, TradeType,
)
from .channels.routing import CodeRouter
from .clock import ms, new_id, new_trade_no, now_ms
from .days import china_day
from .device_messages import CloseRequest, PayRequest, QrRequest, RefundRequest
from .masking import mask
from .merchant_channels import ChannelNotOpen, MerchantChannels
from .metrics import Metrics
from .settings import Settings
from .storage import (
    B2C, C2B, CLOSED, FAILED, PAYING, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCESS, REFUNDED, SUCCESS,
    Device, LimitExceeded, Merchant, Order, OrderScope, Refund, RefundRefused, StaticCode, Storage,
)
from .storage.records import MERCHANT_ACTIVE
from .wakeups import OrderWakeups

log = logging.getLogger(__name__)

# A device closed the order (device API `close`): CLOSED with this reason.
REASON_CLOSED = "closed"
# Refunds the channel neither confirms nor refuses are asked again this often, at most.
_REFUND_RETRY_MAX_S = 300.0
_TIER_CACHE_S = 5.0
# A device's close finds the resolver working on its order: it waits this long for the order to be let go of,
# then leaves the cancel to the resolver (the order is due at once).
_CLOSE_CLAIM_WAIT_S = 2.0
_CLOSE_CLAIM_POLL_S = 0.05
# Answers that say nothing trustworthy about the payment, and so back off (a timeout does not: ask again soon).
_BACKING_OFF = (Fault.UNTRUSTED, Fault.REFUSED)


def new_claim_owner() -> str:
    """Who this process is in the resolver's claims: host, pid and a random part (a new one each start)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def backoff_s(first_s: float, max_s: float, faults: int) -> float:
    """The wait after `faults` untrustworthy answers in a row: first_s, doubled each time, at most max_s."""
    return min(first_s * 2 ** min(max(faults - 1, 0), 30), max_s)


class UnsupportedCode(Exception):
    """No active channel takes this payment code."""


class OrderConflict(Exception):
    """The order_no was used before with a different amount, payment code or kind (or by the device
    before its current assignment)."""


class OrderNotFound(Exception):
    """The device never sent this order_no (since it came to its current store)."""


class OrderPaid(Exception):
    """`close` of a paid order: refund it instead."""


class RefundConflict(Exception):
    """The refund_no was used before with different fields."""


class RefundImpossible(Exception):
    """The refund cannot go ahead; `code` is the device API's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class DailyLimitExceeded(Exception):
    """The merchant's daily cap would be exceeded."""


class MerchantNotActive(Exception):
    """The merchant is suspended or closed: it takes no payments."""


class DeviceWithoutMerchant(Exception):
    """A device no merchant has (in stock): it takes no payments. device_auth.check_standing refuses it first,
    since only an installed device is let through and installing assigns a merchant."""


def merchant_of(device: Device) -> str:
    """The merchant a device takes payments for; DeviceWithoutMerchant for one without."""
    if device.merchant_id is None:
        raise DeviceWithoutMerchant(f"device {device.id} has no merchant: it takes no payments")
    return device.merchant_id


class StaticLimitReached(Exception):
    """A static-code payment would take the payer over the static-code limit of its channel and day; the
    order is closed (nobody will pay that amount), giving the merchant's daily allowance back."""


class EngagedElsewhere(Exception):
    """The one-time code was opened in another app, or finished, meanwhile: `order` as it is now."""

    def __init__(self, order: Order | None):
        super().__init__("the order was engaged elsewhere or finished")
        self.order = order


class OtherPayersOrder(Exception):
    """A static-code order counts against its payer's limit: nobody else pays it."""


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


@dataclass(frozen=True)
class MerchantLimits:
    min_amount_fen: int
    max_amount_fen: int
    static_code_max_fen: int
    daily_cap_fen: int
    daily_used_fen: int


class Payments:
    def __init__(self, storage: Storage, channels: Channels, router: CodeRouter, wakeups: OrderWakeups,
                 settings: Settings, metrics: Metrics | None = None, announcer: Announcer | None = None):
        self._storage = storage
        self._announcer = announcer
        self._channels = channels
        self._router = router
        self._wakeups = wakeups
        self._settings = settings
        self._metrics = metrics or Metrics()
        self._merchants: dict[str, tuple[Merchant | None, float]] = {}
        self.merchant_channels = MerchantChannels(storage, settings)
        # This process's name in claims (the resolver's, and a device's close's): see server/resolver.py.
        self.claim_owner = new_claim_owner()
        # Told the time (Unix ms) an order was rescheduled to ask its channel again: this process's resolver
        # wakes for it then rather than at its next tick (Resolver.due_at).
        self.on_due: Callable[[int], None] = lambda at_ms: None

    # routing and limits

    def route(self, auth_code: str) -> Channel:
        channel_name = self._router.channel_for(auth_code)
        channel = self._channels.get(channel_name) if channel_name else None
        if channel is None:
            raise UnsupportedCode("no wallet this server routes takes this payment code")
        return channel

    async def wallets(self, merchant_id: str) -> list[str]:
        """The wallets this merchant's devices may take: routed here, and the merchant open at them."""
        return await self.merchant_channels.open_at(merchant_id, sorted(self._channels))

    def code_shapes(self, wallets: list[str]) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
        """The payment-code prefixes and lengths routed to `wallets`, per wallet (CodeRouter.code_shapes)."""
        return self._router.code_shapes(wallets)

    async def identity(self, merchant_id: str, channel: Channel) -> SubMerchant | None:
        """The merchant's identity at `channel` for a new order; ChannelNotOpen when it may not use it."""
        return await self.merchant_channels.identity(merchant_id, channel.name)

    @staticmethod
    def sub_merchant(order: Order) -> SubMerchant | None:
        """Who an existing order belongs to at its channel: the account it was created under."""
        return SubMerchant(order.channel_account) if order.channel_account else None

    def _today(self, at_ms: int | None = None) -> int:
        return china_day(now_ms() if at_ms is None else at_ms, self._settings.limits.utc_offset_h)

    async def _merchant(self, merchant_id: str) -> Merchant | None:
        # Tier and status change rarely (an operator verifies or suspends a merchant): read them at most
        # every few seconds.
        cached = self._merchants.get(merchant_id)
        if cached is None or cached[1] < time.monotonic():
            cached = (await self._storage.get_merchant(merchant_id), time.monotonic() + _TIER_CACHE_S)
            self._merchants[merchant_id] = cached
        return cached[0]

    async def _daily_cap(self, device: Device) -> int:
        merchant = await self._merchant(merchant_of(device))
        return self._settings.limits.daily_cap_fen(merchant.tier if merchant else 1)

    async def check_active(self, merchant_id: str) -> None:
        """MerchantNotActive for a suspended or closed merchant: no new payments."""
        merchant = await self._merchant(merchant_id)
        if merchant is not None and merchant.status != MERCHANT_ACTIVE:
            raise MerchantNotActive(f"the merchant is {merchant.status}: it takes no payments")

    def forget_merchant(self, merchant_id: str) -> None:
        """Read the merchant's records afresh at its next payment (this process's cache only)."""
        self._merchants.pop(merchant_id, None)
        self.merchant_channels.forget(merchant_id)

    async def limits(self, device: Device) -> MerchantLimits:
        api = self._settings.device_api
        return MerchantLimits(
            min_amount_fen=api.min_amount_fen, max_amount_fen=api.max_amount_fen,
            static_code_max_fen=api.static_code_max_fen, daily_cap_fen=await self._daily_cap(device),
            daily_used_fen=await self._storage.merchant_day_used(merchant_of(device), self._today()))

    async def _check_daily_cap(self, device: Device, amount_fen: int, used: int | None = None) -> None:
        cap = await self._daily_cap(device)
        if used is None:
            used = await self._storage.merchant_day_used(merchant_of(device), self._today())
        if used + amount_fen > cap:
            raise DailyLimitExceeded(f"the merchant's daily cap is {cap} fen and {used} fen are used today")

    # pay (B2C)

    async def check_pay(self, device: Device, request: PayRequest) -> None:
        """Refuse a pay that cannot go ahead, changing nothing (pay checks again, for races)."""
        await self.check_active(merchant_of(device))
        await self.identity(merchant_of(device), self.route(request.auth_code))
        # One read for both: is it a retry, and how much of the merchant's day is used.
        existing, used = await self._storage.order_and_day_used(device.id, request.order_no, merchant_of(device),
                                                                self._today())
        if existing is not None:
            self._same_order(device.order_scope, existing, B2C, request.amount_fen, hash_auth_code(request.auth_code))
            return
        await self._check_daily_cap(device, request.amount_fen, used)

    async def pay(self, device: Device, request: PayRequest) -> Order:
        """Carry out a pay that check_pay let through (a retry finds its order inside create_order)."""
        channel = self.route(request.auth_code)
        merchant = await self.identity(merchant_of(device), channel)
        code_hash = hash_auth_code(request.auth_code)
        now = now_ms()
        schedule = channel.schedule
        order = Order(
            id=new_id(), device_id=device.id, order_no=request.order_no, trade_no=new_trade_no(),
            amount_fen=request.amount_fen, channel=channel.name, status=PAYING, subject=request.subject,
            auth_code_hash=code_hash, auth_code_masked=mask(request.auth_code), created_at=now,
            deadline_at=now + ms(schedule.deadline_s), kind=B2C, merchant_id=device.merchant_id,
            day=self._today(now), channel_account=merchant.account_id if merchant else None,
            store_id=device.store_id,
            # Should this process die during the pay call, the resolver takes over once it would
            # have timed out anyway.
            next_check_at=now + ms(schedule.pay_timeout_s + 1))
        order, created = await self._create(device, order, f"{order.amount_fen} fen via {order.channel}")
        if not created:  # a retry, or a concurrent duplicate got in first: that one makes the channel call
            return self._same_order(device.order_scope, order, B2C, request.amount_fen, code_hash)
        log.info("pay %s/%s %d fen code %s -> %s as %s", device.id, order.order_no, order.amount_fen,
                 order.auth_code_masked, order.channel, order.trade_no)

        result = await channel.pay(PayCommand(trade_no=order.trade_no, amount_fen=order.amount_fen,
                                              auth_code=request.auth_code, subject=request.subject,
                                              device_id=device.id, merchant=merchant))
        self._metrics.channel_calls.labels(channel.name, "pay", result.outcome.value).inc()
        order = await self.apply(order, result, source="pay")
        if result.outcome is Outcome.UNKNOWN and order.status == PAYING:
            # WeChat's guidance on SYSTEMERROR / timeouts: query at once.
            order = await self.apply(order, await self.query_channel(channel, order), source="query")
        return order

    async def _create(self, device: Device, order: Order, event: str) -> tuple[Order, bool]:
        try:
            return await self._storage.create_order(order, daily_cap_fen=await self._daily_cap(device), event=event)
        except LimitExceeded as e:
            raise DailyLimitExceeded(str(e)) from None

    @staticmethod
    def _same_order(scope: OrderScope, order: Order, kind: str, amount_fen: int, code_hash: str) -> Order:
        """The existing order a retry asks for; OrderConflict when the request is not its retry."""
        if not scope.covers(order):
            # The number was the device's before it came to this store: that order is not this shop's.
            raise OrderConflict(f"order_no {order.order_no} was used before this device came to this store")
        same = (order.kind == kind and order.amount_fen == amount_fen
                and hmac.compare_digest(order.auth_code_hash, code_hash))
        if not same:
            raise OrderConflict(f"order_no {order.order_no} was used with a different amount, payment code or kind")
        return order

    # qr (C2B)

    async def check_qr(self, device: Device, request: QrRequest) -> None:
        await self.check_active(merchant_of(device))
        existing = await self._storage.get_order(device.id, request.order_no)
        if existing is not None:
            self._same_order(device.order_scope, existing, C2B, request.amount_fen, "")
            return
        await self._check_daily_cap(device, request.amount_fen)

    async def qr(self, device: Device, request: QrRequest, *, static_code: StaticCode | None = None) -> Order:
        """A one-time code's order; with `static_code`, one a payer typed the amount for on the shop's code."""
        existing = await self._storage.get_order(device.id, request.order_no)
        if existing is not None:
            return self._same_order(device.order_scope, existing, C2B, request.amount_fen, "")
        await self.check_active(merchant_of(device))     # the static-code page comes here without check_qr
        now = now_ms()
        deadline = now + self._settings.device_api.qr_valid_s * 1000
        order = Order(
            id=new_id(), device_id=device.id, order_no=request.order_no, trade_no=new_trade_no(),
            amount_fen=request.amount_fen, channel="", status=PAYING, subject=request.subject,
            auth_code_hash="", auth_code_masked="", created_at=now, deadline_at=deadline, next_check_at=deadline,
            kind=C2B, merchant_id=device.merchant_id, day=self._today(now), qr_token=secrets.token_urlsafe(18),
            static_code=1 if static_code else 0,   # a payer typed the amount on the shop's static code
            static_code_id=static_code.id if static_code else None,
            store_id=static_code.store_id if static_code else device.store_id)
        order, created = await self._create(device, order, f"{order.amount_fen} fen, one-time code")
        if not created:
            return self._same_order(device.order_scope, order, C2B, request.amount_fen, "")
        log.info("qr %s/%s %d fen as %s", device.id, order.order_no, order.amount_fen, order.trade_no)
        return order

    def qr_code(self, order: Order) -> str:
        return f"{self._settings.device_api.public_url.rstrip('/')}/c/{order.qr_token}"

    def static_code_url(self, code_id: str) -> str:
        return static_codes.code_url(self._settings.device_api.public_url, code_id)

    # C2B in the payer's wallet app (server/views/landing.py asks; docs/c2b.md says the flow)

    async def in_app_merchant(self, order: Order, channel: Channel) -> SubMerchant | None:
        """Whose money the one-time code's order moves at `channel` (None: the acquirer's own account);
        ChannelNotOpen when the shop does not take that wallet and the order is not engaged to it yet."""
        try:
            merchant = await self.identity(order.merchant_id or "", channel)
        except ChannelNotOpen:
            if not order.channel:
                raise
            merchant = self.sub_merchant(order)
        if order.channel and order.channel_account != (merchant.account_id if merchant else None):
            merchant = self.sub_merchant(order)      # engaged under an account the merchant has since changed
        return merchant

    async def open_in_app(self, order: Order, channel: Channel, payer: Payer, merchant: SubMerchant | None, *,
                          client_ip: str | None, notify_url: str, return_url: str) -> PrecreateResult:
        """The payer's app opened the order: engage it to the channel and payer (once), then make the
        channel's in-app order for them. Raises OtherPayersOrder, StaticLimitReached or EngagedElsewhere."""
        if order.static_code and order.payer_id and order.payer_id != payer.payer_id:
            raise OtherPayersOrder(order.trade_no)
        if not order.channel:
            await self._engage(order, channel, payer.payer_id, merchant)
        left_s = max(1, (order.deadline_at - now_ms()) // 1000)
        result = await channel.precreate(PrecreateCommand(
            trade_no=order.trade_no, amount_fen=order.amount_fen, subject=order.subject, trade_type=TradeType.JSAPI,
            payer_id=payer.payer_id, payer_app_id=payer.app_id, expire_s=int(left_s), client_ip=client_ip,
            notify_url=notify_url, merchant=merchant, return_url=return_url))
        if not result.ok:
            log.warning("precreate %s at %s failed: %s", order.trade_no, channel.name, result.message)
            return result
        await self._storage.add_event(order.id, now_ms(), "precreate:ok", channel.name, dict(result.raw) or None)
        return result

    async def _engage(self, order: Order, channel: Channel, payer_id: str, merchant: SubMerchant | None) -> None:
        limit = self._settings.device_api.static_code_max_fen if order.static_code else None
        if not await self._storage.engage_c2b_order(order.id, channel.name, payer_id, static_max_fen=limit,
                                                    channel_account=merchant.account_id if merchant else None):
            fresh = await self._storage.get_order_by_id(order.id)
            if fresh is not None and fresh.status == PAYING and not fresh.channel and order.static_code:
                log.info("static code %s: payer %s over the %s limit", order.trade_no, mask(payer_id), channel.name)
                # Nobody will pay this amount: close it now, giving the merchant's daily allowance back.
                device = await self._storage.get_device(order.device_id)
                if device is not None:
                    await self.close(device, CloseRequest(order_no=order.order_no))
                raise StaticLimitReached(order.trade_no)
            raise EngagedElsewhere(fresh)
        await self._storage.add_event(order.id, now_ms(), "c2b:opened", f"{channel.name} payer {mask(payer_id)}")
        # From now on the resolver asks the channel on its schedule (the payer may never come back to us).
        next_check = now_ms() + ms(channel.schedule.query_interval_s)
        await self._storage.reschedule_order(order.id, next_check, count_attempt=False)
        self.on_due(next_check)

    async def ask_now(self, order: Order) -> Order:
        """The payer is back from the app's payment sheet: ask the channel now rather than wait for the
        resolver (the device's long poll wakes at once)."""
        channel = self._channels.get(order.channel)
        if order.status != PAYING or channel is None:
            return order
        return await self.apply(order, await self.query_channel(channel, order), source="query")

    async def take_notice(self, channel: Channel, body: bytes, content_type: str) -> NoticeAnswer:
        """A channel's payment notification: checked (signature, our merchant, our order, its amount), kept as
        an order event, answered as the channel expects; the order itself changes only on the query that
        follows, as it would from the resolver."""
        name = channel.name
        try:
            notice = channel.parse_notice(body, content_type)
        except NoticeRefused as e:
            log.warning("%s notify refused: %s", name, e)
            return channel.notice_answer(False)
        order = await self._storage.get_order_by_trade_no(notice.trade_no)
        if order is None or order.channel != name:
            log.warning("%s notification for an order not paid there: %s", name, notice.trade_no)
            return channel.notice_answer(False)
        if notice.amount_fen is not None and notice.amount_fen != order.amount_fen:
            log.warning("%s notification of %s says %s fen, the order is %d", name, order.trade_no,
                        notice.amount_fen, order.amount_fen)
            await self._storage.add_event(order.id, now_ms(), f"notify:{name}:refused",
                                          f"amount {notice.amount_fen} fen")
            return channel.notice_answer(False)
        kind = f"notify:{name}"
        if any(e.kind == kind and (e.raw or {}).get("notice_id") == notice.notice_id
               for e in await self._storage.list_events(order.id)):
            # The same notification again (the channel repeats until answered, or someone replays it): taken
            # already, so nothing more happens; answered as taken, which is what stops the channel repeating it.
            log.info("%s notification for %s repeated: ignored", name, order.trade_no)
            return channel.notice_answer(True)
        await self._storage.add_event(order.id, now_ms(), kind, "paid" if notice.paid else "not paid",
                                      {"notice_id": notice.notice_id, "channel_trade_no": notice.channel_trade_no})
        if order.status == PAYING:
            await self.apply(order, await self.query_channel(channel, order), source="query")
        return channel.notice_answer(True)

    # query

    async def get(self, device: Device, order_no: str, scope: OrderScope | None = None) -> Order:
        """The device's order `order_no` within `scope` (by default the device's own: since its assignment)."""
        order = await self._storage.get_order(device.id, order_no)
        if order is None or not (scope or device.order_scope).covers(order):
            raise OrderNotFound(order_no)
        return order

    async def wait_for_change(self, device: Device, order_no: str, wait_s: float) -> Order:
        """The order, once it is final or after `wait_s` seconds, whichever comes first."""
        order = await self.get(device, order_no)
        if order.status != PAYING or wait_s <= 0:
            return order
        loop = asyncio.get_running_loop()
        until = loop.time() + wait_s
        recheck = self._settings.device_api.poll_recheck_s
        self._metrics.long_polls.inc()
        try:
            with self._wakeups.watch(order.id) as watch:
                order = await self.get(device, order_no)   # it may have changed before we subscribed
                while order.status == PAYING:
                    left = until - loop.time()
                    if left <= 0:
                        break
                    # Re-read now and then even without a wake-up: a lost notification costs a few seconds.
                    await watch.wait(min(left, recheck))
                    order = await self.get(device, order_no)
        finally:
            self._metrics.long_polls.dec()
        return order

    # close

    async def check_close(self, device: Device, order_no: str) -> Order:
        order = await self.get(device, order_no)
        if order.status in (SUCCESS, REFUNDED):
            raise OrderPaid(f"order {order_no} is paid: refund it instead")
        return order

    async def close(self, device: Device, request: CloseRequest) -> Order:
        order = await self.check_close(device, request.order_no)
        if order.status != PAYING:
            return order   # FAILED or CLOSED already: closing again changes nothing
        if await self._storage.request_close(order.id, now_ms()):
            await self._storage.add_event(order.id, now_ms(), "close:requested", "by the device")
            log.info("close %s/%s requested", device.id, order.order_no)
        # Cancel it here, once nobody else is working on it; a resolver in the middle of a step sees the
        # deadline moved and expires it as soon as its step ends.
        lease = ms(self._settings.resolver.lease_s)
        loop = asyncio.get_running_loop()
        until = loop.time() + _CLOSE_CLAIM_WAIT_S
        while not await self._storage.claim_order(order.id, now_ms(), lease, self.claim_owner):
            if loop.time() >= until:
                return await self._reload(order)
            await asyncio.sleep(_CLOSE_CLAIM_POLL_S)
        return await self.expire(await self._reload(order), claim=self.claim_owner)

    # what the resolver and close do with an order

    async def apply(self, order: Order, result: ChannelResult, *, source: str, claim: str | None = None) -> Order:
        """Record a channel answer; finish the order when it is final, else schedule the next query.
        `claim`: the owner whose claim on the order this step ends (server/resolver.py)."""
        finished = await self._settle(order, result, source=source)
        if finished is not None:
            return finished
        answered = now_ms()
        delay, faults = self._channels[order.channel].schedule.query_delay_s(order.attempts), 0
        next_check = answered + ms(delay)
        if result.fault in _BACKING_OFF:
            faults = order.faults + 1
            next_check = answered + ms(max(delay, self._backoff_s(faults)))
            if answered < order.deadline_at:   # backing off, yet the deadline's query and cancel on time
                next_check = min(next_check, order.deadline_at)
        rescheduled = await self._storage.reschedule_order_returning(
            order.id, next_check, count_attempt=True, event=self._event(result, source), event_at=answered,
            claim=claim, faults=faults, deadline_seen=order.deadline_at)
        self.on_due(next_check)
        return await self._reload(order, rescheduled)

    def _backoff_s(self, faults: int) -> float:
        resolver = self._settings.resolver
        return backoff_s(resolver.backoff_first_s, resolver.backoff_max_s, faults)

    async def step(self, order: Order, *, claim: str | None = None, channel: Channel | None = None) -> Order:
        """One resolver step for a PAYING order `claim` holds; `channel`: the order's channel as the resolver
        paces it (by default the plain one)."""
        if order.channel == "":
            # A one-time code nobody has opened at a channel: nothing to ask anybody.
            if now_ms() >= order.deadline_at:
                return await self._finish(order, CLOSED, reason=self._close_reason(order), message=None,
                                          channel_trade_no=None, unengaged=True)
            return await self._reload(order, await self._storage.reschedule_order_returning(
                order.id, order.deadline_at, count_attempt=False, claim=claim, deadline_seen=order.deadline_at))
        channel = channel or self._channels[order.channel]
        if now_ms() >= order.deadline_at:
            return await self.expire(order, claim=claim, channel=channel)
        return await self.apply(order, await self.query_channel(channel, order), source="query", claim=claim)

    async def expire(self, order: Order, *, claim: str | None = None, channel: Channel | None = None) -> Order:
        """The deadline passed (or the device closed it): a last query, then cancel until confirmed."""
        if order.channel == "":
            return await self.step(order, claim=claim)
        channel = channel or self._channels.get(order.channel)
        if channel is None:
            if claim is not None:
                await self._storage.reschedule_order(order.id, now_ms() + ms(_REFUND_RETRY_MAX_S),
                                                     count_attempt=False, claim=claim)
            return order
        last = await self.query_channel(channel, order)
        finished = await self._settle(order, last, source="query")
        if finished is not None:
            return finished
        await self._storage.add_event(order.id, now_ms(), *self._event(last, "query"))
        # A C2B order is closed at the channel (nobody can pay it any more); a B2C one is reversed.
        use_close = order.kind == C2B
        cancel: CancelResult | None = None
        for _ in range(channel.schedule.cancel_attempts):
            merchant = self.sub_merchant(order)
            cancel = await (channel.close(order.trade_no, merchant) if use_close
                            else channel.cancel(order.trade_no, merchant))
            self._metrics.channel_calls.labels(channel.name, "close" if use_close else "cancel",
                                               "done" if cancel.cancelled else "retry").inc()
            await self._record_cancel(order, cancel)
            if cancel.cancelled:
                return await self._finish(order, CLOSED, reason=self._close_reason(order), message=cancel.message,
                                          channel_trade_no=None)
            if not cancel.retry:
                break
            if claim is not None:   # the pause and the next call must not outlast the claim
                await self._storage.renew_claims(claim, now_ms() + ms(self._settings.resolver.lease_s),
                                                 order_ids=[order.id])
            await asyncio.sleep(channel.schedule.cancel_retry_s)
        # Not confirmed: never close an order locally that the channel may still take money for. An answer
        # that cannot be trusted is asked again later and later (a wrong key stays wrong for a while).
        delay, faults = channel.schedule.cancel_retry_s, 0
        if cancel is not None and cancel.fault in _BACKING_OFF:
            faults = order.faults + 1
            delay = max(delay, self._backoff_s(faults))
        return await self._reload(order, await self._storage.reschedule_order_returning(
            order.id, now_ms() + ms(delay), count_attempt=True, claim=claim, faults=faults))

    @staticmethod
    def _close_reason(order: Order) -> str:
        return REASON_CLOSED if order.close_requested_at is not None else Reason.TIMEOUT

    async def query_channel(self, channel: Channel, order: Order) -> ChannelResult:
        """Ask the channel about the order, as the merchant it was created under."""
        result = await channel.query(order.trade_no, self.sub_merchant(order))
        self._metrics.channel_calls.labels(channel.name, "query", result.outcome.value).inc()
        return result

    @staticmethod
    def _event(result: ChannelResult, source: str) -> tuple[str, str | None, dict | None]:
        return f"{source}:{result.outcome.value}", result.reason or result.message, dict(result.raw) or None

    async def _settle(self, order: Order, result: ChannelResult, *, source: str) -> Order | None:
        """Finish the order (journalling the answer) if the answer is final: the order as it is then.
        None for a non-final answer, which is left for the caller to journal, with what it does next."""
        status = status_for(result)
        if status is None:
            return None
        reason = result.reason
        if status == CLOSED and order.close_requested_at is not None:
            reason = REASON_CLOSED
        return await self._finish(order, status, reason=reason, message=result.message,
                                  channel_trade_no=result.channel_trade_no, event=self._event(result, source))

    async def _finish(self, order: Order, status: str, *, reason: str | None, message: str | None,
                      channel_trade_no: str | None, unengaged: bool = False,
                      event: tuple[str, str | None, dict | None] | None = None) -> Order:
        """PAYING -> `status` unless someone else finished it first: the order as it is now, either way."""
        won, fresh = await self._storage.finish_order_returning(
            order.id, status, reason=reason, message=message, channel_trade_no=channel_trade_no,
            finished_at=now_ms(), unengaged=unengaged, event=event)
        if won:
            log.info("order %s/%s %s %s", order.device_id, order.order_no, status, reason or "")
            self._metrics.payments.labels(order.channel or "none", status).inc()
            self._wakeups.notify(order.id)
            if status == SUCCESS and fresh.kind == C2B and self._announcer is not None:
                try:
                    await self._announcer.paid(fresh)
                except Exception:   # the payment stands; catch_up numbers it within 30 s
                    log.exception("announcing %s/%s failed", order.device_id, order.order_no)
        return fresh

    async def _record_cancel(self, order: Order, cancel: CancelResult) -> None:
        kind = "cancel:done" if cancel.cancelled else ("cancel:retry" if cancel.retry else "cancel:failed")
        await self._storage.add_event(order.id, now_ms(), kind, cancel.message, dict(cancel.raw) or None)

    async def _reload(self, order: Order, moved: Order | None = None) -> Order:
        """The order as it is now: `moved`, what a conditional update returned, or else read again (the
        update changed nothing: another process holds it, or it is final)."""
        if moved is not None:
            return moved
        fresh = await self._storage.get_order_by_id(order.id)
        assert fresh is not None, "orders are never deleted"
        return fresh

    def channel_of(self, order: Order) -> Channel | None:
        return self._channels.get(order.channel)

    def channel_names(self) -> list[str]:
        """The channels configured in this process."""
        return sorted(self._channels)

    # refunds

    async def check_refund(self, device: Device, request: RefundRequest,
                           scope: OrderScope | None = None) -> tuple[Order, Refund | None]:
        """Refuse a refund that cannot go ahead, changing nothing; the existing refund on a retry.
        `scope`: which orders may be refunded (by default the device's own since its assignment; the
        console refunds any order its user may see, through the device that took it)."""
        scope = scope or device.order_scope
        # The refund first: one read final already is shown with its order's refunded amount (the same
        # transaction changed both), whereas the other way round a refund finishing between the two
        # reads would show as SUCCESS beside an order still without it.
        existing = await self._storage.get_refund(device.id, request.refund_no)
        order = await self.get(device, request.order_no, scope)
        if existing is not None:
            self._same_refund(scope, existing, order, request)
            return order, existing
        if order.status != SUCCESS:
            raise RefundImpossible("order_not_paid", f"order {order.order_no} is {order.status}, not paid")
        if request.amount_fen > order.amount_fen - order.refund_reserved_fen:
            raise RefundImpossible("refund_exceeds_amount",
                                   f"{order.amount_fen - order.refund_reserved_fen} fen are left to refund")
        channel = self._channels.get(order.channel)
        if channel is None:
            raise RefundImpossible("channel_unavailable", f"channel {order.channel} is not configured")
        return order, None

    @staticmethod
    def _same_refund(scope: OrderScope, refund: Refund, order: Order, request: RefundRequest) -> None:
        if not scope.covers_refund(refund):
            raise RefundConflict(f"refund_no {request.refund_no} was used before this device came to this store")
        if (refund.order_id, refund.amount_fen, refund.reason) != (order.id, request.amount_fen, request.reason):
            raise RefundConflict(f"refund_no {request.refund_no} was used with a different order, amount or reason")

    async def refund(self, device: Device, request: RefundRequest,
                     scope: OrderScope | None = None) -> tuple[Refund, Order]:
        scope = scope or device.order_scope
        order, existing = await self.check_refund(device, request, scope)
        if existing is not None:
            return existing, order
        now = now_ms()
        refund = Refund(id=new_id(), order_id=order.id, device_id=device.id, refund_no=request.refund_no,
                        refund_trade_no="RF" + new_trade_no()[2:], amount_fen=request.amount_fen,
                        status=REFUND_PENDING, created_at=now, reason=request.reason,
                        # Should this process die during the call, the resolver asks again after this.
                        next_check_at=now + ms(self._channels[order.channel].schedule.pay_timeout_s + 1))
        try:
            refund, created = await self._storage.create_refund(refund)
        except RefundRefused as e:  # lost a race with another refund of the same order
            raise RefundImpossible(e.code, "the order cannot give this much back any more") from None
        if not created:
            self._same_refund(scope, refund, order, request)
            return refund, order
        await self._storage.add_event(order.id, now, "refund:created", f"{refund.refund_no} {refund.amount_fen} fen")
        log.info("refund %s/%s %s %d fen as %s", device.id, order.order_no, refund.refund_no, refund.amount_fen,
                 refund.refund_trade_no)
        refund = await self.refund_step(refund, order)
        return refund, await self._reload(order)

    async def refund_step(self, refund: Refund, order: Order | None = None, *, claim: str | None = None,
                          channel: Channel | None = None) -> Refund:
        """Ask the channel about a PENDING refund (refund again, or refund_query once it was accepted).
        `claim` and `channel` as for step()."""
        order = order or await self._storage.get_order_by_id(refund.order_id)
        if order is None:
            raise LookupError(f"refund {refund.id}: its order {refund.order_id} is gone")
        channel = channel or self._channels.get(order.channel)
        if channel is None:
            await self._storage.reschedule_refund(refund.id, now_ms() + ms(_REFUND_RETRY_MAX_S), claim=claim)
            return refund
        if refund.waiting:
            result = await channel.refund_query(order.trade_no, refund.refund_trade_no, self.sub_merchant(order))
            call = "refund_query"
        else:
            result = await channel.refund(RefundCommand(
                trade_no=order.trade_no, refund_no=refund.refund_trade_no, amount_fen=refund.amount_fen,
                total_fen=order.amount_fen, reason=refund.reason, merchant=self.sub_merchant(order)))
            call = "refund"
        self._metrics.channel_calls.labels(channel.name, call, result.outcome.value).inc()
        return await self._apply_refund(refund, order, result, channel, source=call, claim=claim)

    async def _apply_refund(self, refund: Refund, order: Order, result: RefundResult, channel: Channel, *,
                            source: str, claim: str | None = None) -> Refund:
        await self._storage.add_event(order.id, now_ms(), f"{source}:{result.outcome.value}",
                                      f"{refund.refund_no} {result.reason or result.message or ''}".strip(),
                                      dict(result.raw) or None)
        if result.outcome in (Outcome.SUCCESS, Outcome.FAILED):
            status = REFUND_SUCCESS if result.outcome is Outcome.SUCCESS else REFUND_FAILED
            won = await self._storage.finish_refund(
                refund.id, status, fail_reason=None if status == REFUND_SUCCESS else (result.reason or "channel_declined"),
                message=result.message, channel_refund_no=result.channel_refund_no, finished_at=now_ms())
            if won:
                log.info("refund %s/%s %s", refund.device_id, refund.refund_no, status)
                self._metrics.refunds.labels(channel.name, status).inc()
                self._wakeups.notify(order.id)
        else:
            # Back off: interval, doubled per attempt, at most _REFUND_RETRY_MAX_S; an untrustworthy or
            # refused answer also backs off by the faults in a row (a refusal raises the refund_refused alert).
            delay = min(channel.schedule.query_interval_s * (2 ** min(refund.attempts, 6)), _REFUND_RETRY_MAX_S)
            faults = 0
            if result.fault in _BACKING_OFF:
                faults = refund.faults + 1
                delay = max(delay, self._backoff_s(faults))
            if result.fault is Fault.REFUSED:
                log.warning("refund %s/%s refused by %s: %s", refund.device_id, refund.refund_no, channel.name,
                            result.message)
            await self._storage.reschedule_refund(refund.id, now_ms() + ms(delay),
                                                  waiting=result.outcome is Outcome.WAITING or bool(refund.waiting),
                                                  claim=claim, faults=faults,
                                                  fault=result.fault.value if result.fault else None,
                                                  message=result.message)
        fresh = await self._storage.get_refund_by_id(refund.id)
        assert fresh is not None
        return fresh
