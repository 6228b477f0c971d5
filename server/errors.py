"""Refusals of the device API: an HTTP status, a stable code (docs/device-api.md section 3, docs/openapi.yaml's
ErrorCode) and its words in Chinese and English, one table, and `refusal` building the error a view raises."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Refusal:
    status: int
    zh: str   # what the code means in Chinese: the answer's message starts with it
    en: str   # the same in English: what follows it when the refusal gives no detail of its own


REFUSALS: Mapping[str, Refusal] = {
    # the request itself
    "malformed_body": Refusal(400, "请求体无法解析", "the body is not valid CBOR or JSON"),
    "invalid_field": Refusal(400, "字段缺失或格式不对", "a field is missing or malformed"),
    "invalid_amount": Refusal(400, "金额不对", "amount_fen is not a valid amount"),
    "amount_below_minimum": Refusal(400, "金额低于单笔下限", "amount_fen is below the minimum"),
    "invalid_auth_code": Refusal(400, "付款码格式不对", "auth_code must be 10-32 digits"),
    "unsupported_code": Refusal(400, "不支持这种付款码", "no wallet this server routes takes this payment code"),
    "unknown_op": Refusal(404, "没有这个操作", "no such op"),
    "request_timeout": Refusal(408, "请求未按时送达", "the request body did not arrive in time"),
    "body_too_large": Refusal(413, "请求体太大", "the body is over the limit"),
    "unsupported_media_type": Refusal(415, "不支持的内容类型", "send application/cbor or application/json"),
    "rate_limited": Refusal(429, "请求太频繁，请稍后再试", "too many requests: try again later"),
    # who is asking
    "missing_auth": Refusal(401, "缺少签名信息", "a signing header is missing or malformed"),
    "unknown_device": Refusal(401, "设备不存在", "no such device"),
    "stale_timestamp": Refusal(401, "设备时间与服务器相差太大", "timestamp outside the window"),
    "nonce_reused": Refusal(401, "重复的请求", "nonce seen before"),
    "bad_signature": Refusal(401, "签名不对", "signature does not match"),
    "activation_code_unknown": Refusal(401, "激活码不存在", "no such activation code"),
    "activation_code_used": Refusal(401, "激活码已用过", "the activation code was used already"),
    "activation_code_expired": Refusal(401, "激活码已过期", "the activation code has expired"),
    "device_disabled": Refusal(403, "设备已停用", "device is disabled"),
    "device_decommissioned": Refusal(403, "设备已退役", "device is decommissioned"),
    "device_not_installed": Refusal(403, "设备尚未安装到门店", "device is not installed at a store"),
    "device_moved": Refusal(403, "设备离开了所在门店，需运营人员处理",
                            "device was seen away from its store; an operator must clear it"),
    "device_cloned": Refusal(403, "设备密钥被多台设备使用，需运营人员处理",
                             "device key is used by more than one device; an operator must clear it"),
    "device_not_activated": Refusal(403, "设备尚未激活", "the device has not been activated"),
    # the payment
    "merchant_not_active": Refusal(403, "商户已暂停收款", "the merchant takes no payments"),
    "channel_not_open": Refusal(403, "本店未开通这种付款方式", "this shop does not take this wallet"),
    "daily_limit_exceeded": Refusal(403, "超出商户当日收款上限", "the merchant's daily cap would be exceeded"),
    "order_not_found": Refusal(404, "订单不存在", "no such order"),
    "order_conflict": Refusal(409, "订单号已用于另一笔订单", "order_no was used with different fields"),
    "order_paid": Refusal(409, "订单已付款，请退款", "the order is paid: refund it instead"),
    # refunds (the payments layer names the code: RefundImpossible)
    "refund_conflict": Refusal(409, "退款单号已用于另一笔退款", "refund_no was used with different fields"),
    "order_not_paid": Refusal(409, "订单未付款，不能退款", "the order is not paid"),
    "refund_exceeds_amount": Refusal(409, "退款金额超过可退金额", "the refund is more than is left to refund"),
    "channel_unavailable": Refusal(503, "支付渠道暂不可用", "the order's channel is not configured here"),
    # the web server's own (server/middlewares.py)
    "not_found": Refusal(404, "没有这个地址", "no such resource"),
    "method_not_allowed": Refusal(405, "不支持这种请求方法", "method not allowed"),
    "internal_error": Refusal(500, "服务器内部错误，请稍后重试", "internal server error"),
}


def refusal(code: str, detail: str | None = None) -> ApiError:
    """The error refusing a request with `code` (a key of REFUSALS). Its message is for the people behind the
    device or kiosk, Chinese first: the code's Chinese words, then `detail` or the code's English words
    ("金额不对 / amount_fen must be positive")."""
    row = REFUSALS[code]
    return ApiError(row.status, code, f"{row.zh} / {detail or row.en}")
