"""Running pyright and reading its JSON report: what the server's and the firmware's type checks share
(tests/server/test_typecheck.py, tests/firmware/test_fw_typecheck.py). Each gives its own settings (where the
libraries' types come from, where imports are found); both check in basic mode for Python 3.11."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYRIGHT = ROOT / "node_modules" / ".bin" / "pyright"
_TIMEOUT_S = 900      # the whole server on a loaded two-core machine

needs_pyright = pytest.mark.skipif(shutil.which("node") is None or not PYRIGHT.exists(),
                                   reason="needs node and npm install (pyright): make setup")


def pyright(tmp_path: pathlib.Path, settings: dict[str, Any], *paths: pathlib.Path) -> tuple[list[dict], dict]:
    """pyright over `paths` with `settings` (pyrightconfig.json's keys, written in `tmp_path`): its errors (not
    warnings) and its summary (filesAnalyzed, ...)."""
    config = {"pythonVersion": "3.11", "typeCheckingMode": "basic", "reportMissingModuleSource": "none", **settings}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run([str(PYRIGHT), "-p", str(tmp_path / "pyrightconfig.json"), "--outputjson",
                             *map(str, paths)], capture_output=True, text=True, timeout=_TIMEOUT_S, cwd=ROOT)
    report = json.loads(result.stdout)
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"], report["summary"]


def where(error: dict) -> str:
    """`file:line message`, the file relative to the repository's root."""
    file = pathlib.Path(error["file"])
    return "%s:%d %s" % (file.relative_to(ROOT) if file.is_relative_to(ROOT) else file,
                         error["range"]["start"]["line"] + 1, error["message"])
