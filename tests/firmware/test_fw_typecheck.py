"""The firmware type-checks against the MicroPython stubs (micropython-esp32-stubs and
micropython-stdlib-stubs, in place of CPython's typeshed) with pyright, so an API that only CPython has
(a missing module, function or argument) is caught before it reaches a board."""
import json
import pathlib
import shutil
import subprocess
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
PYRIGHT = ROOT / "node_modules" / ".bin" / "pyright"
STUBS = pathlib.Path(sysconfig.get_paths()["purelib"])

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not PYRIGHT.exists() or not (STUBS / "machine.pyi").exists(),
    reason="needs node, npm install (pyright) and the micropython stubs (make setup)")


def pyright(tmp_path, *paths):
    config = {
        "extraPaths": [str(FIRMWARE)],
        "typeshedPath": str(STUBS),          # holds stdlib/: MicroPython's standard library stubs
        "stubPath": str(STUBS),              # machine, network, framebuf, micropython ...
        "pythonVersion": "3.11",
        "typeCheckingMode": "basic",
        "reportMissingModuleSource": "none",
        # attributes set to None in __init__ and filled in later (connections, optional peripherals)
        "reportOptionalMemberAccess": "none",
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run([str(PYRIGHT), "-p", str(tmp_path / "pyrightconfig.json"), "--outputjson",
                             *map(str, paths)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    report = json.loads(result.stdout)
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"], report["summary"]


def test_firmware_type_checks_against_the_micropython_stubs(tmp_path):
    errors, summary = pyright(tmp_path, FIRMWARE)
    assert summary["filesAnalyzed"] >= 25
    assert errors == [], "\n".join("%s:%d %s" % (e["file"], e["range"]["start"]["line"] + 1, e["message"])
                                   for e in errors)


def test_a_cpython_only_api_is_caught(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import time\nfrom machine import UART\n"
                     "t = time.monotonic_ns()\n"
                     "UART(1).write('text', 5, 6)\n")
    errors, _ = pyright(tmp_path, probe)
    messages = " ".join(e["message"] for e in errors)
    assert "monotonic_ns" in messages                   # CPython's time has it, MicroPython's not
    assert "positional argument" in messages            # machine.UART.write takes one buffer
