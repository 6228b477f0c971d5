"""Console orders in headless Chromium: search, detail, sync with the channel, refunds, the daily summary."""
from __future__ import annotations

import asyncio
import datetime

import pytest

from tests.console.conftest import login
from tests.console.console_stack import NOODLE_SHOP, OPERATOR, PASSWORDS, REFUND_PASSWORDS, TEA, TEA_SHOP
from hw_sim import test_codes
from server.console.orders import parse_yuan

CHINA = datetime.timezone(datetime.timedelta(hours=8))


async def _shown_order_nos(page) -> list[str]:
    return [await row.get_attribute("data-order-no")
            for row in await page.query_selector_all("table[data-testid=orders] tbody tr[data-order-no]")]


async def _search(page, **fields) -> list[str]:
    await page.goto("/console/orders")
    for name, value in fields.items():
        selector = f"[name={name}]"
        if await page.evaluate(f"document.querySelector('{selector}').tagName") == "SELECT":
            await page.select_option(selector, value)
        else:
            await page.fill(selector, value)
    async with page.expect_navigation():
        await page.click("form[role=search] button[type=submit]")
    return await _shown_order_nos(page)


async def test_search_by_each_order_number(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    assert sorted(await _shown_order_nos(page)) == ["N2001", "N2002", "T1001", "T1002", "T1003"]
    order = await stack.storage.get_order(TEA_SHOP.device_id, "T1002")
    assert order.channel_trade_no   # the channel's own number, from its answer
    for number in ("T1002", order.trade_no, order.channel_trade_no):
        assert await _search(page, q=number) == ["T1002"]
    assert await _search(page, q="NO-SUCH-ORDER") == []
    assert "没有符合条件的订单" in await page.inner_text("table[data-testid=orders]")


async def test_filters_by_device_channel_status_and_china_day(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    assert sorted(await _search(page, device=NOODLE_SHOP.device_id)) == ["N2001", "N2002"]
    assert sorted(await _search(page, channel="alipay")) == ["N2002", "T1002"]
    assert await _search(page, status="FAILED") == []
    today = datetime.datetime.now(CHINA).date()
    tomorrow = today + datetime.timedelta(days=1)
    assert len(await _search(page, **{"from": today.isoformat(), "to": today.isoformat()})) == 5
    assert await _search(page, **{"from": tomorrow.isoformat()}) == []
    assert await _search(page, to=(today - datetime.timedelta(days=1)).isoformat()) == []
    # A refused payment shows up under its status.
    await stack.pay(TEA_SHOP.device_id, "T1004", 990, scenario=test_codes.INSUFFICIENT_FUNDS)
    assert await _search(page, status="FAILED") == ["T1004"]


@pytest.mark.parametrize("stack", [{"console": {"page_size": 2}}], indirect=True)
async def test_orders_come_in_pages_newest_first(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    seen = []
    assert await _shown_order_nos(page) == ["N2002", "N2001"]
    while True:
        seen += await _shown_order_nos(page)
        older = await page.query_selector("a[rel=next]")
        if older is None:
            break
        async with page.expect_navigation():
            await older.click()
    assert seen == ["N2002", "N2001", "T1003", "T1002", "T1001"]


async def test_detail_shows_the_order_its_events_and_the_channels_answers(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    async with page.expect_navigation():
        await page.click("a:text-is('T1001')")
    assert await page.get_attribute("[data-testid=order-status]", "data-status") == "SUCCESS"
    assert await page.inner_text("[data-testid=order-status]") == "支付成功"
    assert await page.inner_text("[data-testid=amount]") == "¥12.50"
    order = await stack.storage.get_order(TEA_SHOP.device_id, "T1001")
    body = await page.inner_text("main")
    assert order.trade_no in body and order.channel_trade_no in body and TEA_SHOP.store_name in body
    events = await page.inner_text("table[data-testid=events]")
    assert "pay:SUCCESS" in events
    # The channel's answer as it gave it: WeChat's transaction_id is in the raw fields.
    await page.click("table[data-testid=events] summary")
    assert order.channel_trade_no in await page.inner_text("table[data-testid=events] pre")


@pytest.mark.parametrize("stack", [{"resolver": False}], indirect=True)
async def test_sync_status_asks_the_channel_now(stack, page):
    # The payer takes a second to type the password; nothing but the console asks WeChat again here.
    order = await stack.pay(TEA_SHOP.device_id, "T1005", 4200, scenario=test_codes.PASSWORD, param=1)
    assert order["status"] == "PAYING"
    await login(page, TEA, PASSWORDS[TEA])
    assert await _search(page, q="T1005", status="PAYING") == ["T1005"]
    async with page.expect_navigation():
        await page.click("a:text-is('T1005')")
    assert await page.get_attribute("[data-testid=order-status]", "data-status") == "PAYING"
    queries_before = stack.sandboxes["wechat"].ledger.calls_to("/pay/orderquery")
    await asyncio.sleep(1.2)   # the payer types the password
    async with page.expect_navigation():
        await page.click("button:text-is('同步状态')")
    assert await page.get_attribute("[data-testid=order-status]", "data-status") == "SUCCESS"
    assert await page.get_attribute("[data-testid=sync-result]", "data-outcome") == "SUCCESS"
    assert stack.sandboxes["wechat"].ledger.calls_to("/pay/orderquery") == queries_before + 1
    stored = await stack.storage.get_order(TEA_SHOP.device_id, "T1005")
    assert stored.status == "SUCCESS"
    assert "console:sync" in await page.inner_text("table[data-testid=events]")
    # The device sees the same, through its own API.
    status, answer = await stack.call(TEA_SHOP.device_id, "query", {"order_no": "T1005"})
    assert status == 200 and answer["order"]["status"] == "SUCCESS"


async def test_sync_of_a_finished_order_keeps_it_and_records_the_answer(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    order_id = await stack.order_id(NOODLE_SHOP.device_id, "N2002")   # Alipay
    await page.goto(f"/console/orders/{order_id}")
    async with page.expect_navigation():
        await page.click("button:text-is('同步状态')")
    assert await page.get_attribute("[data-testid=sync-result]", "data-outcome") == "SUCCESS"
    assert await page.get_attribute("[data-testid=order-status]", "data-status") == "SUCCESS"
    assert "sync:SUCCESS" in await page.inner_text("table[data-testid=events]")


async def _sync(page) -> None:
    async with page.expect_navigation():
        await page.click("button:text-is('同步状态')")


async def _start_refund(page, amount: str) -> None:
    async with page.expect_navigation():
        await page.click("a:text-is('退款…')")
    await page.fill("input[name=amount]", amount)
    async with page.expect_navigation():
        await page.click("button:text-is('继续…')")
    if await page.query_selector("input[name=refund_password]"):      # a merchant user: the tea house's
        await page.fill("input[name=refund_password]", REFUND_PASSWORDS[TEA_SHOP.merchant_id])


async def test_partial_then_full_refund_double_submit_refunds_once(stack, page):
    order = await stack.storage.get_order(TEA_SHOP.device_id, "T1001")     # 12.50 yuan via WeChat
    ledger = stack.sandboxes["wechat"].ledger
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto(f"/console/orders/{order.id}")

    await _start_refund(page, "5")
    assert await page.inner_text("[data-testid=confirm-amount]") == "¥5.00"
    confirm_fields = {name: await page.get_attribute(f"input[name={name}]", "value")
                      for name in ("csrf_token", "refund_no", "amount_fen", "reason")}
    assert confirm_fields["amount_fen"] == "500"
    # Pressed twice in a row: the second press may cancel the first one's page load (both forms reach
    # the server all the same), so wait for where the last one lands rather than for one navigation.
    await page.dblclick("button.danger", no_wait_after=True)
    await page.wait_for_url(f"**/console/orders/{order.id}?refunded=*")
    await page.wait_for_load_state("networkidle")      # the other press's answer too, before going on
    # ... and the confirmation sent once more later (a reload, a second tab).
    resend = await page.request.post(f"{stack.url}/console/orders/{order.id}/refund", form=confirm_fields)
    assert resend.ok
    await page.goto(f"/console/orders/{order.id}?refunded={confirm_fields['refund_no']}")
    # WeChat takes refunds in and pays them out a little later: PENDING until asked again.
    assert "¥5.00：" in await page.inner_text("[data-testid=refund-result]")
    await _sync(page)
    row = await page.inner_text(f"tr[data-refund-no={confirm_fields['refund_no']}]")
    assert "-¥5.00" in row and "已退款" in row
    assert "¥5.00" in await page.inner_text("[data-testid=refunded]")
    assert [r.amount_fen for r in ledger.refunds if r.out_trade_no == order.trade_no] == [500]
    assert len(await stack.storage.list_refunds(order.id)) == 1

    # More than what is left is refused before anything happens.
    await _start_refund(page, "7.51")
    assert "最多可退 ¥7.50" in await page.inner_text("[role=alert]")
    await page.fill("input[name=amount]", "7.5")
    async with page.expect_navigation():
        await page.click("button:text-is('继续…')")
    await page.fill("input[name=refund_password]", REFUND_PASSWORDS[TEA_SHOP.merchant_id])
    assert await page.inner_text("[data-testid=confirm-amount]") == "¥7.50"
    async with page.expect_navigation():
        await page.click("button.danger")
    await _sync(page)
    assert await page.get_attribute("[data-testid=order-status]", "data-status") == "REFUNDED"
    assert "-¥7.50" in await page.inner_text("table[data-testid=refunds]")
    assert await page.query_selector("a:text-is('退款…')") is None
    assert sorted(r.amount_fen for r in ledger.refunds if r.out_trade_no == order.trade_no) == [500, 750]
    stored = await stack.storage.get_order_by_id(order.id)
    assert stored.status == "REFUNDED" and stored.refunded_fen == 1250
    # The device's own order list says the same.
    status, answer = await stack.call(TEA_SHOP.device_id, "query", {"order_no": "T1001"})
    assert answer["order"]["status"] == "REFUNDED"


@pytest.mark.parametrize("typed, message", [
    ("0", "金额必须大于 0"), ("12.345", "最多两位小数"), ("-1", "最多两位小数"), ("1e3", "最多两位小数"),
    ("abc", "最多两位小数"), ("88.01", "最多可退 ¥88.00"),
])
async def test_refund_amounts_that_cannot_be_refunded_are_refused(stack, page, typed, message):
    order = await stack.storage.get_order(TEA_SHOP.device_id, "T1002")    # 88.00 yuan via Alipay
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await page.goto(f"/console/orders/{order.id}")
    await _start_refund(page, typed)
    assert message in await page.inner_text("[role=alert]")
    assert await stack.storage.list_refunds(order.id) == []


def test_yuan_to_fen_is_exact():
    assert parse_yuan("12.5") == 1250 and parse_yuan("0.01") == 1 and parse_yuan("19.99") == 1999
    assert parse_yuan("  7 ") == 700 and parse_yuan("5000.00") == 500000
    assert parse_yuan("１２．５") == 1250   # full-width, as a Chinese input method types it
    for bad in ("1.001", "1,5", "", ".5", "1.", "NaN", "Infinity", "٣", "1_000"):
        with pytest.raises(ValueError):
            parse_yuan(bad)


async def test_refund_of_an_alipay_order_through_the_console(stack, page):
    order = await stack.storage.get_order(TEA_SHOP.device_id, "T1002")
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto(f"/console/orders/{order.id}")
    await _start_refund(page, "88")
    async with page.expect_navigation():
        await page.click("button.danger")
    assert await page.get_attribute("[data-testid=order-status]", "data-status") == "REFUNDED"
    refunds = stack.sandboxes["alipay"].ledger.refunds
    assert [r.amount_fen for r in refunds if r.out_trade_no == order.trade_no] == [8800]


async def test_daily_summary_per_store_and_channel(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    order = await stack.storage.get_order(TEA_SHOP.device_id, "T1003")   # 30.00 via WeChat
    await page.goto(f"/console/orders/{order.id}")
    await _start_refund(page, "10")
    async with page.expect_navigation():
        await page.click("button.danger")
    await _sync(page)   # WeChat's refund goes through

    await page.goto("/console/orders/summary")
    today = datetime.datetime.now(CHINA).date().isoformat()

    async def row(store: str, channel: str) -> list[str]:
        selector = f"tr[data-store='{store}'][data-channel='{channel}'][data-day='{today}'] td"
        cells = await page.query_selector_all(selector)
        return [await c.inner_text() for c in cells][3:]
    # payments, paid, refunds, refunded, net
    assert await row(TEA_SHOP.store_name, "wechat") == ["2", "¥42.50", "1", "-¥10.00", "¥32.50"]
    assert await row(TEA_SHOP.store_name, "alipay") == ["1", "¥88.00", "0", "¥0.00", "¥88.00"]
    assert await row(NOODLE_SHOP.store_name, "wechat") == ["1", "¥18.00", "0", "¥0.00", "¥18.00"]
    total = await page.inner_text("[data-testid=summary-total]")
    assert "5" in total and "¥174.50" in total and "¥164.50" in total

    await page.select_option("select[name=store]", TEA_SHOP.store_name)
    await page.select_option("select[name=channel]", "wechat")
    async with page.expect_navigation():
        await page.click("button:text-is('显示')")
    assert len(await page.query_selector_all("table[data-testid=summary] tbody tr[data-store]")) == 1

    # A merchant's summary holds its own stores only.
    merchant = await page.context.browser.new_context(base_url=stack.url)
    merchant_page = await merchant.new_page()
    await login(merchant_page, TEA, PASSWORDS[TEA])
    await merchant_page.goto("/console/orders/summary")
    stores = {await r.get_attribute("data-store")
              for r in await merchant_page.query_selector_all("table[data-testid=summary] tbody tr[data-store]")}
    assert stores == {TEA_SHOP.store_name}
    await merchant.close()
