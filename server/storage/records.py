"""What the storage layer stores: plain dataclasses, no SQL; and how a record and a database row of its
fields (columns named as its fields) become one another."""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    R = TypeVar("R", bound=DataclassInstance)

# Order statuses. Every change is a conditional update on the status it leaves.
PAYING = "PAYING"
SUCCESS = "SUCCESS"
FAILED = "FAILED"
CLOSED = "CLOSED"
REFUNDED = "REFUNDED"      # SUCCESS whose refunds add up to the whole amount
FINAL_STATUSES = frozenset({SUCCESS, FAILED, CLOSED, REFUNDED})

# Order kinds: who scans whom.
B2C = "b2c"                # the merchant scans the payer's code (pay)
C2B = "c2b"                # the payer scans a one-time code (qr)

DEVICE_PENDING = "pending"     # registered, waiting for `activate`
DEVICE_ACTIVE = "active"
DEVICE_DISABLED = "disabled"

# Device lifecycle (server/devices.py): where the physical device is, beside whether its key works.
LIFECYCLE_IN_STOCK = "in_stock"
LIFECYCLE_ASSIGNED = "assigned"        # to a merchant and store, not yet installed there
LIFECYCLE_INSTALLED = "installed"
LIFECYCLE_DECOMMISSIONED = "decommissioned"
FLAG_MOVED = "moved"
FLAG_CLONED = "cloned"

# Refund statuses.
REFUND_PENDING = "PENDING"
REFUND_SUCCESS = "SUCCESS"
REFUND_FAILED = "FAILED"


MERCHANT_ACTIVE = "active"
MERCHANT_SUSPENDED = "suspended"      # takes no payments until an operator re-activates it
MERCHANT_CLOSED = "closed"            # for good


@dataclass(frozen=True)
class Merchant:
    id: str
    name: str                  # the short name payers see (bills, landing pages, the device's screen)
    created_at: int
    tier: int = 1              # verification tier: 1 phone, 2 ID photo, 3 business licence and shop photo
    legal_name: str | None = None
    phone: str | None = None   # the owner's mobile number: registration is by phone, one merchant per number
    status: str = MERCHANT_ACTIVE
    tier_verified_by: str | None = None
    tier_verified_at: int | None = None


@dataclass(frozen=True)
class Evidence:
    """A file that proves a merchant's tier: stored by its SHA-256, its type checked from its bytes."""

    id: str
    merchant_id: str
    kind: str                  # id_photo, business_licence, shop_photo
    sha256: str
    content_type: str
    size_bytes: int
    uploaded_at: int
    uploaded_by: str


@dataclass(frozen=True)
class Device:
    id: str                            # the serial number it was received into stock by
    merchant_id: str | None            # None while in stock, before any merchant is known
    store_name: str
    key_hex: str = field(repr=False)   # the HMAC key: never printed ("" until activated)
    status: str
    created_at: int
    activated_at: int | None = None
    hardware_id: str | None = None
    last_seen_at: int | None = None
    battery_pct: int | None = None
    charging: int | None = None
    signal_dbm: int | None = None
    network: str | None = None
    firmware: str | None = None
    uptime_s: int | None = None
    # lifecycle and anti-switching (server/devices.py, migration 0007)
    lifecycle: str = "installed"       # in_stock, assigned, installed, decommissioned
    flag: str | None = None            # "moved" or "cloned": refused until an operator clears it
    installed_at: int | None = None
    boot_id: str | None = None         # the newest X-Boot-Id seen
    boot_seen_at: int | None = None    # when that boot was last recorded (at most every 30 s)
    last_ip: str | None = None
    assigned_at: int | None = None     # when it last took a merchant's store (assign or swap): its history starts
    # stores and stock (server/stores.py, server/stock.py, migration 0012)
    store_id: str | None = None        # the store record; store_name is its name
    model: str | None = None           # as received into stock
    stock_batch: str | None = None     # the delivery it came in (a stock-in CSV's batch name)
    received_at: int | None = None
    received_by: str | None = None

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.key_hex)

    @property
    def order_scope(self) -> OrderScope:
        """The orders this device may see and act on through the device API (none while no merchant has it)."""
        return OrderScope(device_id=self.id, merchant_id=self.merchant_id, since=self.assigned_at or 0)


@dataclass(frozen=True)
class Order:
    id: str
    device_id: str
    order_no: str            # the device's number, unique per device: the idempotency key
    trade_no: str            # our out_trade_no at the channel, globally unique
    amount_fen: int
    channel: str             # "" for a C2B order until the payer picks a wallet
    status: str
    auth_code_hash: str      # sha256 hex; the code itself is never stored ("" for C2B)
    auth_code_masked: str
    created_at: int          # all times: Unix milliseconds
    deadline_at: int         # when the resolver stops waiting and reverses / closes
    next_check_at: int | None = None
    attempts: int = 0
    subject: str | None = None
    reason: str | None = None
    message: str | None = None
    channel_trade_no: str | None = None
    finished_at: int | None = None
    kind: str = B2C
    merchant_id: str | None = None
    day: int | None = None               # China-time day (YYYYMMDD) the merchant's daily cap counts it on
    refunded_fen: int = 0
    refund_reserved_fen: int = 0         # refunds asked for and not failed (pending + succeeded)
    close_requested_at: int | None = None
    qr_token: str | None = None
    payer_id: str | None = None          # C2B: the payer's id in their app (openid, buyer_id), once known
    static_code: int = 0                 # 1: paid through the shop's static code (PBoC 296 payer limit)
    channel_account: str | None = None   # the merchant's sub-merchant id the channel took it under (None: direct)
    store_id: str | None = None          # the store it was taken at (its device's then)
    static_code_id: str | None = None    # the static code its payer scanned (None: none)
    faults: int = 0                      # untrustworthy channel answers in a row: the next check backs off


