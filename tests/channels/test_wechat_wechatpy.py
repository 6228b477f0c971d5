"""WeChat v2 signatures checked against the official example and the independent wechatpy package."""
import pytest
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac

from server.channels.wechat import protocol, signing

OFFICIAL_PARAMS = {"appid": "wxd930ea5d5a258f4f", "body": "test", "device_info": "1000", "mch_id": "10000100",
                   "nonce_str": "ibuaiVcKdpRxkhJA"}
OFFICIAL_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_official_example_md5_and_hmac_equal_wechatpy():
    ours_md5 = signing.sign(OFFICIAL_PARAMS, OFFICIAL_KEY, signing.MD5)
    ours_hmac = signing.sign(OFFICIAL_PARAMS, OFFICIAL_KEY, signing.HMAC_SHA256)
    assert ours_md5 == "9A0A8659F005D6984697E2CA0A9CF3B7" == calculate_signature(OFFICIAL_PARAMS, OFFICIAL_KEY)
    assert (ours_hmac == "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
            == calculate_signature_hmac(OFFICIAL_PARAMS, OFFICIAL_KEY))


@pytest.mark.parametrize("request_of", [
    lambda: protocol.micropay_request(appid="wx1", mch_id="1", trade_no="SP1", amount_fen=1250,
                                      auth_code="134567890123456789", body="茶 & <点心>", spbill_create_ip="1.2.3.4"),
    lambda: protocol.unifiedorder_request(appid="wx1", mch_id="1", trade_no="SP2", amount_fen=1, body="面",
                                          trade_type="JSAPI", spbill_create_ip="1.2.3.4",
                                          notify_url="https://pay.example/n?a=1&b=2", expire_s=300, openid="oX"),
    lambda: protocol.refund_request(appid="wx1", mch_id="1", trade_no="SP3", refund_no="RF3", total_fen=100,
                                    refund_fen=50),
])
@pytest.mark.parametrize("sign_type", [signing.MD5, signing.HMAC_SHA256])
def test_every_request_we_sign_equals_wechatpy(request_of, sign_type):
    params = protocol.signed(request_of(), OFFICIAL_KEY, sign_type)
    theirs = {k: v for k, v in params.items() if k != "sign"}
    expected = (calculate_signature if sign_type == signing.MD5 else calculate_signature_hmac)(theirs, OFFICIAL_KEY)
    assert params["sign"] == expected


def test_jsapi_pay_params_are_signed_like_wechatpy():
    params = protocol.jsapi_pay_params(appid="wx1", prepay_id="wx2026", api_key=OFFICIAL_KEY, sign_type="MD5")
    assert params["package"] == "prepay_id=wx2026"
    unsigned = {k: v for k, v in params.items() if k != "paySign"}
    assert params["paySign"] == calculate_signature(unsigned, OFFICIAL_KEY)
