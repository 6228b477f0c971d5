"""Storage owns SQL (docs STYLE, "Between files"): outside server/storage no module runs a statement, so the
promise of conditional updates written once for SQLite and PostgreSQL is reviewed in one folder."""
from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
_EXECUTORS = {"sql", "point"}                 # SqlStorage's statement executors (server/storage/sql.py)
_STATEMENTS = {"execute", "fetchone", "fetchall"}


def statements_outside_storage() -> list[str]:
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        if SERVER / "storage" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if not isinstance(node, ast.Attribute):
                continue
            runs = node.attr in _STATEMENTS and isinstance(node.value, ast.Attribute) and node.value.attr in _EXECUTORS
            if runs or node.attr == "transaction":
                found.append(f"{path.relative_to(SERVER.parent)}:{node.lineno} .{node.attr}")
    return found


def test_no_module_outside_storage_runs_a_statement():
    assert statements_outside_storage() == []


def test_the_check_sees_a_statement(tmp_path, monkeypatch):
    (tmp_path / "server" / "storage").mkdir(parents=True)
    (tmp_path / "server" / "storage" / "sql.py").write_text("await self.sql.execute('SELECT 1')\n")
    (tmp_path / "server" / "rollouts.py").write_text(
        "async def f(storage):\n    await storage.sql.fetchall('SELECT 1')\n    async with storage.transaction():\n"
        "        pass\n")
    monkeypatch.setitem(globals(), "SERVER", tmp_path / "server")
    assert statements_outside_storage() == ["server/rollouts.py:2 .fetchall", "server/rollouts.py:3 .transaction"]
