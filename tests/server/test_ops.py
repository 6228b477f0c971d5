"""Every device op end to end (on SQLite and PostgreSQL): activate, info, qr, close, refund, orders,
heartbeat, daily caps; each refusal with its own code and nothing stored."""
import asyncio
import json

import pytest

from tests.server.conftest import DEVICE_ID, MERCHANT_ID, Device
from hw_sim import test_codes
from server import static_codes
from hw_sim.device_client import sign_request
from server.device_auth import new_device_key
from server.devices import issue_activation_code, register_device
from server.channels import RefundCommand
from server.keys import CHANNELS, STORAGE


def wechat(scenario=test_codes.SUCCESS, param=0) -> str:
    return test_codes.make_wechat_code(scenario, param)


async def paid(device, order_no: str, amount_fen: int) -> dict:
    status, body = await device.pay(order_no, amount_fen, wechat())
    assert (status, body["order"]["status"]) == (200, "SUCCESS"), body
    return body["order"]


# activate

async def activate(client, code: str, **extra) -> tuple[int, dict]:
    resp = await client.post("/d/v1/activate", data=json.dumps({"activation_code": code, **extra}),
                             headers={"Content-Type": "application/json"})
    return resp.status, await resp.json()


async def test_activation_gives_a_working_key_once(device):
    storage = device.app[STORAGE]
    await register_device(storage, "G1", MERCHANT_ID, "Market stall 7", activation=True)
    pending = Device(device.client, "G1", new_device_key())
    status, body = await pending.call("info", {})
    assert (status, body["error"]["code"]) == (403, "device_not_activated")

    code = await issue_activation_code(storage, "G1", 3600)
    status, body = await activate(device.client, code, hardware_id="a4:cf:12:00:00:01", firmware="1.0.0")
    assert status == 200, body
    assert body["device_id"] == "G1" and len(body["device_key"]) == 64
    assert body["merchant"] == {"id": MERCHANT_ID, "name": "Tea House"} and body["store_name"] == "Market stall 7"
    assert isinstance(body["server_time"], int)
    gun = Device(device.client, "G1", body["device_key"])
    status, info = await gun.call("info", {})
    assert status == 200 and info["device_id"] == "G1"
    stored = await storage.get_device("G1")
    assert stored.hardware_id == "a4:cf:12:00:00:01" and stored.firmware == "1.0.0"

    status, body = await activate(device.client, code)
    assert (status, body["error"]["code"]) == (401, "activation_code_used")
    # A wiped gun gets a new code: the new key works, the old one stops working.
    status, again = await activate(device.client, await issue_activation_code(storage, "G1", 3600))
    assert status == 200 and again["device_key"] != body.get("device_key")
    assert (await gun.call("info", {}))[1]["error"]["code"] == "bad_signature"
    assert (await Device(device.client, "G1", again["device_key"]).call("info", {}))[0] == 200


async def test_activation_refusals(device):
    storage = device.app[STORAGE]
    await register_device(storage, "G2", MERCHANT_ID, "x", activation=True)
    expired = await issue_activation_code(storage, "G2", 0)
    status, body = await activate(device.client, expired)
    assert (status, body["error"]["code"]) == (401, "activation_code_expired")
    status, body = await activate(device.client, "000000000000")
    assert (status, body["error"]["code"]) == (401, "activation_code_unknown")
    status, body = await activate(device.client, "12345")
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    code = await issue_activation_code(storage, "G2", 3600)
    await storage.set_device_status("G2", "disabled")
    status, body = await activate(device.client, code)
    assert (status, body["error"]["code"]) == (403, "device_disabled")
    assert (await storage.get_device("G2")).status == "disabled"
    assert (await storage.get_activation_code(__import__("server.devices").devices.hash_activation_code(code)))[
        "used_at"] is None


# info

async def test_info_names_the_merchant_store_limits_and_static_code(device):
    await paid(device, "I1", 1250)
    status, body = await device.call("info", {})
    assert status == 200
    assert body["device_id"] == DEVICE_ID and body["merchant"] == {"id": MERCHANT_ID, "name": "Tea House", "tier": 1}
    assert body["store_name"] == "Tea House, Nanjing Rd"
    assert body["static_code"] is None            # no sticker is bound to the store's device yet
    storage = device.app[STORAGE]
    _, (sticker,) = await static_codes.print_batch(storage, 1, actor="test")
    store_id = (await storage.get_device(DEVICE_ID)).store_id
    await static_codes.bind(storage, sticker.id, store_id=store_id, device_id=DEVICE_ID, actor="test")
    status, body = await device.call("info", {})
    assert body["static_code"].endswith(f"/c/s/{sticker.id}")
    assert body["limits"] == {"min_amount_fen": 1, "max_amount_fen": 500000, "static_code_max_fen": 50000,
                              "daily_cap_fen": 1_000_000, "daily_used_fen": 1250}
    assert "wechat" in body["wallets"]


