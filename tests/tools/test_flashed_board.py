"""What was flashed is what pays, on real MicroPython: a signed build is flashed with `tools flash` onto a
virtual board (WebAssembly MicroPython behind a pty, its files verified by SHA-256 on the board), with
the config `tools provision` wrote after registering the device with the real server. Then the board
boots its flash without a REPL (hw_sim.virtual_board.run_command): the flashed main.py, boot_select.py
and the slot's .mpy files run, with a test jig in place of the board file (the port has no `machine`):
wire-level stand-ins under the flashed keypad, scan engine and voice drivers, and the host's HTTP bridge
as the network (core/js_http.py) to the server and its WeChat sandbox on loopback.

The update loop runs the same way: `tools release` rolls out the next version, the flashed firmware
takes the offer from its heartbeat, downloads and verifies it and resets; the board boots again, now
from the files the update wrote, confirms the version, pays, and the rollout completes."""
import asyncio
import json
import shutil
import sys

import pytest

from tests.tools.conftest import REPO
from hw_sim import test_codes
from hw_sim.boards.stack import ServerStack
from hw_sim.virtual_board import POWER_CUT, RESET, VirtualBoard, run_command
from hw_sim.voice import parse_syn6288_frames, syn6288_text

TOKEN = "ops-token-0123456789abcdef"
DEVICE = "D0007"
JIG = REPO / "hw_sim" / "virtual_board" / "jig"     # the stand-in board the flash boots with

pytestmark = pytest.mark.skipif(shutil.which("node") is None
                                or not (REPO / "node_modules/@micropython/micropython-webassembly-pyscript").is_dir(),
                                reason="needs node and npm install (make setup)")


