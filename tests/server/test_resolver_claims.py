"""The resolver at scale and after a crash (issue 15): claims that die with their owner, every order on its
own schedule, backing off from answers that cannot be trusted, and the alerts that say so.

The crash tests use real server processes (test_processes.py's helpers) and a lease of 60 s: a design
that waits for a dead process's claims to run out fails their bounds of 25 s by far.
"""
from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from tests.server.conftest import DEVICE_ID
from hw_sim import test_codes
from server import alerts
from server.keys import METRICS, STORAGE
from server.clock import new_id, new_trade_no, now_ms
from server.settings import AlertsSettings, DatabaseSettings
from server.storage import PAYING, Order, open_storage
from tests.server.test_processes import DeviceClient, add_device, processes, write_config  # noqa: F401 (a fixture)

LEASE_S = 60.0          # far longer than any bound below: only claims that die with their owner pass
FINAL_WITHIN_S = 25.0   # the generous bound for "at once" / "within seconds"
ORDERS = 12


def crash_config(tmp_path, name: str, database: dict, sandbox):
    # Payers who never type their password: every order is reversed at its 1 s deadline, and WeChat keeps
    # answering recall=Y, so each order sits in its cancel loop (a call every 0.3 s) when the server dies.
    return write_config(tmp_path / f"{name}.toml", {
        "server": {"sandbox": True},               # its channel is the local sandbox
        "database": database,
        "device_api": {"poll_recheck_s": 0.5},
        "resolver": {"tick_s": 0.05, "lease_s": LEASE_S},
        "logging": {"format": "json"},
        "channels.wechat": {"base_url": sandbox.base_url, "timeout_s": 2.0, "query_interval_s": 0.3,
                            "deadline_s": 1.0, "cancel_retry_s": 0.3, "cancel_attempts": 200},
    })


async def pay_orders(device: DeviceClient, server, count: int) -> None:
    for i in range(count):
        code = test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP, 0)
        answer = await device.call(server, "pay", {"order_no": f"C{i}", "amount_fen": 100 + i, "auth_code": code})
        assert answer["order"]["status"] == "PAYING"


async def wait_for_reversals_of_all(sandbox, count: int) -> None:
    for _ in range(400):
        reversing = {trade_no for path, trade_no in sandbox.ledger.calls if path == "/secapi/pay/reverse"}
        if len(reversing) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the orders never reached their cancel")


async def claims_of(database: dict, pid: int | None = None) -> int:
    async with open_storage(DatabaseSettings(**database)) as storage:
        if pid is None:
            row = await storage.sql.fetchone(
                "SELECT COUNT(*) AS n FROM orders WHERE status = 'PAYING' AND claimed_by IS NOT NULL")
        else:
            row = await storage.sql.fetchone(
                "SELECT COUNT(*) AS n FROM orders WHERE status = 'PAYING' AND claimed_by LIKE ?", (f"%:{pid}:%",))
        return row["n"]


async def all_final(device: DeviceClient, server, count: int, started: float) -> list[dict]:
    """Every order's final answer, each asked with a long poll that ends FINAL_WITHIN_S after `started`."""
    async def final(i: int) -> dict:
        left = max(1, int(started + FINAL_WITHIN_S - time.monotonic()))
        return (await device.call(server, "query", {"order_no": f"C{i}", "wait": left}))["order"]
    return await asyncio.gather(*(final(i) for i in range(count)))


async def orders_in_database(database: dict, count: int):
    async with open_storage(DatabaseSettings(**database)) as storage:
        result = []
        for i in range(count):
            order = await storage.get_order(DEVICE_ID, f"C{i}")
            result.append((order, await storage.list_events(order.id)))
        return result


