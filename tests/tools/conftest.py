"""Tools and OTA tests: a release key and a signed enhanced_box bundle built once per session, virtual
boards (real MicroPython behind a pty) started per test and always stopped."""
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
MPREMOTE = [sys.executable, "-m", "mpremote"]

from hw_sim.boards import use_firmware  # noqa: E402
from hw_sim.virtual_board import VirtualBoard  # noqa: E402
from tools import build, signing  # noqa: E402

use_firmware()      # the firmware's own modules (the tests check what tools build from them)


def pytest_collection_modifyitems(items):
    if shutil.which("node") is None:
        skip = pytest.mark.skip(reason="node is not installed")
        for item in items:
            if "board" in item.fixturenames:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def release_key(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    signing.generate(folder / "release.pem", folder / "release.pub")
    return folder / "release.pem"


@pytest.fixture(scope="session")
def bundle(release_key, tmp_path_factory):
    """The enhanced_box bundle directory (its .tar.gz beside it)."""
    return build.build("enhanced_box", release_key, tmp_path_factory.mktemp("out"), version="0.3.0")


@pytest.fixture(scope="session")
def new_bundle(release_key, tmp_path_factory):
    """The next version of the same profile: what an update installs."""
    return build.build("enhanced_box", release_key, tmp_path_factory.mktemp("new"), version="0.4.0")


def flash_to_dir(root, bundle, config=None):
    """What `tools flash` writes, into a directory standing for the board's flash."""
    from tools import flash
    for path, data in flash.plan(*build.load_bundle(bundle)[:6], config=config):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture
def board(tmp_path):
    with VirtualBoard(tmp_path / "flash") as vb:
        yield vb


def mpremote(port, *args, timeout=30):
    result = subprocess.run(MPREMOTE + ["connect", port, *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def tools(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tools", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
