"""Registering devices: the one way the CLI, the demo and the tests do it."""
from __future__ import annotations

from .device_auth import DEVICE_ID, new_device_key
from .storage import Storage


async def register_device(storage: Storage, device_id: str, merchant_id: str, store_name: str, *,
                          merchant_name: str | None = None, key_hex: str | None = None) -> str:
    """Add a device (and its merchant when missing); returns the device key as 64 hex characters."""
    if not DEVICE_ID.match(device_id):
        raise ValueError("a device id is 1-32 of A-Z a-z 0-9 _ -")
    if await storage.get_merchant(merchant_id) is None:
        await storage.add_merchant(merchant_id, merchant_name or merchant_id)
    key_hex = key_hex or new_device_key()
    await storage.add_device(device_id, merchant_id, store_name, key_hex)
    return key_hex
