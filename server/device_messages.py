"""The device API's request fields, checked, and its order object (docs/device-api.md sections 4-5)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any

from . import errors
from .storage import Order, Refund

ORDER_NO = re.compile(r"^[A-Za-z0-9_-]{1,32}\Z")
AUTH_CODE = re.compile(r"^[0-9]{10,32}\Z")
ACTIVATION_CODE = re.compile(r"^[0-9]{12}\Z")
COMMAND_ID = re.compile(r"^[0-9a-f]{32}\Z")
MAX_SUBJECT = 64
MAX_REFUND_REASON = 80
MAX_ORDERS = 100
NETWORKS = ("wifi", "4g", "3g", "2g", "ethernet", "usb")


@dataclass(frozen=True)
class PayRequest:
    order_no: str
    amount_fen: int
    auth_code: str
    subject: str | None = None

    def __repr__(self) -> str:  # the payment code never goes into a log line whole
        return f"PayRequest(order_no={self.order_no!r}, amount_fen={self.amount_fen}, auth_code=<masked>)"


@dataclass(frozen=True)
class QueryRequest:
    order_no: str
    wait_s: int = 0


@dataclass(frozen=True)
class QrRequest:
    order_no: str
    amount_fen: int
    subject: str | None = None


@dataclass(frozen=True)
class CloseRequest:
    order_no: str


@dataclass(frozen=True)
class RefundRequest:
    order_no: str
    refund_no: str
    amount_fen: int
    reason: str | None = None


@dataclass(frozen=True)
class OrdersRequest:
    limit: int = 20
    before_s: int | None = None


@dataclass(frozen=True)
class EventsRequest:
    after: int = 0           # the highest announcement number the device has handled
    wait_s: int = 0


@dataclass(frozen=True)
class HeartbeatRequest:
    values: dict[str, Any]          # battery_pct, charging, signal_dbm, network, firmware, uptime_s
    acked: tuple[str, ...] = ()


@dataclass(frozen=True)
class OtaReportRequest:
    version: str
    step: str
    detail: str | None = None


@dataclass(frozen=True)
class ActivateRequest:
    activation_code: str
    hardware_id: str | None = None
    firmware: str | None = None

    def __repr__(self) -> str:
        return f"ActivateRequest(activation_code=<masked>, hardware_id={self.hardware_id!r})"


def _amount(message: dict[str, Any], *, min_amount_fen: int, max_amount_fen: int) -> int:
    if "amount_fen" not in message:
        raise errors.refusal("invalid_field", "amount_fen is required")
    amount_fen = message["amount_fen"]
    # bool is an int in Python, and 12.5 or "1250" are not amounts: only a true integer will do.
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise errors.refusal("invalid_amount", "amount_fen must be an integer number of fen")
    if amount_fen <= 0:
        raise errors.refusal("invalid_amount", "amount_fen must be positive")
    if amount_fen > max_amount_fen:
        raise errors.refusal("invalid_amount", f"amount_fen is above the maximum of {max_amount_fen}")
    if amount_fen < min_amount_fen:
        raise errors.refusal("amount_below_minimum", f"amount_fen is below the minimum of {min_amount_fen}")
    return amount_fen


def _subject(message: dict[str, Any]) -> str | None:
    subject = message.get("subject")
    if subject is not None:
        if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT:
            raise errors.refusal("invalid_field", f"subject must be text of 1-{MAX_SUBJECT} characters")
        if any(unicodedata.category(ch).startswith("C") for ch in subject):
            raise errors.refusal("invalid_field", "subject must not contain control characters")
    return subject


def _text(message: dict[str, Any], name: str, max_len: int) -> str | None:
    value = message.get(name)
    if value is None:
        return None
    if (not isinstance(value, str) or not 1 <= len(value) <= max_len
            or any(unicodedata.category(ch).startswith("C") for ch in value)):
        raise errors.refusal("invalid_field",
                             f"{name} must be text of 1-{max_len} characters without control characters")
    return value


def _int_field(message: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = message.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.refusal("invalid_field", f"{name} must be an integer {low}-{high}")
    return value


def parse_pay(message: dict[str, Any], *, max_amount_fen: int, min_amount_fen: int = 1) -> PayRequest:
    order_no = _order_no(message)
    amount_fen = _amount(message, min_amount_fen=min_amount_fen, max_amount_fen=max_amount_fen)
    if "auth_code" not in message:
        raise errors.refusal("invalid_field", "auth_code is required")
    auth_code = message["auth_code"]
    if not isinstance(auth_code, str) or not AUTH_CODE.match(auth_code):
        raise errors.refusal("invalid_auth_code", "auth_code must be 10-32 digits")
    return PayRequest(order_no=order_no, amount_fen=amount_fen, auth_code=auth_code, subject=_subject(message))


def parse_qr(message: dict[str, Any], *, max_amount_fen: int, min_amount_fen: int = 1) -> QrRequest:
    order_no = _order_no(message)
    amount_fen = _amount(message, min_amount_fen=min_amount_fen, max_amount_fen=max_amount_fen)
    return QrRequest(order_no=order_no, amount_fen=amount_fen, subject=_subject(message))


def parse_close(message: dict[str, Any]) -> CloseRequest:
    return CloseRequest(order_no=_order_no(message))


def parse_refund(message: dict[str, Any], *, max_amount_fen: int) -> RefundRequest:
    order_no = _order_no(message)
    refund_no = _order_no(message, "refund_no")
    amount_fen = _amount(message, min_amount_fen=1, max_amount_fen=max_amount_fen)
    return RefundRequest(order_no=order_no, refund_no=refund_no, amount_fen=amount_fen,
                         reason=_text(message, "reason", MAX_REFUND_REASON))


def parse_orders(message: dict[str, Any]) -> OrdersRequest:
    limit = _int_field(message, "limit", 1, MAX_ORDERS)
    before = _int_field(message, "before", 0, 2**40)
    return OrdersRequest(limit=20 if limit is None else limit, before_s=before)


def parse_events(message: dict[str, Any], *, max_wait_s: int) -> EventsRequest:
    after = _int_field(message, "after", 0, 2**53)
    wait_s = _int_field(message, "wait", 0, max_wait_s)
    return EventsRequest(after=after or 0, wait_s=wait_s or 0)


def parse_heartbeat(message: dict[str, Any]) -> HeartbeatRequest:
    values: dict[str, Any] = {}
    for name, low, high in (("battery_pct", 0, 100), ("signal_dbm", -150, 0), ("uptime_s", 0, 2**40)):
        value = _int_field(message, name, low, high)
        if value is not None:
            values[name] = value
    charging = message.get("charging")
    if charging is not None:
        if not isinstance(charging, bool):
            raise errors.refusal("invalid_field", "charging must be true or false")
        values["charging"] = int(charging)
    network = message.get("network")
    if network is not None:
        if network not in NETWORKS:
            raise errors.refusal("invalid_field", f"network must be one of {', '.join(NETWORKS)}")
        values["network"] = network
    firmware = _text(message, "firmware", 32)
    if firmware is not None:
        values["firmware"] = firmware
    acked = message.get("acked", [])
    if (not isinstance(acked, list) or len(acked) > 100
            or not all(isinstance(a, str) and COMMAND_ID.match(a) for a in acked)):
        raise errors.refusal("invalid_field", "acked must be a list of at most 100 command ids")
    return HeartbeatRequest(values=values, acked=tuple(acked))


MAX_OTA_DETAIL = 200


def parse_ota_report(message: dict[str, Any], steps: Iterable[str]) -> OtaReportRequest:
    version = _text(message, "version", 32)
    if version is None:
        raise errors.refusal("invalid_field", "version is required")
    step = message.get("step")
    if not isinstance(step, str) or step not in steps:
        raise errors.refusal("invalid_field", f"step must be one of {', '.join(steps)}")
    detail = message.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise errors.refusal("invalid_field", "detail must be a string")
    # The detail is the device's own words about a failure: kept, cut to its stored length.
    return OtaReportRequest(version=version, step=step, detail=detail[:MAX_OTA_DETAIL] if detail else None)


def parse_activate(message: dict[str, Any]) -> ActivateRequest:
    code = message.get("activation_code")
    if not isinstance(code, str) or not ACTIVATION_CODE.match(code):
        raise errors.refusal("invalid_field", "activation_code must be 12 digits")
    return ActivateRequest(activation_code=code, hardware_id=_text(message, "hardware_id", 64),
                           firmware=_text(message, "firmware", 32))


def parse_query(message: dict[str, Any], *, max_wait_s: int) -> QueryRequest:
    order_no = _order_no(message)
    wait_s = message.get("wait", 0)
    if isinstance(wait_s, bool) or not isinstance(wait_s, int) or not 0 <= wait_s <= max_wait_s:
        raise errors.refusal("invalid_field", f"wait must be an integer 0-{max_wait_s}")
    return QueryRequest(order_no=order_no, wait_s=wait_s)


def _order_no(message: dict[str, Any], name: str = "order_no") -> str:
    if name not in message:
        raise errors.refusal("invalid_field", f"{name} is required")
    value = message[name]
    if not isinstance(value, str) or not ORDER_NO.match(value):
        raise errors.refusal("invalid_field", f"{name} must be 1-32 of A-Z a-z 0-9 _ -")
    return value


def order_object(order: Order) -> dict[str, Any]:
    """The order as devices see it: times in Unix seconds, nothing internal."""
    return {
        "order_no": order.order_no,
        "kind": order.kind,
        "amount_fen": order.amount_fen,
        "channel": order.channel or None,
        "status": order.status,
        "reason": order.reason,
        "message": order.message,
        "refunded_fen": order.refunded_fen,
        "created_at": order.created_at // 1000,
        "finished_at": order.finished_at // 1000 if order.finished_at is not None else None,
    }


def refund_object(refund: Refund, order: Order) -> dict[str, Any]:
    return {
        "refund_no": refund.refund_no,
        "order_no": order.order_no,
        "amount_fen": refund.amount_fen,
        "status": refund.status,
        "reason": refund.fail_reason,
        "message": refund.message,
        "created_at": refund.created_at // 1000,
        "finished_at": refund.finished_at // 1000 if refund.finished_at is not None else None,
    }
