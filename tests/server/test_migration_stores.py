"""Migration 0012 on a database that lived before it (SQLite and PostgreSQL): a store record per distinct
free-text store, devices placed in theirs, their orders at that store, and every sticker already on a
counter (its URL carries its device's id) still taking payments for the same store."""
import sqlite3

import asyncpg
import pytest

from server import static_codes
from server.settings import load_settings
from server.storage import open_storage
from server.storage.migrate import load_migrations, split_statements
from server.storage.postgres import to_dollar

BEFORE = 11    # the last migration before stores were records

# merchant, device, store name, lifecycle
DEVICES = [("M1", "D1", "Tea House, Nanjing Rd", "installed"), ("M1", "D2", "Tea House, Nanjing Rd", "installed"),
           ("M1", "D3", "Tea House, Bund", "assigned"), ("M2", "D4", "Tea House, Nanjing Rd", "installed"),
           ("M2", "D5", "Noodles", "in_stock")]


def _rows() -> list[tuple[str, tuple]]:
    rows = [("INSERT INTO merchants (id, name, created_at) VALUES (?, ?, 1)", (m, f"merchant {m}"))
            for m in ("M1", "M2")]
    for merchant, device, store, lifecycle in DEVICES:
        rows.append(("INSERT INTO devices (id, merchant_id, store_name, device_key, created_at, lifecycle)"
                     " VALUES (?, ?, ?, ?, 1, ?)", (device, merchant, store, "ab" * 32, lifecycle)))
    rows.append(("INSERT INTO orders (id, device_id, order_no, trade_no, amount_fen, channel, status, auth_code_hash,"
                 " auth_code_masked, created_at, deadline_at, merchant_id) VALUES ('o1', 'D2', 'A1', 'T1', 1250,"
                 " 'wechat', 'SUCCESS', 'h', 'm', 1, 2, 'M1')", ()))
    rows.append(("INSERT INTO device_places (device_id, token, first_seen_at, last_seen_at)"
                 " VALUES ('D1', 'wifi:a45602112', 1, 1)", ()))
    return rows


def _before_sqlite(path: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
    for migration in load_migrations()[:BEFORE]:
        for statement in split_statements(migration.sql, "sqlite"):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, 1)", (migration.version,))
    for sql, args in _rows():
        db.execute(sql, args)
    db.close()


async def _before_postgres(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        for migration in load_migrations()[:BEFORE]:
            for statement in split_statements(migration.sql, "postgresql"):
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, 1)", migration.version)
        for sql, args in _rows():
            await conn.execute(to_dollar(sql), *args)
    finally:
        await conn.close()


async def test_a_database_from_before_stores_migrates_with_its_shops_and_stickers(database):
    if database["path"].startswith("postgresql"):
        await _before_postgres(database["path"], database["schema"])
    else:
        _before_sqlite(database["path"])
    async with open_storage(load_settings(database=database).database) as storage:
        stores = await storage.sql.fetchall("SELECT id, merchant_id, name, created_by FROM stores ORDER BY merchant_id, name")
        assert [(s["merchant_id"], s["name"]) for s in stores] == [
            ("M1", "Tea House, Bund"), ("M1", "Tea House, Nanjing Rd"), ("M2", "Noodles"), ("M2", "Tea House, Nanjing Rd")]
        store_of = {(s["merchant_id"], s["name"]): s["id"] for s in stores}
        for merchant, device_id, store, _ in DEVICES:
            device = await storage.get_device(device_id)
            assert (device.merchant_id, device.store_name, device.store_id) == (merchant, store, store_of[(merchant, store)])
        # The order stands at its device's store.
        order = await storage.get_order_by_trade_no("T1")
        assert order.store_id == store_of[("M1", "Tea House, Nanjing Rd")]
        # Stickers of placed devices keep their URL (/c/s/<device id>) and their store.
        for device_id in ("D1", "D2", "D3", "D4"):
            code = await static_codes.get(storage, device_id)
            assert (code.status, code.device_id, code.store_id) == \
                ("bound", device_id, (await storage.get_device(device_id)).store_id)
        assert await static_codes.get(storage, "D5") is None           # in stock: no shop's sticker
        assert isinstance(await static_codes.payee(storage, "D3"), static_codes.Payee)
        # Devices may now wait in stock without a merchant; a placed one may not lose it.
        await storage.sql.execute("UPDATE devices SET merchant_id = NULL WHERE id = 'D5'")
        with pytest.raises(Exception, match="devices_placed|CHECK"):
            await storage.sql.execute("UPDATE devices SET merchant_id = NULL WHERE id = 'D1'")
        # Foreign keys still hold (SQLite rebuilt the table with them off).
        with pytest.raises(Exception, match="(?i)foreign key"):
            await storage.sql.execute("UPDATE devices SET store_id = 'nowhere' WHERE id = 'D1'")
        places = await storage.sql.fetchall("SELECT device_id FROM device_places")
        assert [p["device_id"] for p in places] == ["D1"]
