"""The console's rules about its users: which roles and staff roles there are, and what a new user must have.

The console asks storage directly for everything else (server/storage/console_users.py: users, sessions, the
refund password, the audit log; console_reads.py: order searches, each taking `merchant_id`, None for an
operator, applied in SQL, never after). `OrderFilter` is re-exported as the console's order vocabulary.
"""
from __future__ import annotations

from ..clock import new_id
from ..storage import AlreadyExists, NotFound, Storage
from ..storage.console_reads import OrderFilter, OrderRow  # noqa: F401  (the console's order vocabulary)

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
