"""What the console shows of devices: the inventory, filtered, and each device's history, inspections, flags
and places (storage reads), and which devices a merchant may see."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..clock import now_ms
from ..storage import Device, Storage
from ..storage.devices import DeviceEvent, Flag, Inspection
from ..storage.records import LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED


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
    listings = await storage.device_inventory(
        device_id=device_id, visible_to=visible_to, merchant_id=merchant_id, lifecycle=lifecycle, store=store,
        flagged=flagged, online=online, seen_since=now - online_window_s * 1000)
    return [DeviceView(row.device, row.merchant_name, is_online(row.device, now, online_window_s), row.profile,
                       row.device_group) for row in listings]


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
    return await storage.device_history(device_id)


async def inspections(storage: Storage, device_id: str) -> list[Inspection]:
    return await storage.device_inspections(device_id)


async def flags(storage: Storage, device_id: str) -> list[Flag]:
    return await storage.device_flags(device_id)


async def places(storage: Storage, device_id: str) -> list[dict[str, Any]]:
    return await storage.device_places(device_id)


async def stores(storage: Storage, merchant_id: str | None = None) -> list[tuple[str, str]]:
    """(merchant id, store name) of every store some device is or was at."""
    return await storage.device_stores(merchant_id)


async def merchants(storage: Storage) -> list[dict[str, Any]]:
    return await storage.merchant_list()
