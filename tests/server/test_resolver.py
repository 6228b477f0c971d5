"""The resolver finishes every PAYING order, also across restarts and crashes."""
import pytest

from server.clock import ms, new_id, new_trade_no, now_ms
from server.keys import PAYMENTS, STORAGE
from server.settings import SettingsError, load_settings
from server.storage import PAYING, Order

from hw_sim import test_codes


async def test_restart_mid_paying_resumes_and_finishes(start_server, sandbox):
    first = await start_server()
    code = test_codes.make_wechat_code(test_codes.PASSWORD, 2)
    status, body = await first.pay("R1", 1250, code)
    assert body["order"]["status"] == "PAYING"
    await first.client.close()   # the server stops while the payer is still typing

    second = await start_server()
    status, body = await second.query("R1", wait=20)
    assert (status, body["order"]["status"]) == (200, "SUCCESS")
    assert len(sandbox.ledger.charges) == 1
    assert sandbox.ledger.calls_to("/pay/micropay") == 1
    order = await second.app[STORAGE].get_order("D0001", "R1")
    assert order.channel_trade_no == sandbox.ledger.charges[0].transaction_id
    assert order.next_check_at is None and order.finished_at is not None


async def test_crash_before_the_channel_call_is_closed(start_server, sandbox):
    # A server that died right after inserting the order: WeChat never saw it.
    device = await start_server(deadline_s=0.5)
    now = now_ms()
    order = Order(id=new_id(), device_id="D0001", order_no="R2", trade_no=new_trade_no(), amount_fen=100,
                  channel="wechat", status=PAYING, auth_code_hash="0" * 64, auth_code_masked="*" * 14 + "1234",
                  created_at=now, deadline_at=now + ms(0.5), next_check_at=now, merchant_id="M1")
    await device.app[STORAGE].create_order(order)
    status, body = await device.query("R2", wait=20)
    assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "timeout")
    assert sandbox.ledger.calls_to("/pay/orderquery", order.trade_no) >= 1
    assert sandbox.ledger.calls_to("/secapi/pay/reverse", order.trade_no) == 1
    assert sandbox.ledger.charges == []


async def test_password_slower_than_the_deadline_is_reversed(start_server, sandbox):
    device = await start_server(deadline_s=0.6)
    status, body = await device.pay("R3", 1250, test_codes.make_wechat_code(test_codes.PASSWORD, 5))
    status, body = await device.query("R3", wait=20)
    assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "timeout")
    assert len(sandbox.ledger.reversals) == 1 and sandbox.ledger.charges == []


async def test_order_revoked_by_wechat_itself_is_closed(start_server, sandbox):
    # WeChat revokes an unpaid micropay on its own; the next query says REVOKED.
    sandbox.auto_revoke_s = 0.3
    device = await start_server(deadline_s=20)
    await device.pay("R4", 1250, test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP))
    status, body = await device.query("R4", wait=20)
    assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "timeout")
    assert sandbox.ledger.calls_to("/secapi/pay/reverse") == 0


async def test_without_resolver_orders_stay_paying(start_server):
    device = await start_server(resolver={"enabled": False})
    await device.pay("R5", 1250, test_codes.make_wechat_code(test_codes.PASSWORD, 0))
    status, body = await device.query("R5", wait=1)
    assert body["order"]["status"] == "PAYING"


async def test_a_password_payment_is_asked_about_sooner_at_first_then_at_the_interval(start_server, sandbox):
    # query_schedule_s: the waits before the first queries while the payer types, then query_interval_s.
    # Driven by hand (no resolver) so every wait is the schedule's, exactly.
    device = await start_server(resolver={"enabled": False}, query_schedule_s=[0.5, 1.0, 2.0, 9.0],
                                query_interval_s=4)
    payments, storage = device.app[PAYMENTS], device.app[STORAGE]
    await device.pay("Q1", 1250, test_codes.make_wechat_code(test_codes.PASSWORD, 60))
    waits = []
    for _ in range(5):
        order = await storage.get_order("D0001", "Q1")
        answered = (await storage.list_events(order.id))[-1].at
        waits.append(order.next_check_at - answered)
        await payments.step(order)
    assert waits == [500, 1000, 2000, 4000, 4000]        # 9 s in the schedule: never later than the interval
    assert sandbox.ledger.calls_to("/pay/orderquery") == 5


async def test_a_payer_typing_is_asked_about_on_the_schedule_not_at_the_resolvers_next_tick(start_server, sandbox):
    # The resolver looks for due orders every tick_s (here a minute: its first look is at start, before the
    # payment); an order this process rescheduled is looked for when it is due, so a payer who confirms
    # after a second is heard within the schedule's 0.3 s steps, not a minute later.
    device = await start_server(resolver={"tick_s": 60.0}, query_schedule_s=[0.3] * 10, query_interval_s=0.3,
                                deadline_s=30)
    status, body = await device.pay("Q2", 1250, test_codes.make_wechat_code(test_codes.PASSWORD, 1))
    assert body["order"]["status"] == "PAYING"
    status, body = await device.query("Q2", wait=20)
    assert (status, body["order"]["status"]) == (200, "SUCCESS")
    assert sandbox.ledger.calls_to("/pay/orderquery") >= 2      # asked while the payer typed, then heard


def test_a_query_schedule_that_cannot_be_meant_is_refused():
    for schedule in ([1.0, 0.0], [-1.0], [1.0] * 21, ["1"]):
        with pytest.raises(SettingsError, match="query_schedule_s"):
            load_settings(channels={"alipay": {"query_schedule_s": schedule}})
    assert load_settings().channels.unionpay.query_schedule_s == (1.0, 1.0, 1.0, 2.0, 2.0, 3.0)
