"""The cashier page for the USB-keyboard scan box: typed amount, typed scan + Enter, paid through the WeChat
sandbox, shown and spoken; retries charge once; bad amounts and other merchants' devices are refused."""
from __future__ import annotations

from playwright.async_api import expect

from tests.console.conftest import login
from tests.console.console_stack import NOODLE_SHOP, OPERATOR, PASSWORDS, TEA, TEA_SHOP
from core import texts
from hw_sim import test_codes
from server.days import china_day

# Keep what the page says: wrap speechSynthesis.speak (still speaking) to record each utterance's text.
RECORD_SPEECH = """
window.__spoken = [];
if (window.speechSynthesis) {
  const speak = window.speechSynthesis.speak.bind(window.speechSynthesis);
  window.speechSynthesis.speak = (utterance) => { window.__spoken.push(utterance.text); speak(utterance); };
}
"""


async def open_cashier(page, username: str, device_id: str | None = None) -> None:
    await page.add_init_script(RECORD_SPEECH)
    await login(page, username, PASSWORDS[username])
    await page.goto("/console/cashier" + (f"?device={device_id}" if device_id else ""))


async def type_amount(page, amount: str) -> None:
    await page.click("#amount")
    await page.keyboard.type(amount)
    await page.keyboard.press("Enter")


async def scan(page, code: str) -> None:
    """What the scan box does: the code's characters as key presses, then Enter, into the focused field."""
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")


async def spoken(page) -> list[str]:
    return await page.evaluate("window.__spoken")


async def orders_of(stack, device_id: str) -> list:
    device = await stack.storage.get_device(device_id)
    return await stack.storage.list_orders(device.order_scope, before=None, limit=100)


async def test_a_typed_scan_pays_once_shows_and_speaks_the_amount(stack, page):
    await open_cashier(page, TEA)
    before = {o.order_no for o in await orders_of(stack, TEA_SHOP.device_id)}
    await expect(page.locator("#device")).to_have_value(TEA_SHOP.device_id)   # the merchant's one device
    await type_amount(page, "12.5")
    await expect(page.locator("#amount-shown")).to_have_text("¥12.50")
    await expect(page.locator("#code")).to_be_focused()
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    await scan(page, code)

    await expect(page.locator("#result")).to_have_text("微信收款 12.50 元")
    await expect(page.locator("[data-testid=spoken]")).to_have_text("微信收款 12.50 元")
    assert (await spoken(page))[-1] == texts.success_text("wechat", 1250) == "微信收款 12.50 元"
    await expect(page.locator("#amount")).to_be_focused()         # ready for the next customer's amount
    await expect(page.locator("#amount")).to_have_value("")

    [order] = [o for o in await orders_of(stack, TEA_SHOP.device_id) if o.order_no not in before]
    assert (order.amount_fen, order.status, order.channel) == (1250, "SUCCESS", "wechat")
    charges = stack.sandboxes["wechat"].ledger.charges_for(order.trade_no)
    assert [c.amount_fen for c in charges] == [1250]
    assert code not in await page.content()                        # the code field was emptied


async def test_a_retried_pay_request_charges_once(stack, page):
    await open_cashier(page, TEA)
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    send = """async ([code, orderNo]) => {
        const csrf = document.getElementById("cashier").dataset.csrf;
        const resp = await fetch("/console/cashier/pay", {method: "POST",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
            body: JSON.stringify({device_id: "%s", amount: "8.80", auth_code: code, order_no: orderNo})});
        return [resp.status, await resp.json()];
    }""" % TEA_SHOP.device_id
    first = await page.evaluate(send, [code, "CSRETRY1"])
    again = await page.evaluate(send, [code, "CSRETRY1"])     # the answer was lost: the page sends it again
    assert first[0] == again[0] == 200
    assert first[1]["order"] == again[1]["order"] and first[1]["order"]["status"] == "SUCCESS"
    order = await stack.storage.get_order(TEA_SHOP.device_id, "CSRETRY1")
    ledger = stack.sandboxes["wechat"].ledger
    assert [c.amount_fen for c in ledger.charges_for(order.trade_no)] == [880]
    assert ledger.calls_to("/pay/micropay", order.trade_no) == 1


