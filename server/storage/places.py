"""The SQL of stores, static codes and stock-in: a part of SqlStorage (sql.py), written once for SQLite and PostgreSQL."""
from __future__ import annotations


class PlaceStore:
    """Methods SqlStorage gets; they use `self.sql`, `self.point` and `self.transaction()`."""
