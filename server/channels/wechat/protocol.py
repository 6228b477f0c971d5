"""WeChat Pay v2 (micropay, orderquery, reverse, unifiedorder, closeorder, refund, bills) as pure functions.

Requests are built here, answers interpreted here into the normalised results; the adapter only
moves bytes. Money crosses the boundary in `total_fee_of`.

Service-provider mode (服务商): every request for a shop's order carries, beside the acquirer's `appid` and
`mch_id`, the shop's `sub_mch_id` (特约商户号) and, when the shop has its own official account or mini
program, its `sub_appid`; a JSAPI payer is then named by `sub_openid` (the payer's id under sub_appid)
instead of `openid`, and the page's pay parameters carry the sub_appid. Sources: WeChat Pay's v2
service-provider pages (pay.weixin.qq.com/wiki/doc/api/*_sl.php: micropay, orderquery, closeorder, refund,
refundquery, downloadbill, "sub_mch_id 微信支付分配的子商户号"), as quoted in binarywang/WxJava#569 and
JeffreySu/WeiXinMPSDK#629; wechatpy 1.8 (`WeChatPay(sub_mch_id=…, sub_appid=…)` adds sub_mch_id to every
request, `get_jsapi_params` signs appId = sub_appid or appid); the openid → sub_openid swap from WeChat's
developer community ("将原来的openid 字段 改成 sub_openid(sub_appid 下获取的openid)").
Answers echo sub_mch_id (a service-provider micropay answer in WeChat's developer community; go-pay/gopay#57):
an answer naming another sub-merchant than asked is not trusted (`other_merchant`).
"""
from __future__ import annotations

import datetime
import secrets
from collections.abc import Mapping

from ...days import CHINA   # the channels' times are Beijing time
from .. import CancelResult, ChannelResult, Outcome, PrecreateResult, Reason, RefundResult, SubMerchant
from . import signing

MICROPAY_PATH = "/pay/micropay"
ORDERQUERY_PATH = "/pay/orderquery"
REVERSE_PATH = "/secapi/pay/reverse"

# micropay err_code -> a definite failure reason. Codes not listed here (and SYSTEMERROR, BANKERROR)
# leave the outcome UNKNOWN: the order is then queried, so a payment that went through is never lost.
FAILURE_REASONS = {
    "AUTHCODEEXPIRE": Reason.CODE_EXPIRED,
    "NOTENOUGH": Reason.INSUFFICIENT_FUNDS,
    "AUTH_CODE_INVALID": Reason.CODE_INVALID,
    "AUTH_CODE_ERROR": Reason.CODE_INVALID,
    "BUYER_MISMATCH": Reason.CHANNEL_DECLINED,
    "NOTSUPORTCARD": Reason.CHANNEL_DECLINED,   # sic: WeChat's spelling
    "NOAUTH": Reason.CHANNEL_DECLINED,
    "PAYER_ACCOUNT_ABNORMAL": Reason.CHANNEL_DECLINED,
    "PARAM_ERROR": Reason.CHANNEL_DECLINED,
    "LACK_PARAMS": Reason.CHANNEL_DECLINED,
    "INVALID_REQUEST": Reason.CHANNEL_DECLINED,
    "TRADE_ERROR": Reason.CHANNEL_DECLINED,
    # The order was reversed or closed earlier: final, the payer was not charged.
    "ORDERREVERSED": Reason.TIMEOUT,
    "ORDERCLOSED": Reason.TIMEOUT,
}
# ORDERPAID (already paid) stays UNKNOWN on purpose: the follow-up query returns the transaction id.
WAITING_CODES = frozenset({"USERPAYING"})

# orderquery trade_state -> outcome
TRADE_STATES = {
    "SUCCESS": (Outcome.SUCCESS, None),
    "REFUND": (Outcome.SUCCESS, None),     # it was paid; the refund is a separate story
    "USERPAYING": (Outcome.WAITING, None),
    "NOTPAY": (Outcome.WAITING, None),
    "ACCEPT": (Outcome.WAITING, None),
    "PAYERROR": (Outcome.FAILED, Reason.CHANNEL_DECLINED),
    "REVOKED": (Outcome.FAILED, Reason.TIMEOUT),
    "CLOSED": (Outcome.FAILED, Reason.TIMEOUT),
}


