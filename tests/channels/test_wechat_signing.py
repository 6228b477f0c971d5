"""WeChat v2 signatures: WeChat's own published example, and the rules around it."""
import pytest

from server.channels.wechat import signing

# From WeChat Pay's signature documentation (shared/reference/channels.md section 2).
EXAMPLE = {"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "device_info": "1000", "body": "test",
           "nonce_str": "ibuaiVcKdpRxkhJA"}
EXAMPLE_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_official_string_to_sign():
    assert signing.string_to_sign(EXAMPLE, EXAMPLE_KEY) == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        "&key=192006250b4c09247ec02edce69f6a2d")


def test_official_md5_vector():
    assert signing.sign(EXAMPLE, EXAMPLE_KEY, signing.MD5) == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_official_hmac_sha256_vector():
    assert signing.sign(EXAMPLE, EXAMPLE_KEY, signing.HMAC_SHA256) == (
        "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6")


def test_sign_and_empty_values_are_left_out():
    with_extras = {**EXAMPLE, "sign": "WHATEVER", "attach": ""}
    assert signing.sign(with_extras, EXAMPLE_KEY) == "9A0A8659F005D6984697E2CA0A9CF3B7"


@pytest.mark.parametrize("sign_type", [signing.MD5, signing.HMAC_SHA256])
def test_verification(sign_type):
    signed = {**EXAMPLE, "sign": signing.sign(EXAMPLE, EXAMPLE_KEY, sign_type)}
    assert signing.signature_valid(signed, EXAMPLE_KEY, sign_type)
    assert not signing.signature_valid({**signed, "body": "tesT"}, EXAMPLE_KEY, sign_type)
    assert not signing.signature_valid(signed, EXAMPLE_KEY[:-1] + "e", sign_type)
    assert not signing.signature_valid({**EXAMPLE}, EXAMPLE_KEY, sign_type)
    assert not signing.signature_valid({**signed, "sign": "签名"}, EXAMPLE_KEY, sign_type)


def test_unknown_sign_type():
    with pytest.raises(ValueError):
        signing.sign(EXAMPLE, EXAMPLE_KEY, "SHA1")
    assert not signing.signature_valid({**EXAMPLE, "sign": "X"}, EXAMPLE_KEY, "SHA1")
