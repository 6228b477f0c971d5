"""The check Alipay's and UnionPay's payment notifications share: a signed form of one-valued fields naming
our merchant, our trade number and the amount. Pure; each channel's notify.py says what the fields are."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from . import NoticeRefused


@dataclass(frozen=True)
class FormFields:
    """Where a channel's notification form says what (and how much of it we read)."""

    merchant: str                        # Alipay app_id, UnionPay acqCode: ours or refused
    trade_no: str                        # out_trade_no / orderNo
    amount: str                          # total_amount / txnAmt
    amount_fen_of: Callable[[str], int]  # the amount field's text in fen; ValueError for anything else
    amount_unit: str                     # what the amount is, for the refusal: "yuan" / "fen"
    max_fields: int


@dataclass(frozen=True)
class CheckedForm:
    params: Mapping[str, str]
    trade_no: str
    amount_fen: int


def check_form(body: bytes, fields: FormFields, *, merchant_id: str,
               signed: Callable[[Mapping[str, str]], bool]) -> CheckedForm:
    """The notification's fields once it is a form, ours and signed (`signed`: the channel's signature
    check, which may refuse on its own terms); raises NoticeRefused."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True,
                          max_num_fields=fields.max_fields)
    except (UnicodeDecodeError, ValueError) as e:
        raise NoticeRefused(f"not a form: {e}") from None
    params = dict(pairs)
    if len(params) != len(pairs):
        raise NoticeRefused("a parameter is repeated")
    if params.get(fields.merchant) != merchant_id:
        raise NoticeRefused(f"{fields.merchant} is not ours")
    if not signed(params):
        raise NoticeRefused("signature does not verify")
    if not params.get(fields.trade_no):
        raise NoticeRefused(f"no {fields.trade_no}")
    try:
        amount_fen = fields.amount_fen_of(params.get(fields.amount, ""))
    except ValueError:
        raise NoticeRefused(f"{fields.amount} is not an amount in {fields.amount_unit}") from None
    return CheckedForm(params=params, trade_no=params[fields.trade_no], amount_fen=amount_fen)
