"""A merchant's stores: where its devices stand and its static codes hang. The one way the CLI, the
console, the ops API and the tests keep them.

A store has a name (unique within its merchant: payers and staff tell shops apart by it), an address, and
a place: the Wi-Fi access points and cell areas its devices reported there, which anti-switching holds
every device of the store to (server/devices.py). A store is closed, never deleted (orders name it); it
closes only once no device is placed there and no code is bound to it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .clock import now_ms
from .params import is_text
from .refusals import N_, Refused
from .storage import NotFound, Storage, Store
from .storage.records import (
    CODE_BOUND, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED, MERCHANT_CLOSED, STORE_CLOSED, STORE_OPEN,
)
from .storage.sql import new_label_id

NAME_MAX = 64
ADDRESS_MAX = 200
_COLUMNS = "id, merchant_id, name, address, status, created_at, created_by"


class StoreRefused(Refused):
    pass


@dataclass(frozen=True)
class StoreView:
    """A store as its list shows it."""
    store: Store
    devices: int           # assigned or installed there
    codes: int             # static codes bound to it

    def __getattr__(self, name: str):
        return getattr(self.store, name)


def check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX or not is_text(name, NAME_MAX):
        raise StoreRefused(N_("a store name is 1 to %(max)d characters of text"), max=NAME_MAX)
    return name


def check_address(address: str | None) -> str:
    address = (address or "").strip()
    if address and not is_text(address, ADDRESS_MAX):
        raise StoreRefused(N_("an address is at most %(max)d characters of text"), max=ADDRESS_MAX)
    return address


async def add(storage: Storage, merchant_id: str, name: str, *, address: str = "", actor: str) -> Store:
    name, address = check_name(name), check_address(address)
    merchant = await storage.get_merchant(merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}")
    if merchant.status == MERCHANT_CLOSED:
        raise StoreRefused(N_("merchant %(merchant)s is closed"), merchant=merchant_id)
    store = Store(id=new_label_id("ST"), merchant_id=merchant_id, name=name, address=address, status=STORE_OPEN,
                  created_at=now_ms(), created_by=actor)
    added = await storage.sql.execute(
        f"INSERT INTO stores ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (store.id, store.merchant_id, store.name, store.address, store.status, store.created_at, store.created_by))
    if not added:
        raise StoreRefused(N_("merchant %(merchant)s already has a store called %(name)s"),
                           merchant=merchant_id, name=name)
    return store


async def get(storage: Storage, store_id: str, *, visible_to: str | None = None) -> Store | None:
    """The store; None when there is none or it is not `visible_to`'s merchant's (None: an operator)."""
    row = await storage.sql.fetchone(f"SELECT {_COLUMNS} FROM stores WHERE id = ?", (store_id,))
    if row is None or (visible_to is not None and row["merchant_id"] != visible_to):
        return None
    return Store(**row)


async def list_stores(storage: Storage, merchant_id: str | None = None) -> list[StoreView]:
    """Every store (operators) or one merchant's, by merchant and name, with what is placed there."""
    where, args = ("WHERE s.merchant_id = ?", (merchant_id,)) if merchant_id else ("", ())
    rows = await storage.sql.fetchall(
        f"SELECT {', '.join('s.' + c for c in _COLUMNS.split(', '))},"
        " (SELECT COUNT(*) FROM devices d WHERE d.store_id = s.id AND d.lifecycle IN (?, ?)) AS device_count,"
        " (SELECT COUNT(*) FROM static_codes c WHERE c.store_id = s.id AND c.status = ?) AS code_count"
        f" FROM stores s {where} ORDER BY s.merchant_id, s.name",
        (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED, CODE_BOUND, *args))
    views = []
    for row in rows:
        devices, codes = row.pop("device_count"), row.pop("code_count")
        views.append(StoreView(Store(**row), int(devices), int(codes)))
    return views


async def update(storage: Storage, store_id: str, *, name: str, address: str, actor: str) -> Store:
    """A new name or address; the devices there show the new name at once."""
    name, address = check_name(name), check_address(address)
    async with storage.transaction() as tx:
        row = await tx.fetchone(f"SELECT {_COLUMNS} FROM stores WHERE id = ?", (store_id,))
        if row is None:
            raise NotFound(f"no store {store_id}")
        clash = await tx.fetchone("SELECT id FROM stores WHERE merchant_id = ? AND name = ? AND id <> ?",
                                  (row["merchant_id"], name, store_id))
        if clash is not None:
            raise StoreRefused(N_("merchant %(merchant)s already has a store called %(name)s"),
                               merchant=row["merchant_id"], name=name)
        await tx.execute("UPDATE stores SET name = ?, address = ? WHERE id = ?", (name, address, store_id))
        await tx.execute("UPDATE devices SET store_name = ? WHERE store_id = ?", (name, store_id))
    return Store(**{**row, "name": name, "address": address})


async def close(storage: Storage, store_id: str, *, actor: str) -> None:
    """open -> closed, once nothing is placed there."""
    async with storage.transaction() as tx:
        row = await tx.fetchone("SELECT status FROM stores WHERE id = ?", (store_id,))
        if row is None:
            raise NotFound(f"no store {store_id}")
        placed = await tx.fetchone(
            "SELECT (SELECT COUNT(*) FROM devices WHERE store_id = ? AND lifecycle IN (?, ?)) AS devices,"
            " (SELECT COUNT(*) FROM static_codes WHERE store_id = ? AND status = ?) AS codes",
            (store_id, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED, store_id, CODE_BOUND))
        if placed["devices"] or placed["codes"]:
            raise StoreRefused(N_("the store still has %(devices)d devices and %(codes)d bound codes: move or "
                                  "return them first"), devices=int(placed["devices"]), codes=int(placed["codes"]))
        await tx.execute("UPDATE stores SET status = ? WHERE id = ?", (STORE_CLOSED, store_id))


async def open_store(tx, store_id: str, merchant_id: str | None = None) -> Store:
    """The open store `store_id` (of `merchant_id`, when given), inside a transaction; StoreRefused otherwise."""
    row = await tx.fetchone(f"SELECT {_COLUMNS} FROM stores WHERE id = ?", (store_id,))
    if row is None or (merchant_id is not None and row["merchant_id"] != merchant_id):
        raise StoreRefused(N_("no store %(store)s at this merchant"), store=store_id)
    if row["status"] != STORE_OPEN:
        raise StoreRefused(N_("store %(store)s is closed"), store=store_id)
    return Store(**row)


async def place(storage: Storage, store_id: str) -> list[str]:
    """The Wi-Fi and cell tokens the store's placed devices reported there (its anti-switching place)."""
    rows = await storage.sql.fetchall(
        "SELECT DISTINCT p.token AS token FROM device_places p JOIN devices d ON d.id = p.device_id"
        " WHERE d.store_id = ? AND d.lifecycle = ? ORDER BY p.token", (store_id, LIFECYCLE_INSTALLED))
    return [row["token"] for row in rows]
