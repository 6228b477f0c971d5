"""What the monitoring page shows and the alert rules judge: figures read from the database.

Every figure can be narrowed to one merchant (`merchant_id`; None: every merchant), in SQL. Payments
are orders that reached a channel (a C2B code nobody opened is not a payment); one succeeded when it is
SUCCESS or REFUNDED (paid, given back later). One that did not is either refused by its payer — not
enough money, an expired or used code, the payer cancelled, or was asked for the password (the channel
answered "waiting") and never gave it, the cashier closed it — which says nothing about the channel, or
failed: the channel declined it (an account it does not accept, a payment it refused for its own
reasons), or never answered about it until it was reversed at its deadline. A channel's success rate, and its alert,
count only what the channel decided: 22 empty wallets at one shop are not an outage. PAYING orders are
neither yet.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import days
from .storage import CLOSED, FAILED, PAYING, REFUNDED, SUCCESS

_MINUTE_MS = 60_000
_SUCCEEDED = (SUCCESS, REFUNDED)
_FAILED = (FAILED, CLOSED)
# Final reasons that are the payer's (or the cashier's) doing, not the channel's (server/channels Reason).
PAYER_REASONS = frozenset({"insufficient_funds", "code_expired", "code_used", "code_invalid", "payer_cancelled",
                           "closed"})


@dataclass(frozen=True)
class ChannelRate:
    channel: str
    succeeded: int
    failed: int              # declined by the channel
    paying: int
    refused: int = 0         # refused by the payer (PAYER_REASONS)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.refused

    @property
    def decided(self) -> int:
        """Payments the channel itself decided: succeeded or declined."""
        return self.succeeded + self.failed

    @property
    def rate_pct(self) -> float | None:
        """The channel's success rate in percent: succeeded of succeeded and declined (payer refusals left
        out); None before the channel decided any."""
        return 100.0 * self.succeeded / self.decided if self.decided else None


@dataclass(frozen=True)
class MinuteBar:
    start_ms: int            # the minute's first millisecond
    succeeded: int
    failed: int
    paying: int

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.paying


@dataclass(frozen=True)
class OfflineDevice:
    id: str
    merchant_id: str
    store_name: str
    last_seen_at: int | None     # None: never sent a heartbeat since it was activated
    firmware: str | None


@dataclass(frozen=True)
class Backlog:
    paying: int                  # orders PAYING
    refunds_pending: int         # refunds PENDING
    oldest_at: int | None        # creation time of the oldest of them

    @property
    def total(self) -> int:
        return self.paying + self.refunds_pending

    def oldest_age_s(self, now: int) -> int:
        return max(0, (now - self.oldest_at) // 1000) if self.oldest_at is not None else 0


@dataclass
class Figures:
    now: int
    per_minute: list[MinuteBar] = field(default_factory=list)     # the last hour, oldest first
    last_hour: list[ChannelRate] = field(default_factory=list)
    today: list[ChannelRate] = field(default_factory=list)
    offline: list[OfflineDevice] = field(default_factory=list)
    active_devices: int = 0
    backlog: Backlog = Backlog(0, 0, None)


async def channel_rates(storage, since: int, until: int, merchant_id: str | None = None) -> list[ChannelRate]:
    """Payments per channel created in [since, until): succeeded, failed, still paying."""
    counts: dict[str, dict[str, int]] = {}
    for row in await storage.payment_outcomes(since, until, merchant_id):
        bucket = counts.setdefault(row["channel"], {"succeeded": 0, "failed": 0, "paying": 0, "refused": 0})
        if row["status"] in _SUCCEEDED:
            bucket["succeeded"] += row["n"]
        elif row["status"] in _FAILED:
            # A payment closed at its deadline ("timeout") is its payer's doing only when the channel said the
            # payer was confirming it (an answer WAITING): one the channel never answered about is the channel's.
            payers = row["reason"] in PAYER_REASONS or (row["reason"] == "timeout" and row["payer_waited"])
            bucket["refused" if payers else "failed"] += row["n"]
        elif row["status"] == PAYING:
            bucket["paying"] += row["n"]
    return [ChannelRate(channel, **bucket) for channel, bucket in sorted(counts.items())]


async def payments_per_minute(storage, now: int, minutes: int = 60,
                              merchant_id: str | None = None) -> list[MinuteBar]:
    """One bar per minute of the last `minutes` (the current, unfinished minute last)."""
    first = (now // _MINUTE_MS - minutes + 1) * _MINUTE_MS
    bars = [{"succeeded": 0, "failed": 0, "paying": 0} for _ in range(minutes)]
    for row in await storage.payments_by_slot(first, _MINUTE_MS, now, merchant_id):
        minute = int(row["slot"])
        if not 0 <= minute < minutes:
            continue
        if row["status"] in _SUCCEEDED:
            bars[minute]["succeeded"] += row["n"]
        elif row["status"] in _FAILED:
            bars[minute]["failed"] += row["n"]
        elif row["status"] == PAYING:
            bars[minute]["paying"] += row["n"]
    return [MinuteBar(first + i * _MINUTE_MS, **bar) for i, bar in enumerate(bars)]


async def offline_devices(storage, now: int, offline_after_s: int,
                          merchant_id: str | None = None) -> tuple[list[OfflineDevice], int]:
    """Active devices not seen (no signed request, heartbeat or other) for `offline_after_s` (or none ever), and how many are active."""
    since = now - offline_after_s * 1000
    rows = await storage.active_devices_seen(merchant_id)
    offline = [OfflineDevice(r["id"], r["merchant_id"], r["store_name"], r["last_seen_at"], r["firmware"])
               for r in rows
               # A device activated a moment ago has had no time to send its first heartbeat yet.
               if (r["last_seen_at"] if r["last_seen_at"] is not None else (r["activated_at"] or 0)) < since]
    offline.sort(key=lambda d: (d.last_seen_at or 0, d.id))
    return offline, len(rows)


async def backlog(storage, merchant_id: str | None = None) -> Backlog:
    """The resolver's unfinished work: orders PAYING and refunds PENDING, and the oldest one's creation."""
    orders, refunds = await storage.unfinished_work(merchant_id)
    oldest = [t for t in (orders["oldest"], refunds["oldest"]) if t is not None]
    return Backlog(paying=orders["n"], refunds_pending=refunds["n"], oldest_at=min(oldest) if oldest else None)


async def figures(storage, now: int, *, offline_after_s: int, utc_offset_h: int,
                  merchant_id: str | None = None) -> Figures:
    """Everything the monitoring page shows, for one merchant or (None) every merchant."""
    zone = days.utc_offset(utc_offset_h)
    offline, active = await offline_devices(storage, now, offline_after_s, merchant_id)
    return Figures(
        now=now,
        per_minute=await payments_per_minute(storage, now, 60, merchant_id),
        last_hour=await channel_rates(storage, now - 3_600_000, now + 1, merchant_id),
        today=await channel_rates(storage, days.day_start_ms(days.day_of(now, zone), zone), now + 1, merchant_id),
        offline=offline, active_devices=active,
        backlog=await backlog(storage, merchant_id))
