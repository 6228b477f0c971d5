"""pay and query end to end against the WeChat sandbox: outcomes, idempotency, long polls."""
import asyncio

import pytest

from hw_sim import test_codes
from server.keys import STORAGE


@pytest.mark.parametrize("fmt", ["json", "cbor"])
async def test_instant_success_in_both_formats(device, sandbox, fmt):
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    status, body = await device.pay("A1", 1250, code, fmt=fmt)
    assert status == 200, body
    order = body["order"]
    assert order["status"] == "SUCCESS"
    assert order["amount_fen"] == 1250 and order["channel"] == "wechat" and order["order_no"] == "A1"
    assert isinstance(body["server_time"], int) and isinstance(order["finished_at"], int)
    stored = await device.app[STORAGE].get_order("D0001", "A1")
    assert [c.total_fee for c in sandbox.ledger.charges_for(stored.trade_no)] == [1250]
    assert stored.channel_trade_no == sandbox.ledger.charges[0].transaction_id
    assert code not in repr(stored) and stored.auth_code_masked.endswith(code[-4:])


async def test_retried_pay_returns_the_same_order_and_charges_once(device, sandbox, count_rows):
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    first = await device.pay("A2", 990, code)
    again = await device.pay("A2", 990, code, fmt="cbor")
    assert first[0] == again[0] == 200
    assert first[1]["order"] == again[1]["order"]
    assert len(sandbox.ledger.charges) == 1
    assert sandbox.ledger.calls_to("/pay/micropay") == 1
    assert (await count_rows())["orders"] == 1


@pytest.mark.parametrize("change", [{"amount_fen": 991}, {"auth_code": "new"}])
async def test_conflicting_retry_is_refused(device, sandbox, change, count_rows):
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    assert (await device.pay("A3", 990, code))[0] == 200
    before = await count_rows()
    retry = {"order_no": "A3", "amount_fen": 990, "auth_code": code, **change}
    if retry["auth_code"] == "new":
        retry["auth_code"] = test_codes.make_wechat_code(test_codes.SUCCESS)
    status, body = await device.call("pay", retry)
    assert (status, body["error"]["code"]) == (409, "order_conflict")
    assert len(sandbox.ledger.charges) == 1
    assert await count_rows() == before   # no order, no event, and the nonce is not used up


async def test_concurrent_duplicate_pays_call_the_channel_once(device, sandbox):
    code = test_codes.make_wechat_code(test_codes.PASSWORD, 1)
    results = await asyncio.gather(*(device.pay("A4", 500, code) for _ in range(5)))
    assert {status for status, _ in results} == {200}
    assert sandbox.ledger.calls_to("/pay/micropay") == 1


async def test_password_wait_finishes_via_resolver_and_long_poll_returns_early(device, sandbox):
    code = test_codes.make_wechat_code(test_codes.PASSWORD, 1)
    status, body = await device.pay("A5", 1250, code)
    assert status == 200 and body["order"]["status"] == "PAYING"
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body = await device.query("A5", wait=20)
    waited = loop.time() - started
    assert status == 200 and body["order"]["status"] == "SUCCESS"
    # The payer typed the password after 1 s: the long poll answered then, not after 20 s.
    assert waited < 10
    assert len(sandbox.ledger.charges) == 1


async def test_query_without_wait_answers_at_once(device):
    code = test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP)
    await device.pay("A6", 100, code)
    status, body = await device.query("A6")
    assert status == 200 and body["order"]["status"] == "PAYING"


async def test_insufficient_funds_fails(device, sandbox):
    status, body = await device.pay("A7", 1250, test_codes.make_wechat_code(test_codes.INSUFFICIENT_FUNDS))
    assert status == 200
    assert (body["order"]["status"], body["order"]["reason"]) == ("FAILED", "insufficient_funds")
    assert body["order"]["message"]
    assert sandbox.ledger.charges == []


async def test_expired_code_fails(device):
    status, body = await device.pay("A8", 1250, test_codes.make_wechat_code(test_codes.EXPIRED), fmt="cbor")
    assert (body["order"]["status"], body["order"]["reason"]) == ("FAILED", "code_expired")


async def test_system_error_is_queried_at_once_and_found_paid(device, sandbox):
    status, body = await device.pay("A9", 1250, test_codes.make_wechat_code(test_codes.SYSTEM_ERROR))
    assert status == 200 and body["order"]["status"] == "SUCCESS"
    assert len(sandbox.ledger.charges) == 1


async def test_payer_gives_up_is_reversed_and_closed(start_server, sandbox):
    device = await start_server(deadline_s=1.0)
    code = test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP)
    status, body = await device.pay("B1", 1250, code)
    assert body["order"]["status"] == "PAYING"
    status, body = await device.query("B1", wait=20)
    assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "timeout")
    order = await device.app[STORAGE].get_order("D0001", "B1")
    assert sandbox.ledger.reversals == [order.trade_no]
    # WeChat asked to call reverse again (recall=Y) once; the server did.
    assert sandbox.ledger.calls_to("/secapi/pay/reverse", order.trade_no) == 2
    assert sandbox.ledger.charges == []
    kinds = [e.kind for e in await device.app[STORAGE].list_events(order.id)]
    assert kinds[0] == "created" and "cancel:retry" in kinds and kinds[-1] == "cancel:done"


async def test_query_for_an_unknown_order(device):
    status, body = await device.query("NOPE")
    assert (status, body["error"]["code"]) == (404, "order_not_found")


async def test_orders_are_per_device(device, other_device):
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    await device.pay("C1", 100, code)
    other = await other_device("D0002")
    status, body = await other.query("C1")
    assert (status, body["error"]["code"]) == (404, "order_not_found")
