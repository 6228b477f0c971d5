"""Alipay OpenAPI (gateway.do) requests and answers as pure functions over plain data.

Facts (reference/channels.md section 3, from Alipay's API pages and its face-to-face demo): common
parameters, `biz_content` JSON, amounts in yuan with 2 decimals, answer codes 10000 success, 10003 waiting
for the buyer, 20000 system error (unknown), 40004 business failure with `sub_code`.
Money crosses the boundary here, in `yuan_of` and `fen_of`, with Decimal: never a float.

Service-provider mode is Alipay's indirect acquiring (间连, 机构间连): the acquirer's own app signs every call,
and a shop's order carries the shop's Alipay merchant number, the smid Alipay gave it at registration, as
biz_content `sub_merchant: {"merchant_id": "<smid>", "merchant_type": "alipay"}`. Sources: Alipay's SDK
models (alipay/alipay-sdk-java-all AlipayTradePayModel and AlipayTradePrecreateModel: "sub_merchant 二级商户信息。
直付通模式和机构间连模式下必传"; SubMerchant: "merchant_id 间连受理商户的支付宝商户编号…间连业务下必传";
RentSubMerchant: "merchant_type … 目前仅支持alipay"). The other model, ISV authorisation (the merchant's own
app_auth_token on every call, money settling to the merchant's own Alipay account), is not used here.
Alipay's SDK models for trade.query, cancel and refund have no sub_merchant (close and fastpay.refund.query
not checked; a trade is found by out_trade_no under the calling app; bank indirect acquiring adds org_pid to
query and refund): it is sent with
them too, so every call names the shop, on the INFERRED ground that Alipay ignores biz_content members an API
does not define. What guards those calls is the answer: trade.query answers a bank's indirect trade with
`alipay_sub_merchant_id` ("间连商户在支付宝端的商户编号；只在银行间联交易场景下返回", AlipayTradeQueryResponse),
and an answer naming another shop than asked is not trusted (`other_merchant`).
"""
from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ...days import CHINA   # the channels' times are Beijing time
from .. import CancelResult, ChannelResult, Outcome, PrecreateResult, Reason, RefundResult, SubMerchant


PAY = "alipay.trade.pay"
QUERY = "alipay.trade.query"
CANCEL = "alipay.trade.cancel"
PRECREATE = "alipay.trade.precreate"
CREATE = "alipay.trade.create"
CLOSE = "alipay.trade.close"
REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
BILL_URL = "alipay.data.dataservice.bill.downloadurl.query"

SUCCESS_CODE = "10000"
WAITING_CODE = "10003"
UNKNOWN_CODE = "20000"

