"""Paying in a UnionPay app on the acquirer's own code: the app's user authorisation → userAuthCode → the payer's
userId (with the app named by its User-Agent) → an order for that userId → UnionPay's cashier → UnionPay notifies
the backUrl (signed form, taken with HTTP 200) → the server queries; only that answer finishes the order.
Which of these facts are inferred: docs/c2b.md."""
import asyncio

from hw_sim.sandbox import keys
from server.channels.unionpay import signing


async def _open(stack, browser, url, payer="alice", **phone):
    context = await stack.phone(browser, "unionpay", payer, **phone)
    page = await context.new_page()
    await page.goto(url)
    return page


async def test_a_one_time_code_is_paid_in_a_unionpay_app(stack, browser):
    unionpay = stack.sandboxes["unionpay"]
    answer = await stack.call("qr", {"order_no": "U-1", "amount_fen": 1250})
    poll = asyncio.create_task(stack.call("query", {"order_no": "U-1", "wait": 25}))
    try:
        page = await _open(stack, browser, answer["qr_code"])
        await page.wait_for_url(unionpay.base_url + "/wallet/unionpay/cashier**")
        assert "¥12.50" in await page.inner_text("body")
        await page.click("text=确认付款")
        await page.wait_for_url("**/done")
        assert await page.inner_text("h1") == "支付成功"
        order = (await asyncio.wait_for(poll, 30))["order"]
    finally:
        poll.cancel()
    assert order["status"] == "SUCCESS"
    stored = await stack.storage.get_order(stack.device_id, "U-1")
    assert stored.payer_id == unionpay.user_id_of("alice")
    assert unionpay.wallet.app_ups == ["UnionPay/1.0 CloudPay"]          # the app, from its User-Agent
    assert unionpay.wallet.paid == [stored.trade_no]
    assert [c.amount_fen for c in unionpay.ledger.charges_for(stored.trade_no)] == [1250]
    assert unionpay.wallet.notifications == [(stored.trade_no, 200)]
    assert "notify:unionpay" in [e.kind for e in await stack.storage.list_events(stored.id)]


async def test_the_static_code_is_paid_in_a_unionpay_app(stack, browser):
    unionpay = stack.sandboxes["unionpay"]
    static_url = (await stack.call("info", {}))["static_code"]
    page = await _open(stack, browser, static_url, "bob")
    await page.fill("input[name=amount]", "30")
    await page.click("button[type=submit]")
    await page.wait_for_url(unionpay.base_url + "/wallet/unionpay/cashier**")
    await page.click("text=确认付款")
    await page.wait_for_url("**/done")
    assert await page.inner_text("h1") == "支付成功"
    (trade_no,) = unionpay.wallet.paid
    order = await stack.storage.get_order_by_trade_no(trade_no)
    assert (order.status, order.payer_id) == ("SUCCESS", unionpay.user_id_of("bob")) and order.static_code


async def test_another_payer_cannot_pay_in_the_cashier(stack, browser):
    answer = await stack.call("qr", {"order_no": "U-other", "amount_fen": 500})
    page = await _open(stack, browser, answer["qr_code"], "alice")
    await page.wait_for_url("**/wallet/unionpay/cashier**")
    other = await (await stack.phone(browser, "unionpay", "mallory")).new_page()
    response = await other.goto(page.url)
    assert response.status == 403 and "付款人与订单不符" in await other.inner_text("body")


async def test_the_payer_refuses_the_unionpay_authorisation(stack, browser):
    answer = await stack.call("qr", {"order_no": "U-deny", "amount_fen": 990})
    page = await _open(stack, browser, answer["qr_code"], deny=True)
    assert await page.inner_text("h1") == "您已取消授权"
    assert "云闪付" in await page.inner_text("body")
    stored = await stack.storage.get_order(stack.device_id, "U-deny")
    assert (stored.status, stored.channel) == ("PAYING", "")
    assert stack.sandboxes["unionpay"].ledger.orders == {}


async def _engaged(stack, browser, order_no):
    """An order opened in the UnionPay app whose payer left the cashier without paying."""
    answer = await stack.call("qr", {"order_no": order_no, "amount_fen": 700})
    page = await _open(stack, browser, answer["qr_code"])
    await page.wait_for_url("**/wallet/unionpay/cashier**")
    await page.click("text=取消")
    await page.wait_for_url("**/done")
    assert await page.inner_text("h1") == "正在确认付款"
    return await stack.storage.get_order(stack.device_id, order_no)


async def _post_notice(stack, body):
    async with stack.http.post(stack.server_url + "/n/unionpay", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"}) as resp:
        return resp.status


async def test_a_unionpay_notice_saying_paid_waits_for_the_query(stack, browser):
    unionpay = stack.sandboxes["unionpay"]
    order = await _engaged(stack, browser, "U-says-paid")
    queries = unionpay.ledger.calls_to("0350000903", order.trade_no)
    assert await _post_notice(stack, unionpay.wallet.notice(order.trade_no)) == 200
    assert unionpay.ledger.calls_to("0350000903", order.trade_no) > queries   # asked at once
    assert (await stack.storage.get_order_by_trade_no(order.trade_no)).status == "PAYING"


async def test_forged_and_replayed_unionpay_notices_are_refused(stack, browser):
    unionpay = stack.sandboxes["unionpay"]
    order = await _engaged(stack, browser, "U-forged")
    forged = unionpay.wallet.notice(order.trade_no, key=signing.load_private_key(keys.UNIONPAY_ACQUIRER_PRIVATE_KEY))
    assert await _post_notice(stack, forged) == 400
    assert await _post_notice(stack, unionpay.wallet.notice(order.trade_no, amount_fen=1)) == 400
    # Neither was taken as a notification: the forged one left no trace, the wrong amount only its refusal.
    assert [e.kind for e in await stack.storage.list_events(order.id) if e.kind.startswith("notify")] == \
        ["notify:unionpay:refused"]
    genuine = unionpay.wallet.notice(order.trade_no)
    assert await _post_notice(stack, genuine) == 200
    assert await _post_notice(stack, genuine) == 200
    events = [e.kind for e in await stack.storage.list_events(order.id)]
    assert events.count("notify:unionpay") == 1 and events.count("notify:unionpay:refused") == 1
    assert (await stack.storage.get_order_by_trade_no(order.trade_no)).status == "PAYING"


async def test_a_payer_who_left_the_cashier_can_go_back_and_pay(stack, browser):
    unionpay = stack.sandboxes["unionpay"]
    answer = await stack.call("qr", {"order_no": "U-back", "amount_fen": 640})
    page = await _open(stack, browser, answer["qr_code"])
    await page.wait_for_url("**/wallet/unionpay/cashier**")
    await page.click("text=取消")
    await page.wait_for_url("**/done")
    await page.click("text=还没有付款？返回付款")
    await page.wait_for_url("**/wallet/unionpay/cashier**")
    await page.click("text=确认付款")
    await page.wait_for_url("**/done")
    assert await page.inner_text("h1") == "支付成功"
    stored = await stack.storage.get_order(stack.device_id, "U-back")
    assert [c.amount_fen for c in unionpay.ledger.charges_for(stored.trade_no)] == [640]
