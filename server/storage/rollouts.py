"""The SQL of firmware rollouts: a part of SqlStorage (sql.py), written once for SQLite and PostgreSQL."""
from __future__ import annotations


class RolloutStore:
    """Methods SqlStorage gets; they use `self.sql`, `self.point` and `self.transaction()`."""
