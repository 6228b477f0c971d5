"""The firmware's API client (core/api.py over core/http.py) against the real server and WeChat sandbox,
op by op: info, pay, query, qr, close, refund (partial, then the rest), orders, heartbeat."""
import asyncio

import pytest

from core.api import ApiError, DeviceApi
from core.http import HttpClient
from hw_sim import test_codes
from hw_sim.boards.stack import ServerStack


@pytest.fixture
async def api(tmp_path):
    async with ServerStack(tmp_path, ("D0001",)) as stack:
        client = HttpClient(stack.url)
        yield DeviceApi(client, "D0001", stack.keys["D0001"]), stack
        await client.close()


async def test_info(api):
    device, _stack = api
    info = await device.info()
    assert info["device_id"] == "D0001" and info["wallets"] == ["wechat"]
    assert info["limits"]["max_amount_fen"] == 500000 and info["static_code"].endswith("/c/s/" + _stack.static_codes["D0001"])
    assert device.clock.synced
    # the stack routes WeChat only: the prefixes and lengths of its codes, nothing of the other wallets
    assert info["code_prefixes"] == {"wechat": ["10", "11", "12", "13", "14", "15"]}
    assert info["code_lengths"] == {"wechat": [18]}


async def refund_until_final(device, *fields):
    """`refund` again with the same fields until the channel's answer is final (the documented way)."""
    for _ in range(100):
        refund, order = await device.refund(*fields)
        if refund["status"] != "PENDING":
            return refund, order
        await asyncio.sleep(0.05)
    raise AssertionError("refund still PENDING")


async def test_pay_refund_part_then_the_rest(api):
    device, _stack = api
    order = await device.pay("A1", 1000, test_codes.make_wechat_code())
    assert order["status"] == "SUCCESS"
    refund, order = await refund_until_final(device, "A1", "R1", 300, "broken cup")
    assert refund["status"] == "SUCCESS" and order["refunded_fen"] == 300 and order["status"] == "SUCCESS"
    again, _ = await device.refund("A1", "R1", 300, "broken cup")       # retried: the same refund
    assert again["refund_no"] == "R1" and again["status"] == "SUCCESS"
    with pytest.raises(ApiError) as e:
        await device.refund("A1", "R2", 800)
    assert e.value.code == "refund_exceeds_amount" and e.value.status == 409
    _refund, order = await refund_until_final(device, "A1", "R3", 700)
    assert order["status"] == "REFUNDED" and order["refunded_fen"] == 1000


async def test_qr_then_close(api):
    device, _stack = api
    order, qr_code, answer = await device.qr("Q1", 68800)
    assert order["status"] == "PAYING" and order["kind"] == "c2b" and qr_code.startswith("http")
    assert answer["expires_at"] > answer["server_time"]
    closed = await device.close("Q1")
    assert closed["status"] == "CLOSED" and closed["reason"] == "closed"
    assert (await device.close("Q1"))["status"] == "CLOSED"           # close can be retried
    with pytest.raises(ApiError) as e:
        await device.close("NOPE")
    assert e.value.code == "order_not_found"


async def test_orders_newest_first_and_heartbeat(api):
    device, _stack = api
    for n in range(3):
        await device.pay("O%d" % n, 100 + n, test_codes.make_wechat_code())
    orders = await device.orders(limit=2)
    assert [o["order_no"] for o in orders] == ["O2", "O1"]
    beat = await device.heartbeat(battery_pct=80, network="4g", firmware="0.2.0", uptime_s=5)
    assert beat["heartbeat_s"] > 0 and beat["commands"] == []
