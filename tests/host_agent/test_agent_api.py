"""The agent's device-API client: the signing example of docs/device-api.md, and the real server."""
import pytest

from host_agent.api import ApiError, DeviceApi, ServerUnreachable, new_order_no, sign
from hw_sim import test_codes


def test_the_documented_signing_example():
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    body = b'{"order_no":"A1","amount_fen":1250,"auth_code":"134567890123456789"}'
    assert sign(key, "/d/v1/pay", "1763776800", "n0nce123", body) == \
        "93585c4087b18045bdf5596f0a5d1db460712e8df891603fcee23737a13926b2"


def test_order_numbers_are_valid_and_unique():
    numbers = {new_order_no() for _ in range(1000)}
    assert len(numbers) == 1000
    assert all(1 <= len(n) <= 32 and n.replace("-", "").replace("_", "").isalnum() for n in numbers)


@pytest.mark.parametrize("body_format", ["cbor", "json"])
async def test_pay_and_query_against_the_server(payment_server, body_format):
    async with DeviceApi(payment_server.url, "PC0001", payment_server.key_hex, body_format=body_format) as api:
        api.clock_offset_s = -3600          # a PC clock an hour slow: corrected from server_time
        order_no = new_order_no()
        code = test_codes.make_wechat_code(test_codes.SUCCESS)
        order = await api.pay(order_no, 1250, code)
        assert order["status"] == "SUCCESS" and order["amount_fen"] == 1250
        again = await api.pay(order_no, 1250, code)          # a retry never charges twice
        assert again["order_no"] == order_no
        assert (await api.query(order_no, wait=0))["status"] == "SUCCESS"
        with pytest.raises(ApiError) as refused:
            await api.query("nope", wait=0)
        assert refused.value.code == "order_not_found"
    assert len(payment_server.sandbox.ledger.charges) == 1


async def test_no_server():
    api = DeviceApi("http://127.0.0.1:9", "PC0001", "00" * 32, timeout_s=2)
    api.retry_s = 0.01
    async with api:
        with pytest.raises(ServerUnreachable):
            await api.pay("A1", 100, "134567890123456789")


def test_order_numbers_stay_readable_in_masked_logs():
    from host_agent.masking import mask_text
    order_no = new_order_no()
    assert mask_text("order %s paid" % order_no) == "order %s paid" % order_no
    assert mask_text("code 134567890123456789") == "code **************6789"
