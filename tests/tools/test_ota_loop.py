"""The whole update loop on the simulator: `tools release` publishes a signed build to the real server
(loopback, SQLite) and rolls it out; a flashed virtual enhanced box (firmware/core/heartbeat.py and
core/ota.py running on CPython, its flash a directory) gets the offer in its heartbeat, waits for the
payment under way, installs into slot b, resets, boots the new version, confirms it, and the rollout
completes. A tampered download is refused and reported and the box keeps paying on the old version; a
version that never reaches the server is rolled back and that is reported.

CPython cannot run the slots' .mpy files: the simulator runs firmware/ from source and reports the
version of the slot boot_select.py chose (hw_sim/boards/base.py). test_flashed_board.py does the same
loop under real MicroPython, running the installed files themselves."""
import asyncio
import json
import sys

import pytest

from tests.tools.conftest import REPO, flash_to_dir
from hw_sim import test_codes
from hw_sim.boards.enhanced_box import VirtualEnhancedBox
from hw_sim.boards.stack import ServerStack

TOKEN = "ops-token-0123456789abcdef"
DEVICE = "D0001"


@pytest.fixture
async def stack(tmp_path, release_key):
    (tmp_path / "server").mkdir()
    pub = release_key.with_suffix(".pub").read_text().strip()
    # the payer of the password scenario takes seconds: the resolver must not reverse the payment first
    async with ServerStack(tmp_path / "server", (DEVICE,), ops_token=TOKEN, release_public_key=pub,
                           heartbeat_s=1, deadline_s=60) as s:
        s.releases = []
        try:
            yield s
        finally:
            for process in s.releases:
                if process.returncode is None:
                    process.kill()
                    await process.wait()


@pytest.fixture
def flash(tmp_path, bundle):
    root = tmp_path / "flash"
    flash_to_dir(root, bundle)          # version 0.3.0 in slot a, as `tools flash` leaves a board
    return root


def box_on(stack, flash, url=None, first_beat_s=0):
    return VirtualEnhancedBox(url or stack.url, DEVICE, stack.keys[DEVICE], workdir=str(flash),
                              config={"heartbeat_first_s": first_beat_s}, key_ms=20)


async def offered(stack):
    """Until the release has published the build and offered it to the device."""
    for _ in range(1200):
        if await stack.storage.pending_commands(DEVICE):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("no offer")


async def release(stack, new_bundle, threshold="0.5"):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools", "release", "--server", stack.url, "--token", TOKEN,
        "--bundle", str(new_bundle) + ".tar.gz", "--stages", "100%", "--threshold", threshold,
        "--min-settled", "1", "--poll", "0.2", "--stage-timeout", "120", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stack.releases.append(process)
    return process


async def finished(process):
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def device_row(stack):
    return await stack.storage.sql.fetchone(
        "SELECT rollout_id, status, last_step, detail FROM rollout_devices WHERE device_id = ?", (DEVICE,))


def ota_steps(box):
    return [e["step"] for e in box.events if e["event"] == "ota"]


async def pay(box, amount, scenario=test_codes.SUCCESS, param=0):
    start = len(box.events)
    await box.type_amount(amount)
    box.scan_text(test_codes.make_wechat_code(scenario, param))
    return start


