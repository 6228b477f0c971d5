"""The device API's request fields, checked, and its order object (docs/device-api.md sections 4-5)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from . import errors
from .storage import Order

ORDER_NO = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
AUTH_CODE = re.compile(r"^[0-9]{10,32}$")
MAX_SUBJECT = 64


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


def parse_pay(message: dict[str, Any], *, max_amount_fen: int) -> PayRequest:
    order_no = _order_no(message)
    if "amount_fen" not in message:
        raise errors.invalid_field("amount_fen is required")
    amount_fen = message["amount_fen"]
    # bool is an int in Python, and 12.5 or "1250" are not amounts: only a true integer will do.
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise errors.invalid_amount("amount_fen must be an integer number of fen")
    if amount_fen <= 0:
        raise errors.invalid_amount("amount_fen must be positive")
    if amount_fen > max_amount_fen:
        raise errors.invalid_amount(f"amount_fen is above the maximum of {max_amount_fen}")
    if "auth_code" not in message:
        raise errors.invalid_field("auth_code is required")
    auth_code = message["auth_code"]
    if not isinstance(auth_code, str) or not AUTH_CODE.match(auth_code):
        raise errors.invalid_auth_code("auth_code must be 10-32 digits")
    subject = message.get("subject")
    if subject is not None:
        if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT:
            raise errors.invalid_field(f"subject must be text of 1-{MAX_SUBJECT} characters")
        if any(unicodedata.category(ch).startswith("C") for ch in subject):
            raise errors.invalid_field("subject must not contain control characters")
    return PayRequest(order_no=order_no, amount_fen=amount_fen, auth_code=auth_code, subject=subject)


def parse_query(message: dict[str, Any], *, max_wait_s: int) -> QueryRequest:
    order_no = _order_no(message)
    wait_s = message.get("wait", 0)
    if isinstance(wait_s, bool) or not isinstance(wait_s, int) or not 0 <= wait_s <= max_wait_s:
        raise errors.invalid_field(f"wait must be an integer 0-{max_wait_s}")
    return QueryRequest(order_no=order_no, wait_s=wait_s)


def _order_no(message: dict[str, Any]) -> str:
    if "order_no" not in message:
        raise errors.invalid_field("order_no is required")
    order_no = message["order_no"]
    if not isinstance(order_no, str) or not ORDER_NO.match(order_no):
        raise errors.invalid_field("order_no must be 1-32 of A-Z a-z 0-9 _ -")
    return order_no


def order_object(order: Order) -> dict[str, Any]:
    """The order as devices see it: times in Unix seconds, nothing internal."""
    return {
        "order_no": order.order_no,
        "amount_fen": order.amount_fen,
        "channel": order.channel,
        "status": order.status,
        "reason": order.reason,
        "message": order.message,
        "created_at": order.created_at // 1000,
        "finished_at": order.finished_at // 1000 if order.finished_at is not None else None,
    }
