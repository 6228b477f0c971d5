"""Fixtures for server tests: the real app from the factory, a real WeChat sandbox on loopback.

Every test that uses `database` (and so `device`, `start_server`, `storage`) runs twice: on SQLite and
on PostgreSQL (SCANPAY_TEST_PG, default postgresql://postgres@127.0.0.1:5432/test; "off" to skip).
On PostgreSQL each test gets a schema of its own (sp_test_<pid>_<random>), dropped afterwards;
schemas left by a killed run are dropped when the next run starts.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

import pytest

from hw_sim.boards.stack import pay_in_wechat
from hw_sim.device_client import DeviceClient
from hw_sim.sandbox import WeChatSandbox, run_wechat_sandbox
from server.app import create_app
from server.device_auth import new_device_key
from server.keys import STORAGE
from server.settings import AnnounceSettings, Settings, load_settings

DEVICE_ID = "D0001"
MERCHANT_ID = "M1"

PG_URL = os.environ.get("SCANPAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite"] if PG_URL == "off" else ["sqlite", "postgresql"]
TEST_SCHEMA_PREFIX = "sp_test_"


async def drop_schemas(names: list[str]) -> None:
    """Drop test schemas, first ending any session still holding locks in them (a connection a
    killed or cancelled test left mid-transaction), so a teardown never waits forever."""
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute("SET lock_timeout = '10s'")
        for name in names:
            await conn.execute(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                name)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _leftover_schemas() -> list[str]:
    """Test schemas of runs that are gone (their pid, in the name, is not running here)."""
    conn = await asyncpg.connect(PG_URL)
    try:
        rows = await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
                                TEST_SCHEMA_PREFIX.replace("_", r"\_") + "%")
    finally:
        await conn.close()
    leftovers = []
    for row in rows:
        pid = row["nspname"][len(TEST_SCHEMA_PREFIX):].split("_", 1)[0]
        if not pid.isdigit() or not _pid_alive(int(pid)):
            leftovers.append(row["nspname"])
    return leftovers


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    """The test database, cleared of schemas that a killed earlier run left behind."""
    try:
        leftovers = asyncio.run(_leftover_schemas())
    except (OSError, asyncpg.PostgresError) as e:
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({e}); set SCANPAY_TEST_PG=off to test SQLite only")
    if leftovers:
        asyncio.run(drop_schemas(leftovers))
    return PG_URL


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path) -> dict[str, str]:
    """[database] settings of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield {"path": str(tmp_path / "scanpay.db")}
        return
    url = request.getfixturevalue("postgres_ready")
    schema = f"{TEST_SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    yield {"path": url, "schema": schema}
    asyncio.run(drop_schemas([schema]))


@pytest.fixture
def pg_database(request) -> dict[str, str]:
    """[database] settings of a fresh PostgreSQL schema (for tests about several processes)."""
    if PG_URL == "off":
        pytest.skip("SCANPAY_TEST_PG=off")
    url = request.getfixturevalue("postgres_ready")
    schema = f"{TEST_SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    yield {"path": url, "schema": schema}
    asyncio.run(drop_schemas([schema]))


@pytest.fixture
def db_path(database) -> str:
    return database["path"]


@pytest.fixture
async def sandbox() -> WeChatSandbox:
    async with run_wechat_sandbox() as sandbox:
        yield sandbox


def test_settings(sandbox: WeChatSandbox, database: dict | str, resolver: dict | None = None,
                  device_api: dict | None = None, limits: dict | None = None, **wechat: Any) -> Settings:
    """Short schedules, so a whole payment lifecycle takes a second or two."""
    channel = {"base_url": sandbox.base_url, "timeout_s": 2.0, "query_interval_s": 0.2, "deadline_s": 3.0,
               "cancel_retry_s": 0.1, **wechat}
    if isinstance(database, str):
        database = {"path": database}
    return load_settings(database=database, resolver={"tick_s": 0.05, "lease_s": 5.0, **(resolver or {})},
                         device_api=device_api or {}, limits=limits or {}, channels={"wechat": channel})


test_settings.__test__ = False  # a helper, not a test


class Device(DeviceClient):
    """hw_sim's signed device-API client over the aiohttp test client (`client`); `app` is its server's."""

    def __init__(self, client, device_id: str, key_hex: str):
        super().__init__(client, device_id, key_hex)
        self.client = client


async def add_device(app, device_id: str = DEVICE_ID) -> str:
    storage = app[STORAGE]
    if await storage.get_merchant(MERCHANT_ID) is None:
        await storage.add_merchant(MERCHANT_ID, "Tea House")
    key_hex = new_device_key()
    await storage.add_device(device_id, MERCHANT_ID, "Tea House, Nanjing Rd", key_hex)
    return key_hex


@pytest.fixture
def start_server(database, aiohttp_client, sandbox) -> Callable[..., Awaitable[Device]]:
    """Start the server (again, on the same database) with the given WeChat settings; a device.

    `database` comes first: fixtures are torn down in reverse, so the server (its resolver and alert
    checks still running) stops before its PostgreSQL schema is dropped."""
    keys: dict[str, str] = {}

    async def start(resolver: dict | None = None, device_api: dict | None = None, limits: dict | None = None,
                    announce: AnnounceSettings | None = None, **wechat: Any) -> Device:
        settings = test_settings(sandbox, database, resolver, device_api, limits, **wechat)
        if announce is not None:
            settings = dataclasses.replace(settings, announce=announce)
        app = create_app(settings)
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
def count_rows(device) -> Callable[[], Awaitable[dict[str, int]]]:
    """Rows per table of the test database: `await count_rows()`."""
    async def count(tables=("orders", "order_events", "nonces")) -> dict[str, int]:
        return await device.app[STORAGE].table_counts(tables)
    return count


@pytest.fixture
def other_device(device) -> Callable[[str], Awaitable[Device]]:
    """A second device of the same merchant on the same server."""
    async def make(device_id: str) -> Device:
        other = Device(device.client, device_id, await add_device(device.app, device_id))
        other.app = device.app
        return other
    return make


async def pay_on_the_code(device: Device, sandbox, order_no: str, amount_fen: int, *, payer="oPayer0001"):
    """A payer scans the device's one-time code in WeChat and pays (hw_sim's pay_in_wechat)."""
    status, answer = await device.qr(order_no, amount_fen)
    assert status == 200, answer
    return await pay_in_wechat(device.app, sandbox,
                               await device.app[STORAGE].get_order(device.device_id, order_no), payer)
