"""The pure parts of paying in the wallet app (docs/c2b.md): WeChat's web authorisation answers, which field
names an Alipay payer, which app a UnionPay payer uses, the notifications' checks."""
import urllib.parse

import pytest

from hw_sim.sandbox import keys
from server.channels.alipay import notify as alipay_notify
from server.channels.alipay import protocol as alipay_protocol
from server.channels.alipay import signing as alipay_signing
from server.channels.unionpay import protocol as unionpay_protocol
from server.channels.wechat import oauth


def test_wechat_authorize_url_is_the_documented_one():
    url = oauth.authorize_url("https://open.weixin.qq.com", appid="wx1", redirect_uri="https://pay.example/c/T?auth=n",
                              state="n")
    base, _, fragment = url.partition("#")
    assert fragment == "wechat_redirect"
    parts = urllib.parse.urlsplit(base)
    assert (parts.netloc, parts.path) == ("open.weixin.qq.com", "/connect/oauth2/authorize")
    assert urllib.parse.parse_qsl(parts.query) == [("appid", "wx1"), ("redirect_uri", "https://pay.example/c/T?auth=n"),
                                                   ("response_type", "code"), ("scope", "snsapi_base"), ("state", "n")]


def test_wechat_token_answers():
    assert oauth.openid_of('{"access_token":"A","expires_in":7200,"openid":"oABC","scope":"snsapi_base"}') == "oABC"
    for text, bad_code in (('{"errcode":40029,"errmsg":"invalid code"}', True),
                           ('{"errcode":40163,"errmsg":"code been used"}', True),
                           ('{"errcode":40125,"errmsg":"invalid appsecret"}', False),
                           ('{"errcode":-1,"errmsg":"system error"}', False),
                           ("<html>", False), ("[]", False), ('{"openid": 5}', False), ('{"openid": ""}', False)):
        with pytest.raises(oauth.TokenRefused) as refused:
            oauth.openid_of(text)
        assert refused.value.bad_code is bad_code, text


def test_an_alipay_payer_is_named_by_the_field_its_id_belongs_to():
    assert alipay_protocol.buyer_field("2088102146225135") == "buyer_id"
    assert alipay_protocol.buyer_field("074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5") == "buyer_open_id"
    assert alipay_notify.buyer_of({"user_id": "2088102146225135", "open_id": "0x"}) == "2088102146225135"
    assert alipay_notify.buyer_of({"open_id": "074a1CcTG1Lelx"}) == "074a1CcTG1Lelx"
    assert alipay_notify.buyer_of({"user_id": "12345"}) is None
    biz = alipay_protocol.precreate_biz(trade_no="T1", amount_fen=100, subject="s", expire_s=60, buyer_id="0abc")
    assert biz["buyer_open_id"] == "0abc" and "buyer_id" not in biz


def _alipay_notice(fields, key_pem=keys.ALIPAY_PLATFORM_PRIVATE_KEY):
    fields = dict(fields)
    fields["sign"] = alipay_signing.sign(fields, alipay_signing.load_private_key(key_pem))
    fields["sign_type"] = "RSA2"
    return urllib.parse.urlencode(fields).encode()


def test_alipay_notice_is_checked():
    alipay_key = alipay_signing.load_public_key(keys.ALIPAY_PLATFORM_PUBLIC_KEY)
    fields = {"notify_type": "trade_status_sync", "notify_id": "n1", "app_id": "2021", "out_trade_no": "T1",
              "trade_no": "2026", "trade_status": "TRADE_SUCCESS", "total_amount": "12.50", "subject": "茶"}
    said = alipay_notify.parse_notify(_alipay_notice(fields), app_id="2021", alipay_key=alipay_key)
    assert (said.trade_no, said.paid, said.amount_fen, said.notify_id) == ("T1", True, 1250, "n1")
    with pytest.raises(alipay_notify.NotifyRefused, match="signature"):
        alipay_notify.parse_notify(_alipay_notice(fields, keys.ALIPAY_APP_PRIVATE_KEY), app_id="2021",
                                   alipay_key=alipay_key)
    with pytest.raises(alipay_notify.NotifyRefused, match="app_id"):
        alipay_notify.parse_notify(_alipay_notice(fields), app_id="2022", alipay_key=alipay_key)
    with pytest.raises(alipay_notify.NotifyRefused, match="total_amount"):
        alipay_notify.parse_notify(_alipay_notice({**fields, "total_amount": "1.005"}), app_id="2021",
                                   alipay_key=alipay_key)
    with pytest.raises(alipay_notify.NotifyRefused):
        alipay_notify.parse_notify(b"\xff\xfe", app_id="2021", alipay_key=alipay_key)


def test_the_unionpay_app_is_read_from_its_user_agent():
    assert unionpay_protocol.app_up_identifier(
        "Mozilla/5.0 (iPhone) (UnionPay/1.0 CloudPay) (clientVersion 198)") == "UnionPay/1.0 CloudPay"
    assert unionpay_protocol.app_up_identifier(
        "Mozilla/5.0 Mobile/15E148/CloudMercWebView/UnionPay/1.0 CCBLoongPay") == "UnionPay/1.0 CCBLoongPay"
    assert unionpay_protocol.app_up_identifier("") == "UnionPay/1.0 CloudPay"      # the default, as documented


def test_a_unionpay_cashier_url_must_be_http():
    ok = unionpay_protocol.interpret_js_order({"respCode": "00", "redirectUrl": "https://qr.95516.com/x"})
    assert ok.ok and ok.pay_params == {"redirectUrl": "https://qr.95516.com/x"}
    assert not unionpay_protocol.interpret_js_order({"respCode": "00", "redirectUrl": "javascript:alert(1)"}).ok
    assert not unionpay_protocol.interpret_js_order({"respCode": "12", "redirectUrl": "https://x"}).ok
