"""Paying in WeChat for real: snsapi_base web authorisation → openid → JSAPI unifiedorder → the page calls
WeixinJSBridge getBrandWCPayRequest with a paySign the (stand-in) WeChat checks → WeChat notifies → the
server asks orderquery, and only that answer finishes the order."""
import asyncio

from tests.c2b.c2b_stack import running_stack  # noqa: F401

from server.channels.wechat.xmlcodec import from_xml


async def _open(stack, browser, url, payer="alice", **phone):
    context = await stack.phone(browser, "wechat", payer, **phone)
    page = await context.new_page()
    await page.goto(url)
    return page


async def test_a_one_time_code_is_paid_in_wechat(stack, browser):
    wechat = stack.sandboxes["wechat"]
    answer = await stack.call("qr", {"order_no": "W-1", "amount_fen": 1250})
    poll = asyncio.create_task(stack.call("query", {"order_no": "W-1", "wait": 25}))
    try:
        page = await _open(stack, browser, answer["qr_code"])
        await page.wait_for_url("**/done")
        assert await page.inner_text("h1") == "支付成功"
        order = (await asyncio.wait_for(poll, 30))["order"]
    finally:
        poll.cancel()
    assert order["status"] == "SUCCESS"
    stored = await stack.storage.get_order(stack.device_id, "W-1")
    # The payer is the openid WeChat's web authorisation gave for alice under the acquirer's appid.
    assert stored.payer_id == wechat.openid_of("alice")
    assert wechat.wallet.paid == [stored.trade_no] and wechat.wallet.refusals == []
    assert [c.amount_fen for c in wechat.ledger.charges_for(stored.trade_no)] == [1250]
    # The page handed WeChat exactly the six signed parameters, for the order's prepay_id.
    (handed,) = wechat.wallet.requests
    assert set(handed) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert handed["package"] == "prepay_id=" + wechat.ledger.orders[stored.trade_no].prepay_id
    assert handed["appId"] == wechat.appid
    # WeChat notified; the server took it (SUCCESS) and kept it as an event next to the query's answer.
    assert wechat.notifications == [(stored.trade_no, "SUCCESS")]
    kinds = [e.kind for e in await stack.storage.list_events(stored.id)]
    assert "notify:wechat" in kinds and "precreate:ok" in kinds
    # No payer id, code or key whole in the page the payer keeps open.
    assert wechat.openid_of("alice") not in await page.content()


async def test_the_static_code_is_paid_in_wechat(stack, browser):
    static_url = (await stack.call("info", {}))["static_code"]
    context = await stack.phone(browser, "wechat", "bob")
    page = await context.new_page()
    await page.goto(static_url)
    await page.fill("input[name=amount]", "23.40")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/done")
    assert await page.inner_text("h1") == "支付成功"
    wechat = stack.sandboxes["wechat"]
    (trade_no,) = wechat.wallet.paid
    assert [c.amount_fen for c in wechat.ledger.charges_for(trade_no)] == [2340]
    order = await stack.storage.get_order_by_trade_no(trade_no)
    assert (order.status, order.payer_id, order.static_code) == ("SUCCESS", wechat.openid_of("bob"),
                                                                 order.static_code)
    assert order.static_code


async def test_the_payer_cancels_in_the_payment_sheet(stack, browser):
    answer = await stack.call("qr", {"order_no": "W-cancel", "amount_fen": 990})
    page = await _open(stack, browser, answer["qr_code"], answer="cancel")
    await page.wait_for_selector("text=已取消付款")
    assert "没有扣款" in await page.inner_text("body")
    assert await page.is_visible("button#pay")
    stored = await stack.storage.get_order(stack.device_id, "W-cancel")
    assert stored.status == "PAYING" and stack.sandboxes["wechat"].ledger.charges_for(stored.trade_no) == []


async def test_the_payer_refuses_the_authorisation(stack, browser):
    answer = await stack.call("qr", {"order_no": "W-deny", "amount_fen": 990})
    page = await _open(stack, browser, answer["qr_code"], deny=True)
    assert await page.inner_text("h1") == "您已取消授权"
    assert "请重新扫码" in await page.inner_text("body")
    stored = await stack.storage.get_order(stack.device_id, "W-deny")
    assert (stored.status, stored.channel) == ("PAYING", "")      # nothing was started at WeChat
    assert stack.sandboxes["wechat"].ledger.orders == {}


async def test_an_authorisation_code_from_another_phone_is_refused(stack, browser):
    answer = await stack.call("qr", {"order_no": "W-link", "amount_fen": 990})
    # Someone sends the payer a link with their own nonce and code: this phone never asked for it.
    page = await _open(stack, browser, answer["qr_code"] + "?auth=0123456789abcdef&code=abc&state=x")
    assert await page.inner_text("h1") == "请重新扫码"
    assert stack.sandboxes["wechat"].ledger.orders == {}


