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

from Crypto.PublicKey import RSA

from ..form_notice import FormFields, check_form
from . import protocol, signing

_FIELDS = FormFields(merchant="acqCode", trade_no="orderNo", amount="txnAmt", amount_fen_of=protocol.amount_fen_of,
                     amount_unit="fen", max_fields=100)


@dataclass(frozen=True)
class PaymentNotify:
    trade_no: str
    paid: bool
    amount_fen: int
    voucher_num: str | None
    notice_id: str


def parse_notify(body: bytes, *, acq_code: str, unionpay_key: RSA.RsaKey, cert_id: str) -> PaymentNotify:
    form = check_form(body, _FIELDS, merchant_id=acq_code,
                      signed=lambda params: signing.signature_valid(params, unionpay_key, cert_id))
    params = form.params
    return PaymentNotify(trade_no=form.trade_no, paid=params.get("respCode") == protocol.SUCCESS_CODE,
                         amount_fen=form.amount_fen, voucher_num=params.get("voucherNum") or None,
                         notice_id=hashlib.sha256(params.get("signature", "").encode()).hexdigest()[:24])
