"""The storage on SQLite and PostgreSQL: migrations, conditional updates, work claims, nonces."""
import asyncio
import sqlite3

import pytest

from server.clock import new_id, new_trade_no, now_ms
from server.settings import DatabaseSettings
from server.storage.migrate import load_migrations
from server.storage import CLOSED, PAYING, SUCCESS, AlreadyExists, NotFound, Order, open_storage


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
