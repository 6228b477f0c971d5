"""The lifecycle of a device at the acquirer: in_stock -> assigned (to a merchant and store) -> installed; a
swap puts an in-stock replacement in the installed device's place (merchant, store and the store's location
binding) and sends the old one back to stock (key revoked) or decommissions it; decommissioned is final.
Every step is a conditional update on the state it leaves, recorded in `device_events` with who did it
(server/storage/devices.py). Assigning and swapping in set `assigned_at`: the device API shows a device only
the orders it made since then for its current merchant (`Device.order_scope`), so a device moved to another
shop never sees the last one's.
"""
from __future__ import annotations

import datetime
from collections.abc import Awaitable
from typing import TypeVar

from .. import stores
from ..clock import new_id, now_ms
from ..params import is_text
from ..storage import NotFound, Storage
from ..storage.devices import Inspection
from ..storage.places import PlaceRefused
from ..storage.records import (
    LIFECYCLE_ASSIGNED, LIFECYCLE_DECOMMISSIONED, LIFECYCLE_IN_STOCK, LIFECYCLE_INSTALLED, MERCHANT_CLOSED,
)

LIFECYCLES = (LIFECYCLE_IN_STOCK, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED, LIFECYCLE_DECOMMISSIONED)
INSPECTION_RESULTS = ("ok", "defect", "missing")
STORE_NAME_MAX = 64

T = TypeVar("T")


class LifecycleRefused(Exception):
    """A lifecycle step that does not apply to the device as it is now (the message says why)."""


async def _step(step: Awaitable[T]) -> T:
    """A storage step, what it refuses (no such device, a store that cannot take it) as a LifecycleRefused."""
    try:
        return await step
    except NotFound as e:
        raise LifecycleRefused(str(e)) from None
    except PlaceRefused as e:
        raise LifecycleRefused(str(stores.refused(e))) from None


def _store_name(store_name: str) -> str:
    store_name = store_name.strip()
    if not 1 <= len(store_name) <= STORE_NAME_MAX or not is_text(store_name, STORE_NAME_MAX):
        raise LifecycleRefused(f"a store name is 1-{STORE_NAME_MAX} characters, none a control character")
    return store_name


async def assign(storage: Storage, device_id: str, merchant_id: str, store_name: str | None = None, *,
                 store_id: str | None = None, actor: str) -> None:
    """in_stock -> assigned to `merchant_id`'s store: the open store `store_id`, or the one called
    `store_name` (made when the merchant has none of that name)."""
    if store_id is None:
        store_name = _store_name(store_name or "")
    merchant = await storage.get_merchant(merchant_id)
    if merchant is None:
        raise LifecycleRefused(f"no merchant {merchant_id}")
    if merchant.status == MERCHANT_CLOSED:
        raise LifecycleRefused(f"merchant {merchant_id} is closed")
    device, won = await _step(storage.assign_device(device_id, merchant_id, store_id=store_id,
                                                    store_name=store_name or "", actor=actor, now=now_ms()))
    if not won:
        raise LifecycleRefused(f"device {device_id} is {device.lifecycle}: only a device in stock can be assigned")


async def install(storage: Storage, device_id: str, *, actor: str) -> None:
    """assigned -> installed at its store; the store's location is bound from the device's next report."""
    device, won = await _step(storage.install_device(device_id, actor=actor, now=now_ms()))
    if not won:
        raise LifecycleRefused(f"device {device_id} is {device.lifecycle}: only an assigned device can be installed")


async def return_to_stock(storage: Storage, device_id: str, *, actor: str, detail: str | None = None) -> None:
    """assigned or installed -> in_stock: the key is revoked and the store binding forgotten."""
    device, won = await _step(storage.return_device_to_stock(device_id, actor=actor, now=now_ms(), detail=detail))
    if not won:
        raise LifecycleRefused(f"device {device_id} is {device.lifecycle}: it cannot go back to stock")


