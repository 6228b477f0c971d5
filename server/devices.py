"""Devices: registering and activating them, their lifecycle at the acquirer, and the anti-switching
rules the device API enforces. The one way the CLI, the console, the demo and the tests do it.

Keys. `register_device` makes the key at once (printed for a provisioning script), or
`register_device(..., activation=True)` leaves the device `pending` and `issue_activation_code` prints a
12-digit one-time code that the device trades for its key (`activate`). A code is single-use, expires, and
is stored only as its SHA-256.

Lifecycle (`devices.lifecycle`): in_stock -> assigned (to a merchant and store) -> installed; a swap puts
an in-stock replacement in the installed device's place (merchant, store and the store's location binding)
and sends the old one back to stock (key revoked) or decommissions it; decommissioned is final. Every step
is a conditional update on the state it leaves, recorded in `device_events` with who did it. Assigning
and swapping in set `assigned_at`: the device API shows a device only the orders it made since then for
its current merchant (`Device.order_scope`), so a device moved to another shop never sees the last one's.

Anti-switching (`check_identity`, on every signed request after its nonce is recorded):
- cloned: the request's X-Hardware-Id differs from the one bound at activation (or first seen); or its
  X-Boot-Id is one this key used before another boot id appeared, within [device_api] clone_window_s
  (a real device gets a fresh random boot id at every boot and never goes back to an old one); or a
  device that has sent its identity sends a request without it. A request from the old boot that was
  signed before the new boot was first seen (a straggler) is let through and counts for nothing.
- moved: a heartbeat's `place` (Wi-Fi BSSIDs, cell) shares nothing with what the device reported at its
  store. Access points count by their first five octets (one router's 2.4/5 GHz radios and extra SSIDs
  share them), cells by MCC-MNC-LAC (an area, not one tower); a report that shares at least one token is
  at the store, and its new tokens are learned (a replaced router is learned while a neighbour's AP is
  still seen). The first report after install binds the place.
A flag refuses every op with its own code until an operator clears it (or decommissions the device).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from .clock import new_id, now_ms
from .device_auth import DEVICE_ID, SignedHeaders, new_device_key
from .params import is_text
from .storage import DEVICE_ACTIVE, DEVICE_DISABLED, DEVICE_PENDING, Device, Storage
from .storage.records import (
    CODE_BOUND, FLAG_CLONED, FLAG_MOVED, LIFECYCLE_ASSIGNED, LIFECYCLE_DECOMMISSIONED, LIFECYCLE_IN_STOCK,
    LIFECYCLE_INSTALLED, MERCHANT_CLOSED,
)
from .storage.sql import DEVICE_COLUMNS, Rollback, device_from_row, store_for
from .storage.places import PlaceRefused
from .stores import refused

LIFECYCLES = (LIFECYCLE_IN_STOCK, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED, LIFECYCLE_DECOMMISSIONED)
FLAGS = (FLAG_MOVED, FLAG_CLONED)
INSPECTION_RESULTS = ("ok", "defect", "missing")
MAX_PLACES = 64                 # tokens learned per device; beyond it nothing new is learned
_SEEN_WRITE_MS = 30_000         # a boot's last_seen_at is written at most this often
_STRAGGLER_MS = 2_000           # device clocks (synced from server_time, whole seconds) may lag this much
_BSSID = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}\Z")
_CELL = re.compile(r"^([0-9]{3})-([0-9]{2,3})-([0-9]{1,10})(-[0-9]{1,12})?\Z")
STORE_NAME_MAX = 64

class ActivationRefused(Exception):
    """`code` is the device API's error code."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


async def register_device(storage: Storage, device_id: str, merchant_id: str, store_name: str, *,
                          merchant_name: str | None = None, key_hex: str | None = None,
                          activation: bool = False) -> str:
    """Add a device (and its merchant when missing); returns the device key as 64 hex characters,
    or "" when the device waits for activation."""
    if not DEVICE_ID.match(device_id):
        raise ValueError("a device id is 1-32 of A-Z a-z 0-9 _ -")
    if await storage.get_merchant(merchant_id) is None:
        await storage.add_merchant(merchant_id, merchant_name or merchant_id)
    if activation:
        await storage.add_device(device_id, merchant_id, store_name, "", status=DEVICE_PENDING)
        return ""
    key_hex = key_hex or new_device_key()
    await storage.add_device(device_id, merchant_id, store_name, key_hex)
    return key_hex


