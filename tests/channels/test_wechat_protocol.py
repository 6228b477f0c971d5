"""WeChat answers -> normalised results; money at the boundary."""
import pytest

from server.channels import Outcome, Reason
from server.channels.wechat import protocol


def test_total_fee_is_fen():
    assert protocol.total_fee_of(1250) == "1250"
    assert protocol.total_fee_of(1) == "1"
    assert protocol.amount_fen_of("1250") == 1250


@pytest.mark.parametrize("bad", [0, -1, 12.5, 1250.0, True, "1250", None])
def test_total_fee_refuses_non_amounts(bad):
    with pytest.raises(ValueError):
        protocol.total_fee_of(bad)


@pytest.mark.parametrize("bad", ["12.50", "-1", "", "１２"])
def test_amount_fen_of_refuses_non_digits(bad):
    with pytest.raises(ValueError):
        protocol.amount_fen_of(bad)


def micropay_answer(**fields):
    return {"return_code": "SUCCESS", "result_code": "FAIL", "sign": "S", **fields}


@pytest.mark.parametrize("err_code, outcome, reason", [
    ("USERPAYING", Outcome.WAITING, None),
    ("SYSTEMERROR", Outcome.UNKNOWN, None),
    ("BANKERROR", Outcome.UNKNOWN, None),
    ("ORDERPAID", Outcome.UNKNOWN, None),            # paid: the follow-up query fetches the transaction id
    ("SOMETHING_NEW", Outcome.UNKNOWN, None),        # unknown codes are never taken as a failure
    ("AUTHCODEEXPIRE", Outcome.FAILED, Reason.CODE_EXPIRED),
    ("NOTENOUGH", Outcome.FAILED, Reason.INSUFFICIENT_FUNDS),
    ("AUTH_CODE_INVALID", Outcome.FAILED, Reason.CODE_INVALID),
    ("ORDERREVERSED", Outcome.FAILED, Reason.TIMEOUT),
    ("NOAUTH", Outcome.FAILED, Reason.CHANNEL_DECLINED),
    ("PARAM_ERROR", Outcome.FAILED, Reason.CHANNEL_DECLINED),
])
def test_micropay_errors(err_code, outcome, reason):
    result = protocol.interpret_micropay(micropay_answer(err_code=err_code, err_code_des="words"))
    assert (result.outcome, result.reason) == (outcome, reason)
    assert result.message == "words"
    assert "sign" not in result.raw


def test_micropay_success_and_transport_failure():
    ok = protocol.interpret_micropay({"return_code": "SUCCESS", "result_code": "SUCCESS", "transaction_id": "42"})
    assert (ok.outcome, ok.channel_trade_no) == (Outcome.SUCCESS, "42")
    fail = protocol.interpret_micropay({"return_code": "FAIL", "return_msg": "签名错误"})
    assert (fail.outcome, fail.message) == (Outcome.UNKNOWN, "签名错误")


@pytest.mark.parametrize("trade_state, outcome, reason", [
    ("SUCCESS", Outcome.SUCCESS, None),
    ("REFUND", Outcome.SUCCESS, None),
    ("USERPAYING", Outcome.WAITING, None),
    ("NOTPAY", Outcome.WAITING, None),
    ("PAYERROR", Outcome.FAILED, Reason.CHANNEL_DECLINED),
    ("REVOKED", Outcome.FAILED, Reason.TIMEOUT),
    ("CLOSED", Outcome.FAILED, Reason.TIMEOUT),
    ("MYSTERY", Outcome.UNKNOWN, None),
])
def test_orderquery_trade_states(trade_state, outcome, reason):
    result = protocol.interpret_orderquery(
        {"return_code": "SUCCESS", "result_code": "SUCCESS", "trade_state": trade_state, "transaction_id": "42"})
    assert (result.outcome, result.reason) == (outcome, reason)


def test_orderquery_order_not_found_is_not_a_failure():
    result = protocol.interpret_orderquery(micropay_answer(err_code="ORDERNOTEXIST"))
    assert result.outcome is Outcome.UNKNOWN


@pytest.mark.parametrize("answer, cancelled, retry", [
    ({"return_code": "SUCCESS", "result_code": "SUCCESS", "recall": "N"}, True, False),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "SYSTEMERROR", "recall": "Y"}, False, True),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "ORDERNOTEXIST", "recall": "N"}, True, False),
    ({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "USERPAYING", "recall": "N"}, False, False),
    ({"return_code": "FAIL", "return_msg": "证书错误"}, False, False),
])
def test_reverse_answers(answer, cancelled, retry):
    result = protocol.interpret_reverse(answer)
    assert (result.cancelled, result.retry) == (cancelled, retry)


def test_signed_request_carries_sign_type_for_hmac_only():
    params = protocol.orderquery_request(appid="wx1", mch_id="1", trade_no="T1")
    assert "sign_type" not in protocol.signed(params, "k", "MD5")
    hmac_signed = protocol.signed(params, "k", "HMAC-SHA256")
    assert hmac_signed["sign_type"] == "HMAC-SHA256" and len(hmac_signed["sign"]) == 64
