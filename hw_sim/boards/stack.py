"""The real payment server and channel sandboxes on loopback: the one stack the demo, the virtual boards and
every test that needs a server with sandboxes start.

    async with ServerStack(tmp_path, devices=("D0001",)) as stack:
        box = VirtualEnhancedBox(stack.url, "D0001", stack.keys["D0001"])
        status, answer = await stack.device("D0001").pay("T1", 1250, auth_code)

`server.app.create_app` with SQLite under `workdir` (or the `database` given), each of `channels` pointed at
its sandbox (hw_sim/sandbox/) with the sandbox's own credentials, resolver and channel timings shortened
(the payer who never types the password is reversed after `deadline_s`). The server's socket is bound on
port 0 before its URL goes into its settings (the URL in one-time and static codes is its own), so no
other process can take the port in between. Nothing here is scripted: what a device hears is what the
server and the sandboxes did.

Seed data: merchant `merchant_id` with one device per id in `devices` (key in `keys`), each bound to a
printed static code of its own (`static_codes`). Callers with other shops (tests/console) pass no devices
and `merchant_name=None`, and seed their own through `storage`.

`RecordingTransport` wraps the firmware's own HTTP client and keeps every exchange (path, request
headers, request body, status, response body), so tests and benchmarks can count bytes and read the
signing headers the device really sent.
"""
import asyncio
import contextlib
import os
import secrets
import socket

from hw_sim.boards.base import use_firmware
from hw_sim.device_client import DeviceClient

CHANNELS = ("wechat", "alipay", "unionpay")


def sandbox_channel_settings(channel, base_url):
    """[channels.<channel>] for a server whose `channel` is the sandbox at `base_url`: the sandbox's own
    identities and keys (hw_sim/sandbox/keys.py), as load_settings takes the section."""
    from hw_sim.sandbox import keys
    from server.settings import Secret
    if channel == "wechat":
        return {"enabled": True, "base_url": base_url}
    if channel == "alipay":
        from hw_sim.sandbox.alipay import SANDBOX_APP_ID
        return {"enabled": True, "base_url": base_url, "app_id": SANDBOX_APP_ID,
                "app_private_key": Secret(keys.ALIPAY_APP_PRIVATE_KEY),
                "alipay_public_key": keys.ALIPAY_PLATFORM_PUBLIC_KEY}
    if channel == "unionpay":
        from hw_sim.sandbox import unionpay
        return {"enabled": True, "base_url": base_url, "acq_code": unionpay.SANDBOX_ACQ_CODE,
                "mer_id": unionpay.SANDBOX_MER_ID, "sign_private_key": Secret(keys.UNIONPAY_ACQUIRER_PRIVATE_KEY),
                "sign_cert_id": unionpay.SANDBOX_ACQUIRER_CERT_ID,
                "unionpay_public_key": keys.UNIONPAY_PLATFORM_PUBLIC_KEY,
                "unionpay_cert_id": unionpay.SANDBOX_UNIONPAY_CERT_ID}
    raise ValueError("no sandbox for channel %r" % channel)


def _run_sandbox(channel):
    from hw_sim import sandbox
    return {"wechat": sandbox.run_wechat_sandbox, "alipay": sandbox.run_alipay_sandbox,
            "unionpay": sandbox.run_unionpay_sandbox}[channel]()


