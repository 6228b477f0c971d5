"""Payments said in the shop: the cloud speaker's job (云喇叭), done by every scanpay device.

Every C2B payment that succeeds (the shop's static code or a one-time code) is announced on the order's
device, the one bound to the code: "微信收款 25.80 元". The server numbers each device's announcements
without gaps (server/storage/announcements.py) the moment it learns of the payment, in the same place
every order is finished (Payments._finish), and then

- wakes the device's long poll of the `events` op (in this process at once, in the others by PostgreSQL
  NOTIFY), which answers the announcements above the number the device sends (`after`): the device
  keeps that number in flash, so nothing is said twice or missed across reconnects and reboots;
- with `[announce] transport = "mqtt"`, publishes it (QoS 1) to the device's topic at the acquirer's
  broker, `<topic_prefix><device id>/paid`, for devices that keep an MQTT connection instead of a poll.
  A device hears only its own topic: with `provision = true` the server creates each device's client in
  Mosquitto's dynamic security plugin (user name = device id, password derived from the device's key,
  `mqtt_password`) with a role of its own that may subscribe to its topic and nothing else. MQTT is the
  fast path, never the record: a device that (re)connects first catches up with `events`, and a number
  that jumps tells it it missed one.

An announcement the device learns of more than `speak_within_s` after the payment is shown, not spoken.
A process stopped between finishing an order and numbering its announcement leaves a gap that the next
start fills (`catch_up`), within the same window.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from .clock import now_ms
from .settings import AnnounceSettings
from .storage import DEVICE_ACTIVE, Device, Order, Storage
from .storage.announcements import Announcement, announcement_key
from .wakeups import LocalWakeups

log = logging.getLogger(__name__)

_MQTT_PASSWORD_LABEL = b"scanpay mqtt v1"
_DEVICE_ROLE = "scanpay-device"
_SERVER_ROLE = "scanpay-server"
_DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
_DYNSEC_TIMEOUT_S = 10.0
_QUEUE_MAX = 10_000                 # announcements waiting for the broker; older ones are left to `events`
_RECONNECT_S = (0.5, 1.0, 2.0, 5.0, 10.0)
_SETTLING_MS = 10_000               # catch_up leaves payments this recent to the process finishing them


def mqtt_password(key_hex: str) -> str:
    """The device's MQTT password: HMAC-SHA256 of a fixed label under its API key (core/announce.py on the
    device computes the same), so no second secret is provisioned and a new key changes it."""
    return hmac.new(bytes.fromhex(key_hex), _MQTT_PASSWORD_LABEL, hashlib.sha256).hexdigest()


def event_object(announcement: Announcement, *, now: int, speak_within_s: int) -> dict[str, Any]:
    """One announcement as the device API and the MQTT message carry it (docs/device-api.md, events)."""
    return {"seq": announcement.seq, "kind": "paid", "order_no": announcement.order_no,
            "channel": announcement.channel, "amount_fen": announcement.amount_fen,
            "paid_at": announcement.paid_at // 1000, "static_code": bool(announcement.static_code),
            "speak": now - announcement.paid_at <= speak_within_s * 1000}


class Announcer:
    def __init__(self, storage: Storage, wakeups: LocalWakeups, settings: AnnounceSettings,
                 publisher: MqttPublisher | None = None):
        self._storage = storage
        self._wakeups = wakeups
        self._settings = settings
        self._publisher = publisher

    @property
    def publisher(self) -> MqttPublisher | None:
        return self._publisher

    async def paid(self, order: Order) -> None:
        """`order` (C2B) has just succeeded: number its announcement, wake its device, publish it."""
        if not self._settings.enabled:
            return
        paid_at = order.finished_at or now_ms()
        seq = await self._storage.add_announcement(order, paid_at)
        if seq is None:
            return
        self._wakeups.notify(announcement_key(order.device_id))
        if self._publisher is not None:
            announcement = Announcement(seq=seq, order_no=order.order_no, channel=order.channel,
                                        amount_fen=order.amount_fen, paid_at=paid_at,
                                        static_code=1 if order.static_code else 0)
            self._publisher.publish(order.device_id, event_object(
                announcement, now=now_ms(), speak_within_s=self._settings.speak_within_s))

    async def catch_up(self) -> int:
        """Announce payments finished without a number (a process stopped, or its database failed, between
        the two): those of the last `speak_within_s`, leaving the last few seconds to the finishing process."""
        if not self._settings.enabled:
            return 0
        now = now_ms()
        missed = await self._storage.unannounced_payments(now - self._settings.speak_within_s * 1000,
                                                          now - _SETTLING_MS)
        for order_id in missed:
            order = await self._storage.get_order_by_id(order_id)
            if order is not None:
                await self.paid(order)
        if missed:
            log.warning("announced %d payment(s) left without a number", len(missed))
        return len(missed)

    async def keep_up(self, interval_s: float = 30.0) -> None:
        """catch_up now and every `interval_s` (in the processes that run the resolver)."""
        while True:
            try:
                await self.catch_up()
            except Exception:   # the database away: the next look tries again
                log.exception("announcement catch-up failed")
            await asyncio.sleep(interval_s)

    async def events(self, device: Device, after: int, wait_s: float) -> dict[str, Any]:
        """The `events` op: the device's announcements above `after`, waiting up to `wait_s` for one."""
        limit = self._settings.max_events
        with self._wakeups.watch(announcement_key(device.id)) as watch:
            page = await self._storage.announcements_after(device.id, after, limit)
            if not page.announcements and after <= page.last_seq and wait_s > 0 and await watch.wait(wait_s):
                page = await self._storage.announcements_after(device.id, after, limit)
        now = now_ms()
        if after > page.last_seq:
            # The device counts past anything this server numbered (its journal outlived a database
            # restored from backup): it starts again from the server's number, which the answer gives.
            return {"events": [], "cursor": page.last_seq, "reset": True}
        if after > 0:
            await self._storage.ack_announcements(device.id, after, now)
        events = [event_object(a, now=now, speak_within_s=self._settings.speak_within_s)
                  for a in page.announcements]
        cursor = events[-1]["seq"] if events else after
        return {"events": events, "cursor": cursor, "more": cursor < page.last_seq}

    def transport_for(self, device: Device) -> dict[str, Any]:
        """What `info` tells the device about announcements (and makes sure the broker knows it)."""
        if not self._settings.enabled:
            return {"transport": "none"}
        if self._publisher is None:
            return {"transport": "events"}
        self._publisher.provision(device)
        return {"transport": "mqtt", **self._publisher.address_for(device.id)}


