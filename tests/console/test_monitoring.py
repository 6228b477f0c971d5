"""The monitoring page after real payments through the sandboxes, an offline device, and a success-rate alert
that appears on every page and clears when payments recover."""
from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.console.conftest import login, new_page
from tests.console.console_stack import NOODLE_SHOP, OPERATOR, PASSWORDS, TEA, TEA_SHOP
from hw_sim import test_codes
from server.clock import now_ms

# Alerts judged every 0.1 s; WeChat alerts below 60 % success once 5 payments finished in 10 minutes.
ALERTS = {"interval_s": 0.1, "success_rate_min_pct": 60.0, "success_rate_window_s": 600,
          "success_rate_min_payments": 5, "offline_after_s": 60}
pytestmark = pytest.mark.parametrize("stack", [{"alerts": ALERTS}], indirect=True)


def rate_cell(page, channel: str, which: str = "rate-hour"):
    return page.locator(f"table[data-testid=success-rates] tr[data-channel={channel}] [data-testid={which}]")


async def banners_after_reload(page, path: str, want: int, tries: int = 100) -> int:
    """Load `path` until it shows `want` alert banners (the evaluator runs every 0.1 s); how many it shows."""
    count = -1
    for _ in range(tries):
        await page.goto(path)
        count = await page.locator("[data-testid=alert-banners] .alert-banner").count()
        if count == want:
            break
        await asyncio.sleep(0.1)
    return count


async def test_figures_follow_the_payments_and_merchants_see_their_own(stack, page, browser):
    # Start-up paid 3 WeChat (T1001, T1003, N2001) and 2 Alipay orders; now two WeChat refusals.
    await stack.pay(TEA_SHOP.device_id, "T1004", 500, scenario=test_codes.INSUFFICIENT_FUNDS)
    await stack.pay(TEA_SHOP.device_id, "T1005", 700, scenario=test_codes.EXPIRED)
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await page.goto("/console/monitoring")
    await expect(page.locator("[data-testid=payments-last-hour]")).to_have_text("7")
    # The two refusals are the payers' (no money, an expired code): WeChat itself took 3 of 3.
    await expect(rate_cell(page, "wechat")).to_have_text("100.0%")
    await expect(rate_cell(page, "wechat", "rate-today")).to_have_text("100.0%")
    await expect(rate_cell(page, "wechat", "refused-hour")).to_have_text("2")
    await expect(rate_cell(page, "wechat", "declined-hour")).to_have_text("0")
    await expect(rate_cell(page, "alipay")).to_have_text("100.0%")
    assert await page.locator("svg.chart rect.failed").count() >= 1           # the refusals are drawn
    await expect(page.locator("[data-testid=backlog-paying]")).to_have_text("0")

    merchant = await new_page(browser, stack)
    await login(merchant, TEA, PASSWORDS[TEA])
    await merchant.goto("/console/monitoring")
    await expect(merchant.locator("[data-testid=payments-last-hour]")).to_have_text("5")   # the tea house's
    await expect(rate_cell(merchant, "wechat")).to_have_text("100.0%")                    # 2 of 2 decided
    await expect(rate_cell(merchant, "wechat", "refused-hour")).to_have_text("2")
    assert await merchant.locator("table[data-testid=alert-history]").count() == 0


async def test_an_offline_device_is_listed_for_the_operator_and_its_merchant_only(stack, page, browser):
    now = now_ms()
    await stack.storage.record_heartbeat(NOODLE_SHOP.device_id, now - 10 * 60_000, {"firmware": "1.4.2"})
    await stack.storage.record_heartbeat(TEA_SHOP.device_id, now, {"firmware": "1.5.0"})
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await page.goto("/console/monitoring")
    offline = page.locator("table[data-testid=offline-devices] tbody tr[data-device]")
    await expect(offline).to_have_count(1)
    row = await offline.first.inner_text()
    assert NOODLE_SHOP.device_id in row and NOODLE_SHOP.store_name in row and "1.4.2" in row
    await expect(page.locator("[data-testid=offline-count]")).to_have_text("1")

    tea = await new_page(browser, stack)
    await login(tea, TEA, PASSWORDS[TEA])
    await tea.goto("/console/monitoring")
    await expect(tea.locator("table[data-testid=offline-devices] tbody tr[data-device]")).to_have_count(0)
    await expect(tea.locator("[data-testid=offline-count]")).to_have_text("0")
    noodle = await new_page(browser, stack)
    await login(noodle, "noodle", PASSWORDS["noodle"])
    await noodle.goto("/console/monitoring")
    await expect(noodle.locator("table[data-testid=offline-devices] tbody tr[data-device]")).to_have_count(1)


async def test_a_low_success_rate_raises_an_alert_on_every_page_and_it_clears(stack, page, browser):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    assert await banners_after_reload(page, "/console/orders", 0) == 0
    # Empty wallets are the payers': no alert, however many.
    for n in range(4):
        await stack.pay(TEA_SHOP.device_id, f"E{n}", 100, scenario=test_codes.INSUFFICIENT_FUNDS)
    await asyncio.sleep(0.5)                                                 # judged a few times since
    assert await banners_after_reload(page, "/console/orders", 0) == 0
    # WeChat: 3 paid at start-up, now 3 declined by WeChat itself: 50 % of 6, under 60 %.
    for n in range(3):
        await stack.pay(TEA_SHOP.device_id, f"F{n}", 100, scenario=test_codes.MERCHANT_BARRED)
    assert await banners_after_reload(page, "/console/orders", 1) == 1
    banner = await page.locator(".alert-banner").inner_text()
    assert "最近 10 分钟渠道决定的 6 笔支付只有 50.0% 成功" in banner   # the alert as server/alerts.py words it
    assert "成功率" in banner                                         # its rule in the reader's language
    await page.goto("/console/monitoring")                                   # on every page, this one too
    await expect(page.locator(".alert-banner")).to_have_count(1)
    active = page.locator("table[data-testid=alert-history] tr.active[data-rule=success_rate][data-subject=wechat]")
    await expect(active).to_have_count(1)
    async with stack.http.get(stack.url + "/metrics") as resp:
        assert 'scanpay_alerts_active{rule="success_rate"} 1.0' in await resp.text()
    merchant = await new_page(browser, stack)                                # the rules judge the service: operators'
    await login(merchant, TEA, PASSWORDS[TEA])
    await merchant.goto("/console/monitoring")
    await expect(merchant.locator(".alert-banner")).to_have_count(0)

    for n in range(3):                                                       # 6 of 9 = 66.7 %: recovered
        await stack.pay(TEA_SHOP.device_id, f"G{n}", 100)
    assert await banners_after_reload(page, "/console/monitoring", 0) == 0
    cleared = page.locator("table[data-testid=alert-history] tr.cleared[data-rule=success_rate]")
    await expect(cleared).to_have_count(1)
    await expect(page.locator("table[data-testid=alert-history] tr.active")).to_have_count(0)
    async with stack.http.get(stack.url + "/metrics") as resp:
        assert 'scanpay_alerts_active{rule="success_rate"} 0.0' in await resp.text()