async def test_a_password_wait_shows_waiting_then_success(stack, page):
    await open_cashier(page, TEA)
    await type_amount(page, "30")
    await expect(page.locator("#code")).to_be_focused()
    await scan(page, test_codes.make_wechat_code(test_codes.PASSWORD, 2))   # the payer types for 2 s
    await expect(page.locator("#result")).to_have_text("等待顾客付款…")
    await expect(page.locator("#result")).to_have_text("微信收款 30.00 元")
    said = await spoken(page)
    assert said[-2:] == [texts.SAY_PAYER_PAYING, "微信收款 30.00 元"]
    assert said[0] == texts.SAY_SHOW_CODE


async def test_a_refused_payment_is_said_and_the_code_field_waits_for_another_code(stack, page):
    await open_cashier(page, TEA)
    await type_amount(page, "66")
    await scan(page, test_codes.make_wechat_code(test_codes.INSUFFICIENT_FUNDS))
    await expect(page.locator("#result")).to_have_text(texts.REASON_TEXTS["insufficient_funds"])   # 余额不足
    assert (await spoken(page))[-1] == "余额不足"
    await expect(page.locator("#code")).to_be_focused()
    await expect(page.locator("#amount")).to_have_value("66")      # the same customer tries another code
    await scan(page, test_codes.make_wechat_code(test_codes.SUCCESS))
    await expect(page.locator("#result")).to_have_text("微信收款 66.00 元")


async def test_bad_amounts_are_refused_and_nothing_is_paid(stack, page):
    await open_cashier(page, TEA)
    before = len(await orders_of(stack, TEA_SHOP.device_id))
    charges = len(stack.sandboxes["wechat"].ledger.charges)
    for typed, message in [("0", "金额必须大于零"), ("-5", "金额必须大于零"), ("12.345", "不足一分"),
                           ("abc", "以元为单位"), ("5000.01", "超过单笔限额 ¥5,000.00")]:
        await page.fill("#amount", "")
        await type_amount(page, typed)
        await expect(page.locator("#result")).to_contain_text(message)
        await expect(page.locator("#amount")).to_be_focused()
        await expect(page.locator("#amount-shown")).to_have_text("")
    # A scan with a bad amount typed (Enter not pressed on it) is refused the same way.
    await page.fill("#amount", "0.001")
    await page.click("#code")
    await scan(page, test_codes.make_wechat_code(test_codes.SUCCESS))
    await expect(page.locator("#result")).to_contain_text("不足一分")
    # No amount at all: the box's words for it.
    await page.fill("#amount", "")
    await page.click("#code")
    await scan(page, test_codes.make_wechat_code(test_codes.SUCCESS))
    await expect(page.locator("[data-testid=spoken]")).to_have_text(texts.SAY_AMOUNT_FIRST)
    assert len(await orders_of(stack, TEA_SHOP.device_id)) == before
    assert len(stack.sandboxes["wechat"].ledger.charges) == charges


async def test_a_merchant_cannot_pay_on_another_merchants_device(stack, page):
    await open_cashier(page, TEA)
    options = await page.locator("#device option").all_inner_texts()
    assert not any(NOODLE_SHOP.device_id in text for text in options)
    status, body = await page.evaluate("""async (device) => {
        const csrf = document.getElementById("cashier").dataset.csrf;
        const resp = await fetch("/console/cashier/pay", {method: "POST",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
            body: JSON.stringify({device_id: device, amount: "1", auth_code: "134567890123456789", order_no: "CSX1"})});
        return [resp.status, await resp.json()];
    }""", NOODLE_SHOP.device_id)
    assert status == 404 and body["error"]["code"] == "unknown_device"
    assert await stack.storage.get_order(NOODLE_SHOP.device_id, "CSX1") is None
    # Without the page's CSRF token nothing is paid either.
    status = await page.evaluate("""async (device) => (await fetch("/console/cashier/pay", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({device_id: device, amount: "1", auth_code: "134567890123456789", order_no: "CSX2"})})).status
    """, TEA_SHOP.device_id)
    assert status == 403
    assert await stack.storage.get_order(TEA_SHOP.device_id, "CSX2") is None