async def _engaged(stack, browser, order_no):
    """An order opened in WeChat (JSAPI order made) but not paid: the payer backed out."""
    answer = await stack.call("qr", {"order_no": order_no, "amount_fen": 700})
    page = await _open(stack, browser, answer["qr_code"], answer="cancel")
    await page.wait_for_selector("text=已取消付款")
    return await stack.storage.get_order(stack.device_id, order_no)


async def _post_notice(stack, body):
    async with stack.http.post(stack.server_url + "/n/wechat", data=body,
                               headers={"Content-Type": "text/xml"}) as resp:
        assert resp.status == 200
        return from_xml(await resp.read())["return_code"]


async def test_a_notice_saying_paid_waits_for_the_query(stack, browser):
    wechat = stack.sandboxes["wechat"]
    order = await _engaged(stack, browser, "W-says-paid")
    queries = wechat.ledger.calls_to("/pay/orderquery", order.trade_no)
    # Signed with the real key, but WeChat's orderquery says NOTPAY: the order stays waiting.
    assert await _post_notice(stack, wechat.notice(order.trade_no, paid=True)) == "SUCCESS"
    assert wechat.ledger.calls_to("/pay/orderquery", order.trade_no) > queries   # asked at once
    after = await stack.storage.get_order_by_trade_no(order.trade_no)
    assert after.status == "PAYING"
    assert [e.detail for e in await stack.storage.list_events(order.id) if e.kind == "notify:wechat"] == ["paid"]


async def test_forged_and_replayed_notices_are_refused(stack, browser):
    wechat = stack.sandboxes["wechat"]
    order = await _engaged(stack, browser, "W-forged")
    # Forged: signed with another key.
    assert await _post_notice(stack, wechat.notice(order.trade_no, key="1" * 32)) == "FAIL"
    # Another amount than the order's, correctly signed (a notice of another trade re-aimed): refused.
    wechat.ledger.orders[order.trade_no].total_fee += 1
    assert await _post_notice(stack, wechat.notice(order.trade_no)) == "FAIL"
    wechat.ledger.orders[order.trade_no].total_fee -= 1
    # Neither was taken as a notification: the forged one left no trace, the wrong amount only its refusal.
    assert [e.kind for e in await stack.storage.list_events(order.id) if e.kind.startswith("notify")] == \
        ["notify:wechat:refused"]
    # A genuine one is taken once; the same bytes again are answered and change nothing.
    genuine = wechat.notice(order.trade_no)
    assert await _post_notice(stack, genuine) == "SUCCESS"
    assert await _post_notice(stack, genuine) == "SUCCESS"
    events = [e.kind for e in await stack.storage.list_events(order.id)]
    assert events.count("notify:wechat") == 1 and events.count("notify:wechat:refused") == 1
    assert (await stack.storage.get_order_by_trade_no(order.trade_no)).status == "PAYING"


SHOP_MCH_ID, SHOP_APPID = "1900000109", "wx5c0b0f4c3d2e1a90"


async def test_a_shop_with_its_own_official_account_is_paid_by_its_sub_openid(tmp_path, browser):
    """Service-provider mode, the shop has its own official account (sub_appid) whose secret we hold: the payer
    is identified under it (sub_openid), the order names sub_appid + sub_openid, and the page signs
    appId = sub_appid with the service provider's API key."""
    from hw_sim.sandbox.wechat_wallet import app_secret_of
    from server import merchant_channels

    sub_apps = [{"appid": SHOP_APPID, "app_secret": app_secret_of(SHOP_APPID)}]
    async with running_stack(tmp_path, channels={"wechat": {"service_provider": True, "sub_apps": sub_apps}}) as stack:
        wechat = stack.sandboxes["wechat"]
        wechat.add_sub_merchant(SHOP_MCH_ID, SHOP_APPID)
        await merchant_channels.open_merchant(stack.storage, stack.settings, "M1", "wechat", account_id=SHOP_MCH_ID,
                                              app_id=SHOP_APPID, actor="test")
        answer = await stack.call("qr", {"order_no": "W-sub", "amount_fen": 880})
        page = await _open(stack, browser, answer["qr_code"])
        await page.wait_for_url("**/done")
        assert await page.inner_text("h1") == "支付成功"
        stored = await stack.storage.get_order(stack.device_id, "W-sub")
        sandbox_order = wechat.ledger.orders[stored.trade_no]
        assert (sandbox_order.sub_mch_id, sandbox_order.sub_appid, sandbox_order.payer_appid) == \
            (SHOP_MCH_ID, SHOP_APPID, SHOP_APPID)
        assert stored.payer_id == sandbox_order.openid == wechat.openid_of("alice", SHOP_APPID)
        assert stored.payer_id != wechat.openid_of("alice")            # openids differ per official account
        assert wechat.wallet.requests[0]["appId"] == SHOP_APPID
        assert [c.merchant for c in wechat.ledger.charges_for(stored.trade_no)] == [SHOP_MCH_ID]
