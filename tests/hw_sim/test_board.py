"""The virtual enhanced box: real firmware app, virtual keypad / GM65 / SYN6288 / LED.

Most tests run the box against FakeDeviceServer, an in-process transport that checks signatures and
plays scripted order outcomes; the last one pays for real against server/ and the WeChat sandbox.
"""
import asyncio
import hashlib
import hmac
import secrets
import time

import cbor2
import pytest

from hw_sim.board import VirtualEnhancedBox, use_firmware
from hw_sim.wallet import Wallet

use_firmware()
from core.http import NetworkError, Response  # noqa: E402  (firmware modules, as the device has them)

DEVICE_ID = "D0001"
KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
WECHAT_CODE = "134567890123456789"


class FakeDeviceServer:
    """The device API in-process: verifies the signing headers and the clock window, keeps orders
    idempotent by order_no, and plays `script[auth_code]` (a list of (status, reason) the order goes
    through, one step per query). Unscripted codes succeed at once."""

    def __init__(self, clock_offset=0):
        self.clock_offset = clock_offset
        self.script = {}
        self.orders = {}
        self.requests = []
        self.nonces = set()
        self.down = False

    def now(self):
        return int(time.time()) + self.clock_offset

    def _answer(self, status, body):
        body["server_time"] = self.now()
        return Response(status, {"x-server-time": str(self.now())}, cbor2.dumps(body))

    def _error(self, status, code):
        return self._answer(status, {"error": {"code": code, "message": code}})

    async def request(self, method, path, headers, body, timeout_ms=None):
        await asyncio.sleep(0.005)
        if self.down:
            raise NetworkError("cannot connect to 127.0.0.1:8080: [Errno 111] refused")
        self.requests.append((path, headers, body))
        text = "\n".join([method, path, headers["X-Timestamp"], headers["X-Nonce"],
                          hashlib.sha256(body).hexdigest()])
        good = hmac.new(bytes.fromhex(KEY_HEX), text.encode(), hashlib.sha256).hexdigest()
        if headers["X-Device-Id"] != DEVICE_ID or headers["X-Signature"] != good:
            return self._error(401, "bad_signature")
        if abs(int(headers["X-Timestamp"]) - self.now()) > 300:
            return self._error(401, "stale_timestamp")
        if headers["X-Nonce"] in self.nonces:
            return self._error(401, "nonce_reused")
        self.nonces.add(headers["X-Nonce"])
        message = cbor2.loads(body)
        op = path.rsplit("/", 1)[1]
        if op == "pay":
            order = self.orders.get(message["order_no"])
            if order is None:
                steps = list(self.script.get(message["auth_code"], [("SUCCESS", None)]))
                order = {"order_no": message["order_no"], "amount_fen": message["amount_fen"],
                         "channel": "wechat", "status": None, "reason": None, "steps": steps,
                         "auth_code": message["auth_code"]}
                self.orders[message["order_no"]] = order
                self._step(order)
            return self._answer(200, {"order": self._public(order)})
        if op == "query":
            order = self.orders.get(message["order_no"])
            if order is None:
                return self._error(404, "order_not_found")
            if order["status"] == "PAYING" and message.get("wait"):
                await asyncio.sleep(0.05)       # the long poll, shortened
                self._step(order)
            return self._answer(200, {"order": self._public(order)})
        return self._error(404, "unknown_op")

    def _step(self, order):
        if order["steps"]:
            order["status"], order["reason"] = order["steps"].pop(0)

    def _public(self, order):
        return {k: order[k] for k in ("order_no", "amount_fen", "channel", "status", "reason")}

    async def close(self):
        pass


@pytest.fixture
def server():
    return FakeDeviceServer()


@pytest.fixture
async def box(server):
    events = []
    b = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server,
                           on_event=events.append, key_ms=30)
    await b.start()
    b.app.result_ms = 200
    yield b
    await b.stop()


def said(box):
    return list(box.spoken)


async def test_keypad_amount_ok_asks_for_the_code(box):
    await box.type_amount("12.50")
    await box.wait_spoken("请出示付款码")
    assert box.state == "WAIT_SCAN"
    amounts = [e for e in box.events if e["event"] == "amount"]
    assert amounts[-1]["text"] == "12.50" and amounts[-1]["amount_fen"] == 1250
    assert [e["key"] for e in box.events if e["event"] == "key"] == ["1", "2", ".", "5", "0", "OK"]
    trigger = [f for f in box.scan_engine.frames if f.address == 0x0002]
    assert trigger and trigger[-1].crc_ok           # the engine was told to read


