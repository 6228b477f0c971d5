"""The virtual handheld gun against the real server and WeChat sandbox: 4G through the modem (AT chat,
then PPP) or Wi-Fi, the screen, the battery, the history of the last 100 orders and look-up by number."""
import asyncio

import pytest
from PIL import ImageStat

from hw_sim import test_codes
from hw_sim.boards import VirtualHandheldGun
from hw_sim.boards.stack import RecordingTransport, ServerStack
from hw_sim.wallet import Wallet

GUN = "G0001"


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path, (GUN,)) as s:
        yield s


def make_gun(stack, **options):
    options.setdefault("key_ms", 30)
    return VirtualHandheldGun(stack.url, GUN, stack.keys[GUN], transport=RecordingTransport(stack.url),
                              **options)


@pytest.fixture
async def gun(stack):
    g = make_gun(stack)
    await g.start()
    g.app.result_ms = 300
    yield g
    await g.stop()


async def pay(gun, amount, scenario=test_codes.SUCCESS, param=0, spoken="收款"):
    start = len(gun.spoken)
    await gun.type_amount(amount)
    gun.scan_text(test_codes.make_wechat_code(scenario, param))
    said = await gun.wait_spoken(lambda t: t not in ("请出示付款码", "用户支付中，请稍候"), timeout=20,
                                 start=start)
    await gun.wait_state("IDLE", start=len(gun.events) - 1)
    return said


async def test_dials_4g_then_pays_and_shows_every_step(gun, stack, tmp_path):
    assert gun.network_kind == "4g"
    assert gun.modem.commands[-2:] == ['AT+CGDCONT=1,"IP","cmnet"', "ATD*99#"]
    assert gun.modem.data_mode and gun.modem.data.startswith(b"\x7e\xff\x7d\x23\xc0\x21")  # PPP LCP
    first = len(gun.events)
    await gun.type_amount("12.50")
    await gun.wait_spoken("请出示付款码")
    wallet = Wallet()
    code = wallet.new_code(test_codes.PASSWORD, 1)
    assert gun.scan(wallet.screen()) == code
    await gun.wait_spoken("微信收款 12.50 元", timeout=15)
    shown = {e["state"]: e["lines"] for e in gun.events[first:] if e["event"] == "screen"}
    assert "12.50" in shown["WAIT_SCAN"] and "Scan payer code" in shown["WAIT_SCAN"]
    assert "Paying..." in shown["PAYING"]
    assert gun.screen_lines[1:4] == ["PAID", "12.50", "WeChat"]
    assert gun.screen_lines[0].startswith("4G ")
    png = gun.save_screen(str(tmp_path / "gun.png"))
    image = gun.screen_image().convert("L")
    low, high = ImageStat.Stat(image).extrema[0]
    assert low == 0 and high >= 240                          # dark text on a light panel
    assert png.endswith(".png")
    assert [c.total_fee for c in stack.ledger.charges] == [1250]


async def test_history_of_orders_and_look_up_by_number(gun, stack):
    await pay(gun, "1")
    assert await pay(gun, "2", test_codes.INSUFFICIENT_FUNDS) == "余额不足"
    await pay(gun, "3")
    await gun.press("FN")
    await gun.wait_state("HISTORY")
    assert gun.screen_lines[1:5] == ["History 1/1", "#3 3.00 PAID", "#2 2.00 FAILED", "#1 1.00 PAID"]
    queries = len(gun.app.api.transport.exchanges)
    await gun.press("2", "OK")
    found = await gun.wait_event(lambda e: e["event"] == "lookup")
    assert found["status"] == "FAILED" and found["amount_fen"] == 200
    await gun.wait_spoken("余额不足", start=3)
    assert gun.screen_lines[1:4] == ["#2", "2.00", "FAILED"]
    asked = [e[0] for e in gun.app.api.transport.exchanges[queries:]]
    assert asked == ["/d/v1/query"]                                # the answer came from the server
    await gun.press("CLR")
    await gun.wait_state("HISTORY", start=len(gun.events) - 2)
    await gun.press("9", "9", "OK")
    await gun.wait_spoken("未找到订单")
    assert "/d/v1/orders" in [e[0] for e in gun.app.api.transport.exchanges]


