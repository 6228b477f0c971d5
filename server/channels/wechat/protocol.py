"""WeChat Pay v2 (micropay, orderquery, reverse, unifiedorder, closeorder, refund, bills) as pure functions.

Requests are built here, answers interpreted here into the normalised results; the adapter only
moves bytes. Money crosses the boundary in `total_fee_of`.
"""
from __future__ import annotations

import datetime
import secrets
from collections.abc import Mapping

from .. import CancelResult, ChannelResult, Outcome, PrecreateResult, Reason, RefundResult
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


def micropay_request(*, appid: str, mch_id: str, trade_no: str, amount_fen: int, auth_code: str, body: str,
                     spbill_create_ip: str, device_info: str = "") -> dict[str, str]:
    return {
        "appid": appid, "mch_id": mch_id, "nonce_str": nonce_str(), "body": body,
        "out_trade_no": trade_no, "total_fee": total_fee_of(amount_fen),
        "spbill_create_ip": spbill_create_ip, "auth_code": auth_code, "device_info": device_info,
    }


def orderquery_request(*, appid: str, mch_id: str, trade_no: str) -> dict[str, str]:
    return {"appid": appid, "mch_id": mch_id, "out_trade_no": trade_no, "nonce_str": nonce_str()}


def reverse_request(*, appid: str, mch_id: str, trade_no: str) -> dict[str, str]:
    return {"appid": appid, "mch_id": mch_id, "out_trade_no": trade_no, "nonce_str": nonce_str()}


def stripped(answer: Mapping[str, str]) -> dict[str, str]:
    """The answer as stored in the order's journal: no signature, no payment code."""
    return {k: v for k, v in answer.items() if k not in ("sign", "auth_code")}


def _describe(answer: Mapping[str, str]) -> str | None:
    return answer.get("err_code_des") or answer.get("return_msg") or None


def interpret_micropay(answer: Mapping[str, str]) -> ChannelResult:
    raw = stripped(answer)
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
        # Includes ORDERNOTEXIST: the micropay may still be on its way, so not yet a failure.
        return ChannelResult(Outcome.UNKNOWN, message=_describe(answer), raw=raw)
    state = answer.get("trade_state", "")
    outcome, reason = TRADE_STATES.get(state, (Outcome.UNKNOWN, None))
    return ChannelResult(outcome, reason=reason, message=answer.get("trade_state_desc") or None,
                         channel_trade_no=answer.get("transaction_id") or None, raw=raw)


def interpret_reverse(answer: Mapping[str, str]) -> CancelResult:
    raw = stripped(answer)
    message = _describe(answer)
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

CHINA = datetime.timezone(datetime.timedelta(hours=8))   # WeChat's times are Beijing time; no DST


def unifiedorder_request(*, appid: str, mch_id: str, trade_no: str, amount_fen: int, body: str, trade_type: str,
                         spbill_create_ip: str, notify_url: str, expire_s: int, openid: str = "",
                         now: datetime.datetime | None = None) -> dict[str, str]:
    now = (now or datetime.datetime.now(CHINA)).astimezone(CHINA)
    return {
        "appid": appid, "mch_id": mch_id, "nonce_str": nonce_str(), "body": body, "out_trade_no": trade_no,
        "total_fee": total_fee_of(amount_fen), "spbill_create_ip": spbill_create_ip, "notify_url": notify_url,
        "trade_type": trade_type, "openid": openid, "product_id": trade_no if trade_type == "NATIVE" else "",
        # WeChat wants at least a minute between time_start and time_expire.
        "time_start": now.strftime("%Y%m%d%H%M%S"),
        "time_expire": (now + datetime.timedelta(seconds=max(60, expire_s))).strftime("%Y%m%d%H%M%S"),
    }


def closeorder_request(*, appid: str, mch_id: str, trade_no: str) -> dict[str, str]:
    return {"appid": appid, "mch_id": mch_id, "out_trade_no": trade_no, "nonce_str": nonce_str()}


def refund_request(*, appid: str, mch_id: str, trade_no: str, refund_no: str, total_fen: int, refund_fen: int,
                   reason: str = "") -> dict[str, str]:
    return {"appid": appid, "mch_id": mch_id, "nonce_str": nonce_str(), "out_trade_no": trade_no,
            "out_refund_no": refund_no, "total_fee": total_fee_of(total_fen), "refund_fee": total_fee_of(refund_fen),
            "refund_desc": reason}


def refundquery_request(*, appid: str, mch_id: str, refund_no: str) -> dict[str, str]:
    return {"appid": appid, "mch_id": mch_id, "nonce_str": nonce_str(), "out_refund_no": refund_no}


def downloadbill_request(*, appid: str, mch_id: str, day: datetime.date) -> dict[str, str]:
    return {"appid": appid, "mch_id": mch_id, "nonce_str": nonce_str(), "bill_date": day.strftime("%Y%m%d"),
            "bill_type": "ALL"}


def jsapi_pay_params(*, appid: str, prepay_id: str, api_key: str, sign_type: str,
                     now: datetime.datetime | None = None) -> dict[str, str]:
    """What WeixinJSBridge getBrandWCPayRequest takes on the landing page, signed with the API key."""
    params = {"appId": appid, "timeStamp": str(int((now or datetime.datetime.now(CHINA)).timestamp())),
              "nonceStr": nonce_str(), "package": f"prepay_id={prepay_id}", "signType": sign_type}
    params["paySign"] = signing.sign(params, api_key, sign_type)
    return params


def interpret_unifiedorder(answer: Mapping[str, str]) -> PrecreateResult:
    raw = stripped(answer)
    if answer.get("return_code") != "SUCCESS" or answer.get("result_code") != "SUCCESS":
        return PrecreateResult(ok=False, message=_describe(answer), raw=raw)
    return PrecreateResult(ok=True, qr_code=answer.get("code_url") or None, raw=raw)


def interpret_closeorder(answer: Mapping[str, str]) -> CancelResult:
    raw, message = stripped(answer), _describe(answer)
    if answer.get("return_code") != "SUCCESS":
        return CancelResult(cancelled=False, retry=True, message=message, raw=raw)
    if answer.get("result_code") == "SUCCESS" or answer.get("err_code") in ("ORDERCLOSED", "ORDERNOTEXIST"):
        return CancelResult(cancelled=True, message=message, raw=raw)
    # ORDERPAID: too late, the payer paid; SYSTEMERROR: try again.
    return CancelResult(cancelled=False, retry=answer.get("err_code") == "SYSTEMERROR", message=message, raw=raw)


_REFUND_UNKNOWN = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED"})


def interpret_refund(answer: Mapping[str, str]) -> RefundResult:
    raw, message = stripped(answer), _describe(answer)
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
    raw, message = stripped(answer), _describe(answer)
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
