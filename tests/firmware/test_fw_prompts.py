"""Voice prompts: every failure reason and every error a device can get from the server (as listed in
docs/device-api.md) has words a cashier understands; nothing is ever silent or read out as a code."""
import pathlib
import re

import pytest

from core import texts

DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "device-api.md").read_text()
# errors a device in service cannot get from its own ops, or that only the provisioning tool sees
NOT_FOR_THE_TILL = {"missing_auth", "stale_timestamp", "nonce_reused", "unknown_op", "not_found",
                    "method_not_allowed", "body_too_large", "unsupported_media_type", "malformed_body",
                    "invalid_field", "activation_code_unknown", "activation_code_used",
                    "activation_code_expired", "order_conflict", "internal_error", "order_paid",
                    "order_not_paid", "refund_exceeds_amount", "refund_conflict", "rate_limited"}


def documented_errors():
    return set(re.findall(r"^\| \d{3} \| `([a-z_]+)` \|", DOC, re.M))


def documented_reasons():
    section = DOC[DOC.index("Failure reasons:"):]
    section = section[:section.index("\n\n")]
    return set(re.findall(r"`([a-z_]+)`", section)) - {"FAILED", "CLOSED", "close"}   # close: the op


def test_every_documented_reason_has_its_own_words():
    reasons = documented_reasons()
    assert {"insufficient_funds", "payer_cancelled", "timeout"} <= reasons
    for reason in reasons - {"channel_declined"}:
        spoken = texts.result_text({"status": "FAILED", "reason": reason})
        assert spoken != texts.SAY_FAILED and re.search(r"[\u4e00-\u9fff]", spoken), reason
    assert texts.result_text({"status": "FAILED", "reason": "channel_declined"}) == texts.SAY_FAILED


def test_every_error_a_till_can_meet_has_its_own_words():
    errors = documented_errors()
    assert "daily_limit_exceeded" in errors and "unsupported_code" in errors
    for code in errors - NOT_FOR_THE_TILL:
        assert code in texts.ERROR_TEXTS, code
        assert re.search(r"[\u4e00-\u9fff]", texts.ERROR_TEXTS[code])


@pytest.mark.parametrize("text", [texts.SAY_NETWORK, texts.SAY_UNSUPPORTED, texts.SAY_AMOUNT_INVALID,
                                  texts.REASON_TEXTS["payer_cancelled"], texts.SAY_DAILY_LIMIT, texts.SAY_SCAN_TIMEOUT,
                                  texts.SAY_BATTERY_LOW, texts.SAY_ORDER_NOT_FOUND])
def test_prompts_fit_one_syn6288_frame(text):
    from drivers.voice import syn6288_frame
    assert len(syn6288_frame(text)) < 200


@pytest.mark.parametrize("order, spoken", [
    ({"status": "REFUNDED", "channel": "wechat", "amount_fen": 1250, "refunded_fen": 1250}, "已退款 12.50 元"),
    ({"status": "SUCCESS", "channel": "alipay", "amount_fen": 1250, "refunded_fen": 500},
     "支付宝收款 12.50 元，已退款 5.00 元"),
    ({"status": "SUCCESS", "channel": "wechat", "amount_fen": 1250, "refunded_fen": 0}, "微信收款 12.50 元"),
])
def test_a_refunded_order_is_never_announced_as_money_received(order, spoken):
    assert texts.result_text(order) == spoken       # every device says it so: test_fw_refunded.py

