"""A device moved from one shop to another starts afresh (on SQLite and PostgreSQL): at its new merchant it
cannot list, query, refund or close the orders it took at the old one, nor reuse their numbers, while
operators still see every order."""
import json

from hw_sim import test_codes
from server import devices
from server.console import queries
from server.keys import STORAGE

from tests.server.conftest import DEVICE_ID, MERCHANT_ID, Device

NOODLE_BAR = "M2"


async def move_to(device: Device, merchant_id: str, store_name: str) -> Device:
    """The operator takes the device back to stock and installs it at `merchant_id`'s store; it activates
    again (a new key)."""
    storage = device.app[STORAGE]
    if await storage.get_merchant(merchant_id) is None:
        await storage.add_merchant(merchant_id, "Noodle Bar")
    await devices.return_to_stock(storage, DEVICE_ID, actor="ops1")
    await devices.assign(storage, DEVICE_ID, merchant_id, store_name, actor="ops1")
    await devices.install(storage, DEVICE_ID, actor="ops1")
    code = await devices.issue_activation_code(storage, DEVICE_ID, 3600, actor="ops1")
    resp = await device.client.post("/d/v1/activate", data=json.dumps({"activation_code": code}),
                                    headers={"Content-Type": "application/json"})
    assert resp.status == 200
    moved = Device(device.client, DEVICE_ID, (await resp.json())["device_key"])
    moved.app = device.app
    return moved


def error_code(body: dict) -> str:
    return body["error"]["code"]


async def test_a_moved_device_sees_and_touches_none_of_the_old_shops_orders(device):
    storage = device.app[STORAGE]
    status, paid = await device.pay("A1", 8800, test_codes.make_wechat_code(test_codes.SUCCESS))
    assert (status, paid["order"]["status"]) == (200, "SUCCESS")
    status, open_code = await device.qr("A2", 2000)
    assert (status, open_code["order"]["status"]) == (200, "PAYING")

    moved = await move_to(device, NOODLE_BAR, "Noodle Bar, Huaihai Rd")

    status, body = await moved.call("orders", {})
    assert (status, body["orders"]) == (200, [])
    status, body = await moved.query("A1")
    assert (status, error_code(body)) == (404, "order_not_found")
    status, body = await moved.refund("A1", "RF1", 8800)
    assert (status, error_code(body)) == (404, "order_not_found")
    status, body = await moved.close("A2")
    assert (status, error_code(body)) == (404, "order_not_found")
    # Replaying the old shop's request does not hand back the old shop's order.
    status, body = await moved.pay("A1", 8800, test_codes.make_wechat_code(test_codes.SUCCESS))
    assert (status, error_code(body)) == (409, "order_conflict")

    a1 = await storage.get_order(DEVICE_ID, "A1")
    assert (a1.status, a1.refunded_fen, a1.refund_reserved_fen) == ("SUCCESS", 0, 0)
    assert (await storage.get_order(DEVICE_ID, "A2")).status == "PAYING"
    assert (await storage.table_counts(["refunds"]))["refunds"] == 0

    # Its new shop's orders are its own, and only those are listed.
    status, body = await moved.pay("B1", 1250, test_codes.make_wechat_code(test_codes.SUCCESS))
    assert (status, body["order"]["status"]) == (200, "SUCCESS")
    status, body = await moved.call("orders", {})
    assert [o["order_no"] for o in body["orders"]] == ["B1"]
    assert (await storage.get_order(DEVICE_ID, "B1")).merchant_id == NOODLE_BAR

    # Operators still see every order the device ever took, the old shop's with its merchant.
    old = await storage.console_order(a1.id, None)
    assert old is not None and old.order.merchant_id == MERCHANT_ID
    assert await storage.console_order(a1.id, NOODLE_BAR) is None


async def test_a_device_back_at_the_same_shop_after_stock_starts_afresh_too(device):
    """Every assignment starts a new history, even to the same merchant and store."""
    assert (await device.pay("A1", 500, test_codes.make_wechat_code(test_codes.SUCCESS)))[0] == 200
    back = await move_to(device, MERCHANT_ID, "Tea House, Nanjing Rd")
    status, body = await back.query("A1")
    assert (status, error_code(body)) == (404, "order_not_found")
    status, body = await back.call("orders", {})
    assert body["orders"] == []
