"""The SQL of stores, static codes and stock-in: a part of SqlStorage (sql.py), written once for SQLite and PostgreSQL.

The rules (names, who may see what, the words of a refusal) are server/stores.py's, server/static_codes.py's and
server/stock.py's. A step that things as they are do not allow raises PlaceRefused inside its transaction, so
nothing of it stays; its `reason` and `values` are what those modules word.
"""
from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import new_id
from . import sql as core   # it imports this module: its names are looked up when a method runs
from .errors import NotFound, StorageError
from .records import (
    CODE_BOUND, CODE_DEREGISTERED, CODE_EMPTY, DEVICE_PENDING, LIFECYCLE_ASSIGNED, LIFECYCLE_IN_STOCK,
    LIFECYCLE_INSTALLED, MERCHANT_CLOSED, STORE_CLOSED, STORE_OPEN, CodeBatch, StaticCode, Store, field_names,
    from_row, values_of,
)

if TYPE_CHECKING:
    from .sql import Sql

_STORE_COLUMNS = ", ".join(field_names(Store))
_CODE_COLUMNS = ", ".join(field_names(StaticCode))
_BATCH_COLUMNS = ", ".join(field_names(CodeBatch))
PLACED = (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED)   # a device counts as at its store in these
_KNOWN_CHUNK = 500                                   # ids per statement when looking serial numbers up
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"         # Crockford's: no I, L, O, U to misread on a printed label


def new_label_id(prefix: str = "", length: int = 10) -> str:
    """A random id a person reads off a label and types: `prefix` and `length` Crockford base32 characters."""
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(length))


async def store_for(tx: Sql, merchant_id: str, name: str, *, actor: str, now: int) -> str:
    """The id of the merchant's store called `name`, made when it has none (a device placed by store name)."""
    for _ in range(2):
        row = await tx.fetchone("SELECT id FROM stores WHERE merchant_id = ? AND name = ?", (merchant_id, name))
        if row is not None:
            return row["id"]
        await tx.execute("INSERT INTO stores (id, merchant_id, name, address, status, created_at, created_by)"
                         " VALUES (?, ?, ?, '', 'open', ?, ?) ON CONFLICT DO NOTHING",
                         (new_label_id("ST"), merchant_id, name, now, actor))
    raise RuntimeError(f"store {name!r} of {merchant_id} could not be made")


class PlaceRefused(StorageError):
    """`reason`: store_unknown, store_closed, store_name_taken, store_occupied, merchant_closed, device_not_placed,
    no_device, code_not_empty or code_not_bound; `values`: what the refusal names (store, merchant, name, devices,
    codes, device, code, status)."""

    def __init__(self, reason: str, **values: Any):
        super().__init__(reason)
        self.reason = reason
        self.values = values


