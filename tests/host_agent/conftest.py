"""Fixtures for the host agent's tests: real pseudo-terminals for the POS and the box, and a real
payment server with the WeChat sandbox on loopback for the end-to-end payments."""
import contextlib
import logging

import pytest
from aiohttp import web

from hw_sim.pos.pole_display import PseudoSerial
from hw_sim.sandbox import run_wechat_sandbox
from server.app import create_app
from server.devices import register_device
from server.keys import STORAGE
from server.settings import load_settings
from agent_test_peers import ScriptedBox

AGENT_ID = "PC0001"


@pytest.fixture
def pty_pair():
    """Opens pseudo-terminals and closes them after the test."""
    opened = []

    def make():
        port = PseudoSerial()
        opened.append(port)
        return port

    yield make
    for port in opened:
        port.close()


@pytest.fixture
def scripted_box():
    boxes = []

    def make(**kw):
        box = ScriptedBox(**kw)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.close()


class PaymentServer:
    """The scanpay server and the WeChat sandbox on 127.0.0.1, with the agent registered as a device."""

    def __init__(self, db_path):
        self.db_path = db_path
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self):
        self.sandbox = await self._stack.enter_async_context(run_wechat_sandbox(port=0))
        settings = load_settings(
            database={"path": str(self.db_path)},
            resolver={"tick_s": 0.05, "lease_s": 5.0},
            channels={"wechat": {"base_url": self.sandbox.base_url, "timeout_s": 2.0,
                                 "query_interval_s": 0.2, "deadline_s": 6.0, "cancel_retry_s": 0.1}})
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = "http://127.0.0.1:%d" % site._server.sockets[0].getsockname()[1]
        self.storage = app[STORAGE]
        self.key_hex = await register_device(self.storage, AGENT_ID, "M0001", "收银台 1",
                                             merchant_name="老王便利店")
        return self

    async def __aexit__(self, *exc):
        await self._stack.aclose()


@pytest.fixture
async def payment_server(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANPAY_CONFIG", raising=False)
    monkeypatch.delenv("SCANPAY_DB", raising=False)
    async with PaymentServer(tmp_path / "server.db") as server:
        yield server


@pytest.fixture
def agent_log(caplog):
    caplog.set_level(logging.INFO)
    return caplog
