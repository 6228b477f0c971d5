"""Paying in the Alipay app for real: auth_base web authorisation → auth_code → alipay.system.oauth.token →
user_id (or open_id) → alipay.trade.create for that buyer → the page calls AlipayJSBridge tradePay → Alipay
notifies (RSA2-signed form, answered `success`) → the server asks trade.query; only that answer finishes it."""
import asyncio

from hw_sim.sandbox import keys
from server.channels.alipay import signing


async def _open(stack, browser, url, payer="alice", **phone):
    context = await stack.phone(browser, "alipay", payer, **phone)
    page = await context.new_page()
    await page.goto(url)
    return page


async def test_a_one_time_code_is_paid_in_alipay(stack, browser):
    alipay = stack.sandboxes["alipay"]
    answer = await stack.call("qr", {"order_no": "A-1", "amount_fen": 1250})
    poll = asyncio.create_task(stack.call("query", {"order_no": "A-1", "wait": 25}))
    try:
        page = await _open(stack, browser, answer["qr_code"])
        await page.wait_for_url("**/done")
        assert await page.inner_text("h1") == "支付成功"
        order = (await asyncio.wait_for(poll, 30))["order"]
    finally:
        poll.cancel()
    assert order["status"] == "SUCCESS"
    stored = await stack.storage.get_order(stack.device_id, "A-1")
    assert stored.payer_id == alipay.user_id_of("alice")
    trade = alipay.ledger.orders[stored.trade_no]
    assert trade.buyer == stored.payer_id
    assert alipay.wallet.requests == [{"tradeNO": trade.trade_no}] and alipay.wallet.refusals == []
    assert [c.amount_fen for c in alipay.ledger.charges_for(stored.trade_no)] == [1250]
    assert alipay.wallet.notifications == [(stored.trade_no, "success")]
    assert "notify:alipay" in [e.kind for e in await stack.storage.list_events(stored.id)]


async def test_the_static_code_is_paid_in_alipay_by_an_open_id(stack, browser):
    alipay = stack.sandboxes["alipay"]
    alipay.wallet.open_ids = True            # a newer app: oauth.token answers open_id, trade.create buyer_open_id
    static_url = (await stack.call("info", {}))["static_code"]
    page = await _open(stack, browser, static_url, "bob")
    await page.fill("input[name=amount]", "8.80")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/done")
    assert await page.inner_text("h1") == "支付成功"
    (trade_no,) = alipay.wallet.paid
    order = await stack.storage.get_order_by_trade_no(trade_no)
    assert order.status == "SUCCESS" and order.static_code
    assert order.payer_id == alipay.buyer_of("bob") and not order.payer_id.startswith("2088")
    assert [c.amount_fen for c in alipay.ledger.charges_for(trade_no)] == [880]


async def test_the_payer_cancels_in_the_alipay_cashier(stack, browser):
    answer = await stack.call("qr", {"order_no": "A-cancel", "amount_fen": 990})
    page = await _open(stack, browser, answer["qr_code"], answer="cancel")
    await page.wait_for_selector("text=已取消付款")
    assert "没有扣款" in await page.inner_text("body")
    stored = await stack.storage.get_order(stack.device_id, "A-cancel")
    assert stored.status == "PAYING" and stack.sandboxes["alipay"].ledger.charges_for(stored.trade_no) == []


async def test_the_payer_refuses_the_alipay_authorisation(stack, browser):
    answer = await stack.call("qr", {"order_no": "A-deny", "amount_fen": 990})
    page = await _open(stack, browser, answer["qr_code"], deny=True)
    assert await page.inner_text("h1") == "您已取消授权"
    assert "支付宝" in await page.inner_text("body")
    stored = await stack.storage.get_order(stack.device_id, "A-deny")
    assert (stored.status, stored.channel) == ("PAYING", "")
    assert stack.sandboxes["alipay"].ledger.orders == {}


async def _engaged(stack, browser, order_no):
    answer = await stack.call("qr", {"order_no": order_no, "amount_fen": 700})
    page = await _open(stack, browser, answer["qr_code"], answer="cancel")
    await page.wait_for_selector("text=已取消付款")
    return await stack.storage.get_order(stack.device_id, order_no)


async def _post_notice(stack, body):
    async with stack.http.post(stack.server_url + "/n/alipay", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_an_alipay_notice_saying_paid_waits_for_the_query(stack, browser):
    alipay = stack.sandboxes["alipay"]
    order = await _engaged(stack, browser, "A-says-paid")
    queries = alipay.ledger.calls_to("alipay.trade.query", order.trade_no)
    assert await _post_notice(stack, alipay.wallet.notice(order.trade_no)) == "success"
    assert alipay.ledger.calls_to("alipay.trade.query", order.trade_no) > queries   # asked at once
    assert (await stack.storage.get_order_by_trade_no(order.trade_no)).status == "PAYING"


async def test_forged_and_replayed_alipay_notices_are_refused(stack, browser):
    alipay = stack.sandboxes["alipay"]
    order = await _engaged(stack, browser, "A-forged")
    # Signed by the app's own key, not Alipay's: forged.
    forged = alipay.wallet.notice(order.trade_no, key=signing.load_private_key(keys.ALIPAY_APP_PRIVATE_KEY))
    assert await _post_notice(stack, forged) == "failure"
    assert await _post_notice(stack, alipay.wallet.notice(order.trade_no, amount_fen=1)) == "failure"
    # Neither was taken as a notification: the forged one left no trace, the wrong amount only its refusal.
    assert [e.kind for e in await stack.storage.list_events(order.id) if e.kind.startswith("notify")] == \
        ["notify:alipay:refused"]
    genuine = alipay.wallet.notice(order.trade_no)
    assert await _post_notice(stack, genuine) == "success"
    assert await _post_notice(stack, genuine) == "success"       # taken already: answered, nothing done
    events = [e.kind for e in await stack.storage.list_events(order.id)]
    assert events.count("notify:alipay") == 1 and events.count("notify:alipay:refused") == 1
    assert (await stack.storage.get_order_by_trade_no(order.trade_no)).status == "PAYING"