async def run(*args, timeout=180):
    process = await asyncio.create_subprocess_exec(*map(str, args), cwd=REPO, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, out.decode(), err.decode()


def tools(*args):
    return run(sys.executable, "-m", "tools", *args)


@pytest.fixture
async def stack(tmp_path, release_key):
    (tmp_path / "server").mkdir()
    pub = release_key.with_suffix(".pub").read_text().strip()
    async with ServerStack(tmp_path / "server", (), ops_token=TOKEN, release_public_key=pub,
                           heartbeat_s=1) as s:
        yield s


async def flashed_board(tmp_path, stack, bundle):
    """provision + flash: the virtual board's flash directory, ready to boot."""
    code, out, err = await tools("provision", "--server", stack.url, "--token", TOKEN, "--device-id", DEVICE,
                                 "--profile", "enhanced_box", "--merchant", "M1", "--issue-key",
                                 "--out", tmp_path / "device.json")
    assert code == 0, err
    config = json.loads((tmp_path / "device.json").read_text())
    config["heartbeat_first_s"] = 0         # heartbeat at once: the update loop need not wait
    (tmp_path / "device.json").write_text(json.dumps(config))
    flash = tmp_path / "flash"
    board = await asyncio.to_thread(VirtualBoard(flash).start)
    try:
        code, out, err = await tools("flash", "--port", board.port, "--bundle", str(bundle) + ".tar.gz",
                                     "--config", tmp_path / "device.json")
    finally:
        await asyncio.to_thread(board.stop)
    assert code == 0, err
    assert "SHA-256 verified" in out
    return flash


async def boot(tmp_path, flash, until, pay=None, wait_s=60, cut=None):
    """Power the board on: (exit status, RESULT dict or None, the ota EVENT lines, stdout).
    cut: {"step", "nth"}: the power goes just before that OTA step."""
    jig = tmp_path / "jig"
    jig.mkdir(exist_ok=True)
    for name in ("mp_standins.py", "mp_jig_board.py"):
        shutil.copy(JIG / name, jig)
    (jig / "input.json").write_text(json.dumps({"until": until, "pay": pay, "wait_s": wait_s, "cut": cut}))
    code, out, err = await run(*run_command(flash, JIG / "mp_device.py", jig), timeout=wait_s + 120)
    assert code in (0, RESET, POWER_CUT), err + out
    results = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    steps = [json.loads(line[6:])["step"] for line in out.splitlines() if line.startswith("EVENT ")
             and '"ota"' in line]
    return code, (results[-1] if results else None), steps, out


def spoken(result):
    """What the voice module was sent to say, decoded from the SYN6288 frames the flashed driver wrote."""
    frames, _rest = parse_syn6288_frames(bytes.fromhex(result["voice"]))
    return [text for text in map(syn6288_text, frames) if text]


def cashier(amount, scenario=test_codes.SUCCESS, param=0):
    return {"keys": list(amount) + ["OK"], "code": test_codes.make_wechat_code(scenario, param)}


async def test_build_sign_flash_then_the_flashed_files_pay(tmp_path, stack, bundle):
    flash = await flashed_board(tmp_path, stack, bundle)
    # only what `tools flash` wrote is on the board: no firmware source, no test files
    assert sorted(p.name for p in flash.iterdir()) == [
        "boot_select.py", "config.json", "main.py", "ota.json", "release.pub", "slots"]
    assert not list((flash / "slots" / "a").rglob("*.py"))
    code, result, _steps, out = await boot(tmp_path, flash, "paid", cashier("12.50", test_codes.PASSWORD, 1))
    assert code == 0, out
    assert result["version"] == "0.3.0"                 # the version the bundle was built and signed as
    assert spoken(result) == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
    assert result["states"] == ["IDLE", "AMOUNT", "WAIT_SCAN", "PAYING", "RESULT", "IDLE"]
    order = await stack.order(DEVICE, result["journal"][0]["order_no"])
    assert (order.status, order.amount_fen) == ("SUCCESS", 1250)
    assert [c.total_fee for c in stack.ledger.charges] == [1250]
    # the journal is on the board's flash: the next boot still knows the order
    from core.journal import Journal      # the firmware's own reader of its slot file
    on_flash = Journal(str(flash / "journal.json")).get(result["journal"][0]["order_no"])
    assert (on_flash["status"], on_flash["amount_fen"]) == ("SUCCESS", 1250)


async def start_release(stack, new_bundle):
    """`tools release` of 0.4.0 to every device, running; returns once the device has been offered it."""
    release = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools", "release", "--server", stack.url, "--token", TOKEN,
        "--bundle", str(new_bundle) + ".tar.gz", "--stages", "100%", "--threshold", "0.5",
        "--min-settled", "1", "--poll", "0.2", "--stage-timeout", "300", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    for _ in range(1200):       # published and offered before the board is switched on
        if await stack.storage.pending_commands(DEVICE):
            break
        await asyncio.sleep(0.05)
    return release


async def release_done(release):
    out, err = await asyncio.wait_for(release.communicate(), 120)
    return release.returncode, out.decode(), err.decode()


async def device_row(stack):
    return await stack.storage.sql.fetchone(
        "SELECT status, last_step FROM rollout_devices WHERE device_id = ?", (DEVICE,))


async def test_update_loop_on_micropython(tmp_path, stack, bundle, new_bundle):
    flash = await flashed_board(tmp_path, stack, bundle)
    release = await start_release(stack, new_bundle)
    try:
        # boot 1: version 0.3.0 takes the offer from its heartbeat, installs it into slot b, resets
        code, result, steps, out = await boot(tmp_path, flash, "reset", wait_s=120)
        assert code == RESET and "RESET" in out, out
        assert steps[:3] == ["offer", "manifest", "signature"] and steps[-3:] == ["verify", "switch", "reboot"]
        pointer = json.loads((flash / "ota.json").read_text())
        assert (pointer["active"], pointer["state"], pointer["version"]) == ("b", "pending", "0.4.0")
        manifest = json.loads((new_bundle / "manifest.json").read_text())
        for rel, entry in manifest["files"].items():     # slot b holds the signed files, byte for byte
            assert (flash / "slots" / "b" / rel).read_bytes() == (new_bundle / "files" / rel).read_bytes()

        # boot 2: the files the update wrote run, reach the server, keep the version, and pay
        code, result, steps, out = await boot(tmp_path, flash, "ota:confirmed", cashier("1"))
        assert code == 0, out
        assert result["version"] == "0.4.0" and "confirmed" in result["ota"]
        assert (result["pointer"]["active"], result["pointer"]["state"]) == ("b", "valid")
        assert spoken(result)[-1] == "微信收款 1.00 元"
        code, out, err = await release_done(release)
        assert code == 0, err
        assert "complete: 1 devices updated, 0 failed, 0 rolled back" in out
    finally:
        if release.returncode is None:
            release.kill()
            await release.wait()
    row = await device_row(stack)
    assert (row["status"], row["last_step"]) == ("updated", "confirmed")


async def test_power_cut_in_the_middle_of_an_update_then_the_offer_is_taken_again(tmp_path, stack, bundle,
                                                                                  new_bundle):
    flash = await flashed_board(tmp_path, stack, bundle)
    pointer = (flash / "ota.json").read_bytes()
    release = await start_release(stack, new_bundle)
    try:
        # boot 1: the power goes while the third file is being fetched
        code, result, steps, out = await boot(tmp_path, flash, "reset", cut={"step": "download", "nth": 3})
        assert code == POWER_CUT and "CUT" in out, out
        assert steps.count("download") == 3 and "switch" not in steps
        assert (flash / "ota.json").read_bytes() == pointer           # still 0.3.0 in slot a
        assert (await device_row(stack))["status"] == "installing"
        # boot 2: the old version runs; the offer was never acked, so it comes again and is installed
        code, result, steps, out = await boot(tmp_path, flash, "reset", wait_s=120)
        assert code == RESET, out
        assert steps[0] == "offer" and steps[-1] == "reboot" and "failed" not in steps
        # boot 3: the new version
        code, result, steps, out = await boot(tmp_path, flash, "ota:confirmed")
        assert code == 0 and result["version"] == "0.4.0" and "confirmed" in result["ota"], out
        code, out, err = await release_done(release)
        assert code == 0 and "complete: 1 devices updated" in out, err
    finally:
        if release.returncode is None:
            release.kill()
            await release.wait()


async def test_tampered_download_refused_on_micropython_and_the_old_version_pays(tmp_path, stack, bundle,
                                                                                  new_bundle):
    flash = await flashed_board(tmp_path, stack, bundle)
    pointer = (flash / "ota.json").read_bytes()
    release = await start_release(stack, new_bundle)
    try:
        served = tmp_path / "server" / "firmware" / "enhanced_box" / "0.4.0" / "files" / "core" / "api.mpy"
        served.write_bytes(served.read_bytes() + b"\0")          # altered on the server after publishing
        code, result, steps, out = await boot(tmp_path, flash, "ota:failed", cashier("5"))
        assert code == 0, out
        assert steps[-1] == "failed" and "reboot" not in steps and "switch" not in steps
        assert result["version"] == "0.3.0" and spoken(result)[-1] == "微信收款 5.00 元"
        assert (flash / "ota.json").read_bytes() == pointer
        code, out, err = await release_done(release)
        assert code == 1 and "passed the threshold" in err
    finally:
        if release.returncode is None:
            release.kill()
            await release.wait()
    row = await stack.storage.sql.fetchone(
        "SELECT status, detail FROM rollout_devices WHERE device_id = ?", (DEVICE,))
    assert row["status"] == "failed" and row["detail"] == "core/api.mpy: SHA-256 differs from the signed manifest"
