"""The server type-checks, as the firmware does (tests/firmware/test_fw_typecheck.py): pyright in basic mode over
server/, against the venv's installed libraries (aiohttp, asyncpg, fpdf2, ...) and the firmware's `core`, so a
None where a value must be, a wrong argument or a misspelt attribute is caught before it runs."""
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYRIGHT = ROOT / "node_modules" / ".bin" / "pyright"
VENV = pathlib.Path(sys.prefix)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None or not PYRIGHT.exists(),
                       reason="needs node and npm install (pyright): make setup"),
]


def pyright(tmp_path: pathlib.Path, *paths: pathlib.Path) -> tuple[list[dict], dict]:
    config = {
        "venvPath": str(VENV.parent),
        "venv": VENV.name,                              # the venv's site-packages: the libraries' own types
        "extraPaths": [str(ROOT), str(ROOT / "firmware")],    # server, and the firmware's core as `core`
        "pythonVersion": "3.11",
        "typeCheckingMode": "basic",
        "reportMissingModuleSource": "none",
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run([str(PYRIGHT), "-p", str(tmp_path / "pyrightconfig.json"), "--outputjson",
                             *map(str, paths)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    report = json.loads(result.stdout)
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"], report["summary"]


def where(error: dict) -> str:
    return "%s:%d %s" % (pathlib.Path(error["file"]).relative_to(ROOT), error["range"]["start"]["line"] + 1,
                         error["message"])


def test_the_server_type_checks(tmp_path):
    errors, summary = pyright(tmp_path, ROOT / "server")
    assert summary["filesAnalyzed"] >= 80
    assert errors == [], "\n".join(map(where, errors))


def test_a_none_where_a_value_must_be_is_caught(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from aiohttp import web\n"
                     "from server.keys import STORAGE\n"
                     "async def view(request: web.Request) -> web.Response:\n"
                     "    device = await request.app[STORAGE].get_device('D1')\n"
                     "    return web.json_response({'merchant': device.merchant_id})\n")
    errors, _ = pyright(tmp_path, probe)
    assert ['"merchant_id" is not a known attribute of "None"'] == [e["message"] for e in errors]
