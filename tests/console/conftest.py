"""Fixtures for the console tests: the real server and sandboxes (console_stack.py), headless Chromium.

    async def test_x(stack, page):
        await login(page, OPERATOR, PASSWORDS[OPERATOR])      # from tests.console.conftest import login
        await page.goto("/console/orders")                    # relative to the server's URL

`stack` has two merchants (TEA_SHOP, NOODLE_SHOP in console_stack.py), each with a store, a device and a
merchant user, an operator user, and five paid orders (T1001..T1003 of the tea house, N2001..N2002 of the
noodle shop). `console_storage` is a bare storage on SQLite and on PostgreSQL, for storage-level tests.
"""
from __future__ import annotations

import asyncio
import os
import secrets

import asyncpg
import pytest

from tests.console.console_stack import running_stack
from server.settings import DatabaseSettings
from server.storage import open_storage

PG_URL = os.environ.get("SCANPAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite"] if PG_URL == "off" else ["sqlite", "postgresql"]
# The server tests' prefix: their start-up sweep drops what a killed run of ours left behind too.
TEST_SCHEMA_PREFIX = "sp_test_"


@pytest.fixture
async def stack(request, tmp_path):
    """The running stack; `@pytest.mark.parametrize("stack", [{"resolver": False}], indirect=True)` passes
    running_stack's options."""
    async with running_stack(tmp_path, **getattr(request, "param", {})) as stack:
        yield stack


@pytest.fixture
async def page(browser, stack):
    """A fresh browser profile (no cookies) whose relative URLs go to the server."""
    context = await browser.new_context(base_url=stack.url, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


async def login(page, username: str, password: str) -> None:
    """Log in through the login form; returns on the page the console shows next."""
    await page.goto("/console/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    async with page.expect_navigation():
        await page.click("form button[type=submit]")


async def in_english(page, stack) -> None:
    """The header's language switch set to English (the console is Chinese by default): for tests about
    behaviour that read the pages' English texts. tests/console/test_layout_and_language.py covers both."""
    await page.context.add_cookies([{"name": "console_lang", "value": "en", "url": stack.url + "/console"}])


async def new_page(browser, stack):
    """A second, independent browser (another person, or another merchant) in the same test."""
    context = await browser.new_context(base_url=stack.url, locale="zh-CN")
    context.set_default_timeout(10_000)
    return await context.new_page()


async def _drop_schema(name: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
def console_database(request, tmp_path) -> dict[str, str]:
    """[database] settings of a fresh database on each backend (PostgreSQL: a schema of its own)."""
    if request.param == "sqlite":
        yield {"path": str(tmp_path / "scanpay.db")}
        return
    schema = f"{TEST_SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(_drop_schema(schema))
    except (OSError, asyncpg.PostgresError) as e:
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable ({e}); set SCANPAY_TEST_PG=off to test SQLite only")
    yield {"path": PG_URL, "schema": schema}
    asyncio.run(_drop_schema(schema))


@pytest.fixture
async def console_storage(console_database):
    async with open_storage(DatabaseSettings(**console_database)) as storage:
        yield storage
