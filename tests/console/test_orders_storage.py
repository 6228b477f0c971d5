"""The console's order queries on SQLite and PostgreSQL: search, merchant scope, daily sums."""
from __future__ import annotations

from server.clock import new_id, new_trade_no, now_ms
from server.console import queries
from server.device_auth import new_device_key
from server.storage import REFUND_PENDING, REFUND_SUCCESS, SUCCESS, Order, Refund


async def _order(storage, device_id: str, merchant_id: str, order_no: str, amount_fen: int, channel: str,
                 status: str = SUCCESS, *, created_at: int | None = None, day: int = 20261122) -> Order:
    now = created_at or now_ms()
    order = Order(id=new_id(), device_id=device_id, order_no=order_no, trade_no=new_trade_no(),
                  amount_fen=amount_fen, channel=channel, status=status, auth_code_hash="h", auth_code_masked="****",
                  created_at=now, deadline_at=now + 1000, merchant_id=merchant_id, day=day,
                  channel_trade_no=f"CH-{order_no}")
    await storage.create_order(order)
    return order


async def _two_shops(storage) -> dict[str, Order]:
    for merchant_id, device_id, store in (("M1", "D1", "Tea"), ("M2", "D2", "Noodles")):
        await storage.add_merchant(merchant_id, merchant_id)
        await storage.add_device(device_id, merchant_id, store, new_device_key())
    return {
        "T1": await _order(storage, "D1", "M1", "T1", 1250, "wechat"),
        "T2": await _order(storage, "D1", "M1", "T2", 8800, "alipay"),
        "T3": await _order(storage, "D1", "M1", "T3", 500, "wechat", "FAILED"),
        "N1": await _order(storage, "D2", "M2", "N1", 1800, "wechat"),
    }


async def test_search_by_any_number_within_the_merchant_scope(console_storage):
    orders = await _two_shops(console_storage)
    found = await console_storage.search_orders(queries.OrderFilter(), offset=0, limit=10)
    assert sorted(r.order.order_no for r in found) == ["N1", "T1", "T2", "T3"]
    for number in ("T2", orders["T2"].trade_no, "CH-T2"):
        rows = await console_storage.search_orders(queries.OrderFilter(number=number), offset=0, limit=10)
        assert [(r.order.order_no, r.store_name) for r in rows] == [("T2", "Tea")]
    scoped = queries.OrderFilter(merchant_id="M1", number="N1")
    assert await console_storage.search_orders(scoped, offset=0, limit=10) == []
    assert await console_storage.console_order(orders["N1"].id, "M1") is None
    assert (await console_storage.console_order(orders["N1"].id, "M2")).order.order_no == "N1"
    assert (await console_storage.console_order(orders["N1"].id, None)).order.order_no == "N1"
    by_status = await console_storage.search_orders(queries.OrderFilter(merchant_id="M1", status="FAILED"),
                                            offset=0, limit=10)
    assert [r.order.order_no for r in by_status] == ["T3"]
    page_two = await console_storage.search_orders(queries.OrderFilter(merchant_id="M1"), offset=2, limit=2)
    assert [r.order.order_no for r in page_two] == ["T1"]   # newest first: T3, T2 | T1


async def test_daily_sums_count_paid_orders_and_finished_refunds(console_storage):
    orders = await _two_shops(console_storage)
    for refund_no, amount_fen, status in (("R1", 250, REFUND_SUCCESS), ("R2", 100, REFUND_PENDING)):
        refund = Refund(id=new_id(), order_id=orders["T1"].id, device_id="D1", refund_no=refund_no,
                        refund_trade_no="RF" + new_trade_no()[2:], amount_fen=amount_fen, status=REFUND_PENDING,
                        created_at=now_ms())
        await console_storage.create_refund(refund)
        if status == REFUND_SUCCESS:
            await console_storage.finish_refund(refund.id, REFUND_SUCCESS, fail_reason=None, message=None,
                                                channel_refund_no="x", finished_at=now_ms())
    paid = await console_storage.paid_by_day(queries.OrderFilter(merchant_id="M1"))
    assert sorted((r["day"], r["store_name"], r["channel"], r["paid_count"], int(r["paid_fen"])) for r in paid) == [
        (20261122, "Tea", "alipay", 1, 8800), (20261122, "Tea", "wechat", 1, 1250)]
    refunds = await console_storage.refunds_done("M1", None, None, None, None)
    assert [(r["amount_fen"], r["store_name"], r["channel"]) for r in refunds] == [(250, "Tea", "wechat")]
    assert await console_storage.refunds_done("M2", None, None, None, None) == []
    assert await console_storage.merchant_has_orders_on("M1", device_id="D1")
    assert not await console_storage.merchant_has_orders_on("M1", device_id="D2")
    assert not await console_storage.merchant_has_orders_on("M1", store_name="Noodles")
