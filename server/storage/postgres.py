"""PostgreSQL storage (asyncpg): several server processes on one database.

The SQL is sql.py's; this adds a connection pool, `?` -> `$n` placeholders, work claimed with
`FOR UPDATE SKIP LOCKED`, and order changes announced with NOTIFY inside the changing transaction
(delivered at commit), which every process LISTENs to so its long polls wake up.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import fields
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..clock import new_id, now_ms
from .errors import LimitExceeded
from .records import PAYING, Order, from_row, values_of
from .sql import ORDER_COLUMNS, RELEASING, Rollback, Sql, SqlStorage

log = logging.getLogger(__name__)

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
_LISTEN_RETRY_S = 1.0
_CLOSE_S = 5.0
_RESCHEDULE_BATCH = 1000   # reschedules in one statement at most
_DEADLOCK_RETRIES = 2


@functools.lru_cache(maxsize=512)
def to_dollar(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (our SQL has no `?` inside string literals)."""
    count = 0

    def number(_match: re.Match) -> str:
        nonlocal count
        count += 1
        return f"${count}"
    return re.sub(r"\?", number, sql)


_COLUMNS = ", ".join(ORDER_COLUMNS)


@functools.lru_cache(maxsize=8)
def _create_order_sql(with_cap: bool, with_event: bool) -> str:
    """Insert an order unless its (device_id, order_no) exists, with its event and its merchant's day,
    as one statement: one round trip, and the merchant's day row locked only while it runs."""
    # Typed: parameters in a SELECT list have no column to take their type from.
    typed = ", ".join(f"?::{'bigint' if 'int' in str(f.type) else 'text'}" for f in fields(Order))
    parts = [f"WITH dup AS (SELECT {_COLUMNS} FROM orders WHERE device_id = ? AND order_no = ?)"]
    gate = "NOT EXISTS (SELECT 1 FROM dup)"
    if with_cap:
        parts.append(
            "cap AS (INSERT INTO merchant_days (merchant_id, day, used_fen)"
            f" SELECT ?::text, ?::bigint, ?::bigint WHERE {gate} AND ?::bigint <= ?::bigint"
            " ON CONFLICT (merchant_id, day) DO UPDATE SET used_fen = merchant_days.used_fen + excluded.used_fen"
            " WHERE merchant_days.used_fen + excluded.used_fen <= ?::bigint RETURNING 1 AS taken)")
        gate = "EXISTS (SELECT 1 FROM cap)"
    # No ON CONFLICT: a concurrent duplicate fails the whole statement (its cap undone with it).
    parts.append(f"ins AS (INSERT INTO orders ({_COLUMNS}) SELECT {typed} WHERE {gate} RETURNING id)")
    if with_event:
        parts.append("ev AS (INSERT INTO order_events (id, order_id, at, kind, detail, raw)"
                     " SELECT ?::text, id, ?::bigint, 'created', ?::text, NULL FROM ins)")
    return to_dollar(", ".join(parts) + f" SELECT (SELECT count(*) FROM ins) AS inserted,"
                     f" {', '.join('dup.' + c for c in ORDER_COLUMNS)} FROM (SELECT 1) AS one LEFT JOIN dup ON true")


@functools.lru_cache(maxsize=8)
def _finish_order_sql(unengaged: bool, with_event: bool) -> str:
    """PAYING -> final, its event, the merchant's day given back, NOTIFY, and the row as it is now."""
    parts = [f"WITH won AS (UPDATE orders SET status = ?, reason = ?, message = ?,"
             " channel_trade_no = COALESCE(?, channel_trade_no), finished_at = ?, next_check_at = NULL"
             " WHERE id = ? AND status = ?" + (" AND channel = ''" if unengaged else "") + f" RETURNING {_COLUMNS})"]
    if with_event:
        parts.append("ev AS (INSERT INTO order_events (id, order_id, at, kind, detail, raw) VALUES (?, ?, ?, ?, ?, ?))")
    releasing = ", ".join(f"'{status}'" for status in RELEASING)
    parts.append("released AS (UPDATE merchant_days d SET used_fen = d.used_fen - won.amount_fen FROM won"
                 f" WHERE d.merchant_id = won.merchant_id AND d.day = won.day AND won.status IN ({releasing}))")
    parts.append("notified AS (SELECT pg_notify(?, id) FROM won)")
    return to_dollar(
        ", ".join(parts) + f" SELECT {_COLUMNS}, TRUE AS won, (SELECT count(*) FROM notified) AS notified FROM won"
        f" UNION ALL SELECT {_COLUMNS}, FALSE, 0 FROM orders WHERE id = ? AND NOT EXISTS (SELECT 1 FROM won)")


