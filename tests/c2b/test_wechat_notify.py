"""WeChat's payment notification: a forged or foreign one is refused and changes nothing."""
import secrets

import pytest

from server.channels.wechat import signing
from server.channels.wechat.notify import NotifyRefused, parse_notify
from server.channels.wechat.xmlcodec import from_xml, to_xml
from server.settings import SANDBOX_API_KEY, SANDBOX_APPID, SANDBOX_MCH_ID


def _notify(trade_no: str, key: str = SANDBOX_API_KEY, appid: str = SANDBOX_APPID, **extra) -> bytes:
    fields = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": appid, "mch_id": SANDBOX_MCH_ID,
              "nonce_str": secrets.token_hex(8), "out_trade_no": trade_no, "total_fee": "100",
              "transaction_id": "4200000000000001", "sign_type": "HMAC-SHA256", **extra}
    fields["sign"] = signing.sign(fields, key, "HMAC-SHA256")
    return to_xml(fields)


def test_parse_checks_merchant_and_signature():
    ours = dict(appid=SANDBOX_APPID, mch_id=SANDBOX_MCH_ID, api_key=SANDBOX_API_KEY)
    notify = parse_notify(_notify("SP1"), **ours)
    assert (notify.trade_no, notify.paid, notify.amount_fen) == ("SP1", True, 100)
    with pytest.raises(NotifyRefused, match="signature"):
        parse_notify(_notify("SP1", key="0" * 32), **ours)
    with pytest.raises(NotifyRefused, match="not ours"):
        parse_notify(_notify("SP1", appid="wx0000000000000000"), **ours)
    with pytest.raises(NotifyRefused, match="XML"):
        parse_notify(b"<xml><a>", **ours)


async def test_a_forged_notify_is_refused_and_changes_nothing(stack):
    answer = await stack.call("qr", {"order_no": "N-1", "amount_fen": 100})
    order = await stack.storage.get_order(stack.device_id, "N-1")
    async with stack.http.post(stack.server_url + "/n/wechat", data=_notify(order.trade_no, key="1" * 32)) as resp:
        assert from_xml(await resp.read())["return_code"] == "FAIL"
    after = await stack.storage.get_order(stack.device_id, "N-1")
    assert (after.status, after.channel) == ("PAYING", "")
    assert answer["order"]["status"] == "PAYING"
