"""Payments said in the shop (server/announce.py): every C2B payment reaches the device bound to its code
through the `events` long poll, numbered, once, on both databases."""
import asyncio
import time

import pytest

from tests.server.conftest import DEVICE_ID, Device, add_device, pay_on_the_code
from server.keys import ANNOUNCER, CHANNELS, PAYMENTS, STORAGE
from server.settings import AnnounceSettings


@pytest.fixture
def start(start_server):
    """A server with `announce` settings; its device (the same key across restarts)."""
    async def start_with(**announce) -> Device:
        return await start_server(device_api={"qr_valid_s": 60}, announce=AnnounceSettings(**announce))
    return start_with


async def events(device: Device, after: int, wait: int = 0) -> dict:
    status, answer = await device.call("events", {"after": after, "wait": wait})
    assert status == 200, answer
    return answer


async def test_a_payment_wakes_the_waiting_device_and_is_said_once(start, sandbox):
    device = await start()
    waiting = asyncio.create_task(events(device, 0, wait=10))
    await asyncio.sleep(0.3)
    assert not waiting.done()                                   # nothing paid yet: the poll waits
    started = time.monotonic()
    order = await pay_on_the_code(device, sandbox, "Q1", 2580)
    answer = await asyncio.wait_for(waiting, 5)
    assert order.status == "SUCCESS" and time.monotonic() - started < 5
    (event,) = answer["events"]
    assert event == {"seq": 1, "kind": "paid", "order_no": "Q1", "channel": "wechat", "amount_fen": 2580,
                     "paid_at": event["paid_at"], "static_code": False, "speak": True}
    assert answer["cursor"] == 1 and answer["more"] is False
    # The device keeps 1 in flash: asked again (a reconnect, a reboot) it hears nothing twice.
    again = await events(device, 1)
    assert again["events"] == [] and again["cursor"] == 1
    assert await device.app[STORAGE].announcement_cursor(DEVICE_ID) == (1, 1)
    # Learning of the same payment again (the channel's notification after the query) says nothing more.
    payments = device.app[PAYMENTS]
    await payments.apply(order, await payments.query_channel(device.app[CHANNELS]["wechat"], order), source="query")
    assert (await events(device, 1))["events"] == []


async def test_payments_missed_while_away_arrive_in_order_and_old_ones_are_shown_not_spoken(start, sandbox):
    device = await start(speak_within_s=3600)
    for n, amount in enumerate((100, 250, 990), 1):
        await pay_on_the_code(device, sandbox, f"A{n}", amount)
    await device.client.close()
    # The device comes back (a reboot) with 1 heard; the server restarts with a 1-second window.
    device = await start(speak_within_s=1, max_events=2)
    await asyncio.sleep(1.1)
    first = await events(device, 1)
    assert [(e["seq"], e["order_no"], e["amount_fen"]) for e in first["events"]] == [(2, "A2", 250), (3, "A3", 990)]
    assert first["more"] is False and not any(e["speak"] for e in first["events"])
    # A payment while the device listens is spoken.
    await pay_on_the_code(device, sandbox, "A4", 1200)
    (fresh,) = (await events(device, 3))["events"]
    assert fresh["seq"] == 4 and fresh["speak"] is True


async def test_a_long_backlog_comes_a_page_at_a_time(start, sandbox):
    device = await start(max_events=2)
    for n in range(5):
        await pay_on_the_code(device, sandbox, f"B{n}", 100 + n)
    seen, cursor, more = [], 0, True
    while more:
        answer = await events(device, cursor)
        seen += [e["amount_fen"] for e in answer["events"]]
        cursor, more = answer["cursor"], answer["more"]
    assert seen == [100, 101, 102, 103, 104]


async def test_a_device_counting_past_the_server_starts_again_from_the_servers_number(start, sandbox):
    device = await start()
    await pay_on_the_code(device, sandbox, "C1", 500)
    answer = await events(device, 40)
    assert (answer["events"], answer["cursor"], answer["reset"]) == ([], 1, True)
    await pay_on_the_code(device, sandbox, "C2", 600)
    assert [e["order_no"] for e in (await events(device, answer["cursor"]))["events"]] == ["C2"]


async def test_a_payment_finished_by_a_process_that_stopped_before_announcing_is_announced_later(start, sandbox):
    device = await start()
    announcer = device.app[ANNOUNCER]
    paid = announcer.paid

    async def stopped_first(order):       # the process dies between finishing the order and numbering it
        raise ConnectionError("database gone")
    announcer.paid = stopped_first
    order = await pay_on_the_code(device, sandbox, "D1", 700)
    announcer.paid = paid
    assert order.status == "SUCCESS" and (await events(device, 0))["events"] == []
    await device.client.close()
    device = await start()
    storage = device.app[STORAGE]
    # The catch-up leaves the last seconds to the process finishing them: as if it had been a while ago.
    await storage.sql.execute("UPDATE orders SET finished_at = finished_at - 20000 WHERE order_no = ?", ("D1",))
    assert await device.app[ANNOUNCER].catch_up() == 1
    (event,) = (await events(device, 0))["events"]
    assert event["order_no"] == "D1" and event["amount_fen"] == 700
    assert await device.app[ANNOUNCER].catch_up() == 0            # and only once


async def test_only_the_devices_own_payments_and_bad_cursors_refused(start, sandbox, other_device_of):
    device = await start()
    other = await other_device_of(device, "BOX2")
    await pay_on_the_code(device, sandbox, "E1", 800)
    assert (await events(other, 0))["events"] == []
    for bad in ({"after": -1}, {"after": "1"}, {"after": 2**60}, {"wait": 9999}, {"after": True}):
        status, answer = await device.call("events", bad)
        assert status == 400 and answer["error"]["code"] == "invalid_field", (bad, answer)


async def test_heartbeat_and_info_tell_the_device_how_and_how_far(start, sandbox):
    device = await start()
    await pay_on_the_code(device, sandbox, "F1", 900)
    status, beat = await device.call("heartbeat", {})
    assert status == 200 and beat["announce_seq"] == 1
    status, info = await device.call("info", {})
    assert status == 200 and info["announce"] == {"transport": "events"}


@pytest.fixture
def other_device_of():
    async def make(device: Device, device_id: str) -> Device:
        other = Device(device.client, device_id, await add_device(device.app, device_id))
        other.app = device.app
        return other
    return make
