"""SQLite storage (aiosqlite): the embedded default.

One connection in autocommit mode: every method is a single statement, atomic on its own, so
coroutines sharing the connection never see each other's half-done transactions. Status changes
are conditional updates whose row count says whether this caller won.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import fields
from pathlib import Path

import aiosqlite

from ..clock import new_id, now_ms
from . import AlreadyExists, NotFound
from .migrate import load_migrations, split_statements
from .records import PAYING, Device, Merchant, Order, OrderEvent

log = logging.getLogger(__name__)

# aiosqlite logs every statement with its parameters at DEBUG, device keys included. Keys must never
# reach a log, whatever level the operator picks, so its logger stops at INFO.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

_ORDER_COLUMNS = [f.name for f in fields(Order)]


class SqliteStorage:
    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    @classmethod
    async def open(cls, path: str) -> "SqliteStorage":
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA busy_timeout = 5000")
            if path != ":memory:":
                await db.execute("PRAGMA journal_mode = WAL")
                # FULL, not NORMAL: a committed order must survive a power cut, not only a crash.
                await db.execute("PRAGMA synchronous = FULL")
            storage = cls(db)
            await storage._migrate()
        except BaseException:
            await db.close()
            raise
        return storage

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            applied = {row[0] for row in await cur.fetchall()}
        for migration in load_migrations():
            if migration.version in applied:
                continue
            log.info("applying migration %s", migration.name)
            await self._db.execute("BEGIN")
            try:
                for statement in split_statements(migration.sql):
                    await self._db.execute(statement)
                await self._db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                       (migration.version, now_ms()))
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    # merchants and devices

    async def add_merchant(self, merchant_id: str, name: str) -> Merchant:
        merchant = Merchant(id=merchant_id, name=name, created_at=now_ms())
        try:
            await self._db.execute("INSERT INTO merchants (id, name, created_at) VALUES (?, ?, ?)",
                                   (merchant.id, merchant.name, merchant.created_at))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"merchant {merchant_id} exists already") from None
        return merchant

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        async with self._db.execute("SELECT id, name, created_at FROM merchants WHERE id = ?", (merchant_id,)) as cur:
            row = await cur.fetchone()
        return Merchant(**dict(row)) if row else None

    async def add_device(self, device_id: str, merchant_id: str, store_name: str, key_hex: str) -> Device:
        if len(key_hex) != 64:
            raise ValueError("a device key is 64 hex characters")
        bytes.fromhex(key_hex)  # ValueError when not hex
        if await self.get_merchant(merchant_id) is None:
            raise NotFound(f"no merchant {merchant_id}")
        device = Device(id=device_id, merchant_id=merchant_id, store_name=store_name,
                        key_hex=key_hex.lower(), status="active", created_at=now_ms())
        try:
            await self._db.execute(
                "INSERT INTO devices (id, merchant_id, store_name, device_key, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (device.id, device.merchant_id, device.store_name, device.key_hex, device.status, device.created_at))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"device {device_id} exists already") from None
        return device

    async def get_device(self, device_id: str) -> Device | None:
        async with self._db.execute(
                "SELECT id, merchant_id, store_name, device_key, status, created_at FROM devices WHERE id = ?",
                (device_id,)) as cur:
            row = await cur.fetchone()
        return _device(row) if row else None

    async def list_devices(self) -> list[Device]:
        async with self._db.execute(
                "SELECT id, merchant_id, store_name, device_key, status, created_at FROM devices ORDER BY id") as cur:
            return [_device(row) for row in await cur.fetchall()]

    async def set_device_status(self, device_id: str, status: str) -> bool:
        cur = await self._db.execute("UPDATE devices SET status = ? WHERE id = ?", (status, device_id))
        return cur.rowcount == 1

    # replay protection

    async def remember_nonce(self, device_id: str, nonce: str, now: int, ttl_ms: int) -> bool:
        # Forget this device's expired nonces first, so the table stays small without a sweeper.
        await self._db.execute("DELETE FROM nonces WHERE device_id = ? AND seen_at < ?", (device_id, now - ttl_ms))
        cur = await self._db.execute(
            "INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (device_id, nonce, now))
        return cur.rowcount == 1

    # orders

    async def create_order(self, order: Order) -> tuple[Order, bool]:
        placeholders = ", ".join("?" for _ in _ORDER_COLUMNS)
        values = tuple(getattr(order, name) for name in _ORDER_COLUMNS)
        try:
            await self._db.execute(f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}) VALUES ({placeholders})", values)
        except sqlite3.IntegrityError:
            existing = await self.get_order(order.device_id, order.order_no)
            if existing is None:
                raise  # not the idempotency key: a genuine fault
            return existing, False
        return order, True

    async def get_order(self, device_id: str, order_no: str) -> Order | None:
        return await self._one_order("device_id = ? AND order_no = ?", (device_id, order_no))

    async def get_order_by_id(self, order_id: str) -> Order | None:
        return await self._one_order("id = ?", (order_id,))

    async def _one_order(self, where: str, args: tuple) -> Order | None:
        async with self._db.execute(f"SELECT {', '.join(_ORDER_COLUMNS)} FROM orders WHERE {where}", args) as cur:
            row = await cur.fetchone()
        return Order(**dict(row)) if row else None

    async def count_orders(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM orders") as cur:
            return (await cur.fetchone())[0]

    async def finish_order(self, order_id: str, status: str, *, reason: str | None, message: str | None,
                           channel_trade_no: str | None, finished_at: int) -> bool:
        cur = await self._db.execute(
            "UPDATE orders SET status = ?, reason = ?, message = ?,"
            " channel_trade_no = COALESCE(?, channel_trade_no), finished_at = ?, next_check_at = NULL"
            " WHERE id = ? AND status = ?",
            (status, reason, message, channel_trade_no, finished_at, order_id, PAYING))
        return cur.rowcount == 1

    async def reschedule_order(self, order_id: str, next_check_at: int, *, count_attempt: bool) -> bool:
        cur = await self._db.execute(
            "UPDATE orders SET next_check_at = ?, attempts = attempts + ? WHERE id = ? AND status = ?",
            (next_check_at, 1 if count_attempt else 0, order_id, PAYING))
        return cur.rowcount == 1

    async def claim_due_orders(self, now: int, lease_ms: int, limit: int) -> list[Order]:
        async with self._db.execute(
                "SELECT id, next_check_at FROM orders WHERE status = ? AND next_check_at <= ?"
                " ORDER BY next_check_at LIMIT ?", (PAYING, now, limit)) as cur:
            due = await cur.fetchall()
        claimed = []
        for row in due:
            # Only the loop whose update still sees the old next_check_at gets the order.
            cur = await self._db.execute(
                "UPDATE orders SET next_check_at = ? WHERE id = ? AND status = ? AND next_check_at = ?",
                (now + lease_ms, row["id"], PAYING, row["next_check_at"]))
            if cur.rowcount == 1:
                order = await self.get_order_by_id(row["id"])
                if order is not None:
                    claimed.append(order)
        return claimed

    # the order's journal

    async def add_event(self, order_id: str, at: int, kind: str, detail: str | None = None,
                        raw: dict | None = None) -> None:
        await self._db.execute(
            "INSERT INTO order_events (id, order_id, at, kind, detail, raw) VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(), order_id, at, kind, detail,
             json.dumps(raw, ensure_ascii=False, sort_keys=True) if raw is not None else None))

    async def list_events(self, order_id: str) -> list[OrderEvent]:
        async with self._db.execute(
                "SELECT id, order_id, at, kind, detail, raw FROM order_events WHERE order_id = ? ORDER BY at, id",
                (order_id,)) as cur:
            rows = await cur.fetchall()
        return [OrderEvent(id=r["id"], order_id=r["order_id"], at=r["at"], kind=r["kind"], detail=r["detail"],
                           raw=json.loads(r["raw"]) if r["raw"] is not None else None) for r in rows]


def _device(row) -> Device:
    return Device(id=row["id"], merchant_id=row["merchant_id"], store_name=row["store_name"],
                  key_hex=row["device_key"], status=row["status"], created_at=row["created_at"])
