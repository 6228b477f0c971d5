"""The storage on SQLite and PostgreSQL: migrations, conditional updates, caps, work claims, nonces, commits."""
import asyncio
import dataclasses
import sqlite3

import pytest

from server.clock import new_id, new_trade_no, now_ms
from server.settings import DatabaseSettings
from server.storage.migrate import load_migrations
from server.storage import CLOSED, PAYING, SUCCESS, AlreadyExists, LimitExceeded, NotFound, Order, open_storage


def paying_order(order_no: str, *, next_check_at: int | None = None) -> Order:
    now = now_ms()
    return Order(id=new_id(), device_id="D1", order_no=order_no, trade_no=new_trade_no(), amount_fen=100,
                 channel="wechat", status=PAYING, auth_code_hash="a" * 64, auth_code_masked="*" * 14 + "6789",
                 created_at=now, deadline_at=now + 45_000, next_check_at=next_check_at)


@pytest.fixture
async def storage(database):
    async with open_storage(DatabaseSettings(**database)) as storage:
        await storage.add_merchant("M1", "Tea House")
        await storage.add_device("D1", "M1", "Nanjing Rd", "ab" * 32)
        yield storage


async def test_file_is_created_in_wal_mode_and_migrations_apply_once(tmp_path):
    path = tmp_path / "var" / "t.db"
    for _ in range(2):
        async with open_storage(DatabaseSettings(path=str(path))) as storage:
            assert await storage.count_orders() == 0
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        applied = db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(m.version,) for m in load_migrations()] and len(applied) >= 2
    finally:
        db.close()


async def test_in_memory_database_works():
    async with open_storage(DatabaseSettings(path=":memory:")) as storage:
        await storage.add_merchant("M1", "x")
        assert (await storage.get_merchant("M1")).name == "x"


async def test_devices(storage):
    device = await storage.get_device("D1")
    assert device.key == bytes.fromhex("ab" * 32) and device.status == "active"
    assert "abab" not in repr(device)
    with pytest.raises(AlreadyExists):
        await storage.add_device("D1", "M1", "again", "cd" * 32)
    with pytest.raises(NotFound):
        await storage.add_device("D2", "M404", "x", "cd" * 32)
    with pytest.raises(ValueError):
        await storage.add_device("D3", "M1", "x", "not hex")
    assert [d.id for d in await storage.list_devices()] == ["D1"]
    assert await storage.set_device_status("D1", "disabled")
    assert (await storage.get_device("D1")).status == "disabled"


async def test_duplicate_order_no_returns_the_existing_order(storage):
    first, created = await storage.create_order(paying_order("O1"))
    again, created_again = await storage.create_order(paying_order("O1"))
    assert created and not created_again
    assert again == first
    assert await storage.count_orders() == 1


async def test_finish_is_conditional_and_only_one_caller_wins(storage):
    order, _ = await storage.create_order(paying_order("O2"))
    results = await asyncio.gather(
        storage.finish_order(order.id, SUCCESS, reason=None, message=None, channel_trade_no="T1", finished_at=1),
        storage.finish_order(order.id, CLOSED, reason="timeout", message=None, channel_trade_no=None, finished_at=2))
    assert sorted(results) == [False, True]
    final = await storage.get_order_by_id(order.id)
    assert final.status == (SUCCESS if results[0] else CLOSED)
    assert not await storage.reschedule_order(order.id, now_ms(), count_attempt=True)


async def test_two_processes_never_claim_the_same_order(database):
    settings = DatabaseSettings(**database)
    async with open_storage(settings) as a, open_storage(settings) as b:
        await a.add_merchant("M1", "x")
        await a.add_device("D1", "M1", "x", "ab" * 32)
        now = now_ms()
        for i in range(30):
            await a.create_order(paying_order(f"O{i}", next_check_at=now - 1))
        claims = await asyncio.gather(a.claim_due_orders(now, 10_000, 50), b.claim_due_orders(now, 10_000, 50))
        ids_a, ids_b = {o.id for o in claims[0]}, {o.id for o in claims[1]}
        assert not ids_a & ids_b
        assert len(ids_a | ids_b) == 30
        # Leased: nobody gets them again until the lease runs out.
        assert await a.claim_due_orders(now + 5_000, 10_000, 50) == []
        assert len(await b.claim_due_orders(now + 10_001, 10_000, 50)) == 30


async def test_nonces_are_refused_within_their_lifetime(storage):
    assert await storage.remember_nonce("D1", "nonce-1", 1_000_000, 600_000)
    assert not await storage.remember_nonce("D1", "nonce-1", 1_500_000, 600_000)
    assert await storage.remember_nonce("D2", "nonce-1", 1_500_000, 600_000)   # per device
    assert await storage.remember_nonce("D1", "nonce-1", 1_600_001, 600_000)   # expired, forgotten


async def test_events_keep_the_raw_answer(storage):
    order, _ = await storage.create_order(paying_order("O3"))
    await storage.add_event(order.id, 1, "created")
    await storage.add_event(order.id, 2, "pay:WAITING", "需要用户输入支付密码", {"err_code": "USERPAYING"})
    events = await storage.list_events(order.id)
    assert [(e.kind, e.raw) for e in events] == [("created", None), ("pay:WAITING", {"err_code": "USERPAYING"})]