async def test_a_whole_payment_from_keys_to_voice(box, server):
    await box.type_amount("12.50")
    await box.wait_spoken("请出示付款码")
    wallet = Wallet()
    code = wallet.new_code()
    assert box.scan(wallet.screen()) == code       # the GM65 decoded the phone screen
    await box.wait_spoken("微信收款 12.50 元")
    assert said(box) == ["请出示付款码", "微信收款 12.50 元"]
    assert box.led == "green"
    order_no = box.journal.orders()[0]["order_no"]
    assert server.orders[order_no]["auth_code"] == code and server.orders[order_no]["amount_fen"] == 1250
    assert box.journal.get(order_no)["status"] == "SUCCESS"
    states = [e["state"] for e in box.events if e["event"] == "state"]
    assert states == ["IDLE", "AMOUNT", "WAIT_SCAN", "PAYING", "RESULT"]
    await box.wait_state("IDLE", start=len(box.events) - 1)
    assert box.led == "off"


async def test_engine_in_command_trigger_mode_reads_only_when_asked(server):
    b = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server,
                           scan_mode="command", line_ending=b"\r\n", key_ms=30)
    await b.start()
    try:
        wallet = Wallet()
        code = wallet.new_code()
        assert b.scan(wallet.screen()) is None          # not triggered: the engine stays silent
        await b.type_amount("9.9")                       # OK triggers a read of what is in view
        await b.wait_spoken("微信收款 9.90 元")
        assert b.scan_engine.scans == [code]
    finally:
        await b.stop()


async def test_payer_typing_password_then_paid(box, server):
    server.script[WECHAT_CODE] = [("PAYING", None), ("PAYING", None), ("SUCCESS", None)]
    await box.type_amount("0.5")
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("微信收款 0.50 元")
    assert said(box) == ["请出示付款码", "用户支付中，请稍候", "微信收款 0.50 元"]
    queries = [r for r in server.requests if r[0].endswith("/query")]
    assert len(queries) == 2 and cbor2.loads(queries[0][2])["wait"] == 20


async def test_long_poll_cut_short_does_not_hammer_the_server(box, server):
    server.script[WECHAT_CODE] = [("PAYING", None)] * 4 + [("SUCCESS", None)]
    await box.type_amount("2")
    box.scan_text(WECHAT_CODE)
    await box.wait_state("PAYING")
    started = asyncio.get_running_loop().time()
    await box.wait_spoken("微信收款 2.00 元")
    # every PAYING answer came back after 50 ms; the box waited min_poll_ms before asking again
    assert asyncio.get_running_loop().time() - started >= 3 * box.app.min_poll_ms / 1000
    led = [e for e in box.events if e["event"] == "led"]
    assert led[0] == {"event": "led", "colour": "blue", "blink": True}
    assert led[-1]["colour"] == "green"


@pytest.mark.parametrize("steps, spoken", [
    ([("FAILED", "insufficient_funds")], "余额不足"),
    ([("FAILED", "code_expired")], "付款码已过期"),
    ([("PAYING", None), ("CLOSED", "timeout")], "支付超时，已撤销"),
    ([("FAILED", "channel_declined")], "支付失败"),
    ([("FAILED", None)], "支付失败"),
])
async def test_refusals_are_said_with_their_reason(box, server, steps, spoken):
    server.script[WECHAT_CODE] = steps
    await box.type_amount("88")
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken(spoken)
    assert said(box)[-1] == spoken
    assert box.led == "red"
    assert box.journal.orders()[0]["status"] == steps[-1][0]


