"""The SQL of devices (registering, activation, heartbeats and commands, replay protection, the lifecycle,
anti-switching) and their console read models: a part of SqlStorage (sql.py), written once for SQLite and
PostgreSQL.

The rules are server/devices/'s. A lifecycle step here is a conditional update on the state it leaves, recorded in
`device_events` with who did it in the same transaction; it answers the device as it found it and whether the
step happened, and the rules say why not.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import new_id, now_ms
from . import sql as core   # it imports this module: its names are looked up when a method runs
from .errors import AlreadyExists, NotFound
from .places import PLACED, open_store, store_for
from .records import (
    CODE_BOUND, DEVICE_ACTIVE, DEVICE_DISABLED, DEVICE_PENDING, FLAG_MOVED, LIFECYCLE_ASSIGNED,
    LIFECYCLE_DECOMMISSIONED, LIFECYCLE_IN_STOCK, LIFECYCLE_INSTALLED, Device, DeviceCommand, Merchant, field_names,
    from_row, values_of,
)

if TYPE_CHECKING:
    from .sql import Sql

DEVICE_COLUMNS = ", ".join("device_key" if name == "key_hex" else name for name in field_names(Device))
_DEVICE_BY_ID = f"SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?"
HEARTBEAT_FIELDS = ("battery_pct", "charging", "signal_dbm", "network", "firmware", "uptime_s")
MAX_PLACES = 64                 # tokens learned per device; beyond it nothing new is learned
_BOOT_COLUMNS = "boot_id, hardware_id, first_seen_at, last_seen_at, ip"
# Revoking the key and forgetting what the key was seen with: a device leaving its store.
_REVOKE = "device_key = '', flag = NULL, boot_id = NULL, activated_at = NULL, installed_at = NULL"


def device_from_row(row: dict[str, Any]) -> Device:
    """The device a row of DEVICE_COLUMNS holds (its key's column is device_key)."""
    return from_row(Device, row, key_hex=row["device_key"])


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


_EVENT_COLUMNS = field_names(DeviceEvent)
_INSPECTION_COLUMNS = ", ".join(field_names(Inspection))
_FLAG_COLUMNS = ", ".join(field_names(Flag))
_COMMAND_COLUMNS = ", ".join(field_names(DeviceCommand))


@dataclass(frozen=True)
class DeviceListing:
    """A row of the device inventory: the device, its merchant's name and its rollout profile and group."""
    device: Device
    merchant_name: str | None
    profile: str | None
    device_group: str | None


class DeviceStore:
    """Methods SqlStorage gets; they use `self.sql`, `self.point` and `self.transaction()`."""

    sql: Sql
    point: Sql
    transaction: Callable[[], contextlib.AbstractAsyncContextManager[Sql]]
    get_merchant: Callable[[str], Awaitable[Merchant | None]]

    # registering

    async def add_device(self, device_id: str, merchant_id: str, store_name: str, key_hex: str, *,
                         status: str = DEVICE_ACTIVE, actor: str = "cli") -> Device:
        """A device live at the merchant's store `store_name` (the store record is made if it has none)."""
        if key_hex or status == DEVICE_ACTIVE:
            if len(key_hex) != 64:
                raise ValueError("a device key is 64 hex characters")
            bytes.fromhex(key_hex)  # ValueError when not hex
        if await self.get_merchant(merchant_id) is None:
            raise NotFound(f"no merchant {merchant_id}")
        now = now_ms()
        async with self.transaction() as tx:
            store_id = await store_for(tx, merchant_id, store_name, actor=actor, now=now) if store_name else None
            device = Device(id=device_id, merchant_id=merchant_id, store_name=store_name, key_hex=key_hex.lower(),
                            status=status, created_at=now, activated_at=now if status == DEVICE_ACTIVE else None,
                            store_id=store_id)
            changed = await tx.execute(
                "INSERT INTO devices (id, merchant_id, store_name, device_key, status, created_at, activated_at,"
                " store_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (device.id, device.merchant_id, device.store_name, device.key_hex, device.status, device.created_at,
                 device.activated_at, store_id))
            if not changed:
                raise AlreadyExists(f"device {device_id} exists already")
        return device

    async def get_device(self, device_id: str) -> Device | None:
        row = await self.point.fetchone(_DEVICE_BY_ID, (device_id,))
        return device_from_row(row) if row else None

    async def list_devices(self) -> list[Device]:
        return [device_from_row(row) for row in
                await self.sql.fetchall(f"SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id")]

    async def set_device_status(self, device_id: str, status: str) -> bool:
        return await self.sql.execute("UPDATE devices SET status = ? WHERE id = ?", (status, device_id)) == 1

    @staticmethod
    async def _device_in(tx: Sql, device_id: str) -> Device:
        row = await tx.fetchone(_DEVICE_BY_ID, (device_id,))
        if row is None:
            raise NotFound(f"no device {device_id}")
        return device_from_row(row)

    # activation

    async def add_activation_code(self, device_id: str, code_hash: str, now: int, expires_at: int) -> None:
        await self.sql.execute(
            "INSERT INTO activation_codes (code_hash, device_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (code_hash, device_id, now, expires_at))

    async def get_activation_code(self, code_hash: str) -> dict[str, Any] | None:
        return await self.sql.fetchone(
            "SELECT code_hash, device_id, created_at, expires_at, used_at FROM activation_codes WHERE code_hash = ?",
            (code_hash,))

    async def activate_device(self, code_hash: str, key_hex: str, now: int, *, hardware_id: str | None,
                              firmware: str | None) -> Device | None:
        """Use the code up and give its device the new key; None when the code was not usable any more."""
        device = None
        async with self.transaction() as tx:
            used = await tx.execute(
                "UPDATE activation_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
                (now, code_hash, now))
            if not used:
                return None
            # the code this transaction has just used
            row = await core.fetch_row(tx, "SELECT device_id FROM activation_codes WHERE code_hash = ?", (code_hash,))
            changed = await tx.execute(
                "UPDATE devices SET device_key = ?, status = ?, activated_at = ?, hardware_id = ?,"
                " firmware = COALESCE(?, firmware) WHERE id = ? AND status <> ?",
                (key_hex, DEVICE_ACTIVE, now, hardware_id, firmware, row["device_id"], DEVICE_DISABLED))
            if not changed:
                raise core.Rollback()
            device = await tx.fetchone(_DEVICE_BY_ID, (row["device_id"],))
        return device_from_row(device) if device else None

    async def record_activation(self, device_id: str, now: int, *, hardware_id: str | None,
                                place: list[str] | None) -> None:
        """After activate_device: the boot ids seen with the old key forgotten, the activation in the history, and
        `place` bound as the store's when the device has none bound yet."""
        async with self.transaction() as tx:
            await tx.execute("DELETE FROM device_boots WHERE device_id = ?", (device_id,))
            await tx.execute("UPDATE devices SET boot_id = NULL WHERE id = ?", (device_id,))
            await self._device_event(tx, device_id, now, "device", "activated",
                                     detail=f"hardware id {hardware_id}" if hardware_id else None)
            if place:
                bound = await core.fetch_row(tx, "SELECT COUNT(*) AS n FROM device_places WHERE device_id = ?",
                                             (device_id,))
                if not bound["n"]:
                    await self._learn_places(tx, device_id, place, now)

    # heartbeats and commands

    async def record_heartbeat(self, device_id: str, now: int, values: dict[str, Any]) -> None:
        names = [name for name in HEARTBEAT_FIELDS if name in values]
        assignments = "".join(f", {name} = ?" for name in names)
        await self.sql.execute(f"UPDATE devices SET last_seen_at = ?{assignments} WHERE id = ?",
                               (now, *(values[name] for name in names), device_id))

    async def touch_device(self, device_id: str, now: int, older_than: int) -> None:
        """The device was seen (a signed request) at `now`: recorded unless it was seen since `older_than`."""
        await self.sql.execute("UPDATE devices SET last_seen_at = ? WHERE id = ? AND"
                               " (last_seen_at IS NULL OR last_seen_at < ?)", (now, device_id, older_than))

    async def add_command(self, device_id: str, kind: str, args: dict[str, Any]) -> DeviceCommand:
        command = DeviceCommand(id=new_id(), device_id=device_id, kind=kind, args=args, created_at=now_ms())
        await self.sql.execute(
            "INSERT INTO device_commands (id, device_id, kind, args, created_at) VALUES (?, ?, ?, ?, ?)",
            (command.id, device_id, kind, json.dumps(args, ensure_ascii=False, sort_keys=True), command.created_at))
        return command

    async def ack_commands(self, device_id: str, command_ids: Iterable[str], now: int) -> None:
        for command_id in command_ids:
            await self.sql.execute(
                "UPDATE device_commands SET acked_at = ? WHERE id = ? AND device_id = ? AND acked_at IS NULL",
                (now, command_id, device_id))

    async def pending_commands(self, device_id: str) -> list[DeviceCommand]:
        rows = await self.sql.fetchall(
            f"SELECT {_COMMAND_COLUMNS} FROM device_commands"
            " WHERE device_id = ? AND acked_at IS NULL ORDER BY created_at, id", (device_id,))
        return [from_row(DeviceCommand, row, args=json.loads(row["args"])) for row in rows]

    # replay protection

    _nonces_swept_at = 0

    async def remember_nonce(self, device_id: str, nonce: str, now: int, ttl_ms: int, *, signed_at: int = 0) -> bool:
        """Record a nonce; False when it is still remembered (a replay). It is kept `ttl_ms` from the later
        of now and `signed_at` (the request's own timestamp, ms): a request stamped ahead of server time
        stays acceptable that much longer, and so must its nonce. An expired one is as good as new."""
        fresh = await self.sql.execute(
            "INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT (device_id, nonce)"
            " DO UPDATE SET seen_at = excluded.seen_at WHERE nonces.seen_at < ?",
            (device_id, nonce, max(now, signed_at), now - ttl_ms)) == 1
        if now - self._nonces_swept_at > ttl_ms // 10:
            # Forget expired nonces now and then (not on every request), so the table stays small.
            self._nonces_swept_at = now
            await self.sql.execute("DELETE FROM nonces WHERE seen_at < ?", (now - ttl_ms,))
        return fresh

    # history

    async def add_device_event(self, device_id: str, at: int, actor: str, kind: str, **columns: Any) -> None:
        """A line of the device's history; `columns`: the others of device_events."""
        await self._device_event(self.sql, device_id, at, actor, kind, **columns)

    @staticmethod
    async def _device_event(sql: Sql, device_id: str, at: int, actor: str, kind: str, **columns: Any) -> None:
        row = {"id": new_id(), "device_id": device_id, "at": at, "actor": actor, "kind": kind, **columns}
        names = [name for name in _EVENT_COLUMNS if name in row]
        await sql.execute(f"INSERT INTO device_events ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                          tuple(row[name] for name in names))

    # lifecycle: each answers (the device as it was, whether the step happened); NotFound without the device

    async def assign_device(self, device_id: str, merchant_id: str, *, store_id: str | None = None,
                            store_name: str = "", actor: str, now: int) -> tuple[Device, bool]:
        """in_stock -> assigned to the merchant's open store `store_id` (PlaceRefused, see open_store), or to
        the one called `store_name` (made when the merchant has none of that name)."""
        async with self.transaction() as tx:
            device = await self._device_in(tx, device_id)
            if store_id is not None:
                store_name = (await open_store(tx, store_id, merchant_id)).name
            else:
                store_id = await store_for(tx, merchant_id, store_name, actor=actor, now=now)
            won = await tx.execute(
                "UPDATE devices SET lifecycle = ?, merchant_id = ?, store_name = ?, store_id = ?, assigned_at = ?"
                " WHERE id = ? AND lifecycle = ?",
                (LIFECYCLE_ASSIGNED, merchant_id, store_name, store_id, now, device_id, LIFECYCLE_IN_STOCK))
            if not won:
                raise core.Rollback()   # a store made for it goes too
            await self._device_event(tx, device_id, now, actor, "assigned", from_lifecycle=LIFECYCLE_IN_STOCK,
                                     to_lifecycle=LIFECYCLE_ASSIGNED, to_merchant_id=merchant_id, to_store=store_name)
            return device, True
        return device, False

    async def install_device(self, device_id: str, *, actor: str, now: int) -> tuple[Device, bool]:
        """assigned -> installed."""
        async with self.transaction() as tx:
            device = await self._device_in(tx, device_id)
            won = await tx.execute("UPDATE devices SET lifecycle = ?, installed_at = ? WHERE id = ? AND lifecycle = ?",
                                   (LIFECYCLE_INSTALLED, now, device_id, LIFECYCLE_ASSIGNED))
            if not won:
                return device, False
            # Whatever it reported before (a warehouse, a technician's hotspot) is not the store.
            await tx.execute("DELETE FROM device_places WHERE device_id = ?", (device_id,))
            await self._device_event(tx, device_id, now, actor, "installed", from_lifecycle=LIFECYCLE_ASSIGNED,
                                     to_lifecycle=LIFECYCLE_INSTALLED, to_merchant_id=device.merchant_id,
                                     to_store=device.store_name)
        return device, True

    async def return_device_to_stock(self, device_id: str, *, actor: str, now: int,
                                     detail: str | None) -> tuple[Device, bool]:
        """assigned or installed -> in_stock, the key revoked and the store binding forgotten."""
        return await self._take_out(device_id, (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED), LIFECYCLE_IN_STOCK,
                                    DEVICE_PENDING, "returned_to_stock", "returned to stock", actor=actor, now=now,
                                    detail=detail)

    async def swap_devices(self, old_id: str, new_id_: str, *, old_to: str, actor: str, now: int,
                           detail: str | None) -> tuple[Device, Device, bool]:
        """The in-stock device `new_id_` takes the assigned or installed device `old_id`'s place (merchant, store,
        location binding, the static codes it says); `old_id` goes to `old_to` with its key revoked. Both or
        neither; (old, new as they were, whether they swapped)."""
        async with self.transaction() as tx:
            old = await self._device_in(tx, old_id)
            new = await self._device_in(tx, new_id_)
            if old.lifecycle not in (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED) or new.lifecycle != LIFECYCLE_IN_STOCK:
                return old, new, False
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
                raise core.Rollback()   # another step changed one of them meanwhile: nothing happened
            # The store's place goes with the store: the replacement is bound there from its first request.
            await tx.execute("DELETE FROM device_places WHERE device_id = ?", (new_id_,))
            await tx.execute("INSERT INTO device_places (device_id, token, first_seen_at, last_seen_at)"
                             " SELECT ?, token, first_seen_at, last_seen_at FROM device_places WHERE device_id = ?",
                             (new_id_, old_id))
            await self._forget(tx, old_id, now, actor, f"swapped out for {new_id_}")
            # The shop's static codes now say their payments on the replacement.
            await tx.execute("UPDATE static_codes SET device_id = ? WHERE device_id = ? AND status = ?",
                             (new_id_, old_id, CODE_BOUND))
            await self._device_event(tx, new_id_, now, actor, "swapped_in", from_lifecycle=LIFECYCLE_IN_STOCK,
                                     to_lifecycle=old.lifecycle, to_merchant_id=old.merchant_id,
                                     to_store=old.store_name, other_device_id=old_id, detail=detail)
            await self._device_event(tx, old_id, now, actor, "swapped_out", from_lifecycle=old.lifecycle,
                                     to_lifecycle=old_to, from_merchant_id=old.merchant_id,
                                     from_store=old.store_name, other_device_id=new_id_, detail=detail)
            return old, new, True
        return old, new, False

    async def decommission_device(self, device_id: str, *, actor: str, now: int,
                                  detail: str | None) -> tuple[Device, bool]:
        """Any state but decommissioned -> decommissioned, the key revoked."""
        return await self._take_out(device_id, (LIFECYCLE_IN_STOCK, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED),
                                    LIFECYCLE_DECOMMISSIONED, DEVICE_DISABLED, "decommissioned", "decommissioned",
                                    actor=actor, now=now, detail=detail)

    async def _take_out(self, device_id: str, leaving: tuple[str, ...], lifecycle: str, status: str, kind: str,
                        resolution: str, *, actor: str, now: int, detail: str | None) -> tuple[Device, bool]:
        """A device in one of `leaving` -> `lifecycle` with `status`, its key revoked and what it was seen with
        forgotten, its open flags resolved with `resolution`; the event `kind`."""
        async with self.transaction() as tx:
            device = await self._device_in(tx, device_id)
            won = device.lifecycle in leaving and await tx.execute(
                f"UPDATE devices SET lifecycle = ?, {_REVOKE}, status = ? WHERE id = ? AND lifecycle = ?",
                (lifecycle, status, device_id, device.lifecycle))
            if not won:
                return device, False
            await self._forget(tx, device_id, now, actor, resolution)
            await self._device_event(tx, device_id, now, actor, kind, from_lifecycle=device.lifecycle,
                                     to_lifecycle=lifecycle, from_merchant_id=device.merchant_id,
                                     from_store=device.store_name, detail=detail)
        return device, True

    @staticmethod
    async def _forget(tx: Sql, device_id: str, now: int, actor: str, resolution: str) -> None:
        await tx.execute("DELETE FROM device_boots WHERE device_id = ?", (device_id,))
        await tx.execute("DELETE FROM device_places WHERE device_id = ?", (device_id,))
        await tx.execute("UPDATE device_flags SET cleared_at = ?, cleared_by = ?, resolution = ?"
                         " WHERE device_id = ? AND cleared_at IS NULL", (now, actor, resolution, device_id))

    async def clear_device_flag(self, device_id: str, *, actor: str, now: int, resolution: str,
                                rekey: bool) -> tuple[Device, bool]:
        """The flag the device has cleared with `resolution`: a moved device's places and every boot id
        forgotten; with `rekey`, its key revoked too. Not when it has no flag, or another one by now."""
        async with self.transaction() as tx:
            device = await self._device_in(tx, device_id)
            if device.flag is None:
                return device, False
            revoke = ", device_key = '', status = '" + DEVICE_PENDING + "', activated_at = NULL" if rekey else ""
            if not await tx.execute(f"UPDATE devices SET flag = NULL, boot_id = NULL{revoke} WHERE id = ? AND flag = ?",
                                    (device_id, device.flag)):
                return device, False
            if device.flag == FLAG_MOVED:
                await tx.execute("DELETE FROM device_places WHERE device_id = ?", (device_id,))
            await tx.execute("DELETE FROM device_boots WHERE device_id = ?", (device_id,))
            await tx.execute("UPDATE device_flags SET cleared_at = ?, cleared_by = ?, resolution = ?"
                             " WHERE device_id = ? AND cleared_at IS NULL", (now, actor, resolution, device_id))
            await self._device_event(tx, device_id, now, actor, "flag_cleared", detail=f"{device.flag}: {resolution}")
        return device, True

    async def add_device_inspection(self, inspection: Inspection) -> None:
        async with self.transaction() as tx:
            await tx.execute(f"INSERT INTO device_inspections ({_INSPECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             values_of(inspection))
            await self._device_event(tx, inspection.device_id, inspection.created_at, inspection.created_by,
                                     "inspected", detail=f"{inspection.inspected_on} {inspection.inspector}:"
                                                         f" {inspection.result}")

    # anti-switching

    async def raise_device_flag(self, device_id: str, kind: str, evidence: dict[str, Any], now: int) -> bool:
        """Flag the device with the evidence, unless it is flagged already; whether this call flagged it."""
        async with self.transaction() as tx:
            if not await tx.execute("UPDATE devices SET flag = ? WHERE id = ? AND flag IS NULL", (kind, device_id)):
                return False
            await tx.execute(
                "INSERT INTO device_flags (id, device_id, kind, raised_at, evidence) VALUES (?, ?, ?, ?, ?)",
                (new_id(), device_id, kind, now, json.dumps(evidence, sort_keys=True)))
            await self._device_event(tx, device_id, now, "device api", "flagged",
                                     detail=f"{kind}: {evidence.get('reason')}")
        return True

    async def device_boot(self, device_id: str, boot_id: str) -> dict[str, Any] | None:
        """What was seen of one boot of the device: boot_id, hardware_id, first_seen_at, last_seen_at, ip."""
        return await self.sql.fetchone(f"SELECT {_BOOT_COLUMNS} FROM device_boots WHERE device_id = ? AND boot_id = ?",
                                       (device_id, boot_id))

    async def touch_boot(self, device_id: str, boot_id: str, ip: str | None, now: int) -> None:
        """The device's current boot seen again (from `ip`), while it still is the current one."""
        async with self.transaction() as tx:
            await tx.execute("UPDATE devices SET boot_seen_at = ?, last_ip = ? WHERE id = ? AND boot_id = ?",
                             (now, ip, device_id, boot_id))
            await tx.execute("UPDATE device_boots SET last_seen_at = ?, ip = ? WHERE device_id = ? AND boot_id = ?",
                             (now, ip, device_id, boot_id))

    async def start_boot(self, device_id: str, boot_id: str, *, hardware_id: str, current: str | None,
                         ip: str | None, now: int, forget_before: int) -> bool:
        """`boot_id` the device's current boot in place of `current` (None: it had none, and binds
        `hardware_id` then), boots last seen before `forget_before` forgotten. False, and nothing changed but
        the boot recorded, when the current boot is not `current` any more."""
        async with self.transaction() as tx:
            await tx.execute("DELETE FROM device_boots WHERE device_id = ? AND last_seen_at < ?",
                             (device_id, forget_before))
            await tx.execute(
                f"INSERT INTO device_boots (device_id, {_BOOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (device_id, boot_id) DO UPDATE SET"
                " first_seen_at = excluded.first_seen_at, last_seen_at = excluded.last_seen_at, ip = excluded.ip",
                (device_id, boot_id, hardware_id, now, now, ip))
            if current is None:
                won = await tx.execute("UPDATE devices SET boot_id = ?, boot_seen_at = ?, last_ip = ?,"
                                       " hardware_id = COALESCE(hardware_id, ?) WHERE id = ? AND boot_id IS NULL",
                                       (boot_id, now, ip, hardware_id, device_id))
            else:
                won = await tx.execute("UPDATE devices SET boot_id = ?, boot_seen_at = ?, last_ip = ? WHERE id = ?"
                                       " AND boot_id = ?", (boot_id, now, ip, device_id, current))
            if won:
                await self._device_event(tx, device_id, now, "device", "booted",
                                         detail=f"boot {boot_id} from {ip or 'unknown address'}")
        return bool(won)

    async def store_place_of(self, device: Device) -> set[str]:
        """The place `device` is held to: what it, and any device installed at its store, reported (a second
        box at the same till is held to the first one's place from its first report)."""
        rows = await self.sql.fetchall(
            "SELECT p.token AS token FROM device_places p JOIN devices d ON d.id = p.device_id"
            " WHERE p.device_id = ? OR (d.store_id = ? AND d.lifecycle = ?)",
            (device.id, device.store_id, LIFECYCLE_INSTALLED))
        return {row["token"] for row in rows}

    async def learn_places(self, device_id: str, tokens: list[str], now: int) -> None:
        """The device reported `tokens`: the new ones learned (up to MAX_PLACES), all of them seen now."""
        async with self.transaction() as tx:
            await self._learn_places(tx, device_id, tokens, now)

    @staticmethod
    async def _learn_places(tx: Sql, device_id: str, tokens: list[str], now: int) -> None:
        count = (await core.fetch_row(tx, "SELECT COUNT(*) AS n FROM device_places WHERE device_id = ?",
                                      (device_id,)))["n"]
        for token in tokens:
            if count >= MAX_PLACES:
                break
            count += await tx.execute(
                "INSERT INTO device_places (device_id, token, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING", (device_id, token, now, now))
        await tx.execute(f"UPDATE device_places SET last_seen_at = ? WHERE device_id = ?"
                         f" AND token IN ({', '.join('?' for _ in tokens)})", (now, device_id, *tokens))

    # the device that says a static code's payments

    async def announcing_device(self, store_id: str | None, device_id: str | None) -> Device | None:
        """The active, unflagged device placed at the store that says a code's payments: `device_id` when it is
        one, else the first."""
        rows = await self.sql.fetchall(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE store_id = ? AND lifecycle IN (?, ?) AND status = ?"
            " AND flag IS NULL ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END, id LIMIT 1",
            (store_id, *PLACED, DEVICE_ACTIVE, device_id))
        return device_from_row(rows[0]) if rows else None

    # what the console reads

    async def device_inventory(self, *, device_id: str | None = None, visible_to: str | None = None,
                               merchant_id: str | None = None, lifecycle: str | None = None,
                               store: str | None = None, flagged: bool | None = None, online: bool | None = None,
                               seen_since: int = 0) -> list[DeviceListing]:
        """The devices, by id, filtered: `visible_to` a merchant's own (assigned to or installed at its
        stores); `merchant_id` the merchant's but those back in stock; `online` those seen since `seen_since`
        (False: the others)."""
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
            args.append(seen_since)
        columns = ", ".join(f"d.{c.strip()}" for c in DEVICE_COLUMNS.split(","))
        rows = await self.sql.fetchall(
            f"SELECT {columns}, d.profile AS profile_, d.device_group AS group_, m.name AS merchant_name"
            " FROM devices d LEFT JOIN merchants m ON m.id = d.merchant_id"
            + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY d.id", tuple(args))
        return [DeviceListing(device_from_row(row), row["merchant_name"], row["profile_"], row["group_"])
                for row in rows]

    async def device_history(self, device_id: str) -> list[DeviceEvent]:
        """Newest first."""
        rows = await self.sql.fetchall(
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM device_events WHERE device_id = ? ORDER BY at DESC, id DESC",
            (device_id,))
        return [from_row(DeviceEvent, row) for row in rows]

    async def device_inspections(self, device_id: str) -> list[Inspection]:
        rows = await self.sql.fetchall(
            f"SELECT {_INSPECTION_COLUMNS} FROM device_inspections WHERE device_id = ?"
            " ORDER BY inspected_on DESC, created_at DESC", (device_id,))
        return [from_row(Inspection, row) for row in rows]

    async def device_flags(self, device_id: str) -> list[Flag]:
        rows = await self.sql.fetchall(
            f"SELECT {_FLAG_COLUMNS} FROM device_flags WHERE device_id = ? ORDER BY raised_at DESC, id DESC",
            (device_id,))
        return [from_row(Flag, row, evidence=json.loads(row["evidence"])) for row in rows]

    async def device_places(self, device_id: str) -> list[dict[str, Any]]:
        return await self.sql.fetchall("SELECT token, first_seen_at, last_seen_at FROM device_places"
                                       " WHERE device_id = ? ORDER BY first_seen_at, token", (device_id,))

    async def device_stores(self, merchant_id: str | None = None) -> list[tuple[str, str]]:
        """(merchant id, store name) of every store some device is or was at."""
        if merchant_id is None:
            rows = await self.sql.fetchall("SELECT DISTINCT merchant_id, store_name FROM devices"
                                           " WHERE store_name <> '' ORDER BY merchant_id, store_name")
        else:
            rows = await self.sql.fetchall(
                "SELECT DISTINCT merchant_id, store_name FROM devices WHERE store_name <> '' AND merchant_id = ?"
                " ORDER BY store_name", (merchant_id,))
        return [(row["merchant_id"], row["store_name"]) for row in rows]