@pytest.mark.slow
async def test_restarted_server_resumes_the_orders_it_was_cancelling_at_once(tmp_path, database, sandbox,
                                                                             processes):
    sandbox.reverse_recalls = 10_000
    key_hex = await add_device(database)
    config = crash_config(tmp_path, "server", database, sandbox)
    first = await processes(config, "first.log")
    async with aiohttp.ClientSession() as session:
        device = DeviceClient(session, key_hex)
        await pay_orders(device, first, ORDERS)
        await wait_for_reversals_of_all(sandbox, ORDERS)
        await first.stop(signal.SIGKILL)
        assert await claims_of(database) > 0        # it died holding claims, each good for another minute
        sandbox.reverse_recalls = 0                 # WeChat revokes at the next reverse

        second = await processes(config, "second.log")
        restarted = time.monotonic()
        finals = await all_final(device, second, ORDERS, restarted)
    assert [(f["status"], f["reason"]) for f in finals] == [("CLOSED", "timeout")] * ORDERS, finals
    assert sandbox.ledger.charges == [] and len(sandbox.ledger.reversals) == ORDERS


@pytest.mark.slow
async def test_sigkilled_process_hands_its_orders_to_the_other_within_seconds(tmp_path, pg_database, sandbox,
                                                                              processes):
    sandbox.reverse_recalls = 10_000
    key_hex = await add_device(pg_database)
    a = await processes(crash_config(tmp_path, "a", pg_database, sandbox), "a.log")
    async with aiohttp.ClientSession() as session:
        device = DeviceClient(session, key_hex)
        await pay_orders(device, a, ORDERS * 2)
        await wait_for_reversals_of_all(sandbox, ORDERS * 2)
        # B starts once A is cancelling every order (two started together may leave A none to hand over)
        b = await processes(crash_config(tmp_path, "b", pg_database, sandbox), "b.log")
        held_by_a = await claims_of(pg_database, a.process.pid)
        await a.stop(signal.SIGKILL)
        assert held_by_a > 0                        # A died in the middle of cancelling orders of its own
        sandbox.reverse_recalls = 0
        killed = time.monotonic()
        finals = await all_final(device, b, ORDERS * 2, killed)
    assert [(f["status"], f["reason"]) for f in finals] == [("CLOSED", "timeout")] * (ORDERS * 2), finals
    assert len(sandbox.ledger.reversals) == ORDERS * 2
    for order, events in await orders_in_database(pg_database, ORDERS * 2):
        assert sum(1 for e in events if e.kind == "cancel:done") == 1, order.order_no


async def test_a_slow_query_holds_back_no_other_order(start_server, sandbox):
    # Every payer types the password within a second; WeChat takes 15 s to answer one order's queries.
    device = await start_server(timeout_s=30.0, query_interval_s=1.0, deadline_s=30.0)
    storage = device.app[STORAGE]
    await device.pay("SLOW", 500, test_codes.make_wechat_code(test_codes.PASSWORD, 1))
    sandbox.slow_queries[(await storage.get_order(DEVICE_ID, "SLOW")).trade_no] = 15.0
    for i in range(6):
        await device.pay(f"F{i}", 100 + i, test_codes.make_wechat_code(test_codes.PASSWORD, 1))
    finals = await asyncio.gather(*(device.query(f"F{i}", wait=12) for i in range(6)))
    assert [body["order"]["status"] for _, body in finals] == ["SUCCESS"] * 6
    # ... all of them answered while the slow order's first query is still waiting for WeChat.
    slow = await storage.get_order(DEVICE_ID, "SLOW")
    assert slow.status == "PAYING"
    assert [e.kind for e in await storage.list_events(slow.id) if e.kind.startswith("query:")] == []
    status, body = await device.query("SLOW", wait=20)
    assert body["order"]["status"] == "SUCCESS"


