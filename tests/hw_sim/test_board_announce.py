"""Payments on the shop's codes said in the shop (core/announce.py), on virtual boards against the real server
and the WeChat sandbox: a payer pays the shop's static code and the box, the stand or the gun says
"微信收款 25.80 元" through the `events` long poll; one-time codes the device showed are said once; an old
payment is shown, not spoken; a payment under way is never interrupted; the cursor survives a reboot."""
import asyncio
import json
import os

import pytest

from hw_sim import test_codes
from hw_sim.boards import VirtualEnhancedBox, VirtualHandheldGun, VirtualQRStand
from hw_sim.boards.stack import ServerStack

DEVICE_ID = "D0001"
SAID = "微信收款 25.80 元"


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path / "server", (DEVICE_ID,), announce={"speak_within_s": 2}) as s:
        yield s


def flash(tmp_path, name):
    """The board's flash: a folder that outlives the board (a reboot is a new board on it)."""
    os.makedirs(tmp_path / name, exist_ok=True)
    return str(tmp_path / name)


def announcements(board, start=0):
    return [e for e in board.events[start:] if e["event"] == "announce"]


async def heard(board, count, timeout=5.0):
    """Until `count` announcements were handled (said, shown or left to the payment)."""
    await board.wait_event(lambda e: e["event"] == "announce" and len(announcements(board)) >= count, timeout)
    return announcements(board)


async def test_a_static_code_payment_is_said_on_the_box_within_a_second_and_only_once(stack, tmp_path):
    box = VirtualEnhancedBox(stack.url, DEVICE_ID, stack.keys[DEVICE_ID], workdir=flash(tmp_path, "box"))
    async with box:
        await box.wait_event(lambda e: e["event"] == "announce_start")
        await asyncio.sleep(0.3)                    # the long poll is waiting at the server
        loop = asyncio.get_running_loop()
        paid = loop.time()
        await stack.pay_static_code(DEVICE_ID, 2580)
        await box.wait_spoken(SAID, timeout=2.0)
        assert loop.time() - paid < 1.0
        await stack.pay_static_code(DEVICE_ID, 990)
        await box.wait_spoken("微信收款 9.90 元", timeout=2.0)
        await asyncio.sleep(0.5)
        assert [t for t in box.spoken if "收款" in t] == [SAID, "微信收款 9.90 元"]
    with open(tmp_path / "box" / "announce.json") as f:
        assert json.load(f) == {"cursor": 2}

    # Rebooted: nothing said again; a payment made while it was off is said after the boot.
    await stack.pay_static_code(DEVICE_ID, 100)
    box = VirtualEnhancedBox(stack.url, DEVICE_ID, stack.keys[DEVICE_ID], workdir=flash(tmp_path, "box"))
    async with box:
        await box.wait_spoken("微信收款 1.00 元", timeout=3.0)
        await asyncio.sleep(0.5)
        assert [t for t in box.spoken if "收款" in t] == ["微信收款 1.00 元"]


async def test_an_old_payment_is_shown_not_spoken(stack, tmp_path):
    await stack.pay_static_code(DEVICE_ID, 2580)
    await asyncio.sleep(2.5)                        # longer than speak_within_s: the payer left long ago
    stand = VirtualQRStand(stack.url, DEVICE_ID, stack.keys[DEVICE_ID], workdir=flash(tmp_path, "stand"))
    async with stand:
        [event] = await heard(stand, 1)
        assert (event["amount_fen"], event["said"]) == (2580, False)
        assert any("25.80" in line for line in stand.screen_lines)
        await asyncio.sleep(0.3)
        assert not [t for t in stand.spoken if "收款" in t]
        # a fresh one is said
        await stack.pay_static_code(DEVICE_ID, 990)
        await stand.wait_spoken("微信收款 9.90 元", timeout=2.0)
        assert any("9.90" in line for line in stand.screen_lines)


async def test_a_one_time_code_the_stand_showed_is_said_once(stack, tmp_path):
    stand = VirtualQRStand(stack.url, DEVICE_ID, stack.keys[DEVICE_ID], workdir=flash(tmp_path, "stand"), key_ms=20)
    async with stand:
        await stand.wait_event(lambda e: e["event"] == "announce_start")
        await stand.type_amount("688")
        shown = await stand.wait_state("SHOW_CODE")
        await stack.pay_one_time_code(DEVICE_ID, shown["order_no"])
        await stand.wait_spoken("微信收款 688.00 元", timeout=3.0)
        [event] = await heard(stand, 1)
        assert event["own"] and event["said"] is False
        await asyncio.sleep(1.0)
        assert [t for t in stand.spoken if "收款" in t] == ["微信收款 688.00 元"]


async def test_a_payment_under_way_is_never_interrupted(stack, tmp_path):
    box = VirtualEnhancedBox(stack.url, DEVICE_ID, stack.keys[DEVICE_ID], workdir=flash(tmp_path, "box"), key_ms=20)
    async with box:
        box.app.result_ms = 300
        await box.wait_event(lambda e: e["event"] == "announce_start")
        await box.type_amount("12.50")
        box.scan_text(test_codes.make_wechat_code(test_codes.PASSWORD, 1))
        await box.wait_spoken("用户支付中")
        await stack.pay_static_code(DEVICE_ID, 2580)     # a payer pays the static code meanwhile
        await asyncio.sleep(1.0)
        assert SAID not in box.spoken                     # waits: the cashier hears the payment first
        await box.wait_spoken("微信收款 12.50 元", timeout=10.0)
        await box.wait_spoken(SAID, timeout=5.0)
        spoken = [t for t in box.spoken if "收款" in t]
        assert spoken == ["微信收款 12.50 元", SAID]


async def test_the_gun_says_and_shows_a_static_code_payment_on_4g(stack, tmp_path):
    gun = VirtualHandheldGun(stack.url, DEVICE_ID, stack.keys[DEVICE_ID], workdir=flash(tmp_path, "gun"))
    async with gun:
        await gun.wait_event(lambda e: e["event"] == "announce_start")
        await asyncio.sleep(0.2)
        await stack.pay_static_code(DEVICE_ID, 2580)
        await gun.wait_spoken(SAID, timeout=2.0)
        assert "+25.80 WeChat" in gun.screen_lines
