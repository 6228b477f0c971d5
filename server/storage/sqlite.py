"""SQLite storage (aiosqlite): the embedded default.

One connection shared by every coroutine. A lock makes each statement, or each transaction
(`BEGIN IMMEDIATE` ... `COMMIT`), run alone, so no coroutine's statement slips into another's
transaction. Several processes on one SQLite file are not supported: use PostgreSQL for that.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

from .sql import Rollback, Sql, SqlStorage

log = logging.getLogger(__name__)

# aiosqlite logs every statement with its parameters at DEBUG, device keys included. Keys must never
# reach a log, whatever level the operator picks, so its logger stops at INFO.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


class _Statements:
    """Statements on the connection; `locked` when the caller holds the lock already (a transaction)."""

    def __init__(self, db: aiosqlite.Connection, lock: asyncio.Lock, locked: bool):
        self._db = db
        self._lock = lock
        self._locked = locked

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._locked:
            yield
        else:
            async with self._lock:
                yield

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        async with self._turn():
            cursor = await self._db.execute(sql, tuple(args))
            count = cursor.rowcount
            await cursor.close()
            return count

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None:
        async with self._turn():
            async with self._db.execute(sql, tuple(args)) as cursor:
                row = await cursor.fetchone()
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        async with self._turn():
            async with self._db.execute(sql, tuple(args)) as cursor:
                rows = await cursor.fetchall()
        return [dict(row) for row in rows]


class SqliteStorage(SqlStorage):
    backend = "sqlite"

    def __init__(self, db: aiosqlite.Connection):
        self._db = db
        self._lock = asyncio.Lock()
        self.sql: Sql = _Statements(db, self._lock, locked=False)

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
            await storage.migrate()
        except BaseException:
            await db.close()
            raise
        return storage

    async def close(self) -> None:
        await self._db.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _Statements(self._db, self._lock, locked=True)
            except Rollback:
                await self._db.execute("ROLLBACK")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            else:
                await self._db.execute("COMMIT")
