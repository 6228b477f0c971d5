"""UnionPay QR (acquirer side) messages as pure functions over plain dicts.

Where each fact comes from:
  - reqType codes, version 1.0.0, the fields qrNo, txnAmt (fen), currencyCode 156, termId, merCatCode,
    orderNo, orderTime, qrValidTime, origOrderNo: UnionPay QR acquirer code in public repositories
    (reference/channels.md section 4; a Java B2C consume sender, a notification handler listing the
    reqTypes, a QR notification test message). Not the official spec: confirm before going live.
  - respCode "00" success; "03" / "04" / "05" = timed out / state unknown / accepted, ask later; "34" = no
    such transaction: UnionPay's acp answer-code conventions, used by the QR messages too (inferred).
  - The failure codes below (51 insufficient funds, 54 code expired, 94 code used, 12/30 invalid) follow
    ISO 8583 field 39, which UnionPay's codes descend from: INFERRED, to be checked against the spec.
  - A status query answers with the original transaction's result in origRespCode (seen in public code);
    "RV" for a consume that was reversed or cancelled is this project's convention (INFERRED).
  - Merchants: each message names the merchant whose money it moves by its own `merId`, under the acquirer's
    institution code (`acqCode`, UnionPay's acqInsCode); in service-provider mode that is the shop's merId,
    otherwise the one configured. Answers echo merId (acp practice, INFERRED for the QR messages): an answer
    naming another merchant than asked is not trusted (`other_merchant`). A merId UnionPay does not know, or
    one not allowed the transaction, is refused with acp's 31 (商户状态不正确) or 32 (无此交易权限), acp
    answer-code tables as public acp code copies them (INFERRED for QR: UnionPay International's QR API
    answers 03 "Invalid Merchant" instead); nothing was charged.
Naming: UnionPay calls the payer's payment code a "C2B code" even though the merchant scans it; this
project names things by who scans whom: B2C = the merchant scans the payer (consume), C2B = the payer
scans the merchant's code (code application).
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

from ...days import CHINA   # the channels' times are Beijing time
from .. import CancelResult, ChannelResult, Outcome, PrecreateResult, Reason, RefundResult

VERSION = "1.0.0"
CURRENCY_CNY = "156"

CONSUME = "0310000903"       # B2C consume: the merchant scanned the payer's code
REVERSAL = "0320000903"      # 冲正: undo a consume whose outcome we do not know (or that we gave up on)
CANCEL = "0330000903"        # 撤销: undo a successful consume on the same day
REFUND = "0340000903"        # 退货
QUERY = "0350000903"         # status query of any of the above by its orderNo
C2B_APPLY = "0510000903"     # C2B: apply for a one-time code for an amount

# C2B by a UnionPay app on the acquirer's own code (docs/c2b.md "UnionPay"): the app's user authorisation
# (userAuth → userAuthCode), the payer's userId for it, then an order for that userId answered with UnionPay's
# cashier URL. What is public (acquirers' pages re-selling UnionPay's "银联JS支付": cloudpnr 获取银联用户标识,
# ysepay 银联行业码获取用户标识, allinpay authcodetouserid, haipay getUserId): userAuthCode in, userId out, with
# appUpIdentifier, the payer's app as its User-Agent names it ("UnionPay/1.0 CloudPay"; CloudPay when absent).
# INFERRED, to be replaced from UnionPay's acquirer spec: the two reqType values below (this project's
# placeholders), the userAuth URL path, respCode on the way back, and the cashier URL field redirectUrl.
USER_ID = "0520000903"       # INFERRED placeholder: userAuthCode -> userId
JS_ORDER = "0530000903"      # INFERRED placeholder: an order for a userId -> the cashier URL (redirectUrl)
USER_AUTH_PATH = "/qrcGtwWeb-web/api/userAuth"   # INFERRED

SUCCESS_CODE = "00"
UNKNOWN_CODES = frozenset({"03", "04"})
PENDING_CODE = "05"          # accepted, result later: the payer may be typing a password
NOT_FOUND_CODE = "34"
REVERSED_CODE = "RV"

MERCHANT_REFUSED_CODES = frozenset({"31", "32"})   # 商户状态不正确, 无此交易权限: the merId refused

FAILURE_REASONS = {
    "31": Reason.CHANNEL_DECLINED,
    "32": Reason.CHANNEL_DECLINED,
    "51": Reason.INSUFFICIENT_FUNDS,
    "54": Reason.CODE_EXPIRED,
    "94": Reason.CODE_USED,
    "12": Reason.CODE_INVALID,
    "30": Reason.CHANNEL_DECLINED,
    "61": Reason.CHANNEL_DECLINED,   # over the payer's limit
    REVERSED_CODE: Reason.TIMEOUT,
}

_TRADE_NO_TIME = re.compile(r"^SP(\d{14})")


def txn_amt_of(amount_fen: int) -> str:
    """Our fen -> UnionPay txnAmt (fen as decimal text)."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValueError(f"amount_fen must be a positive integer, not {amount_fen!r}")
    return str(amount_fen)