# Many orders' reschedules (PostgresStorage.reschedule_order_returning) in one statement: each row its own
# conditional update (sql.py's order_reschedule, column by column; a NULL deadline_seen, faults or claim is
# that argument left out), its answer journalled only if it moved, the rows as they are afterwards.
_RESCHEDULE_MANY = f"""WITH a AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::int[],
    $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[])
    AS a(id, next_check_at, deadline_seen, attempt, faults, claim, event_id, event_at, event_kind, event_detail,
    event_raw)),
moved AS (UPDATE orders o SET
    next_check_at = CASE WHEN o.deadline_at < a.deadline_seen THEN o.deadline_at ELSE a.next_check_at END,
    attempts = o.attempts + a.attempt, faults = COALESCE(a.faults, o.faults),
    claimed_by = CASE WHEN a.claim IS NULL THEN o.claimed_by END,
    claimed_until = CASE WHEN a.claim IS NULL THEN o.claimed_until END
    FROM a WHERE o.id = a.id AND o.status = '{PAYING}' AND (a.claim IS NULL OR o.claimed_by = a.claim)
    RETURNING {', '.join('o.' + name for name in ORDER_COLUMNS)}, a.event_id, a.event_at, a.event_kind,
    a.event_detail, a.event_raw),
journalled AS (INSERT INTO order_events (id, order_id, at, kind, detail, raw)
    SELECT event_id, id, event_at, event_kind, event_detail, event_raw FROM moved WHERE event_id IS NOT NULL)
SELECT {_COLUMNS} FROM moved"""


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A pool connection goes back as it is (see open())."""


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _Statements:
    def __init__(self, pool_or_conn: asyncpg.Pool | PoolConnectionProxy):
        self._db = pool_or_conn   # the pool (each statement on a free connection), or a transaction's connection

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        return _rowcount(await self._db.execute(to_dollar(sql), *args))

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None:
        row = await self._db.fetchrow(to_dollar(sql), *args)
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in await self._db.fetch(to_dollar(sql), *args)]


class PostgresStorage(SqlStorage):
    DIALECT = "postgresql"
    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool, dsn: str, schema: str):
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self.sql: Sql = _Statements(pool)
        self.point: Sql = self.sql
        # NOTIFY channel names are global to the database: one per schema keeps tenants (and tests) apart.
        self.notify_channel = f"scanpay_orders_{schema}" if schema else "scanpay_orders"
        self._listeners: list[Callable[[str], None]] = []
        self._listen_task: asyncio.Task | None = None
        self._listen_ready = asyncio.Event()
        self._reschedules: list[tuple[tuple, asyncio.Future]] = []
        self._rescheduler: asyncio.Task | None = None

    @classmethod
    async def open(cls, dsn: str, *, schema: str = "", pool_size: int = 10) -> "PostgresStorage":
        if schema and not _SCHEMA.match(schema):
            raise ValueError("database.schema must be a lower-case SQL identifier")
        server_settings = {"search_path": schema} if schema else {}
        if schema:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            except asyncpg.UniqueViolationError:
                pass  # another process created it at the same moment
            finally:
                await conn.close()
        # reset: asyncpg's default costs a round trip on every release (RESET ALL, UNLISTEN *, ...), one
        # for each statement here. These connections never change their session (search_path is set at
        # connect, LISTEN has its own connection, migrate() unlocks what it locks); an open transaction
        # is still rolled back by the pool before this runs. No inactive lifetime: it sets and cancels a
        # timer on every release and acquire, to close at most pool_size idle connections.
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size, server_settings=server_settings,
                                         reset=_keep_session, max_inactive_connection_lifetime=0)
        storage = cls(pool, dsn, schema)
        try:
            await storage.migrate()
        except BaseException:
            await pool.close()
            raise
        return storage

    async def close(self) -> None:
        if self._rescheduler is not None:
            with contextlib.suppress(Exception):
                await self._rescheduler
        if self._listen_task is not None:
            self._listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen_task
        try:
            await asyncio.wait_for(self._pool.close(), _CLOSE_S)
        except (TimeoutError, asyncpg.PostgresError, OSError):
            # A connection still busy (a statement cut off by a cancellation): drop it, so the
            # database rolls its transaction back instead of waiting for us forever.
            log.warning("connections did not close in %.0f s; terminating them", _CLOSE_S)
            self._pool.terminate()

    async def migrate(self) -> None:
        # Processes starting together take turns: the second finds the migrations applied.
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"scanpay-migrate-{self._schema}")
            try:
                await super().migrate()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"scanpay-migrate-{self._schema}")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Sql]:
        async with self._pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                yield _Statements(conn)
            except Rollback:
                await tx.rollback()
            except BaseException:
                await tx.rollback()
                raise
            else:
                await tx.commit()

    async def notify_order(self, tx: Sql, order_id: str) -> None:
        await tx.execute("SELECT pg_notify(?, ?)", (self.notify_channel, order_id))

    # The payment path: one statement each.

    async def create_order(self, order: Order, *, daily_cap_fen: int | None = None,
                           event: str | None = None) -> tuple[Order, bool]:
        with_cap = daily_cap_fen is not None and order.merchant_id is not None
        args: list[Any] = [order.device_id, order.order_no]
        if with_cap:
            args += [order.merchant_id, order.day, order.amount_fen, order.amount_fen, daily_cap_fen, daily_cap_fen]
        args += values_of(order)
        if event is not None:
            args += [new_id(), order.created_at, event]
        try:
            row = await self._pool.fetchrow(_create_order_sql(with_cap, event is not None), *args)
        except asyncpg.UniqueViolationError:
            # A concurrent duplicate committed first: nothing of ours was stored; theirs is the order.
            existing = await self.get_order(order.device_id, order.order_no)
            if existing is None:
                raise
            return existing, False
        if row["id"] is not None:
            return from_row(Order, row), False
        if not row["inserted"]:
            # The cap refused it, or a duplicate committed while this statement waited for the day's row
            # (its snapshot did not show that order yet): then that order is the answer, not the cap.
            existing = await self.get_order(order.device_id, order.order_no)
            if existing is not None:
                return existing, False
            raise LimitExceeded(f"the merchant's daily cap of {daily_cap_fen} fen would be exceeded")
        return order, True

    async def finish_order_returning(self, order_id: str, status: str, *, reason: str | None,
                                     message: str | None, channel_trade_no: str | None, finished_at: int,
                                     unengaged: bool = False,
                                     event: tuple[str, str | None, dict | None] | None = None) -> tuple[bool, Order]:
        args: list[Any] = [status, reason, message, channel_trade_no, finished_at, order_id, PAYING]
        if event is not None:
            kind, detail, raw = event
            args += [new_id(), order_id, finished_at, kind, detail,
                     json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str) if raw is not None else None]
        args += [self.notify_channel, order_id]
        row = await self._pool.fetchrow(_finish_order_sql(unengaged, event is not None), *args)
        won = bool(row["won"])
        if not won and row["status"] == PAYING:
            # Lost to a change committed while this statement ran: its snapshot is older than that.
            fresh = await self.get_order_by_id(order_id)
            assert fresh is not None
            return False, fresh
        return won, from_row(Order, row)

    async def reschedule_order_returning(self, order_id: str, next_check_at: int, *, count_attempt: bool,
                                         event: tuple[str, str | None, dict | None] | None = None,
                                         event_at: int | None = None, claim: str | None = None,
                                         faults: int | None = None, deadline_seen: int | None = None) -> Order | None:
        """SqlStorage.reschedule_order_returning, grouped: the reschedules that arrive while one statement
        is under way go together in the next (_RESCHEDULE_MANY), each conditional on its own claim, the
        answers journalled for the orders that moved. One round trip and one commit for many orders,
        rather than a transaction's four and a re-read for each (see order_reschedule)."""
        row: tuple = (order_id, next_check_at, deadline_seen, 1 if count_attempt else 0, faults, claim)
        if event is None:
            row += (None,) * 5
        else:
            kind, detail, raw = event
            row += (new_id(), now_ms() if event_at is None else event_at, kind, detail,
                    json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str) if raw is not None else None)
        future = asyncio.get_running_loop().create_future()
        self._reschedules.append((row, future))
        if self._rescheduler is None:
            self._rescheduler = asyncio.create_task(self._reschedule_pending(), name="pg-reschedules")
        return await future

    async def _reschedule_pending(self) -> None:
        """Send what is pending in one statement, then what came meanwhile, until nothing is left."""
        try:
            while self._reschedules:
                batch, later, ids = [], [], set()
                for row, future in self._reschedules:
                    # An order twice in one UPDATE ... FROM would be changed once: its second waits.
                    if row[0] in ids or len(batch) >= _RESCHEDULE_BATCH:
                        later.append((row, future))
                    else:
                        ids.add(row[0])
                        batch.append((row, future))
                self._reschedules = later
                batch.sort(key=lambda item: item[0][0])   # in id order: less chance of a deadlock (retried)
                try:
                    moved = await self._run_reschedules([row for row, _ in batch])
                except Exception as e:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    continue
                for row, future in batch:
                    if not future.done():       # its caller went away; the reschedule stands
                        future.set_result(moved.get(row[0]))
        finally:
            self._rescheduler = None

    async def _run_reschedules(self, rows: list[tuple]) -> dict[str, Order]:
        columns = [list(column) for column in zip(*rows)]
        for attempt in range(_DEADLOCK_RETRIES + 1):
            try:
                found = await self._pool.fetch(_RESCHEDULE_MANY, *columns)
                return {row["id"]: from_row(Order, row) for row in found}
            except asyncpg.DeadlockDetectedError:
                # Another statement of ours on the same rows (a heartbeat) took them in another order: this
                # statement was undone whole, so it is sent again.
                if attempt == _DEADLOCK_RETRIES:
                    raise
        raise AssertionError("unreachable")

    # Cross-process wake-ups.

    async def listen_orders(self, callback: Callable[[str], None]) -> None:
        """Call `callback(order_id)` whenever any process changes an order; returns once listening."""
        self._listeners.append(callback)
        if self._listen_task is None:
            self._listen_task = asyncio.create_task(self._listen(), name="pg-listen")
        await asyncio.wait_for(self._listen_ready.wait(), 10)

    async def _listen(self) -> None:
        def deliver(_conn, _pid, _channel, payload: str) -> None:
            for callback in self._listeners:
                callback(payload)

        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(self.notify_channel, deliver)
                self._listen_ready.set()
                while not conn.is_closed():
                    await asyncio.sleep(_LISTEN_RETRY_S)
                log.warning("LISTEN connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database restarting: long polls fall back to re-reading
                log.warning("LISTEN failed (%s); retrying", e.__class__.__name__)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(_LISTEN_RETRY_S)

    # Claiming work: rows another process is claiming right now are skipped, not waited for. A claim's
    # owner holds a session advisory lock (hashtext of the schema's resolver namespace, hashtext of the
    # owner id) on a connection of its own for as long as it lives: when the process dies, its connection
    # closes, the lock goes, and the next look of any live process lets go of its claims.

    _CLAIM_LOCK = " FOR UPDATE SKIP LOCKED"
    shared_claims = True
    # The due ids are taken in an InitPlan (id = ANY(ARRAY(...))), run once. `id IN (SELECT ... LIMIT n FOR
    # UPDATE SKIP LOCKED)` is planned here as a nested-loop semi join that runs the subquery again for every
    # row of orders, and so claimed every due order, not n: one process took all the work, and a look's room
    # (the resolver's batch) meant nothing.
    _CLAIM_IDS = "id = ANY(ARRAY({}))"

    @property
    def _claims_namespace(self) -> str:
        return f"scanpay-claims-{self._schema}"

    @contextlib.asynccontextmanager
    async def hold_claims(self, owner: str) -> AsyncIterator[None]:
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.execute("SELECT pg_advisory_lock(hashtext($1), hashtext($2))", self._claims_namespace, owner)
            yield
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.close(timeout=2))

    async def release_stale_claims(self, owner: str) -> int:
        alive = ("EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
                 " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                 " AND l.classid = hashtext(?)::oid AND l.objid = hashtext({table}.claimed_by)::oid"
                 " AND l.objsubid = 2)")
        released = 0
        for table in ("orders", "refunds"):
            released += await self.sql.execute(
                f"UPDATE {table} SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL"
                f" AND claimed_by <> ? AND NOT {alive.format(table=table)}", (owner, self._claims_namespace))
        return released
