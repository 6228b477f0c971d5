"""Payment channels behind one small interface, and the registry built from config.

Every adapter answers with the same normalised results, whatever the provider said; provider errors
(network, bad XML, bad signatures) never escape an adapter, they become UNKNOWN.
"""
from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..settings import Settings


class Outcome(enum.Enum):
    SUCCESS = "SUCCESS"   # paid
    WAITING = "WAITING"   # the payer is confirming (password): query again later
    FAILED = "FAILED"     # definitely not paid; `reason` says why
    UNKNOWN = "UNKNOWN"   # no trustworthy answer (timeout, system error): query to find out


class Reason:
    """Stable failure reasons shown to devices (docs/device-api.md section 4)."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    CODE_EXPIRED = "code_expired"
    CODE_USED = "code_used"
    CODE_INVALID = "code_invalid"
    PAYER_CANCELLED = "payer_cancelled"
    TIMEOUT = "timeout"              # the payer never finished; the payment was reversed or revoked
    CHANNEL_DECLINED = "channel_declined"


@dataclass(frozen=True)
class ChannelResult:
    outcome: Outcome
    reason: str | None = None             # for FAILED
    message: str | None = None            # the channel's words, for people
    channel_trade_no: str | None = None   # the channel's own transaction id, once known
    raw: Mapping[str, Any] = field(default_factory=dict)   # the channel's answer, secrets stripped

    @property
    def final(self) -> bool:
        return self.outcome in (Outcome.SUCCESS, Outcome.FAILED)


@dataclass(frozen=True)
class CancelResult:
    """The answer to reverse / cancel of an unfinished payment."""

    cancelled: bool              # the payment is off: nothing charged, or the charge given back
    retry: bool = False          # the channel asks to call again now (WeChat recall=Y)
    message: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PayCommand:
    trade_no: str
    amount_fen: int
    auth_code: str
    subject: str | None
    device_id: str


@dataclass(frozen=True)
class Schedule:
    """How the resolver drives a PAYING order of this channel."""

    pay_timeout_s: float     # a pay call can take this long; the resolver waits it out first
    query_interval_s: float
    deadline_s: float        # after creation; then cancel
    cancel_retry_s: float
    cancel_attempts: int


class Channel(Protocol):
    name: str
    schedule: Schedule

    async def pay(self, command: PayCommand) -> ChannelResult: ...
    async def query(self, trade_no: str) -> ChannelResult: ...
    async def cancel(self, trade_no: str) -> CancelResult: ...


Channels = Mapping[str, Channel]


@contextlib.asynccontextmanager
async def open_channels(settings: Settings) -> AsyncIterator[Channels]:
    """The active channel adapters by name, each with its HTTP session; closed on exit."""
    from . import wechat

    async with contextlib.AsyncExitStack() as stack:
        channels: dict[str, Channel] = {}
        if settings.channels.wechat.enabled:
            channels["wechat"] = await stack.enter_async_context(wechat.open_channel(settings.channels.wechat))
        yield channels