def amount_fen_of(txn_amt: str) -> int:
    if not (txn_amt.isascii() and txn_amt.isdigit()):
        raise ValueError(f"txnAmt must be digits, not {txn_amt!r}")
    return int(txn_amt)


def order_time_of(trade_no: str, now: datetime.datetime | None = None) -> str:
    """orderTime (yyyyMMddHHmmss, Beijing time) of our order: queries and reversals must repeat it.

    Our trade numbers carry their UTC creation time (server.clock.new_trade_no), so it is derived, not
    stored; other numbers get the current time.
    """
    match = _TRADE_NO_TIME.match(trade_no)
    if match:
        utc = datetime.datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=datetime.timezone.utc)
        return utc.astimezone(CHINA).strftime("%Y%m%d%H%M%S")
    return (now or datetime.datetime.now(CHINA)).astimezone(CHINA).strftime("%Y%m%d%H%M%S")


def now_text() -> str:
    return datetime.datetime.now(CHINA).strftime("%Y%m%d%H%M%S")


def base(req_type: str, *, acq_code: str, mer_id: str) -> dict[str, str]:
    return {"version": VERSION, "reqType": req_type, "acqCode": acq_code, "merId": mer_id}


def consume_request(*, acq_code: str, mer_id: str, mer_cat_code: str, mer_name: str, term_id: str, trade_no: str,
                    amount_fen: int, qr_no: str) -> dict[str, str]:
    return {**base(CONSUME, acq_code=acq_code, mer_id=mer_id), "merCatCode": mer_cat_code, "merName": mer_name,
            "termId": term_id, "qrNo": qr_no, "currencyCode": CURRENCY_CNY, "txnAmt": txn_amt_of(amount_fen),
            "orderNo": trade_no, "orderTime": order_time_of(trade_no)}


def query_request(*, acq_code: str, mer_id: str, order_no: str) -> dict[str, str]:
    return {**base(QUERY, acq_code=acq_code, mer_id=mer_id), "orderNo": order_no,
            "orderTime": order_time_of(order_no)}


def undo_request(req_type: str, *, acq_code: str, mer_id: str, order_no: str, orig_trade_no: str,
                 amount_fen: int | None = None) -> dict[str, str]:
    """Reversal, cancel or refund of `orig_trade_no`, itself numbered `order_no`."""
    request = {**base(req_type, acq_code=acq_code, mer_id=mer_id), "orderNo": order_no, "orderTime": now_text(),
               "origOrderNo": orig_trade_no, "origOrderTime": order_time_of(orig_trade_no)}
    if amount_fen is not None:
        request["txnAmt"] = txn_amt_of(amount_fen)
        request["currencyCode"] = CURRENCY_CNY
    return request


def c2b_request(*, acq_code: str, mer_id: str, mer_cat_code: str, mer_name: str, term_id: str, trade_no: str,
                amount_fen: int, valid_s: int) -> dict[str, str]:
    return {**base(C2B_APPLY, acq_code=acq_code, mer_id=mer_id), "merCatCode": mer_cat_code, "merName": mer_name,
            "termId": term_id, "currencyCode": CURRENCY_CNY, "txnAmt": txn_amt_of(amount_fen), "orderNo": trade_no,
            "orderTime": order_time_of(trade_no), "qrValidTime": str(max(60, valid_s))}


_APP_UP = re.compile(r"UnionPay/[0-9.]{1,8} [0-9A-Za-z]{1,32}", re.ASCII)


def app_up_identifier(user_agent: str) -> str:
    """The payer's UnionPay app as its User-Agent names it ("UnionPay/1.0 CloudPay", "UnionPay/1.0 CCBLoongPay")."""
    found = _APP_UP.search(user_agent or "")
    return found.group(0) if found else "UnionPay/1.0 CloudPay"


def user_id_request(*, acq_code: str, mer_id: str, order_no: str, user_auth_code: str, app_up: str
                    ) -> dict[str, str]:
    return {**base(USER_ID, acq_code=acq_code, mer_id=mer_id), "orderNo": order_no, "orderTime": now_text(),
            "userAuthCode": user_auth_code, "appUpIdentifier": app_up}


def js_order_request(*, acq_code: str, mer_id: str, mer_cat_code: str, mer_name: str, term_id: str, trade_no: str,
                     amount_fen: int, valid_s: int, user_id: str, front_url: str, back_url: str) -> dict[str, str]:
    return {**c2b_request(acq_code=acq_code, mer_id=mer_id, mer_cat_code=mer_cat_code, mer_name=mer_name,
                          term_id=term_id, trade_no=trade_no, amount_fen=amount_fen, valid_s=valid_s),
            "reqType": JS_ORDER, "userId": user_id, "frontUrl": front_url, "backUrl": back_url}


