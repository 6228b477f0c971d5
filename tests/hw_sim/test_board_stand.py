"""The virtual dynamic QR stand against the real server: the static code on the idle screen, a typed
amount turned into a one-time code (`qr`) drawn on the screen and read back by zbar as a phone would,
cancelling it (`close`), and the optional scan engine for B2C."""
import pytest

from hw_sim import test_codes
from hw_sim.boards import VirtualQRStand
from hw_sim.boards.stack import RecordingTransport, ServerStack

STAND = "S0001"


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path, (STAND,)) as s:
        yield s


def make_stand(stack, **options):
    options.setdefault("key_ms", 30)
    return VirtualQRStand(stack.url, STAND, stack.keys[STAND], transport=RecordingTransport(stack.url),
                          **options)


async def wait_screen(stand, state, start=0):
    return await stand.wait_event(lambda e: e["event"] == "screen" and e["state"] == state, start=start)


@pytest.mark.parametrize("display", ["st7789", "ssd1306"])
async def test_idle_screen_shows_the_static_code(stack, display):
    stand = make_stand(stack, display=display)
    await stand.start()
    try:
        await stand.wait_event(lambda e: e["event"] == "screen" and e.get("qr_size"))
        text = stand.read_screen_qr()
        assert text is not None and text.endswith("/c/s/" + stack.static_codes[STAND])
        assert stand.app.info["static_code"] == text        # what the server sent in `info`
    finally:
        await stand.stop()


async def test_typed_amount_shows_a_one_time_code_then_cancel_closes_it(stack):
    stand = make_stand(stack)
    await stand.start()
    try:
        await stand.type_amount("688")
        shown = await wait_screen(stand, "SHOW_CODE")
        assert shown["lines"] == ["688.00"] and shown["qr_size"] >= 21
        await stand.wait_spoken("请扫码支付 688.00 元")
        qr_answers = [e for e in stand.app.api.transport.exchanges if e[0] == "/d/v1/qr"]
        import cbor2
        answer = cbor2.loads(qr_answers[0][4])
        assert stand.read_screen_qr() == answer["qr_code"]      # the phone reads the server's code
        from core import qr
        drawn, _amount = stand.app.one_time                     # drawn from the server's bitmap
        assert drawn.bits == qr.unpack(answer["qr_bitmap"]["size"], answer["qr_bitmap"]["rows"]).bits
        order_no = answer["order"]["order_no"]
        assert (await stack.order(STAND, order_no)).status == "PAYING"
        assert stand.led == "blue" or stand.led == "off"         # blinking while the payer is awaited
        await stand.press("CLR")
        await stand.wait_spoken("已取消")
        order = await stack.order(STAND, order_no)
        assert order.status == "CLOSED"
        assert stand.journal.get(order_no)["status"] == "CLOSED"
        await wait_screen(stand, "IDLE", start=len(stand.events) - 3)
        assert stand.read_screen_qr().endswith("/c/s/" + stack.static_codes[STAND])   # the static code again
    finally:
        await stand.stop()


async def test_amount_over_the_servers_limit_is_refused_on_the_keypad(stack):
    stand = make_stand(stack)
    await stand.start()
    try:
        await stand.wait_event(lambda e: e["event"] == "info")
        await stand.press("6", "0", "0", "0")
        assert [e["key"] for e in stand.events if e["event"] == "refused"] == ["0"]   # 6000 > 5000 yuan
    finally:
        await stand.stop()


async def test_stand_with_a_scan_engine_takes_payment_codes_too(stack):
    stand = make_stand(stack, scan_engine=True)
    await stand.start()
    try:
        await stand.press("1", "5", "FN")           # FN: the payer shows a code instead
        await stand.wait_spoken("请出示付款码")
        stand.scan_text(test_codes.make_wechat_code())
        await stand.wait_spoken("微信收款 15.00 元")
        assert [c.total_fee for c in stack.ledger.charges] == [1500]
    finally:
        await stand.stop()


async def test_a_payer_scans_the_one_time_code_off_the_screen_and_pays(stack):
    """The payer's phone (headless Chromium with WeChat's User-Agent) opens the URL a camera reads off
    the stand's screen, pays in WeChat (web authorisation, then the payment sheet), and the stand says the money
    arrived."""
    import os
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.async_api")
    wechat_ua = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN")
    stand = make_stand(stack)
    await stand.start()
    try:
        await stand.type_amount("688")
        await wait_screen(stand, "SHOW_CODE")
        url = stand.read_screen_qr()
        assert url.startswith(stack.url + "/c/")
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium", timeout=30_000,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            try:
                phone = await browser.new_context(user_agent=wechat_ua, locale="zh-CN")
                await phone.add_cookies([{"name": "sandbox_payer", "value": "alice", "domain": "127.0.0.1",
                                          "path": "/"}])
                # WeChat's JavaScript bridge, stood in for by the sandbox's: it checks the signed request and pays.
                await phone.add_init_script(script=stack.sandbox.bridge_script("alice", "pay"))
                page = await phone.new_page()
                await page.goto(url)
                await page.wait_for_url("**/done")
                assert "¥688.00" in await page.inner_text("body")
            finally:
                await browser.close()
        await stand.wait_spoken("微信收款 688.00 元", timeout=20)
        order_no = stand.app.order_no
        assert (await stack.order(STAND, order_no)).status == "SUCCESS"
        assert stand.journal.get(order_no)["status"] == "SUCCESS"
        assert [c.amount_fen for c in stack.ledger.charges] == [68800]
    finally:
        await stand.stop()