@dataclass(frozen=True)
class StoreView:
    """A store as its list shows it."""
    store: Store
    devices: int           # assigned or installed there
    codes: int             # static codes bound to it

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def open_store(tx: Sql, store_id: str, merchant_id: str | None = None) -> Store:
    """Inside a transaction: the open store `store_id` (of `merchant_id`, when given); PlaceRefused store_unknown
    or store_closed (store) otherwise."""
    row = await tx.fetchone(f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = ?", (store_id,))
    if row is None or (merchant_id is not None and row["merchant_id"] != merchant_id):
        raise PlaceRefused("store_unknown", store=store_id)
    if row["status"] != STORE_OPEN:
        raise PlaceRefused("store_closed", store=store_id)
    return from_row(Store, row)


class PlaceStore:
    """Methods SqlStorage gets; they use `self.sql`, `self.point` and `self.transaction()`."""

    sql: Sql
    point: Sql
    transaction: Callable[[], contextlib.AbstractAsyncContextManager[Sql]]

    # stores

    async def add_store(self, merchant_id: str, name: str, address: str, *, actor: str, now: int) -> Store | None:
        """A new open store; None when the merchant has one of that name."""
        store = Store(id=new_label_id("ST"), merchant_id=merchant_id, name=name, address=address,
                      status=STORE_OPEN, created_at=now, created_by=actor)
        added = await self.sql.execute(
            f"INSERT INTO stores ({_STORE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            values_of(store))
        return store if added else None

    async def get_store(self, store_id: str) -> Store | None:
        row = await self.sql.fetchone(f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = ?", (store_id,))
        return from_row(Store, row) if row else None

    async def list_stores(self, merchant_id: str | None = None) -> list[StoreView]:
        """Every store (merchant_id None) or one merchant's, by merchant and name, with what is placed there."""
        where, args = ("WHERE s.merchant_id = ?", (merchant_id,)) if merchant_id else ("", ())
        rows = await self.sql.fetchall(
            f"SELECT {', '.join('s.' + c for c in _STORE_COLUMNS.split(', '))},"
            " (SELECT COUNT(*) FROM devices d WHERE d.store_id = s.id AND d.lifecycle IN (?, ?)) AS device_count,"
            " (SELECT COUNT(*) FROM static_codes c WHERE c.store_id = s.id AND c.status = ?) AS code_count"
            f" FROM stores s {where} ORDER BY s.merchant_id, s.name",
            (*PLACED, CODE_BOUND, *args))
        return [StoreView(from_row(Store, row), int(row["device_count"]), int(row["code_count"])) for row in rows]

    async def update_store(self, store_id: str, name: str, address: str) -> Store:
        """A new name and address, which the devices there show at once. NotFound; PlaceRefused
        store_name_taken (merchant, name)."""
        async with self.transaction() as tx:
            row = await tx.fetchone(f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = ?", (store_id,))
            if row is None:
                raise NotFound(f"no store {store_id}")
            clash = await tx.fetchone("SELECT id FROM stores WHERE merchant_id = ? AND name = ? AND id <> ?",
                                      (row["merchant_id"], name, store_id))
            if clash is not None:
                raise PlaceRefused("store_name_taken", merchant=row["merchant_id"], name=name)
            await tx.execute("UPDATE stores SET name = ?, address = ? WHERE id = ?", (name, address, store_id))
            await tx.execute("UPDATE devices SET store_name = ? WHERE store_id = ?", (name, store_id))
        return from_row(Store, row, name=name, address=address)

    async def close_store(self, store_id: str) -> None:
        """open -> closed. NotFound; PlaceRefused store_occupied (devices, codes) while anything is placed there."""
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT status FROM stores WHERE id = ?", (store_id,))
            if row is None:
                raise NotFound(f"no store {store_id}")
            placed = await core.fetch_row(
                tx, "SELECT (SELECT COUNT(*) FROM devices WHERE store_id = ? AND lifecycle IN (?, ?)) AS devices,"
                " (SELECT COUNT(*) FROM static_codes WHERE store_id = ? AND status = ?) AS codes",
                (store_id, *PLACED, store_id, CODE_BOUND))
            if placed["devices"] or placed["codes"]:
                raise PlaceRefused("store_occupied", devices=int(placed["devices"]), codes=int(placed["codes"]))
            await tx.execute("UPDATE stores SET status = ? WHERE id = ?", (STORE_CLOSED, store_id))

    async def store_place(self, store_id: str) -> list[str]:
        """The Wi-Fi and cell tokens the store's installed devices reported there (its anti-switching place)."""
        rows = await self.sql.fetchall(
            "SELECT DISTINCT p.token AS token FROM device_places p JOIN devices d ON d.id = p.device_id"
            " WHERE d.store_id = ? AND d.lifecycle = ? ORDER BY p.token", (store_id, LIFECYCLE_INSTALLED))
        return [row["token"] for row in rows]

    # static codes

    async def print_code_batch(self, size: int, note: str, *, actor: str,
                               now: int) -> tuple[CodeBatch, list[StaticCode]]:
        """`size` new empty codes in a new batch."""
        batch = CodeBatch(id=new_label_id("B", 8), size=size, note=note, created_at=now, created_by=actor)
        codes: list[StaticCode] = []
        async with self.transaction() as tx:
            await tx.execute(f"INSERT INTO static_code_batches ({_BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                             values_of(batch))
            while len(codes) < size:
                code = StaticCode(id=new_label_id(), batch_id=batch.id, status=CODE_EMPTY, merchant_id=None,
                                  store_id=None, device_id=None, replaces_id=None, created_at=now)
                # 50 random bits: a clash with a code or an old device id is rare; that one is drawn again.
                if await tx.execute("INSERT INTO static_codes (id, batch_id, status, created_at) VALUES (?, ?, ?, ?)"
                                    " ON CONFLICT DO NOTHING", (code.id, batch.id, CODE_EMPTY, now)):
                    codes.append(code)
        return batch, codes

    async def get_static_code(self, code_id: str) -> StaticCode | None:
        row = await self.sql.fetchone(f"SELECT {_CODE_COLUMNS} FROM static_codes WHERE id = ?", (code_id,))
        return from_row(StaticCode, row) if row else None

    async def list_static_codes(self, *, merchant_id: str | None = None, store_id: str | None = None,
                                batch_id: str | None = None, status: str | None = None,
                                limit: int = 500) -> list[StaticCode]:
        """Newest first; each filter given narrows the list."""
        where, args = [], []
        for column, value in (("merchant_id", merchant_id), ("store_id", store_id), ("batch_id", batch_id),
                              ("status", status)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        rows = await self.sql.fetchall(
            f"SELECT {_CODE_COLUMNS} FROM static_codes {'WHERE ' + ' AND '.join(where) if where else ''}"
            f" ORDER BY created_at DESC, id LIMIT {int(limit)}", tuple(args))
        return [from_row(StaticCode, row) for row in rows]

    async def code_batches(self, limit: int = 100) -> list[CodeBatch]:
        rows = await self.sql.fetchall(
            f"SELECT {_BATCH_COLUMNS} FROM static_code_batches ORDER BY created_at DESC, id LIMIT {int(limit)}")
        return [from_row(CodeBatch, row) for row in rows]

    async def get_code_batch(self, batch_id: str) -> CodeBatch | None:
        row = await self.sql.fetchone(f"SELECT {_BATCH_COLUMNS} FROM static_code_batches WHERE id = ?", (batch_id,))
        return from_row(CodeBatch, row) if row else None

    async def code_batch_codes(self, batch_id: str) -> list[StaticCode]:
        rows = await self.sql.fetchall(f"SELECT {_CODE_COLUMNS} FROM static_codes WHERE batch_id = ? ORDER BY id",
                                       (batch_id,))
        return [from_row(StaticCode, row) for row in rows]

    async def bind_static_code(self, code: StaticCode, *, store_id: str, merchant_id: str | None,
                               device_id: str | None, actor: str, now: int) -> None:
        """empty -> bound to the open store `store_id` (of `merchant_id`, when given), its payments said by
        `device_id` when that is placed there, else by the store's first placed device. PlaceRefused (see
        open_store), merchant_closed (merchant), device_not_placed (device), no_device, code_not_empty (code,
        status)."""
        async with self.transaction() as tx:
            store = await open_store(tx, store_id, merchant_id)
            # a store's merchant is there: stores.merchant_id is a foreign key to it
            merchant = await core.fetch_row(tx, "SELECT status FROM merchants WHERE id = ?", (store.merchant_id,))
            if merchant["status"] == MERCHANT_CLOSED:
                raise PlaceRefused("merchant_closed", merchant=store.merchant_id)
            announcer = await self._announcer(tx, store.id, device_id)
            await self._take_code(tx, code, store.merchant_id, store.id, announcer, now=now, actor=actor)

    @staticmethod
    async def _announcer(tx: Sql, store_id: str, device_id: str | None) -> str:
        if device_id:
            row = await tx.fetchone("SELECT id FROM devices WHERE id = ? AND store_id = ? AND lifecycle IN (?, ?)",
                                    (device_id, store_id, *PLACED))
            if row is None:
                raise PlaceRefused("device_not_placed", device=device_id)
            return row["id"]
        row = await tx.fetchone("SELECT id FROM devices WHERE store_id = ? AND lifecycle IN (?, ?) ORDER BY id LIMIT 1",
                                (store_id, *PLACED))
        if row is None:
            raise PlaceRefused("no_device")
        return row["id"]

    @staticmethod
    async def _take_code(tx: Sql, code: StaticCode, merchant_id: str | None, store_id: str | None,
                         device_id: str | None, *, now: int, actor: str, replaces_id: str | None = None) -> None:
        """empty -> bound (bind, and a replacement taking a lost code's place)."""
        won = await tx.execute(
            "UPDATE static_codes SET status = ?, merchant_id = ?, store_id = ?, device_id = ?, replaces_id = ?,"
            " bound_at = ?, bound_by = ? WHERE id = ? AND status = ?",
            (CODE_BOUND, merchant_id, store_id, device_id, replaces_id, now, actor, code.id, CODE_EMPTY))
        if not won:
            raise PlaceRefused("code_not_empty", code=code.id, status=code.status)

    async def unbind_static_code(self, code_id: str) -> bool:
        """bound -> empty; False when the code was not bound."""
        return await self.sql.execute(
            "UPDATE static_codes SET status = ?, merchant_id = NULL, store_id = NULL, device_id = NULL,"
            " bound_at = NULL, bound_by = NULL WHERE id = ? AND status = ?", (CODE_EMPTY, code_id, CODE_BOUND)) == 1

    async def deregister_static_code(self, code_id: str, *, reason: str, actor: str, now: int) -> bool:
        """Any code -> deregistered; False when it was already."""
        return await self.sql.execute(
            "UPDATE static_codes SET status = ?, ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ?"
            " AND status <> ?", (CODE_DEREGISTERED, now, actor, reason, code_id, CODE_DEREGISTERED)) == 1

    async def replace_static_code(self, lost: StaticCode, new: StaticCode, *, reason: str, actor: str,
                                  now: int) -> None:
        """The empty code `new` takes the bound code `lost`'s store and device; `lost` is deregistered. Both or
        neither: PlaceRefused code_not_bound or code_not_empty (code, status)."""
        async with self.transaction() as tx:
            ended = await tx.execute(
                "UPDATE static_codes SET status = ?, ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ?"
                " AND status = ?", (CODE_DEREGISTERED, now, actor, reason, lost.id, CODE_BOUND))
            if not ended:
                raise PlaceRefused("code_not_bound", code=lost.id, status=lost.status)
            await self._take_code(tx, new, lost.merchant_id, lost.store_id, lost.device_id, now=now, actor=actor,
                                  replaces_id=lost.id)

    async def code_announced_by(self, device_id: str) -> StaticCode | None:
        """The first code bound with its payments said by `device_id`."""
        row = await self.sql.fetchone(
            f"SELECT {_CODE_COLUMNS} FROM static_codes WHERE device_id = ? AND status = ? ORDER BY bound_at, id"
            " LIMIT 1", (device_id, CODE_BOUND))
        return from_row(StaticCode, row) if row else None

    # stock-in

    async def receive_into_stock(self, devices: list[tuple[str, str]], *, batch: str, actor: str,
                                 now: int) -> list[str]:
        """Each (serial number, model) into stock, with its `received` event; or, when some serial numbers
        are known already, none: those numbers (sorted within each 500)."""
        async with self.transaction() as tx:
            known = []
            for start in range(0, len(devices), _KNOWN_CHUNK):
                chunk = [serial for serial, _ in devices[start:start + _KNOWN_CHUNK]]
                rows = await tx.fetchall(f"SELECT id FROM devices WHERE id IN ({', '.join('?' for _ in chunk)})",
                                         tuple(chunk))
                known += sorted(row["id"] for row in rows)
            if known:
                return known
            for serial, model in devices:
                await tx.execute(
                    "INSERT INTO devices (id, merchant_id, store_name, device_key, status, created_at, lifecycle,"
                    " model, stock_batch, received_at, received_by) VALUES (?, NULL, '', '', ?, ?, ?, ?, ?, ?, ?)",
                    (serial, DEVICE_PENDING, now, LIFECYCLE_IN_STOCK, model or None, batch or None, now, actor))
                await tx.execute(
                    "INSERT INTO device_events (id, device_id, at, actor, kind, to_lifecycle, detail)"
                    " VALUES (?, ?, ?, ?, 'received', ?, ?)",
                    (new_id(), serial, now, actor, LIFECYCLE_IN_STOCK, batch or None))
        return []
