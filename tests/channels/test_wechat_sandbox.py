"""The sandbox checks requests the way WeChat does, so the adapter cannot pass by luck."""
import aiohttp
import pytest

from hw_sim import test_codes
from server.channels.wechat import protocol, signing
from server.channels.wechat.xmlcodec import from_xml, to_xml
from server.settings import SANDBOX_API_KEY, SANDBOX_APPID, SANDBOX_MCH_ID


def micropay(**changes) -> dict[str, str]:
    params = protocol.micropay_request(appid=SANDBOX_APPID, mch_id=SANDBOX_MCH_ID, trade_no="T1", amount_fen=100,
                                       auth_code=test_codes.make_wechat_code(), body="tea",
                                       spbill_create_ip="127.0.0.1")
    params.update(changes)
    return params


async def post(sandbox, path: str, params: dict[str, str], sign_type: str = "MD5") -> dict[str, str]:
    body = to_xml(protocol.signed(params, SANDBOX_API_KEY, sign_type))
    async with aiohttp.ClientSession() as session:
        async with session.post(sandbox.base_url + path, data=body) as resp:
            return from_xml(await resp.read())


async def test_answers_are_signed_with_the_request_sign_type(sandbox):
    for sign_type in ("MD5", "HMAC-SHA256"):
        answer = await post(sandbox, "/pay/orderquery", {"appid": SANDBOX_APPID, "mch_id": SANDBOX_MCH_ID,
                                                         "out_trade_no": "nope", "nonce_str": "n1"}, sign_type)
        assert answer["err_code"] == "ORDERNOTEXIST"
        assert signing.signature_valid(answer, SANDBOX_API_KEY, sign_type)


@pytest.mark.parametrize("changes, expected", [
    ({"total_fee": "12.50"}, "PARAM_ERROR"),
    ({"total_fee": "0"}, "PARAM_ERROR"),
    ({"auth_code": "285678901234567890"}, "AUTH_CODE_INVALID"),
    ({"out_trade_no": "T" * 33}, "PARAM_ERROR"),
])
async def test_bad_business_fields(sandbox, changes, expected):
    answer = await post(sandbox, "/pay/micropay", micropay(**changes))
    assert (answer["result_code"], answer["err_code"]) == ("FAIL", expected)
    assert sandbox.ledger.charges == []


async def test_missing_field_and_bad_signature_are_transport_failures(sandbox):
    params = micropay()
    del params["spbill_create_ip"]
    assert (await post(sandbox, "/pay/micropay", params))["return_code"] == "FAIL"
    body = to_xml({**protocol.signed(micropay(), SANDBOX_API_KEY, "MD5"), "total_fee": "1"})   # tampered
    async with aiohttp.ClientSession() as session:
        async with session.post(sandbox.base_url + "/pay/micropay", data=body) as resp:
            answer = from_xml(await resp.read())
    assert (answer["return_code"], answer["return_msg"]) == ("FAIL", "签名错误")
    assert sandbox.ledger.calls == []


async def test_password_wait_pays_after_the_given_seconds(sandbox):
    params = micropay(auth_code=test_codes.make_wechat_code(test_codes.PASSWORD, 0))
    answer = await post(sandbox, "/pay/micropay", params)
    assert answer["err_code"] == "USERPAYING"
    query = {"appid": SANDBOX_APPID, "mch_id": SANDBOX_MCH_ID, "out_trade_no": "T1", "nonce_str": "n2"}
    assert (await post(sandbox, "/pay/orderquery", query))["trade_state"] == "SUCCESS"
    assert len(sandbox.ledger.charges) == 1


async def test_reversing_a_paid_order_gives_the_money_back(sandbox):
    await post(sandbox, "/pay/micropay", micropay())
    reverse = {"appid": SANDBOX_APPID, "mch_id": SANDBOX_MCH_ID, "out_trade_no": "T1", "nonce_str": "n3"}
    answer = await post(sandbox, "/secapi/pay/reverse", reverse)
    assert (answer["result_code"], answer["recall"]) == ("SUCCESS", "N")
    assert [c.out_trade_no for c in sandbox.ledger.refunds] == ["T1"]