def total_fee_of(amount_fen: int) -> str:
    """Our amount in fen -> WeChat's total_fee (also fen, as decimal text)."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValueError(f"amount_fen must be a positive integer, not {amount_fen!r}")
    return str(amount_fen)


def amount_fen_of(total_fee: str) -> int:
    """WeChat's total_fee text -> fen; refuses anything but plain digits."""
    if not (total_fee.isascii() and total_fee.isdigit()):
        raise ValueError(f"total_fee must be digits, not {total_fee!r}")
    return int(total_fee)


def nonce_str() -> str:
    return secrets.token_hex(16)


def signed(params: dict[str, str], api_key: str, sign_type: str) -> dict[str, str]:
    """`params` with sign_type (when not MD5) and sign added."""
    params = {k: v for k, v in params.items() if v not in ("", None)}
    if sign_type != signing.MD5:
        params["sign_type"] = sign_type
    params["sign"] = signing.sign(params, api_key, sign_type)
    return params


def ids(appid: str, mch_id: str, merchant: SubMerchant | None) -> dict[str, str]:
    """Who the request is for: the acquirer's appid and mch_id, and in service-provider mode the shop's
    sub_mch_id (and sub_appid when it has one). Empty values are left out when signing."""
    return {"appid": appid, "mch_id": mch_id, "sub_appid": (merchant.app_id or "") if merchant else "",
            "sub_mch_id": merchant.account_id if merchant else ""}


def micropay_request(*, appid: str, mch_id: str, trade_no: str, amount_fen: int, auth_code: str, body: str,
                     spbill_create_ip: str, device_info: str = "", merchant: SubMerchant | None = None
                     ) -> dict[str, str]:
    return {
        **ids(appid, mch_id, merchant), "nonce_str": nonce_str(), "body": body,
        "out_trade_no": trade_no, "total_fee": total_fee_of(amount_fen),
        "spbill_create_ip": spbill_create_ip, "auth_code": auth_code, "device_info": device_info,
    }


def orderquery_request(*, appid: str, mch_id: str, trade_no: str, merchant: SubMerchant | None = None
                       ) -> dict[str, str]:
    return {**ids(appid, mch_id, merchant), "out_trade_no": trade_no, "nonce_str": nonce_str()}


def reverse_request(*, appid: str, mch_id: str, trade_no: str, merchant: SubMerchant | None = None
                    ) -> dict[str, str]:
    return {**ids(appid, mch_id, merchant), "out_trade_no": trade_no, "nonce_str": nonce_str()}


# A refusal of the shop's identity comes as return_code=FAIL (unsigned) with only a return_msg, e.g.
# "特约子商户商户号未授权服务商的产品权限" (sub_mch_id not authorised for this service provider: WeChat developer
# community), "受理机构必须传入sub_mch_id" (JeffreySu/WeiXinMPSDK#629, helei112g/payment#72),
# "sub_mch_id与sub_appid不匹配" (developer community), "普通商户不允许传sub_mch_id" (binarywang/WxJava#1170).
# WeChat gives no err_code for them, so they are recognised by what the message names (INFERRED: the exact
# words for a sub_mch_id that does not exist at all were not found). The request was refused before any
# order existed: nothing was charged.
_SUB_MERCHANT_WORDS = ("sub_mch_id", "sub_appid", "sub_openid", "子商户", "特约商户")


def sub_merchant_refusal(answer: Mapping[str, str]) -> str | None:
    """A clear message when WeChat refused the request for the shop's sub-merchant identity, else None."""
    if answer.get("return_code") == "SUCCESS":
        return None
    words = answer.get("return_msg") or ""
    if not any(w in words for w in _SUB_MERCHANT_WORDS):
        return None
    return f"WeChat refused the shop's sub-merchant account: {words}"