async def test_history_pages_through_the_last_100(gun):
    for n in range(1, 106):                         # the journal keeps the newest 100
        gun.journal.record({"order_no": "G0001-ab12-%06d" % n, "amount_fen": n, "status": "SUCCESS"})
    await gun.press("FN")
    await gun.wait_state("HISTORY")
    assert gun.screen_lines[1] == "History 1/13" and gun.screen_lines[2] == "#105 1.05 PAID"
    await gun.press(*["OK"] * 12)
    await gun.wait_event(lambda e: e["event"] == "screen" and e["lines"][1] == "History 13/13", timeout=3)
    assert gun.screen_lines[2:-1] == ["#9 0.09 PAID", "#8 0.08 PAID", "#7 0.07 PAID", "#6 0.06 PAID"]


async def test_battery_low_is_said_shown_and_reported(gun):
    gun.battery.millivolts = 3550
    answer = await gun.app.heartbeat()
    assert answer["heartbeat_s"] > 0
    await gun.wait_spoken("电量低，请充电")
    sent = gun.app.api.transport.exchanges[-1]
    import cbor2
    beat = cbor2.loads(sent[2])
    assert beat["battery_pct"] == 8 and beat["network"] == "4g" and beat["signal_dbm"] == -73
    await gun.press("1")
    assert gun.screen_lines[0] == "4G 8%"


async def test_gun_on_wifi(stack):
    g = make_gun(stack, modem=False)
    await g.start()
    try:
        assert g.network_kind == "wifi" and g.modem is None
        await g.type_amount("5")
        g.scan_text(test_codes.make_wechat_code())
        await g.wait_spoken("微信收款 5.00 元")
        assert g.screen_lines[0].startswith("WIFI")
    finally:
        await g.stop()


async def test_sim_locked_without_pin_leaves_the_gun_offline_but_working(stack):
    g = make_gun(stack, modem_options={"sim_pin": "1234"})
    await g.start()
    try:
        assert g.network_kind is None and not g.modem.data_mode
        assert g.modem.commands[-1] == "AT+CPIN?"
        assert g.screen_lines[0].startswith("OFFLINE")
    finally:
        await g.stop()


async def test_sim_pin_from_config_unlocks(stack):
    g = make_gun(stack, modem_options={"sim_pin": "1234"}, config={"modem": {"apn": "3gnet", "pin": "1234"}})
    await g.start()
    try:
        assert g.network_kind == "4g" and g.modem.apn == "3gnet"
        assert 'AT+CPIN="1234"' in g.modem.commands
    finally:
        await g.stop()


async def test_heartbeat_carries_out_and_acks_what_operations_asked(gun, stack):
    for _ in range(100):            # the heartbeat sent at start-up has been answered
        if "/d/v1/heartbeat" in gun.app.api.transport.paths():
            break
        await asyncio.sleep(0.02)
    await stack.storage.add_command(GUN, "show_message", {"text": "Closing at 9pm"})
    await stack.storage.add_command(GUN, "reboot", {})
    await gun.app.heartbeat()
    done = [e["command"] for e in gun.events if e["event"] == "command"]
    assert done == ["show_message", "reboot"]
    assert gun.reboots == 1
    await gun.press("1", "CLR")
    await gun.wait_state("IDLE", start=len(gun.events) - 2)
    assert "Closing at 9pm" in gun.screen_lines
    assert await stack.storage.pending_commands(GUN) == []      # acked: not sent again
    await gun.app.heartbeat()
    assert gun.reboots == 1


async def test_a_refunded_order_looked_up_is_said_and_shown_as_refunded_never_as_paid(gun, stack):
    from server.device_messages import RefundRequest
    from server.keys import PAYMENTS
    await pay(gun, "12.50")
    paid = (await stack.storage.list_orders((await stack.storage.get_device(GUN)).order_scope, before=None,
                                            limit=1))[0]
    device = await stack.storage.get_device(GUN)
    refund, _ = await stack.app[PAYMENTS].refund(device, RefundRequest(order_no=paid.order_no, refund_no="R1",
                                                                       amount_fen=1250))
    for _ in range(100):
        if (await stack.order(GUN, paid.order_no)).status == "REFUNDED":
            break
        await asyncio.sleep(0.05)
    await gun.press("FN")
    await gun.wait_state("HISTORY")
    start = len(gun.spoken)
    await gun.press("1", "OK")
    found = await gun.wait_event(lambda e: e["event"] == "lookup")
    assert found["status"] == "REFUNDED"
    said = await gun.wait_spoken(lambda t: True, start=start)
    assert said == "已退款 12.50 元" and "收款" not in said
    assert gun.screen_lines[1:4] == ["#1", "12.50", "REFUNDED"]