async def test_untrustworthy_answers_are_asked_again_later_and_later(start_server, sandbox):
    device = await start_server(query_interval_s=0.1, deadline_s=60.0,
                                resolver={"backoff_first_s": 0.2, "backoff_max_s": 30.0})
    storage = device.app[STORAGE]
    await device.pay("B1", 100, test_codes.make_wechat_code(test_codes.PASSWORD, 99))
    sandbox.bad_signatures = True
    await asyncio.sleep(4.0)
    order = await storage.get_order(DEVICE_ID, "B1")
    asks = [e.at for e in await storage.list_events(order.id) if e.kind == "query:UNKNOWN"]
    gaps = [later - earlier for earlier, later in zip(asks, asks[1:])]
    # 0.2, 0.4, 0.8, 1.6 s ...: a flat retry at the 0.1 s interval would have asked some 30 times.
    assert 3 <= len(asks) <= 6, gaps
    assert all(later >= 1.5 * earlier for earlier, later in zip(gaps, gaps[1:])), gaps
    assert order.faults == len(asks) and order.status == "PAYING"

    sandbox.bad_signatures = False   # trustworthy again: back to the channel's interval
    await asyncio.sleep(order.next_check_at / 1000 - time.time() + 1.0)
    order = await storage.get_order(DEVICE_ID, "B1")
    assert order.faults == 0
    assert order.next_check_at - time.time() * 1000 < 1000


async def test_a_refund_the_channel_refuses_raises_an_alert_until_it_succeeds(start_server, sandbox):
    device = await start_server(query_interval_s=0.1)
    storage = device.app[STORAGE]
    status, body = await device.pay("P1", 880, test_codes.make_wechat_code(test_codes.SUCCESS))
    assert body["order"]["status"] == "SUCCESS"
    sandbox.refund_http_status = 404            # the refund endpoint is gone: asking again cannot help
    status, body = await device.refund("P1", "RF1", 880)
    assert body["refund"]["status"] == "PENDING"
    refund = await storage.get_refund(DEVICE_ID, "RF1")
    assert refund.fault == "refused"
    rules = AlertsSettings(resolver_lag_max_s=3600)
    active = await alerts.evaluate(storage, rules, device.app[METRICS])
    assert [(a.rule, a.subject) for a in active] == [("refund_refused", refund.refund_trade_no)]
    assert "RF1" in active[0].message and "HTTP 404" in active[0].message

    sandbox.refund_http_status = None            # fixed: the resolver's next ask succeeds
    for _ in range(200):
        if (await storage.get_refund(DEVICE_ID, "RF1")).status != "PENDING":
            break
        await asyncio.sleep(0.1)
    assert (await storage.get_refund(DEVICE_ID, "RF1")).status == "SUCCESS"
    assert await alerts.evaluate(storage, rules) == []


async def test_due_work_no_resolver_claims_shows_as_lag_and_raises_an_alert(start_server):
    device = await start_server(resolver={"enabled": False})
    storage = device.app[STORAGE]
    await device.pay("L1", 100, test_codes.make_wechat_code(test_codes.PASSWORD, 90))
    order = await storage.get_order(DEVICE_ID, "L1")
    rules = AlertsSettings(resolver_lag_max_s=30, backlog_oldest_max_s=3600)
    metrics = device.app[METRICS]
    assert await alerts.evaluate(storage, rules, metrics, now=order.next_check_at + 10_000) == []
    assert metrics.registry.get_sample_value("scanpay_resolver_lag_seconds") == pytest.approx(10.0, abs=0.01)
    [lag] = await alerts.evaluate(storage, rules, metrics, now=order.next_check_at + 31_000)
    assert lag.rule == "resolver_lag" and "31 s" in lag.message
    resp = await device.client.get("/metrics")
    assert "scanpay_resolver_lag_seconds 31.0" in await resp.text()


async def test_a_channel_with_more_due_than_a_look_takes_is_looked_at_again_at_once(start_server, sandbox):
    # 30 payers confirm within a second; a look takes at most 5 orders of a channel (batch) and comes every
    # 3 s (tick_s). Looking again only a tick later would reach the last of them about 18 s on.
    device = await start_server(resolver={"tick_s": 3.0, "batch": 5}, query_interval_s=1.0, deadline_s=60.0)
    await asyncio.gather(*(device.pay(f"B{i}", 100 + i, test_codes.make_wechat_code(test_codes.PASSWORD, 1))
                           for i in range(30)))
    finals = await asyncio.gather(*(device.query(f"B{i}", wait=8) for i in range(30)))
    assert [body["order"]["status"] for _, body in finals] == ["SUCCESS"] * 30


