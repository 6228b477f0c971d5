"""The storage layer's SQL, written once for SQLite and PostgreSQL.

A backend supplies a `Sql` executor (plain statements, `?` placeholders) and `transaction()`, which
yields an executor whose statements commit or roll back together. Status changes are conditional
updates whose row count says whether this caller won. Backends override what differs: claiming due
work (PostgreSQL: `FOR UPDATE SKIP LOCKED`) and telling other processes an order changed (NOTIFY).

Here merchants, orders and refunds; the other aggregates are parts SqlStorage is made of (devices.py,
places.py, rollouts.py, announcements.py, console_reads.py, ...).
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

from ..clock import new_id, now_ms
from .announcements import AnnouncementStore
from .console_reads import ConsoleReads
from .console_users import ConsoleUserStore
from .devices import DeviceStore
from .errors import AlreadyExists, NotFound, RefundRefused
from .migrate import load_migrations, split_statements
from .monitoring import MonitoringStore
from .places import PlaceStore
from .rollouts import RolloutStore
from .records import (
    PAYING, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCESS, REFUNDED, SUCCESS, Evidence, Merchant, MerchantChannel,
    Order, OrderEvent, OrderScope, Refund, field_names, from_row, values_of,
)

log = logging.getLogger(__name__)

ORDER_COLUMNS = field_names(Order)
REFUND_COLUMNS = field_names(Refund)
ORDER_SELECT = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders"
_REFUND_SELECT = f"SELECT {', '.join(REFUND_COLUMNS)} FROM refunds"
_MERCHANT_COLUMNS = ", ".join(field_names(Merchant))
_EVIDENCE_COLUMNS = ", ".join(field_names(Evidence))
_MERCHANT_CHANNEL_COLUMNS = ", ".join(field_names(MerchantChannel))
_EVENT_COLUMNS = ", ".join(field_names(OrderEvent))
_ORDER_AND_DAY_USED = (
    f"SELECT {', '.join('o.' + name for name in ORDER_COLUMNS)},"
    " (SELECT used_fen FROM merchant_days WHERE merchant_id = ? AND day = ?) AS day_used_fen"
    " FROM (SELECT 1 AS one) AS here LEFT JOIN orders o ON o.device_id = ? AND o.order_no = ?")
_NO_END = 2 ** 62          # a created_at bound no order reaches
# Final statuses that give the merchant's daily allowance back.
RELEASING = ("FAILED", "CLOSED")
_CLAIM_CHUNK = 500         # ids per statement when renewing claims (SQLite allows 32,766 parameters)


class Sql(Protocol):
    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def fetchone(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None: ...
    async def fetchall(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]: ...


async def fetch_row(sql: Sql, statement: str, args: Iterable[Any] = ()) -> dict[str, Any]:
    """The row a statement cannot fail to find: an aggregate's (COUNT and SUM answer one row, even over none),
    or one the same transaction has just changed. Not finding it is a bug, and raises as one."""
    row = await sql.fetchone(statement, args)
    if row is None:
        raise LookupError(f"no row where one must be: {statement}")
    return row


def _when_due(work: Order | Refund) -> int:
    """A claimed order's or refund's next_check_at: never None, since the claim took it for being due by then."""
    assert work.next_check_at is not None
    return work.next_check_at


def _reschedule_sql(table: str, sets: list[str], args: list[Any], work_id: str, status: str,
                    claim: str | None) -> tuple[str, tuple]:
    """UPDATE `sets` of one unfinished order or refund; with `claim`, only while that owner holds it, letting go."""
    where, where_args = "id = ? AND status = ?", [work_id, status]
    if claim is not None:
        sets = [*sets, "claimed_by = NULL, claimed_until = NULL"]
        where += " AND claimed_by = ?"
        where_args.append(claim)
    return f"UPDATE {table} SET {', '.join(sets)} WHERE {where}", (*args, *where_args)


def order_reschedule(order_id: str, next_check_at: int, *, count_attempt: bool, claim: str | None,
                     faults: int | None, deadline_seen: int | None) -> tuple[str, tuple]:
    """reschedule_order's UPDATE (statement, arguments), also for sqlite.py, which journals the answer in the
    same write of a group commit (postgres.py's _RESCHEDULE_MANY is this update for many orders in one
    statement). The resolver reschedules every waiting order after each query (10,000 payers typing are
    about 2,000 a second), and a transaction of its own each (four round trips; on SQLite the writer held
    and an fsync each) was most of what the resolver cost."""
    sets, args = ["next_check_at = ?"], [next_check_at]
    if deadline_seen is not None:
        sets[0] = "next_check_at = CASE WHEN deadline_at < ? THEN deadline_at ELSE ? END"
        args = [deadline_seen, next_check_at]
    sets.append("attempts = attempts + ?")
    args.append(1 if count_attempt else 0)
    if faults is not None:
        sets.append("faults = ?")
        args.append(faults)
    return _reschedule_sql("orders", sets, args, order_id, PAYING, claim)


class SqlStorage(AnnouncementStore, DeviceStore, PlaceStore, RolloutStore, ConsoleReads, ConsoleUserStore,
                 MonitoringStore):
    """Everything but the connection: subclasses set `self.sql` and implement `transaction()`.

    `self.point` answers lookups of one row by its key (the same as `sql` unless a backend has a
    cheaper way, see sqlite.py); it never writes.
    """

    DIALECT: str   # "sqlite" or "postgresql": which sections of a migration run (migrate.py)

    sql: Sql
    point: Sql
    backend = "sql"

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Sql]:
        raise NotImplementedError

    async def notify_order(self, tx: Sql, order_id: str) -> None:
        """Inside the transaction that changed the order: tell other processes (PostgreSQL NOTIFY)."""

    async def close(self) -> None:
        raise NotImplementedError

    # schema

    async def migrate(self) -> None:
        await self.sql.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        applied = {row["version"] for row in await self.sql.fetchall("SELECT version FROM schema_migrations")}
        for migration in load_migrations():
            if migration.version in applied:
                continue
            log.info("applying migration %s", migration.name)
            async with self.transaction() as tx:
                for statement in split_statements(migration.sql, self.DIALECT):
                    await tx.execute(statement)
                await self._check_migration(tx)
                # Two processes starting at once: the second one's insert fails and its transaction
                # rolls back; it starts again and finds the migration applied.
                await tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                 (migration.version, now_ms()))

    async def _check_migration(self, tx: Sql) -> None:
        """Before a migration commits: what the database cannot check itself during it."""

    async def ping(self) -> None:
        await self.sql.fetchone("SELECT 1 AS one")

    async def table_counts(self, tables: Iterable[str]) -> dict[str, int]:
        counts = {}
        for table in tables:
            counts[table] = (await fetch_row(self.sql, f"SELECT COUNT(*) AS n FROM {table}"))["n"]
        return counts

    # merchants

    async def add_merchant(self, merchant_id: str, name: str, tier: int = 1, *, legal_name: str | None = None,
                           phone: str | None = None) -> Merchant:
        """AlreadyExists when the id, or the phone number, is taken."""
        merchant = Merchant(id=merchant_id, name=name, created_at=now_ms(), tier=tier, legal_name=legal_name,
                            phone=phone)
        async with self.transaction() as tx:
            if phone is not None and await tx.fetchone("SELECT id FROM merchants WHERE phone = ?", (phone,)):
                raise AlreadyExists(f"phone number {phone} is registered already")
            changed = await tx.execute(
                "INSERT INTO merchants (id, name, created_at, tier, legal_name, phone) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (merchant.id, merchant.name, merchant.created_at, merchant.tier, legal_name, phone))
            if not changed:
                raise AlreadyExists(f"merchant {merchant_id} exists already")
        return merchant

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        row = await self.point.fetchone(f"SELECT {_MERCHANT_COLUMNS} FROM merchants WHERE id = ?", (merchant_id,))
        return from_row(Merchant, row) if row else None

    async def get_merchant_by_phone(self, phone: str) -> Merchant | None:
        row = await self.sql.fetchone(f"SELECT {_MERCHANT_COLUMNS} FROM merchants WHERE phone = ?", (phone,))
        return from_row(Merchant, row) if row else None

    async def set_merchant_status(self, merchant_id: str, status: str, *, allowed_from: Iterable[str]) -> bool:
        """Conditional on the status it leaves: False when the merchant is not in one of `allowed_from`."""
        allowed = tuple(allowed_from)
        return await self.sql.execute(
            f"UPDATE merchants SET status = ? WHERE id = ? AND status IN ({', '.join('?' for _ in allowed)})",
            (status, merchant_id, *allowed)) == 1

    async def verify_merchant_tier(self, merchant_id: str, tier: int, *, actor: str, now: int) -> bool:
        return await self.sql.execute(
            "UPDATE merchants SET tier = ?, tier_verified_by = ?, tier_verified_at = ? WHERE id = ?",
            (tier, actor, now, merchant_id)) == 1

    async def add_evidence(self, evidence: Evidence) -> tuple[Evidence, bool]:
        """Insert; the same file of the same kind again returns the first row and False."""
        values = values_of(evidence)
        if await self.sql.execute(
                f"INSERT INTO merchant_evidence ({_EVIDENCE_COLUMNS}) VALUES"
                f" ({', '.join('?' for _ in values)}) ON CONFLICT DO NOTHING", values):
            return evidence, True
        row = await self.sql.fetchone(
            f"SELECT {_EVIDENCE_COLUMNS} FROM merchant_evidence WHERE merchant_id = ? AND kind = ?"
            " AND sha256 = ?", (evidence.merchant_id, evidence.kind, evidence.sha256))
        assert row is not None
        return from_row(Evidence, row), False

    async def list_evidence(self, merchant_id: str) -> list[Evidence]:
        rows = await self.sql.fetchall(
            f"SELECT {_EVIDENCE_COLUMNS} FROM merchant_evidence WHERE merchant_id = ?"
            " ORDER BY uploaded_at, id", (merchant_id,))
        return [from_row(Evidence, row) for row in rows]

    async def set_merchant_tier(self, merchant_id: str, tier: int) -> bool:
        return await self.sql.execute("UPDATE merchants SET tier = ? WHERE id = ?", (tier, merchant_id)) == 1

    # a merchant's identity at each channel

    async def set_merchant_channel(self, record: MerchantChannel) -> None:
        """Record (or change) a merchant's standing at a channel. NotFound without the merchant;
        AlreadyExists when the sub-merchant account is another merchant's."""
        async with self.transaction() as tx:
            if await tx.fetchone("SELECT id FROM merchants WHERE id = ?", (record.merchant_id,)) is None:
                raise NotFound(f"no merchant {record.merchant_id}")
            if record.account_id:
                taken = await tx.fetchone(
                    "SELECT merchant_id FROM merchant_channels WHERE channel = ? AND account_id = ? AND merchant_id <> ?",
                    (record.channel, record.account_id, record.merchant_id))
                if taken is not None:
                    raise AlreadyExists(f"{record.channel} account {record.account_id} is merchant "
                                        f"{taken['merchant_id']}'s")
            values = values_of(record)
            await tx.execute(
                f"INSERT INTO merchant_channels ({_MERCHANT_CHANNEL_COLUMNS})"
                f" VALUES ({', '.join('?' for _ in values)})"
                " ON CONFLICT (merchant_id, channel) DO UPDATE SET account_id = excluded.account_id,"
                " app_id = excluded.app_id, status = excluded.status, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by, fee_rate_ppm = excluded.fee_rate_ppm", values)

    async def merchant_channels(self, merchant_id: str) -> list[MerchantChannel]:
        rows = await self.point.fetchall(
            f"SELECT {_MERCHANT_CHANNEL_COLUMNS} FROM merchant_channels WHERE merchant_id = ? ORDER BY channel",
            (merchant_id,))
        return [from_row(MerchantChannel, row) for row in rows]

    async def channel_accounts(self, channel: str) -> list[MerchantChannel]:
        """Every merchant's standing at `channel` (reconciliation goes through them one by one)."""
        rows = await self.sql.fetchall(
            f"SELECT {_MERCHANT_CHANNEL_COLUMNS} FROM merchant_channels WHERE channel = ? ORDER BY merchant_id",
            (channel,))
        return [from_row(MerchantChannel, row) for row in rows]

    # orders

    async def create_order(self, order: Order, *, daily_cap_fen: int | None = None,
                           event: str | None = None) -> tuple[Order, bool]:
        """Insert; when (device_id, order_no) exists already, return that order and False.

        With a cap, the order's amount is added to its merchant's day in the same transaction, and
        LimitExceeded is raised (nothing stored) when that would go over the cap. A concurrent
        duplicate loses: it gets the winner's order and False, so it never calls the channel.
        One round trip on each backend (SQLite: one call on its thread, in a group commit;
        PostgreSQL: one statement), so each backend writes it in its own way.
        """
        raise NotImplementedError

    async def order_and_day_used(self, device_id: str, order_no: str, merchant_id: str,
                                 day: int) -> tuple[Order | None, int]:
        """The device's order `order_no` (None when new) and its merchant's fen used on `day`: one read."""
        row = await self.point.fetchone(_ORDER_AND_DAY_USED, (merchant_id, day, device_id, order_no))
        assert row is not None
        used = row.pop("day_used_fen") or 0
        return (from_row(Order, row) if row["id"] is not None else None), used

    async def merchant_day_used(self, merchant_id: str, day: int) -> int:
        row = await self.sql.fetchone("SELECT used_fen FROM merchant_days WHERE merchant_id = ? AND day = ?",
                                      (merchant_id, day))
        return row["used_fen"] if row else 0

    async def get_order(self, device_id: str, order_no: str) -> Order | None:
        row = await self.point.fetchone(f"{ORDER_SELECT} WHERE device_id = ? AND order_no = ?", (device_id, order_no))
        return from_row(Order, row) if row else None

    async def get_order_by_id(self, order_id: str) -> Order | None:
        row = await self.point.fetchone(f"{ORDER_SELECT} WHERE id = ?", (order_id,))
        return from_row(Order, row) if row else None

    async def get_order_by_qr_token(self, qr_token: str) -> Order | None:
        row = await self.sql.fetchone(f"{ORDER_SELECT} WHERE qr_token = ?", (qr_token,))
        return from_row(Order, row) if row else None

    async def get_order_by_trade_no(self, trade_no: str) -> Order | None:
        row = await self.sql.fetchone(f"{ORDER_SELECT} WHERE trade_no = ?", (trade_no,))
        return from_row(Order, row) if row else None

    async def list_orders(self, scope: OrderScope, *, before: int | None, limit: int) -> list[Order]:
        """The newest orders in `scope` (a device's, since its assignment, for its merchant), created before
        `before` ms when given."""
        rows = await self.sql.fetchall(
            f"{ORDER_SELECT} WHERE device_id = ? AND merchant_id = ? AND created_at >= ? AND created_at < ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (scope.device_id, scope.merchant_id, scope.since, _NO_END if before is None else before, limit))
        return [from_row(Order, row) for row in rows]

    async def orders_of_channel(self, channel: str, start: int, end: int) -> list[Order]:
        """Orders of `channel` created in [start, end) ms, any status (read-only; for reconciliation)."""
        rows = await self.sql.fetchall(
            f"{ORDER_SELECT} WHERE channel = ? AND created_at >= ? AND created_at < ? ORDER BY created_at, id",
            (channel, start, end))
        return [from_row(Order, row) for row in rows]

    async def count_orders(self) -> int:
        return (await fetch_row(self.sql, "SELECT COUNT(*) AS n FROM orders"))["n"]

    async def count_backlog(self, now: int) -> dict[str, int]:
        """Unfinished work: PAYING orders and PENDING refunds, and how many of them are due now."""
        paying = await fetch_row(
            self.sql, "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN next_check_at <= ? THEN 1 ELSE 0 END), 0) AS due"
            " FROM orders WHERE status = ?", (now, PAYING))
        refunds = await fetch_row(self.sql, "SELECT COUNT(*) AS n FROM refunds WHERE status = ?", (REFUND_PENDING,))
        return {"paying": paying["n"], "due": int(paying["due"]), "refunds_pending": refunds["n"]}

    async def finish_order(self, order_id: str, status: str, *, reason: str | None, message: str | None,
                           channel_trade_no: str | None, finished_at: int, unengaged: bool = False,
                           event: tuple[str, str | None, dict | None] | None = None) -> bool:
        """PAYING -> a final status; False when the order was no longer PAYING (someone else won).

        `unengaged`: only while no channel took the order up (a C2B code nobody opened).
        """
        won, _ = await self.finish_order_returning(
            order_id, status, reason=reason, message=message, channel_trade_no=channel_trade_no,
            finished_at=finished_at, unengaged=unengaged, event=event)
        return won

    async def finish_order_returning(self, order_id: str, status: str, *, reason: str | None,
                                     message: str | None, channel_trade_no: str | None, finished_at: int,
                                     unengaged: bool = False,
                                     event: tuple[str, str | None, dict | None] | None = None) -> tuple[bool, Order]:
        """finish_order, and the order as it is afterwards (whoever won), in one round trip.

        Also in the same transaction: the answer that finished it (or came too late) goes in the
        journal; a FAILED or CLOSED order gives its amount back to the merchant's day; other
        processes hear of the change (PostgreSQL NOTIFY, delivered at commit).
        """
        raise NotImplementedError

    async def set_order_channel(self, order_id: str, channel: str, channel_trade_no: str | None) -> bool:
        """A C2B order's payer picked a wallet: from now on the resolver asks that channel."""
        return await self.sql.execute(
            "UPDATE orders SET channel = ?, channel_trade_no = COALESCE(?, channel_trade_no)"
            " WHERE id = ? AND status = ? AND channel = ''", (channel, channel_trade_no, order_id, PAYING)) == 1

    async def engage_c2b_order(self, order_id: str, channel: str, payer_id: str, *,
                               static_max_fen: int | None = None, channel_account: str | None = None) -> bool:
        """A payer's app opened an unengaged C2B code: fix its channel and payer. With `static_max_fen`
        (a static-code order), only while the payer's static-code orders of that channel and day that
        are paid or still paying, plus this one, stay within it; one statement, so two tabs cannot both pass."""
        sql = ("UPDATE orders SET channel = ?, payer_id = ?, channel_account = ? WHERE id = ? AND status = ?"
               " AND channel = ''")
        args: tuple = (channel, payer_id, channel_account, order_id, PAYING)
        if static_max_fen is None:
            return await self.sql.execute(sql, args) == 1
        sql += (" AND amount_fen + (SELECT COALESCE(SUM(o.amount_fen), 0) FROM orders o WHERE o.static_code = 1"
                " AND o.channel = ? AND o.payer_id = ? AND o.day = (SELECT day FROM orders WHERE id = ?)"
                " AND o.status IN (?, ?, ?)) <= ?")
        args += (channel, payer_id, order_id, PAYING, SUCCESS, REFUNDED, static_max_fen)
        async with self.transaction() as tx:
            # The payer's lock row first: a second tab of the same payer waits here for this
            # transaction, then its sum below sees this order (READ COMMITTED takes a new snapshot).
            day = await tx.fetchone("SELECT day FROM orders WHERE id = ?", (order_id,))
            if day is None:
                return False
            await tx.execute("INSERT INTO static_payer_locks (channel, payer_id, day) VALUES (?, ?, ?)"
                             " ON CONFLICT DO NOTHING", (channel, payer_id, day["day"]))
            await tx.execute("UPDATE static_payer_locks SET engaged = engaged + 1"
                             " WHERE channel = ? AND payer_id = ? AND day = ?", (channel, payer_id, day["day"]))
            return await tx.execute(sql, args) == 1

    async def request_close(self, order_id: str, now: int) -> bool:
        """The device gave up: the order's deadline is now, and it is due at once (the caller claims it
        and cancels it itself, or the resolver does as soon as whoever holds it lets go)."""
        return await self.sql.execute(
            "UPDATE orders SET close_requested_at = COALESCE(close_requested_at, ?), deadline_at = ?,"
            " next_check_at = ? WHERE id = ? AND status = ?", (now, now, now, order_id, PAYING)) == 1

    async def claim_order(self, order_id: str, now: int, lease_ms: int, owner: str) -> bool:
        """Claim one PAYING order for `owner` (a device's close) unless anybody holds it now."""
        return await self.sql.execute(
            "UPDATE orders SET claimed_by = ?, claimed_until = ? WHERE id = ? AND status = ?"
            " AND (claimed_until IS NULL OR claimed_until <= ?)", (owner, now + lease_ms, order_id, PAYING, now)) == 1

    async def reschedule_order(self, order_id: str, next_check_at: int, *, count_attempt: bool,
                               event: tuple[str, str | None, dict | None] | None = None,
                               event_at: int | None = None, claim: str | None = None,
                               faults: int | None = None, deadline_seen: int | None = None) -> bool:
        """Set when the resolver next looks at a PAYING order (with the answer that made it wait, journalled
        at `event_at`: when it came, which the next check was counted from).

        `claim`: only while `owner` still holds the order, and let go of it (False: the claim was lost, and
        nothing changed). `faults`: untrustworthy answers in a row now. `deadline_seen`: the deadline the
        step worked with; a device's close that moved it earlier meanwhile makes the order due at once."""
        return await self.reschedule_order_returning(
            order_id, next_check_at, count_attempt=count_attempt, event=event, event_at=event_at, claim=claim,
            faults=faults, deadline_seen=deadline_seen) is not None

    async def reschedule_order_returning(self, order_id: str, next_check_at: int, *, count_attempt: bool,
                                         event: tuple[str, str | None, dict | None] | None = None,
                                         event_at: int | None = None, claim: str | None = None,
                                         faults: int | None = None, deadline_seen: int | None = None) -> Order | None:
        """reschedule_order, and the order as it is afterwards; None when nothing changed (the claim was
        lost, or the order is no longer PAYING). Here the update and a re-read; the backends do it in one
        round trip (sqlite.py: one write of a group commit; postgres.py: one statement for every reschedule
        that came meanwhile)."""
        sql, args = order_reschedule(order_id, next_check_at, count_attempt=count_attempt, claim=claim,
                                     faults=faults, deadline_seen=deadline_seen)
        if event is None:
            moved = await self.sql.execute(sql, args) == 1
        else:
            async with self.transaction() as tx:
                moved = await tx.execute(sql, args) == 1
                if moved:
                    await self._insert_event(tx, order_id, now_ms() if event_at is None else event_at, *event)
        return await self.get_order_by_id(order_id) if moved else None

    # the resolver's claims (server/resolver.py): an order or refund being worked on names its owner and
    # how long that holds without renewal; next_check_at stays when it was due

    _CLAIM_LOCK = ""    # PostgreSQL: " FOR UPDATE SKIP LOCKED", so processes claiming at once skip each other
    _CLAIM_IDS = "id IN ({})"   # which rows the claim's subquery picked (PostgreSQL: taken once, in an InitPlan)
    shared_claims = False   # True: other live processes claim here too (their dead ones' claims are let go of
                            # at every look, release_stale_claims); False: only at this process's start

    @contextlib.asynccontextmanager
    async def hold_claims(self, owner: str) -> AsyncIterator[None]:
        """While this runs, `owner`'s claims count as alive (PostgreSQL: a session advisory lock; here, one
        process per database, nothing to do)."""
        yield

    async def claim_due_orders(self, now: int, lease_ms: int, limit: int, *, owner: str = "",
                               channel: str | None = None, other_than: tuple[str, ...] = ()) -> list[Order]:
        """PAYING orders due at `now` that nobody holds (never claimed, let go, or the claim ran out),
        oldest due first, each claimed for `owner` until now + lease_ms. `channel`: only that channel's;
        `other_than`: none of these channels'."""
        where, args = ["status = ?", "next_check_at <= ?", "(claimed_until IS NULL OR claimed_until <= ?)"], \
            [PAYING, now, now]
        if channel is not None:
            where.append("channel = ?")
            args.append(channel)
        if other_than:
            where.append(f"channel NOT IN ({', '.join('?' for _ in other_than)})")
            args += other_than
        due = f"SELECT id FROM orders WHERE {' AND '.join(where)} ORDER BY next_check_at LIMIT ?{self._CLAIM_LOCK}"
        rows = await self.sql.fetchall(
            f"UPDATE orders SET claimed_by = ?, claimed_until = ? WHERE {self._CLAIM_IDS.format(due)} AND status = ?"
            f" RETURNING {', '.join(ORDER_COLUMNS)}", (owner, now + lease_ms, *args, limit, PAYING))
        return sorted((from_row(Order, row) for row in rows), key=_when_due)

    async def claim_due_refunds(self, now: int, lease_ms: int, limit: int, *, owner: str = "") -> list[Refund]:
        due = ("SELECT id FROM refunds WHERE status = ? AND next_check_at <= ? AND (claimed_until IS NULL"
               f" OR claimed_until <= ?) ORDER BY next_check_at LIMIT ?{self._CLAIM_LOCK}")
        rows = await self.sql.fetchall(
            f"UPDATE refunds SET claimed_by = ?, claimed_until = ? WHERE {self._CLAIM_IDS.format(due)} AND status = ?"
            f" RETURNING {', '.join(REFUND_COLUMNS)}", (owner, now + lease_ms, REFUND_PENDING, now, now, limit,
                                                       REFUND_PENDING))
        return sorted((from_row(Refund, row) for row in rows), key=_when_due)

    async def renew_claims(self, owner: str, until: int, *, order_ids: Iterable[str] = (),
                           refund_ids: Iterable[str] = ()) -> int:
        """The owner's heartbeat: these orders and refunds it holds are held until `until`; how many still were."""
        renewed = 0
        for table, ids in (("orders", list(order_ids)), ("refunds", list(refund_ids))):
            for start in range(0, len(ids), _CLAIM_CHUNK):
                chunk = ids[start:start + _CLAIM_CHUNK]
                renewed += await self.sql.execute(
                    f"UPDATE {table} SET claimed_until = ? WHERE claimed_by = ?"
                    f" AND id IN ({', '.join('?' for _ in chunk)})", (until, owner, *chunk))
        return renewed

    async def release_claims(self, owner: str) -> int:
        """Let go of everything `owner` holds (a resolver stopping): due again for whoever looks next."""
        orders = await self.sql.execute(
            "UPDATE orders SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?", (owner,))
        refunds = await self.sql.execute(
            "UPDATE refunds SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?", (owner,))
        return orders + refunds

    async def release_stale_claims(self, owner: str) -> int:
        """Let go of the claims of owners that are gone. One process per database here: at its start, every
        claim but its own is a dead process's (PostgreSQL: those whose owner holds no advisory lock)."""
        orders = await self.sql.execute(
            "UPDATE orders SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL"
            " AND claimed_by <> ?", (owner,))
        refunds = await self.sql.execute(
            "UPDATE refunds SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL"
            " AND claimed_by <> ?", (owner,))
        return orders + refunds

    async def oldest_unclaimed_due(self, now: int) -> int | None:
        """next_check_at of the oldest PAYING order or PENDING refund due at `now` that nobody holds."""
        row = await self.sql.fetchone(
            "SELECT MIN(next_check_at) AS due FROM orders WHERE status = ? AND next_check_at <= ?"
            " AND (claimed_until IS NULL OR claimed_until <= ?)", (PAYING, now, now))
        refunds = await self.sql.fetchone(
            "SELECT MIN(next_check_at) AS due FROM refunds WHERE status = ? AND next_check_at <= ?"
            " AND (claimed_until IS NULL OR claimed_until <= ?)", (REFUND_PENDING, now, now))
        found = [r["due"] for r in (row, refunds) if r is not None and r["due"] is not None]
        return min(found) if found else None

    # refunds

    async def get_refund(self, device_id: str, refund_no: str) -> Refund | None:
        row = await self.sql.fetchone(f"{_REFUND_SELECT} WHERE device_id = ? AND refund_no = ?",
                                      (device_id, refund_no))
        return from_row(Refund, row) if row else None

    async def get_refund_by_id(self, refund_id: str) -> Refund | None:
        row = await self.sql.fetchone(f"{_REFUND_SELECT} WHERE id = ?", (refund_id,))
        return from_row(Refund, row) if row else None

    async def list_refunds(self, order_id: str) -> list[Refund]:
        rows = await self.sql.fetchall(f"{_REFUND_SELECT} WHERE order_id = ? ORDER BY created_at, id", (order_id,))
        return [from_row(Refund, row) for row in rows]

    async def create_refund(self, refund: Refund) -> tuple[Refund, bool]:
        """Reserve the amount on the paid order and insert the refund, or return the existing one.

        RefundRefused("order_not_paid" | "refund_exceeds_amount") when the order cannot give that much back.
        """
        async with self.transaction() as tx:
            existing = await tx.fetchone(f"{_REFUND_SELECT} WHERE device_id = ? AND refund_no = ?",
                                         (refund.device_id, refund.refund_no))
            if existing is not None:
                return from_row(Refund, existing), False
            reserved = await tx.execute(
                "UPDATE orders SET refund_reserved_fen = refund_reserved_fen + ?"
                " WHERE id = ? AND status = ? AND refund_reserved_fen + ? <= amount_fen",
                (refund.amount_fen, refund.order_id, SUCCESS, refund.amount_fen))
            if not reserved:
                order = await tx.fetchone("SELECT status FROM orders WHERE id = ?", (refund.order_id,))
                if order is None or order["status"] != SUCCESS:
                    raise RefundRefused("order_not_paid")
                raise RefundRefused("refund_exceeds_amount")
            placeholders = ", ".join("?" for _ in REFUND_COLUMNS)
            await tx.execute(f"INSERT INTO refunds ({', '.join(REFUND_COLUMNS)}) VALUES ({placeholders})",
                             values_of(refund))
        return refund, True

    async def finish_refund(self, refund_id: str, status: str, *, fail_reason: str | None, message: str | None,
                            channel_refund_no: str | None, finished_at: int) -> bool:
        """PENDING -> SUCCESS / FAILED, and the order's refunded amount with it, in one transaction."""
        async with self.transaction() as tx:
            won = await tx.execute(
                "UPDATE refunds SET status = ?, fail_reason = ?, message = ?,"
                " channel_refund_no = COALESCE(?, channel_refund_no), finished_at = ?, next_check_at = NULL"
                " WHERE id = ? AND status = ?",
                (status, fail_reason, message, channel_refund_no, finished_at, refund_id, REFUND_PENDING))
            if not won:
                return False
            refund = await fetch_row(tx, "SELECT order_id, amount_fen FROM refunds WHERE id = ?", (refund_id,))
            if status == REFUND_SUCCESS:
                await tx.execute(
                    "UPDATE orders SET refunded_fen = refunded_fen + ?,"
                    " status = CASE WHEN refunded_fen + ? >= amount_fen THEN ? ELSE status END WHERE id = ?",
                    (refund["amount_fen"], refund["amount_fen"], REFUNDED, refund["order_id"]))
            elif status == REFUND_FAILED:
                await tx.execute("UPDATE orders SET refund_reserved_fen = refund_reserved_fen - ? WHERE id = ?",
                                 (refund["amount_fen"], refund["order_id"]))
            await self.notify_order(tx, refund["order_id"])
        return True

    async def reschedule_refund(self, refund_id: str, next_check_at: int, *, waiting: bool | None = None,
                                claim: str | None = None, faults: int | None = None,
                                fault: str | None = None, message: str | None = None) -> bool:
        """Set when a PENDING refund is asked about next. `claim`: only while `owner` holds it, letting go;
        `faults`/`fault`/`message`: untrustworthy or refused answers in a row now, and the last one's fault
        (None: the answer was trustworthy) and words."""
        sets = ["next_check_at = ?", "attempts = attempts + 1"]
        args: list[Any] = [next_check_at]
        if waiting is not None:
            sets.append("waiting = ?")
            args.append(1 if waiting else 0)
        if faults is not None:
            sets += ["faults = ?", "fault = ?"]
            args += [faults, fault]
        if fault is not None:
            sets.append("message = ?")
            args.append(message)
        return await self.sql.execute(*_reschedule_sql("refunds", sets, args, refund_id, REFUND_PENDING, claim)) == 1

    async def refused_refunds(self) -> list[Refund]:
        """PENDING refunds whose channel's last answer refused the call itself (HTTP 4xx: no such endpoint,
        not allowed): asking again will not help until someone changes something."""
        rows = await self.sql.fetchall(f"{_REFUND_SELECT} WHERE status = ? AND fault = ? ORDER BY created_at, id",
                                       (REFUND_PENDING, "refused"))
        return [from_row(Refund, row) for row in rows]

    # the order's journal

    async def add_event(self, order_id: str, at: int, kind: str, detail: str | None = None,
                        raw: dict | None = None) -> None:
        await self._insert_event(self.sql, order_id, at, kind, detail, raw)

    @staticmethod
    async def _insert_event(sql: Sql, order_id: str, at: int, kind: str, detail: str | None = None,
                            raw: dict | None = None) -> None:
        await sql.execute(
            "INSERT INTO order_events (id, order_id, at, kind, detail, raw) VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(), order_id, at, kind, detail,
             json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str) if raw is not None else None))

    async def list_events(self, order_id: str) -> list[OrderEvent]:
        rows = await self.sql.fetchall(
            f"SELECT {_EVENT_COLUMNS} FROM order_events WHERE order_id = ? ORDER BY at, id", (order_id,))
        return [from_row(OrderEvent, row, raw=json.loads(row["raw"]) if row["raw"] is not None else None)
                for row in rows]


class Rollback(Exception):
    """Raised inside `transaction()` to undo it quietly: the backends roll back and swallow it."""