def other_merchant(answer: Mapping[str, str], asked: Mapping[str, str]) -> str | None:
    """The sub-merchant an answer names when it is not the one the request `asked` for (None: it is)."""
    for key in ("sub_mch_id", "sub_appid"):
        named = answer.get(key) or ""
        if named and named != (asked.get(key) or ""):
            return f"{key}={named}"
    return None


def stripped(answer: Mapping[str, str]) -> dict[str, str]:
    """The answer as stored in the order's journal: no signature, no payment code."""
    return {k: v for k, v in answer.items() if k not in ("sign", "auth_code")}


def _describe(answer: Mapping[str, str]) -> str | None:
    return answer.get("err_code_des") or answer.get("return_msg") or None


def interpret_micropay(answer: Mapping[str, str]) -> ChannelResult:
    raw = stripped(answer)
    refused = sub_merchant_refusal(answer)
    if refused:
        return ChannelResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message=refused, raw=raw)
    if answer.get("return_code") != "SUCCESS":
        # A transport-level refusal; WeChat's guidance is still to query before calling it failed.
        return ChannelResult(Outcome.UNKNOWN, message=_describe(answer), raw=raw)
    if answer.get("result_code") == "SUCCESS":
        return ChannelResult(Outcome.SUCCESS, channel_trade_no=answer.get("transaction_id") or None, raw=raw)
    err_code = answer.get("err_code", "")
    if err_code in WAITING_CODES:
        return ChannelResult(Outcome.WAITING, message=_describe(answer), raw=raw)
    reason = FAILURE_REASONS.get(err_code)
    if reason is not None:
        return ChannelResult(Outcome.FAILED, reason=reason, message=_describe(answer), raw=raw)
    return ChannelResult(Outcome.UNKNOWN, message=_describe(answer), raw=raw)


def interpret_orderquery(answer: Mapping[str, str]) -> ChannelResult:
    raw = stripped(answer)
    if answer.get("return_code") != "SUCCESS" or answer.get("result_code") != "SUCCESS":
        # Includes ORDERNOTEXIST: the micropay may still be on its way, so not yet a failure. A refused
        # sub-merchant stays UNKNOWN too: a query proves nothing about a payment made before the refusal.
        return ChannelResult(Outcome.UNKNOWN, message=sub_merchant_refusal(answer) or _describe(answer), raw=raw)
    state = answer.get("trade_state", "")
    outcome, reason = TRADE_STATES.get(state, (Outcome.UNKNOWN, None))
    return ChannelResult(outcome, reason=reason, message=answer.get("trade_state_desc") or None,
                         channel_trade_no=answer.get("transaction_id") or None, raw=raw)


def interpret_reverse(answer: Mapping[str, str]) -> CancelResult:
    raw = stripped(answer)
    message = sub_merchant_refusal(answer) or _describe(answer)
    if answer.get("return_code") != "SUCCESS":
        return CancelResult(cancelled=False, message=message, raw=raw)
    if answer.get("result_code") == "SUCCESS":
        return CancelResult(cancelled=True, message=message, raw=raw)
    if answer.get("recall") == "Y":
        return CancelResult(cancelled=False, retry=True, message=message, raw=raw)
    if answer.get("err_code") == "ORDERNOTEXIST":
        # The micropay never reached WeChat: nothing to take back.
        return CancelResult(cancelled=True, message=message, raw=raw)
    return CancelResult(cancelled=False, message=message, raw=raw)


# C2B, refunds and bills: unifiedorder (NATIVE / JSAPI), closeorder, refund, refundquery, downloadbill.

UNIFIEDORDER_PATH = "/pay/unifiedorder"
CLOSEORDER_PATH = "/pay/closeorder"
REFUND_PATH = "/secapi/pay/refund"
REFUNDQUERY_PATH = "/pay/refundquery"
DOWNLOADBILL_PATH = "/pay/downloadbill"



