"""The production wheel: what `pip install scanpay` puts on a server or a cashier PC.

It carries the server (with its migrations, templates and catalogs), the host agent, the tools and the
firmware's `core` that the agent and the server share; never the simulator (hw_sim: sandboxes with public test
credentials, virtual boards, the demo) nor the tests.
"""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "server", "host_agent", "tools", "hw_sim", "firmware", "tests"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built from a copy of the working tree's files (the build writes beside its sources), offline:
    the venv's own setuptools, no build isolation, no package index."""
    tmp = tmp_path_factory.mktemp("wheel")
    source, out = tmp / "source", tmp / "out"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *SOURCES],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():           # a file deleted but not yet committed is listed too
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "--wheel-dir", str(out), str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("scanpay-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def top_level(archive: zipfile.ZipFile) -> set[str]:
    """The wheel's top-level folders and files (what lands in site-packages)."""
    return {name.split("/", 1)[0] for name in archive.namelist()}


def test_the_wheel_holds_the_production_packages(wheel):
    names = set(wheel.namelist())
    assert {"server", "host_agent", "tools", "core"} <= top_level(wheel)
    assert {"server/__main__.py", "host_agent/__main__.py", "tools/__main__.py", "core/texts.py",
            "core/line_protocol.py"} <= names
    # what the server reads at start-up, beside its code
    assert any(n.startswith("server/storage/migrations/") and n.endswith(".sql") for n in names)
    assert any(n.startswith("server/console/templates/") and n.endswith(".html") for n in names)
    assert any(n.startswith("server/console/locale/") and n.endswith(".po") for n in names)


def test_the_wheel_holds_neither_the_simulator_nor_the_tests(wheel):
    top = top_level(wheel)
    assert "hw_sim" not in top and "tests" not in top, sorted(top)
    assert not [n for n in wheel.namelist() if "hw_sim" in n or n.startswith("tests/")]
    # nothing of the firmware but its core: boards, drivers and main.py are for the device's image (tools build)
    assert not {"boards", "drivers", "firmware", "main.py"} & top