# daily caps and minimum

async def test_daily_cap_refuses_without_storing_and_failed_payments_give_it_back(start_server, sandbox):
    device = await start_server(limits={"tier1_daily_cap_fen": 2000})
    await paid(device, "C1", 1500)
    before = await device.app[STORAGE].table_counts(["orders", "order_events", "nonces"])
    status, body = await device.pay("C2", 600, wechat())
    assert (status, body["error"]["code"]) == (403, "daily_limit_exceeded")
    status, body = await device.qr("C3", 600)
    assert (status, body["error"]["code"]) == (403, "daily_limit_exceeded")
    assert await device.app[STORAGE].table_counts(["orders", "order_events", "nonces"]) == before
    assert len(sandbox.ledger.charges) == 1
    # A refused payment does not use the allowance up.
    status, body = await device.pay("C4", 500, wechat(test_codes.INSUFFICIENT_FUNDS))
    assert body["order"]["status"] == "FAILED"
    await paid(device, "C5", 500)
    assert (await device.call("info", {}))[1]["limits"]["daily_used_fen"] == 2000


async def test_higher_tier_has_a_higher_cap(start_server):
    device = await start_server(limits={"tier1_daily_cap_fen": 1000, "tier2_daily_cap_fen": 5000})
    assert (await device.pay("T1", 2000, wechat()))[1]["error"]["code"] == "daily_limit_exceeded"
    await device.app[STORAGE].set_merchant_tier(MERCHANT_ID, 2)
    # Servers pick a new tier up within seconds; a restarted one at once.
    device = await start_server(limits={"tier1_daily_cap_fen": 1000, "tier2_daily_cap_fen": 5000})
    await paid(device, "T1", 2000)


async def test_minimum_amount(start_server, sandbox):
    device = await start_server(device_api={"min_amount_fen": 100})
    status, body = await device.pay("M1", 99, wechat())
    assert (status, body["error"]["code"]) == (400, "amount_below_minimum")
    assert sandbox.ledger.calls == []


# qr (C2B)

async def test_qr_makes_a_one_time_code_idempotently(device):
    status, body = await device.qr("Q1", 88800)
    assert status == 200, body
    order = body["order"]
    assert (order["kind"], order["status"], order["channel"], order["amount_fen"]) == ("c2b", "PAYING", None, 88800)
    assert body["qr_code"].startswith("http://127.0.0.1:8080/c/") and len(body["qr_code"]) > 40
    assert body["expires_at"] - body["server_time"] in range(295, 301)
    again = await device.qr("Q1", 88800)
    assert again[1]["qr_code"] == body["qr_code"] and again[1]["order"] == order
    assert (await device.qr("Q1", 88801))[1]["error"]["code"] == "order_conflict"
    assert (await device.pay("Q1", 88800, wechat()))[1]["error"]["code"] == "order_conflict"
    assert (await device.qr("Q2", 0))[1]["error"]["code"] == "invalid_amount"


async def test_unscanned_qr_is_closed_at_its_expiry(start_server):
    device = await start_server(device_api={"qr_valid_s": 1})
    await device.qr("Q3", 500)
    status, body = await device.query("Q3", wait=10)
    assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "timeout")


# close

async def test_close_reverses_a_paying_order_at_the_channel(device, sandbox):
    status, body = await device.pay("X1", 1250, wechat(test_codes.PAYER_GIVES_UP))
    assert body["order"]["status"] == "PAYING"
    status, body = await device.close("X1")
    assert status == 200, body
    assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "closed")
    trade_no = (await device.app[STORAGE].get_order(DEVICE_ID, "X1")).trade_no
    assert sandbox.ledger.calls_to("/secapi/pay/reverse", trade_no) >= 1
    assert sandbox.ledger.charges == []
    # Closing again answers the same, changing nothing.
    assert (await device.close("X1"))[1]["order"] == body["order"]


