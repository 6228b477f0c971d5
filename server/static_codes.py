"""Static codes: the QR stickers a shop's payers scan and type the amount into (views/landing.py).

An operator prints a batch of empty codes (`print_batch`, then code_sheet.sheet_pdf for the PDF) for the
ground teams; each sticker carries its id, printed under the QR and in its URL (`/c/s/<id>`), never a
device's. On site a code is bound to a merchant's store and the device that says its payments and holds
its orders (`bind`); it can be unbound (bound by mistake: empty again), replaced when lost (the
replacement takes over its store and device; the lost one is deregistered), or deregistered alone
without touching the merchant. A deregistered code never takes money again.

Codes printed before stores were records (migration 0012) have their device's id as their id, so the
stickers already on counters keep working.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import stores
from .clock import now_ms
from .code_sheet import MAX_CODES, StickerCode, sheet_pdf
from .params import is_text
from .refusals import N_, Refused
from .storage import CodeBatch, Device, StaticCode, Storage
from .storage.records import (
    CODE_BOUND, CODE_DEREGISTERED, CODE_EMPTY, DEVICE_ACTIVE, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED,
    MERCHANT_ACTIVE, MERCHANT_CLOSED,
)
from .storage.sql import DEVICE_COLUMNS, device_from_row, new_label_id

BATCH_MAX = MAX_CODES        # codes per printed batch: one PDF sheet
NOTE_MAX = 200
END_REASONS = ("lost", "damaged", "shop_request", "fraud", "other")
_CODE_COLUMNS = ("id, batch_id, status, merchant_id, store_id, device_id, replaces_id, created_at, bound_at,"
                 " bound_by, ended_at, ended_by, end_reason")
_BATCH_COLUMNS = "id, size, note, created_at, created_by"
# What a person may type for a code's id: Crockford base32 is read leniently (O as 0, I and L as 1).
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


class CodeRefused(Refused):
    pass


def code_url(public_url: str, code_id: str) -> str:
    """What the sticker's QR says: the landing page of code `code_id` under [device_api] public_url."""
    return f"{public_url.rstrip('/')}/c/s/{code_id}"


def sheet(public_url: str, codes: list[StaticCode], *, title: str, subtitle: str = "") -> bytes:
    """The printable PDF of `codes` (server/code_sheet.py), each sticker its URL and id."""
    return sheet_pdf([StickerCode(code.id, code_url(public_url, code.id)) for code in codes], title=title,
                     subtitle=subtitle)


def typed_code(text: str) -> str:
    """A code id as a person typed it off a sticker ("7k3m9 qxa4b") in its stored form ("7K3M9QXA4B")."""
    return (text or "").strip().upper().translate(_TYPED)


