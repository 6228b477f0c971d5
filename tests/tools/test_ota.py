"""OTA on the device (firmware/core/ota.py, firmware/boot_select.py): install a signed build into the
inactive slot and switch; refuse tampered files and forged signatures; survive a power cut at every
step; roll back a version that never reaches the server. Runs on CPython against a directory as the
board's flash, and on real MicroPython on a flashed virtual board."""
import json
import shutil

import pytest

from tests.tools.conftest import flash_to_dir, mpremote, tools
from tools import build, signing

import boot_select
from core import ota
from core.http import Response


class PowerCut(Exception):
    pass


class FakeServer:
    """The server's firmware downloads: {path: bytes}; anything else is a 404."""

    def __init__(self, files):
        self.files = dict(files)

    async def request(self, method, path, headers=None, body=b"", timeout_ms=None):
        assert method == "GET"
        if path not in self.files:
            return Response(404, {}, b"")
        return Response(200, {}, self.files[path])


def served(bundle, prefix="/fw/enhanced_box/0.4.0"):
    files = {prefix + "/manifest.json": (bundle / "manifest.json").read_bytes(),
             prefix + "/manifest.sig": (bundle / "manifest.sig").read_bytes()}
    for path in (bundle / "files").rglob("*"):
        if path.is_file():
            files[prefix + "/files/" + path.relative_to(bundle / "files").as_posix()] = path.read_bytes()
    return files


def offer_of(bundle, prefix="/fw/enhanced_box/0.4.0"):
    manifest = json.loads((bundle / "manifest.json").read_text())
    return {"version": manifest["version"], "url": "https://pay.example.com" + prefix + "/manifest.json",
            "sha256": build.file_entry((bundle / "manifest.json").read_bytes())["sha256"]}


@pytest.fixture
def device(tmp_path, bundle):
    root = tmp_path / "flash"
    flash_to_dir(root, bundle)
    return root


def installed_version(root):
    """Boot: the slot boot_select picks must be complete (every file as its signed manifest says)."""
    slot = boot_select.choose(str(root))
    manifest = json.loads((root / "slots" / slot / "manifest.json").read_text())
    ota.verify_slot(str(root), slot, manifest)
    return slot, manifest["version"]


def run(coro):
    import asyncio
    return asyncio.run(coro)


def test_install_switches_at_next_boot_and_confirm_keeps_it(device, new_bundle):
    steps = []
    updater = ota.Updater(FakeServer(served(new_bundle)), report=lambda s, d: steps.append(s),
                          root=str(device), profile="enhanced_box")
    assert run(updater.install(offer_of(new_bundle))) == "b"
    assert steps[:3] == ["offer", "manifest", "signature"] and steps[-3:] == ["verify", "switch", "reboot"]
    assert steps.count("download") == len(json.loads((new_bundle / "manifest.json").read_text())["files"])
    assert installed_version(device) == ("b", "0.4.0")
    assert ota.confirm(str(device)) == "0.4.0"
    for _ in range(10):
        assert installed_version(device) == ("b", "0.4.0")


def test_unconfirmed_version_rolls_back_after_max_boots(device, new_bundle):
    run(ota.Updater(FakeServer(served(new_bundle)), root=str(device)).install(offer_of(new_bundle)))
    for _ in range(boot_select.max_boots):
        assert installed_version(device) == ("b", "0.4.0")
    assert installed_version(device) == ("a", "0.3.0")
    assert ota.rolled_back(str(device)) == "0.4.0"
    assert ota.rolled_back(str(device)) is None             # reported once
    assert installed_version(device) == ("a", "0.3.0")


def test_no_second_update_while_one_is_unconfirmed(device, new_bundle):
    updater = ota.Updater(FakeServer(served(new_bundle)), root=str(device))
    run(updater.install(offer_of(new_bundle)))
    with pytest.raises(ota.OtaError, match="not yet confirmed"):
        run(updater.install(offer_of(new_bundle)))


def _refused(device, files, offer, match):
    steps = []
    updater = ota.Updater(FakeServer(files), report=lambda s, d: steps.append((s, d)), root=str(device),
                          profile="enhanced_box")
    pointer_before = (device / "ota.json").read_bytes()
    with pytest.raises(ota.OtaError, match=match):
        run(updater.install(offer))
    assert steps[-1][0] == "failed" and steps[-1][1]
    assert (device / "ota.json").read_bytes() == pointer_before
    assert installed_version(device) == ("a", "0.3.0")


