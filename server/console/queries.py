"""The console's SQL: users, sessions, and order searches scoped to a merchant.

Written against the storage's public executor (`storage.sql` and `storage.transaction()`), with `?`
placeholders like server/storage/sql.py, so it runs on SQLite and PostgreSQL unchanged. Every order
query takes `merchant_id` (None: an operator, every merchant) and applies it in SQL, never after.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..clock import new_id
from ..storage import AlreadyExists, NotFound, Order, Storage

OPERATOR = "operator"
MERCHANT = "merchant"
ROLES = (OPERATOR, MERCHANT)
# A merchant user's place in its merchant (console_users.staff_role; docs/console.md, "Users and roles").
OWNER, MANAGER, CASHIER = "owner", "manager", "cashier"
STAFF_ROLES = (OWNER, MANAGER, CASHIER)

# An order belongs to the merchant it was taken for (orders.merchant_id), even if its device moved later;
# orders from before that column existed fall back to their device's merchant.
_ORDER_MERCHANT = "COALESCE(o.merchant_id, d.merchant_id)"
_ORDER_COLUMNS = [f.name for f in fields(Order)]
_ORDER_SELECT = (f"SELECT {', '.join('o.' + c for c in _ORDER_COLUMNS)}, d.store_name AS store_name"
                 " FROM orders o JOIN devices d ON d.id = o.device_id")


@dataclass(frozen=True)
class UserRow:
    id: str
    username: str
    password_hash: str
    role: str
    merchant_id: str | None
    disabled: int
    failed_logins: int
    locked_until: int | None
    staff_role: str | None


_USER_COLUMNS = "id, username, password_hash, role, merchant_id, disabled, failed_logins, locked_until, staff_role"


# users

async def add_user(storage: Storage, username: str, password_hash: str, role: str, merchant_id: str | None,
                   now: int, staff_role: str | None = None) -> str:
    """A new user; a merchant user is its merchant's owner unless `staff_role` says manager or cashier."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (role == MERCHANT) != (merchant_id is not None):
        raise ValueError("a merchant user needs --merchant; an operator has none")
    if merchant_id is not None and await storage.get_merchant(merchant_id) is None:
        raise NotFound(f"no merchant {merchant_id}")
    if role == MERCHANT:
        staff_role = staff_role or OWNER
        if staff_role not in STAFF_ROLES:
            raise ValueError(f"a merchant user's staff role is one of {', '.join(STAFF_ROLES)}")
    else:
        staff_role = None
    user_id = new_id()
    changed = await storage.sql.execute(
        "INSERT INTO console_users (id, username, password_hash, role, merchant_id, created_at, staff_role)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (user_id, username, password_hash, role, merchant_id, now, staff_role))
    if not changed:
        raise AlreadyExists(f"console user {username} exists already")
    return user_id


async def set_password(storage: Storage, username: str, password_hash: str) -> bool:
    """A new password; the user's sessions end (whoever had them must log in with the new one)."""
    async with storage.transaction() as tx:
        row = await tx.fetchone("SELECT id FROM console_users WHERE username = ?", (username,))
        if row is None:
            return False
        await tx.execute("UPDATE console_users SET password_hash = ?, failed_logins = 0, locked_until = NULL"
                         " WHERE id = ?", (password_hash, row["id"]))
        await tx.execute("DELETE FROM console_sessions WHERE user_id = ?", (row["id"],))
    return True


async def set_disabled(storage: Storage, username: str, disabled: bool) -> bool:
    async with storage.transaction() as tx:
        row = await tx.fetchone("SELECT id FROM console_users WHERE username = ?", (username,))
        if row is None:
            return False
        await tx.execute("UPDATE console_users SET disabled = ? WHERE id = ?", (1 if disabled else 0, row["id"]))
        if disabled:
            await tx.execute("DELETE FROM console_sessions WHERE user_id = ?", (row["id"],))
    return True


async def list_users(storage: Storage) -> list[dict[str, Any]]:
    return await storage.sql.fetchall(
        "SELECT username, role, merchant_id, disabled, last_login_at FROM console_users ORDER BY username")


async def get_user_by_name(storage: Storage, username: str) -> UserRow | None:
    row = await storage.sql.fetchone(f"SELECT {_USER_COLUMNS} FROM console_users WHERE username = ?", (username,))
    return UserRow(**row) if row else None


async def reserve_login_attempt(storage: Storage, username: str, now: int, max_failed: int,
                                lock_until: int) -> bool:
    """Count an attempt as failed before its password is checked; False (check nothing) when the user is
    unknown, disabled or locked.

    The check and the count are one statement, so however many attempts arrive at once, at most
    `max_failed` win before the lock: the max_failed-th sets `locked_until` (a right password then clears
    it, login_succeeded). Once a lock has passed, counting starts again from one.
    """
    # Rows that pass the WHERE with a locked_until have an expired lock: that is the restart.
    count = "CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END"
    changed = await storage.sql.execute(
        f"UPDATE console_users SET failed_logins = {count},"
        f" locked_until = CASE WHEN {count} >= ? THEN CAST(? AS BIGINT) ELSE NULL END"
        " WHERE username = ? AND disabled = 0 AND (locked_until IS NULL OR locked_until <= ?)",
        (max_failed, lock_until, username, now))
    return changed == 1


async def login_succeeded(storage: Storage, user_id: str, now: int) -> None:
    """The reserved attempt was right: no failures in a row, no lock."""
    await storage.sql.execute(
        "UPDATE console_users SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?",
        (now, user_id))


async def console_users(storage: Storage, merchant_id: str | None) -> list[dict[str, Any]]:
    """The users the Users page lists: every one (merchant_id None) or one merchant's staff."""
    sql = ("SELECT u.id, u.username, u.role, u.staff_role, u.merchant_id, m.name AS merchant_name, u.disabled,"
           " u.locked_until, u.last_login_at, u.created_at FROM console_users u"
           " LEFT JOIN merchants m ON m.id = u.merchant_id")
    if merchant_id is None:
        return await storage.sql.fetchall(sql + " ORDER BY u.role DESC, u.merchant_id, u.username")
    return await storage.sql.fetchall(sql + " WHERE u.merchant_id = ? ORDER BY u.username", (merchant_id,))


async def get_console_user(storage: Storage, user_id: str) -> dict[str, Any] | None:
    return await storage.sql.fetchone(
        "SELECT id, username, role, staff_role, merchant_id, disabled FROM console_users WHERE id = ?", (user_id,))


# the merchant's refund password

async def set_refund_password(storage: Storage, merchant_id: str, password_hash: str, by: str, now: int) -> None:
    """A new refund password; its wrong tries and lock start again."""
    async with storage.transaction() as tx:
        changed = await tx.execute(
            "UPDATE merchant_refund_passwords SET password_hash = ?, failed_tries = 0, locked_until = NULL,"
            " set_at = ?, set_by = ? WHERE merchant_id = ?", (password_hash, now, by, merchant_id))
        if not changed:
            await tx.execute(
                "INSERT INTO merchant_refund_passwords (merchant_id, password_hash, set_at, set_by)"
                " VALUES (?, ?, ?, ?)", (merchant_id, password_hash, now, by))


async def get_refund_password(storage: Storage, merchant_id: str) -> dict[str, Any] | None:
    return await storage.sql.fetchone(
        "SELECT password_hash, failed_tries, locked_until, set_at, set_by FROM merchant_refund_passwords"
        " WHERE merchant_id = ?", (merchant_id,))


async def reserve_refund_try(storage: Storage, merchant_id: str, now: int, max_failed: int, lock_until: int) -> bool:
    """Count a refund password try as wrong before it is checked (as reserve_login_attempt does for logins);
    False when refunds are locked or no password is set."""
    count = "CASE WHEN locked_until IS NULL THEN failed_tries + 1 ELSE 1 END"
    changed = await storage.sql.execute(
        f"UPDATE merchant_refund_passwords SET failed_tries = {count},"
        f" locked_until = CASE WHEN {count} >= ? THEN CAST(? AS BIGINT) ELSE NULL END"
        " WHERE merchant_id = ? AND (locked_until IS NULL OR locked_until <= ?)",
        (max_failed, lock_until, merchant_id, now))
    return changed == 1


async def refund_try_succeeded(storage: Storage, merchant_id: str) -> None:
    await storage.sql.execute(
        "UPDATE merchant_refund_passwords SET failed_tries = 0, locked_until = NULL WHERE merchant_id = ?",
        (merchant_id,))


# the audit log

async def add_audit(storage: Storage, at: int, actor: str, actor_role: str, merchant_id: str | None, action: str,
                    subject: str, detail: str) -> None:
    await storage.sql.execute(
        "INSERT INTO console_audit (id, at, actor, actor_role, merchant_id, action, subject, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (new_id(), at, actor, actor_role, merchant_id, action, subject, detail))


async def audit_entries(storage: Storage, merchant_id: str | None, *, limit: int) -> list[dict[str, Any]]:
    """The newest entries first: every one (merchant_id None) or one merchant's."""
    sql = "SELECT at, actor, actor_role, merchant_id, action, subject, detail FROM console_audit"
    if merchant_id is None:
        return await storage.sql.fetchall(sql + " ORDER BY at DESC, id DESC LIMIT ?", (limit,))
    return await storage.sql.fetchall(sql + " WHERE merchant_id = ? ORDER BY at DESC, id DESC LIMIT ?",
                                      (merchant_id, limit))


# sessions

async def add_session(storage: Storage, session_id: str, user_id: str, csrf_token: str, now: int,
                      expires_at: int) -> None:
    await storage.sql.execute(
        "INSERT INTO console_sessions (id, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (session_id, user_id, csrf_token, now, expires_at))
    # Forget expired sessions now and then: at each login is often enough.
    await storage.sql.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (now,))


async def get_session(storage: Storage, session_id: str, now: int) -> dict[str, Any] | None:
    """The live session with its user (None when unknown, expired, or the user is disabled)."""
    return await storage.sql.fetchone(
        "SELECT s.csrf_token, s.expires_at, u.id AS user_id, u.username, u.role, u.merchant_id, u.staff_role"
        " FROM console_sessions s JOIN console_users u ON u.id = s.user_id"
        " WHERE s.id = ? AND s.expires_at > ? AND u.disabled = 0", (session_id, now))


async def delete_session(storage: Storage, session_id: str) -> None:
    await storage.sql.execute("DELETE FROM console_sessions WHERE id = ?", (session_id,))


# orders, as the console shows them

@dataclass(frozen=True)
class OrderFilter:
    merchant_id: str | None = None      # the merchant scope: None for an operator
    number: str | None = None           # the device's order_no, our trade_no or the channel's number
    since_ms: int | None = None         # created_at >= since_ms
    until_ms: int | None = None         # created_at < until_ms
    device_id: str | None = None
    store_name: str | None = None
    channel: str | None = None
    status: str | None = None


def _where(f: OrderFilter) -> tuple[str, list[Any]]:
    clauses, args = ["1 = 1"], []
    if f.merchant_id is not None:
        clauses.append(f"{_ORDER_MERCHANT} = ?")
        args.append(f.merchant_id)
    if f.number:
        clauses.append("(o.order_no = ? OR o.trade_no = ? OR o.channel_trade_no = ?)")
        args += [f.number] * 3
    if f.since_ms is not None:
        clauses.append("o.created_at >= ?")
        args.append(f.since_ms)
    if f.until_ms is not None:
        clauses.append("o.created_at < ?")
        args.append(f.until_ms)
    for column, value in (("o.device_id", f.device_id), ("d.store_name", f.store_name),
                          ("o.channel", f.channel), ("o.status", f.status)):
        if value:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " AND ".join(clauses), args


@dataclass(frozen=True)
class OrderRow:
    order: Order
    store_name: str


def _order_row(row: dict[str, Any]) -> OrderRow:
    store_name = row.pop("store_name")
    return OrderRow(order=Order(**row), store_name=store_name)


async def search_orders(storage: Storage, f: OrderFilter, *, offset: int, limit: int) -> list[OrderRow]:
    where, args = _where(f)
    rows = await storage.sql.fetchall(
        f"{_ORDER_SELECT} WHERE {where} ORDER BY o.created_at DESC, o.id DESC LIMIT ? OFFSET ?",
        (*args, limit, offset))
    return [_order_row(row) for row in rows]


async def get_order(storage: Storage, order_id: str, merchant_id: str | None) -> OrderRow | None:
    """The order, or None when it does not exist or belongs to another merchant (the same answer)."""
    where, args = _where(OrderFilter(merchant_id=merchant_id))
    row = await storage.sql.fetchone(f"{_ORDER_SELECT} WHERE o.id = ? AND {where}", (order_id, *args))
    return _order_row(row) if row else None


async def paid_by_day(storage: Storage, f: OrderFilter) -> list[dict[str, Any]]:
    """Paid orders (SUCCESS or REFUNDED) per China-time day, store and channel: count and fen."""
    where, args = _where(f)
    return await storage.sql.fetchall(
        f"SELECT o.day AS day, d.store_name AS store_name, o.channel AS channel, COUNT(*) AS paid_count,"
        f" SUM(o.amount_fen) AS paid_fen FROM orders o JOIN devices d ON d.id = o.device_id"
        f" WHERE {where} AND o.status IN ('SUCCESS', 'REFUNDED')"
        f" GROUP BY o.day, d.store_name, o.channel", args)


async def paid_per_day_and_channel(storage: Storage, merchant_id: str | None, first_day: int,
                                   last_day: int) -> list[dict[str, Any]]:
    """Paid orders (SUCCESS or REFUNDED) per China-time day (YYYYMMDD) and channel, first_day..last_day."""
    where, args = _where(OrderFilter(merchant_id=merchant_id))
    return await storage.sql.fetchall(
        f"SELECT o.day AS day, o.channel AS channel, COUNT(*) AS paid_count, SUM(o.amount_fen) AS paid_fen"
        f" FROM orders o JOIN devices d ON d.id = o.device_id WHERE {where} AND o.day >= ? AND o.day <= ?"
        f" AND o.status IN ('SUCCESS', 'REFUNDED') GROUP BY o.day, o.channel", (*args, first_day, last_day))


async def merchant_names(storage: Storage, merchant_ids: set[str]) -> dict[str, str]:
    """id -> name of the given merchants."""
    names: dict[str, str] = {}
    ids = sorted(merchant_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = await storage.sql.fetchall(
            f"SELECT id, name FROM merchants WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
        names.update({row["id"]: row["name"] for row in rows})
    return names


async def latest_payments(storage: Storage, merchant_id: str | None, *, limit: int) -> list[OrderRow]:
    """The latest paid orders (SUCCESS or REFUNDED), the newest first."""
    where, args = _where(OrderFilter(merchant_id=merchant_id))
    rows = await storage.sql.fetchall(
        f"{_ORDER_SELECT} WHERE {where} AND o.status IN ('SUCCESS', 'REFUNDED')"
        f" ORDER BY o.created_at DESC, o.id DESC LIMIT ?", (*args, limit))
    return [_order_row(row) for row in rows]


_PAID_WITHIN_MS = 3_600_000   # a payment finishes within an hour of its order (C2B codes: qr_valid_s)


async def paid_since(storage: Storage, merchant_id: str | None, after_ms: int, *, limit: int) -> list[OrderRow]:
    """Orders paid (SUCCESS) after `after_ms`, oldest first; looked for among the orders of the last hour
    before it (the created_at index)."""
    where, args = _where(OrderFilter(merchant_id=merchant_id, since_ms=after_ms - _PAID_WITHIN_MS))
    rows = await storage.sql.fetchall(
        f"{_ORDER_SELECT} WHERE {where} AND o.status = 'SUCCESS' AND o.finished_at > ?"
        f" ORDER BY o.finished_at, o.id LIMIT ?", (*args, after_ms, limit))
    return [_order_row(row) for row in rows]


async def refunds_done(storage: Storage, merchant_id: str | None, since_ms: int | None, until_ms: int | None,
                       store_name: str | None, channel: str | None) -> list[dict[str, Any]]:
    """Refunds that succeeded in the time range (by when they finished), with their order's store and channel."""
    where, args = _where(OrderFilter(merchant_id=merchant_id, store_name=store_name, channel=channel))
    if since_ms is not None:
        where += " AND r.finished_at >= ?"
        args.append(since_ms)
    if until_ms is not None:
        where += " AND r.finished_at < ?"
        args.append(until_ms)
    return await storage.sql.fetchall(
        f"SELECT r.amount_fen AS amount_fen, r.finished_at AS finished_at, d.store_name AS store_name,"
        f" o.channel AS channel, r.created_at AS created_at, r.refund_no AS refund_no,"
        f" r.refund_trade_no AS refund_trade_no, r.channel_refund_no AS channel_refund_no, r.reason AS reason,"
        f" o.order_no AS order_no, o.trade_no AS trade_no, o.device_id AS device_id,"
        f" {_ORDER_MERCHANT} AS merchant_id FROM refunds r JOIN orders o ON o.id = r.order_id"
        f" JOIN devices d ON d.id = o.device_id WHERE r.status = 'SUCCESS' AND {where}"
        f" ORDER BY r.finished_at, r.id", args)


async def merchant_devices(storage: Storage, merchant_id: str | None) -> list[dict[str, Any]]:
    """Devices (id, store) the user may filter by."""
    if merchant_id is None:
        return await storage.sql.fetchall("SELECT id, store_name, merchant_id FROM devices ORDER BY id")
    return await storage.sql.fetchall(
        "SELECT id, store_name, merchant_id FROM devices WHERE merchant_id = ? ORDER BY id", (merchant_id,))


async def merchant_has_orders_on(storage: Storage, merchant_id: str, *, device_id: str | None = None,
                                 store_name: str | None = None) -> bool:
    """Whether the merchant owns the device or store now, or took orders on it before (a device moved on)."""
    if device_id is not None:
        row = await storage.sql.fetchone(
            "SELECT 1 AS one FROM devices WHERE id = ? AND merchant_id = ?"
            " UNION SELECT 1 AS one FROM orders WHERE device_id = ? AND merchant_id = ?",
            (device_id, merchant_id, device_id, merchant_id))
    else:
        row = await storage.sql.fetchone(
            "SELECT 1 AS one FROM devices WHERE store_name = ? AND merchant_id = ?", (store_name, merchant_id))
    return row is not None