class ServerStack:
    def __init__(self, workdir, devices=("D0001",), *, channels=("wechat",), channel_options=None,
                 query_interval_s=0.2, deadline_s=3.0, cancel_retry_s=0.1, timeout_s=2.0,
                 merchant_id="M1", merchant_name="Tea House", store_name="Tea House, Nanjing Rd",
                 ops_token=None, release_public_key="", profile="enhanced_box", heartbeat_s=60, announce=None,
                 database=None, resolver=None, device_api=None, settings=None, shutdown_timeout=1.0, port=0,
                 backlog=128):
        """channels: the channels the server has, each with its sandbox; channel_options: more settings per
        channel ({"wechat": {"service_provider": True}}). query_interval_s .. timeout_s: every channel's
        timings (None: the server's default).
        ops_token, release_public_key: turn on the operations API (publish builds, roll them out:
        `tools release` works against this server); the devices are then registered as `profile`.
        heartbeat_s: the interval the server tells devices. announce: the server's [announce] settings
        (transport, speak_within_s, mqtt {host, port, username, password, provision, keepalive_s}).
        database: [database] (default SQLite under workdir); resolver, device_api: more of those sections;
        settings: any other sections ({"console": {...}, "throttle": {...}}).
        port: the server's (0: any free one; a taken one raises OSError); backlog: the connections it queues
        before accepting them (a benchmark's thousand devices want more)."""
        self.workdir = str(workdir)
        self.devices = devices
        self.channels = tuple(channels)
        self.channel_options = channel_options or {}
        self.timings = {name: value for name, value in (
            ("query_interval_s", query_interval_s), ("deadline_s", deadline_s),
            ("cancel_retry_s", cancel_retry_s), ("timeout_s", timeout_s)) if value is not None}
        self.merchant_id = merchant_id
        self.merchant_name = merchant_name
        self.store_name = store_name
        self.ops_token = ops_token
        self.release_public_key = release_public_key
        self.profile = profile
        self.heartbeat_s = heartbeat_s
        self.announce = announce or {}
        self.database = database
        self.resolver = {"tick_s": 0.05, "lease_s": 5.0} if resolver is None else resolver
        self.device_api = device_api or {}
        self.more_settings = settings or {}
        self.shutdown_timeout = shutdown_timeout
        self.port = port
        self.backlog = backlog
        self.sandboxes = {}             # channel -> its running sandbox
        self.keys = {}                  # device id -> its key (64 hex characters)
        self.static_codes = {}          # device id -> the id of the static code bound to it
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self):
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc):
        await self._stack.aclose()

    async def _start(self):
        import aiohttp
        from aiohttp import web

        from server.app import create_app
        from server.keys import STORAGE
        from server.settings import load_settings

        for channel in self.channels:
            self.sandboxes[channel] = await self._stack.enter_async_context(_run_sandbox(channel))
        self.sandbox = self.sandboxes.get("wechat")
        # the port first: the server's public URL (in one-time and static codes) must be its own
        listener = socket.socket()
        self._stack.callback(listener.close)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # a fixed port again right after a stop
        listener.bind(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        ops = {}
        if self.ops_token:
            ops = {"tokens": [self.ops_token], "release_public_key": self.release_public_key,
                   "firmware_dir": os.path.join(self.workdir, "firmware"), "min_settled": 1}
        device_api = {"public_url": self.url}
        if self.heartbeat_s is not None:
            device_api["heartbeat_s"] = self.heartbeat_s
        self.settings = load_settings(
            database=self.database or {"path": os.path.join(self.workdir, "scanpay.db")},
            device_api={**device_api, **self.device_api},
            ops=ops,
            resolver=self.resolver,
            announce=self.announce,
            channels={channel: {**sandbox_channel_settings(channel, sandbox.base_url), **self.timings,
                                **self.channel_options.get(channel, {})}
                      for channel, sandbox in self.sandboxes.items()},
            **{**self.more_settings,        # a sandbox setup: what `python -m server run` would refuse without
               "server": {"sandbox": True, **self.more_settings.get("server", {})}})
        self.app = create_app(self.settings)
        # a long poll still open at the end must not hold the shutdown for its whole wait
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        await web.SockSite(runner, listener, backlog=self.backlog).start()
        self.storage = self.app[STORAGE]
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._stack.push_async_callback(self.http.close)
        await self.seed()

    async def seed(self):
        """The merchant, its devices and their static codes (nothing with `merchant_name=None`); a demo or a
        test with shops of its own overrides this, the server and sandboxes running."""
        from server import static_codes

        if self.merchant_name is None:
            return
        await self.storage.add_merchant(self.merchant_id, self.merchant_name)
        # Each device says the payments of a static code of its own (a printed sticker bound on site).
        _, stickers = await static_codes.print_batch(self.storage, len(self.devices), actor="hw_sim") \
            if self.devices else (None, [])
        for device_id, sticker in zip(self.devices, stickers):
            key_hex = secrets.token_hex(32)
            device = await self.storage.add_device(device_id, self.merchant_id, self.store_name, key_hex)
            await static_codes.bind(self.storage, sticker.id, store_id=device.store_id, device_id=device_id,
                                    actor="hw_sim")
            self.static_codes[device_id] = sticker.id
            self.keys[device_id] = key_hex
            if self.ops_token:
                from server import rollouts
                await rollouts.set_device_profile(self.storage, device_id, self.profile, None)

    def device(self, device_id, key_hex=None):
        """`device_id`'s signed device-API client (its key from `keys` unless given)."""
        return DeviceClient(self.http, device_id, key_hex or self.keys[device_id], base_url=self.url)

    async def pay_static_code(self, device_id, amount_fen, payer="oPayer0001"):
        """A payer scans `device_id`'s static code in WeChat, types `amount_fen` and pays; the server
        learns of it as when the payer's page comes back (a query), as every C2B payment ends. The order."""
        import time

        from server import static_codes
        from server.device_messages import QrRequest
        from server.keys import PAYMENTS

        payee = await static_codes.payee(self.storage, self.static_codes[device_id])
        payments = self.app[PAYMENTS]
        order_no = "S%d%s" % (time.time() * 1000, secrets.token_hex(4))
        order = await payments.qr(payee.device, QrRequest(order_no=order_no, amount_fen=amount_fen),
                                  static_code=payee.code)
        return await self.pay_order(order, payer)

    async def pay_one_time_code(self, device_id, order_no, payer="oPayer0001"):
        """A payer pays the one-time code `device_id` showed for `order_no` (its `qr`). The order."""
        return await self.pay_order(await self.storage.get_order(device_id, order_no), payer)

    async def pay_order(self, order, payer="oPayer0001"):
        return await pay_in_wechat(self.app, self.sandbox, order, payer)

    @property
    def ledger(self):
        """The sandbox's money ledger (charges, refunds)."""
        return self.sandbox.ledger

    async def order(self, device_id, order_no):
        return await self.storage.get_order(device_id, order_no)


async def pay_in_wechat(app, sandbox, order, payer="oPayer0001"):
    """`payer` opens `order`'s code (one-time or static) in WeChat and pays at `sandbox`; the server learns of it
    as when the payer's page comes back (a query), the path every C2B payment ends on. The order after."""
    from server.channels import PrecreateCommand
    from server.keys import CHANNELS, PAYMENTS, STORAGE

    storage, payments, wechat = app[STORAGE], app[PAYMENTS], app[CHANNELS]["wechat"]
    assert await storage.engage_c2b_order(order.id, "wechat", payer)
    created = await wechat.precreate(PrecreateCommand(trade_no=order.trade_no, amount_fen=order.amount_fen,
                                                      subject=None, notify_url="http://127.0.0.1/n/wechat"))
    assert created.ok
    assert sandbox.pay_c2b(order.trade_no)
    order = await storage.get_order_by_id(order.id)
    return await payments.apply(order, await payments.query_channel(wechat, order), source="query")


class RecordingTransport:
    """The firmware's HttpClient, keeping a transcript of every exchange."""

    def __init__(self, url):
        use_firmware()
        from core.http import HttpClient
        self.client = HttpClient(url)
        self.exchanges = []         # (path, headers, body, status, response body)

    async def request(self, method, path, headers=None, body=b"", timeout_ms=None):
        response = await self.client.request(method, path, headers, body, timeout_ms)
        self.exchanges.append((path, dict(headers or {}), body, response.status, response.body))
        return response

    def paths(self):
        return [e[0] for e in self.exchanges]

    async def close(self):
        await self.client.close()


class Uplink:
    """The shop's line to the server: a TCP relay on loopback in front of `port`, which a test cuts (every
    connection closed at once, new ones closed as they come) and restores, as a router losing its 4G.

        async with Uplink(stack.port) as line:
            box = VirtualEnhancedBox(line.url, ...)
            line.cut(); ...; line.restore()
    """

    def __init__(self, port, host="127.0.0.1"):
        self.target = (host, port)
        self.down = False
        self._open = set()          # writers of both ends of every relayed connection
        self._tasks = set()
        self._server = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def cut(self):
        self.down = True
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    def restore(self):
        self.down = False

    async def _relay(self, reader, writer):
        if self.down:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._open.update((writer, up_writer))
        pumps = [asyncio.create_task(self._pump(reader, up_writer)), asyncio.create_task(self._pump(up_reader, writer))]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            for end in (writer, up_writer):
                self._open.discard(end)
                end.close()

    async def _pump(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

