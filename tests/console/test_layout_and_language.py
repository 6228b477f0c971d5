"""Every console page, as an operator and as a shop owner, on a desktop (1366 px) and on a phone (390 px):
the document never scrolls sideways, and in Chinese (the default) no English interface word is left; with the
header's switch the same pages are in English (docs/console.md, "Languages" and "On a phone").

The pages are the app's own GET routes under /console (a route added later fails here until it is listed),
each with ids of the stack's data. What is data, not interface, is taken out before looking for words: the
stack's ids, numbers, names and users, times and money, and elements marked translate="no" (journal entries
and the channel's raw answers, shown as recorded).
"""
from __future__ import annotations

import datetime
import hashlib
import re

import pytest

from tests.console.conftest import login
from tests.console.console_stack import NOODLE_SHOP, OPERATOR, PASSWORDS, TEA, TEA_SHOP
from server import rollouts, static_codes
from server.console import i18n
from server.device_auth import new_device_key
from server.keys import SETTINGS

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# GET routes that are no HTML page of their own: a file, or the cashier script's JSON.
NOT_PAGES = {
    "/console": "redirects to the home page",
    "/console/": "redirects to the home page",
    "/console/home/live": "server-sent events for static/home.js",
    "/console/orders/export": "a CSV or Excel file",
    "/console/orders/summary/export": "a CSV or Excel file",
    "/console/orders/refunds/export": "a CSV or Excel file",
    "/console/statements/export": "a CSV or Excel file",
    "/console/cashier/order": "JSON for static/cashier.js",
    "/console/codes/batches/{batch_id}/sheet.pdf": "a PDF",
    "/console/merchants/{merchant_id}/evidence/{evidence_id}": "the uploaded file itself",
}
# Pages a merchant user has no access to at all (404 or 403 by design): checked as the operator only.
OPERATOR_ONLY = {"/console/rollouts", "/console/rollouts/{rollout_id}", "/console/rollouts/{rollout_id}/stop",
                 "/console/stock", "/console/merchants/new", "/console/codes/batches/{batch_id}"}

# ASCII words an interface may keep in Chinese: product and protocol names, units and abbreviations that
# Chinese interfaces write in Latin letters too.
ALLOWED_WORDS = {
    "scanpay",              # the product's name
    "English",              # the language switch names each language in itself (中文 English)
    "PDF", "CSV", "JPEG", "PNG", "API",    # file formats and the device API, as written in Chinese too
    "Excel",                # the spreadsheet program, named so in Chinese interfaces (导出 Excel)
    "dBm", "MiB",           # units: a signal's strength, a file's size
}

PROFILE, VERSION = "basic_box", "1.2.0"


def today() -> str:
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date().isoformat()


async def stack_data(stack) -> dict[str, str]:
    """Ids for every URL part, from the stack's data plus a code batch, a rollout and a report."""
    storage = stack.storage
    tea_device = await storage.get_device(TEA_SHOP.device_id)
    batch, printed = await static_codes.print_batch(storage, 2, actor=OPERATOR)
    await static_codes.bind(storage, printed[0].id, store_id=tea_device.store_id, actor=OPERATOR)
    await storage.add_device("BOX1", TEA_SHOP.merchant_id, TEA_SHOP.store_name, new_device_key())
    await rollouts.set_device_profile(storage, "BOX1", PROFILE, "pilot")
    await rollouts.add_release(storage, PROFILE, VERSION, hashlib.sha256(b"manifest").hexdigest(), "ab" * 64)
    rollout_id = await rollouts.create_rollout(storage, PROFILE, VERSION, 0.2, 1)
    settings = stack.app[SETTINGS]
    await rollouts.add_stage(storage, await rollouts.get_rollout(storage, rollout_id), share=1.0, groups=None,
                             public_url=settings.device_api.public_url, url_ttl_s=60)
    from server import reconcile
    from server.keys import CHANNELS
    await reconcile.reconcile_day(storage, stack.app[CHANNELS], datetime.date.fromisoformat(today()),
                                  settings.reconcile.out_dir, ["wechat"])
    return {"order_id": await stack.order_id(TEA_SHOP.device_id, "T1001"), "device_id": TEA_SHOP.device_id,
            "merchant_id": TEA_SHOP.merchant_id, "store_id": tea_device.store_id, "code_id": printed[0].id,
            "batch_id": batch.id, "rollout_id": rollout_id, "day": today(), "channel": "wechat"}


def console_pages(app) -> list[str]:
    """The canonical paths of the console's GET routes, every one either a page here or in NOT_PAGES."""
    paths = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "GET" and path and path.startswith("/console") and "prefix" not in info:
            paths.add(path)
    return sorted(paths - set(NOT_PAGES))


def fill(path: str, data: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: data[m.group(1)], path)


def data_values(stack, data: dict[str, str]) -> list[str]:
    """The stack's data as it appears on the pages: ids, names, users, numbers of its orders."""
    values = [*data.values(), OPERATOR, PROFILE, VERSION, "pilot", "BOX1"]
    for shop in (TEA_SHOP, NOODLE_SHOP):
        values += [shop.merchant_id, shop.merchant_name, shop.store_name, shop.device_id, shop.username]
    for order in stack.orders.values():
        values += [str(v) for v in order.values() if isinstance(v, str)]
    return sorted({v for v in values if v}, key=len, reverse=True)


