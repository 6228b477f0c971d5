"""Anti-switching: `check_identity`, on every signed request after its nonce is recorded.

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

import re
from typing import Any

from ..clock import now_ms
from ..device_auth import SignedHeaders
from ..storage import Device, Storage
from ..storage.records import FLAG_CLONED, FLAG_MOVED

_SEEN_WRITE_MS = 30_000         # a boot's last_seen_at is written at most this often
_STRAGGLER_MS = 2_000           # device clocks (synced from server_time, whole seconds) may lag this much
_BSSID = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}\Z")
_CELL = re.compile(r"^([0-9]{3})-([0-9]{2,3})-([0-9]{1,10})(-[0-9]{1,12})?\Z")


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


async def raise_flag(storage: Storage, device_id: str, kind: str, evidence: dict[str, Any]) -> bool:
    """Flag the device (when not flagged yet) with the evidence; True when this call flagged it."""
    return await storage.raise_device_flag(device_id, kind, evidence, now_ms())


async def _flag(storage: Storage, device: Device, kind: str, evidence: dict[str, Any]) -> None:
    await raise_flag(storage, device.id, kind, evidence)
    raise DeviceFlagged(kind)


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
    if boot_id == device.boot_id:
        # The usual case: nothing to read or write but every _SEEN_WRITE_MS (the device row says when).
        if device.boot_seen_at is None or now - device.boot_seen_at >= _SEEN_WRITE_MS:
            await storage.touch_boot(device.id, boot_id, ip, now)
        return
    current = None
    if device.boot_id is not None:
        current = await storage.device_boot(device.id, device.boot_id)
    seen = await storage.device_boot(device.id, boot_id)
    if seen is not None and now - seen["last_seen_at"] <= window_ms:
        if current is not None and signed_at + _STRAGGLER_MS < current["first_seen_at"]:
            return    # signed before the newer boot first appeared: an old request arriving late
        await _flag(storage, device, FLAG_CLONED, {
            **base, "reason": "boot ids interleave", "seen_hardware_id": hardware_id,
            "returning_boot": {**seen, "seen_again_at": now, "ip_now": ip}, "newer_boot": current})
    # A new boot (or one forgotten long ago): it becomes the current one, if nobody else changed it meanwhile.
    if await storage.start_boot(device.id, boot_id, hardware_id=hardware_id, current=device.boot_id, ip=ip, now=now,
                                forget_before=now - window_ms):
        return
    # Another request changed the current boot between our read and our write: two boots at once.
    racing = await storage.get_device(device.id)
    await _flag(storage, device, FLAG_CLONED, {**base, "reason": "two boot ids at the same time",
                                               "boot_ids": [boot_id, racing.boot_id if racing else None],
                                               "seen_hardware_id": hardware_id})


async def _check_place(storage: Storage, device: Device, tokens: list[str], now: int, base: dict[str, Any]) -> None:
    bound = await storage.store_place_of(device)
    if bound and bound.isdisjoint(tokens):
        await _flag(storage, device, FLAG_MOVED, {**base, "reason": "reported a place away from its store",
                                                  "reported": tokens, "bound": sorted(bound)})
    await storage.learn_places(device.id, tokens, now)
