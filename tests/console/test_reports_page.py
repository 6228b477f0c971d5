"""The reconciliation reports page: an operator runs today's WeChat reconciliation against the sandbox's bill
and sees its differences; each merchant sees only the lines about its own orders; the report files parse."""
from __future__ import annotations

import datetime

from playwright.async_api import expect

from tests.console.conftest import in_english, login, new_page
from tests.console.console_stack import NOODLE, OPERATOR, PASSWORDS, TEA, TEA_SHOP
from hw_sim.sandbox.common import Charge
from server import reconcile
from server.console.reports import parse_report

UNKNOWN_TRADE = "SP20261122000000deadbeefdeadbeef"


def today() -> str:
    return datetime.datetime.now(reconcile.CHINA).date().isoformat()


async def make_two_differences(stack) -> str:
    """The bill lists a payment we have no order for, and leaves out the tea house's paid T1001."""
    ledger = stack.sandboxes["wechat"].ledger
    ledger.charges.append(Charge(UNKNOWN_TRADE, 990, "4200000000202611220000000000"))
    t1001 = await stack.storage.get_order(TEA_SHOP.device_id, "T1001")
    ledger.charges[:] = [c for c in ledger.charges if c.out_trade_no != t1001.trade_no]
    return t1001.trade_no


async def run_now(page, channel: str, day: str) -> None:
    form = page.locator("form[data-testid=run-reconcile]")
    await form.locator("input[name=date]").fill(day)
    await form.locator("select[name=channel]").select_option(channel)
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()


async def test_an_operator_runs_a_reconciliation_and_sees_its_differences(stack, page, tmp_path):
    t1001 = await make_two_differences(stack)
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    await page.goto("/console/reports")
    await run_now(page, "wechat", today())

    assert page.url.endswith(f"/console/reports/{today()}/wechat")
    await expect(page.locator("[data-testid=verdict]")).to_have_text("2 differences")
    rows = page.locator("table[data-testid=differences] tbody tr")
    await expect(rows).to_have_count(2)
    missing = page.locator(f"tr[data-kind=missing_in_orders][data-trade-no={UNKNOWN_TRADE}]")
    assert "paid ¥9.90" in await missing.inner_text()
    ours = page.locator(f"tr[data-kind=missing_in_bill][data-trade-no={t1001}]")
    assert "paid ¥12.50" in await ours.inner_text()
    assert "bill: 3 payments ¥57.90" in await page.inner_text("main")   # T1003, N2001 and the stranger
    # The report is the file reconcile wrote, where the daily job writes it.
    assert (tmp_path / "reconcile" / today() / "wechat.txt").read_text("utf-8").startswith(
        f"reconciliation wechat {today()}: 2 DIFFERENCES")

    await page.goto("/console/reports")
    row = page.locator(f"table[data-testid=reports] tr[data-day='{today()}'][data-channel=wechat]")
    await expect(row.locator(".verdict")).to_have_text("2 differences")


async def test_merchants_see_their_own_lines_only_and_cannot_run(stack, page, browser):
    t1001 = await make_two_differences(stack)
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    await page.goto("/console/reports")
    await run_now(page, "wechat", today())

    tea = await new_page(browser, stack)
    await login(tea, TEA, PASSWORDS[TEA])
    await in_english(tea, stack)
    await tea.goto("/console/reports")
    row = tea.locator(f"table[data-testid=reports] tr[data-day='{today()}'][data-channel=wechat]")
    await expect(row.locator(".verdict")).to_have_text("1 difference")
    assert await tea.locator("form[data-testid=run-reconcile]").count() == 0
    await tea.goto(f"/console/reports/{today()}/wechat")
    await expect(tea.locator("table[data-testid=differences] tbody tr")).to_have_count(1)
    text = await tea.inner_text("main")
    assert t1001 in text and UNKNOWN_TRADE not in text and "bill: " not in text

    noodle = await new_page(browser, stack)
    await login(noodle, NOODLE, PASSWORDS[NOODLE])
    await in_english(noodle, stack)
    await noodle.goto(f"/console/reports/{today()}/wechat")
    await expect(noodle.locator("[data-testid=verdict]")).to_have_text(
        "OK: the bill and our records agree for your orders")
    # Running a reconciliation is the operators' (the form's POST without the page is refused as well).
    status = await noodle.evaluate("""async () => (await fetch("/console/reports/run", {method: "POST",
        headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "date=2026-01-01&channel=wechat"})).status""")
    assert status == 403


async def test_a_day_to_come_is_refused_and_a_missing_report_is_not_found(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    await page.goto("/console/reports")
    tomorrow = (datetime.datetime.now(reconcile.CHINA).date() + datetime.timedelta(days=1)).isoformat()
    await run_now(page, "wechat", tomorrow)
    await expect(page.locator("[role=alert]")).to_contain_text("has not come yet")
    response = await page.goto("/console/reports/2020-01-01/wechat")
    assert response.status == 404
    response = await page.goto("/console/reports/..%2F..%2Fetc/passwd")
    assert response.status == 400          # not a day: refused before any path is made (invalid_parameter)


def test_report_files_read_back_as_reconcile_writes_them():
    day = datetime.date(2026, 11, 21)
    report = reconcile.Report(channel="alipay", day=day, bill_payments=3, paid_fen=12_345, fee_fen=74, orders_paid=3,
                              differences=[reconcile.Difference("amount", "SP1", "1000 fen", "1001 fen"),
                                           reconcile.Difference("refund_amount", "SP2", "5 fen", "6 fen",
                                                                refund_no="RF2")])
    parsed = parse_report(report.text())
    assert (parsed.channel, parsed.day, parsed.verdict) == ("alipay", "2026-11-21", "2 DIFFERENCES")
    assert parsed.summary[0] == "bill: 3 payments 123.45 yuan, 0 refunds 0.00 yuan, fees 0.74 yuan"
    assert parsed.differences == [
        {"kind": "amount", "trade_no": "SP1", "refund_no": "-", "ours": "1000 fen", "theirs": "1001 fen"},
        {"kind": "refund_amount", "trade_no": "SP2", "refund_no": "RF2", "ours": "5 fen", "theirs": "6 fen"}]
    no_bill = parse_report(reconcile.Report(channel="wechat", day=day, error="No Bill Exist").text())
    assert no_bill.no_bill and no_bill.summary == ["bill unavailable: No Bill Exist"]
    assert parse_report(reconcile.Report(channel="wechat", day=day).text()).ok


async def test_a_merchants_lines_are_found_by_its_orders(console_storage):
    from server.console.reports import merchant_trades
    from server.storage import SUCCESS, Order
    storage = console_storage
    for merchant_id in ("M1", "M2"):
        await storage.add_merchant(merchant_id, merchant_id)
        await storage.add_device(f"D{merchant_id}", merchant_id, "store", "ab" * 32)
    for n, merchant_id in enumerate(("M1", "M1", "M2")):
        await storage.create_order(Order(id=f"o{n}", device_id=f"D{merchant_id}", order_no=f"N{n}",
                                         trade_no=f"SP{n}", amount_fen=100, channel="wechat", status=SUCCESS,
                                         auth_code_hash="", auth_code_masked="", created_at=1, deadline_at=2,
                                         merchant_id=merchant_id))
    assert await merchant_trades(storage, "M1", ["SP0", "SP1", "SP2", "SPX"]) == {"SP0", "SP1"}
    assert await merchant_trades(storage, "M2", ["SP0", "SP2"]) == {"SP2"}
    assert await merchant_trades(storage, "M2", []) == set()
