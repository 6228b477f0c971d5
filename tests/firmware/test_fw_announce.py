"""core/announce.py on its own, with a stand-in server and MQTT client (the virtual boards hear the real
server and Mosquitto in tests/hw_sim/test_board_announce*.py): the cursor in flash survives a power cut at
any point of its save, a reset adopts the server's number, a heartbeat ahead of a stuck poll makes it ask
at once, and over MQTT a repeat is dropped and a gap is filled from `events`."""
import asyncio
import json

import pytest

from core import announce
from core.announce import Announcer, load_cursor, save_cursor
from core.hmac_sha256 import hmac_sha256_hex

KEY = bytes(range(32))


def paid(seq, amount_fen=2580, speak=True, order_no=None):
    return {"seq": seq, "kind": "paid", "order_no": order_no or "S%d" % seq, "channel": "wechat",
            "amount_fen": amount_fen, "paid_at": 1765012346, "static_code": True, "speak": speak}


class Server:
    """`events` answers from a list of announcements; `hold` makes the next long poll never answer."""

    def __init__(self, events=()):
        self.events = list(events)
        self.asked = []             # (after, wait) of every request
        self.hold = False
        self.device_id = "S0001"
        self.key = KEY

    async def events_(self, after, wait=0):
        self.asked.append((after, wait))
        last = max([e["seq"] for e in self.events] or [0])
        if after > last:                            # above every number given: a restored database
            return {"events": [], "cursor": last, "reset": True}
        if self.hold and wait:
            self.hold = False
            await asyncio.sleep(3600)               # a connection that died without either side knowing
        above = [e for e in self.events if e["seq"] > after]
        if not above and wait:
            await asyncio.sleep(min(wait, 0.05))
        return {"events": above[:2], "cursor": above[:2][-1]["seq"] if above else after, "more": len(above) > 2}


class Api:
    def __init__(self, server):
        self.server = server
        self.device_id = server.device_id
        self.key = KEY

    async def events(self, after, wait=0):
        return await self.server.events_(after, wait)


class App:
    """What the announcer asks of an app: idle, info, said_orders, announce, emit."""

    def __init__(self, announce_info=None):
        self.info = {"announce": announce_info or {"transport": "events"}}
        self.said_orders = []
        self.busy = False
        self.heard = []             # (seq, amount_fen, spoken, via)
        self.log = []

    def idle(self):
        return not self.busy

    async def load_info(self):
        return self.info

    def announce(self, event, speak, via="events"):
        self.heard.append((event["seq"], event["amount_fen"], speak, via))

    def emit(self, kind, **fields):
        self.log.append(dict(fields, event=kind))


def announcer(tmp_path, server, app=None, mqtt_client=None):
    app = app or App()
    a = Announcer(Api(server), app, str(tmp_path / "announce.json"), mqtt_client, KEY)
    a.idle_poll_ms = 10
    a.retry_ms = 10
    return a, app


