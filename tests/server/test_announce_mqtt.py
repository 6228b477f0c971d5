"""Announcements over MQTT through a real Mosquitto (its own, on a free port, with the dynamic security
plugin): the server provisions each device's client, publishes every C2B payment to the device's topic,
and a device hears its own topic only. Restarting the broker loses nothing: the server reconnects, and a
device that was away catches up with `events`."""
import asyncio
import dataclasses
import json

import aiomqtt
import pytest

from tests.server.conftest import DEVICE_ID, Device, add_device, pay_on_the_code, test_settings
from server.announce import mqtt_password
from server.app import create_app
from server.keys import ANNOUNCER
from server.settings import AnnounceSettings, MqttSettings, Secret


@pytest.fixture
async def device(broker, tmp_path, aiohttp_client, sandbox) -> Device:
    mqtt = MqttSettings(host="127.0.0.1", port=broker.port, username=broker.admin_user,
                        password=Secret(broker.admin_password), provision=True, keepalive_s=5)
    settings = dataclasses.replace(
        test_settings(sandbox, {"path": str(tmp_path / "scanpay.db")}, device_api={"qr_valid_s": 60}),
        announce=AnnounceSettings(transport="mqtt", mqtt=mqtt))
    app = create_app(settings)
    client = await aiohttp_client(app)
    device = Device(client, DEVICE_ID, await add_device(app))
    device.app = app
    await asyncio.wait_for(app[ANNOUNCER].publisher.connected.wait(), 10)
    return device


async def info_announce(device: Device) -> dict:
    status, info = await device.call("info", {})
    assert status == 200, info
    return info["announce"]


async def connected(broker, username: str, password: str, *, tries: int = 50) -> aiomqtt.Client:
    """An MQTT session as the device; provisioning takes effect a moment after `info`."""
    for _ in range(tries):
        client = aiomqtt.Client("127.0.0.1", broker.port, username=username, password=password,
                                identifier=f"{username}-test", keepalive=5)
        try:
            await client.__aenter__()
            return client
        except aiomqtt.MqttError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{username} could not log in to the broker")


async def next_message(client: aiomqtt.Client, timeout_s: float = 5.0) -> dict:
    async def first():
        async for message in client.messages:
            return json.loads(message.payload)
    return await asyncio.wait_for(first(), timeout_s)


async def test_a_payment_reaches_the_devices_own_topic_and_no_other(device, broker, sandbox):
    announce = await info_announce(device)
    assert announce == {"transport": "mqtt", "host": "127.0.0.1", "port": broker.port,
                        "topic": f"scanpay/d/{DEVICE_ID}/paid", "username": DEVICE_ID, "keepalive_s": 5}
    mine = await connected(broker, DEVICE_ID, mqtt_password(device.key_hex))
    try:
        await mine.subscribe(announce["topic"], qos=1)
        await pay_on_the_code(device, sandbox, "M1", 2580)
        message = await next_message(mine)
        assert message == {"seq": 1, "kind": "paid", "order_no": "M1", "channel": "wechat", "amount_fen": 2580,
                           "paid_at": message["paid_at"], "static_code": False, "speak": True}
    finally:
        await mine.__aexit__(None, None, None)

    # A second device of the shop, provisioned at its info, cannot listen to the first one's payments.
    other = Device(device.client, "BOX2", await add_device(device.app, "BOX2"))
    other.app = device.app
    await info_announce(other)
    theirs = await connected(broker, "BOX2", mqtt_password(other.key_hex))
    try:
        await theirs.subscribe(f"scanpay/d/{DEVICE_ID}/paid", qos=1)
        await theirs.subscribe("scanpay/d/#", qos=1)
        await pay_on_the_code(device, sandbox, "M2", 990)
        with pytest.raises(TimeoutError):
            await next_message(theirs, timeout_s=1.0)
    finally:
        await theirs.__aexit__(None, None, None)
    # Nobody logs in with a guessed password or none.
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", broker.port, username=DEVICE_ID, password="0" * 64):
            pass


async def test_the_broker_restarted_loses_nothing(device, broker, sandbox):
    announce = await info_announce(device)
    password = mqtt_password(device.key_hex)
    listener = await connected(broker, DEVICE_ID, password)
    await listener.subscribe(announce["topic"], qos=1)
    await pay_on_the_code(device, sandbox, "R1", 100)
    assert (await next_message(listener))["seq"] == 1
    await listener.__aexit__(None, None, None)

    broker.stop()
    # Paid while the broker is down: the server keeps trying, and the payment waits in `events`.
    await pay_on_the_code(device, sandbox, "R2", 200)
    broker.start()
    publisher = device.app[ANNOUNCER].publisher
    await asyncio.sleep(0.2)
    await asyncio.wait_for(publisher.connected.wait(), 15)

    # The device reconnects (its client survived the restart), catches up from its cursor, then listens.
    listener = await connected(broker, DEVICE_ID, password)
    try:
        await listener.subscribe(announce["topic"], qos=1)
        status, caught_up = await device.call("events", {"after": 1})
        assert status == 200 and [e["order_no"] for e in caught_up["events"]] == ["R2"]
        await pay_on_the_code(device, sandbox, "R3", 300)
        live = await next_message(listener)
        assert (live["seq"], live["order_no"]) == (3, "R3")
    finally:
        await listener.__aexit__(None, None, None)
