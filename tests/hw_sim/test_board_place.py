"""Where a device is (docs/firmware.md "Place"): the virtual boards run the real firmware against the real
server. An enhanced box on the shop's Wi-Fi reports the access points around it and pays; carried to
another shop it is refused (device_moved) and says so. The handheld gun on 4G reports the serving cell
its modem names. Scans happen at boot, on a changed link and every `place_every` beats, never while the
cashier is busy."""
import cbor2
import pytest

from hw_sim import test_codes
from hw_sim.boards import VirtualEnhancedBox, VirtualHandheldGun, use_firmware
from hw_sim.boards.stack import RecordingTransport, ServerStack
from hw_sim.modem import SERVING_CELL
from server import devices

use_firmware()
from core.api import ApiError  # the firmware's own, as the device raises it

BOX, GUN = "D0001", "G0001"
CALL_SERVICE = "设备需服务商处理"
# another shop across town: its own router (the thief named the network "shop" too) and its neighbour
OTHER_SHOP = (("shop", "3c:46:d8:00:00:01", 11, -50), ("CMCC-Xy7", "88:25:93:10:20:30", 1, -66))


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path, (BOX, GUN)) as s:
        yield s


def make_box(stack, **config):
    # no beat of its own: the test beats (app.heartbeat(), as the heartbeat task would)
    return VirtualEnhancedBox(stack.url, BOX, stack.keys[BOX], transport=RecordingTransport(stack.url),
                              key_ms=30, config={"heartbeat_first_s": 3600, **config})


def beats(board):
    """The heartbeats the board sent, decoded, oldest first (acks only are left out, and the first try of
    the first request: its clock was not set yet, 401 stale_timestamp, the client sent it again)."""
    sent = [cbor2.loads(e[2]) for e in board.app.api.transport.exchanges
            if e[0].endswith("/heartbeat") and e[3] != 401]
    return [b for b in sent if "firmware" in b]


async def tokens(stack, device_id):
    return {row["token"] for row in await devices.places(stack.storage, device_id)}


async def pay(board, amount, start=None):
    start = len(board.spoken) if start is None else start
    await board.type_amount(amount)
    board.scan_text(test_codes.make_wechat_code())
    return await board.wait_spoken(lambda t: t not in ("请出示付款码", "用户支付中，请稍候"), timeout=20,
                                   start=start)


async def test_a_box_reports_its_shop_pays_and_once_carried_elsewhere_is_refused_and_says_so(stack):
    assert (await stack.storage.get_device(BOX)).lifecycle == "installed"
    box = make_box(stack)
    await box.start()
    try:
        box.app.result_ms = 200
        await box.app.heartbeat()
        assert beats(box)[-1]["place"] == {"bssid": "a4:56:02:11:22:33",
                                           "seen": ["a4:56:02:11:22:37", "f0:b4:29:aa:bb:c1", "50:bd:5f:01:02:03"]}
        assert await tokens(stack, BOX) == {"wifi:a456021122", "wifi:f0b429aabb", "wifi:50bd5f0102"}
        mark = len(box.events)
        assert await pay(box, "12.50") == "微信收款 12.50 元"
        assert [c.total_fee for c in stack.ledger.charges] == [1250]
        await box.wait_state("IDLE", start=mark)         # the result shown, the box idle again

        box.move(OTHER_SHOP)
        said = len(box.spoken)
        with pytest.raises(ApiError) as refused:
            await box.app.heartbeat()
        assert (refused.value.status, refused.value.code) == (403, "device_moved")
        assert beats(box)[-1]["place"] == {"bssid": "3c:46:d8:00:00:01", "seen": ["88:25:93:10:20:30"]}
        assert await box.wait_spoken(CALL_SERVICE, start=said) == CALL_SERVICE    # at once, not at the next sale
        assert box.led == "red"
        device = await stack.storage.get_device(BOX)
        assert device.flag == "moved"
        assert await tokens(stack, BOX) == {"wifi:a456021122", "wifi:f0b429aabb", "wifi:50bd5f0102"}

        assert await pay(box, "8") == CALL_SERVICE         # and no money moves
        assert box.led == "red"
        assert [c.total_fee for c in stack.ledger.charges] == [1250]
        assert box.spoken.count(CALL_SERVICE) == 2        # said once by the heartbeat, once by the sale
    finally:
        await box.stop()


async def test_scans_at_boot_on_a_changed_link_and_every_n_beats_never_while_the_cashier_is_busy(stack):
    box = make_box(stack, place_every=3)
    await box.start()
    try:
        wlan = box.network.WLAN(box.network.STA_IF)
        for _ in range(4):
            await box.app.heartbeat()
        assert ["place" in b for b in beats(box)] == [True, False, False, True]
        assert wlan.scans == 2

        # the box roams to the same router's 5 GHz radio (the 2.4 GHz one is switched off)
        box.move(SHOP_5GHZ)
        await box.type_amount("3")                          # the cashier is waiting for a code
        await box.app.heartbeat()
        assert "place" not in beats(box)[-1] and wlan.scans == 2
        mark = len(box.events)
        await box.press("CLR")
        await box.wait_state("IDLE", start=mark)
        await box.app.heartbeat()
        assert beats(box)[-1]["place"]["bssid"] == "a4:56:02:11:22:37" and wlan.scans == 3
        assert (await stack.storage.get_device(BOX)).flag is None          # still at its shop
    finally:
        await box.stop()


SHOP_5GHZ = (("shop", "a4:56:02:11:22:37", 36, -55), ("ChinaNet-7Hx2", "f0:b4:29:aa:bb:c1", 1, -71))


def make_gun(stack, cell=SERVING_CELL):
    return VirtualHandheldGun(stack.url, GUN, stack.keys[GUN], transport=RecordingTransport(stack.url),
                              key_ms=30, config={"heartbeat_first_s": 3600}, modem_options={"cell": cell})


async def test_the_gun_on_4g_reports_its_serving_cell_and_is_refused_in_another_area(stack):
    gun = make_gun(stack)
    await gun.start()
    try:
        await gun.app.heartbeat()
        assert beats(gun)[-1]["place"] == {"cell": "460-00-24090-27447297"}     # TAC 0x5E1A, cell 0x1A2D001
        assert await tokens(stack, GUN) == {"cell:460-00-24090"}
    finally:
        await gun.stop()

    # next day, next boot: another tower in the same area (the market's other end) is the same place
    gun = make_gun(stack, cell=("460", "00", 0x5E1A, 0x1A2D00F))
    await gun.start()
    try:
        await gun.app.heartbeat()
        assert beats(gun)[-1]["place"] == {"cell": "460-00-24090-27447311"}
    finally:
        await gun.stop()

    # another city: refused, and the screen tells the cashier whom to call
    gun = make_gun(stack, cell=("460", "00", 0x1C2B, 0x3F00A01))
    await gun.start()
    try:
        with pytest.raises(ApiError) as refused:
            await gun.app.heartbeat()
        assert refused.value.code == "device_moved"
        assert "CALL SERVICE" in gun.screen_lines and "device_moved" in gun.screen_lines
        assert await gun.wait_spoken(CALL_SERVICE) == CALL_SERVICE
    finally:
        await gun.stop()
