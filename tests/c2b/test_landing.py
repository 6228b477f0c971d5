"""The C2B landing page in headless Chromium: each wallet app pays a one-time code end to end, other
browsers are told which apps can pay, expired codes are closed at the channel, and the shop's static
code holds each payer to the PBoC 296 limit per channel per day."""
import asyncio
import contextlib
import urllib.parse

import pytest
from playwright.async_api import Error as PlaywrightError

from tests.c2b.c2b_stack import UA, phone, running_stack
from server.c2b import fen_of_yuan, wallet_for
from server.settings import DEFAULT_WALLETS

CHANNELS = ("wechat", "alipay", "unionpay")


def test_user_agent_table_tells_the_apps_apart():
    for channel in CHANNELS:
        assert wallet_for(UA[channel], DEFAULT_WALLETS, CHANNELS).channel == channel
    # A bank app that pays through UnionPay says "UnionPay/1.0 <app>".
    assert wallet_for("Mozilla/5.0 Mobile/15E148/CloudMercWebView/UnionPay/1.0 CCBLoongPay",
                      DEFAULT_WALLETS, CHANNELS).channel == "unionpay"
    assert wallet_for(UA["desktop"], DEFAULT_WALLETS, CHANNELS) is None
    # An app whose channel is not active is treated like any browser.
    assert wallet_for(UA["alipay"], DEFAULT_WALLETS, ["wechat"]) is None


def test_typed_amounts_become_fen_without_floats():
    assert [fen_of_yuan(t) for t in ("12.5", "12.50", "0.01", "300", " 7 ")] == [1250, 1250, 1, 30000, 700]
    assert [fen_of_yuan(t) for t in ("", "1.234", "-1", "1e3", "12,50", "abc", "١٢", "１２")] == [None] * 8


async def _pay_in_app(browser, stack, wallet, url, payer="alice", amount_text=None):
    """The payer opens `url` in `wallet`'s app, types the amount on a static code, and pays in the app's payment
    sheet (WeChat and Alipay: their JavaScript bridge, answered by the sandbox; UnionPay: its cashier page).
    Returns the page the payer ends on."""
    context = await stack.phone(browser, wallet, payer)
    page = await context.new_page()
    await page.goto(url)
    if amount_text is not None:
        await page.fill("input[name=amount]", amount_text)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
    if "/wallet/unionpay/cashier" in page.url:
        await page.click("text=确认付款")
    # The payment page hands over to the app and goes on to /done by itself; a refusal stays where it is.
    for _ in range(100):
        with contextlib.suppress(PlaywrightError):
            if urllib.parse.urlsplit(page.url).path.endswith("/done") or \
                    await page.inner_text("h1", timeout=1000) == "超出静态码限额":
                break
        await asyncio.sleep(0.05)
    await page.wait_for_load_state()
    await page.wait_for_selector("h1")
    return page


@pytest.mark.parametrize("wallet", CHANNELS)
async def test_a_paid_code_scanned_again_says_so_and_takes_nothing(stack, browser, wallet):
    answer = await stack.call("qr", {"order_no": f"Q-{wallet}", "amount_fen": 1250})
    page = await _pay_in_app(browser, stack, wallet, answer["qr_code"])
    assert await page.inner_text("h1") == "支付成功"
    sandbox = stack.sandboxes[wallet]
    (trade_no,) = sandbox.wallet.paid
    await page.goto(answer["qr_code"])
    assert await page.inner_text("h1") == "支付成功"
    assert "已付款" in await page.inner_text("body")
    assert len(sandbox.ledger.charges_for(trade_no)) == 1
    assert (await stack.call("query", {"order_no": f"Q-{wallet}"}))["order"]["status"] == "SUCCESS"


async def test_any_other_browser_is_told_which_apps_can_pay(stack, browser):
    answer = await stack.call("qr", {"order_no": "Q-desktop", "amount_fen": 880})
    context = await phone(browser, "desktop")
    page = await context.new_page()
    await page.goto(answer["qr_code"])
    assert page.url == answer["qr_code"]
    body = await page.inner_text("body")
    assert "¥8.80" in body and "微信、支付宝、云闪付" in body and "普通浏览器无法付款" in body
    order = await stack.storage.get_order(stack.device_id, "Q-desktop")
    assert (order.status, order.channel) == ("PAYING", "")   # nothing started at any channel
    # A wrong token is a clear page, not an error.
    response = await page.goto(stack.server_url + "/c/no-such-code")
    assert response.status == 404 and await page.inner_text("h1") == "二维码无效"