async def test_update_waits_for_the_payment_then_installs_reboots_confirms_and_completes(stack, flash, new_bundle):
    rollout = await release(stack, new_bundle)
    await offered(stack)
    box = box_on(stack, flash, first_beat_s=2)
    await box.start()
    try:
        assert box.booted == ("a", "0.3.0")
        # the payer is still typing the password when the first heartbeat is due
        await pay(box, "12.50", test_codes.PASSWORD, 8)
        await box.wait_state("PAYING")
        await box.wait_event(lambda e: e["event"] == "ota" and e["step"] == "waiting", timeout=30)
        # (the heartbeat shares the box's one connection: it waits behind the payment's long poll)
        assert box.state in ("PAYING", "RESULT") and box.reboots == 0 and not (flash / "slots" / "b").exists()
        await box.wait_spoken("微信收款 12.50 元", timeout=30)
        await box.wait_event(lambda e: e["event"] == "reset", timeout=60)
    finally:
        await box.stop()
    kinds = [(e["event"], e.get("state") or e.get("step")) for e in box.events]
    idle_again = kinds.index(("state", "IDLE"), kinds.index(("state", "RESULT")))
    assert kinds.index(("ota", "offer")) > idle_again       # nothing installed before the payment was over
    assert ota_steps(box)[-3:] == ["verify", "switch", "reboot"] and "failed" not in ota_steps(box)
    assert box.reboots == 1
    assert (await stack.order(DEVICE, box.journal.orders()[0]["order_no"])).status == "SUCCESS"

    # the reset: the board boots again from its flash, into the new version
    box = box_on(stack, flash)
    await box.start()
    try:
        assert box.booted == ("b", "0.4.0")
        await box.wait_event(lambda e: e["event"] == "ota" and e["step"] == "confirmed", timeout=30)
        assert json.loads((flash / "ota.json").read_text())["state"] == "valid"
        code, out, err = await finished(rollout)
        assert code == 0, err
        assert "complete: 1 devices updated, 0 failed, 0 rolled back" in out
        row = await device_row(stack)
        assert (row["status"], row["last_step"]) == ("updated", "confirmed")
        from server import rollouts
        status = await rollouts.status(stack.storage, await rollouts.get_rollout(stack.storage, row["rollout_id"]))
        assert (status["state"], status["updated"], status["offered"]) == ("complete", 1, 1)
        # the new version pays, and the server does not offer the update again
        await pay(box, "1")
        await box.wait_spoken("微信收款 1.00 元", timeout=30)
        await box.app.heartbeat()
        assert await stack.storage.pending_commands(DEVICE) == [] and box.reboots == 0
    finally:
        await box.stop()


async def test_tampered_download_is_refused_reported_and_the_old_version_keeps_paying(stack, flash, new_bundle):
    rollout = await release(stack, new_bundle, threshold="0.2")
    await offered(stack)        # published and offered; the box is not on yet
    served = flash.parent / "server" / "firmware" / "enhanced_box" / "0.4.0" / "files" / "core" / "app.mpy"
    served.write_bytes(served.read_bytes()[:-1] + b"\x00")     # the file on the server is altered
    pointer = (flash / "ota.json").read_bytes()
    box = box_on(stack, flash)
    await box.start()
    try:
        failed = await box.wait_event(lambda e: e["event"] == "ota" and e["step"] == "failed", timeout=30)
        assert "core/app.mpy: SHA-256 differs from the signed manifest" in failed["detail"]
        await pay(box, "3")
        await box.wait_spoken("微信收款 3.00 元", timeout=30)
        assert box.reboots == 0 and (flash / "ota.json").read_bytes() == pointer
        code, out, err = await finished(rollout)
        assert code == 1 and "stopped: failure rate 100.0% passed the threshold 20.0%" in err
        row = await device_row(stack)
        assert row["status"] == "failed" and "SHA-256 differs" in row["detail"]
        await box.app.heartbeat()
        assert await stack.storage.pending_commands(DEVICE) == []    # refused once, not tried again
    finally:
        await box.stop()
    assert VirtualEnhancedBox._boot_slot(str(flash)) == ("a", "0.3.0")


async def test_version_that_never_reaches_the_server_is_rolled_back_and_reported(stack, flash, new_bundle):
    from core import ota
    rollout = await release(stack, new_bundle)
    box = box_on(stack, flash)
    await box.start()
    try:
        await box.wait_event(lambda e: e["event"] == "reset", timeout=60)
    finally:
        await box.stop()
    # the new version boots, but cannot reach the server (say its network code is broken)
    for _ in range(ota.max_boots()):
        box = box_on(stack, flash, url="http://127.0.0.1:9")
        await box.start()
        try:
            assert box.booted == ("b", "0.4.0")
            await box.wait_event(lambda e: e["event"] == "error" and e["where"] == "heartbeat", timeout=30)
        finally:
            await box.stop()
    box = box_on(stack, flash)
    await box.start()
    try:
        assert box.booted == ("a", "0.3.0")
        await box.wait_event(lambda e: e["event"] == "ota" and e["step"] == "rolled_back", timeout=30)
        code, out, err = await finished(rollout)
        assert code == 1 and "passed the threshold" in err
        row = await device_row(stack)
        assert row["status"] == "rolled_back" and "did not reach the server within 3 boots" in row["detail"]
        assert "rolled_back" not in json.loads((flash / "ota.json").read_text())    # reported: forgotten
        await pay(box, "2")
        await box.wait_spoken("微信收款 2.00 元", timeout=30)
    finally:
        await box.stop()