def test_tampered_file_refused(device, new_bundle):
    files = served(new_bundle)
    path = "/fw/enhanced_box/0.4.0/files/core/app.mpy"
    files[path] = files[path][:-1] + bytes([files[path][-1] ^ 1])
    _refused(device, files, offer_of(new_bundle), "core/app.mpy: SHA-256 differs")


def test_forged_manifest_refused(device, new_bundle, tmp_path):
    files = served(new_bundle)
    manifest = json.loads(files["/fw/enhanced_box/0.4.0/manifest.json"])
    manifest["files"]["core/app.mpy"]["sha256"] = "0" * 64
    files["/fw/enhanced_box/0.4.0/manifest.json"] = build.manifest_bytes(manifest)
    offer = dict(offer_of(new_bundle), sha256=None)
    _refused(device, files, offer, "signature does not verify")
    # signed, but with another key than the device's release key
    signing.generate(tmp_path / "other.pem", tmp_path / "other.pub")
    other = build.build("enhanced_box", tmp_path / "other.pem", tmp_path / "o", version="0.4.0")
    _refused(device, served(other), offer_of(other), "signature does not verify")


def test_offer_digest_and_profile_checked(device, new_bundle, release_key, tmp_path):
    _refused(device, served(new_bundle), dict(offer_of(new_bundle), sha256="1" * 64), "digest differs")
    stand = build.build("qr_stand", release_key, tmp_path / "s", version="0.4.0")
    _refused(device, served(stand), offer_of(stand), "profile 'qr_stand'")


def _steps(new_bundle, tmp_path, bundle):
    root = tmp_path / "probe"
    flash_to_dir(root, bundle)
    steps = []
    run(ota.Updater(FakeServer(served(new_bundle)), report=lambda s, d: steps.append((s, d)),
                    root=str(root)).install(offer_of(new_bundle)))
    return steps


def test_power_cut_at_every_step_leaves_a_bootable_device(tmp_path, bundle, new_bundle):
    steps = _steps(new_bundle, tmp_path, bundle)
    for cut, (step, detail) in enumerate(steps):
        root = tmp_path / ("cut%d" % cut)
        flash_to_dir(root, bundle)

        def report(s, d, calls=[]):
            calls.append(s)
            if len(calls) > cut:
                raise PowerCut(s)
        with pytest.raises(PowerCut):
            run(ota.Updater(FakeServer(served(new_bundle)), report=report, root=str(root)).install(
                offer_of(new_bundle)))
        if step == "download" and cut and steps[cut - 1][0] == "download":
            # the cut tore the file being written: half of it is on the flash
            torn = root / "slots/b" / steps[cut - 1][1]
            torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
        expected = ("b", "0.4.0") if step == "reboot" else ("a", "0.3.0")
        assert installed_version(root) == expected, "cut before %s %s" % (step, detail)
        # and the update can simply be tried again
        if step != "reboot":
            run(ota.Updater(FakeServer(served(new_bundle)), root=str(root)).install(offer_of(new_bundle)))
            assert installed_version(root) == ("b", "0.4.0")


def test_torn_pointer_write_keeps_the_old_pointer(device, new_bundle):
    # the cut came while /ota.json.tmp was written, before the rename
    (device / "ota.json.tmp").write_text('{"active": "b", "sta')
    assert installed_version(device) == ("a", "0.3.0")
    # the pointer itself lost (a board flashed by an older tool): any complete slot boots
    (device / "ota.json").unlink()
    assert installed_version(device) == ("a", "0.3.0")


# ---- on real MicroPython: a flashed virtual board runs its own compiled ota.mpy ------------------
ON_DEVICE = """
import boot_select
boot_select.select()
from core import ota
from core.http import Response
class FileServer:
    async def request(self, method, path, headers=None, body=b"", timeout_ms=None):
        try:
            with open("/srv" + path, "rb") as f:
                return Response(200, {}, f.read())
        except OSError:
            return Response(404, {}, b"")
def run(coro):
    # nothing here waits on I/O: drive the coroutine by hand, as asyncio would
    try:
        while True:
            coro.send(None)
    except StopIteration as e:
        return e.value
for name in ("badsig", "badfile", "good"):
    steps = []
    updater = ota.Updater(FileServer(), report=lambda s, d: steps.append(s), profile="enhanced_box")
    try:
        result = "installed " + run(updater.install({"url": "/" + name + "/manifest.json"}))
    except ota.OtaError as e:
        result = "refused " + str(e)
    print(name, "|", result, "|", ",".join(steps[-2:]))
"""


