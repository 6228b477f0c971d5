"""Payment channels behind one small interface (the adapters by name: registry.py).

Every adapter answers with the same normalised results, whatever the provider said; provider errors
(network, bad XML, bad signatures) never escape an adapter, they become UNKNOWN.
"""
from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class Outcome(enum.Enum):
    SUCCESS = "SUCCESS"   # paid
    WAITING = "WAITING"   # the payer is confirming (password): query again later
    FAILED = "FAILED"     # definitely not paid; `reason` says why
    UNKNOWN = "UNKNOWN"   # no trustworthy answer (timeout, system error): query to find out


class Fault(enum.Enum):
    """Why an answer is UNKNOWN when the channel itself did not say so: how the resolver asks again."""

    UNREACHABLE = "unreachable"   # timeout, connection refused, HTTP 5xx: ask again on the usual schedule
    UNTRUSTED = "untrusted"       # bad or missing signature, unreadable, another merchant's: back off
    REFUSED = "refused"           # HTTP 4xx (no such endpoint, not allowed): back off, and tell an operator


def http_fault(status: int) -> Fault:
    """The fault of an HTTP answer other than 200: 4xx will not change by asking again (except 408 and 429)."""
    return Fault.REFUSED if 400 <= status < 500 and status not in (408, 429) else Fault.UNREACHABLE


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
    fault: Fault | None = None            # for UNKNOWN: why there was no trustworthy answer

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
    fault: Fault | None = None   # no trustworthy answer, and why


@dataclass(frozen=True)
class SubMerchant:
    """Whose money a call moves: the merchant's own identity at the channel, under the acquirer's
    service-provider account (`[channels.<name>] service_provider = true`). None instead of one: the
    acquirer's own account (direct mode).

    account_id  WeChat `sub_mch_id` (特约商户号); Alipay `sub_merchant.merchant_id`, the smid Alipay gives
                an indirect (间连) merchant, with `merchant_type` "alipay"; UnionPay `merId`.
    app_id      WeChat `sub_appid` (the shop's own official account or mini program), when it has one.
    """

    account_id: str
    app_id: str | None = None


@dataclass(frozen=True)
class PayCommand:
    trade_no: str
    amount_fen: int
    auth_code: str
    subject: str | None
    device_id: str
    merchant: SubMerchant | None = None


@dataclass(frozen=True)
class Schedule:
    """How the resolver drives a PAYING order of this channel."""

    pay_timeout_s: float     # a pay call can take this long; the resolver waits it out first
    query_interval_s: float
    deadline_s: float        # after creation; then cancel
    cancel_retry_s: float
    cancel_attempts: int
    query_schedule_s: tuple[float, ...] = ()   # the waits before the first queries; then query_interval_s

    def query_delay_s(self, answers: int) -> float:
        """The wait before the next query of an order the channel has answered `answers` times."""
        if answers < len(self.query_schedule_s):
            return min(self.query_schedule_s[answers], self.query_interval_s)   # sooner, never later
        return self.query_interval_s


@dataclass(frozen=True)
class RefundCommand:
    trade_no: str            # the paid order's trade_no
    refund_no: str           # ours, unique per refund: the idempotency key at the channel
    amount_fen: int          # this refund
    total_fen: int           # the order's amount (WeChat and UnionPay want it)
    reason: str | None = None
    merchant: SubMerchant | None = None


@dataclass(frozen=True)
class RefundResult:
    """SUCCESS: money on its way back; WAITING: accepted, ask refund_query; FAILED: refused; UNKNOWN: ask again."""

    outcome: Outcome
    reason: str | None = None
    message: str | None = None
    channel_refund_no: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    fault: Fault | None = None            # for UNKNOWN: why there was no trustworthy answer


class TradeType:
    """What the payer's app is given for a C2B payment."""

    NATIVE = "NATIVE"   # a QR code (URL) the payer scans: WeChat NATIVE, Alipay precreate, UnionPay C2B code
    JSAPI = "JSAPI"     # in-app payment from our landing page: WeChat JSAPI (openid), Alipay create (buyer_id)


@dataclass(frozen=True)
class PrecreateCommand:
    trade_no: str
    amount_fen: int
    subject: str | None
    trade_type: str = TradeType.NATIVE
    payer_id: str | None = None      # WeChat openid / Alipay buyer_id / UnionPay userId, for JSAPI
    payer_app_id: str | None = None  # WeChat: the appid payer_id belongs to (Payer.app_id)
    expire_s: int = 300              # the one-time code's life; the channel closes the order after it
    notify_url: str | None = None
    client_ip: str | None = None
    merchant: SubMerchant | None = None
    return_url: str | None = None    # where a channel's own cashier page sends the payer back (UnionPay)


@dataclass(frozen=True)
class PrecreateResult:
    """The C2B order exists at the channel (ok) and how the payer reaches it."""

    ok: bool
    qr_code: str | None = None       # NATIVE: the text to put in a QR code
    pay_params: Mapping[str, str] = field(default_factory=dict)   # JSAPI: what the in-app page calls
    channel_trade_no: str | None = None
    message: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


class AuthDeclined(Exception):
    """The payer said no (or backed out) when the wallet asked to tell us who they are."""


class AuthCodeInvalid(Exception):
    """The wallet's one-time code is not one it gave, or was used already: the payer scans again."""


class AuthUnavailable(Exception):
    """The wallet could not be asked who the payer is (network, bad answer): try again later."""


