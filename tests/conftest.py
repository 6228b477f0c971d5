"""Shared test fixtures. Area fixtures live in tests/<area>/conftest.py; tests/ is a package, so a test imports
its area's helpers by their package path (`from tests.console.conftest import login`)."""
import os

import pytest

from tests.loopback import CHROMIUM, CHROMIUM_ARGS, Mosquitto


@pytest.fixture(autouse=True)
def _no_config_from_environment(monkeypatch):
    """No test reads the developer's own server config or database: a server a test opens is the test's."""
    monkeypatch.delenv("SCANPAY_CONFIG", raising=False)
    monkeypatch.delenv("SCANPAY_DB", raising=False)


@pytest.fixture
async def browser():
    """Debian's headless Chromium through Playwright (tests/c2b, tests/console)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: make setup installs it (apt-get install chromium)")
    from playwright.async_api import async_playwright
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto of the test's own (dynamic security, no anonymous clients): tests/server, tests/hw_sim."""
    mosquitto = Mosquitto(tmp_path)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


def _printable(text: str) -> str:
    """`text` with lone surrogates spelled out: a report must cross to the xdist controller as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(text, str) else text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tests send hostile text on purpose (lone surrogates in URLs, tests/server/test_input_refusals.py); a log
    line or output quoting it is captured into the test's report, which pytest-xdist cannot send to the
    controller (UTF-8 refuses surrogates) and the whole run stops. The captured sections are made printable."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(title, _printable(text)) for title, text in report.sections]
    if isinstance(report.longrepr, str):
        report.longrepr = _printable(report.longrepr)
