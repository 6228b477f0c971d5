"""The SQL of devices (activation keys, lifecycle, anti-switching), their console read models: a part of SqlStorage (sql.py), written once for SQLite and PostgreSQL."""
from __future__ import annotations


class DeviceStore:
    """Methods SqlStorage gets; they use `self.sql`, `self.point` and `self.transaction()`."""
