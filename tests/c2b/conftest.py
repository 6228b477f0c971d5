"""Fixtures for the landing-page tests (helpers in c2b_stack.py)."""
import os

import pytest

from c2b_stack import CHROMIUM, CHROMIUM_ARGS, running_stack


@pytest.fixture
async def stack(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANPAY_CONFIG", raising=False)
    monkeypatch.delenv("SCANPAY_DB", raising=False)
    async with running_stack(tmp_path) as stack:
        yield stack


@pytest.fixture
async def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.async_api import async_playwright
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            await browser.close()