async def test_an_answer_is_journalled_with_its_reschedule_only_while_the_claim_holds(database):
    async with open_storage(DatabaseSettings(**database)) as storage:
        await storage.add_merchant("M1", "Tea House")
        await storage.add_device("D1", "M1", "Nanjing Rd", "ab" * 32)
        now = now_ms()
        order, _ = await storage.create_order(Order(
            id=new_id(), device_id="D1", order_no="J1", trade_no=new_trade_no(), amount_fen=100, channel="wechat",
            status=PAYING, auth_code_hash="a" * 64, auth_code_masked="*" * 14 + "6789", created_at=now,
            deadline_at=now + 45_000, next_check_at=now))
        [claimed] = await storage.claim_due_orders(now, 60_000, 10, owner="me")
        answer = ("query:WAITING", "USERPAYING", {"trade_state": "USERPAYING"})
        assert not await storage.reschedule_order(order.id, now + 1_000, count_attempt=True, event=answer,
                                                  event_at=now + 5, claim="somebody else")
        assert await storage.reschedule_order(order.id, now + 2_000, count_attempt=True, event=answer,
                                              event_at=now + 7, claim="me", faults=0, deadline_seen=claimed.deadline_at)
        after = await storage.get_order_by_id(order.id)
        assert (after.next_check_at, after.attempts, after.faults) == (now + 2_000, 1, 0)
        assert await storage.claim_due_orders(now + 2_000, 60_000, 10, owner="other") != []   # let go of
        assert [(e.at, e.kind, e.detail, e.raw) for e in await storage.list_events(order.id)] == [
            (now + 7, "query:WAITING", "USERPAYING", {"trade_state": "USERPAYING"})]
        # A device's close moved the deadline earlier while the step ran: due at once, not at the schedule.
        assert await storage.request_close(order.id, now + 100)
        assert await storage.reschedule_order(order.id, now + 9_000, count_attempt=True, event=answer,
                                              claim="other", deadline_seen=claimed.deadline_at)
        assert (await storage.get_order_by_id(order.id)).next_check_at == now + 100


async def test_a_look_claims_no_more_than_it_asks_for(database):
    # PostgreSQL once planned the claim as a semi join that ran its LIMIT again for every row: a look
    # asking for 5 of 30 due orders took all 30, and the other process got none.
    async with open_storage(DatabaseSettings(**database)) as storage:
        await storage.add_merchant("M1", "Tea House")
        await storage.add_device("D1", "M1", "Nanjing Rd", "ab" * 32)
        now = now_ms()
        for i in range(30):
            await storage.create_order(Order(
                id=new_id(), device_id="D1", order_no=f"L{i}", trade_no=new_trade_no(), amount_fen=100,
                channel="wechat", status=PAYING, auth_code_hash="a" * 64, auth_code_masked="*" * 14 + "6789",
                created_at=now, deadline_at=now + 45_000, next_check_at=now - 30 + i))
        first = await storage.claim_due_orders(now, 60_000, 5, owner="a", channel="wechat")
        assert [order.order_no for order in first] == [f"L{i}" for i in range(5)]   # oldest due first
        second = await storage.claim_due_orders(now, 60_000, 5, owner="b")
        assert [order.order_no for order in second] == [f"L{i}" for i in range(5, 10)]
        held = await storage.sql.fetchall(
            "SELECT claimed_by, COUNT(*) AS n FROM orders WHERE claimed_by IS NOT NULL GROUP BY claimed_by"
            " ORDER BY claimed_by")
        assert [(row["claimed_by"], row["n"]) for row in held] == [("a", 5), ("b", 5)]
