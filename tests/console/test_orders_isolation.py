"""A merchant reaches only its own orders, by any URL; unsafe requests need the session's CSRF token."""
from __future__ import annotations

from tests.console.conftest import login, new_page
from tests.console.console_stack import NOODLE, NOODLE_SHOP, PASSWORDS, REFUND_PASSWORDS, TEA, TEA_SHOP


async def _csrf_token(page) -> str:
    return await page.get_attribute("header input[name=csrf_token]", "value")


async def test_a_merchant_cannot_reach_another_merchants_orders_by_any_url(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    token = await _csrf_token(page)
    theirs = await stack.storage.get_order(NOODLE_SHOP.device_id, "N2001")
    events_before = len(await stack.storage.list_events(theirs.id))
    secrets_of_theirs = [theirs.order_no, theirs.trade_no, theirs.channel_trade_no, NOODLE_SHOP.store_name]

    async def refused(resp) -> None:
        body = await resp.text()
        assert resp.status == 404, (resp.url, resp.status)
        assert not any(s in body for s in secrets_of_theirs), resp.url

    get = page.request.get
    post = page.request.post
    base = f"{stack.url}/console/orders/{theirs.id}"
    await refused(await get(base))
    await refused(await get(f"{base}?synced=SUCCESS&refunded=x"))
    await refused(await get(f"{base}/refund"))
    await refused(await post(f"{base}/sync", form={"csrf_token": token}))
    await refused(await post(f"{base}/refund/confirm", form={"csrf_token": token, "amount": "1"}))
    await refused(await post(f"{base}/refund", form={"csrf_token": token, "refund_no": "CR" + "0" * 20,
                                                     "amount_fen": "100", "reason": ""}))
    # Filters naming the other merchant's device or store.
    await refused(await get(f"{stack.url}/console/orders?device={NOODLE_SHOP.device_id}"))
    await refused(await get(f"{stack.url}/console/orders?store={NOODLE_SHOP.store_name}"))
    await refused(await get(f"{stack.url}/console/orders/summary?store={NOODLE_SHOP.store_name}"))
    # Another merchant's numbers find nothing; an operator-only filter is ignored for a merchant.
    for number in (theirs.order_no, theirs.trade_no, theirs.channel_trade_no):
        resp = await get(f"{stack.url}/console/orders?q={number}")
        assert resp.status == 200 and "没有符合条件的订单" in await resp.text()
    resp = await get(f"{stack.url}/console/orders?merchant={NOODLE_SHOP.merchant_id}")
    body = await resp.text()
    assert "T1001" in body and not any(s in body for s in secrets_of_theirs)
    resp = await get(f"{stack.url}/console/orders/summary")
    assert NOODLE_SHOP.store_name not in await resp.text()

    # Nothing happened to their order: no sync, no refund, no journal entry, no channel call.
    assert len(await stack.storage.list_events(theirs.id)) == events_before
    assert await stack.storage.list_refunds(theirs.id) == []
    ledger = stack.sandboxes["wechat"].ledger
    assert ledger.refunds == [] and ledger.calls_to("/pay/orderquery", theirs.trade_no) == 0

    # Their own order works the same way, so the 404s above are about ownership, not the URLs.
    mine = await stack.storage.get_order(TEA_SHOP.device_id, "T1001")
    assert (await get(f"{stack.url}/console/orders/{mine.id}")).status == 200
    assert (await get(f"{stack.url}/console/orders/{mine.id}/refund")).status == 200
    assert (await get(f"{stack.url}/console/orders?device={TEA_SHOP.device_id}")).status == 200


async def test_not_found_looks_the_same_for_a_missing_order_and_a_foreign_one(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    theirs = await stack.storage.get_order(NOODLE_SHOP.device_id, "N2001")
    foreign = await page.request.get(f"{stack.url}/console/orders/{theirs.id}")
    missing = await page.request.get(f"{stack.url}/console/orders/{'0' * 32}")
    assert foreign.status == missing.status == 404
    assert (await foreign.text()) .replace(theirs.id, "") == (await missing.text()).replace("0" * 32, "")


async def test_refund_without_the_csrf_token_is_refused_and_refunds_nothing(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    mine = await stack.storage.get_order(TEA_SHOP.device_id, "T1001")
    fields = {"refund_no": "CR" + "1" * 20, "amount_fen": "1250", "reason": "",
              "refund_password": REFUND_PASSWORDS[TEA_SHOP.merchant_id]}
    for token in (None, "", "wrong-token"):
        form = fields if token is None else {**fields, "csrf_token": token}
        resp = await page.request.post(f"{stack.url}/console/orders/{mine.id}/refund", form=form)
        assert resp.status == 403 and "请求被拒绝" in await resp.text()
        resp = await page.request.post(f"{stack.url}/console/orders/{mine.id}/sync", form=form)
        assert resp.status == 403
    assert await stack.storage.list_refunds(mine.id) == []
    assert stack.sandboxes["wechat"].ledger.refunds == []
    assert (await stack.storage.get_order_by_id(mine.id)).status == "SUCCESS"
    assert not any(e.kind.startswith("console:") for e in await stack.storage.list_events(mine.id))
    # With the page's token the same refund goes through (the refusal was the token, not the form).
    resp = await page.request.post(f"{stack.url}/console/orders/{mine.id}/refund",
                                   form={**fields, "csrf_token": await _csrf_token(page)})
    assert resp.ok
    assert [r.amount_fen for r in stack.sandboxes["wechat"].ledger.refunds] == [1250]


async def test_logged_out_visitors_reach_no_order_page(stack):
    theirs = await stack.storage.get_order(NOODLE_SHOP.device_id, "N2001")
    base = f"{stack.url}/console/orders/{theirs.id}"
    for url in (f"{stack.url}/console/orders", base, f"{base}/refund", f"{stack.url}/console/orders/summary"):
        async with stack.http.get(url, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/console/login?next=")
    # A POST without a session has no token to match: refused before anything runs.
    async with stack.http.post(f"{base}/sync", data={"csrf_token": "x"}, allow_redirects=False) as resp:
        assert resp.status == 403
    assert stack.sandboxes["wechat"].ledger.calls_to("/pay/orderquery", theirs.trade_no) == 0


async def test_a_device_moved_to_another_merchant_shows_its_new_cashier_none_of_the_old_orders(stack, page):
    """The tea house's device goes back to stock and is installed at the noodle shop: the noodle shop's
    cashier page on that device finds none of the tea house's orders, while the tea house can still see and
    refund its own order (taken on that device) from the console."""
    from server import devices
    storage = stack.storage
    tea_order = await storage.get_order(TEA_SHOP.device_id, "T1001")
    await devices.return_to_stock(storage, TEA_SHOP.device_id, actor="ops1")
    await devices.assign(storage, TEA_SHOP.device_id, NOODLE_SHOP.merchant_id, NOODLE_SHOP.store_name, actor="ops1")
    await devices.install(storage, TEA_SHOP.device_id, actor="ops1")

    await login(page, NOODLE, PASSWORDS[NOODLE])
    resp = await page.request.get(f"{stack.url}/console/cashier/order?device_id={TEA_SHOP.device_id}&order_no=T1001")
    assert resp.status == 404 and "T1001" not in (await resp.text()).replace("order_no=T1001", "")
    assert (await page.request.get(f"{stack.url}/console/orders/{tea_order.id}")).status == 404

    tea = await new_page(page.context.browser, stack)
    try:
        await login(tea, TEA, PASSWORDS[TEA])
        assert (await tea.request.get(f"{stack.url}/console/orders/{tea_order.id}")).status == 200
        csrf = await tea.get_attribute("header input[name=csrf_token]", "value")
        resp = await tea.request.post(f"{stack.url}/console/orders/{tea_order.id}/refund",
                                      form={"csrf_token": csrf, "refund_no": "CR" + "2" * 20, "amount_fen": "1250",
                                            "reason": "", "refund_password": REFUND_PASSWORDS[TEA_SHOP.merchant_id]})
        assert resp.ok
    finally:
        await tea.context.close()
    assert [r.amount_fen for r in stack.sandboxes["wechat"].ledger.refunds] == [1250]
