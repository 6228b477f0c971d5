"""Stores, stock-in and static codes as the acquirer runs them (on SQLite and PostgreSQL): stores unique
by name within a merchant; devices received by serial number from a CSV file all or nothing, then assigned
to a store; static codes printed empty, bound, unbound, replaced and deregistered, each step a conditional
update that two people racing cannot both win."""
import asyncio

import pytest

from server import devices, merchants, static_codes, stock, stores
from server.keys import STORAGE
from server.storage import NotFound

from tests.server.conftest import DEVICE_ID, MERCHANT_ID


@pytest.fixture
async def shop(device):
    """(storage, the test device's store id, a second merchant's id with a store of its own)."""
    storage = device.app[STORAGE]
    other = await merchants.register(storage, phone="13900139000", short_name="小李面馆")
    noodle = await stores.add(storage, other.id, "人民路店", address="人民路 8 号", actor="ops1")
    return storage, (await storage.get_device(DEVICE_ID)).store_id, other.id, noodle.id


# stores

async def test_a_store_name_is_unique_within_its_merchant_and_renaming_shows_on_its_devices(shop):
    storage, tea_store, other, _ = shop
    with pytest.raises(stores.StoreRefused, match="already has a store called"):
        await stores.add(storage, MERCHANT_ID, "Tea House, Nanjing Rd", actor="ops1")
    await stores.add(storage, other, "Tea House, Nanjing Rd", actor="ops1")       # another merchant may
    with pytest.raises(stores.StoreRefused, match="store name"):
        await stores.add(storage, MERCHANT_ID, "  ", actor="ops1")
    with pytest.raises(stores.StoreRefused, match="store name"):
        await stores.add(storage, MERCHANT_ID, "a\x00b", actor="ops1")
    await stores.update(storage, tea_store, name="南京路旗舰店", address="南京东路 100 号", actor="ops1")
    assert (await storage.get_device(DEVICE_ID)).store_name == "南京路旗舰店"
    assert [v.name for v in await stores.list_stores(storage, MERCHANT_ID)] == ["南京路旗舰店"]


async def test_a_store_closes_only_once_nothing_is_placed_there_and_then_takes_no_device(shop):
    storage, tea_store, _, _ = shop
    with pytest.raises(stores.StoreRefused, match="still has 1 devices"):
        await stores.close(storage, tea_store, actor="ops1")
    await devices.return_to_stock(storage, DEVICE_ID, actor="ops1")
    await stores.close(storage, tea_store, actor="ops1")
    with pytest.raises(devices.LifecycleRefused, match="closed"):
        await devices.assign(storage, DEVICE_ID, MERCHANT_ID, store_id=tea_store, actor="ops1")


async def test_a_merchant_sees_only_its_own_stores(shop):
    storage, tea_store, other, noodle = shop
    assert await stores.get(storage, noodle, visible_to=MERCHANT_ID) is None
    assert (await stores.get(storage, tea_store, visible_to=MERCHANT_ID)).merchant_id == MERCHANT_ID
    assert [v.id for v in await stores.list_stores(storage, other)] == [noodle]


# stock

def test_a_stock_file_names_every_bad_line_and_takes_excels_bom():
    good = stock.parse_csv("\ufeffserial,model\nSP0001,box-e2\n\nSP0002,\n".encode())
    assert [(line.line, line.serial, line.model) for line in good] == [(2, "SP0001", "box-e2"), (4, "SP0002", "")]
    with pytest.raises(stock.StockFileRefused) as refused:
        stock.parse_csv(b"serial,model\nSP0001,a\nSP 2,b\nSP0001,c\nSP0004,a,extra\n")
    assert [n for n, _ in refused.value.problems] == [3, 4, 5]
    for data, words in ((b"id,model\nSP1,a\n", "header"), (b"serial\n", "no device"), (b"\xff\xfe", "UTF-8")):
        with pytest.raises(stock.StockRefused, match=words):
            stock.parse_csv(data)


async def test_stock_in_is_all_or_nothing_and_devices_wait_without_a_merchant(shop):
    storage, tea_store, other, noodle = shop
    lines = stock.parse_csv(b"serial,model\nSP0001,box-e2\nSP0002,box-e2\n")
    assert await stock.receive(storage, lines, batch="2026-12 delivery", actor="ops1") == 2
    received = await storage.get_device("SP0001")
    assert (received.lifecycle, received.merchant_id, received.store_id, received.model, received.stock_batch) \
        == ("in_stock", None, None, "box-e2", "2026-12 delivery")
    # One known serial number: nothing of the file is received.
    again = stock.parse_csv(b"serial\nSP0003\nSP0002\n")
    with pytest.raises(stock.StockRefused, match="known already: SP0002"):
        await stock.receive(storage, again, actor="ops1")
    assert await storage.get_device("SP0003") is None
    with pytest.raises(stock.StockRefused, match="listed twice: SP0005"):      # typed in, not from a file
        await stock.receive(storage, [stock.check_line("SP0005"), stock.check_line("SP0005")], actor="ops1")
    # Assigned to a store of its merchant only.
    with pytest.raises(devices.LifecycleRefused, match="no store"):
        await devices.assign(storage, "SP0001", MERCHANT_ID, store_id=noodle, actor="ops1")
    await devices.assign(storage, "SP0001", other, store_id=noodle, actor="ops1")
    placed = await storage.get_device("SP0001")
    assert (placed.lifecycle, placed.merchant_id, placed.store_id, placed.store_name) == \
        ("assigned", other, noodle, "人民路店")


# static codes