MERCHANT_CHANNEL_OPEN = "open"
MERCHANT_CHANNEL_CLOSED = "closed"


@dataclass(frozen=True)
class MerchantChannel:
    """A merchant's standing at one channel: its sub-merchant id there and whether it may take payments."""

    merchant_id: str
    channel: str
    account_id: str          # "" in direct mode (the acquirer's own account)
    app_id: str | None
    status: str              # open, closed
    updated_at: int
    updated_by: str
    fee_rate_ppm: int | None = None      # the contracted fee, parts per million of the amount (0.38% = 3800)


@dataclass(frozen=True)
class OrderScope:
    """Which of a device's orders a request may read, close or refund: those the device made for the
    merchant it now belongs to, since it was last assigned. A device returned to stock and installed at
    another shop starts afresh and never sees the first shop's orders (operators still see everything,
    through reads that take no scope)."""

    device_id: str
    merchant_id: str | None  # None: a device no merchant has (in stock), which may see none of its orders
    since: int               # Unix ms: the device's assignment

    def covers(self, order: Order) -> bool:
        return (self.merchant_id is not None and order.device_id == self.device_id
                and order.merchant_id == self.merchant_id and order.created_at >= self.since)

    def covers_refund(self, refund: Refund) -> bool:
        return refund.device_id == self.device_id and refund.created_at >= self.since


@dataclass(frozen=True)
class Refund:
    id: str
    order_id: str
    device_id: str
    refund_no: str           # the device's number, unique per device: the idempotency key
    refund_trade_no: str     # ours at the channel (out_refund_no), globally unique
    amount_fen: int
    status: str
    created_at: int
    reason: str | None = None            # the device's words for the payer
    fail_reason: str | None = None
    message: str | None = None
    channel_refund_no: str | None = None
    finished_at: int | None = None
    next_check_at: int | None = None
    attempts: int = 0
    waiting: int = 0                     # 1: the channel accepted it; ask refund_query, not refund again
    faults: int = 0                      # untrustworthy or refused answers in a row: the next ask backs off
    fault: str | None = None             # the last answer's fault (channels.Fault value), None when trustworthy


@dataclass(frozen=True)
class OrderEvent:
    id: str
    order_id: str
    at: int
    kind: str                # e.g. "created", "pay:WAITING", "query:SUCCESS", "cancel:done"
    detail: str | None
    raw: dict | None         # the channel's answer, secrets stripped


@dataclass(frozen=True)
class DeviceCommand:
    id: str
    device_id: str
    kind: str
    args: dict
    created_at: int
    acked_at: int | None = None


STORE_OPEN = "open"
STORE_CLOSED = "closed"


@dataclass(frozen=True)
class Store:
    """One of a merchant's shops (server/stores.py): its devices and static codes belong to it."""
    id: str
    merchant_id: str
    name: str
    address: str
    status: str              # open, closed
    created_at: int
    created_by: str


CODE_EMPTY = "empty"                  # printed, not bound to any shop yet
CODE_BOUND = "bound"                  # takes payments for its store
CODE_DEREGISTERED = "deregistered"    # for good: lost, damaged, or the shop asked


@dataclass(frozen=True)
class StaticCode:
    """A printed static QR code (server/static_codes.py); its id is printed under it and is its URL's."""
    id: str
    batch_id: str | None
    status: str
    merchant_id: str | None
    store_id: str | None
    device_id: str | None             # says its payments and holds its orders
    replaces_id: str | None
    created_at: int
    bound_at: int | None = None
    bound_by: str | None = None
    ended_at: int | None = None
    ended_by: str | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class CodeBatch:
    id: str
    size: int
    note: str
    created_at: int
    created_by: str


@functools.cache
def field_names(record_type: type[DataclassInstance]) -> tuple[str, ...]:
    """A record's field names in order: the columns of its table that hold it (SELECT and INSERT lists)."""
    return tuple(f.name for f in fields(record_type))


def from_row(record_type: type[R], row: Mapping[str, Any], **stored_otherwise: Any) -> R:
    """The record a database row holds, each field taken from the column of its name; other columns of the
    row (a joined name, a count) are left out. `stored_otherwise`: fields whose column holds them in
    another form (JSON text, another name), given as the record wants them."""
    names = field_names(record_type)
    if len(row) == len(names) and not stored_otherwise:
        return record_type(**row)      # the row is the record's columns and no more (most reads): no copy
    return record_type(**{name: stored_otherwise[name] if name in stored_otherwise else row[name]
                          for name in names})


def values_of(record: DataclassInstance) -> tuple[Any, ...]:
    """A record's field values in field_names order: the arguments of an INSERT of its columns."""
    return tuple(getattr(record, name) for name in field_names(type(record)))