async def test_close_of_an_unscanned_qr_and_refusals(device):
    await device.qr("X2", 500)
    status, body = await device.close("X2")
    assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "closed")
    await paid(device, "X3", 100)
    status, body = await device.close("X3")
    assert (status, body["error"]["code"]) == (409, "order_paid")
    status, body = await device.close("nope")
    assert (status, body["error"]["code"]) == (404, "order_not_found")


async def test_close_that_races_the_payer_reports_the_payment(device, sandbox):
    # The payer typed the password a moment before the cashier gave up: the answer says paid.
    await device.pay("X4", 700, wechat(test_codes.PASSWORD, 0))
    await asyncio.sleep(0.05)
    status, body = await device.close("X4")
    assert body["order"]["status"] == "SUCCESS"
    assert len(sandbox.ledger.charges) == 1 and sandbox.ledger.reversals == []


# refund: the real WeChat adapter against the sandbox's /secapi/pay/refund and /pay/refundquery. WeChat accepts
# a refund at once (PENDING here) and pays it back later; the resolver's refundquery makes it SUCCESS.

REFUND = "/secapi/pay/refund"
REFUNDQUERY = "/pay/refundquery"


async def settled(device, order_no: str, refund_no: str, amount_fen: int) -> dict:
    """Call refund again with the same fields, as a device follows a PENDING refund, until it is final."""
    for _ in range(100):
        status, body = await device.refund(order_no, refund_no, amount_fen)
        assert status == 200, body
        if body["refund"]["status"] != "PENDING":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"refund {refund_no} still PENDING: {body}")


async def paid_back(device, sandbox, order_no: str) -> dict[str, int]:
    """What the sandbox's ledger gave back for the order, by the device's refund_no; each refund at most once,
    never more than the order's amount in all."""
    storage = device.app[STORAGE]
    order = await storage.get_order(DEVICE_ID, order_no)
    at_channel = [r for r in sandbox.ledger.refunds if r.out_trade_no == order.trade_no]
    assert sum(r.amount_fen for r in at_channel) <= order.amount_fen
    refund_nos = [r.refund_no for r in at_channel]
    assert len(refund_nos) == len(set(refund_nos)), refund_nos
    ours = {r.refund_trade_no: r.refund_no for r in await storage.list_refunds(order.id)}
    return {ours[r.refund_no]: r.amount_fen for r in at_channel}


async def test_full_refund_makes_the_order_refunded(device, sandbox):
    await paid(device, "F1", 1250)
    status, body = await device.refund("F1", "RF1", 1250)
    assert status == 200, body
    assert (body["refund"]["status"], body["refund"]["amount_fen"]) == ("PENDING", 1250)
    assert (body["order"]["status"], body["order"]["refunded_fen"]) == ("SUCCESS", 0)
    assert len(sandbox.ledger.refunds) == 1          # WeChat took the refund at once
    body = await settled(device, "F1", "RF1", 1250)
    assert body["refund"]["status"] == "SUCCESS" and body["refund"]["amount_fen"] == 1250
    assert (body["order"]["status"], body["order"]["refunded_fen"]) == ("REFUNDED", 1250)
    # Retried: the same refund, WeChat not asked to refund again.
    again = await device.refund("F1", "RF1", 1250)
    assert again[1]["refund"] == body["refund"]
    trade_no = (await device.app[STORAGE].get_order(DEVICE_ID, "F1")).trade_no
    assert sandbox.ledger.calls_to(REFUND, trade_no) == 1 and sandbox.ledger.calls_to(REFUNDQUERY) >= 1
    status, body = await device.refund("F1", "RF2", 1)
    assert (status, body["error"]["code"]) == (409, "order_not_paid")
    assert await paid_back(device, sandbox, "F1") == {"RF1": 1250}