def test_on_micropython_tampering_refused_and_good_build_installed(board, bundle, new_bundle, tmp_path):
    assert tools("flash", "--port", board.port, "--bundle", bundle).returncode == 0
    srv = tmp_path / "upload" / "srv"
    shutil.copytree(new_bundle, srv / "good", ignore=shutil.ignore_patterns("boot", "release.pub"))
    (srv / "badsig").mkdir()
    manifest = json.loads((new_bundle / "manifest.json").read_text())
    manifest["version"] = "6.6.6"
    (srv / "badsig" / "manifest.json").write_bytes(build.manifest_bytes(manifest))
    shutil.copy(new_bundle / "manifest.sig", srv / "badsig")
    first = sorted(manifest["files"])[0]
    (srv / "badfile" / "files" / first).parent.mkdir(parents=True)
    shutil.copy(new_bundle / "manifest.json", srv / "badfile")
    shutil.copy(new_bundle / "manifest.sig", srv / "badfile")
    (srv / "badfile" / "files" / first).write_bytes((new_bundle / "files" / first).read_bytes() + b"#")
    mpremote(board.port, "fs", "cp", "-r", str(srv.parent), ":", timeout=120)    # its contents: /srv/...
    script = tmp_path / "update.py"
    script.write_text(ON_DEVICE)
    lines = dict(line.split(" | ", 1) for line in mpremote(board.port, "run", str(script), timeout=120)
                 .strip().splitlines())
    assert lines["badsig"].startswith("refused manifest signature does not verify")
    assert lines["badfile"].startswith("refused %s: SHA-256 differs" % first)
    assert lines["good"] == "installed b | switch,reboot"
    mpremote(board.port, "soft-reset")
    out = mpremote(board.port, "resume", "exec", "import boot_select\nprint(boot_select.select())\n"
                   "import json\nprint(json.loads(open('/slots/b/manifest.json').read())['version'])")
    assert out.split() == ["b", "0.4.0"]


CUT_ON_DEVICE = """
import boot_select
boot_select.select()
from core import ota
from core.http import Response
class FileServer:
    async def request(self, method, path, headers=None, body=b"", timeout_ms=None):
        with open("/srv" + path, "rb") as f:
            return Response(200, {}, f.read())
seen = []
def report(step, detail):
    seen.append(step)
    if step == %r and seen.count(step) == %d:
        print("CUT")
        while True:     # the power goes here: nothing after this line reaches the flash
            pass
coro = ota.Updater(FileServer(), report=report).install({"url": "/good/manifest.json"})
try:
    while True:
        coro.send(None)
except StopIteration:
    pass
"""


def _raw_exec_until(port_name, code, marker, timeout=30):
    import serial
    import time
    with serial.Serial(port_name, 115200, timeout=0.1) as port:
        port.write(b"\r\x03\r\x01")
        data, deadline = b"", time.monotonic() + timeout
        while not data.endswith(b"raw REPL; CTRL-B to exit\r\n>") and time.monotonic() < deadline:
            data += port.read(port.in_waiting or 1)
        port.write(code.encode() + b"\x04")
        data = b""
        while marker not in data and time.monotonic() < deadline:
            data += port.read(port.in_waiting or 1)
        assert marker in data, data


def test_power_cut_on_the_virtual_board(tmp_path, bundle, new_bundle):
    from hw_sim.virtual_board import VirtualBoard
    flash_dir = tmp_path / "flash"
    with VirtualBoard(flash_dir) as vb:
        assert tools("flash", "--port", vb.port, "--bundle", bundle).returncode == 0
        shutil.copytree(new_bundle, tmp_path / "upload" / "srv" / "good",
                        ignore=shutil.ignore_patterns("boot", "release.pub"))
        mpremote(vb.port, "fs", "cp", "-r", str(tmp_path / "upload"), ":", timeout=120)
    # the board is killed (no last sync of its file system) at each point, then booted again
    for step, nth, expected in (("download", 5, "a 0.3.0"), ("switch", 1, "a 0.3.0"), ("reboot", 1, "b 0.4.0")):
        vb = VirtualBoard(flash_dir).start()
        try:
            _raw_exec_until(vb.port, CUT_ON_DEVICE % (step, nth), b"CUT")
            vb.power_cut()
            vb = VirtualBoard(flash_dir).start()
            out = mpremote(vb.port, "exec",
                           "import boot_select, json\nslot = boot_select.select()\nfrom core import ota\n"
                           "m = json.loads(open('/slots/%s/manifest.json' % slot).read())\n"
                           "ota.verify_slot('/', slot, m)\nprint(slot, m['version'])")
            assert out.strip() == expected, "power cut before %s" % step
        finally:
            vb.stop()
