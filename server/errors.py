"""Refusals of the device API: an HTTP status and a stable code (docs/device-api.md section 3)."""
from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def malformed_body(message: str) -> ApiError:
    return ApiError(400, "malformed_body", message)


def invalid_field(message: str) -> ApiError:
    return ApiError(400, "invalid_field", message)


def invalid_amount(message: str) -> ApiError:
    return ApiError(400, "invalid_amount", message)


def invalid_auth_code(message: str) -> ApiError:
    return ApiError(400, "invalid_auth_code", message)


def unsupported_code(message: str) -> ApiError:
    return ApiError(400, "unsupported_code", message)


def missing_auth(message: str) -> ApiError:
    return ApiError(401, "missing_auth", message)


def unknown_device(message: str = "no such device") -> ApiError:
    return ApiError(401, "unknown_device", message)


def stale_timestamp(message: str) -> ApiError:
    return ApiError(401, "stale_timestamp", message)


def nonce_reused(message: str = "nonce seen before") -> ApiError:
    return ApiError(401, "nonce_reused", message)


def bad_signature(message: str = "signature does not match") -> ApiError:
    return ApiError(401, "bad_signature", message)


def device_disabled(message: str = "device is disabled") -> ApiError:
    return ApiError(403, "device_disabled", message)


def device_decommissioned(message: str = "device is decommissioned") -> ApiError:
    return ApiError(403, "device_decommissioned", message)


def device_not_installed(message: str = "device is not installed at a store") -> ApiError:
    return ApiError(403, "device_not_installed", message)


def device_moved(message: str = "device was seen away from its store; an operator must clear it") -> ApiError:
    return ApiError(403, "device_moved", message)


def device_cloned(message: str = "device key is used by more than one device; an operator must clear it") -> ApiError:
    return ApiError(403, "device_cloned", message)


def order_not_found(message: str = "no such order") -> ApiError:
    return ApiError(404, "order_not_found", message)


def unknown_op(message: str) -> ApiError:
    return ApiError(404, "unknown_op", message)


def order_conflict(message: str) -> ApiError:
    return ApiError(409, "order_conflict", message)


def body_too_large(message: str) -> ApiError:
    return ApiError(413, "body_too_large", message)


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "unsupported_media_type", message)


def amount_below_minimum(message: str) -> ApiError:
    return ApiError(400, "amount_below_minimum", message)


def activation_code_unknown(message: str = "no such activation code") -> ApiError:
    return ApiError(401, "activation_code_unknown", message)


def activation_code_used(message: str = "the activation code was used already") -> ApiError:
    return ApiError(401, "activation_code_used", message)


def activation_code_expired(message: str = "the activation code has expired") -> ApiError:
    return ApiError(401, "activation_code_expired", message)


def device_not_activated(message: str = "the device has not been activated") -> ApiError:
    return ApiError(403, "device_not_activated", message)


def daily_limit_exceeded(message: str) -> ApiError:
    return ApiError(403, "daily_limit_exceeded", message)


def order_paid(message: str) -> ApiError:
    return ApiError(409, "order_paid", message)


def refund_conflict(message: str) -> ApiError:
    return ApiError(409, "refund_conflict", message)


# Refusals of `refund` that carry their code from the payments layer.
_REFUND_STATUS = {"order_not_paid": 409, "refund_exceeds_amount": 409, "refund_unsupported": 501,
                  "channel_unavailable": 503}


def refund_refused(code: str, message: str) -> ApiError:
    return ApiError(_REFUND_STATUS[code], code, message)


def channel_not_open(message: str) -> ApiError:
    return ApiError(403, "channel_not_open", message)


def request_timeout(message: str) -> ApiError:
    return ApiError(408, "request_timeout", message)


def merchant_not_active(message: str) -> ApiError:
    return ApiError(403, "merchant_not_active", message)


def rate_limited(message: str) -> ApiError:
    return ApiError(429, "rate_limited", message)