def unifiedorder_request(*, appid: str, mch_id: str, trade_no: str, amount_fen: int, body: str, trade_type: str,
                         spbill_create_ip: str, notify_url: str, expire_s: int, openid: str = "",
                         now: datetime.datetime | None = None, merchant: SubMerchant | None = None,
                         sub_openid: bool | None = None) -> dict[str, str]:
    """`openid` is the JSAPI payer. `sub_openid`: it was got under the shop's own sub_appid, so it goes as
    sub_openid ("openid和sub_openid可以选传其中之一，如果选择传sub_openid,则必须传sub_appid", WeChat Pay's
    service-provider unifiedorder page); None: whenever the shop has a sub_appid."""
    now = (now or datetime.datetime.now(CHINA)).astimezone(CHINA)
    if sub_openid is None:
        sub_openid = merchant is not None and bool(merchant.app_id)
    payer = "sub_openid" if sub_openid else "openid"
    return {
        **ids(appid, mch_id, merchant), "nonce_str": nonce_str(), "body": body, "out_trade_no": trade_no,
        "total_fee": total_fee_of(amount_fen), "spbill_create_ip": spbill_create_ip, "notify_url": notify_url,
        "trade_type": trade_type, payer: openid, "product_id": trade_no if trade_type == "NATIVE" else "",
        # WeChat wants at least a minute between time_start and time_expire.
        "time_start": now.strftime("%Y%m%d%H%M%S"),
        "time_expire": (now + datetime.timedelta(seconds=max(60, expire_s))).strftime("%Y%m%d%H%M%S"),
    }


def closeorder_request(*, appid: str, mch_id: str, trade_no: str, merchant: SubMerchant | None = None
                       ) -> dict[str, str]:
    return {**ids(appid, mch_id, merchant), "out_trade_no": trade_no, "nonce_str": nonce_str()}


def refund_request(*, appid: str, mch_id: str, trade_no: str, refund_no: str, total_fen: int, refund_fen: int,
                   reason: str = "", merchant: SubMerchant | None = None) -> dict[str, str]:
    return {**ids(appid, mch_id, merchant), "nonce_str": nonce_str(), "out_trade_no": trade_no,
            "out_refund_no": refund_no, "total_fee": total_fee_of(total_fen), "refund_fee": total_fee_of(refund_fen),
            "refund_desc": reason}


def refundquery_request(*, appid: str, mch_id: str, refund_no: str, merchant: SubMerchant | None = None
                        ) -> dict[str, str]:
    return {**ids(appid, mch_id, merchant), "nonce_str": nonce_str(), "out_refund_no": refund_no}


def downloadbill_request(*, appid: str, mch_id: str, day: datetime.date, merchant: SubMerchant | None = None
                         ) -> dict[str, str]:
    """The ALL bill of `day`. With a sub-merchant: that shop's bill alone; without, a service provider gets
    every 特约商户's rows in one bill. Sources: WeChat's cloud-pay `downloadBill` page (sub_mch_id optional;
    leaving it out gets the service provider's bills of all its special merchants; read in an English
    mirror), binarywang/WxJava#569 (jsapi_sl.php chapter 9_6: sub_mch_id needed for one sub-merchant's bill)."""
    return {**ids(appid, mch_id, merchant), "nonce_str": nonce_str(), "bill_date": day.strftime("%Y%m%d"),
            "bill_type": "ALL"}


def jsapi_pay_params(*, appid: str, prepay_id: str, api_key: str, sign_type: str,
                     now: datetime.datetime | None = None) -> dict[str, str]:
    """What WeixinJSBridge getBrandWCPayRequest takes on the landing page, signed with the API key.

    `appid` is the app the payer's page runs in: the shop's sub_appid when the order was made with one (wechatpy
    `get_jsapi_params`: appId = sub_appid or appid), else the acquirer's appid; the key is always the acquirer's
    API key (service providers sign with their own key)."""
    params = {"appId": appid, "timeStamp": str(int((now or datetime.datetime.now(CHINA)).timestamp())),
              "nonceStr": nonce_str(), "package": f"prepay_id={prepay_id}", "signType": sign_type}
    params["paySign"] = signing.sign(params, api_key, sign_type)
    return params


