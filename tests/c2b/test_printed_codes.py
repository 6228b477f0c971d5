"""A batch of printed static codes, end to end in headless Chromium: 100 empty codes printed to a PDF
sheet that ZBar reads back; one bound to the stand's store and paid from a WeChat phone (the order is
the store's, naming the code); an empty sticker and a deregistered one take no money and say why."""
from tests.c2b.c2b_stack import UA, phone

from server import static_codes
from server.keys import STORAGE
from tests.sheets import scanned_urls


async def _open(browser, wallet: str, url: str):
    page = await (await phone(browser, wallet)).new_page()
    response = await page.goto(url)
    return page, response


async def test_a_printed_code_bound_to_a_store_is_paid_there_until_it_is_deregistered(stack, browser):
    storage = stack.app[STORAGE]
    batch, codes = await static_codes.print_batch(storage, 100, note="浦东地推 12 月", actor="ops1")
    pdf = static_codes.sheet(stack.server_url, codes, title=f"收款码 批次 {batch.id}")
    urls = scanned_urls(pdf)
    assert urls == [f"{stack.server_url}/c/s/{code.id}" for code in codes]

    # An empty sticker (stuck up before the ground team bound it) takes no money.
    page, response = await _open(browser, "wechat", urls[41])
    assert response.status == 404 and await page.inner_text("h1") == "收款码尚未启用"
    assert await page.locator("input[name=amount]").count() == 0

    stand = await storage.get_device("STAND1")
    await static_codes.bind(storage, codes[41].id, store_id=stand.store_id, actor="ground-team-7")
    orders_before = len((await stack.call("orders", {}))["orders"])
    page = await (await stack.phone(browser, "wechat")).new_page()     # with WeChat's payment sheet
    await page.goto(urls[41])
    assert await page.inner_text("h1") == "向茶馆（老王茶馆）付款"
    await page.fill("input[name=amount]", "12.50")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/done")
    assert await page.inner_text("h1") == "支付成功"
    paid = [o for o in (await stack.call("orders", {}))["orders"] if o["status"] == "SUCCESS"]
    assert [o["amount_fen"] for o in paid] == [1250]
    order = await storage.get_order("STAND1", paid[0]["order_no"])
    assert (order.store_id, order.static_code_id, order.merchant_id) == (stand.store_id, codes[41].id, "M1")
    assert [c.amount_fen for c in stack.sandboxes["wechat"].ledger.charges] == [1250]

    # Deregistered (the shop asked): the sticker never takes money again, the rest of the shop carries on.
    await static_codes.deregister(storage, codes[41].id, reason="shop_request", actor="ops1")
    page, response = await _open(browser, "wechat", urls[41])
    assert response.status == 410 and await page.inner_text("h1") == "收款码已停用"
    async with stack.http.post(urls[41], data={"amount": "12.50"}, headers={"User-Agent": UA["wechat"]}) as posted:
        assert posted.status == 410
    assert len((await stack.call("orders", {}))["orders"]) == orders_before + 1
    assert len(stack.sandboxes["wechat"].ledger.charges) == 1
    assert (await stack.call("info", {}))["static_code"] is not None     # the stand's own code still works