_DATA_PATTERNS = [
    r"https?://\S+",                                    # addresses
    r"\b[0-9a-f]{16,}\b",                               # hashes and tokens
    r"\b(?:SP|CR|CS|T|N)[0-9A-Za-z]{4,}\b",             # trade, refund and order numbers
    r"\b[0-9A-Z]{4,}(?:-[0-9A-Z]+)*\b",                 # code ids, device ids, batch ids
    r"[0-9][0-9A-Za-z._:-]*",                           # numbers, money, times, days, versions
]


async def visible_words(page, data: list[str]) -> list[str]:
    """ASCII words of 3+ letters the page shows, without its data and the elements marked translate="no"."""
    text = await page.evaluate("""() => {
        let text = document.body.innerText;
        for (const el of document.querySelectorAll('[translate="no"]')) text = text.split(el.innerText).join(' ');
        return text;
    }""")
    for value in data:
        text = text.replace(value, " ")
    for pattern in _DATA_PATTERNS:
        text = re.sub(pattern, " ", text)
    return sorted({w for w in re.findall(r"[A-Za-z]{3,}", text)} - ALLOWED_WORDS)


async def no_sideways_scroll(page) -> tuple[int, int]:
    return await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


async def visit_all(page, paths: list[str], data: dict[str, str], values: list[str], *, chinese: bool) -> dict:
    """Each page at both widths: {path: problem} for the ones that scroll sideways or show the wrong language."""
    problems = {}
    for path in paths:
        for viewport in (DESKTOP, PHONE):
            await page.set_viewport_size(viewport)
            response = await page.goto(path)
            assert response is not None and response.status < 500, (path, response and response.status)
            scroll, width = await no_sideways_scroll(page)
            if scroll > width:
                problems[f"{path} @{viewport['width']}"] = f"scrolls sideways: {scroll} > {width}"
        if chinese:
            words = await visible_words(page, values)
            if words:
                problems[path] = f"English words: {words}"
        else:
            assert await page.get_attribute("html", "lang") == "en", path
            text = await page.evaluate("() => document.body.innerText")
            for value in values:
                text = text.replace(value, " ")
            # The switch names Chinese in Chinese (中文), by design; nothing else of the interface is Chinese.
            chinese_left = sorted(set(re.findall(r"[\u4e00-\u9fff]+", text.replace("中文", " "))))
            if chinese_left:
                problems[path] = f"Chinese words: {chinese_left}"
    return problems


def pages_of(paths: list[str], data: dict[str, str], *, operator: bool) -> list[str]:
    chosen = [p for p in paths if operator or p not in OPERATOR_ONLY]
    return [fill(p, data) for p in chosen] + ["/console/orders/no-such-order"]     # an error page too


@pytest.mark.parametrize("username", [OPERATOR, TEA])
async def test_every_page_fits_a_phone_and_speaks_chinese(stack, page, username):
    data = await stack_data(stack)
    paths = console_pages(stack.app)
    assert "/console/orders/{order_id}" in paths and "/console/monitoring" in paths   # the routes are found
    values = data_values(stack, data)
    # The login page, before logging in.
    assert await visit_all(page, ["/console/login"], data, values, chinese=True) == {}
    await login(page, username, PASSWORDS[username])
    problems = await visit_all(page, pages_of(paths, data, operator=username == OPERATOR), data, values, chinese=True)
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


@pytest.mark.parametrize("username", [OPERATOR, TEA])
async def test_the_switch_shows_the_same_pages_in_english(stack, page, username):
    data = await stack_data(stack)
    values = data_values(stack, data)
    await login(page, username, PASSWORDS[username])
    await page.context.add_cookies([{"name": i18n.LANG_COOKIE, "value": "en", "url": stack.url + "/console"}])
    paths = pages_of(console_pages(stack.app), data, operator=username == OPERATOR)
    problems = await visit_all(page, paths, data, values, chinese=False)
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
    nav = [await a.inner_text() for a in await page.query_selector_all("header nav.wide a")]
    assert nav[:2] == ["Today", "Orders"]


async def test_on_a_phone_the_menu_folds_into_a_button(stack, page):
    await page.set_viewport_size(PHONE)
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto("/console/orders")
    assert not await page.locator("header nav.wide").is_visible()
    menu = page.locator("[data-testid=menu]")
    assert await menu.locator("summary").inner_text() == "菜单"
    assert not await menu.locator(".menu-links a").first.is_visible()
    await menu.locator("summary").click()
    links = [await a.inner_text() for a in await menu.locator(".menu-links a").all()]
    assert links[:2] == ["今天", "订单"]
    # A table row is a card: each cell captioned by its column.
    cell = page.locator("tr[data-order-no=T1001] td[data-label]").first
    assert await cell.get_attribute("data-label") == "时间"
    assert await cell.evaluate("td => getComputedStyle(td).display") == "block"
    await page.set_viewport_size(DESKTOP)
    assert await page.locator("header nav.wide").is_visible()
    assert not await menu.is_visible()
    assert await cell.evaluate("td => getComputedStyle(td).display") == "table-cell"
