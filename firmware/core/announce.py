# Payments said in the shop (docs/device-api.md, `events`): every C2B payment on a code bound to this
# device — the shop's static code, or a one-time code it showed — is said ("微信收款 25.80 元",
# core/texts.py) within a second of the server learning of it, or only shown when the server marks it
# old (`speak: false`). Runs beside the app on every profile with a voice (box, stand, gun, speaker).
#
# How the events come:
#   transport "events" (default): a long poll of `events` {after: cursor, wait: 20} on a connection of its
#     own (DeviceApi.sibling): on the payment's connection a 20 s poll would make a payment wait behind it.
#   transport "mqtt": umqtt.simple (micropython-lib, frozen into the image) logged in as the device (user =
#     device id, password = hex HMAC-SHA256 of b"scanpay mqtt v1" under the device key), subscribed to
#     info.announce.topic at QoS 1 with a clean session. MQTT is the fast path, `events` the record: after
#     every (re)connect it first catches up with `events` (wait 0); a message at or below the cursor is
#     dropped, one more than one above it means some were missed: `events` again. While the broker cannot
#     be reached, the backoff before the next try is spent in an `events` long poll, so nothing waits for
#     the broker. umqtt.simple is blocking: connect and subscribe hold the event loop for one round trip
#     to the broker (timeout `mqtt_timeout_s`); messages are read with check_msg() every `mqtt_poll_ms`.
#   The heartbeat's `announce_seq` above the cursor (behind()) cuts the wait short: poll at once.
#
# Said once, never twice, never lost:
#   - the cursor (the highest number said or shown) is saved in flash after each event, never before:
#     a reboot in between says that event again rather than never. `reset: true` adopts the server's.
#   - an event for an order this device is following itself (it showed that one-time code; its `query`
#     says the result) is left to the payment: it waits until the app is idle and is then skipped if the
#     app said that order (app.said_orders). The events of a payment in progress never interrupt it:
#     every event waits until the app is idle (no payment, no amount being typed, no result on show).
#
# Where the cursor lives: a file of its own (`announce_path`, default <fs_root>/announce.json), one line
# of JSON, written to `<path>.new` and renamed over the old one, as the journal converts itself: a power
# cut leaves the old or the new number. Not a slot of the journal: the journal's header slot is its salt
# and order counter, written with every order; a cursor written with every announcement beside them
# would change the journal's format and its power-cut tests for one integer. If a rename on FAT was cut
# after deleting the old file, the complete `.new` is taken.
import asyncio
import json
import os

from core import api as api_mod
from core.compat import asleep_ms, ticks_diff, ticks_ms
from core.hmac_sha256 import hmac_sha256_hex
from core.http import NetworkError

EVENTS = "events"
MQTT = "mqtt"
NONE = "none"
_MQTT_LABEL = b"scanpay mqtt v1"
_replace = getattr(os, "replace", os.rename)


def mqtt_password(key):
    """The device's MQTT password: lower-case hex HMAC-SHA256 keyed with its 32-byte key."""
    return hmac_sha256_hex(key, _MQTT_LABEL)


def load_cursor(path):
    """The cursor saved at `path` (or its complete `.new`, see the header); 0 when none."""
    for name in (path, path + ".new"):
        try:
            with open(name) as f:
                cursor = json.loads(f.read()).get("cursor")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(cursor, int) and cursor >= 0:
            return cursor
    return 0


def save_cursor(path, cursor):
    with open(path + ".new", "w") as f:
        f.write(json.dumps({"cursor": cursor}))
    _replace(path + ".new", path)