async def test_an_operator_picks_the_device_of_any_merchant(stack, page):
    await open_cashier(page, OPERATOR, NOODLE_SHOP.device_id)
    await expect(page.locator("#device")).to_have_value(NOODLE_SHOP.device_id)
    await type_amount(page, "18")
    # Scanned the moment the amount's Enter is pressed: the keys go to the code field, not the amount.
    await scan(page, test_codes.make_wechat_code(test_codes.SUCCESS))
    await expect(page.locator("#result")).to_have_text("微信收款 18.00 元")
    paid = [o for o in await orders_of(stack, NOODLE_SHOP.device_id) if o.order_no.startswith("CS")]
    assert [(o.amount_fen, o.status, o.merchant_id) for o in paid] == [(1800, "SUCCESS", NOODLE_SHOP.merchant_id)]


def test_typed_yuan_become_exact_fen_within_the_limits():
    from server.console.cashier import AmountRefused, amount_fen
    exact = {"12.5": 1250, "12.50": 1250, "0.01": 1, "0.1": 10, " 7 ": 700, "5000": 500_000, "5000.00": 500_000,
             "19.99": 1999, "0.29": 29}          # 0.29 * 100 is 28.999999999999996 in floating point
    for typed, fen in exact.items():
        assert amount_fen(typed, min_fen=1, max_fen=500_000) == fen, typed
    for typed in ("", "0", "0.00", "-1", "12.345", "0.001", "5000.01", "1e3", "12,50", "abc", ".5", "NaN"):
        try:
            amount_fen(typed, min_fen=1, max_fen=500_000)
        except AmountRefused:
            continue
        raise AssertionError(f"{typed!r} was taken")
    try:
        amount_fen("0.05", min_fen=10, max_fen=500_000)
    except AmountRefused as e:
        assert "below the minimum of ¥0.10" in str(e)
    else:
        raise AssertionError("below the minimum was taken")


async def test_the_cashier_device_list_is_the_merchants_active_devices(console_storage):
    from server.console.auth import ConsoleUser
    from server.console.cashier import cashier_devices
    from server.storage import DEVICE_DISABLED
    storage = console_storage
    for merchant_id, name in (("M1", "茶馆"), ("M2", "面馆")):
        await storage.add_merchant(merchant_id, name)
    await storage.add_device("A1", "M1", "老王茶馆", "ab" * 32)
    await storage.add_device("A2", "M1", "老王茶馆", "cd" * 32)
    await storage.add_device("B1", "M2", "小李面馆", "ef" * 32)
    await storage.set_device_status("A2", DEVICE_DISABLED)
    merchant = ConsoleUser(id="u1", username="tea", role="merchant", merchant_id="M1")
    operator = ConsoleUser(id="u2", username="ops", role="operator", merchant_id=None)
    assert [d["id"] for d in await cashier_devices(storage, merchant)] == ["A1"]
    assert [(d["id"], d["merchant_name"]) for d in await cashier_devices(storage, operator)] == [
        ("A1", "茶馆"), ("B1", "面馆")]


async def test_the_latest_payments_are_todays_only(stack, page):
    # Start-up paid T1001..T1003 at the tea house today; T1001 moves to the same time yesterday (China time).
    storage = stack.storage
    day_ms = 86_400_000
    moved = await storage.get_order(TEA_SHOP.device_id, "T1001")
    await storage.sql.execute(
        "UPDATE orders SET created_at = ?, finished_at = ?, day = ? WHERE id = ?",
        (moved.created_at - day_ms, moved.finished_at - day_ms, china_day(moved.created_at - day_ms, 8), moved.id))
    today = {(await storage.get_order(TEA_SHOP.device_id, no)).id for no in ("T1002", "T1003")}

    await open_cashier(page, TEA)
    rows = page.locator("[data-testid=latest-payments] tbody tr[data-order]")
    await expect(rows).to_have_count(2)
    assert {await row.get_attribute("data-order") for row in await rows.all()} == today