# 40004 sub_codes of trade.pay that are definite: the payer was not charged. (From Alipay's trade.pay error
# table, not in reference/channels.md; any sub_code not listed stays UNKNOWN and is queried, which is safe.)
FAILURE_REASONS = {
    "ACQ.BUYER_BALANCE_NOT_ENOUGH": Reason.INSUFFICIENT_FUNDS,
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH": Reason.INSUFFICIENT_FUNDS,
    # Alipay says "获取顾客账户信息失败，请顾客刷新付款码后重新收款" for expired and for used codes alike;
    # the payer's action is the same: refresh the code.
    "ACQ.PAYMENT_AUTH_CODE_INVALID": Reason.CODE_EXPIRED,
    "ACQ.TRADE_HAS_CLOSE": Reason.TIMEOUT,
    "ACQ.BUYER_ENABLE_STATUS_FORBID": Reason.CHANNEL_DECLINED,
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR": Reason.CHANNEL_DECLINED,
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR": Reason.CHANNEL_DECLINED,
    "ACQ.ERROR_BUYER_CERTIFY_LEVEL_LIMIT": Reason.CHANNEL_DECLINED,
    "ACQ.PAYMENT_FAIL": Reason.CHANNEL_DECLINED,
    "ACQ.TOTAL_FEE_EXCEED": Reason.CHANNEL_DECLINED,
    "ACQ.INVALID_PARAMETER": Reason.CHANNEL_DECLINED,
    "ACQ.SELLER_BEEN_BLOCKED": Reason.CHANNEL_DECLINED,
}
# The shop's sub-merchant identity refused (Alipay's trade.pay error table, as public code copies it: a Go
# SDK's sub_code table, a Java error map, a page-pay demo: ACQ.SECONDARY_MERCHANT_ID_BLANK 二级商户编号错误 "请检查
# 是否正确传入二级商户编号", ACQ.SECONDARY_MERCHANT_ID_INVALID 二级商户不存在, ACQ.SECONDARY_MERCHANT_NOT_MATCH
# 二级商户信息不匹配, ACQ.SECONDARY_MERCHANT_STATUS_ERROR / ACQ.SECONDARY_MERCHANT_ISV_PUNISH_INDIRECT 商户状态异常,
# ACQ.SUB_MERCHANT_TYPE_INVALID 二级商户类型非法): the trade was refused before it existed, nothing was charged.
SUB_MERCHANT_REFUSALS = frozenset({
    "ACQ.SECONDARY_MERCHANT_ID_BLANK", "ACQ.SECONDARY_MERCHANT_ID_INVALID", "ACQ.SECONDARY_MERCHANT_NOT_MATCH",
    "ACQ.SECONDARY_MERCHANT_STATUS_ERROR", "ACQ.SECONDARY_MERCHANT_ISV_PUNISH_INDIRECT",
    "ACQ.SECONDARY_MERCHANT_ALIPAY_ACCOUNT_INVALID", "ACQ.SUB_MERCHANT_TYPE_INVALID",
})
FAILURE_REASONS.update({code: Reason.CHANNEL_DECLINED for code in SUB_MERCHANT_REFUSALS})
# Everything else (ACQ.SYSTEM_ERROR, ACQ.TRADE_HAS_SUCCESS, ACQ.CONTEXT_INCONSISTENT, unknown sub_codes)
# stays UNKNOWN: the follow-up query says what really happened.

TRADE_STATUSES = {
    "TRADE_SUCCESS": (Outcome.SUCCESS, None),
    "TRADE_FINISHED": (Outcome.SUCCESS, None),     # paid, and no longer refundable
    "WAIT_BUYER_PAY": (Outcome.WAITING, None),
    "TRADE_CLOSED": (Outcome.FAILED, Reason.TIMEOUT),   # unpaid and closed/cancelled (or fully refunded)
}


def yuan_of(amount_fen: int) -> str:
    """Our fen -> Alipay's yuan text with exactly 2 decimals: 1250 -> "12.50"."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValueError(f"amount_fen must be a positive integer, not {amount_fen!r}")
    return str((Decimal(amount_fen) / 100).quantize(Decimal("0.01")))


def fen_of(yuan: str) -> int:
    """Alipay's yuan text -> fen; refuses more than 2 decimals, exponents, signs, and anything not a number."""
    text = yuan.strip() if isinstance(yuan, str) else None
    if not text or not text.isascii() or not all(c.isdigit() or c == "." for c in text) or text.count(".") > 1:
        raise ValueError(f"not a yuan amount: {yuan!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a yuan amount: {yuan!r}") from None
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{yuan!r} has fractions of a fen")
    return int(fen)


def signed_fen_of(yuan: str) -> int:
    """Like fen_of, for bill columns that carry a sign ("-0.06")."""
    text = yuan.strip()
    if text.startswith(("-", "+")):
        return -fen_of(text[1:]) if text[0] == "-" else fen_of(text[1:])
    return fen_of(text)