async def print_batch(storage: Storage, size: int, *, note: str = "", actor: str) -> tuple[CodeBatch, list[StaticCode]]:
    """`size` new empty codes in one batch, to print."""
    if not 1 <= size <= BATCH_MAX:
        raise CodeRefused(N_("a batch has 1 to %(max)d codes"), max=BATCH_MAX)
    note = (note or "").strip()
    if note and not is_text(note, NOTE_MAX):
        raise CodeRefused(N_("a note is at most %(max)d characters of text"), max=NOTE_MAX)
    now = now_ms()
    batch = CodeBatch(id=new_label_id("B", 8), size=size, note=note, created_at=now, created_by=actor)
    codes: list[StaticCode] = []
    async with storage.transaction() as tx:
        await tx.execute(f"INSERT INTO static_code_batches ({_BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                         (batch.id, batch.size, batch.note, batch.created_at, batch.created_by))
        while len(codes) < size:
            code = StaticCode(id=new_label_id(), batch_id=batch.id, status=CODE_EMPTY, merchant_id=None,
                              store_id=None, device_id=None, replaces_id=None, created_at=now)
            # 50 random bits: a clash with a code or an old device id is rare; that one is drawn again.
            if await tx.execute("INSERT INTO static_codes (id, batch_id, status, created_at) VALUES (?, ?, ?, ?)"
                                " ON CONFLICT DO NOTHING", (code.id, batch.id, CODE_EMPTY, now)):
                codes.append(code)
    return batch, codes


async def get(storage: Storage, code_id: str, *, visible_to: str | None = None) -> StaticCode | None:
    """The code (looked up as typed, too); None when there is none or `visible_to`'s merchant may not see
    it (a merchant sees only the codes bound to it, and those it had when they were deregistered; an
    operator, visible_to None, every one)."""
    for candidate in dict.fromkeys((code_id, typed_code(code_id))):
        row = await storage.sql.fetchone(f"SELECT {_CODE_COLUMNS} FROM static_codes WHERE id = ?", (candidate,))
        if row is not None:
            if visible_to is not None and row["merchant_id"] != visible_to:
                return None
            return StaticCode(**row)
    return None


async def list_codes(storage: Storage, *, merchant_id: str | None = None, store_id: str | None = None,
                     batch_id: str | None = None, status: str | None = None, limit: int = 500) -> list[StaticCode]:
    where, args = [], []
    for column, value in (("merchant_id", merchant_id), ("store_id", store_id), ("batch_id", batch_id),
                          ("status", status)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    rows = await storage.sql.fetchall(
        f"SELECT {_CODE_COLUMNS} FROM static_codes {'WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY created_at DESC, id LIMIT {int(limit)}", tuple(args))
    return [StaticCode(**row) for row in rows]


async def batches(storage: Storage, limit: int = 100) -> list[CodeBatch]:
    rows = await storage.sql.fetchall(
        f"SELECT {_BATCH_COLUMNS} FROM static_code_batches ORDER BY created_at DESC, id LIMIT {int(limit)}")
    return [CodeBatch(**row) for row in rows]


async def batch(storage: Storage, batch_id: str) -> CodeBatch | None:
    row = await storage.sql.fetchone(f"SELECT {_BATCH_COLUMNS} FROM static_code_batches WHERE id = ?", (batch_id,))
    return CodeBatch(**row) if row else None


def batch_sheet(public_url: str, batch_id: str, codes: list[StaticCode]) -> bytes:
    """A printed batch's PDF sheet, titled with the batch's id (the same whoever prints it)."""
    return sheet(public_url, codes, title=f"收款码 批次 {batch_id}", subtitle=public_url)


async def batch_codes(storage: Storage, batch_id: str) -> list[StaticCode]:
    rows = await storage.sql.fetchall(f"SELECT {_CODE_COLUMNS} FROM static_codes WHERE batch_id = ? ORDER BY id",
                                      (batch_id,))
    return [StaticCode(**row) for row in rows]


async def _announcer(tx, store_id: str, device_id: str | None) -> str:
    """The device that will say the code's payments: `device_id` when it is placed at the store, else the
    store's first placed device."""
    if device_id:
        row = await tx.fetchone("SELECT id FROM devices WHERE id = ? AND store_id = ? AND lifecycle IN (?, ?)",
                                (device_id, store_id, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED))
        if row is None:
            raise CodeRefused(N_("device %(device)s is not placed at this store"), device=device_id)
        return row["id"]
    row = await tx.fetchone("SELECT id FROM devices WHERE store_id = ? AND lifecycle IN (?, ?) ORDER BY id LIMIT 1",
                            (store_id, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED))
    if row is None:
        raise CodeRefused(N_("the store has no device to say the code's payments: assign one first"))
    return row["id"]


async def _take(tx, code: StaticCode, merchant_id: str | None, store_id: str | None, device_id: str | None, *,
                now: int, actor: str, replaces_id: str | None = None) -> None:
    """empty -> bound to the store (bind, and a replacement taking a lost code's place), or CodeRefused."""
    won = await tx.execute(
        "UPDATE static_codes SET status = ?, merchant_id = ?, store_id = ?, device_id = ?, replaces_id = ?,"
        " bound_at = ?, bound_by = ? WHERE id = ? AND status = ?",
        (CODE_BOUND, merchant_id, store_id, device_id, replaces_id, now, actor, code.id, CODE_EMPTY))
    if not won:
        raise CodeRefused(N_("code %(code)s is %(status)s: only an empty code can be bound"), code=code.id,
                          status=code.status)


async def bind(storage: Storage, code_id: str, *, store_id: str, device_id: str | None = None,
               merchant_id: str | None = None, actor: str) -> StaticCode:
    """empty -> bound to the open store `store_id` (of `merchant_id`, when a merchant user binds it)."""
    code = await get(storage, code_id)
    if code is None:
        raise CodeRefused(N_("no code %(code)s"), code=code_id)
    if code.status != CODE_EMPTY:
        raise CodeRefused(N_("code %(code)s is %(status)s: only an empty code can be bound"), code=code.id,
                          status=code.status)
    now = now_ms()
    async with storage.transaction() as tx:
        try:
            store = await stores.open_store(tx, store_id, merchant_id)
        except stores.StoreRefused as e:
            raise CodeRefused(e.template, **e.values) from None
        merchant = await tx.fetchone("SELECT status FROM merchants WHERE id = ?", (store.merchant_id,))
        if merchant["status"] == MERCHANT_CLOSED:
            raise CodeRefused(N_("merchant %(merchant)s is closed"), merchant=store.merchant_id)
        announcer = await _announcer(tx, store.id, device_id)
        await _take(tx, code, store.merchant_id, store.id, announcer, now=now, actor=actor)
    fresh = await get(storage, code.id)
    assert fresh is not None
    return fresh


async def unbind(storage: Storage, code_id: str, *, actor: str) -> None:
    """bound -> empty: a code bound by mistake, to be bound again (its orders keep naming it)."""
    code = await get(storage, code_id)
    if code is None:
        raise CodeRefused(N_("no code %(code)s"), code=code_id)
    won = await storage.sql.execute(
        "UPDATE static_codes SET status = ?, merchant_id = NULL, store_id = NULL, device_id = NULL, bound_at = NULL,"
        " bound_by = NULL WHERE id = ? AND status = ?", (CODE_EMPTY, code.id, CODE_BOUND))
    if not won:
        raise CodeRefused(N_("code %(code)s is %(status)s: only a bound code can be unbound"), code=code.id,
                          status=code.status)


async def deregister(storage: Storage, code_id: str, *, reason: str, actor: str) -> None:
    """Any code -> deregistered, for good; the merchant and its other codes carry on."""
    if reason not in END_REASONS:
        raise CodeRefused(N_("a reason is one of %(reasons)s"), reasons=", ".join(END_REASONS))
    code = await get(storage, code_id)
    if code is None:
        raise CodeRefused(N_("no code %(code)s"), code=code_id)
    won = await storage.sql.execute(
        "UPDATE static_codes SET status = ?, ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ? AND status <> ?",
        (CODE_DEREGISTERED, now_ms(), actor, reason, code.id, CODE_DEREGISTERED))
    if not won:
        raise CodeRefused(N_("code %(code)s is deregistered already"), code=code.id)


async def replace(storage: Storage, lost_id: str, new_id: str, *, actor: str, reason: str = "lost") -> StaticCode:
    """The empty code `new_id` takes the bound code `lost_id`'s store and device; `lost_id` is deregistered.
    Both or neither."""
    lost, new = await get(storage, lost_id), await get(storage, new_id)
    if lost is None or new is None:
        raise CodeRefused(N_("no code %(code)s"), code=lost_id if lost is None else new_id)
    if reason not in END_REASONS:
        raise CodeRefused(N_("a reason is one of %(reasons)s"), reasons=", ".join(END_REASONS))
    now = now_ms()
    async with storage.transaction() as tx:
        ended = await tx.execute(
            "UPDATE static_codes SET status = ?, ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ? AND status = ?",
            (CODE_DEREGISTERED, now, actor, reason, lost.id, CODE_BOUND))
        if not ended:
            raise CodeRefused(N_("code %(code)s is %(status)s: only a bound code can be replaced"), code=lost.id,
                              status=lost.status)
        await _take(tx, new, lost.merchant_id, lost.store_id, lost.device_id, now=now, actor=actor,
                    replaces_id=lost.id)
    fresh = await get(storage, new.id)
    assert fresh is not None
    return fresh


@dataclass(frozen=True)
class Payee:
    """Who a payer of a static code pays: the code's store, and the device its order goes to."""
    code: StaticCode
    device: Device
    merchant_name: str
    store_name: str


# Why a code takes no money, for the payer's page (views/landing.py words it).
UNKNOWN, NOT_BOUND, DEREGISTERED, MERCHANT_OFF, MERCHANT_GONE, NO_DEVICE = (
    "unknown", "not_bound", "deregistered", "merchant_off", "merchant_gone", "no_device")


async def payee(storage: Storage, code_id: str) -> Payee | str:
    """The payee of code `code_id`, or why there is none (one of the reasons above)."""
    row = await storage.sql.fetchone(f"SELECT {_CODE_COLUMNS} FROM static_codes WHERE id = ?", (code_id,))
    if row is None:
        return UNKNOWN
    code = StaticCode(**row)
    if code.status == CODE_DEREGISTERED:
        return DEREGISTERED
    if code.status != CODE_BOUND:
        return NOT_BOUND
    merchant = await storage.get_merchant(code.merchant_id or "")
    if merchant is None or merchant.status == MERCHANT_CLOSED:
        return MERCHANT_GONE
    if merchant.status != MERCHANT_ACTIVE:
        return MERCHANT_OFF
    # Its own device when that still stands at the store; else another active one there (a device sent for
    # repair does not silence the shop's code).
    rows = await storage.sql.fetchall(
        f"SELECT {DEVICE_COLUMNS} FROM devices WHERE store_id = ? AND lifecycle IN (?, ?) AND status = ?"
        " AND flag IS NULL ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END, id LIMIT 1",
        (code.store_id, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED, DEVICE_ACTIVE, code.device_id))
    if not rows:
        return NO_DEVICE
    store = await storage.sql.fetchone("SELECT name FROM stores WHERE id = ?", (code.store_id,))
    return Payee(code, device_from_row(rows[0]), merchant.name, store["name"] if store else "")


async def code_of_device(storage: Storage, device: Device) -> StaticCode | None:
    """The code whose payments `device` says (the first bound), for its `info.static_code`."""
    row = await storage.sql.fetchone(
        f"SELECT {_CODE_COLUMNS} FROM static_codes WHERE device_id = ? AND status = ? ORDER BY bound_at, id LIMIT 1",
        (device.id, CODE_BOUND))
    return StaticCode(**row) if row else None