class Announcer:
    wait_s = 20                 # long poll per `events` request
    idle_poll_ms = 200          # how often a waiting event looks whether the app is idle
    retry_ms = 1000             # first pause after a failure, doubled up to max_retry_ms
    max_retry_ms = 30000
    info_wait_ms = 5000         # at start-up: time for the app's own `info` before asking it here
    mqtt_poll_ms = 100          # check_msg() this often: within a second of the broker
    mqtt_timeout_s = 5          # connect / subscribe to the broker

    def __init__(self, api, app, path, mqtt_client=None, key=None):
        """api: a DeviceApi (a sibling on its own connection, except on the speaker). app: has idle(),
        emit(), info, load_info(), said_orders and announce(event, speak). mqtt_client: umqtt.simple's
        MQTTClient class (None: long poll only). key: the 32 raw key bytes (the MQTT password)."""
        self.api = api
        self.app = app
        self.path = path
        self.cursor = load_cursor(path)
        self.mqtt_client = mqtt_client
        self._key = key
        self.transport = None           # what the server's info.announce chose, once known
        self._kicked = False            # behind() interrupted the poll on purpose
        self._poll = None
        self._inbox = []                # MQTT messages not yet handled
        self._behind = False
        self._task = None

    # ------------------------------------------------------------------------ the loop
    async def run(self):
        info = await self._info()
        announce = info.get("announce") if isinstance(info, dict) else None
        self.transport = (announce or {}).get("transport") or EVENTS
        self.app.emit("announce_start", transport=self.transport, cursor=self.cursor)
        if self.transport == NONE:
            return
        if self.transport == MQTT and self.mqtt_client is not None:
            await self._run_mqtt(announce)
        else:
            await self._run_events()

    async def _info(self):
        start = ticks_ms()
        while self.app.info is None and ticks_diff(ticks_ms(), start) < self.info_wait_ms:
            await asleep_ms(self.idle_poll_ms)
        pause = self.retry_ms
        while self.app.info is None:
            if await self.app.load_info() is not None:
                break
            await asleep_ms(pause)
            pause = min(pause * 2, self.max_retry_ms)
        return self.app.info

    async def _run_events(self):
        pause = self.retry_ms
        while True:
            try:
                more = await self.poll(self.wait_s)
                pause = self.retry_ms
            except (NetworkError, api_mod.ApiError) as e:
                self._failed(e)
                await asleep_ms(pause)
                pause = min(pause * 2, self.max_retry_ms)
                continue
            if more is None:
                await asleep_ms(self.retry_ms)      # an answer without events: do not hammer

    def behind(self, seq):
        """The heartbeat's announce_seq: above the cursor, ask `events` now (an MQTT link that dropped
        silently, a long poll on a dead connection)."""
        if not isinstance(seq, int) or seq <= self.cursor:
            return
        self._behind = True
        poll = self._poll
        if poll is not None and self.transport != MQTT:
            self._kicked = True
            poll.cancel()

    async def poll(self, wait_s):
        """One `events` request from the cursor, its events said or shown; True if more are waiting,
        False if not, None for an answer that was not understood."""
        self._behind = False
        self._poll = asyncio.create_task(self.api.events(self.cursor, wait_s))
        try:
            answer = await self._poll
        except asyncio.CancelledError:
            if not self._kicked:
                raise
            self._kicked = False
            return True                             # behind(): again at once
        finally:
            self._poll = None
        self._link(True)
        events = answer.get("events")
        if answer.get("reset") and isinstance(answer.get("cursor"), int):
            self.app.emit("announce_reset", cursor=answer["cursor"], was=self.cursor)
            self._save(answer["cursor"])
            return True
        if not isinstance(events, list):
            return None
        for event in events:
            await self.handle(event, EVENTS)
        return bool(answer.get("more"))

    async def catch_up(self):
        """`events` with wait 0 until nothing more is waiting."""
        while await self.poll(0):
            pass

    async def handle(self, event, via=EVENTS):
        """One event: said (speak) or shown, once, when the app is idle; then the cursor is saved."""
        seq = event.get("seq") if isinstance(event, dict) else None
        if not isinstance(seq, int) or seq <= self.cursor:
            return
        order_no = event.get("order_no")
        if order_no not in self.app.said_orders:
            while not self.app.idle():
                await asleep_ms(self.idle_poll_ms)
        if order_no in self.app.said_orders:
            self.app.emit("announce", seq=seq, order_no=order_no, said=False, own=True, via=via)
        else:
            self.app.announce(event, event.get("speak") is not False, via)
        self._save(seq)

    def _save(self, cursor):
        self.cursor = cursor
        try:
            save_cursor(self.path, cursor)
        except OSError as e:        # a full or worn flash: say on, the next boot may repeat one
            self.app.emit("error", where="announce", message="cursor not saved: %s" % e)

    def _failed(self, e):
        self.app.emit("error", where="announce", message=str(e))
        if isinstance(e, NetworkError):
            self._link(False)

    def _link(self, up):
        on_link = getattr(self.app, "on_link", None)    # the app says a link that went down (core/app.py)
        if on_link is not None:
            on_link(up)

    # ------------------------------------------------------------------------ MQTT
    def _on_message(self, topic, msg):
        # umqtt.simple's callback, inside check_msg(): only queue it, handle it in the task
        try:
            event = json.loads(msg)
        except ValueError:
            return
        if isinstance(event, dict) and isinstance(event.get("seq"), int):
            self._inbox.append(event)

    def _connect(self, announce):
        device_id = self.api.device_id
        make = self.mqtt_client
        if make is None:
            raise OSError("no MQTT client in this image")
        client = make(device_id, announce.get("host"), announce.get("port") or 1883,
                                  announce.get("username") or device_id, mqtt_password(self._key),
                                  announce.get("keepalive_s") or 60)
        client.set_callback(self._on_message)
        try:
            try:
                client.connect(True, self.mqtt_timeout_s)
            except TypeError:           # an older umqtt.simple without the timeout
                client.connect(True)
            client.subscribe(announce["topic"], 1)
        except Exception:
            _close(client)              # refused half-way: its socket is not left open
            raise
        return client

    async def _run_mqtt(self, announce):
        pause = self.retry_ms
        keepalive_ms = (announce.get("keepalive_s") or 60) * 1000
        while True:
            client = None
            try:
                try:
                    client = self._connect(announce)
                except Exception as e:      # refused, unreachable, MQTTException: the broker is away
                    self.app.emit("error", where="mqtt", message="%s: %s" % (type(e).__name__, e))
                    # the backoff spent in a long poll: the record keeps the shop informed meanwhile
                    try:
                        await self.poll(max(1, pause // 1000))
                    except (NetworkError, api_mod.ApiError) as e:
                        self._failed(e)
                        await asleep_ms(pause)
                    pause = min(pause * 2, self.max_retry_ms)
                    continue
                self.app.emit("mqtt", connected=True)
                pause = self.retry_ms
                self._inbox = []
                await self.catch_up()
                pinged = ticks_ms()
                while True:
                    while client.check_msg() is not None:
                        pass
                    while self._inbox:
                        event = self._inbox.pop(0)
                        seq = event["seq"]
                        if seq <= self.cursor:
                            continue                # handled already (by the catch-up)
                        if seq > self.cursor + 1:
                            await self.catch_up()   # some were missed: the record has them
                        else:
                            await self.handle(event, MQTT)
                    if self._behind:
                        await self.catch_up()
                    if ticks_diff(ticks_ms(), pinged) > keepalive_ms // 2:
                        client.ping()
                        pinged = ticks_ms()
                    await asleep_ms(self.mqtt_poll_ms)
            except (NetworkError, api_mod.ApiError) as e:
                self._failed(e)
                await asleep_ms(pause)
            except (OSError, IndexError, AssertionError) as e:
                # the broker went away (umqtt reads b"" and raises OSError, or a short read)
                self.app.emit("mqtt", connected=False, message="%s: %s" % (type(e).__name__, e))
                await asleep_ms(pause)
                pause = min(pause * 2, self.max_retry_ms)
            finally:
                if client is not None:
                    _close(client)


def _close(client):
    sock = getattr(client, "sock", None)
    if sock is not None:
        try:
            sock.close()
        except Exception:           # reset by the broker already
            pass


def mqtt_client_class():
    """umqtt.simple's MQTTClient when the image has it (frozen, tools build), else None."""
    try:
        from umqtt.simple import MQTTClient
    except ImportError:
        return None
    return MQTTClient


def add_announcer(app, config, api, mqtt_client=None):
    """Give an app with a voice its announcer. api: the DeviceApi it polls with (a sibling of the app's
    on a connection of its own, core/app.py); mqtt_client: umqtt.simple's MQTTClient (default: the
    frozen one, if the image has it)."""
    path = config.get("announce_path") or config.get("fs_root", "/").rstrip("/") + "/announce.json"
    if mqtt_client is None:
        mqtt_client = mqtt_client_class()
    app.announcer = Announcer(api, app, path, mqtt_client, api.key)
    return app.announcer
