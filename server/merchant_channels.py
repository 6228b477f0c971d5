"""Which payment channels a merchant is open at, and under which identity there.

A bank acquiring small shops is each channel's service provider (`[channels.<name>] service_provider =
true`): every shop has its own account under the bank's, and each call for the shop's order names it, so
its money settles to it alone.

    WeChat Pay   服务商 mode: `sub_mch_id` (特约商户号) under the bank's `mch_id`, and `sub_appid` when the
                 shop has its own official account (WeChat Pay service-provider API pages, micropay and
                 unifiedorder: "sub_mch_id 微信支付分配的子商户号").
    Alipay       indirect acquiring (间连): `sub_merchant.merchant_id`, the smid (2088 and 12 digits) Alipay
                 gives a merchant the bank registered, with `merchant_type` "alipay" (alipay.trade.pay
                 biz_content; Alipay answers ACQ.SECONDARY_MERCHANT_ID_BLANK without it). The other model,
                 ISV authorisation (`app_auth_token` per merchant), is not used.
    UnionPay     the merchant's own `merId` (15 characters) in every message, under the bank's acqInsCode.

A merchant is open at a channel in service-provider mode only with an open record carrying its account
id; in direct mode (the account in the config takes every shop's money, as for a single business) every
merchant is open unless its record says closed. A merchant that is not open cannot be routed there: `pay`
answers `channel_not_open` and `info` leaves the wallet out.

The pay path reads a merchant's records at most every few seconds (`_CACHE_S`): closing a channel takes
effect in every server process within that time.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterable

from .channels import SubMerchant
from .channels.registry import ADAPTERS
from .clock import now_ms
from .settings import Settings
from .storage import Storage
from .storage.records import MERCHANT_CHANNEL_CLOSED, MERCHANT_CHANNEL_OPEN, MERCHANT_CLOSED, MerchantChannel

CHANNELS = tuple(ADAPTERS)
STATUSES = (MERCHANT_CHANNEL_OPEN, MERCHANT_CHANNEL_CLOSED)
# What each channel's sub-merchant ids look like: a typo is refused before it reaches the channel.
# WeChat merchant numbers are 8-10 digits today (inferred from published examples: "1900000109");
# Alipay user ids (the smid) are 16 digits starting 2088; UnionPay merIds are 15 characters.
ACCOUNT_ID = {
    "wechat": re.compile(r"[0-9]{8,12}"),
    "alipay": re.compile(r"2088[0-9]{12}"),
    "unionpay": re.compile(r"[0-9A-Z]{15}"),
}
SUB_APPID = re.compile(r"wx[0-9a-f]{16}")          # WeChat appids: "wx" and 16 hex digits
_CACHE_S = 5.0


class ChannelNotOpen(Exception):
    """The merchant may not take payments through this channel."""

    def __init__(self, merchant_id: str, channel: str):
        super().__init__(f"merchant {merchant_id} is not open at {channel}")
        self.merchant_id = merchant_id
        self.channel = channel


def is_service_provider(settings: Settings, channel: str) -> bool:
    return bool(getattr(getattr(settings.channels, channel, None), "service_provider", False))


def identity(settings: Settings, channel: str, record: MerchantChannel | None) -> SubMerchant | None:
    """The merchant's identity for calls to `channel` (None: the acquirer's own account, direct mode);
    ChannelNotOpen when it may not use the channel."""
    if is_service_provider(settings, channel):
        if record is None or record.status != MERCHANT_CHANNEL_OPEN or not record.account_id:
            raise ChannelNotOpen(record.merchant_id if record else "?", channel)
        return SubMerchant(account_id=record.account_id, app_id=record.app_id or None)
    if record is not None and record.status == MERCHANT_CHANNEL_CLOSED:
        raise ChannelNotOpen(record.merchant_id, channel)
    return None


class MerchantChannels:
    """Merchants' channel records for the pay path, read at most every _CACHE_S per merchant."""

    def __init__(self, storage: Storage, settings: Settings):
        self._storage = storage
        self._settings = settings
        self._cache: dict[str, tuple[dict[str, MerchantChannel], float]] = {}

    async def _records(self, merchant_id: str) -> dict[str, MerchantChannel]:
        cached = self._cache.get(merchant_id)
        if cached is None or cached[1] < time.monotonic():
            records = {r.channel: r for r in await self._storage.merchant_channels(merchant_id)}
            cached = (records, time.monotonic() + _CACHE_S)
            self._cache[merchant_id] = cached
        return cached[0]

    async def identity(self, merchant_id: str, channel: str) -> SubMerchant | None:
        """The identity to call `channel` with for this merchant; ChannelNotOpen when it may not."""
        try:
            return identity(self._settings, channel, (await self._records(merchant_id)).get(channel))
        except ChannelNotOpen:
            raise ChannelNotOpen(merchant_id, channel) from None

    async def open_at(self, merchant_id: str, channels: Iterable[str]) -> list[str]:
        """Those of `channels` the merchant may take payments through."""
        records = await self._records(merchant_id)
        open_ = []
        for channel in channels:
            try:
                identity(self._settings, channel, records.get(channel))
            except ChannelNotOpen:
                continue
            open_.append(channel)
        return open_

    def forget(self, merchant_id: str) -> None:
        self._cache.pop(merchant_id, None)