async def test_partial_refunds_up_to_the_amount(device, sandbox, count_rows):
    await paid(device, "F2", 1000)
    assert (await device.refund("F2", "P1", 300))[1]["refund"]["status"] == "PENDING"
    # A refund still on its way holds its amount: 700 fen are left, not 1000.
    status, body = await device.refund("F2", "P2", 800)
    assert (status, body["error"]["code"]) == (409, "refund_exceeds_amount")
    body = await settled(device, "F2", "P1", 300)
    assert (body["refund"]["status"], body["order"]["status"], body["order"]["refunded_fen"]) == \
        ("SUCCESS", "SUCCESS", 300)
    status, body = await device.refund("F2", "P2", 800)
    assert (status, body["error"]["code"]) == (409, "refund_exceeds_amount")
    assert (await device.refund("F2", "P1", 301))[1]["error"]["code"] == "refund_conflict"
    body = await settled(device, "F2", "P3", 700)
    assert (body["refund"]["status"], body["order"]["status"], body["order"]["refunded_fen"]) == \
        ("SUCCESS", "REFUNDED", 1000)
    assert await paid_back(device, sandbox, "F2") == {"P1": 300, "P3": 700}
    trade_no = (await device.app[STORAGE].get_order(DEVICE_ID, "F2")).trade_no
    assert sandbox.ledger.calls_to(REFUND, trade_no) == 2      # the refused and conflicting ones never left
    assert (await count_rows(("refunds",)))["refunds"] == 2


async def test_refund_refusals_store_nothing(device, sandbox, count_rows):
    await device.pay("F3", 500, wechat(test_codes.INSUFFICIENT_FUNDS))
    before = await count_rows(("refunds", "nonces"))
    assert (await device.refund("F3", "N1", 500))[1]["error"]["code"] == "order_not_paid"
    assert (await device.refund("nope", "N1", 500))[1]["error"]["code"] == "order_not_found"
    assert (await device.refund("F3", "N 1", 500))[1]["error"]["code"] == "invalid_field"
    assert (await device.refund("F3", "N1", 0))[1]["error"]["code"] == "invalid_amount"
    assert await count_rows(("refunds", "nonces")) == before
    assert sandbox.ledger.calls_to(REFUND) == 0 and sandbox.ledger.refunds == []


async def test_refund_the_channel_refuses_frees_the_amount(device, sandbox):
    await paid(device, "F4", 1000)
    # The merchant gave 1 fen back in WeChat's merchant platform, behind the server's back: WeChat now
    # refuses a refund of the whole amount (累计退款金额大于支付金额).
    order = await device.app[STORAGE].get_order(DEVICE_ID, "F4")
    outside = await device.app[CHANNELS]["wechat"].refund(
        RefundCommand(trade_no=order.trade_no, refund_no="MP" + order.trade_no[2:], amount_fen=1, total_fen=1000))
    assert outside.channel_refund_no
    status, body = await device.refund("F4", "D1", 1000)
    assert (body["refund"]["status"], body["refund"]["reason"]) == ("FAILED", "channel_declined")
    assert (body["order"]["status"], body["order"]["refunded_fen"]) == ("SUCCESS", 0)
    # The refused refund holds nothing back: the 999 fen WeChat still has can be refunded.
    body = await settled(device, "F4", "D2", 999)
    assert body["refund"]["status"] == "SUCCESS" and body["order"]["refunded_fen"] == 999
    at_channel = [(r.refund_no[:2], r.amount_fen) for r in sandbox.ledger.refunds]
    assert at_channel == [("MP", 1), ("RF", 999)]
    assert sandbox.ledger.calls_to(REFUND, order.trade_no) == 3


async def test_accepted_refund_is_confirmed_by_the_resolver(device, sandbox):
    # Nobody asks again: the resolver's refundquery alone finishes the refund.
    await paid(device, "F5", 1000)
    status, body = await device.refund("F5", "W1", 400)
    assert body["refund"]["status"] == "PENDING" and body["order"]["refunded_fen"] == 0
    for _ in range(100):
        order = await device.app[STORAGE].get_order(DEVICE_ID, "F5")
        if order.refunded_fen:
            break
        await asyncio.sleep(0.05)
    assert order.refunded_fen == 400
    assert sandbox.ledger.calls_to(REFUND, order.trade_no) == 1 and sandbox.ledger.calls_to(REFUNDQUERY) >= 1
    assert await paid_back(device, sandbox, "F5") == {"W1": 400}


async def test_refund_whose_answer_was_lost_is_sent_again_and_paid_back_once(device, sandbox):
    # WeChat makes the refund, the answer never arrives (the sandbox drops the connection): the server
    # does not know, so the resolver sends the same refund number again; WeChat answers the same refund.
    await paid(device, "F6", 1000)
    sandbox.lose_refund_answers = 1
    status, body = await device.refund("F6", "L1", 600)
    assert body["refund"]["status"] == "PENDING" and body["order"]["refunded_fen"] == 0
    assert [r.amount_fen for r in sandbox.ledger.refunds] == [600]    # made at WeChat already
    body = await settled(device, "F6", "L1", 600)
    assert body["refund"]["status"] == "SUCCESS" and body["order"]["refunded_fen"] == 600
    trade_no = (await device.app[STORAGE].get_order(DEVICE_ID, "F6")).trade_no
    assert sandbox.ledger.calls_to(REFUND, trade_no) == 2 and sandbox.ledger.calls_to(REFUNDQUERY) >= 1
    assert await paid_back(device, sandbox, "F6") == {"L1": 600}


