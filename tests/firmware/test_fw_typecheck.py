"""The firmware type-checks against the MicroPython stubs (micropython-esp32-stubs and
micropython-stdlib-stubs, in place of CPython's typeshed) with pyright, so an API that only CPython has
(a missing module, function or argument) is caught before it reaches a board."""
import pathlib
import sysconfig

import pytest

from tests.pyright_run import ROOT, needs_pyright, pyright, where

FIRMWARE = ROOT / "firmware"
STUBS = pathlib.Path(sysconfig.get_paths()["purelib"])
SETTINGS = {
    "extraPaths": [str(FIRMWARE)],
    "typeshedPath": str(STUBS),          # holds stdlib/: MicroPython's standard library stubs
    "stubPath": str(STUBS),              # machine, network, framebuf, micropython ...
    # attributes set to None in __init__ and filled in later (connections, optional peripherals)
    "reportOptionalMemberAccess": "none",
}

pytestmark = [needs_pyright, pytest.mark.skipif(not (STUBS / "machine.pyi").exists(),
                                                reason="needs the micropython stubs (make setup)")]


def test_firmware_type_checks_against_the_micropython_stubs(tmp_path):
    errors, summary = pyright(tmp_path, SETTINGS, FIRMWARE)
    assert summary["filesAnalyzed"] >= 25
    assert errors == [], "\n".join(map(where, errors))


def test_a_cpython_only_api_is_caught(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import time\nfrom machine import UART\n"
                     "t = time.monotonic_ns()\n"
                     "UART(1).write('text', 5, 6)\n")
    errors, _ = pyright(tmp_path, SETTINGS, probe)
    messages = " ".join(e["message"] for e in errors)
    assert "monotonic_ns" in messages                   # CPython's time has it, MicroPython's not
    assert "positional argument" in messages            # machine.UART.write takes one buffer