def check_account(channel: str, account_id: str, app_id: str | None) -> None:
    """ValueError, in words for an operator, when the ids cannot be that channel's."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    if not ACCOUNT_ID[channel].fullmatch(account_id):
        raise ValueError(f"{account_id!r} is not a {channel} sub-merchant id ({ACCOUNT_ID[channel].pattern})")
    if app_id is not None and (channel != "wechat" or not SUB_APPID.fullmatch(app_id)):
        raise ValueError("an app id (sub_appid) is WeChat's only: wx and 16 hex digits")


MAX_FEE_RATE_PPM = 100_000            # 10%: no acquiring fee comes near it; a bigger number is a typo


async def _current(storage: Storage, merchant_id: str, channel: str) -> MerchantChannel | None:
    return {r.channel: r for r in await storage.merchant_channels(merchant_id)}.get(channel)


async def open_merchant(storage: Storage, settings: Settings, merchant_id: str, channel: str, *,
                        account_id: str = "", app_id: str | None = None, fee_rate_ppm: int | None = None,
                        actor: str) -> MerchantChannel:
    """Open the merchant at `channel` with its sub-merchant id there (required in service-provider mode)
    and, when given, its contracted fee (else the one agreed before). ValueError for ids or a fee that
    cannot be right; storage's NotFound / AlreadyExists as they come."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    if account_id or is_service_provider(settings, channel):
        check_account(channel, account_id, app_id)
    elif app_id is not None:
        raise ValueError("an app id needs the sub-merchant id it belongs to")
    if fee_rate_ppm is not None and not 0 <= fee_rate_ppm <= MAX_FEE_RATE_PPM:
        raise ValueError(f"a fee rate is 0..{MAX_FEE_RATE_PPM} parts per million (0.38% is 3800)")
    merchant = await storage.get_merchant(merchant_id)
    if merchant is not None and merchant.status == MERCHANT_CLOSED:
        raise ValueError(f"merchant {merchant_id} is closed: it opens at no channel again")
    current = await _current(storage, merchant_id, channel)
    record = MerchantChannel(merchant_id=merchant_id, channel=channel, account_id=account_id, app_id=app_id,
                             status=MERCHANT_CHANNEL_OPEN, updated_at=now_ms(), updated_by=actor,
                             fee_rate_ppm=fee_rate_ppm if fee_rate_ppm is not None else
                             (current.fee_rate_ppm if current else None))
    await storage.set_merchant_channel(record)
    return record


async def close_merchant(storage: Storage, merchant_id: str, channel: str, *, actor: str) -> MerchantChannel:
    """The merchant takes no more payments through `channel` (its orders there are still followed and
    refundable); its account id is kept for those orders and for re-opening."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    current = await _current(storage, merchant_id, channel)
    record = MerchantChannel(merchant_id=merchant_id, channel=channel,
                             account_id=current.account_id if current else "",
                             app_id=current.app_id if current else None, status=MERCHANT_CHANNEL_CLOSED,
                             updated_at=now_ms(), updated_by=actor,
                             fee_rate_ppm=current.fee_rate_ppm if current else None)
    await storage.set_merchant_channel(record)
    return record