async def test_network_down_is_said_and_nothing_is_lost(box, server):
    server.down = True
    box.app.api.retry_ms = 10
    await box.type_amount("12.50")
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("网络异常")
    assert box.led == "red"
    order = box.journal.orders()[0]
    assert order["status"] == "NEW" and order["amount_fen"] == 1250    # kept to ask about later
    errors = [e for e in box.events if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["where"] == "pay"


async def test_server_fault_after_retries_is_a_network_problem_not_a_refusal(box, server):
    async def fault(method, path, headers, body, timeout_ms=None):
        server.requests.append((path, headers, body))
        return server._error(500, "internal_error")
    server.request = fault
    box.app.api.retry_ms = 10
    await box.type_amount("12.50")
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("网络异常")
    assert len(server.requests) == 3                         # pay tried three times, same order_no
    assert len({cbor2.loads(b)["order_no"] for _p, _h, b in server.requests}) == 1
    assert box.journal.orders()[0]["status"] == "NEW"        # outcome unknown: kept to ask later


async def test_led_blinks_blue_while_the_payer_types_the_password(box, server):
    server.script[WECHAT_CODE] = [("PAYING", None)] * 3 + [("SUCCESS", None)]
    await box.type_amount("1")
    box.scan_text(WECHAT_CODE)
    await box.wait_state("PAYING")
    seen = set()
    while box.state == "PAYING":
        seen.add(box.led)
        await asyncio.sleep(0.03)
    assert seen == {"blue", "off"}
    await box.wait_spoken("微信收款 1.00 元")
    assert box.led == "green"


async def test_pay_retries_keep_the_order_number(box, server):
    real_request = server.request
    failures = [NetworkError("reset"), NetworkError("timeout")]

    async def flaky(*args, **kwargs):
        if args[1].endswith("/pay") and failures:
            raise failures.pop(0)
        return await real_request(*args, **kwargs)
    server.request = flaky
    box.app.api.retry_ms = 10
    await box.type_amount("3")
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("微信收款 3.00 元")
    assert len(server.orders) == 1


async def test_scan_before_any_amount(box, server):
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("请先输入金额")
    assert box.state == "IDLE" and server.requests == []


async def test_unsupported_code_keeps_waiting_for_a_good_one(box, server):
    await box.type_amount("5")
    await box.wait_spoken("请出示付款码")
    box.scan_text("https://example.com/not-a-payment-code")
    await box.wait_spoken("不支持的付款码")
    box.scan_text("901234567890123456")
    await box.wait_spoken(lambda t: t == "不支持的付款码", start=2)
    assert box.state == "WAIT_SCAN" and server.requests == []
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("微信收款 5.00 元")


async def test_server_refusing_the_code_is_said(box, server):
    original = server.request

    async def refuse(method, path, headers, body, timeout_ms=None):
        server.requests.append((path, headers, body))
        return server._error(400, "unsupported_code")
    server.request = refuse
    await box.type_amount("5")
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("不支持的付款码")
    assert box.journal.orders()[0]["status"] == "REFUSED"
    server.request = original


async def test_scan_timeout_goes_back_to_idle(box):
    box.app.scan_timeout_ms = 300
    await box.type_amount("5")
    await box.wait_spoken("扫码超时", timeout=3)
    assert box.state == "IDLE"


async def test_clear_cancels_waiting_for_the_code(box, server):
    await box.type_amount("5")
    await box.wait_spoken("请出示付款码")
    await box.press("CLR")
    await box.wait_spoken("已取消")
    assert box.state == "IDLE"
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("请先输入金额")
    assert server.requests == []


async def test_editing_the_amount(box, server):
    await box.press("9", "DEL", "1", "2", "00", ".", "5", "DEL", "DEL", "3")   # 9 ⌫ 12 00 . 5 ⌫ ⌫ 3
    amounts = [e for e in box.events if e["event"] == "amount"]
    assert [a["text"] for a in amounts] == ["9", "", "1", "12", "1200", "1200.", "1200.5", "1200.",
                                            "1200", "12003"]
    assert amounts[-1]["amount_fen"] == 1200300
    await box.press("CLR")
    await box.wait_state("IDLE", start=1)
    await box.press("OK")
    await box.wait_spoken("请输入金额")
    await box.type_amount("7.77")
    box.scan_text(WECHAT_CODE)
    await box.wait_spoken("微信收款 7.77 元")


async def test_showing_the_code_confirms_a_typed_amount(box):
    await box.press("6", "6")
    box.scan_text(WECHAT_CODE)                 # no OK pressed: the scan means "this amount"
    await box.wait_spoken("微信收款 66.00 元")


async def test_amount_limit_from_config(server):
    b = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server,
                           config={"max_fen": 10000}, key_ms=30)
    await b.start()
    try:
        await b.press("1", "0", "0", "0")
        amounts = [e for e in b.events if e["event"] == "amount"]
        assert amounts[-1]["amount_fen"] == 10000
        assert [e["key"] for e in b.events if e["event"] == "refused"] == ["0"]
    finally:
        await b.stop()


async def test_unsynced_clock_is_corrected_from_server_time(server):
    server.clock_offset = 10 ** 6          # the server's clock is far from anything the box knows
    b = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server, key_ms=30)
    await b.start()
    try:
        await b.type_amount("1")
        b.scan_text(WECHAT_CODE)
        await b.wait_spoken("微信收款 1.00 元")
        stamps = [int(h["X-Timestamp"]) for _p, h, _b in server.requests]
        assert abs(stamps[0] - server.now()) > 300 and abs(stamps[-1] - server.now()) <= 2
    finally:
        await b.stop()


async def test_speech_is_never_cut_off(server):
    # the voice module takes 80 ms per character; every announcement must still be heard whole
    server.script[WECHAT_CODE] = [("PAYING", None), ("SUCCESS", None)]
    b = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server,
                           speech_s_per_char=0.08, key_ms=30)
    await b.start()
    try:
        await b.type_amount("12.50")
        b.scan_text(WECHAT_CODE)
        await b.wait_spoken("微信收款", timeout=10)
        assert b.spoken == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
        ends = [f for f in b.voice.frames if f.command == 0x02]
        assert ends == []           # no stop frame: nothing was interrupted
    finally:
        await b.stop()


