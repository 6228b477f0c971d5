"""UnionPay's payment notification (后台通知) to the order's backUrl: parse and check, answer.

UnionPay POSTs the result form-encoded and signed as its answers are (signing.py: certId and signature over the
sorted fields); the acquirer answers HTTP 200 to take it, anything else makes UnionPay notify again. Facts: the
acp rule "商户返回码为200时，银联判定为通知成功" (UnionPay's acp online-payment SDK documentation), a QR
notification message in public acquirer code (reference/channels.md section 4); that the QR messages are
notified with the same fields (reqType, orderNo, orderTime, txnAmt, merId, respCode, voucherNum) is INFERRED.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qsl

from Crypto.PublicKey import RSA

from . import protocol, signing


class NotifyRefused(Exception):
    pass


@dataclass(frozen=True)
class PaymentNotify:
    trade_no: str
    paid: bool
    amount_fen: int
    voucher_num: str | None
    notice_id: str


def parse_notify(body: bytes, *, acq_code: str, unionpay_key: RSA.RsaKey, cert_id: str) -> PaymentNotify:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as e:
        raise NotifyRefused(f"not a form: {e}") from None
    params = dict(pairs)
    if len(params) != len(pairs):
        raise NotifyRefused("a parameter is repeated")
    if params.get("acqCode") != acq_code:
        raise NotifyRefused("acqCode is not ours")
    if not signing.signature_valid(params, unionpay_key, cert_id):
        raise NotifyRefused("signature does not verify")
    if not params.get("orderNo"):
        raise NotifyRefused("no orderNo")
    try:
        amount_fen = protocol.amount_fen_of(params.get("txnAmt", ""))
    except ValueError:
        raise NotifyRefused("txnAmt is not an amount in fen") from None
    return PaymentNotify(trade_no=params["orderNo"], paid=params.get("respCode") == protocol.SUCCESS_CODE,
                         amount_fen=amount_fen, voucher_num=params.get("voucherNum") or None,
                         notice_id=hashlib.sha256(params.get("signature", "").encode()).hexdigest()[:24])
