"""keygen -> build -> flash on a virtual board; the board holds exactly the signed files; flash
refuses a tampered bundle, a missing or busy port, and a port without MicroPython."""
import hashlib
import json
import os
import shutil
import tarfile

import serial

from tests.tools.conftest import mpremote, tools
from tools import build, signing


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path):
    result = tools("keygen", "--key", tmp_path / "k.pem")
    assert result.returncode == 0, result.stderr
    assert oct((tmp_path / "k.pem").stat().st_mode & 0o777) == "0o600"
    assert len((tmp_path / "k.pub").read_text().strip()) == 64
    again = tools("keygen", "--key", tmp_path / "k.pem")
    assert again.returncode == 1 and again.stderr.startswith("tools: ") and "refusing" in again.stderr


def test_build_compiles_hashes_and_signs(bundle):
    manifest_bytes = (bundle / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    assert manifest["profile"] == "enhanced_box" and manifest["version"] == "0.3.0"
    assert "boards/enhanced_box.mpy" in manifest["files"] and "core/ota.mpy" in manifest["files"]
    assert not any(p.startswith("boards/qr_stand") for p in manifest["files"])   # other profiles left out
    assert set(manifest["boot"]) == {"main.py", "boot_select.py"}
    for rel, entry in manifest["files"].items():
        data = (bundle / "files" / rel).read_bytes()
        assert data[:2] == b"M\x06", rel                     # .mpy for MicroPython 1.23+
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    sig = bytes.fromhex((bundle / "manifest.sig").read_text())
    assert signing.verify((bundle / "release.pub").read_text().strip(), manifest_bytes, sig)
    with tarfile.open(str(bundle) + ".tar.gz") as tar:
        assert bundle.name + "/manifest.json" in tar.getnames()


def test_flash_then_mpremote_sees_the_signed_files(board, bundle, tmp_path):
    config = tmp_path / "device.json"
    config.write_text(json.dumps({"device_id": "D0042", "device_key": "ab" * 32,
                                  "server_url": "http://127.0.0.1:8080"}))
    result = tools("flash", "--port", board.port, "--bundle", str(bundle) + ".tar.gz", "--config", config)
    assert result.returncode == 0, result.stderr
    assert "SHA-256 verified" in result.stdout

    manifest = json.loads((bundle / "manifest.json").read_text())
    root = mpremote(board.port, "fs", "ls", ":")
    for name in ("main.py", "boot_select.py", "config.json", "ota.json", "release.pub", "slots/"):
        assert name in root
    core = mpremote(board.port, "fs", "ls", ":slots/a/core")
    for rel, entry in manifest["files"].items():
        if rel.startswith("core/"):
            assert "%d %s" % (entry["size"], rel[5:]) in core
    sums = mpremote(board.port, "fs", "sha256sum", *(":slots/a/" + rel for rel in manifest["files"]))
    for entry in manifest["files"].values():
        assert entry["sha256"] in sums
    on_board = json.loads(mpremote(board.port, "fs", "cat", ":config.json"))
    assert on_board["device_id"] == "D0042" and on_board["profile"] == "enhanced_box"
    # the flashed layout boots: boot_select puts slot a first and the compiled modules import
    out = mpremote(board.port, "exec", "import boot_select\nprint(boot_select.select())\n"
                                       "from core import app, ota\nprint(app.__file__)")
    assert out.split() == ["a", "/slots/a/core/app.mpy"]


def test_flash_refuses_a_tampered_bundle_before_touching_the_board(board, bundle, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    with open(bad / "files" / "core" / "app.mpy", "ab") as f:
        f.write(b"\x00")
    result = tools("flash", "--port", board.port, "--bundle", bad)
    assert result.returncode == 1
    assert "core/app.mpy differs from the signed manifest" in result.stderr
    forged = tmp_path / "forged"
    shutil.copytree(bundle, forged)
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["version"] = "9.9.9"
    (forged / "manifest.json").write_text(build.manifest_bytes(manifest).decode())
    result = tools("flash", "--port", board.port, "--bundle", forged)
    assert result.returncode == 1 and "signature does not verify" in result.stderr
    assert "slots" not in mpremote(board.port, "fs", "ls")


def test_flash_refuses_missing_busy_and_foreign_ports(board, bundle, tmp_path):
    result = tools("flash", "--port", "/dev/ttyNOPE9", "--bundle", bundle)
    assert result.returncode == 1 and "/dev/ttyNOPE9 does not exist" in result.stderr
    result = tools("flash", "--port", board.port, "--bundle", bundle, "--esptool-image", tmp_path / "none.bin")
    assert result.returncode == 1 and "no MicroPython image at" in result.stderr
    with serial.Serial(board.port, exclusive=True):
        result = tools("flash", "--port", board.port, "--bundle", bundle)
    assert result.returncode == 1 and "busy" in result.stderr
    # a serial line where nothing speaks MicroPython (a modem, a bare ESP32): refused, not hung
    master, slave = os.openpty()
    try:
        result = tools("flash", "--port", os.ttyname(slave), "--bundle", bundle, "--timeout", "1")
    finally:
        os.close(master)
        os.close(slave)
    assert result.returncode == 1 and "no MicroPython REPL" in result.stderr


def test_build_command_and_its_errors(release_key, tmp_path):
    result = tools("build", "--profile", "qr_stand", "--key", release_key, "--out", tmp_path, "--version", "1.0.0")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "qr_stand-1.0.0.tar.gz").is_file()
    assert "boards/qr_stand.mpy" in json.loads((tmp_path / "qr_stand-1.0.0" / "manifest.json").read_text())["files"]
    result = tools("build", "--profile", "qr_stand", "--key", tmp_path / "nokey.pem", "--out", tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("tools: no release key at")
