"""Numbered SQL migrations (migrations/NNNN_name.sql), applied in order at start-up.

A file is portable SQL, except between a line `-- [sqlite]` or `-- [postgresql]` and the next such line
(or `-- [both]`): those statements run on that database only. SQLite changes a column's constraints only
by rebuilding its table (https://www.sqlite.org/lang_altertable.html#otheralter), PostgreSQL by ALTER.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    folder = resources.files(__name__.rpartition(".")[0]) / "migrations"     # this module's package's folder
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


DIALECTS = ("sqlite", "postgresql")
_SECTION = re.compile(r"^--\s*\[(sqlite|postgresql|both)\]\s*$")


def split_statements(sql: str, dialect: str) -> list[str]:
    """The statements of a migration file for `dialect` (no semicolons inside statements, by convention)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    lines, section = [], "both"
    for line in sql.splitlines():
        marker = _SECTION.match(line.strip())
        if marker:
            section = marker.group(1)
        elif section in ("both", dialect):
            lines.append(line.split("--", 1)[0])
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
