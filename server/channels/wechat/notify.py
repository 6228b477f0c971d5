"""WeChat Pay v2 payment result notification (支付结果通知): parse and check, answer.

WeChat POSTs signed XML to unifiedorder's notify_url when a C2B order is paid, and repeats it until
the merchant answers return_code=SUCCESS. The notify is signed like the unifiedorder request was
(MD5 unless sign_type says HMAC-SHA256). We check appid, mch_id and the signature, and treat the
notify only as a hint: the caller asks orderquery before changing the order.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .. import NoticeRefused as NotifyRefused
from . import signing
from .xmlcodec import XmlError, from_xml, to_xml

# total_fee: fen as decimal text. Counted before int(): int() refuses more than 4,300 digits (ValueError),
# and "²" or "١" pass str.isdigit(). Ten digits are 100 million yuan, more than any one payment.
_TOTAL_FEE = re.compile(r"[0-9]{1,10}", re.ASCII)


@dataclass(frozen=True)
class PaymentNotify:
    trade_no: str            # out_trade_no: ours
    paid: bool               # result_code SUCCESS
    amount_fen: int | None
    transaction_id: str | None
    notice_id: str           # a digest of the signature: the same for a replay of these very bytes


def parse_notify(body: bytes, *, appid: str, mch_id: str, api_key: str) -> PaymentNotify:
    try:
        params = from_xml(body)
    except XmlError as e:
        raise NotifyRefused(f"bad XML: {e}") from None
    if params.get("return_code") != "SUCCESS":
        raise NotifyRefused(f"return_code {params.get('return_code')!r}")
    if params.get("appid") != appid or params.get("mch_id") != mch_id:
        raise NotifyRefused("appid or mch_id is not ours")
    sign_type = params.get("sign_type") or signing.MD5
    if sign_type not in (signing.MD5, signing.HMAC_SHA256) or not signing.signature_valid(params, api_key, sign_type):
        raise NotifyRefused("signature does not verify")
    if not params.get("out_trade_no"):
        raise NotifyRefused("no out_trade_no")
    fee = params.get("total_fee")
    if fee is not None and not _TOTAL_FEE.fullmatch(fee):
        raise NotifyRefused("total_fee is not an amount in fen")
    return PaymentNotify(trade_no=params["out_trade_no"], paid=params.get("result_code") == "SUCCESS",
                         amount_fen=int(fee) if fee is not None else None,
                         transaction_id=params.get("transaction_id"),
                         notice_id=hashlib.sha256(params["sign"].encode("utf-8")).hexdigest()[:24])


def notify_answer(ok: bool, message: str = "OK") -> bytes:
    """What WeChat expects back; anything but SUCCESS makes it notify again later."""
    return to_xml({"return_code": "SUCCESS" if ok else "FAIL", "return_msg": message})
