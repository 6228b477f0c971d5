"""Alipay RSA2 and money conversion, checked against the independent python-alipay-sdk package."""
import json

import pytest
from alipay import AliPay

from hw_sim.sandbox import keys
from server.channels.alipay import protocol, signing

APP_KEY = signing.load_private_key(keys.ALIPAY_APP_PRIVATE_KEY)
PLATFORM_KEY = signing.load_private_key(keys.ALIPAY_PLATFORM_PRIVATE_KEY)


def sdk() -> AliPay:
    # The app's private key and Alipay's public key, as a merchant configures the SDK.
    return AliPay(appid="2021000000000001", app_private_key_string=keys.ALIPAY_APP_PRIVATE_KEY,
                  alipay_public_key_string=keys.ALIPAY_PLATFORM_PUBLIC_KEY, sign_type="RSA2")


def request_params():
    return protocol.common_params(app_id="2021000000000001", method=protocol.PAY,
                                  biz_content=protocol.pay_biz(trade_no="T20261122", amount_fen=1250,
                                                               auth_code="286012345678901234", subject="茶 & 点心"))


def test_our_request_signature_equals_the_sdks():
    params = request_params()
    ours = signing.sign(params, APP_KEY)
    theirs = sdk()._sign(signing.content_to_sign(params))
    assert ours == theirs                       # PKCS#1 v1.5 is deterministic: same key, same text, same bytes
    # and the SDK's own ordering of the same parameters gives the same text
    assert "&".join(f"{k}={v}" for k, v in sdk()._ordered_data(params)) == signing.content_to_sign(params)


def test_sdk_signed_answer_verifies_with_us_and_ours_with_the_sdk():
    node_text = json.dumps({"code": "10000", "msg": "Success", "out_trade_no": "T1", "total_amount": "12.50"},
                           ensure_ascii=False, separators=(",", ":"))
    by_platform = signing.sign_text(node_text, PLATFORM_KEY)
    body = '{"alipay_trade_pay_response":%s,"sign":"%s"}' % (node_text, by_platform)
    assert sdk()._verify_and_return_sync_response(body, "alipay_trade_pay_response")["total_amount"] == "12.50"
    part = signing.signed_part(body, "alipay_trade_pay_response")
    assert part == node_text
    assert signing.verify_text(part, by_platform, signing.load_public_key(keys.ALIPAY_PLATFORM_PUBLIC_KEY))
    # a signature by anyone else (here: the app's key) does not verify
    assert not signing.verify_text(part, signing.sign_text(node_text, APP_KEY),
                                   signing.load_public_key(keys.ALIPAY_PLATFORM_PUBLIC_KEY))


def test_signed_part_keeps_the_exact_text():
    body = '{ "sign":"x", "alipay_trade_query_response" : {"a": "\\u8336", "b":[1, {"c":"}"}]} }'
    assert signing.signed_part(body, "alipay_trade_query_response") == '{"a": "\\u8336", "b":[1, {"c":"}"}]}'
    assert signing.signed_part(body, "alipay_trade_pay_response") is None


def test_bare_base64_keys_load_like_pem():
    bare = "".join(keys.ALIPAY_PLATFORM_PUBLIC_KEY.strip().splitlines()[1:-1])
    assert signing.load_public_key(bare) == signing.load_public_key(keys.ALIPAY_PLATFORM_PUBLIC_KEY)


@pytest.mark.parametrize("fen, yuan", [(1, "0.01"), (10, "0.10"), (1250, "12.50"), (100, "1.00"),
                                       (500_000, "5000.00"), (123456789, "1234567.89")])
def test_fen_to_yuan_and_back(fen, yuan):
    assert protocol.yuan_of(fen) == yuan
    assert protocol.fen_of(yuan) == fen


@pytest.mark.parametrize("yuan, fen", [("12.5", 1250), ("12", 1200), ("0.1", 10), (" 3.00 ", 300)])
def test_yuan_forms_alipay_may_send(yuan, fen):
    assert protocol.fen_of(yuan) == fen


@pytest.mark.parametrize("bad", ["12.505", "1e3", "-1.00", "", "abc", "1.2.3", "NaN", "Infinity", "１２"])
def test_bad_yuan_is_refused(bad):
    with pytest.raises(ValueError):
        protocol.fen_of(bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100"])
def test_bad_fen_is_refused(bad):
    with pytest.raises(ValueError):
        protocol.yuan_of(bad)


def test_signed_bill_amounts():
    assert protocol.signed_fen_of("-0.06") == -6 and protocol.signed_fen_of("+1.00") == 100


def test_a_request_signed_by_the_sdk_verifies_with_us():
    from urllib.parse import parse_qsl
    params = request_params()
    signed = dict(parse_qsl(sdk().sign_data(params)))
    assert signing.verify_text(signing.content_to_sign(signed), signed["sign"],
                               signing.load_public_key(keys.ALIPAY_APP_PUBLIC_KEY))
    tampered = {**signed, "biz_content": signed["biz_content"].replace("12.50", "0.01")}
    assert not signing.verify_text(signing.content_to_sign(tampered), signed["sign"],
                                   signing.load_public_key(keys.ALIPAY_APP_PUBLIC_KEY))
