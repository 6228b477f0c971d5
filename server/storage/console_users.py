"""The SQL of the console's users, sessions, merchants' refund passwords and audit log: a part of SqlStorage
(sql.py), written once for SQLite and PostgreSQL. The rules (roles, staff roles, lock times) are
server/console's.

Wrong passwords are counted before they are checked, in the one conditional statement that also refuses a
locked user: however many attempts arrive at once, at most `max_failed` get through before the lock.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import new_id
from .records import field_names, from_row

if TYPE_CHECKING:
    from .sql import Sql


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


_USER_COLUMNS = ", ".join(field_names(UserRow))


def _count_and_lock(failures: str) -> str:
    """SET clauses counting one more wrong try in `failures` and locking (until the second argument) at the
    first argument's count; rows past an expired lock (their locked_until is set) start counting again."""
    count = f"CASE WHEN locked_until IS NULL THEN {failures} + 1 ELSE 1 END"
    return f"{failures} = {count}, locked_until = CASE WHEN {count} >= ? THEN CAST(? AS BIGINT) ELSE NULL END"


class ConsoleUserStore:
    """Methods SqlStorage gets; they use `self.sql` and `self.transaction()`."""

    sql: Sql
    transaction: Callable[[], contextlib.AbstractAsyncContextManager[Sql]]

    # users

    async def add_console_user(self, user_id: str, username: str, password_hash: str, role: str,
                               merchant_id: str | None, staff_role: str | None, now: int) -> bool:
        """False when the username is taken."""
        return await self.sql.execute(
            "INSERT INTO console_users (id, username, password_hash, role, merchant_id, created_at, staff_role)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (user_id, username, password_hash, role, merchant_id, now, staff_role)) == 1

    async def set_console_password(self, username: str, password_hash: str) -> bool:
        """A new password, no failures, no lock, and the user's sessions end; False without such a user."""
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT id FROM console_users WHERE username = ?", (username,))
            if row is None:
                return False
            await tx.execute("UPDATE console_users SET password_hash = ?, failed_logins = 0, locked_until = NULL"
                             " WHERE id = ?", (password_hash, row["id"]))
            await tx.execute("DELETE FROM console_sessions WHERE user_id = ?", (row["id"],))
        return True

    async def set_console_user_disabled(self, username: str, disabled: bool) -> bool:
        """Disabling ends the user's sessions; False without such a user."""
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT id FROM console_users WHERE username = ?", (username,))
            if row is None:
                return False
            await tx.execute("UPDATE console_users SET disabled = ? WHERE id = ?", (1 if disabled else 0, row["id"]))
            if disabled:
                await tx.execute("DELETE FROM console_sessions WHERE user_id = ?", (row["id"],))
        return True

    async def list_console_users(self) -> list[dict[str, Any]]:
        return await self.sql.fetchall(
            "SELECT username, role, merchant_id, disabled, last_login_at FROM console_users ORDER BY username")

    async def console_user_by_name(self, username: str) -> UserRow | None:
        row = await self.sql.fetchone(
            f"SELECT {_USER_COLUMNS} FROM console_users WHERE username = ?", (username,))
        return from_row(UserRow, row) if row else None

    async def reserve_login_attempt(self, username: str, now: int, max_failed: int, lock_until: int) -> bool:
        """Count an attempt as failed before its password is checked; False (check nothing) when the user is
        unknown, disabled or locked.

        The check and the count are one statement, so however many attempts arrive at once, at most
        `max_failed` win before the lock: the max_failed-th sets `locked_until` (a right password then clears
        it, login_succeeded). Once a lock has passed, counting starts again from one."""
        return await self.sql.execute(
            f"UPDATE console_users SET {_count_and_lock('failed_logins')}"
            " WHERE username = ? AND disabled = 0 AND (locked_until IS NULL OR locked_until <= ?)",
            (max_failed, lock_until, username, now)) == 1

    async def login_succeeded(self, user_id: str, now: int) -> None:
        """The reserved attempt was right: no failures in a row, no lock."""
        await self.sql.execute(
            "UPDATE console_users SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?",
            (now, user_id))

    async def console_users(self, merchant_id: str | None) -> list[dict[str, Any]]:
        """Every user (merchant_id None), operators first, or one merchant's staff, with the merchant's name."""
        sql = ("SELECT u.id, u.username, u.role, u.staff_role, u.merchant_id, m.name AS merchant_name, u.disabled,"
               " u.locked_until, u.last_login_at, u.created_at FROM console_users u"
               " LEFT JOIN merchants m ON m.id = u.merchant_id")
        if merchant_id is None:
            return await self.sql.fetchall(
                sql + " ORDER BY u.role DESC, u.merchant_id, u.username")
        return await self.sql.fetchall(
            sql + " WHERE u.merchant_id = ? ORDER BY u.username", (merchant_id,))

    async def get_console_user(self, user_id: str) -> dict[str, Any] | None:
        return await self.sql.fetchone(
            "SELECT id, username, role, staff_role, merchant_id, disabled FROM console_users WHERE id = ?", (user_id,))

    # the merchant's refund password

    async def set_refund_password(self, merchant_id: str, password_hash: str, by: str, now: int) -> None:
        """A new refund password; its wrong tries and lock start again."""
        async with self.transaction() as tx:
            changed = await tx.execute(
                "UPDATE merchant_refund_passwords SET password_hash = ?, failed_tries = 0, locked_until = NULL,"
                " set_at = ?, set_by = ? WHERE merchant_id = ?", (password_hash, now, by, merchant_id))
            if not changed:
                await tx.execute(
                    "INSERT INTO merchant_refund_passwords (merchant_id, password_hash, set_at, set_by)"
                    " VALUES (?, ?, ?, ?)", (merchant_id, password_hash, now, by))

    async def get_refund_password(self, merchant_id: str) -> dict[str, Any] | None:
        return await self.sql.fetchone(
            "SELECT password_hash, failed_tries, locked_until, set_at, set_by FROM merchant_refund_passwords"
            " WHERE merchant_id = ?", (merchant_id,))

    async def reserve_refund_try(self, merchant_id: str, now: int, max_failed: int, lock_until: int) -> bool:
        """Count a refund password try as wrong before it is checked; False when refunds are locked or no
        password is set."""
        return await self.sql.execute(
            f"UPDATE merchant_refund_passwords SET {_count_and_lock('failed_tries')}"
            " WHERE merchant_id = ? AND (locked_until IS NULL OR locked_until <= ?)",
            (max_failed, lock_until, merchant_id, now)) == 1

    async def refund_try_succeeded(self, merchant_id: str) -> None:
        await self.sql.execute(
            "UPDATE merchant_refund_passwords SET failed_tries = 0, locked_until = NULL WHERE merchant_id = ?",
            (merchant_id,))

    # the audit log

    async def add_audit(self, at: int, actor: str, actor_role: str, merchant_id: str | None, action: str,
                        subject: str, detail: str) -> None:
        await self.sql.execute(
            "INSERT INTO console_audit (id, at, actor, actor_role, merchant_id, action, subject, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (new_id(), at, actor, actor_role, merchant_id, action, subject, detail))

    async def audit_entries(self, merchant_id: str | None, *, limit: int) -> list[dict[str, Any]]:
        """The newest entries first: every one (merchant_id None) or one merchant's."""
        sql = "SELECT at, actor, actor_role, merchant_id, action, subject, detail FROM console_audit"
        if merchant_id is None:
            return await self.sql.fetchall(
                sql + " ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        return await self.sql.fetchall(
            sql + " WHERE merchant_id = ? ORDER BY at DESC, id DESC LIMIT ?", (merchant_id, limit))

    # sessions

    async def add_console_session(self, session_id: str, user_id: str, csrf_token: str, now: int,
                                  expires_at: int) -> None:
        await self.sql.execute(
            "INSERT INTO console_sessions (id, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (session_id, user_id, csrf_token, now, expires_at))
        # Forget expired sessions now and then: at each login is often enough.
        await self.sql.execute(
            "DELETE FROM console_sessions WHERE expires_at <= ?", (now,))

    async def console_session(self, session_id: str, now: int) -> dict[str, Any] | None:
        """The live session with its user (None when unknown, expired, or the user is disabled)."""
        return await self.sql.fetchone(
            "SELECT s.csrf_token, s.expires_at, u.id AS user_id, u.username, u.role, u.merchant_id, u.staff_role"
            " FROM console_sessions s JOIN console_users u ON u.id = s.user_id"
            " WHERE s.id = ? AND s.expires_at > ? AND u.disabled = 0", (session_id, now))

    async def delete_console_session(self, session_id: str) -> None:
        await self.sql.execute("DELETE FROM console_sessions WHERE id = ?", (session_id,))
