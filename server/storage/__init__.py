"""The storage layer: one interface, one implementation per database.

SQLite now (embedded, WAL); PostgreSQL next, behind the same `Storage` protocol and the same
numbered migrations in migrations/.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from ..settings import DatabaseSettings
from .records import (  # noqa: F401  (re-exported: the storage vocabulary)
    CLOSED, DEVICE_ACTIVE, DEVICE_DISABLED, FAILED, FINAL_STATUSES, PAYING, SUCCESS,
    Device, Merchant, Order, OrderEvent,
)


class StorageError(Exception):
    """A storage operation was refused."""


class AlreadyExists(StorageError):
    """A merchant or device with that id exists already."""


class NotFound(StorageError):
    """A referenced row (e.g. the merchant of a new device) does not exist."""


class Storage(Protocol):
    async def add_merchant(self, merchant_id: str, name: str) -> Merchant: ...
    async def get_merchant(self, merchant_id: str) -> Merchant | None: ...
    async def add_device(self, device_id: str, merchant_id: str, store_name: str, key_hex: str) -> Device: ...
    async def get_device(self, device_id: str) -> Device | None: ...
    async def list_devices(self) -> list[Device]: ...
    async def set_device_status(self, device_id: str, status: str) -> bool: ...

    async def remember_nonce(self, device_id: str, nonce: str, now: int, ttl_ms: int) -> bool:
        """Record a nonce; False when the device used it within the last `ttl_ms`."""

    async def create_order(self, order: Order) -> tuple[Order, bool]:
        """Insert; when (device_id, order_no) exists already, return that order and False."""

    async def get_order(self, device_id: str, order_no: str) -> Order | None: ...
    async def get_order_by_id(self, order_id: str) -> Order | None: ...
    async def count_orders(self) -> int: ...

    async def finish_order(self, order_id: str, status: str, *, reason: str | None, message: str | None,
                           channel_trade_no: str | None, finished_at: int) -> bool:
        """PAYING -> a final status; False when the order was no longer PAYING (someone else won)."""

    async def reschedule_order(self, order_id: str, next_check_at: int, *, count_attempt: bool) -> bool:
        """Set when the resolver next looks at a PAYING order."""

    async def claim_due_orders(self, now: int, lease_ms: int, limit: int) -> list[Order]:
        """PAYING orders due at `now`, each pushed `lease_ms` ahead so no other loop takes it."""

    async def add_event(self, order_id: str, at: int, kind: str, detail: str | None = None,
                        raw: dict | None = None) -> None: ...
    async def list_events(self, order_id: str) -> list[OrderEvent]: ...


@contextlib.asynccontextmanager
async def open_storage(settings: DatabaseSettings) -> AsyncIterator[Storage]:
    """Open the database named by the settings, apply pending migrations, close on exit."""
    from .sqlite import SqliteStorage

    storage = await SqliteStorage.open(settings.path)
    try:
        yield storage
    finally:
        await storage.close()