async def test_order_numbers_persist_across_reboots(server, tmp_path):
    numbers = []
    for n in range(2):
        b = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server,
                               workdir=str(tmp_path), key_ms=30)
        await b.start()
        try:
            await b.type_amount("2")
            b.scan_text(WECHAT_CODE[:-1] + str(n))
            await b.wait_spoken("微信收款 2.00 元")
            numbers.append(b.journal.orders()[0]["order_no"])
        finally:
            await b.stop()
    assert numbers[0] != numbers[1] and numbers[1].endswith("-000002")


async def test_reboot_resumes_an_unfinished_order(server, tmp_path):
    b = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server,
                           workdir=str(tmp_path))
    await b.start()
    server.script[WECHAT_CODE] = [("PAYING", None), ("PAYING", None), ("SUCCESS", None)]
    try:
        await b.type_amount("4")
        b.scan_text(WECHAT_CODE)
        await b.wait_spoken("用户支付中")
    finally:
        await b.stop()          # power cut while the payer types the password
    order_no = b.journal.orders()[0]["order_no"]
    server.orders[order_no]["steps"] = []
    server.orders[order_no]["status"] = "SUCCESS"
    b2 = VirtualEnhancedBox("http://127.0.0.1:1", DEVICE_ID, KEY_HEX, transport=server,
                            workdir=str(tmp_path), key_ms=30)
    await b2.start()
    try:
        await b2.wait_event(lambda e: e["event"] == "order" and e["order_no"] == order_no)
        assert b2.journal.get(order_no)["status"] == "SUCCESS"
    finally:
        await b2.stop()


# ------------------------------------------------------------------------ the real server
def _real_server_parts():
    """server/ and the WeChat sandbox, or None while they are not there yet."""
    try:
        from aiohttp import web

        from hw_sim import test_codes
        from hw_sim.sandbox import run_wechat_sandbox
        from server.app import create_app
        from server.keys import STORAGE
        from server.settings import load_settings
    except ImportError:
        return None
    return web, test_codes, run_wechat_sandbox, create_app, STORAGE, load_settings


@pytest.fixture
async def real_server(tmp_path, monkeypatch):
    """server/ on a real loopback port, its WeChat channel pointed at the sandbox, device D0001."""
    parts = _real_server_parts()
    if parts is None:
        pytest.skip("server/app.py or hw_sim/sandbox is not available yet")
    web, _test_codes, run_wechat_sandbox, create_app, STORAGE, load_settings = parts
    monkeypatch.delenv("SCANPAY_CONFIG", raising=False)
    monkeypatch.delenv("SCANPAY_DB", raising=False)
    async with run_wechat_sandbox() as sandbox:
        settings = load_settings(
            database={"path": str(tmp_path / "scanpay.db")},
            resolver={"tick_s": 0.05, "lease_s": 5.0},
            channels={"wechat": {"base_url": sandbox.base_url, "timeout_s": 2.0, "query_interval_s": 0.2,
                                 "deadline_s": 3.0, "cancel_retry_s": 0.1}})
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            storage = app[STORAGE]
            await storage.add_merchant("M1", "Tea House")
            key_hex = secrets.token_hex(32)
            await storage.add_device(DEVICE_ID, "M1", "Tea House, Nanjing Rd", key_hex)
            yield {"url": "http://127.0.0.1:%d" % port, "key_hex": key_hex, "sandbox": sandbox}
        finally:
            await runner.cleanup()


@pytest.mark.slow
@pytest.mark.parametrize("scenario, param, spoken", [
    ("01", 1, "微信收款 12.50 元"),          # the payer types the password after 1 s
    ("02", 0, "余额不足"),
    ("05", 0, "支付超时，已撤销"),           # the payer never finishes: reversed at the deadline
])
async def test_whole_payment_against_the_real_server(real_server, scenario, param, spoken):
    box = VirtualEnhancedBox(real_server["url"], DEVICE_ID, real_server["key_hex"], key_ms=30)
    await box.start()
    try:
        await box.type_amount("12.50")
        await box.wait_spoken("请出示付款码")
        wallet = Wallet()
        code = wallet.new_code(scenario, param)
        assert box.scan(wallet.screen()) == code
        await box.wait_spoken(spoken, timeout=20)
        ledger = real_server["sandbox"].ledger
        charges = ledger.charges
        if scenario == "01":
            assert box.spoken == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
            assert [c.total_fee for c in charges] == [1250] and box.led == "green"
            assert box.journal.orders()[0]["status"] == "SUCCESS"
        else:
            assert box.spoken[-1] == spoken and box.led == "red"
            assert charges == [] or ledger.refunds == charges       # no money kept from the payer
            assert box.journal.orders()[0]["status"] in ("FAILED", "CLOSED")
    finally:
        await box.stop()
