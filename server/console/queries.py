"""The console's questions to storage: users, sessions, the refund password, the audit log, and order searches
scoped to a merchant.

The statements are storage's (server/storage/console_users.py, console_reads.py); this module adds the
console's rules: which roles and staff roles there are, and what a new user must have. Every order query
takes `merchant_id` (None: an operator, every merchant), which storage applies in SQL, never after.
"""
from __future__ import annotations

from typing import Any

from ..clock import new_id
from ..storage import AlreadyExists, NotFound, Storage
from ..storage.console_reads import OrderFilter, OrderRow  # noqa: F401  (the console's order vocabulary)
from ..storage.console_users import UserRow

OPERATOR = "operator"
MERCHANT = "merchant"
ROLES = (OPERATOR, MERCHANT)
# A merchant user's place in its merchant (console_users.staff_role; docs/console.md, "Users and roles").
OWNER, MANAGER, CASHIER = "owner", "manager", "cashier"
STAFF_ROLES = (OWNER, MANAGER, CASHIER)


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
    if not await storage.add_console_user(user_id, username, password_hash, role, merchant_id, staff_role, now):
        raise AlreadyExists(f"console user {username} exists already")
    return user_id


async def set_password(storage: Storage, username: str, password_hash: str) -> bool:
    """A new password; the user's sessions end (whoever had them must log in with the new one)."""
    return await storage.set_console_password(username, password_hash)


async def set_disabled(storage: Storage, username: str, disabled: bool) -> bool:
    return await storage.set_console_user_disabled(username, disabled)


async def list_users(storage: Storage) -> list[dict[str, Any]]:
    return await storage.list_console_users()


async def get_user_by_name(storage: Storage, username: str) -> UserRow | None:
    return await storage.console_user_by_name(username)


async def reserve_login_attempt(storage: Storage, username: str, now: int, max_failed: int,
                                lock_until: int) -> bool:
    """Count an attempt as failed before its password is checked; False (check nothing) when the user is
    unknown, disabled or locked.

    The check and the count are one statement, so however many attempts arrive at once, at most
    `max_failed` win before the lock: the max_failed-th sets `locked_until` (a right password then clears
    it, login_succeeded). Once a lock has passed, counting starts again from one.
    """
    return await storage.reserve_login_attempt(username, now, max_failed, lock_until)


async def login_succeeded(storage: Storage, user_id: str, now: int) -> None:
    """The reserved attempt was right: no failures in a row, no lock."""
    await storage.login_succeeded(user_id, now)


async def console_users(storage: Storage, merchant_id: str | None) -> list[dict[str, Any]]:
    """The users the Users page lists: every one (merchant_id None) or one merchant's staff."""
    return await storage.console_users(merchant_id)


async def get_console_user(storage: Storage, user_id: str) -> dict[str, Any] | None:
    return await storage.get_console_user(user_id)


# the merchant's refund password

async def set_refund_password(storage: Storage, merchant_id: str, password_hash: str, by: str, now: int) -> None:
    """A new refund password; its wrong tries and lock start again."""
    await storage.set_refund_password(merchant_id, password_hash, by, now)


async def get_refund_password(storage: Storage, merchant_id: str) -> dict[str, Any] | None:
    return await storage.get_refund_password(merchant_id)


async def reserve_refund_try(storage: Storage, merchant_id: str, now: int, max_failed: int, lock_until: int) -> bool:
    """Count a refund password try as wrong before it is checked (as reserve_login_attempt does for logins);
    False when refunds are locked or no password is set."""
    return await storage.reserve_refund_try(merchant_id, now, max_failed, lock_until)


async def refund_try_succeeded(storage: Storage, merchant_id: str) -> None:
    await storage.refund_try_succeeded(merchant_id)


# the audit log

async def add_audit(storage: Storage, at: int, actor: str, actor_role: str, merchant_id: str | None, action: str,
                    subject: str, detail: str) -> None:
    await storage.add_audit(at, actor, actor_role, merchant_id, action, subject, detail)


async def audit_entries(storage: Storage, merchant_id: str | None, *, limit: int) -> list[dict[str, Any]]:
    """The newest entries first: every one (merchant_id None) or one merchant's."""
    return await storage.audit_entries(merchant_id, limit=limit)


# sessions

async def add_session(storage: Storage, session_id: str, user_id: str, csrf_token: str, now: int,
                      expires_at: int) -> None:
    await storage.add_console_session(session_id, user_id, csrf_token, now, expires_at)


async def get_session(storage: Storage, session_id: str, now: int) -> dict[str, Any] | None:
    """The live session with its user (None when unknown, expired, or the user is disabled)."""
    return await storage.console_session(session_id, now)


async def delete_session(storage: Storage, session_id: str) -> None:
    await storage.delete_console_session(session_id)


# orders, as the console shows them

async def search_orders(storage: Storage, f: OrderFilter, *, offset: int, limit: int) -> list[OrderRow]:
    return await storage.search_orders(f, offset=offset, limit=limit)


async def get_order(storage: Storage, order_id: str, merchant_id: str | None) -> OrderRow | None:
    """The order, or None when it does not exist or belongs to another merchant (the same answer)."""
    return await storage.console_order(order_id, merchant_id)


async def paid_by_day(storage: Storage, f: OrderFilter) -> list[dict[str, Any]]:
    return await storage.paid_by_day(f)


async def refunds_done(storage: Storage, merchant_id: str | None, since_ms: int | None, until_ms: int | None,
                       store_name: str | None, channel: str | None) -> list[dict[str, Any]]:
    return await storage.refunds_done(merchant_id, since_ms, until_ms, store_name, channel)


async def merchant_has_orders_on(storage: Storage, merchant_id: str, *, device_id: str | None = None,
                                 store_name: str | None = None) -> bool:
    return await storage.merchant_has_orders_on(merchant_id, device_id=device_id, store_name=store_name)


async def paid_per_day_and_channel(storage: Storage, merchant_id: str | None, first_day: int,
                                   last_day: int) -> list[dict[str, Any]]:
    return await storage.paid_per_day_and_channel(merchant_id, first_day, last_day)


async def merchant_names(storage: Storage, merchant_ids: set[str]) -> dict[str, str]:
    return await storage.merchant_names_of(merchant_ids)


async def latest_payments(storage: Storage, merchant_id: str | None, *, limit: int,
                          since_ms: int | None = None) -> list[OrderRow]:
    return await storage.latest_payments(merchant_id, limit=limit, since_ms=since_ms)


async def paid_since(storage: Storage, merchant_id: str | None, after_ms: int, *, limit: int) -> list[OrderRow]:
    return await storage.paid_since(merchant_id, after_ms, limit=limit)


async def merchant_devices(storage: Storage, merchant_id: str | None) -> list[dict[str, Any]]:
    return await storage.merchant_devices(merchant_id)