def common_params(*, app_id: str, method: str, biz_content: Mapping[str, Any] | None, app_auth_token: str = "",
                  notify_url: str = "", now: datetime.datetime | None = None,
                  extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """`biz_content` None: a method without one (alipay.system.oauth.token takes its grant_type and code as
    common-level parameters: `extra`)."""
    now = (now or datetime.datetime.now(CHINA)).astimezone(CHINA)
    params = {
        "app_id": app_id, "method": method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%S"), "version": "1.0",
        "biz_content": json.dumps(dict(biz_content), ensure_ascii=False, separators=(",", ":"))
        if biz_content is not None else "",
        "app_auth_token": app_auth_token, "notify_url": notify_url, **(extra or {}),
    }
    return {k: v for k, v in params.items() if v}


# An Alipay user_id: 2088 and 12 more digits ("支付宝用户的唯一userId", alipay.system.oauth.token). Apps made
# since Alipay introduced open_id get that instead, which trade.create takes as buyer_open_id.
USER_ID = re.compile(r"2088[0-9]{12}", re.ASCII)


def buyer_field(payer_id: str) -> str:
    """trade.create names a user_id as buyer_id and an open_id as buyer_open_id."""
    return "buyer_id" if USER_ID.fullmatch(payer_id) else "buyer_open_id"


def sub_merchant_of(merchant: SubMerchant | None) -> dict:
    """`{"sub_merchant": {...}}` to merge into biz_content for a shop's order; {} in direct mode."""
    if merchant is None:
        return {}
    return {"sub_merchant": {"merchant_id": merchant.account_id, "merchant_type": "alipay"}}


def pay_biz(*, trade_no: str, amount_fen: int, auth_code: str, subject: str, device_id: str = "",
            merchant: SubMerchant | None = None) -> dict:
    biz = {"out_trade_no": trade_no, "scene": "bar_code", "auth_code": auth_code, "subject": subject,
           "total_amount": yuan_of(amount_fen), **sub_merchant_of(merchant)}
    if device_id:
        biz["terminal_id"] = device_id
    return biz


def order_biz(*, trade_no: str, merchant: SubMerchant | None = None) -> dict:
    """trade.query, trade.cancel, trade.close of one order."""
    return {"out_trade_no": trade_no, **sub_merchant_of(merchant)}


def precreate_biz(*, trade_no: str, amount_fen: int, subject: str, expire_s: int, buyer_id: str = "",
                  merchant: SubMerchant | None = None) -> dict:
    biz = {"out_trade_no": trade_no, "total_amount": yuan_of(amount_fen), "subject": subject,
           # Alipay's timeout_express takes minutes ("5m"); round up so the code never dies early.
           "timeout_express": f"{max(1, -(-expire_s // 60))}m", **sub_merchant_of(merchant)}
    if buyer_id:
        biz[buyer_field(buyer_id)] = buyer_id
    return biz


def refund_biz(*, trade_no: str, refund_no: str, amount_fen: int, reason: str | None,
               merchant: SubMerchant | None = None) -> dict:
    biz = {"out_trade_no": trade_no, "out_request_no": refund_no, "refund_amount": yuan_of(amount_fen),
           **sub_merchant_of(merchant)}
    if reason:
        biz["refund_reason"] = reason
    return biz


def refund_query_biz(*, trade_no: str, refund_no: str, merchant: SubMerchant | None = None) -> dict:
    return {"out_trade_no": trade_no, "out_request_no": refund_no, **sub_merchant_of(merchant)}


def asked_merchant(biz: Mapping[str, Any]) -> str:
    """The smid a request's biz_content names ("" for the acquirer's own account)."""
    sub = biz.get("sub_merchant")
    return str(sub.get("merchant_id") or "") if isinstance(sub, Mapping) else ""


def other_merchant(answer: Mapping[str, Any], asked: str) -> str | None:
    """The sub-merchant an answer names when it is not the one asked for (None: it is, or it names none)."""
    named = answer.get("alipay_sub_merchant_id") or ""
    return str(named) if named and named != asked else None


def sub_merchant_refusal(answer: Mapping[str, Any]) -> str | None:
    """A clear message when Alipay refused the shop's sub-merchant identity, else None."""
    sub_code = answer.get("sub_code")
    if sub_code not in SUB_MERCHANT_REFUSALS:
        return None
    return f"Alipay refused the shop's sub-merchant account: {answer.get('sub_msg') or sub_code} ({sub_code})"


def stripped(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The answer as stored: no signature, no payment code, no buyer's login name."""
    return {k: v for k, v in answer.items() if k not in ("sign", "auth_code", "buyer_logon_id")}


def _describe(answer: Mapping[str, Any]) -> str | None:
    return sub_merchant_refusal(answer) or answer.get("sub_msg") or answer.get("msg") or None


def interpret_pay(answer: Mapping[str, Any]) -> ChannelResult:
    raw, code = stripped(answer), answer.get("code")
    if code == SUCCESS_CODE:
        return ChannelResult(Outcome.SUCCESS, channel_trade_no=answer.get("trade_no") or None, raw=raw)
    if code == WAITING_CODE:
        return ChannelResult(Outcome.WAITING, message=_describe(answer), raw=raw)
    if code == "40004":
        reason = FAILURE_REASONS.get(answer.get("sub_code", ""))
        if reason is not None:
            return ChannelResult(Outcome.FAILED, reason=reason, message=_describe(answer), raw=raw)
    return ChannelResult(Outcome.UNKNOWN, message=_describe(answer), raw=raw)


def interpret_query(answer: Mapping[str, Any]) -> ChannelResult:
    raw = stripped(answer)
    if answer.get("code") != SUCCESS_CODE:
        # ACQ.TRADE_NOT_EXIST included: the pay call may still be on its way.
        return ChannelResult(Outcome.UNKNOWN, message=_describe(answer), raw=raw)
    outcome, reason = TRADE_STATUSES.get(answer.get("trade_status", ""), (Outcome.UNKNOWN, None))
    return ChannelResult(outcome, reason=reason, message=answer.get("trade_status"),
                         channel_trade_no=answer.get("trade_no") or None, raw=raw)


def interpret_cancel(answer: Mapping[str, Any]) -> CancelResult:
    raw, message = stripped(answer), _describe(answer)
    if answer.get("retry_flag") == "Y":
        return CancelResult(cancelled=False, retry=True, message=message, raw=raw)
    if answer.get("code") == SUCCESS_CODE:
        return CancelResult(cancelled=True, message=message or answer.get("action"), raw=raw)
    if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
        return CancelResult(cancelled=True, message=message, raw=raw)   # never reached Alipay
    return CancelResult(cancelled=False, message=message, raw=raw)


def interpret_close(answer: Mapping[str, Any]) -> CancelResult:
    raw, message = stripped(answer), _describe(answer)
    # An order the payer never opened does not exist at Alipay yet: closed as far as anyone can pay it.
    if answer.get("code") == SUCCESS_CODE or answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
        return CancelResult(cancelled=True, message=message, raw=raw)
    return CancelResult(cancelled=False, retry=answer.get("code") == UNKNOWN_CODE, message=message, raw=raw)


def interpret_precreate(answer: Mapping[str, Any]) -> PrecreateResult:
    raw = stripped(answer)
    if answer.get("code") != SUCCESS_CODE:
        return PrecreateResult(ok=False, message=_describe(answer), raw=raw)
    if answer.get("qr_code"):
        return PrecreateResult(ok=True, qr_code=answer["qr_code"], raw=raw)
    # trade.create: the in-app page calls AlipayJSBridge tradePay with this tradeNO.
    trade = answer.get("trade_no") or ""
    return PrecreateResult(ok=bool(trade), pay_params={"tradeNO": trade}, channel_trade_no=trade or None,
                           message=_describe(answer), raw=raw)


def interpret_refund(answer: Mapping[str, Any]) -> RefundResult:
    raw, message = stripped(answer), _describe(answer)
    code = answer.get("code")
    if code == SUCCESS_CODE:
        # fund_change=N on a repeated request: the refund was made before; still a success.
        return RefundResult(Outcome.SUCCESS, message=message, channel_refund_no=answer.get("trade_no"), raw=raw)
    if code == "40004" and answer.get("sub_code") not in ("ACQ.SYSTEM_ERROR",):
        return RefundResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message=message, raw=raw)
    return RefundResult(Outcome.UNKNOWN, message=message, raw=raw)


def interpret_refund_query(answer: Mapping[str, Any]) -> RefundResult:
    raw, message = stripped(answer), _describe(answer)
    if answer.get("code") != SUCCESS_CODE:
        return RefundResult(Outcome.UNKNOWN, message=message, raw=raw)
    if answer.get("refund_status") == "REFUND_SUCCESS":
        return RefundResult(Outcome.SUCCESS, message=message, raw=raw)
    if not answer.get("out_request_no"):
        return RefundResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message="no such refund", raw=raw)
    return RefundResult(Outcome.WAITING, message=message, raw=raw)
