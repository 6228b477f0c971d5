"""Device keys. `register_device` makes the key at once (printed for a provisioning script), or
`register_device(..., activation=True)` leaves the device `pending` and `issue_activation_code` prints a
12-digit one-time code that the device trades for its key (`activate`). A code is single-use, expires, and
is stored only as its SHA-256.
"""
from __future__ import annotations

import hashlib
import secrets

from ..clock import now_ms
from ..device_auth import DEVICE_ID, new_device_key
from ..storage import DEVICE_ACTIVE, DEVICE_DISABLED, DEVICE_PENDING, Device, Storage
from ..storage.records import LIFECYCLE_DECOMMISSIONED, LIFECYCLE_IN_STOCK, LIFECYCLE_INSTALLED


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
        await storage.add_device_event(device_id, now, actor, "activation_code", detail=f"valid {ttl_s // 3600} h")
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
    # An assigned device's store is bound at install.
    installed = device.lifecycle == LIFECYCLE_INSTALLED
    await storage.record_activation(device.id, now, hardware_id=hardware_id, place=place if installed else None)
    return await storage.get_device(device.id) or device