async def swap(storage: Storage, old_id: str, new_id_: str, *, actor: str, old_to: str = LIFECYCLE_IN_STOCK,
               detail: str | None = None) -> None:
    """The in-stock device `new_id_` takes the installed (or assigned) device `old_id`'s place: its merchant,
    store and location binding; `old_id` goes to `old_to` (in_stock or decommissioned) with its key revoked.
    Both or neither: one transaction of conditional updates."""
    if old_to not in (LIFECYCLE_IN_STOCK, LIFECYCLE_DECOMMISSIONED):
        raise LifecycleRefused("the old device goes back to stock or is decommissioned")
    if old_id == new_id_:
        raise LifecycleRefused("a device cannot replace itself")
    old, new, won = await _step(storage.swap_devices(old_id, new_id_, old_to=old_to, actor=actor, now=now_ms(),
                                                     detail=detail))
    if won:
        return
    if old.lifecycle not in (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED):
        raise LifecycleRefused(f"device {old_id} is {old.lifecycle}: only an installed device can be swapped")
    if new.lifecycle != LIFECYCLE_IN_STOCK:
        raise LifecycleRefused(f"device {new_id_} is {new.lifecycle}: the replacement must be in stock")
    raise LifecycleRefused(f"device {old_id} or {new_id_} changed meanwhile: look again and retry")


async def decommission(storage: Storage, device_id: str, *, actor: str, detail: str | None = None) -> None:
    """Any state -> decommissioned, for good: the key is revoked and every op refused."""
    _, won = await _step(storage.decommission_device(device_id, actor=actor, now=now_ms(), detail=detail))
    if not won:
        raise LifecycleRefused(f"device {device_id} is decommissioned already")


async def clear_flag(storage: Storage, device_id: str, *, actor: str, note: str | None = None,
                     rekey: bool = False) -> str:
    """An operator looked at the evidence: the device may work again. A `moved` flag forgets the location
    binding (the next report binds it anew); a `cloned` flag forgets the boot ids, and with `rekey` also
    revokes the key: the genuine device is activated again with a new code, the copy stays locked out.
    Returns the kind cleared."""
    resolution = (note or "cleared") + ("; key revoked" if rekey else "")
    device, won = await _step(storage.clear_device_flag(device_id, actor=actor, now=now_ms(), resolution=resolution,
                                                        rekey=rekey))
    if device.flag is None:
        raise LifecycleRefused(f"device {device_id} is not flagged")
    if not won:
        raise LifecycleRefused(f"device {device_id} changed meanwhile: look again")
    return device.flag


async def add_inspection(storage: Storage, device_id: str, *, inspected_on: str, inspector: str, result: str,
                         notes: str | None, actor: str) -> Inspection:
    try:
        datetime.date.fromisoformat(inspected_on)
    except ValueError:
        raise LifecycleRefused("the inspection date is YYYY-MM-DD") from None
    inspector = inspector.strip()
    if not 1 <= len(inspector) <= 64 or not is_text(inspector, 64):
        raise LifecycleRefused("the inspector's name is 1-64 characters, none a control character")
    if result not in INSPECTION_RESULTS:
        raise LifecycleRefused(f"the result is one of {', '.join(INSPECTION_RESULTS)}")
    notes = (notes or "").strip()[:1000] or None
    # Lines are fine in notes; a NUL or another control character is not (PostgreSQL refuses NUL in text).
    if notes is not None and not is_text(notes.replace("\r\n", "\n").replace("\n", " "), 1000):
        raise LifecycleRefused("the notes hold a control character")
    if await storage.get_device(device_id) is None:
        raise LifecycleRefused(f"no device {device_id}")
    inspection = Inspection(id=new_id(), device_id=device_id, inspected_on=inspected_on, inspector=inspector,
                            result=result, notes=notes, created_at=now_ms(), created_by=actor)
    await storage.add_device_inspection(inspection)
    return inspection
