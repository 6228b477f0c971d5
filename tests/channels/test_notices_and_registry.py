"""UnionPay's notification refusals (the form check it shares with Alipay's, server/channels/form_notice.py) and
the channel registry: the adapters config enables, and no others."""
import urllib.parse

import pytest

from hw_sim.boards.stack import sandbox_channel_settings
from hw_sim.sandbox import keys
from hw_sim.sandbox import unionpay as unionpay_sandbox
from server.channels import NoticeRefused
from server.channels.registry import ADAPTERS, open_channels
from server.channels.unionpay import signing as unionpay_signing
from server.channels.unionpay.notify import parse_notify
from server.settings import load_settings

FIELDS = {"reqType": "0530000903", "acqCode": unionpay_sandbox.SANDBOX_ACQ_CODE, "orderNo": "T1", "txnAmt": "1250",
          "respCode": "00", "voucherNum": "V1"}


def _notice(fields, key_pem=keys.UNIONPAY_PLATFORM_PRIVATE_KEY, cert_id=unionpay_sandbox.SANDBOX_UNIONPAY_CERT_ID):
    signed = unionpay_signing.sign(fields, unionpay_signing.load_private_key(key_pem), cert_id)
    return urllib.parse.urlencode(signed).encode()


def _parse(body, acq_code=unionpay_sandbox.SANDBOX_ACQ_CODE):
    return parse_notify(body, acq_code=acq_code, cert_id=unionpay_sandbox.SANDBOX_UNIONPAY_CERT_ID,
                        unionpay_key=unionpay_signing.load_public_key(keys.UNIONPAY_PLATFORM_PUBLIC_KEY))


def test_a_unionpay_notice_is_read_once_checked():
    said = _parse(_notice(FIELDS))
    assert (said.trade_no, said.paid, said.amount_fen, said.voucher_num) == ("T1", True, 1250, "V1")
    assert _parse(_notice({**FIELDS, "respCode": "34"})).paid is False
    assert said.notice_id == _parse(_notice(FIELDS)).notice_id     # a repeat is recognised


@pytest.mark.parametrize("body, refusal", [
    (_notice(FIELDS, keys.UNIONPAY_ACQUIRER_PRIVATE_KEY), "signature"),      # signed by someone else
    (_notice(FIELDS, cert_id="other"), "signature"),
    (_notice({**FIELDS, "acqCode": "99999999"}), "acqCode is not ours"),
    (_notice({**FIELDS, "orderNo": ""}), "no orderNo"),
    (_notice({**FIELDS, "txnAmt": "12.50"}), "txnAmt is not an amount in fen"),
    (_notice(FIELDS) + b"&orderNo=T2", "repeated"),
    (b"\xff\xfe", "not a form"),
])
def test_a_unionpay_notice_that_is_not_ours_or_not_signed_is_refused(body, refusal):
    with pytest.raises(NoticeRefused, match=refusal):
        _parse(body)


async def test_the_registry_opens_the_channels_config_enables_and_no_others():
    assert set(ADAPTERS) == {"wechat", "alipay", "unionpay"}
    off = {name: {"enabled": False} for name in ADAPTERS}
    settings = load_settings(database={"path": ":memory:"},
                             channels={**off, "unionpay": sandbox_channel_settings("unionpay", "http://127.0.0.1:9")})
    async with open_channels(settings) as channels:
        assert list(channels) == ["unionpay"] and channels["unionpay"].name == "unionpay"
    async with open_channels(load_settings(database={"path": ":memory:"}, channels=off)) as channels:
        assert dict(channels) == {}