async def until(done, timeout=3.0):
    for _ in range(int(timeout / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within %s s" % timeout)


def test_the_cursor_survives_a_power_cut_at_any_point_of_its_save(tmp_path):
    path = str(tmp_path / "announce.json")
    assert load_cursor(path) == 0                                   # a new device
    save_cursor(path, 41)
    assert load_cursor(path) == 41
    # cut while writing the new number: a half-written .new beside the old file
    with open(path + ".new", "w") as f:
        f.write('{"curs')
    assert load_cursor(path) == 41
    # cut after the .new was complete, before the rename: the old one is still the cursor
    with open(path + ".new", "w") as f:
        f.write(json.dumps({"cursor": 42}))
    assert load_cursor(path) == 41
    # FAT's rename deleted the old file first and was cut there: the complete .new is taken
    (tmp_path / "announce.json").unlink()
    assert load_cursor(path) == 42
    save_cursor(path, 43)
    assert load_cursor(path) == 43 and not (tmp_path / "announce.json.new").exists()


async def test_each_event_is_said_once_and_the_cursor_saved_after_it(tmp_path):
    server = Server([paid(1, 2580), paid(2, 990, speak=False), paid(3, 100)])
    a, app = announcer(tmp_path, server)
    app.busy = True                                     # a payment under way: nothing is said meanwhile
    task = asyncio.create_task(a.run())
    await asyncio.sleep(0.2)
    assert app.heard == [] and load_cursor(a.path) == 0
    app.busy = False
    await until(lambda: len(app.heard) == 3)
    assert app.heard == [(1, 2580, True, "events"), (2, 990, False, "events"), (3, 100, True, "events")]
    assert load_cursor(a.path) == 3
    task.cancel()
    # rebooted: the same server, nothing said again
    again, app2 = announcer(tmp_path, server)
    task = asyncio.create_task(again.run())
    await asyncio.sleep(0.2)
    task.cancel()
    assert app2.heard == [] and server.asked[-1][0] == 3


async def test_an_order_the_app_said_itself_is_not_said_again(tmp_path):
    server = Server([paid(1, 68800, order_no="D0001-ab-000007")])
    a, app = announcer(tmp_path, server)
    app.said_orders.append("D0001-ab-000007")           # its own query said it
    task = asyncio.create_task(a.run())
    await until(lambda: load_cursor(a.path) == 1)
    task.cancel()
    assert app.heard == [] and [e for e in app.log if e["event"] == "announce"][0]["own"]


async def test_a_reset_adopts_the_servers_number(tmp_path):
    save_cursor(str(tmp_path / "announce.json"), 50)    # the server's database came back from a backup
    server = Server([paid(1), paid(2), paid(3)])
    a, app = announcer(tmp_path, server)
    task = asyncio.create_task(a.run())
    await until(lambda: load_cursor(a.path) == 3)       # the server's number, nothing said for it
    server.events.append(paid(4, 400))
    await until(lambda: app.heard)
    task.cancel()
    assert app.heard == [(4, 400, True, "events")] and load_cursor(a.path) == 4


async def test_a_heartbeat_ahead_of_a_stuck_poll_makes_it_ask_at_once(tmp_path):
    server = Server()
    server.hold = True
    a, app = announcer(tmp_path, server)
    task = asyncio.create_task(a.run())
    await until(lambda: a._poll is not None)
    server.events.append(paid(1))
    await asyncio.sleep(0.2)
    assert app.heard == []                              # the poll hangs on a dead connection
    a.behind(0)                                         # the heartbeat says 0: nothing to do
    await asyncio.sleep(0.1)
    assert app.heard == []
    a.behind(1)                                         # the heartbeat's announce_seq is ahead
    await until(lambda: app.heard)
    task.cancel()
    assert app.heard == [(1, 2580, True, "events")]


class Broker:
    """umqtt.simple's MQTTClient as the announcer uses it; `publish` queues a message for check_msg()."""

    instances = []

    def __init__(self, client_id, server, port, user, password, keepalive):
        self.login = (client_id, server, port, user, password, keepalive)
        self.cb = None
        self.queue = []
        self.topics = []
        self.sock = self
        Broker.instances.append(self)

    def set_callback(self, cb):
        self.cb = cb

    def connect(self, clean_session=True, timeout=None):
        self.clean = clean_session

    def subscribe(self, topic, qos=0):
        self.topics.append((topic, qos))

    def check_msg(self):
        if not self.queue:
            return None
        self.cb(b"topic", json.dumps(self.queue.pop(0)).encode())
        return 0x30

    def ping(self):
        pass

    def close(self):
        pass


async def test_over_mqtt_a_repeat_is_dropped_and_a_gap_filled_from_events(tmp_path):
    Broker.instances = []
    server = Server([paid(1)])
    info = {"transport": "mqtt", "host": "broker", "port": 1883, "topic": "scanpay/d/S0001/paid",
            "username": "S0001", "keepalive_s": 60}
    a, app = announcer(tmp_path, server, App(info), mqtt_client=Broker)
    task = asyncio.create_task(a.run())
    await until(lambda: Broker.instances and app.heard)
    broker = Broker.instances[0]
    assert broker.login == ("S0001", "broker", 1883, "S0001", hmac_sha256_hex(KEY, b"scanpay mqtt v1"), 60)
    assert broker.topics == [("scanpay/d/S0001/paid", 1)] and broker.clean
    assert app.heard == [(1, 2580, True, "events")]     # caught up with `events` first
    broker.queue.append(paid(1))                        # the same one again over MQTT: dropped
    broker.queue.append(paid(2, 990))
    server.events.append(paid(2, 990))
    await until(lambda: len(app.heard) == 2)
    server.events += [paid(3, 300), paid(4, 400)]
    broker.queue.append(paid(4, 400))                   # 3 never came over MQTT: `events` fills it
    await until(lambda: len(app.heard) == 4)
    await asyncio.sleep(0.1)
    task.cancel()
    assert app.heard == [(1, 2580, True, "events"), (2, 990, True, "mqtt"), (3, 300, True, "events"),
                         (4, 400, True, "events")]
    assert load_cursor(a.path) == 4


def test_the_mqtt_password_is_the_servers():
    server_announce = pytest.importorskip("server.announce")
    key_hex = KEY.hex()
    assert announce.mqtt_password(KEY) == server_announce.mqtt_password(key_hex)