async def test_concurrent_refunds_never_exceed_the_amount(device, sandbox):
    await paid(device, "F7", 1000)
    results = await asyncio.gather(*(device.refund("F7", f"C{i}", 400) for i in range(5)))
    ok = [body["refund"]["refund_no"] for status, body in results if status == 200]
    refused = [body["error"]["code"] for status, body in results if status != 200]
    assert len(ok) == 2 and refused == ["refund_exceeds_amount"] * 3
    for refund_no in ok:
        body = await settled(device, "F7", refund_no, 400)
        assert body["refund"]["status"] == "SUCCESS"
    assert body["order"]["refunded_fen"] == 800
    assert await paid_back(device, sandbox, "F7") == {refund_no: 400 for refund_no in ok}


# orders

async def test_orders_lists_this_devices_recent_orders(device, other_device):
    for i in range(5):
        await paid(device, f"H{i}", 100 + i)
        await asyncio.sleep(0.002)
    other = await other_device("D0002")
    await paid(other, "H9", 999)
    status, body = await device.call("orders", {})
    assert status == 200
    assert [o["order_no"] for o in body["orders"]] == ["H4", "H3", "H2", "H1", "H0"]
    status, body = await device.call("orders", {"limit": 2})
    assert [o["order_no"] for o in body["orders"]] == ["H4", "H3"]
    assert (await device.call("orders", {"limit": 101}))[1]["error"]["code"] == "invalid_field"
    assert (await device.call("orders", {"limit": 0}))[1]["error"]["code"] == "invalid_field"
    status, body = await device.call("orders", {"before": body["orders"][-1]["created_at"] + 1, "limit": 100})
    assert status == 200 and {o["order_no"] for o in body["orders"]} <= {"H0", "H1", "H2", "H3", "H4"}


# heartbeat

async def test_heartbeat_records_health_and_delivers_commands_until_acked(device):
    storage = device.app[STORAGE]
    reboot = await storage.add_command(DEVICE_ID, "reboot", {})
    message = await storage.add_command(DEVICE_ID, "show_message", {"text": "请联系客服"})
    beat = {"battery_pct": 81, "charging": False, "signal_dbm": -71, "network": "4g", "firmware": "1.2.0",
            "uptime_s": 3600}
    status, body = await device.call("heartbeat", beat, fmt="cbor")
    assert status == 200 and body["heartbeat_s"] == 60 and isinstance(body["server_time"], int)
    assert [(c["id"], c["kind"], c["args"]) for c in body["commands"]] == \
        [(reboot.id, "reboot", {}), (message.id, "show_message", {"text": "请联系客服"})]
    stored = await storage.get_device(DEVICE_ID)
    assert (stored.battery_pct, stored.charging, stored.signal_dbm, stored.network, stored.firmware,
            stored.uptime_s) == (81, 0, -71, "4g", "1.2.0", 3600)
    assert stored.last_seen_at is not None
    status, body = await device.call("heartbeat", {"acked": [reboot.id]})
    assert [c["id"] for c in body["commands"]] == [message.id]


@pytest.mark.parametrize("field, value", [("battery_pct", 101), ("signal_dbm", 5), ("network", "5g"),
                                          ("charging", 1), ("acked", ["x"]), ("uptime_s", -1)])
async def test_bad_heartbeat_fields(device, field, value):
    status, body = await device.call("heartbeat", {field: value})
    assert (status, body["error"]["code"]) == (400, "invalid_field")


# every op signs the same way

@pytest.mark.parametrize("op", ["info", "qr", "close", "refund", "orders", "heartbeat"])
async def test_every_signed_op_refuses_a_bad_signature(device, op):
    headers = sign_request(DEVICE_ID, new_device_key(), f"/d/v1/{op}", b"{}")
    status, body = await device.post(op, b"{}", headers=headers)
    assert (status, body["error"]["code"]) == (401, "bad_signature")
