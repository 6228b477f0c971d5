"""What the storage layer stores: plain dataclasses, no SQL."""
from __future__ import annotations

from dataclasses import dataclass, field

# Order statuses. PAYING is the only one that changes; every change is a conditional update.
PAYING = "PAYING"
SUCCESS = "SUCCESS"
FAILED = "FAILED"
CLOSED = "CLOSED"
FINAL_STATUSES = frozenset({SUCCESS, FAILED, CLOSED})

DEVICE_ACTIVE = "active"
DEVICE_DISABLED = "disabled"


@dataclass(frozen=True)
class Merchant:
    id: str
    name: str
    created_at: int


@dataclass(frozen=True)
class Device:
    id: str
    merchant_id: str
    store_name: str
    key_hex: str = field(repr=False)   # the HMAC key: never printed
    status: str
    created_at: int

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.key_hex)


@dataclass(frozen=True)
class Order:
    id: str
    device_id: str
    order_no: str            # the device's number, unique per device: the idempotency key
    trade_no: str            # our out_trade_no at the channel, globally unique
    amount_fen: int
    channel: str
    status: str
    auth_code_hash: str      # sha256 hex; the code itself is never stored
    auth_code_masked: str
    created_at: int          # all times: Unix milliseconds
    deadline_at: int         # when the resolver stops waiting and reverses
    next_check_at: int | None = None
    attempts: int = 0
    subject: str | None = None
    reason: str | None = None
    message: str | None = None
    channel_trade_no: str | None = None
    finished_at: int | None = None


@dataclass(frozen=True)
class OrderEvent:
    id: str
    order_id: str
    at: int
    kind: str                # e.g. "created", "pay:WAITING", "query:SUCCESS", "cancel:done"
    detail: str | None
    raw: dict | None         # the channel's answer, secrets stripped
