"""Fixtures for server tests: the real app from the factory, a real WeChat sandbox on loopback."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import cbor2
import pytest

from hw_sim.sandbox import WeChatSandbox, run_wechat_sandbox
from server.app import create_app
from server.device_auth import new_device_key, sign_request
from server.keys import STORAGE
from server.settings import Settings, load_settings

DEVICE_ID = "D0001"
MERCHANT_ID = "M1"


@pytest.fixture(autouse=True)
def _no_config_from_environment(monkeypatch):
    monkeypatch.delenv("SCANPAY_CONFIG", raising=False)
    monkeypatch.delenv("SCANPAY_DB", raising=False)


@pytest.fixture
async def sandbox() -> WeChatSandbox:
    async with run_wechat_sandbox() as sandbox:
        yield sandbox


def test_settings(sandbox: WeChatSandbox, db_path: str, resolver: dict | None = None, **wechat: Any) -> Settings:
    """Short schedules, so a whole payment lifecycle takes a second or two."""
    channel = {"base_url": sandbox.base_url, "timeout_s": 2.0, "query_interval_s": 0.2, "deadline_s": 3.0,
               "cancel_retry_s": 0.1, **wechat}
    return load_settings(database={"path": db_path}, resolver={"tick_s": 0.05, "lease_s": 5.0, **(resolver or {})},
                         channels={"wechat": channel})


test_settings.__test__ = False  # a helper, not a test


class Device:
    """A signed device-API client over the aiohttp test client."""

    def __init__(self, client, device_id: str, key_hex: str):
        self.client = client
        self.device_id = device_id
        self.key_hex = key_hex

    async def post(self, op: str, body: bytes, *, content_type: str = "application/json",
                   headers: dict[str, str] | None = None, sign: bool = True, **sign_args) -> tuple[int, dict]:
        path = f"/d/v1/{op}"
        all_headers = {"Content-Type": content_type}
        if sign:
            all_headers.update(sign_request(self.device_id, self.key_hex, path, body, **sign_args))
        all_headers.update(headers or {})
        resp = await self.client.post(path, data=body, headers=all_headers)
        raw = await resp.read()
        assert resp.headers["X-Server-Time"].isdigit()
        if resp.content_type == "application/cbor":
            return resp.status, cbor2.loads(raw)
        return resp.status, json.loads(raw)

    async def call(self, op: str, message: dict, *, fmt: str = "json", **kw) -> tuple[int, dict]:
        if fmt == "cbor":
            return await self.post(op, cbor2.dumps(message), content_type="application/cbor", **kw)
        return await self.post(op, json.dumps(message).encode(), **kw)

    async def pay(self, order_no: str, amount_fen: int, auth_code: str, **kw) -> tuple[int, dict]:
        return await self.call("pay", {"order_no": order_no, "amount_fen": amount_fen, "auth_code": auth_code}, **kw)

    async def query(self, order_no: str, wait: int = 0, **kw) -> tuple[int, dict]:
        return await self.call("query", {"order_no": order_no, "wait": wait}, **kw)


async def add_device(app, device_id: str = DEVICE_ID) -> str:
    storage = app[STORAGE]
    if await storage.get_merchant(MERCHANT_ID) is None:
        await storage.add_merchant(MERCHANT_ID, "Tea House")
    key_hex = new_device_key()
    await storage.add_device(device_id, MERCHANT_ID, "Tea House, Nanjing Rd", key_hex)
    return key_hex


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "scanpay.db")


@pytest.fixture
def start_server(aiohttp_client, sandbox, db_path) -> Callable[..., Awaitable[Device]]:
    """Start the server (again, on the same database) with the given WeChat settings; a device."""
    keys: dict[str, str] = {}

    async def start(resolver: dict | None = None, **wechat: Any) -> Device:
        app = create_app(test_settings(sandbox, db_path, resolver, **wechat))
        client = await aiohttp_client(app)
        if DEVICE_ID not in keys:
            keys[DEVICE_ID] = await add_device(app)
        device = Device(client, DEVICE_ID, keys[DEVICE_ID])
        device.app = app
        return device

    return start


@pytest.fixture
async def device(start_server) -> Device:
    return await start_server()


@pytest.fixture
def count_rows(db_path) -> Callable[[], dict[str, int]]:
    """Rows per table of the test database, read through a connection of its own."""
    def count() -> dict[str, int]:
        db = sqlite3.connect(db_path)
        try:
            return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                    for table in ("orders", "order_events", "nonces")}
        finally:
            db.close()
    return count


@pytest.fixture
def other_device(device) -> Callable[[str], Awaitable[Device]]:
    """A second device of the same merchant on the same server."""
    async def make(device_id: str) -> Device:
        other = Device(device.client, device_id, await add_device(device.app, device_id))
        other.app = device.app
        return other
    return make
