"""Payments said in the shop through a real Mosquitto (tests/loopback.py), the server's
`[announce] transport = "mqtt"` with `provision = true`: the virtual box logs in with micropython-lib's
umqtt.simple (hw_sim/boards/mqtt.py puts it on CPython's sockets), hears a static-code payment on its
topic, and through a broker restart and a reboot of its own nothing is lost and nothing said twice."""
import asyncio
import os

import pytest

from hw_sim.boards import VirtualEnhancedBox
from hw_sim.boards.stack import ServerStack


DEVICE_ID = "D0001"


@pytest.fixture
async def stack(tmp_path, broker):
    mqtt = {"host": "127.0.0.1", "port": broker.port, "username": broker.admin_user,
            "password": broker.admin_password, "provision": True, "keepalive_s": 5}
    async with ServerStack(tmp_path / "server", (DEVICE_ID,), announce={"transport": "mqtt", "mqtt": mqtt}) as s:
        yield s


def make_box(stack, tmp_path):
    os.makedirs(tmp_path / "box", exist_ok=True)
    return VirtualEnhancedBox(stack.url, DEVICE_ID, stack.keys[DEVICE_ID], workdir=str(tmp_path / "box"))


def via(box):
    """How each payment reached the box: (amount_fen, "mqtt" or "events")."""
    return [(e["amount_fen"], e["via"]) for e in box.events if e["event"] == "announce"]


def takings(box):
    return [t for t in box.spoken if "收款" in t]


async def connected(box, start=0, timeout=10.0):
    return await box.wait_event(lambda e: e["event"] == "mqtt" and e.get("connected"), timeout, start)


async def test_a_payment_is_said_through_the_broker_and_nothing_is_lost_or_repeated(stack, broker, tmp_path):
    box = make_box(stack, tmp_path)
    async with box:
        await connected(box)
        assert box.app.announcer.transport == "mqtt"
        box.app.announcer.max_retry_ms = 2000       # the broker's restart takes a second here
        loop = asyncio.get_running_loop()
        paid = loop.time()
        await stack.pay_static_code(DEVICE_ID, 2580)
        await box.wait_spoken("微信收款 25.80 元", timeout=2.0)
        assert loop.time() - paid < 1.0

        # The broker goes away: a payment meanwhile still reaches the shop (the record, `events`) ...
        mark = len(box.events)
        broker.stop()
        await box.wait_event(lambda e: e["event"] == "mqtt" and e.get("connected") is False, 5.0, mark)
        await stack.pay_static_code(DEVICE_ID, 200)
        await box.wait_spoken("微信收款 2.00 元", timeout=5.0)
        # ... and when it is back the box logs in again and hears the next one through it.
        mark = len(box.events)
        broker.start()
        await connected(box, mark, timeout=40.0)
        await stack.pay_static_code(DEVICE_ID, 300)
        await box.wait_spoken("微信收款 3.00 元", timeout=3.0)
        await asyncio.sleep(0.5)
        assert takings(box) == ["微信收款 25.80 元", "微信收款 2.00 元", "微信收款 3.00 元"]
        assert via(box) == [(2580, "mqtt"), (200, "events"), (300, "mqtt")]

    # Rebooted mid-stream: a payment while it was off comes first, then live ones; none of the earlier again.
    await stack.pay_static_code(DEVICE_ID, 400)
    box = make_box(stack, tmp_path)
    async with box:
        await box.wait_spoken("微信收款 4.00 元", timeout=5.0)
        await connected(box)
        await stack.pay_static_code(DEVICE_ID, 500)
        await box.wait_spoken("微信收款 5.00 元", timeout=3.0)
        await asyncio.sleep(0.5)
        assert takings(box) == ["微信收款 4.00 元", "微信收款 5.00 元"]
        assert via(box) == [(400, "events"), (500, "mqtt")]
