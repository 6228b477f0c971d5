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
from .storage.places import PlaceRefused
from .storage.records import CODE_BOUND, CODE_DEREGISTERED, CODE_EMPTY, MERCHANT_ACTIVE, MERCHANT_CLOSED

BATCH_MAX = MAX_CODES        # codes per printed batch: one PDF sheet
NOTE_MAX = 200
END_REASONS = ("lost", "damaged", "shop_request", "fraud", "other")
# What a person may type for a code's id: Crockford base32 is read leniently (O as 0, I and L as 1).
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_NOT_EMPTY = N_("code %(code)s is %(status)s: only an empty code can be bound")
_REFUSALS = {
    "merchant_closed": N_("merchant %(merchant)s is closed"),
    "device_not_placed": N_("device %(device)s is not placed at this store"),
    "no_device": N_("the store has no device to say the code's payments: assign one first"),
    "code_not_empty": _NOT_EMPTY,
    "code_not_bound": N_("code %(code)s is %(status)s: only a bound code can be replaced"),
}


class CodeRefused(Refused):
    pass


def _refused(refusal: PlaceRefused) -> CodeRefused:
    """What storage refused about a code (or the store it was to be bound to), in words."""
    if refusal.reason in _REFUSALS:
        return CodeRefused(_REFUSALS[refusal.reason], **refusal.values)
    store = stores.refused(refusal)
    return CodeRefused(store.template, **store.values)


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
    return await storage.print_code_batch(size, note, actor=actor, now=now_ms())


async def get(storage: Storage, code_id: str, *, visible_to: str | None = None) -> StaticCode | None:
    """The code (looked up as typed, too); None when there is none or `visible_to`'s merchant may not see
    it (a merchant sees only the codes bound to it, and those it had when they were deregistered; an
    operator, visible_to None, every one)."""
    for candidate in dict.fromkeys((code_id, typed_code(code_id))):
        code = await storage.get_static_code(candidate)
        if code is not None:
            if visible_to is not None and code.merchant_id != visible_to:
                return None
            return code
    return None


async def list_codes(storage: Storage, *, merchant_id: str | None = None, store_id: str | None = None,
                     batch_id: str | None = None, status: str | None = None, limit: int = 500) -> list[StaticCode]:
    return await storage.list_static_codes(merchant_id=merchant_id, store_id=store_id, batch_id=batch_id,
                                           status=status, limit=limit)


async def batches(storage: Storage, limit: int = 100) -> list[CodeBatch]:
    return await storage.code_batches(limit)


async def batch(storage: Storage, batch_id: str) -> CodeBatch | None:
    return await storage.get_code_batch(batch_id)


def batch_sheet(public_url: str, batch_id: str, codes: list[StaticCode]) -> bytes:
    """A printed batch's PDF sheet, titled with the batch's id (the same whoever prints it)."""
    return sheet(public_url, codes, title=f"收款码 批次 {batch_id}", subtitle=public_url)


async def batch_codes(storage: Storage, batch_id: str) -> list[StaticCode]:
    return await storage.code_batch_codes(batch_id)


async def bind(storage: Storage, code_id: str, *, store_id: str, device_id: str | None = None,
               merchant_id: str | None = None, actor: str) -> StaticCode:
    """empty -> bound to the open store `store_id` (of `merchant_id`, when a merchant user binds it)."""
    code = await get(storage, code_id)
    if code is None:
        raise CodeRefused(N_("no code %(code)s"), code=code_id)
    if code.status != CODE_EMPTY:
        raise CodeRefused(_NOT_EMPTY, code=code.id, status=code.status)
    try:
        await storage.bind_static_code(code, store_id=store_id, merchant_id=merchant_id, device_id=device_id,
                                       actor=actor, now=now_ms())
    except PlaceRefused as e:
        raise _refused(e) from None
    fresh = await get(storage, code.id)
    assert fresh is not None
    return fresh


async def unbind(storage: Storage, code_id: str, *, actor: str) -> None:
    """bound -> empty: a code bound by mistake, to be bound again (its orders keep naming it)."""
    code = await get(storage, code_id)
    if code is None:
        raise CodeRefused(N_("no code %(code)s"), code=code_id)
    if not await storage.unbind_static_code(code.id):
        raise CodeRefused(N_("code %(code)s is %(status)s: only a bound code can be unbound"), code=code.id,
                          status=code.status)


async def deregister(storage: Storage, code_id: str, *, reason: str, actor: str) -> None:
    """Any code -> deregistered, for good; the merchant and its other codes carry on."""
    if reason not in END_REASONS:
        raise CodeRefused(N_("a reason is one of %(reasons)s"), reasons=", ".join(END_REASONS))
    code = await get(storage, code_id)
    if code is None:
        raise CodeRefused(N_("no code %(code)s"), code=code_id)
    if not await storage.deregister_static_code(code.id, reason=reason, actor=actor, now=now_ms()):
        raise CodeRefused(N_("code %(code)s is deregistered already"), code=code.id)


async def replace(storage: Storage, lost_id: str, new_id: str, *, actor: str, reason: str = "lost") -> StaticCode:
    """The empty code `new_id` takes the bound code `lost_id`'s store and device; `lost_id` is deregistered.
    Both or neither."""
    lost, new = await get(storage, lost_id), await get(storage, new_id)
    if lost is None or new is None:
        raise CodeRefused(N_("no code %(code)s"), code=lost_id if lost is None else new_id)
    if reason not in END_REASONS:
        raise CodeRefused(N_("a reason is one of %(reasons)s"), reasons=", ".join(END_REASONS))
    try:
        await storage.replace_static_code(lost, new, reason=reason, actor=actor, now=now_ms())
    except PlaceRefused as e:
        raise _refused(e) from None
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
    code = await storage.get_static_code(code_id)
    if code is None:
        return UNKNOWN
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
    device = await storage.announcing_device(code.store_id, code.device_id)
    if device is None:
        return NO_DEVICE
    store = await storage.get_store(code.store_id or "")
    return Payee(code, device, merchant.name, store.name if store else "")


async def code_of_device(storage: Storage, device: Device) -> StaticCode | None:
    """The code whose payments `device` says (the first bound), for its `info.static_code`."""
    return await storage.code_announced_by(device.id)
