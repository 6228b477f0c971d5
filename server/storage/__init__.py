"""The storage layer: one interface, two databases.

SQLite (embedded default, WAL) and PostgreSQL (several server processes on one database) share the
SQL in sql.py and the numbered migrations in migrations/; each backend adds only what differs.
`database.path` picks the backend: a `postgresql://` URL, else a SQLite file (or ":memory:").
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ..settings import DatabaseSettings
from .errors import AlreadyExists, LimitExceeded, NotFound, RefundRefused, StorageError  # noqa: F401
from .records import (  # noqa: F401  (re-exported: the storage vocabulary)
    B2C, C2B, CLOSED, DEVICE_ACTIVE, DEVICE_DISABLED, DEVICE_PENDING, FAILED, FINAL_STATUSES, PAYING,
    REFUND_FAILED, REFUND_PENDING, REFUND_SUCCESS, REFUNDED, SUCCESS,
    CodeBatch, Device, DeviceCommand, Evidence, Merchant, MerchantChannel, Order, OrderEvent, OrderScope, Refund,
    StaticCode, Store,
)
from .sql import SqlStorage

# The storage interface is SqlStorage's public methods; both backends are SqlStorage subclasses.
Storage = SqlStorage


def is_postgres(path: str) -> bool:
    return path.startswith(("postgresql://", "postgres://"))


@contextlib.asynccontextmanager
async def open_storage(settings: DatabaseSettings) -> AsyncIterator[Storage]:
    """Open the database named by the settings, apply pending migrations, close on exit."""
    if is_postgres(settings.path):
        from .postgres import PostgresStorage
        storage: Storage = await PostgresStorage.open(settings.path, schema=settings.schema,
                                                      pool_size=settings.pool_size)
    else:
        from .sqlite import SqliteStorage
        storage = await SqliteStorage.open(settings.path)
    try:
        yield storage
    finally:
        await storage.close()
