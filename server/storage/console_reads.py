"""The SQL of the console's read models (lists, reports, users, audit), monitoring and alerts: a part of SqlStorage (sql.py), written once for SQLite and PostgreSQL."""
from __future__ import annotations


class ConsoleReads:
    """Methods SqlStorage gets; they use `self.sql`, `self.point` and `self.transaction()`."""