def hash_activation_code(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


async def issue_activation_code(storage: Storage, device_id: str, ttl_s: int, *, actor: str | None = None) -> str:
    """A new one-time code for the device (a new device, one whose flash was wiped, or one whose key
    was revoked). Only for a device assigned to or installed at a store. `actor`: recorded in its history."""
    device = await storage.get_device(device_id)
    if device is None:
        raise ValueError(f"no device {device_id}")
    if device.status == DEVICE_DISABLED or device.lifecycle == LIFECYCLE_DECOMMISSIONED:
        raise ValueError(f"device {device_id} is disabled")
    if device.lifecycle == LIFECYCLE_IN_STOCK:
        raise ValueError(f"device {device_id} is in stock: assign it to a store first")
    code = "".join(secrets.choice("0123456789") for _ in range(12))
    now = now_ms()
    await storage.add_activation_code(device_id, hash_activation_code(code), now, now + ttl_s * 1000)
    if actor is not None:
        await _insert_event(storage.sql, device_id, now, actor, "activation_code", detail=f"valid {ttl_s // 3600} h")
    return code


async def check_activation_code(storage: Storage, code: str) -> Device:
    """The code's device, or ActivationRefused; changes nothing."""
    row = await storage.get_activation_code(hash_activation_code(code))
    if row is None:
        raise ActivationRefused("activation_code_unknown")
    if row["used_at"] is not None:
        raise ActivationRefused("activation_code_used")
    if row["expires_at"] <= now_ms():
        raise ActivationRefused("activation_code_expired")
    device = await storage.get_device(row["device_id"])
    if device is None or device.status == DEVICE_DISABLED:
        raise ActivationRefused("device_disabled")
    if device.lifecycle == LIFECYCLE_DECOMMISSIONED:
        raise ActivationRefused("device_decommissioned")
    if device.flag is not None:
        raise ActivationRefused(f"device_{device.flag}")
    if device.lifecycle == LIFECYCLE_IN_STOCK:
        raise ActivationRefused("device_not_installed")
    return device


async def activate(storage: Storage, code: str, *, hardware_id: str | None, firmware: str | None,
                   place: list[str] | None = None) -> Device:
    """Use the code up and give its device a fresh key (the old one, if any, stops working). The
    hardware id sent binds the device; boot ids seen with the old key are forgotten; `place` (tokens of
    `parse_place`) binds the store's location when the device is installed and none is bound yet."""
    await check_activation_code(storage, code)
    now = now_ms()
    device = await storage.activate_device(hash_activation_code(code), new_device_key(), now,
                                           hardware_id=hardware_id, firmware=firmware)
    if device is None or device.status != DEVICE_ACTIVE:   # lost a race with another use of the code
        raise ActivationRefused("activation_code_used")
    async with storage.transaction() as tx:
        await tx.execute("DELETE FROM device_boots WHERE device_id = ?", (device.id,))
        await tx.execute("UPDATE devices SET boot_id = NULL WHERE id = ?", (device.id,))
        await _insert_event(tx, device.id, now, "device", "activated",
                            detail=f"hardware id {hardware_id}" if hardware_id else None)
        if place and device.lifecycle == LIFECYCLE_INSTALLED:   # an assigned device's store is bound at install
            bound = await tx.fetchone("SELECT COUNT(*) AS n FROM device_places WHERE device_id = ?", (device.id,))
            if not bound["n"]:
                await _learn_places(tx, device.id, place, now)
    return await storage.get_device(device.id) or device


# ---------------------------------------------------------------------------------------------- lifecycle

class LifecycleRefused(Exception):
    """A lifecycle step that does not apply to the device as it is now (the message says why)."""


@dataclass(frozen=True)
class DeviceEvent:
    id: str
    device_id: str
    at: int
    actor: str
    kind: str
    from_lifecycle: str | None = None
    to_lifecycle: str | None = None
    from_merchant_id: str | None = None
    to_merchant_id: str | None = None
    from_store: str | None = None
    to_store: str | None = None
    other_device_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Inspection:
    id: str
    device_id: str
    inspected_on: str
    inspector: str
    result: str
    notes: str | None
    created_at: int
    created_by: str


@dataclass(frozen=True)
class Flag:
    id: str
    device_id: str
    kind: str
    raised_at: int
    evidence: dict[str, Any]
    cleared_at: int | None = None
    cleared_by: str | None = None
    resolution: str | None = None


_EVENT_COLUMNS = ("id", "device_id", "at", "actor", "kind", "from_lifecycle", "to_lifecycle", "from_merchant_id",
                  "to_merchant_id", "from_store", "to_store", "other_device_id", "detail")


async def _insert_event(sql: Any, device_id: str, at: int, actor: str, kind: str, **fields: Any) -> None:
    row = {"id": new_id(), "device_id": device_id, "at": at, "actor": actor, "kind": kind, **fields}
    names = [name for name in _EVENT_COLUMNS if name in row]
    await sql.execute(f"INSERT INTO device_events ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                      tuple(row[name] for name in names))


async def _get(tx: Any, device_id: str) -> Device:
    row = await tx.fetchone(f"SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?", (device_id,))
    if row is None:
        raise LifecycleRefused(f"no device {device_id}")
    return device_from_row(row)


def _store_name(store_name: str) -> str:
    store_name = store_name.strip()
    if not 1 <= len(store_name) <= STORE_NAME_MAX or not is_text(store_name, STORE_NAME_MAX):
        raise LifecycleRefused(f"a store name is 1-{STORE_NAME_MAX} characters, none a control character")
    return store_name


# Revoking the key and forgetting what the key was seen with: a device leaving its store.
_REVOKE = "device_key = '', flag = NULL, boot_id = NULL, activated_at = NULL, installed_at = NULL"


async def _forget(tx: Any, device_id: str, now: int, actor: str, resolution: str) -> None:
    await tx.execute("DELETE FROM device_boots WHERE device_id = ?", (device_id,))
    await tx.execute("DELETE FROM device_places WHERE device_id = ?", (device_id,))
    await tx.execute("UPDATE device_flags SET cleared_at = ?, cleared_by = ?, resolution = ?"
                     " WHERE device_id = ? AND cleared_at IS NULL", (now, actor, resolution, device_id))


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
    now = now_ms()
    async with storage.transaction() as tx:
        device = await _get(tx, device_id)
        if store_id is not None:
            try:
                store_name = (await storage.open_store(tx, store_id, merchant_id)).name
            except PlaceRefused as e:
                raise LifecycleRefused(str(refused(e))) from None
        else:
            store_id = await store_for(tx, merchant_id, store_name, actor=actor, now=now)
        won = await tx.execute(
            "UPDATE devices SET lifecycle = ?, merchant_id = ?, store_name = ?, store_id = ?, assigned_at = ?"
            " WHERE id = ? AND lifecycle = ?",
            (LIFECYCLE_ASSIGNED, merchant_id, store_name, store_id, now, device_id, LIFECYCLE_IN_STOCK))
        if not won:
            raise LifecycleRefused(f"device {device_id} is {device.lifecycle}: only a device in stock can be assigned")
        await _insert_event(tx, device_id, now, actor, "assigned", from_lifecycle=LIFECYCLE_IN_STOCK,
                            to_lifecycle=LIFECYCLE_ASSIGNED, to_merchant_id=merchant_id, to_store=store_name)


async def install(storage: Storage, device_id: str, *, actor: str) -> None:
    """assigned -> installed at its store; the store's location is bound from the device's next report."""
    now = now_ms()
    async with storage.transaction() as tx:
        device = await _get(tx, device_id)
        won = await tx.execute("UPDATE devices SET lifecycle = ?, installed_at = ? WHERE id = ? AND lifecycle = ?",
                               (LIFECYCLE_INSTALLED, now, device_id, LIFECYCLE_ASSIGNED))
        if not won:
            raise LifecycleRefused(
                f"device {device_id} is {device.lifecycle}: only an assigned device can be installed")
        # Whatever it reported before (a warehouse, a technician's hotspot) is not the store.
        await tx.execute("DELETE FROM device_places WHERE device_id = ?", (device_id,))
        await _insert_event(tx, device_id, now, actor, "installed", from_lifecycle=LIFECYCLE_ASSIGNED,
                            to_lifecycle=LIFECYCLE_INSTALLED, to_merchant_id=device.merchant_id,
                            to_store=device.store_name)


async def return_to_stock(storage: Storage, device_id: str, *, actor: str, detail: str | None = None) -> None:
    """assigned or installed -> in_stock: the key is revoked and the store binding forgotten."""
    now = now_ms()
    async with storage.transaction() as tx:
        device = await _get(tx, device_id)
        won = device.lifecycle in (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED) and await tx.execute(
            f"UPDATE devices SET lifecycle = ?, {_REVOKE}, status = ? WHERE id = ? AND lifecycle = ?",
            (LIFECYCLE_IN_STOCK, DEVICE_PENDING, device_id, device.lifecycle))
        if not won:
            raise LifecycleRefused(f"device {device_id} is {device.lifecycle}: it cannot go back to stock")
        await _forget(tx, device_id, now, actor, "returned to stock")
        await _insert_event(tx, device_id, now, actor, "returned_to_stock", from_lifecycle=device.lifecycle,
                            to_lifecycle=LIFECYCLE_IN_STOCK, from_merchant_id=device.merchant_id,
                            from_store=device.store_name, detail=detail)


async def swap(storage: Storage, old_id: str, new_id_: str, *, actor: str, old_to: str = LIFECYCLE_IN_STOCK,
               detail: str | None = None) -> None:
    """The in-stock device `new_id_` takes the installed (or assigned) device `old_id`'s place: its merchant,
    store and location binding; `old_id` goes to `old_to` (in_stock or decommissioned) with its key revoked.
    Both or neither: one transaction of conditional updates."""
    if old_to not in (LIFECYCLE_IN_STOCK, LIFECYCLE_DECOMMISSIONED):
        raise LifecycleRefused("the old device goes back to stock or is decommissioned")
    if old_id == new_id_:
        raise LifecycleRefused("a device cannot replace itself")
    now = now_ms()
    async with storage.transaction() as tx:
        old = await _get(tx, old_id)
        new = await _get(tx, new_id_)
        if old.lifecycle not in (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED):
            raise LifecycleRefused(f"device {old_id} is {old.lifecycle}: only an installed device can be swapped")
        if new.lifecycle != LIFECYCLE_IN_STOCK:
            raise LifecycleRefused(f"device {new_id_} is {new.lifecycle}: the replacement must be in stock")
        moved_in = await tx.execute(
            "UPDATE devices SET lifecycle = ?, merchant_id = ?, store_name = ?, store_id = ?, installed_at = ?,"
            " assigned_at = ? WHERE id = ? AND lifecycle = ?",
            (old.lifecycle, old.merchant_id, old.store_name, old.store_id,
             now if old.lifecycle == LIFECYCLE_INSTALLED else None, now, new_id_, LIFECYCLE_IN_STOCK))
        status = DEVICE_DISABLED if old_to == LIFECYCLE_DECOMMISSIONED else DEVICE_PENDING
        moved_out = await tx.execute(
            f"UPDATE devices SET lifecycle = ?, {_REVOKE}, status = ? WHERE id = ? AND lifecycle = ?"
            " AND merchant_id = ? AND store_name = ?",
            (old_to, status, old_id, old.lifecycle, old.merchant_id, old.store_name))
        if not (moved_in and moved_out):
            raise Rollback()   # another step changed one of them meanwhile: nothing happened
        # The store's place goes with the store: the replacement is bound there from its first request.
        await tx.execute("DELETE FROM device_places WHERE device_id = ?", (new_id_,))
        await tx.execute("INSERT INTO device_places (device_id, token, first_seen_at, last_seen_at)"
                         " SELECT ?, token, first_seen_at, last_seen_at FROM device_places WHERE device_id = ?",
                         (new_id_, old_id))
        await _forget(tx, old_id, now, actor, f"swapped out for {new_id_}")
        # The shop's static codes now say their payments on the replacement.
        await tx.execute("UPDATE static_codes SET device_id = ? WHERE device_id = ? AND status = ?",
                         (new_id_, old_id, CODE_BOUND))
        await _insert_event(tx, new_id_, now, actor, "swapped_in", from_lifecycle=LIFECYCLE_IN_STOCK,
                            to_lifecycle=old.lifecycle, to_merchant_id=old.merchant_id, to_store=old.store_name,
                            other_device_id=old_id, detail=detail)
        await _insert_event(tx, old_id, now, actor, "swapped_out", from_lifecycle=old.lifecycle, to_lifecycle=old_to,
                            from_merchant_id=old.merchant_id, from_store=old.store_name, other_device_id=new_id_,
                            detail=detail)
        return
    raise LifecycleRefused(f"device {old_id} or {new_id_} changed meanwhile: look again and retry")


async def decommission(storage: Storage, device_id: str, *, actor: str, detail: str | None = None) -> None:
    """Any state -> decommissioned, for good: the key is revoked and every op refused."""
    now = now_ms()
    async with storage.transaction() as tx:
        device = await _get(tx, device_id)
        won = device.lifecycle != LIFECYCLE_DECOMMISSIONED and await tx.execute(
            f"UPDATE devices SET lifecycle = ?, {_REVOKE}, status = ? WHERE id = ? AND lifecycle = ?",
            (LIFECYCLE_DECOMMISSIONED, DEVICE_DISABLED, device_id, device.lifecycle))
        if not won:
            raise LifecycleRefused(f"device {device_id} is decommissioned already")
        await _forget(tx, device_id, now, actor, "decommissioned")
        await _insert_event(tx, device_id, now, actor, "decommissioned", from_lifecycle=device.lifecycle,
                            to_lifecycle=LIFECYCLE_DECOMMISSIONED, from_merchant_id=device.merchant_id,
                            from_store=device.store_name, detail=detail)


async def clear_flag(storage: Storage, device_id: str, *, actor: str, note: str | None = None,
                     rekey: bool = False) -> str:
    """An operator looked at the evidence: the device may work again. A `moved` flag forgets the location
    binding (the next report binds it anew); a `cloned` flag forgets the boot ids, and with `rekey` also
    revokes the key: the genuine device is activated again with a new code, the copy stays locked out.
    Returns the kind cleared."""
    now = now_ms()
    async with storage.transaction() as tx:
        device = await _get(tx, device_id)
        if device.flag is None:
            raise LifecycleRefused(f"device {device_id} is not flagged")
        revoke = ", device_key = '', status = '" + DEVICE_PENDING + "', activated_at = NULL" if rekey else ""
        if not await tx.execute(f"UPDATE devices SET flag = NULL, boot_id = NULL{revoke} WHERE id = ? AND flag = ?",
                                (device_id, device.flag)):
            raise LifecycleRefused(f"device {device_id} changed meanwhile: look again")
        if device.flag == FLAG_MOVED:
            await tx.execute("DELETE FROM device_places WHERE device_id = ?", (device_id,))
        await tx.execute("DELETE FROM device_boots WHERE device_id = ?", (device_id,))
        resolution = (note or "cleared") + ("; key revoked" if rekey else "")
        await tx.execute("UPDATE device_flags SET cleared_at = ?, cleared_by = ?, resolution = ?"
                         " WHERE device_id = ? AND cleared_at IS NULL", (now, actor, resolution, device_id))
        await _insert_event(tx, device_id, now, actor, "flag_cleared", detail=f"{device.flag}: {resolution}")
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
    async with storage.transaction() as tx:
        await tx.execute(
            "INSERT INTO device_inspections (id, device_id, inspected_on, inspector, result, notes, created_at,"
            " created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (inspection.id, device_id, inspected_on, inspector, result, notes, inspection.created_at, actor))
        await _insert_event(tx, device_id, inspection.created_at, actor, "inspected",
                            detail=f"{inspected_on} {inspector}: {result}")
    return inspection


# ------------------------------------------------------------------------------------- anti-switching

class DeviceFlagged(Exception):
    """The request showed the device moved or cloned; the flag is recorded. `kind`: moved, cloned."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def parse_place(message: dict[str, Any]) -> list[str] | None:
    """The location tokens of a heartbeat's (or activate's) `place`: {"bssid": "aa:bb:cc:dd:ee:ff",
    "seen": [more BSSIDs, at most 16], "cell": "MCC-MNC-LAC[-CID]"}; None when absent. ValueError when malformed."""
    place = message.get("place")
    if place is None:
        return None
    if not isinstance(place, dict):
        raise ValueError("place must be a map")
    tokens: list[str] = []
    bssids = []
    if place.get("bssid") is not None:
        bssids.append(place["bssid"])
    seen = place.get("seen", [])
    if not isinstance(seen, list) or len(seen) > 16:
        raise ValueError("place.seen must be a list of at most 16 BSSIDs")
    bssids.extend(seen)
    for bssid in bssids:
        if not isinstance(bssid, str) or not _BSSID.match(bssid.lower()):
            raise ValueError("a BSSID is six hex octets, e.g. aa:bb:cc:dd:ee:ff")
        token = "wifi:" + re.sub(r"[:-]", "", bssid.lower())[:10]
        if token not in tokens:
            tokens.append(token)
    cell = place.get("cell")
    if cell is not None:
        match = _CELL.match(cell) if isinstance(cell, str) else None
        if match is None:
            raise ValueError("place.cell is MCC-MNC-LAC or MCC-MNC-LAC-CID, decimal")
        tokens.append(f"cell:{match.group(1)}-{match.group(2)}-{match.group(3)}")
    if not tokens:
        raise ValueError("place names no BSSID and no cell")
    return tokens


async def _learn_places(tx: Any, device_id: str, tokens: list[str], now: int) -> None:
    count = (await tx.fetchone("SELECT COUNT(*) AS n FROM device_places WHERE device_id = ?", (device_id,)))["n"]
    for token in tokens:
        if count >= MAX_PLACES:
            break
        count += await tx.execute(
            "INSERT INTO device_places (device_id, token, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING", (device_id, token, now, now))
    await tx.execute(f"UPDATE device_places SET last_seen_at = ? WHERE device_id = ?"
                     f" AND token IN ({', '.join('?' for _ in tokens)})", (now, device_id, *tokens))


async def raise_flag(storage: Storage, device_id: str, kind: str, evidence: dict[str, Any]) -> bool:
    """Flag the device (when not flagged yet) with the evidence; True when this call flagged it."""
    now = now_ms()
    async with storage.transaction() as tx:
        if not await tx.execute("UPDATE devices SET flag = ? WHERE id = ? AND flag IS NULL", (kind, device_id)):
            return False
        await tx.execute("INSERT INTO device_flags (id, device_id, kind, raised_at, evidence) VALUES (?, ?, ?, ?, ?)",
                         (new_id(), device_id, kind, now, json.dumps(evidence, sort_keys=True)))
        await _insert_event(tx, device_id, now, "device api", "flagged", detail=f"{kind}: {evidence.get('reason')}")
    return True


async def _flag(storage: Storage, device: Device, kind: str, evidence: dict[str, Any]) -> None:
    await raise_flag(storage, device.id, kind, evidence)
    raise DeviceFlagged(kind)


def _boot(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: row[k] for k in ("boot_id", "hardware_id", "first_seen_at", "last_seen_at", "ip")}


async def check_identity(storage: Storage, device: Device, signed: SignedHeaders, *, ip: str | None,
                         place: list[str] | None, clone_window_s: int) -> None:
    """Compare what this signed, fresh request says about the device with what its key was used with
    before (module docstring); DeviceFlagged after flagging it, else record what is new."""
    now = now_ms()
    hardware_id, boot_id = signed.hardware_id, signed.boot_id
    base = {"at": now, "ip": ip, "bound_hardware_id": device.hardware_id}
    if boot_id is None or hardware_id is None:
        if device.boot_id is not None:   # this key came with an identity before: not the device's firmware
            await _flag(storage, device, FLAG_CLONED, {**base, "reason": "identity headers missing",
                                                       "current_boot_id": device.boot_id})
    else:
        if device.hardware_id is not None and hardware_id != device.hardware_id:
            await _flag(storage, device, FLAG_CLONED, {**base, "reason": "hardware id differs",
                                                       "seen_hardware_id": hardware_id, "boot_id": boot_id})
        await _check_boot(storage, device, hardware_id, boot_id, int(signed.timestamp) * 1000, now, ip,
                          clone_window_s * 1000, base)
    if place is not None:
        await _check_place(storage, device, place, now, base)


async def _check_boot(storage: Storage, device: Device, hardware_id: str, boot_id: str, signed_at: int, now: int,
                      ip: str | None, window_ms: int, base: dict[str, Any]) -> None:
    sql = storage.sql
    if boot_id == device.boot_id:
        # The usual case: nothing to read or write but every _SEEN_WRITE_MS (the device row says when).
        if device.boot_seen_at is None or now - device.boot_seen_at >= _SEEN_WRITE_MS:
            async with storage.transaction() as tx:
                await tx.execute("UPDATE devices SET boot_seen_at = ?, last_ip = ? WHERE id = ? AND boot_id = ?",
                                 (now, ip, device.id, boot_id))
                await tx.execute("UPDATE device_boots SET last_seen_at = ?, ip = ? WHERE device_id = ? AND boot_id = ?",
                                 (now, ip, device.id, boot_id))
        return
    current = None
    if device.boot_id is not None:
        current = await sql.fetchone("SELECT boot_id, hardware_id, first_seen_at, last_seen_at, ip FROM device_boots"
                                     " WHERE device_id = ? AND boot_id = ?", (device.id, device.boot_id))
    seen = await sql.fetchone("SELECT boot_id, hardware_id, first_seen_at, last_seen_at, ip FROM device_boots"
                              " WHERE device_id = ? AND boot_id = ?", (device.id, boot_id))
    if seen is not None and now - seen["last_seen_at"] <= window_ms:
        if current is not None and signed_at + _STRAGGLER_MS < current["first_seen_at"]:
            return    # signed before the newer boot first appeared: an old request arriving late
        await _flag(storage, device, FLAG_CLONED, {
            **base, "reason": "boot ids interleave", "seen_hardware_id": hardware_id,
            "returning_boot": {**_boot(seen), "seen_again_at": now, "ip_now": ip},  # type: ignore[dict-item]
            "newer_boot": _boot(current)})
    # A new boot (or one forgotten long ago): it becomes the current one, if nobody else changed it meanwhile.
    async with storage.transaction() as tx:
        await tx.execute("DELETE FROM device_boots WHERE device_id = ? AND last_seen_at < ?",
                         (device.id, now - window_ms))
        await tx.execute(
            "INSERT INTO device_boots (device_id, boot_id, hardware_id, first_seen_at, last_seen_at, ip)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, boot_id) DO UPDATE SET"
            " first_seen_at = excluded.first_seen_at, last_seen_at = excluded.last_seen_at, ip = excluded.ip",
            (device.id, boot_id, hardware_id, now, now, ip))
        if device.boot_id is None:
            won = await tx.execute("UPDATE devices SET boot_id = ?, boot_seen_at = ?, last_ip = ?,"
                                   " hardware_id = COALESCE(hardware_id, ?) WHERE id = ? AND boot_id IS NULL",
                                   (boot_id, now, ip, hardware_id, device.id))
        else:
            won = await tx.execute("UPDATE devices SET boot_id = ?, boot_seen_at = ?, last_ip = ? WHERE id = ?"
                                   " AND boot_id = ?", (boot_id, now, ip, device.id, device.boot_id))
        if won:
            await _insert_event(tx, device.id, now, "device", "booted",
                                detail=f"boot {boot_id} from {ip or 'unknown address'}")
            return
    # Another request changed the current boot between our read and our write: two boots at once.
    racing = await storage.get_device(device.id)
    await _flag(storage, device, FLAG_CLONED, {**base, "reason": "two boot ids at the same time",
                                               "boot_ids": [boot_id, racing.boot_id if racing else None],
                                               "seen_hardware_id": hardware_id})


async def _check_place(storage: Storage, device: Device, tokens: list[str], now: int, base: dict[str, Any]) -> None:
    # The place is the store's: what any device installed there reported (a second box at the same till
    # is held to the first one's place from its first report).
    rows = await storage.sql.fetchall(
        "SELECT p.token AS token FROM device_places p JOIN devices d ON d.id = p.device_id"
        " WHERE p.device_id = ? OR (d.store_id = ? AND d.lifecycle = ?)",
        (device.id, device.store_id, LIFECYCLE_INSTALLED))
    bound = {row["token"] for row in rows}
    if bound and bound.isdisjoint(tokens):
        await _flag(storage, device, FLAG_MOVED, {**base, "reason": "reported a place away from its store",
                                                  "reported": tokens, "bound": sorted(bound)})
    async with storage.transaction() as tx:
        await _learn_places(tx, device.id, tokens, now)


# ---------------------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class DeviceView:
    """A device as the console shows it."""
    device: Device
    merchant_name: str | None
    online: bool
    profile: str | None = None           # ops API: the firmware profile and rollout group
    device_group: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.device, name)


async def list_devices(storage: Storage, *, merchant_id: str | None = None, visible_to: str | None = None,
                       lifecycle: str | None = None, store: str | None = None, online: bool | None = None,
                       flagged: bool | None = None, device_id: str | None = None, online_window_s: int,
                       now: int | None = None) -> list[DeviceView]:
    """The inventory, filtered. `visible_to`: a merchant's own view (only devices assigned to or installed
    at its stores); None for operators."""
    now = now_ms() if now is None else now
    where, args = [], []
    if device_id is not None:
        where.append("d.id = ?")
        args.append(device_id)
    if visible_to is not None:
        where.append("d.merchant_id = ? AND d.lifecycle IN (?, ?)")
        args += [visible_to, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED]
    if merchant_id:
        where.append("d.merchant_id = ? AND d.lifecycle <> ?")
        args += [merchant_id, LIFECYCLE_IN_STOCK]
    if lifecycle:
        where.append("d.lifecycle = ?")
        args.append(lifecycle)
    if store:
        where.append("d.store_name = ?")
        args.append(store)
    if flagged is not None:
        where.append("d.flag IS NOT NULL" if flagged else "d.flag IS NULL")
    if online is not None:
        where.append("d.last_seen_at >= ?" if online else "(d.last_seen_at IS NULL OR d.last_seen_at < ?)")
        args.append(now - online_window_s * 1000)
    columns = ", ".join(f"d.{c.strip()}" for c in DEVICE_COLUMNS.split(","))
    rows = await storage.sql.fetchall(
        f"SELECT {columns}, d.profile AS profile_, d.device_group AS group_, m.name AS merchant_name"
        " FROM devices d LEFT JOIN merchants m ON m.id = d.merchant_id"
        + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY d.id", tuple(args))
    views = []
    for row in rows:
        merchant_name, profile, group = row.pop("merchant_name"), row.pop("profile_"), row.pop("group_")
        device = device_from_row(row)
        views.append(DeviceView(device, merchant_name, is_online(device, now, online_window_s), profile, group))
    return views


def is_online(device: Device, now: int, online_window_s: int) -> bool:
    return device.last_seen_at is not None and now - device.last_seen_at <= online_window_s * 1000


async def visible_device(storage: Storage, device_id: str, merchant_id: str | None) -> Device | None:
    """The device if the viewer may see it: operators (None) see every device, a merchant only its own."""
    device = await storage.get_device(device_id)
    if device is None or merchant_id is None:
        return device
    if device.merchant_id != merchant_id or device.lifecycle not in (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED):
        return None
    return device


async def history(storage: Storage, device_id: str) -> list[DeviceEvent]:
    rows = await storage.sql.fetchall(
        f"SELECT {', '.join(_EVENT_COLUMNS)} FROM device_events WHERE device_id = ? ORDER BY at DESC, id DESC",
        (device_id,))
    return [DeviceEvent(**row) for row in rows]


async def inspections(storage: Storage, device_id: str) -> list[Inspection]:
    rows = await storage.sql.fetchall(
        "SELECT id, device_id, inspected_on, inspector, result, notes, created_at, created_by FROM device_inspections"
        " WHERE device_id = ? ORDER BY inspected_on DESC, created_at DESC", (device_id,))
    return [Inspection(**row) for row in rows]


async def flags(storage: Storage, device_id: str) -> list[Flag]:
    rows = await storage.sql.fetchall(
        "SELECT id, device_id, kind, raised_at, evidence, cleared_at, cleared_by, resolution FROM device_flags"
        " WHERE device_id = ? ORDER BY raised_at DESC, id DESC", (device_id,))
    return [Flag(**{**row, "evidence": json.loads(row["evidence"])}) for row in rows]


async def places(storage: Storage, device_id: str) -> list[dict[str, Any]]:
    return await storage.sql.fetchall("SELECT token, first_seen_at, last_seen_at FROM device_places"
                                      " WHERE device_id = ? ORDER BY first_seen_at, token", (device_id,))


async def stores(storage: Storage, merchant_id: str | None = None) -> list[tuple[str, str]]:
    """(merchant id, store name) of every store some device is or was at."""
    if merchant_id is None:
        rows = await storage.sql.fetchall("SELECT DISTINCT merchant_id, store_name FROM devices WHERE store_name <> ''"
                                          " ORDER BY merchant_id, store_name")
    else:
        rows = await storage.sql.fetchall(
            "SELECT DISTINCT merchant_id, store_name FROM devices WHERE store_name <> '' AND merchant_id = ?"
            " ORDER BY store_name", (merchant_id,))
    return [(row["merchant_id"], row["store_name"]) for row in rows]


async def merchants(storage: Storage) -> list[dict[str, Any]]:
    return await storage.sql.fetchall("SELECT id, name FROM merchants ORDER BY id")
