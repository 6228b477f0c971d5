"""The server type-checks, as the firmware does (tests/firmware/test_fw_typecheck.py): pyright in basic mode over
server/, against the venv's installed libraries (aiohttp, asyncpg, fpdf2, ...) and the firmware's `core`, so a
None where a value must be, a wrong argument or a misspelt attribute is caught before it runs."""
import sys
from pathlib import Path

import pytest

from tests.pyright_run import ROOT, needs_pyright, pyright, where

VENV = Path(sys.prefix)
SETTINGS = {
    "venvPath": str(VENV.parent),
    "venv": VENV.name,                                  # the venv's site-packages: the libraries' own types
    "extraPaths": [str(ROOT), str(ROOT / "firmware")],  # server, and the firmware's core as `core`
}

pytestmark = [pytest.mark.slow, needs_pyright]


def test_the_server_type_checks(tmp_path):
    errors, summary = pyright(tmp_path, SETTINGS, ROOT / "server")
    assert summary["filesAnalyzed"] >= 80
    assert errors == [], "\n".join(map(where, errors))


def test_a_none_where_a_value_must_be_is_caught(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from aiohttp import web\n"
                     "from server.keys import STORAGE\n"
                     "async def view(request: web.Request) -> web.Response:\n"
                     "    device = await request.app[STORAGE].get_device('D1')\n"
                     "    return web.json_response({'merchant': device.merchant_id})\n")
    errors, _ = pyright(tmp_path, SETTINGS, probe)
    assert ['"merchant_id" is not a known attribute of "None"'] == [e["message"] for e in errors]