async def test_a_printed_batch_is_empty_codes_that_take_no_money(shop):
    storage, *_ = shop
    batch, codes = await static_codes.print_batch(storage, 25, note="浦东地推", actor="ops1")
    assert len({code.id for code in codes}) == 25 and all(len(code.id) == 10 for code in codes)
    assert [code.status for code in await static_codes.batch_codes(storage, batch.id)] == ["empty"] * 25
    assert await static_codes.payee(storage, codes[0].id) == static_codes.NOT_BOUND
    assert await static_codes.payee(storage, "NOSUCHCODE") == static_codes.UNKNOWN
    for size in (0, 1001):
        with pytest.raises(static_codes.CodeRefused, match="1 to 1000"):
            await static_codes.print_batch(storage, size, actor="ops1")


async def test_a_code_bound_replaced_and_deregistered(shop):
    storage, tea_store, other, noodle = shop
    _, (first, spare, third) = await static_codes.print_batch(storage, 3, actor="ops1")
    # Typed off the sticker in lower case with a space: the same code.
    typed = f"{first.id[:5].lower()} {first.id[5:].lower()}"
    bound = await static_codes.bind(storage, typed, store_id=tea_store, actor="ground-team-7")
    assert (bound.status, bound.merchant_id, bound.device_id, bound.bound_by) == \
        ("bound", MERCHANT_ID, DEVICE_ID, "ground-team-7")
    payee = await static_codes.payee(storage, first.id)
    assert (payee.device.id, payee.merchant_name, payee.store_name) == (DEVICE_ID, "Tea House", "Tea House, Nanjing Rd")
    with pytest.raises(static_codes.CodeRefused, match="only an empty code"):
        await static_codes.bind(storage, first.id, store_id=noodle, actor="ops1")
    with pytest.raises(static_codes.CodeRefused, match="no device"):
        await static_codes.bind(storage, third.id, store_id=noodle, actor="ops1")     # nobody would say it
    # Lost: the spare takes over the store and the device; the lost sticker never pays again.
    new = await static_codes.replace(storage, first.id, spare.id, actor="ops1")
    assert (new.status, new.store_id, new.device_id, new.replaces_id) == ("bound", tea_store, DEVICE_ID, first.id)
    assert await static_codes.payee(storage, first.id) == static_codes.DEREGISTERED
    assert (await static_codes.get(storage, first.id)).end_reason == "lost"
    # Deregistered alone: the merchant and its devices carry on.
    await static_codes.deregister(storage, spare.id, reason="shop_request", actor="ops1")
    assert await static_codes.payee(storage, spare.id) == static_codes.DEREGISTERED
    assert (await storage.get_merchant(MERCHANT_ID)).status == "active"
    with pytest.raises(static_codes.CodeRefused, match="deregistered already"):
        await static_codes.deregister(storage, spare.id, reason="lost", actor="ops1")
    with pytest.raises(static_codes.CodeRefused, match="a reason is one of"):
        await static_codes.deregister(storage, third.id, reason="because", actor="ops1")


async def test_a_code_unbound_by_mistake_is_empty_again_and_a_merchant_sees_only_its_own(shop):
    storage, tea_store, other, noodle = shop
    _, (code,) = await static_codes.print_batch(storage, 1, actor="ops1")
    await static_codes.bind(storage, code.id, store_id=tea_store, actor="ops1")
    assert await static_codes.get(storage, code.id, visible_to=other) is None
    await static_codes.unbind(storage, code.id, actor="ops1")
    assert (await static_codes.get(storage, code.id)).status == "empty"
    assert await static_codes.get(storage, code.id, visible_to=MERCHANT_ID) is None


async def test_a_closed_merchants_codes_take_no_money_and_a_suspended_ones_pause(shop):
    storage, tea_store, *_ = shop
    _, (code,) = await static_codes.print_batch(storage, 1, actor="ops1")
    await static_codes.bind(storage, code.id, store_id=tea_store, actor="ops1")
    await merchants.set_status(storage, MERCHANT_ID, "suspended")
    assert await static_codes.payee(storage, code.id) == static_codes.MERCHANT_OFF
    await merchants.set_status(storage, MERCHANT_ID, "closed")
    assert await static_codes.payee(storage, code.id) == static_codes.MERCHANT_GONE


async def test_two_people_binding_one_code_at_once_one_wins(shop):
    storage, tea_store, other, noodle = shop
    await stock.receive(storage, [stock.check_line("SP0009")], actor="ops1")
    await devices.assign(storage, "SP0009", other, store_id=noodle, actor="ops1")
    _, (code,) = await static_codes.print_batch(storage, 1, actor="ops1")
    results = await asyncio.gather(
        static_codes.bind(storage, code.id, store_id=tea_store, actor="a"),
        static_codes.bind(storage, code.id, store_id=noodle, actor="b"), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["CodeRefused", "StaticCode"]
    winner = next(r for r in results if not isinstance(r, Exception))
    assert (await static_codes.get(storage, code.id)).store_id == winner.store_id


async def test_a_swap_moves_the_shops_code_to_the_replacement(shop):
    storage, tea_store, *_ = shop
    _, (code,) = await static_codes.print_batch(storage, 1, actor="ops1")
    await static_codes.bind(storage, code.id, store_id=tea_store, actor="ops1")
    await stock.receive(storage, [stock.check_line("SP0100")], actor="ops1")
    await devices.swap(storage, DEVICE_ID, "SP0100", actor="ops1")
    assert (await static_codes.get(storage, code.id)).device_id == "SP0100"
    with pytest.raises(NotFound):
        await stores.update(storage, "STNOSUCH", name="x", address="", actor="ops1")