def interpret_js_order(answer: Mapping[str, str]) -> PrecreateResult:
    url = answer.get("redirectUrl") or ""
    if answer.get("respCode") == SUCCESS_CODE and url.startswith(("https://", "http://")):
        return PrecreateResult(ok=True, pay_params={"redirectUrl": url}, raw=stripped(answer))
    return PrecreateResult(ok=False, message=_describe(answer), raw=stripped(answer))


def stripped(answer: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in answer.items() if k not in ("signature", "qrNo", "certId", "userId", "userAuthCode")}


def merchant_refusal(answer: Mapping[str, str]) -> str | None:
    """A clear message when UnionPay refused the merchant the message named (its merId), else None."""
    code = answer.get("respCode", "")
    if code not in MERCHANT_REFUSED_CODES:
        return None
    who = f"merchant {answer['merId']}" if answer.get("merId") else "the merchant's merId"
    return f"UnionPay refused {who}: {answer.get('respMsg') or 'merchant refused'} ({code})"


def other_merchant(answer: Mapping[str, str], asked_mer_id: str) -> str | None:
    """The merId an answer names when it is not the one the message asked for (None: it is, or names none)."""
    named = answer.get("merId") or ""
    return named if named and named != asked_mer_id else None


def _describe(answer: Mapping[str, str]) -> str | None:
    return merchant_refusal(answer) or answer.get("respMsg") or None


def _by_code(code: str, answer: Mapping[str, str], *, pending: Outcome) -> ChannelResult:
    raw = stripped(answer)
    if code == SUCCESS_CODE:
        return ChannelResult(Outcome.SUCCESS, channel_trade_no=answer.get("voucherNum") or None,
                             message=_describe(answer), raw=raw)
    if code == PENDING_CODE:
        return ChannelResult(pending, message=_describe(answer), raw=raw)
    reason = FAILURE_REASONS.get(code)
    if reason is not None:
        return ChannelResult(Outcome.FAILED, reason=reason, message=_describe(answer), raw=raw)
    return ChannelResult(Outcome.UNKNOWN, message=_describe(answer), raw=raw)


def interpret_consume(answer: Mapping[str, str]) -> ChannelResult:
    return _by_code(answer.get("respCode", ""), answer, pending=Outcome.WAITING)


def interpret_query(answer: Mapping[str, str]) -> ChannelResult:
    if answer.get("respCode") != SUCCESS_CODE:
        # 34 (no such transaction) included: the consume may still be on its way.
        return ChannelResult(Outcome.UNKNOWN, message=_describe(answer), raw=stripped(answer))
    original = answer.get("origRespCode", "")
    if original in UNKNOWN_CODES:
        return ChannelResult(Outcome.WAITING, message=answer.get("origRespMsg"), raw=stripped(answer))
    return _by_code(original, {**answer, "respMsg": answer.get("origRespMsg") or answer.get("respMsg", "")},
                    pending=Outcome.WAITING)


def interpret_undo(answer: Mapping[str, str]) -> CancelResult:
    raw, message, code = stripped(answer), _describe(answer), answer.get("respCode", "")
    if code in (SUCCESS_CODE, NOT_FOUND_CODE):     # undone, or it never reached UnionPay
        return CancelResult(cancelled=True, message=message, raw=raw)
    return CancelResult(cancelled=False, retry=code in UNKNOWN_CODES or code == PENDING_CODE, message=message,
                        raw=raw)


def interpret_c2b(answer: Mapping[str, str]) -> PrecreateResult:
    if answer.get("respCode") == SUCCESS_CODE and answer.get("qrCode"):
        return PrecreateResult(ok=True, qr_code=answer["qrCode"], raw=stripped(answer))
    return PrecreateResult(ok=False, message=_describe(answer), raw=stripped(answer))


def interpret_refund(answer: Mapping[str, str]) -> RefundResult:
    code, raw, message = answer.get("respCode", ""), stripped(answer), _describe(answer)
    if code == SUCCESS_CODE:
        return RefundResult(Outcome.SUCCESS, channel_refund_no=answer.get("voucherNum"), message=message, raw=raw)
    if code == PENDING_CODE:
        return RefundResult(Outcome.WAITING, message=message, raw=raw)
    if code in UNKNOWN_CODES or not code:
        return RefundResult(Outcome.UNKNOWN, message=message, raw=raw)
    return RefundResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message=message, raw=raw)


def interpret_refund_query(answer: Mapping[str, str]) -> RefundResult:
    if answer.get("respCode") == NOT_FOUND_CODE:
        return RefundResult(Outcome.FAILED, reason=Reason.CHANNEL_DECLINED, message="no such refund",
                            raw=stripped(answer))
    if answer.get("respCode") != SUCCESS_CODE:
        return RefundResult(Outcome.UNKNOWN, message=_describe(answer), raw=stripped(answer))
    return interpret_refund({**answer, "respCode": answer.get("origRespCode", ""),
                             "respMsg": answer.get("origRespMsg", "")})