async def test_an_expired_code_is_closed_at_the_channel_and_says_so(tmp_path, browser):
    async with running_stack(tmp_path, qr_valid_s=3) as stack:
        answer = await stack.call("qr", {"order_no": "Q-late", "amount_fen": 4200})
        context = await stack.phone(browser, "wechat", answer="cancel")
        page = await context.new_page()
        await page.goto(answer["qr_code"])
        await page.wait_for_selector("text=已取消付款")    # the payer got as far as WeChat's sheet, then left
        order = (await stack.call("query", {"order_no": "Q-late", "wait": 15}))["order"]
        assert order["status"] == "CLOSED"

        stored = await stack.storage.get_order(stack.device_id, "Q-late")
        wechat = stack.sandboxes["wechat"]
        assert wechat.ledger.calls_to("/pay/closeorder", stored.trade_no) >= 1
        assert wechat.ledger.orders[stored.trade_no].state == "CLOSED"
        # Paying in the app now fails (WeChat refuses the closed order); the landing page says the code is
        # no longer valid.
        await page.evaluate(f"() => {{ {wechat.bridge_script('alice', 'pay')} }}")
        await page.click("button#pay")
        await page.wait_for_selector("text=付款未完成")
        assert wechat.wallet.refusals == ["closed"]
        response = await page.goto(answer["qr_code"])
        assert response.status == 410
        assert await page.inner_text("h1") == "二维码已失效"
        assert "请向收银员索取新的收款码" in await page.inner_text("body")
        assert wechat.ledger.charges_for(stored.trade_no) == []


async def test_static_code_holds_each_payer_to_500_yuan_per_channel_per_day(stack, browser):
    static_url = (await stack.call("info", {}))["static_code"]
    assert (await stack.call("info", {}))["limits"]["static_code_max_fen"] == 50_000

    # An unknown browser on the static code: which apps can pay.
    desktop = await (await phone(browser, "desktop")).new_page()
    await desktop.goto(static_url)
    assert "微信、支付宝、云闪付" in await desktop.inner_text("body")

    page = await _pay_in_app(browser, stack, "wechat", static_url, "alice", "300")
    assert await page.inner_text("h1") == "支付成功"
    # 300 + 250 > 500 in WeChat for alice: refused, with the way out.
    page = await _pay_in_app(browser, stack, "wechat", static_url, "alice", "250")
    assert await page.inner_text("h1") == "超出静态码限额"
    body = await page.inner_text("body")
    assert "500.00 元" in body and "一次性收款码" in body
    assert len(stack.sandboxes["wechat"].wallet.paid) == 1
    refused = [o for o in (await stack.call("orders", {}))["orders"] if o["amount_fen"] == 25_000]
    assert [o["status"] for o in refused] == ["CLOSED"]      # closed at once: no money held for it
    # One payment over 500 on its own is refused before any channel is asked.
    page = await _pay_in_app(browser, stack, "wechat", static_url, "carol", "500.01")
    assert await page.inner_text("h1") == "超出静态码限额"

    # The same payer in another channel, and another payer in WeChat, still pay.
    page = await _pay_in_app(browser, stack, "alipay", static_url, "alice", "250")
    assert await page.inner_text("h1") == "支付成功"
    page = await _pay_in_app(browser, stack, "wechat", static_url, "bob", "250")
    assert await page.inner_text("h1") == "支付成功"
    # Exactly up to the limit is fine: alice in WeChat has 200 left.
    page = await _pay_in_app(browser, stack, "wechat", static_url, "alice", "200")
    assert await page.inner_text("h1") == "支付成功"

    orders = (await stack.call("orders", {}))["orders"]
    paid = sorted(o["amount_fen"] for o in orders if o["status"] == "SUCCESS")
    assert paid == [20_000, 25_000, 25_000, 30_000]
    assert sum(c.amount_fen for s in stack.sandboxes.values() for c in s.ledger.charges) == 100_000


async def test_a_code_opened_in_one_app_cannot_be_paid_in_another(stack, browser):
    answer = await stack.call("qr", {"order_no": "Q-twice", "amount_fen": 500})
    wechat = await (await stack.phone(browser, "wechat", answer="cancel")).new_page()
    await wechat.goto(answer["qr_code"])
    await wechat.wait_for_selector("text=已取消付款")
    alipay = await (await stack.phone(browser, "alipay", "bob")).new_page()
    response = await alipay.goto(answer["qr_code"])
    assert response.status == 409 and await alipay.inner_text("h1") == "请用原应用付款"
    assert "微信" in await alipay.inner_text("body")
    assert stack.sandboxes["alipay"].ledger.orders == {}     # nothing was created at Alipay