@dataclass(frozen=True)
class Payer:
    """Who opened a C2B code in their wallet app: the id the channel's in-app order is made for.

    payer_id  WeChat openid (or sub_openid), Alipay user_id / open_id, UnionPay userId
    app_id    WeChat: the appid payer_id belongs to (a shop's own sub_appid: the payer is its sub_openid)
    """

    payer_id: str
    app_id: str | None = None


class NoticeRefused(Exception):
    """A payment notification that is malformed, not ours, or not signed by the channel."""


@dataclass(frozen=True)
class PaymentNotice:
    """A channel's payment notification, its signature checked. Only a hint: the order changes on a query."""

    trade_no: str                  # ours (out_trade_no / orderNo)
    paid: bool                     # what the notification claims
    amount_fen: int | None
    channel_trade_no: str | None
    notice_id: str                 # the same for every repeat of one notification (replays are recognised)


@dataclass(frozen=True)
class NoticeAnswer:
    """What the channel expects back, so that it stops (ok) or notifies again later."""

    body: bytes
    content_type: str
    status: int = 200


class BillStatus:
    SUCCESS = "SUCCESS"   # a payment
    REFUND = "REFUND"     # a refund (amount_fen is the refunded amount)


@dataclass(frozen=True)
class BillRow:
    """One line of a channel's daily bill, in our units."""

    trade_no: str
    channel_trade_no: str
    amount_fen: int
    status: str            # BillStatus
    fee_fen: int           # the channel's fee, in fen (rounded by the channel)
    time: str              # "YYYY-MM-DD HH:MM:SS", China time, as the channel states it
    refund_no: str | None = None


@dataclass(frozen=True)
class BillTotals:
    """A bill's totals: as its own summary rows state them, or as its detail rows add up.

    fee_fen is the fees taken net of the fees given back on refunds; None where the bill states no such
    figure (Alipay's footer gives counts only).
    """

    transactions: int | None = None    # payments and refunds together (WeChat's 总交易单数)
    payments: int | None = None
    refunds: int | None = None
    paid_fen: int | None = None
    refunded_fen: int | None = None
    net_fen: int | None = None           # paid less refunded (Alipay's 汇总 订单金额)
    fee_fen: int | None = None


def totals_of(rows: "list[BillRow]") -> BillTotals:
    paid = [r.amount_fen for r in rows if r.status == BillStatus.SUCCESS]
    refunded = [r.amount_fen for r in rows if r.status == BillStatus.REFUND]
    return BillTotals(transactions=len(paid) + len(refunded), payments=len(paid), refunds=len(refunded),
                      paid_fen=sum(paid), refunded_fen=sum(refunded), net_fen=sum(paid) - sum(refunded),
                      fee_fen=sum(r.fee_fen for r in rows))


class Bill(list):
    """A day's bill: its rows (a list of BillRow, the merchant's alone when asked for one) and, when the bill
    has summary rows, `stated` (their totals) beside `counted` (the whole file's detail rows added up, every
    merchant's: the summary is the file's). Reconciliation reports where the two disagree."""

    def __init__(self, rows=(), *, stated: BillTotals | None = None, counted: BillTotals | None = None):
        super().__init__(rows)
        self.stated = stated
        self.counted = counted


class BillUnavailable(Exception):
    """The channel's bill for that day could not be fetched or read (not ready, refused, malformed)."""


class Channel(Protocol):
    """Every call that touches an order carries the merchant it belongs to (`merchant`, None in direct
    mode): the same sub-merchant for every call on one order, the one it was created under."""

    name: str
    schedule: Schedule

    # B2C (the merchant scans the payer's code); the server drives these.
    async def pay(self, command: PayCommand) -> ChannelResult: ...
    async def query(self, trade_no: str, merchant: SubMerchant | None = None) -> ChannelResult: ...
    async def cancel(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult: ...

    # C2B, refunds, bills.
    async def close(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult:
        """Close an unpaid order (an expired one-time code); cancelled=True once nobody can pay it."""
        ...

    async def precreate(self, command: PrecreateCommand) -> PrecreateResult: ...
    async def refund(self, command: RefundCommand) -> RefundResult: ...
    async def refund_query(self, trade_no: str, refund_no: str,
                           merchant: SubMerchant | None = None) -> RefundResult: ...

    async def bill(self, day: datetime.date, merchant: SubMerchant | None = None) -> list[BillRow]:
        """The channel's bill of `day` (China time): the one sub-merchant's, or with None the acquirer's
        whole bill; raises BillUnavailable."""
        ...

    # C2B in the payer's wallet app (server/views/landing.py, docs/c2b.md).
    def authorize_url(self, redirect_uri: str, state: str, merchant: SubMerchant | None = None) -> str:
        """Where the payer's app is sent to tell us who the payer is; it comes back to redirect_uri."""
        ...

    async def identify_payer(self, query: Mapping[str, str], merchant: SubMerchant | None = None,
                             user_agent: str = "") -> Payer:
        """The payer, from the query the app came back with; raises AuthDeclined, AuthCodeInvalid or
        AuthUnavailable."""
        ...

    def parse_notice(self, body: bytes, content_type: str) -> PaymentNotice:
        """A payment notification checked (signature, our merchant); raises NoticeRefused."""
        ...

    def notice_answer(self, ok: bool) -> NoticeAnswer: ...


Channels = Mapping[str, Channel]