class MqttPublisher:
    """One MQTT connection per server process (aiomqtt): publishes announcements, provisions devices."""

    def __init__(self, settings: AnnounceSettings, storage: Storage, owner: str):
        self._settings = settings.mqtt
        self._storage = storage
        self._client_id = f"scanpay-server-{owner}"[:64]
        self._queue: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue(_QUEUE_MAX)
        self._provisioned: dict[str, str] = {}      # device id -> fingerprint of the password the broker has
        self._correlation = 0
        self._provision_queue: asyncio.Queue[Device] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.published = 0

    def topic(self, device_id: str) -> str:
        return f"{self._settings.topic_prefix}{device_id}/paid"

    def address_for(self, device_id: str) -> dict[str, Any]:
        s = self._settings
        return {"host": s.device_host or s.host, "port": s.device_port or s.port, "topic": self.topic(device_id),
                "username": device_id, "keepalive_s": s.keepalive_s}

    def publish(self, device_id: str, event: dict[str, Any]) -> None:
        payload = json.dumps(event, separators=(",", ":")).encode()
        try:
            self._queue.put_nowait((self.topic(device_id), payload, now_ms()))
        except asyncio.QueueFull:
            log.warning("MQTT queue full: announcement %s for %s left to the events op", event["seq"], device_id)

    def provision(self, device: Device) -> None:
        """Make sure the broker has the device's client with its current password (no-op when it has)."""
        if self._settings.provision and device.key_hex and device.status == DEVICE_ACTIVE and \
                self._provisioned.get(device.id) != _fingerprint(mqtt_password(device.key_hex)):
            self._provision_queue.put_nowait(device)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MqttPublisher]:
        task = asyncio.create_task(self._run(), name="mqtt-publisher")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        import aiomqtt   # only where the acquirer runs a broker

        s = self._settings
        failures = 0
        while True:
            try:
                async with aiomqtt.Client(s.host, s.port, username=s.username or None,
                                          password=s.password.reveal() or None, identifier=self._client_id,
                                          keepalive=s.keepalive_s, timeout=10) as client:
                    log.info("MQTT broker %s:%d connected", s.host, s.port)
                    failures = 0
                    if s.provision:
                        await self._provision_all(client)
                    self.connected.set()
                    await self._serve(client)
            except asyncio.CancelledError:
                raise
            except Exception as e:   # the broker down, refusing us, or gone mid-publish: try again
                self.connected.clear()
                wait = _RECONNECT_S[min(failures, len(_RECONNECT_S) - 1)]
                failures += 1
                log.warning("MQTT broker %s:%d: %s; again in %.1f s", s.host, s.port, e, wait)
                await asyncio.sleep(wait)

    async def _serve(self, client: Any) -> None:
        while True:
            publish = asyncio.ensure_future(self._queue.get())
            provision = asyncio.ensure_future(self._provision_queue.get())
            done, pending = await asyncio.wait({publish, provision}, return_when=asyncio.FIRST_COMPLETED)
            for future in pending:
                future.cancel()
            if provision in done:
                # Devices ask `info` in crowds (a street's power comes back): one message for all waiting.
                batch = [provision.result()]
                while len(batch) < 100 and not self._provision_queue.empty():
                    batch.append(self._provision_queue.get_nowait())
                await self._dynsec(client, self._client_commands(batch))
            if publish in done:
                topic, payload, queued_at = publish.result()
                await client.publish(topic, payload, qos=1)
                self.published += 1
                log.debug("announced on %s (%d ms after the payment was numbered)", topic, now_ms() - queued_at)

    async def _dynsec(self, client: Any, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands to the broker's dynamic security plugin; its responses, one per command."""
        if not commands:
            return []
        self._correlation += 1
        tag = f"scanpay-{self._correlation}"
        commands = [{**command, "correlationData": f"{tag}-{i}"} for i, command in enumerate(commands)]
        await client.publish(_DYNSEC_TOPIC, json.dumps({"commands": commands}), qos=1)

        async def responses() -> list[dict[str, Any]]:
            async for message in client.messages:
                answer = json.loads(message.payload).get("responses", [])
                if answer and str(answer[-1].get("correlationData", "")).startswith(tag + "-"):
                    return answer
            raise ConnectionError("the broker closed the connection")
        return await asyncio.wait_for(responses(), _DYNSEC_TIMEOUT_S)

    async def _provision_all(self, client: Any) -> None:
        """At connect: the roles, our own role, and every device's client as the database says."""
        prefix, me = self._settings.topic_prefix, self._settings.username
        await client.subscribe(_DYNSEC_TOPIC + "/response", qos=1)
        # createRole answers an error for a role the broker has: harmless.
        await self._dynsec(client, [
            {"command": "createRole", "rolename": _SERVER_ROLE,
             "textdescription": "scanpay server: publishes announcements to the devices' topics",
             "acls": [{"acltype": "publishClientSend", "topic": f"{prefix}+/paid", "priority": 0, "allow": True}]}])
        (mine,) = await self._dynsec(client, [{"command": "getClient", "username": me}])
        roles = {role.get("rolename") for role in mine.get("data", {}).get("client", {}).get("roles", [])}
        if _SERVER_ROLE not in roles:
            # dynsec init made our user an admin, which may publish nowhere else. The broker disconnects a
            # client whose roles change: the next connection has the role.
            log.info("MQTT: giving %s the %s role (the broker reconnects us)", me, _SERVER_ROLE)
            # (QoS 0: the broker drops us rather than acknowledge it.)
            await client.publish(_DYNSEC_TOPIC, json.dumps({"commands": [
                {"command": "addClientRole", "username": me, "rolename": _SERVER_ROLE}]}), qos=0)
            raise ConnectionResetError("reconnecting with the new role")
        # What the broker has: each client's password fingerprint is its textdescription.
        known: dict[str, str] = {}
        offset = 0
        while True:
            (page,) = await self._dynsec(client, [{"command": "listClients", "verbose": True, "count": 500,
                                                   "offset": offset}])
            clients = page.get("data", {}).get("clients", [])
            for entry in clients:
                if _device_role(entry["username"]) in {role.get("rolename") for role in entry.get("roles", [])}:
                    known[entry["username"]] = entry.get("textdescription", "")
            if len(clients) < 500:
                break
            offset += 500
        self._provisioned = dict(known)
        devices = await self._storage.list_devices()
        active = [d for d in devices if d.key_hex and d.status == DEVICE_ACTIVE]
        for start in range(0, len(active), 100):
            await self._dynsec(client, self._client_commands(active[start:start + 100]))
        # A disabled or retired device loses its client: it hears nothing more.
        keep = {d.id for d in active}
        gone = [name for name in known if name not in keep]
        for start in range(0, len(gone), 50):
            await self._dynsec(client, [command for name in gone[start:start + 50] for command in (
                {"command": "deleteClient", "username": name}, {"command": "deleteRole", "rolename": _device_role(name)})])
        for name in gone:
            self._provisioned.pop(name, None)

    def _client_commands(self, devices: list[Device]) -> list[dict[str, Any]]:
        """Commands that give the broker each device's client with its current password, changing only
        what differs (the broker disconnects a client whose password changes)."""
        commands: list[dict[str, Any]] = []
        for device in devices:
            password = mqtt_password(device.key_hex)
            fingerprint = _fingerprint(password)
            have = self._provisioned.get(device.id)
            if have == fingerprint:
                continue
            if have is None:
                # A role of its own that may subscribe to exactly its topic (Mosquitto 2.0's dynamic security
                # does not fill %u into subscribe patterns, so one shared role cannot say "its own").
                commands += [{"command": "createRole", "rolename": _device_role(device.id),
                              "acls": [{"acltype": "subscribeLiteral", "topic": self.topic(device.id),
                                        "priority": 0, "allow": True}]},
                             {"command": "createClient", "username": device.id, "password": password,
                              "textdescription": fingerprint, "roles": [{"rolename": _device_role(device.id)}]}]
            else:
                commands.append({"command": "modifyClient", "username": device.id, "password": password,
                                 "textdescription": fingerprint})
            self._provisioned[device.id] = fingerprint
        return commands


def _device_role(device_id: str) -> str:
    return f"{_DEVICE_ROLE}:{device_id}"


def _fingerprint(password: str) -> str:
    """What the broker keeps beside a device's client to tell whether its password is current (not the password)."""
    return "key " + hashlib.sha256(password.encode()).hexdigest()[:16]
