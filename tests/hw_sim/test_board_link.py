"""The link to the server lost and back (issue 14 part 3), on the virtual box against the real server through
an uplink the test cuts (hw_sim/boards/stack.py `Uplink`: every connection closed, new ones refused): the box
says it lost the network when idle, at most once per `link_down_say_s`, and lights yellow; a cashier who
asks for a payment meanwhile hears that the payer should scan the shop's static code; when the link
returns, an order it gave up on is asked about at once, without a reboot, and said once it was paid."""
import asyncio

import pytest

from hw_sim import test_codes
from hw_sim.boards import VirtualEnhancedBox
from hw_sim.boards.stack import ServerStack, Uplink

DEVICE_ID = "D0001"
LINK_DOWN = "网络已断开"
USE_STATIC = "网络异常，请顾客扫店铺收款码付款"


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path / "server", (DEVICE_ID,)) as s:
        yield s


@pytest.fixture
async def line(stack):
    async with Uplink(stack.port) as uplink:
        yield uplink


async def test_a_lost_link_is_said_now_and_then_and_the_payer_is_sent_to_the_static_code(stack, line):
    loop = asyncio.get_running_loop()
    said_at = []
    box = VirtualEnhancedBox(line.url, DEVICE_ID, stack.keys[DEVICE_ID], key_ms=20, config={"link_down_say_s": 2},
                             on_event=lambda e: said_at.append(loop.time()) if e.get("text") == LINK_DOWN
                             and e["event"] == "say" else None)
    async with box:
        await box.wait_event(lambda e: e["event"] == "announce_start")
        box.app.announcer.max_retry_ms = 2000
        await asyncio.sleep(0.3)
        line.cut()
        await box.wait_spoken(LINK_DOWN, timeout=3.0)
        assert box.led == "yellow"
        await asyncio.sleep(5.0)
        gaps = [b - a for a, b in zip(said_at, said_at[1:])]
        assert 1 <= len(said_at) <= 3 and all(gap >= 2.0 for gap in gaps), said_at

        start = len(box.spoken)
        await box.type_amount("12.50")
        await box.wait_spoken(USE_STATIC, timeout=2.0, start=start)
        assert "请出示付款码" not in box.spoken[start:]
        await box.press("CLR")

        line.restore()
        await box.wait_event(lambda e: e["event"] == "link" and e["up"], timeout=40.0)
        assert box.led == "off"
        start = len(box.spoken)
        await box.type_amount("1.00")
        await box.wait_spoken("请出示付款码", timeout=2.0, start=start)


async def test_an_order_given_up_on_is_asked_about_as_soon_as_the_link_is_back(stack, line):
    box = VirtualEnhancedBox(line.url, DEVICE_ID, stack.keys[DEVICE_ID], key_ms=20)
    async with box:
        box.app.follow_ms = 1500            # the box stops waiting for the payer soon
        box.app.result_ms = 200
        await box.wait_event(lambda e: e["event"] == "announce_start")
        box.app.announcer.max_retry_ms = 2000
        await box.type_amount("12.50")
        box.scan_text(test_codes.make_wechat_code(test_codes.PASSWORD, 2))     # types the password 2 s later
        await box.wait_spoken("用户支付中")
        line.cut()
        await box.wait_spoken("网络异常", timeout=5.0)
        order_no = box.app.order_no
        assert box.journal.get(order_no)["status"] == "PAYING"
        await asyncio.sleep(2.5)                                         # the payer paid meanwhile
        assert (await stack.order(DEVICE_ID, order_no)).status == "SUCCESS"
        assert "微信收款 12.50 元" not in box.spoken

        start = len(box.events)
        line.restore()
        # the link is found again on the announcer's next retry (at most 2 s; a loaded machine takes longer),
        # and then the order is asked about at once
        await box.wait_event(lambda e: e["event"] == "link" and e["up"], timeout=40.0, start=start)
        await box.wait_spoken("微信收款 12.50 元", timeout=5.0)
        assert box.journal.get(order_no)["status"] == "SUCCESS"
        assert box.reboots == 0
        await asyncio.sleep(0.5)
        assert box.spoken.count("微信收款 12.50 元") == 1