def interpret_unifiedorder(answer: Mapping[str, str]) -> PrecreateResult:
    raw = stripped(answer)
    if answer.get("return_code") != "SUCCESS" or answer.get("result_code") != "SUCCESS":
        return PrecreateResult(ok=False, message=sub_merchant_refusal(answer) or _describe(answer), raw=raw)
    return PrecreateResult(ok=True, qr_code=answer.get("code_url") or None, raw=raw)


def interpret_closeorder(answer: Mapping[str, str]) -> CancelResult:
    raw, message = stripped(answer), _describe(answer)
    refused = sub_merchant_refusal(answer)
    if refused:
        # Asking again changes nothing; the order (if any) stays as it was.
        return CancelResult(cancelled=False, message=refused, raw=raw)
    if answer.get("return_code") != "SUCCESS":
        return CancelResult(cancelled=False, retry=True, message=message, raw=raw)
    if answer.get("result_code") == "SUCCESS" or answer.get("err_code") in ("ORDERCLOSED", "ORDERNOTEXIST"):
        return CancelResult(cancelled=True, message=message, raw=raw)
    # ORDERPAID: too late, the payer paid; SYSTEMERROR: try again.
    return CancelResult(cancelled=False, retry=answer.get("err_code") == "SYSTEMERROR", message=message, raw=raw)


_REFUND_UNKNOWN = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED"})


def interpret_refund(answer: Mapping[str, str]) -> RefundResult:
    raw, message = stripped(answer), _describe(answer)
    refused = sub_merchant_refusal(answer)
    if refused:
        return RefundResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message=refused, raw=raw)
    if answer.get("return_code") != "SUCCESS":
        return RefundResult(Outcome.UNKNOWN, message=message, raw=raw)
    if answer.get("result_code") == "SUCCESS":
        # "申请接收成功": WeChat refunds later; refundquery says when the money is back.
        return RefundResult(Outcome.WAITING, channel_refund_no=answer.get("refund_id") or None, message=message,
                            raw=raw)
    if answer.get("err_code") in _REFUND_UNKNOWN:
        return RefundResult(Outcome.UNKNOWN, message=message, raw=raw)
    return RefundResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message=message, raw=raw)


_REFUND_STATUSES = {"SUCCESS": Outcome.SUCCESS, "PROCESSING": Outcome.WAITING, "CHANGE": Outcome.FAILED,
                    "REFUNDCLOSE": Outcome.FAILED}


def interpret_refundquery(answer: Mapping[str, str], refund_no: str) -> RefundResult:
    raw, message = stripped(answer), sub_merchant_refusal(answer) or _describe(answer)
    if answer.get("return_code") != "SUCCESS":
        return RefundResult(Outcome.UNKNOWN, message=message, raw=raw)
    if answer.get("result_code") != "SUCCESS":
        if answer.get("err_code") == "REFUNDNOTEXIST":
            return RefundResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message=message, raw=raw)
        return RefundResult(Outcome.UNKNOWN, message=message, raw=raw)
    # The answer lists the order's refunds as out_refund_no_$n / refund_status_$n.
    for n in range(int(answer.get("refund_count", "0") or 0)):
        if answer.get(f"out_refund_no_{n}") == refund_no:
            outcome = _REFUND_STATUSES.get(answer.get(f"refund_status_{n}", ""), Outcome.UNKNOWN)
            reason = Reason.CHANNEL_DECLINED if outcome is Outcome.FAILED else None
            return RefundResult(outcome, reason=reason, channel_refund_no=answer.get(f"refund_id_{n}"), raw=raw)
    return RefundResult(Outcome.UNKNOWN, message="refund not listed", raw=raw)