def capped_order(order_no: str, amount_fen: int) -> Order:
    return dataclasses.replace(paying_order(order_no), amount_fen=amount_fen, merchant_id="M1", day=20261122)


async def test_concurrent_payments_stay_within_the_cap_and_a_duplicate_is_created_once(storage):
    # All at once: on SQLite they share one group commit, on PostgreSQL they race for the day's row.
    attempts = [storage.create_order(capped_order(f"C{i}", 300), daily_cap_fen=1000, event="300 fen")
                for i in range(6)]
    attempts += [storage.create_order(capped_order("DUP", 100), daily_cap_fen=1000, event="100 fen")
                 for _ in range(3)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    created = [r[0] for r in results if not isinstance(r, Exception) and r[1]]
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    duplicates = [r[0] for r in results[6:] if not isinstance(r, Exception)]
    assert len({o.id for o in duplicates}) == 1 and len(duplicates) == 3   # every caller got the one order
    # Three of 300 and the one of 100 fit in 1000, whatever the order they came in.
    assert sorted(o.amount_fen for o in created) == [100, 300, 300, 300] and len(refused) == 3
    assert await storage.merchant_day_used("M1", 20261122) == 1000
    assert await storage.count_orders() == len(created)   # a refused payment left nothing behind
    for order in created:
        assert [e.kind for e in await storage.list_events(order.id)] == ["created"]


async def test_finishing_returns_the_order_and_a_failed_one_gives_the_cap_back(storage):
    order, _ = await storage.create_order(capped_order("F1", 400), daily_cap_fen=1000)
    won, failed = await storage.finish_order_returning(
        order.id, "FAILED", reason="insufficient_funds", message=None, channel_trade_no=None, finished_at=5,
        event=("pay:FAILED", "NOTENOUGH", {"err_code": "NOTENOUGH"}))
    assert won and (failed.status, failed.reason, failed.finished_at) == ("FAILED", "insufficient_funds", 5)
    assert await storage.merchant_day_used("M1", 20261122) == 0
    lost, same = await storage.finish_order_returning(
        order.id, SUCCESS, reason=None, message=None, channel_trade_no="T9", finished_at=6)
    assert not lost and same == failed == await storage.get_order_by_id(order.id)
    assert [e.kind for e in await storage.list_events(order.id)] == ["pay:FAILED"]


async def test_a_write_is_answered_only_once_it_is_committed(tmp_path):
    # Group commit: what a caller was told is stored is there for any other connection at once.
    path = tmp_path / "gc.db"
    async with open_storage(DatabaseSettings(path=str(path))) as storage:
        await storage.add_merchant("M1", "Tea House")
        await storage.add_device("D1", "M1", "Nanjing Rd", "ab" * 32)
        orders = await asyncio.gather(*(storage.create_order(paying_order(f"G{i}")) for i in range(40)))
        fresh = await asyncio.gather(*(storage.remember_nonce("D1", f"nonce-{i}", 1_000, 600_000) for i in range(40)))
        other = sqlite3.connect(path)
        try:
            stored = {row[0] for row in other.execute("SELECT id FROM orders")}
            nonces = other.execute("SELECT COUNT(*) FROM nonces").fetchone()[0]
        finally:
            other.close()
    assert stored == {order.id for order, created in orders if created} and len(stored) == 40
    assert all(fresh) and nonces == 40


async def test_reschedules_at_once_each_return_their_order_and_only_those_claimed_move(storage):
    # On PostgreSQL these go together in one statement, on SQLite in one group commit: each caller still
    # hears of its own order, and an order whose claim is somebody else's changes nothing.
    now = now_ms()
    orders = [(await storage.create_order(paying_order(f"R{i}", next_check_at=now - 1)))[0] for i in range(12)]
    claimed = {o.id for o in await storage.claim_due_orders(now, 60_000, 8, owner="me")}
    answer = ("query:WAITING", "USERPAYING", {"trade_state": "USERPAYING"})
    results = await asyncio.gather(*(storage.reschedule_order_returning(
        order.id, now + 1_000 + i, count_attempt=True, event=answer, event_at=now + i, claim="me", faults=i % 2,
        deadline_seen=order.deadline_at) for i, order in enumerate(orders)))
    for i, (order, moved) in enumerate(zip(orders, results)):
        if order.id not in claimed:
            assert moved is None and await storage.list_events(order.id) == []
            assert (await storage.get_order_by_id(order.id)).next_check_at == now - 1
            continue
        assert moved == await storage.get_order_by_id(order.id)
        assert (moved.id, moved.next_check_at, moved.attempts, moved.faults) == (order.id, now + 1_000 + i, 1, i % 2)
        assert [(e.at, e.kind) for e in await storage.list_events(order.id)] == [(now + i, "query:WAITING")]
    assert len(claimed) == 8
    # Let go of: another owner gets them (and only them: the others were due and still are "me"-free too).
    again = await storage.claim_due_orders(now + 1_100, 60_000, 20, owner="other")
    assert {o.id for o in again} == {o.id for o in orders}
    # The same order twice at once (no claim asked for): both count, neither is lost.
    twice = await asyncio.gather(*(storage.reschedule_order_returning(orders[0].id, now + 5_000, count_attempt=True)
                                   for _ in range(2)))
    assert sorted(o.attempts for o in twice) == [2, 3] and twice[0].faults == 0
