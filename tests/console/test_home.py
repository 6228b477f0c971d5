"""The home page a shop owner opens first: today's takings, the channel mix, the last 7 and 30 days, and new
payments appearing live (server-sent events) while the page is open; each shop sees its own."""
from __future__ import annotations

import json

import pytest
from playwright.async_api import expect

from tests.console.conftest import login, new_page
from tests.console.console_stack import NOODLE_SHOP, OPERATOR, PASSWORDS, TEA, TEA_SHOP
from server.console.auth import SESSION_COOKIE

PHONE = {"width": 390, "height": 844}


def by_testid(page, name: str):
    return page.locator(f"[data-testid={name}]")


async def test_today_in_figures_and_a_new_payment_appears_and_is_said(stack, page, browser):
    # Start-up: the tea house took T1001 ¥12.50 and T1003 ¥30.00 by WeChat, T1002 ¥88.00 by Alipay.
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto("/console/")
    await expect(page).to_have_url(stack.url + "/console/home")
    await expect(by_testid(page, "today-net")).to_have_text("¥130.50")
    await expect(by_testid(page, "today-count")).to_have_text("3")
    await expect(by_testid(page, "today-average")).to_have_text("¥43.50")
    await expect(by_testid(page, "today-refunds")).to_have_text("0")
    mix = by_testid(page, "channel-mix")
    await expect(mix.locator("tr[data-channel=alipay] td").nth(2)).to_have_text("¥88.00")
    await expect(mix.locator("tr[data-channel=wechat] td").nth(1)).to_have_text("2")
    await expect(mix.locator("tr[data-channel=alipay] td").nth(3)).to_have_text("67.4%")
    today = by_testid(page, "chart-7").locator("rect").last
    assert await today.get_attribute("data-net-fen") == "13050"
    assert await by_testid(page, "chart-30").locator("rect").count() == 30
    await expect(by_testid(page, "latest-payments").locator("tbody tr[data-order]")).to_have_count(3)

    # A customer pays while the page is open: it appears, the figures follow, the words a device says.
    order = await stack.pay(TEA_SHOP.device_id, "T1009", 2580)
    row = by_testid(page, "latest-payments").locator("tbody tr[data-order]").first
    await expect(row).to_have_attribute("data-order", await stack.order_id(TEA_SHOP.device_id, "T1009"),
                                        timeout=10_000)
    assert order["status"] == "SUCCESS"
    await expect(row.locator("td").nth(2)).to_have_text("¥25.80")
    await expect(by_testid(page, "today-count")).to_have_text("4")
    await expect(by_testid(page, "today-net")).to_have_text("¥156.30")
    await expect(by_testid(page, "today-average")).to_have_text("¥39.08")
    await expect(by_testid(page, "live-spoken")).to_have_text("微信收款 25.80 元")

    # Another shop's payment never shows here.
    await stack.pay(NOODLE_SHOP.device_id, "N2009", 990)
    await page.wait_for_timeout(1500)
    await expect(by_testid(page, "today-count")).to_have_text("4")
    await expect(by_testid(page, "latest-payments").locator("tbody tr[data-order]")).to_have_count(4)


async def test_on_a_phone_in_chinese_without_sideways_scrolling(stack, browser):
    context = await browser.new_context(base_url=stack.url, viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto("/console/home")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await expect(page.locator("h1")).to_have_text("今天")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await context.close()


async def test_the_live_stream_gives_each_payment_once_and_only_the_users_own(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    before = (await stack.storage.get_order(TEA_SHOP.device_id, "T1003")).finished_at - 1

    async def stream(after: int, *, as_cookie: str, hold: int = 0, last_id: str | None = None) -> list[dict]:
        headers = {"Cookie": f"{SESSION_COOKIE}={as_cookie}"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        async with stack.http.get(f"{stack.url}/console/home/live", params={"after": str(after), "hold": str(hold)},
                                  headers=headers) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
            text = await resp.text()
        events = []
        for block in text.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if fields.get("event") == "paid":
                events.append({"id": fields["id"], **json.loads(fields["data"])})
        return events

    operator = cookies[SESSION_COOKIE]
    seen = await stream(before, as_cookie=operator)
    assert [e["amount"] for e in seen] == ["¥30.00", "¥18.00", "¥26.00"]     # T1003, then the noodle shop's
    again = await stream(0, as_cookie=operator, last_id=seen[-1]["id"])       # the browser came back
    assert again == []
    tea = await new_page(page.context.browser, stack)
    await login(tea, TEA, PASSWORDS[TEA])
    tea_cookie = {c["name"]: c["value"] for c in await tea.context.cookies()}[SESSION_COOKIE]
    assert [e["amount"] for e in await stream(before, as_cookie=tea_cookie)] == ["¥30.00"]
    for bad in ({"after": "-1"}, {"after": "x"}, {"hold": "99999"}):
        async with stack.http.get(f"{stack.url}/console/home/live", params=bad,
                                  headers={"Cookie": f"{SESSION_COOKIE}={operator}"}) as resp:
            assert resp.status == 400, bad


@pytest.mark.parametrize("stack", [{"pay_orders": False}], indirect=True)
async def test_a_new_shop_sees_zeros_not_errors(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto("/console/home")
    await expect(by_testid(page, "today-net")).to_have_text("¥0.00")
    await expect(by_testid(page, "today-average")).to_have_text("-")
    await expect(by_testid(page, "latest-payments").locator("tbody tr.none")).to_have_count(1)


async def test_the_cashier_page_shows_payments_coming_in(stack, page):
    """A payer pays the shop's code while the cashier waits at the till: it appears on the cashier page."""
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto("/console/cashier")
    rows = by_testid(page, "latest-payments").locator("tbody tr[data-order]")
    await expect(rows).to_have_count(3)
    await stack.pay(TEA_SHOP.device_id, "T1010", 990)
    await expect(rows.first).to_have_attribute("data-order", await stack.order_id(TEA_SHOP.device_id, "T1010"),
                                               timeout=10_000)
    await expect(by_testid(page, "live-spoken")).to_have_text("微信收款 9.90 元")
