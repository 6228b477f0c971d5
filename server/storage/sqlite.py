"""SQLite storage (the standard library's sqlite3 on a thread of its own): the embedded default.

One writer connection, owned by one thread, takes every write; a reader connection on a second
thread answers plain SELECTs meanwhile (WAL: readers never wait for the writer, and see only what was
committed). A write is a function run on the writer's thread, not a statement per await. Lookups of
one row by its key (`point`: the device of a request, an order) run on the event loop's own read-only
connection: a few microseconds in SQLite's page cache cost less than a hop to a thread and back.

Group commit: writes that arrive while a commit is under way wait, then go together in the next
transaction, each in a savepoint of its own (one write failing undoes only itself), with one COMMIT
and so one fsync for all of them; the writer's thread goes from one commit straight to the next while
writes keep coming. `synchronous = FULL` stays: no caller hears of its write before the transaction
holding it is on disk, so a power cut loses nothing that was acknowledged.

`transaction()` (statements awaited one by one, for the rarer multi-step changes) holds the writer
between batches. Several processes on one SQLite file are not supported: use PostgreSQL for that.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..clock import new_id, now_ms
from .errors import LimitExceeded
from .records import PAYING, Order, from_row, values_of
from .sql import ORDER_COLUMNS, ORDER_SELECT, RELEASING, Rollback, Sql, SqlStorage, order_reschedule

log = logging.getLogger(__name__)

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]

_ORDER_INSERT = (f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({', '.join('?' for _ in ORDER_COLUMNS)})")
_EVENT_INSERT = "INSERT INTO order_events (id, order_id, at, kind, detail, raw) VALUES (?, ?, ?, ?, ?, ?)"
# The payment path's statements, built once (sqlite3 caches the prepared statement by its text).
_ORDER_BY_NO = f"{ORDER_SELECT} WHERE device_id = ? AND order_no = ?"
_ORDER_INSERT_NEW = f"{_ORDER_INSERT} ON CONFLICT (device_id, order_no) DO NOTHING"
_ORDER_BY_ID = f"{ORDER_SELECT} WHERE id = ?"
_TAKE_FROM_DAY = ("INSERT INTO merchant_days (merchant_id, day, used_fen) SELECT ?, ?, ? WHERE ? <= ?"
                  " ON CONFLICT (merchant_id, day) DO UPDATE SET used_fen = used_fen + excluded.used_fen"
                  " WHERE used_fen + excluded.used_fen <= ?")
_GIVE_BACK_TO_DAY = "UPDATE merchant_days SET used_fen = used_fen - ? WHERE merchant_id = ? AND day = ?"
_RETURNING_ORDER = " RETURNING " + ", ".join(ORDER_COLUMNS)
_FINISH = ("UPDATE orders SET status = ?, reason = ?, message = ?,"
           " channel_trade_no = COALESCE(?, channel_trade_no), finished_at = ?, next_check_at = NULL"
           " WHERE id = ? AND status = ?{}" + _RETURNING_ORDER)
_FINISH_ANY, _FINISH_UNENGAGED = _FINISH.format(""), _FINISH.format(" AND channel = ''")
_RAW_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)   # as json.dumps with these
_READS = ("SELECT",)   # anything else (a WITH ... UPDATE, a RETURNING) may write: the writer takes it


class _Connection:
    """A sqlite3 connection and the one thread that uses it."""

    def __init__(self, path: str, name: str):
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"sqlite-{name}")
        self._path = path
        self.db: sqlite3.Connection | None = None

    async def open(self, *pragmas: str) -> None:
        def connect() -> None:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            for pragma in pragmas:
                db.execute(pragma)
            self.db = db
        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        if self.db is None:
            raise RuntimeError("the connection is used before open()")
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, self.db)

    async def close(self) -> None:
        if self.db is not None:
            await self.call(lambda db: db.close())
        self._executor.shutdown(wait=True)


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    return [dict(row) for row in cursor.fetchall()]


class _Statement:
    """A write that is one statement: SQLite undoes a failed statement by itself (statement atomicity),
    so it needs no savepoint of its own."""
    __slots__ = ("sql", "args")

    def __init__(self, sql: str, args: tuple):
        self.sql, self.args = sql, args

    def __call__(self, db: sqlite3.Connection) -> int:
        return db.execute(self.sql, self.args).rowcount


def _statement(sql: str, args: tuple) -> Write:
    return _Statement(sql, args)


def _run_batch(db: sqlite3.Connection, writes: list[Write]) -> list[tuple[bool, Any]]:
    """One transaction for all `writes`, each in its own savepoint: (True, result) or (False, exception)."""
    outcomes: list[tuple[bool, Any]] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for write in writes:
            if type(write) is _Statement:
                try:
                    outcomes.append((True, write(db)))
                except Exception as e:
                    if not db.in_transaction:   # an error that ended the transaction: nobody's write holds
                        raise
                    outcomes.append((False, e))   # only its own statement was undone
                continue
            db.execute("SAVEPOINT one_write")
            try:
                outcomes.append((True, write(db)))
            except Exception as e:     # this write's own refusal (a cap, a constraint): only it is undone
                db.execute("ROLLBACK TO one_write")
                outcomes.append((False, e))
            db.execute("RELEASE one_write")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return outcomes


def _settle(batch: list[tuple[Write, asyncio.Future]], outcomes: list[tuple[bool, Any]]) -> None:
    """On the event loop, once the batch's transaction is on disk: each write's result or refusal."""
    for (_, future), (ok, value) in zip(batch, outcomes):
        if future.done():
            continue       # its caller went away; the write stands
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _fail(batch: list[tuple[Write, asyncio.Future]], error: Exception) -> None:
    log.error("a group commit of %d writes failed: %s", len(batch), error)
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


class _Statements:
    """Statements outside a transaction: reads on the reader, each write grouped into the next commit."""

    def __init__(self, storage: "SqliteStorage"):
        self._storage = storage

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        return await self._storage.write(_statement(sql, tuple(args)))

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None:
        rows = await self.fetchall(sql, args)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        args = tuple(args)
        if sql.lstrip()[:6].upper().startswith(_READS):
            return await self._storage.read(lambda db: _rows(db.execute(sql, args)))
        return await self._storage.write(lambda db: _rows(db.execute(sql, args)))   # e.g. UPDATE ... RETURNING


class _TxStatements:
    """Statements inside `transaction()`: all on the writer, in its open transaction."""

    def __init__(self, writer: _Connection):
        self._writer = writer

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        return await self._writer.call(_statement(sql, tuple(args)))

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None:
        rows = await self.fetchall(sql, args)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        args = tuple(args)
        return await self._writer.call(lambda db: _rows(db.execute(sql, args)))


class _PointReads:
    """Lookups by key, answered at once on the event loop's own read-only connection.

    Its rows are plain tuples, made dicts with the statement's column names (kept per statement):
    cheaper than dict(sqlite3.Row), which looks every column up by name.
    """

    _MAX_NAMES = 256

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._names: dict[str, tuple[str, ...]] = {}

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        raise TypeError("point reads do not write")

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None:
        # fetchall, not fetchone: a statement read to its end is reset at once, so it never keeps an
        # old snapshot open for the next read on this connection.
        cursor = self._db.execute(sql, tuple(args))
        rows = cursor.fetchall()
        return dict(zip(self._columns(sql, cursor), rows[0])) if rows else None

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._db.execute(sql, tuple(args))
        rows = cursor.fetchall()
        names = self._columns(sql, cursor)
        return [dict(zip(names, row)) for row in rows]

    def _columns(self, sql: str, cursor: sqlite3.Cursor) -> tuple[str, ...]:
        names = self._names.get(sql)
        if names is None:
            names = tuple(column[0] for column in cursor.description)
            if len(self._names) < self._MAX_NAMES:
                self._names[sql] = names
        return names


class SqliteStorage(SqlStorage):
    DIALECT = "sqlite"
    backend = "sqlite"

    def __init__(self, writer: _Connection, reader: _Connection | None, point: sqlite3.Connection | None):
        self._writer = writer
        self._reader = reader or writer      # ":memory:" has one connection: another would be another database
        self._point = point
        self._turn = asyncio.Lock()          # the group commits, or a transaction(), have the writer
        # Appended on the event loop, taken on the writer's thread (deque: both ends are thread-safe).
        self._pending: collections.deque[tuple[Write, asyncio.Future]] = collections.deque()
        self._flusher: asyncio.Task | None = None
        self._transactions_waiting = 0       # the writer's thread lets them in between two commits
        self.sql: Sql = _Statements(self)
        self.point: Sql = _PointReads(point) if point is not None else self.sql

    @classmethod
    async def open(cls, path: str) -> "SqliteStorage":
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        pragmas = ["PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 5000"]
        writer, reader, point = _Connection(path, "writer"), None, None
        try:
            if path == ":memory:":
                await writer.open(*pragmas)
            else:
                # FULL, not NORMAL: a committed order must survive a power cut, not only a crash.
                await writer.open("PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", *pragmas)
                reader = _Connection(path, "reader")
                await reader.open(*pragmas, "PRAGMA query_only = ON")
                point = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                point.execute("PRAGMA query_only = ON")
            storage = cls(writer, reader, point)
            await storage.migrate()
        except BaseException:
            await writer.close()
            if reader is not None:
                await reader.close()
            if point is not None:
                point.close()
            raise
        return storage

    async def migrate(self) -> None:
        # A table rebuilt by a migration (SQLite's way to change a column) is dropped and re-created, which
        # foreign keys would refuse: they are off while migrating, and every migration is checked before
        # it commits (_check_migration), as https://www.sqlite.org/lang_altertable.html#otheralter says.
        await self._writer.call(lambda db: db.execute("PRAGMA foreign_keys = OFF"))
        try:
            await super().migrate()
        finally:
            await self._writer.call(lambda db: db.execute("PRAGMA foreign_keys = ON"))

    async def _check_migration(self, tx: Sql) -> None:
        broken = await tx.fetchall("PRAGMA foreign_key_check")
        if broken:
            raise RuntimeError(f"a migration left rows whose foreign keys point nowhere: {broken[:5]}")

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._writer.close()
        if self._reader is not self._writer:
            await self._reader.close()
        if self._point is not None:
            self._point.close()

    # the two ways in

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run `fn(connection)` on the reader: it sees what was committed."""
        return self._reader.call(fn)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run `fn(connection)` in the next group commit; resolves once that transaction is on disk.

        `fn` runs in a savepoint: when it raises, its changes are undone and the future raises it.
        """
        future = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="sqlite-group-commit")
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                async with self._turn:
                    loop = asyncio.get_running_loop()
                    await asyncio.shield(self._writer.call(lambda db: self._commit_pending(db, loop)))
        finally:
            self._flusher = None

    def _commit_pending(self, db: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer's thread: commit what is pending, then what came meanwhile, and so on until
        nothing is left (or a transaction() waits), telling the event loop after each commit. The next
        batch starts as soon as the last one is on disk, without a round trip through the loop."""
        while self._pending and not self._transactions_waiting:
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            try:
                outcomes = _run_batch(db, [fn for fn, _ in batch])
            except Exception as e:   # the COMMIT failed (disk full, I/O error): nobody's write holds
                loop.call_soon_threadsafe(_fail, batch, e)
            else:
                loop.call_soon_threadsafe(_settle, batch, outcomes)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        self._transactions_waiting += 1
        try:
            await self._turn.acquire()
        finally:
            self._transactions_waiting -= 1
        try:
            await self._writer.call(lambda db: db.execute("BEGIN IMMEDIATE"))
            try:
                yield _TxStatements(self._writer)
            except Rollback:
                await self._writer.call(lambda db: db.execute("ROLLBACK"))
            except BaseException:
                await asyncio.shield(self._writer.call(lambda db: db.execute("ROLLBACK")))
                raise
            else:
                await self._writer.call(lambda db: db.execute("COMMIT"))
        finally:
            self._turn.release()

    # the payment path: each one call on a thread, the writes in a group commit

    async def create_order(self, order: Order, *, daily_cap_fen: int | None = None,
                           event: str | None = None) -> tuple[Order, bool]:
        values = values_of(order)
        event_row = (new_id(), order.id, order.created_at, "created", event, None) if event is not None else None
        with_cap = daily_cap_fen is not None and order.merchant_id is not None

        def create(db: sqlite3.Connection) -> dict[str, Any] | None:
            # Insert first, read only when (device_id, order_no) is taken (a retry, or a duplicate that
            # got in first): one statement fewer for a new order.
            if db.execute(_ORDER_INSERT_NEW, values).rowcount == 0:
                existing = db.execute(_ORDER_BY_NO, (order.device_id, order.order_no)).fetchall()
                return dict(zip(ORDER_COLUMNS, existing[0]))
            if event_row is not None:
                db.execute(_EVENT_INSERT, event_row)
            if with_cap:
                taken = db.execute(_TAKE_FROM_DAY, (order.merchant_id, order.day, order.amount_fen,
                                                    order.amount_fen, daily_cap_fen, daily_cap_fen)).rowcount
                if not taken:
                    raise LimitExceeded(f"the merchant's daily cap of {daily_cap_fen} fen would be exceeded")
            return None

        existing = await self.write(create)
        return (from_row(Order, existing), False) if existing is not None else (order, True)

    async def finish_order_returning(self, order_id: str, status: str, *, reason: str | None,
                                     message: str | None, channel_trade_no: str | None, finished_at: int,
                                     unengaged: bool = False,
                                     event: tuple[str, str | None, dict | None] | None = None) -> tuple[bool, Order]:
        event_row = None
        if event is not None:
            kind, detail, raw = event
            event_row = (new_id(), order_id, finished_at, kind, detail,
                         _RAW_JSON.encode(raw) if raw is not None else None)
        update = _FINISH_UNENGAGED if unengaged else _FINISH_ANY

        def finish(db: sqlite3.Connection) -> tuple[bool, dict[str, Any]]:
            won = db.execute(update, (status, reason, message, channel_trade_no, finished_at, order_id,
                                      PAYING)).fetchall()
            if event_row is not None:
                db.execute(_EVENT_INSERT, event_row)
            if not won:
                return False, dict(zip(ORDER_COLUMNS, db.execute(_ORDER_BY_ID, (order_id,)).fetchall()[0]))
            row = won[0]
            if status in RELEASING:   # not taken: the merchant's day gets the amount back
                db.execute(_GIVE_BACK_TO_DAY, (row["amount_fen"], row["merchant_id"], row["day"]))
            return True, dict(zip(ORDER_COLUMNS, row))   # the columns asked for, in order: no lookups by name

        won, row = await self.write(finish)
        return won, from_row(Order, row)

    async def reschedule_order_returning(self, order_id: str, next_check_at: int, *, count_attempt: bool,
                                         event: tuple[str, str | None, dict | None] | None = None,
                                         event_at: int | None = None, claim: str | None = None,
                                         faults: int | None = None, deadline_seen: int | None = None) -> Order | None:
        """SqlStorage.reschedule_order_returning in one write of a group commit, the answer journalled in it,
        rather than a transaction() of its own (which holds the writer for everybody) and a re-read (see
        order_reschedule)."""
        update, args = order_reschedule(order_id, next_check_at, count_attempt=count_attempt, claim=claim,
                                        faults=faults, deadline_seen=deadline_seen)
        update += _RETURNING_ORDER
        event_row = None
        if event is not None:
            kind, detail, raw = event
            event_row = (new_id(), order_id, now_ms() if event_at is None else event_at, kind, detail,
                         _RAW_JSON.encode(raw) if raw is not None else None)

        def reschedule(db: sqlite3.Connection) -> dict[str, Any] | None:
            moved = db.execute(update, args).fetchall()
            if not moved:
                return None
            if event_row is not None:
                db.execute(_EVENT_INSERT, event_row)
            return dict(zip(ORDER_COLUMNS, moved[0]))

        row = await self.write(reschedule)
        return from_row(Order, row) if row is not None else None
