"""The virtual enhanced box: real firmware app, virtual keypad / GM65 / SYN6288 / LED, paying for real.

Every test whose behaviour the real server can produce runs against it: server/ (create_app, SQLite)
and the WeChat sandbox on loopback, the sandbox's test codes choosing what the payer does. A network
that is down is a real closed port. Only what the real server cannot do on demand (answer 5xx after
every retry, a proxy cutting the long poll short, a connection lost mid-`pay`) goes through
`FaultInjection`, a transport wrapped around the firmware's real HTTP client.
"""
import asyncio
import hashlib
import hmac
import socket
import time

import cbor2
import pytest

from hw_sim import test_codes
from hw_sim.boards import VirtualEnhancedBox, use_firmware
from hw_sim.boards.stack import RecordingTransport, ServerStack
from hw_sim.wallet import Wallet

use_firmware()
from core import codes  # noqa: E402
from core import texts  # noqa: E402  (firmware modules, as the device has them)
from core.http import NetworkError, Response  # noqa: E402

DEVICE_ID = "D0001"


def code(scenario=test_codes.SUCCESS, param=0):
    return test_codes.make_wechat_code(scenario, param)


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path, (DEVICE_ID,)) as s:
        yield s


def make_box(stack, transport=None, **options):
    options.setdefault("key_ms", 30)
    return VirtualEnhancedBox(stack.url, DEVICE_ID, stack.keys[DEVICE_ID],
                              transport=transport or RecordingTransport(stack.url), **options)


@pytest.fixture
async def box(stack):
    b = make_box(stack)
    await b.start()
    b.app.result_ms = 200
    yield b
    await b.stop()


def said(box):
    return list(box.spoken)


def sent(box, op):
    """The bodies of the box's requests for `op`, decoded."""
    return [cbor2.loads(e[2]) for e in box.app.api.transport.exchanges if e[0].endswith("/" + op)]


class FaultInjection:
    """Fault injection around the firmware's real HTTP client, for what the real server cannot do on
    demand: `fail_pay` (exceptions raised instead of sending the next `pay` requests), `server_fault`
    (every request answered 500 internal_error without reaching the server), `strip_long_poll`
    (a proxy that forwards `query` with wait 0, so PAYING comes back at once; it re-signs with the
    device key, as only a test can)."""

    def __init__(self, url, key_hex):
        self.inner = RecordingTransport(url)
        self.key = bytes.fromhex(key_hex)
        self.fail_pay = []
        self.server_fault = False
        self.strip_long_poll = False
        self.requests = []

    @property
    def exchanges(self):
        return self.inner.exchanges

    async def request(self, method, path, headers=None, body=b"", timeout_ms=None):
        self.requests.append((path, headers, body))
        if path.endswith("/pay") and self.fail_pay:
            raise self.fail_pay.pop(0)
        if self.server_fault:
            answer = {"error": {"code": "internal_error", "message": "injected"}, "server_time": int(time.time())}
            return Response(500, {"x-server-time": str(int(time.time()))}, cbor2.dumps(answer))
        if self.strip_long_poll and path.endswith("/query"):
            message = cbor2.loads(body)
            message["wait"] = 0
            body = cbor2.dumps(message)
            lines = [method, path, headers["X-Timestamp"], headers["X-Nonce"], hashlib.sha256(body).hexdigest()]
            if "X-Hardware-Id" in headers:      # the board's identity is signed too (device-api.md section 2)
                lines += [headers["X-Hardware-Id"], headers["X-Boot-Id"]]
            text = "\n".join(lines)
            headers = dict(headers, **{"X-Signature": hmac.new(self.key, text.encode(),
                                                               hashlib.sha256).hexdigest()})
        return await self.inner.request(method, path, headers, body, timeout_ms)

    async def close(self):
        await self.inner.close()


# ------------------------------------------------------------------------ keys and amounts
async def test_keypad_amount_ok_asks_for_the_code(box):
    await box.type_amount("12.50")
    await box.wait_spoken("请出示付款码")
    assert box.state == "WAIT_SCAN"
    amounts = [e for e in box.events if e["event"] == "amount"]
    assert amounts[-1]["text"] == "12.50" and amounts[-1]["amount_fen"] == 1250
    assert [e["key"] for e in box.events if e["event"] == "key"] == ["1", "2", ".", "5", "0", "OK"]
    trigger = [f for f in box.scan_engine.frames if f.address == 0x0002]
    assert trigger and trigger[-1].crc_ok           # the engine was told to read


async def test_editing_the_amount_within_the_servers_limit(box):
    info = await box.wait_event(lambda e: e["event"] == "info")     # the server's `info` at start-up
    assert info["max_fen"] == 500000 and "wechat" in info["wallets"]
    await box.press("9", "DEL", "1", "2", "00", ".", "5", "DEL", "DEL", "3")   # 9 ⌫ 12 00 . 5 ⌫ ⌫ 3
    amounts = [e for e in box.events if e["event"] == "amount"]
    assert [a["text"] for a in amounts] == ["9", "", "1", "12", "1200", "1200.", "1200.5", "1200.",
                                            "1200", "1200"]
    assert amounts[-1]["amount_fen"] == 120000
    assert [e["key"] for e in box.events if e["event"] == "refused"] == ["3"]      # 12003 > 5000 yuan
    await box.press("CLR")
    await box.wait_state("IDLE", start=1)
    await box.press("OK")
    await box.wait_spoken("请输入金额")
    await box.type_amount("7.77")
    box.scan_text(code())
    await box.wait_spoken("微信收款 7.77 元")


async def test_amount_limit_from_config(stack):
    b = make_box(stack, config={"max_fen": 10000})
    await b.start()
    try:
        await b.press("1", "0", "0", "0")
        amounts = [e for e in b.events if e["event"] == "amount"]
        assert amounts[-1]["amount_fen"] == 10000
        assert [e["key"] for e in b.events if e["event"] == "refused"] == ["0"]
        assert sent(b, "pay") == []
    finally:
        await b.stop()


async def test_scan_before_any_amount(box):
    box.scan_text(code())
    await box.wait_spoken("请先输入金额")
    assert box.state == "IDLE" and sent(box, "pay") == []


async def test_scan_timeout_goes_back_to_idle(box):
    box.app.scan_timeout_ms = 300
    await box.type_amount("5")
    await box.wait_spoken("扫码超时", timeout=3)
    assert box.state == "IDLE"


async def test_clear_cancels_waiting_for_the_code(box):
    await box.type_amount("5")
    await box.wait_spoken("请出示付款码")
    await box.press("CLR")
    await box.wait_spoken("已取消")
    assert box.state == "IDLE"
    box.scan_text(code())
    await box.wait_spoken("请先输入金额")
    assert sent(box, "pay") == []


async def test_showing_the_code_confirms_a_typed_amount(box):
    await box.press("6", "6")
    box.scan_text(code())                 # no OK pressed: the scan means "this amount"
    await box.wait_spoken("微信收款 66.00 元")


async def test_unsupported_code_keeps_waiting_for_a_good_one(box):
    await box.type_amount("5")
    await box.wait_spoken("请出示付款码")
    box.scan_text("https://example.com/not-a-payment-code")
    await box.wait_spoken("不支持的付款码")
    box.scan_text("901234567890123456")
    await box.wait_spoken(lambda t: t == "不支持的付款码", start=2)
    assert box.state == "WAIT_SCAN" and sent(box, "pay") == []
    box.scan_text(code())
    await box.wait_spoken("微信收款 5.00 元")


# ------------------------------------------------------------------------ paying, for real
async def test_a_whole_payment_from_keys_to_voice(box, stack):
    await box.type_amount("12.50")
    await box.wait_spoken("请出示付款码")
    wallet = Wallet()
    payment_code = wallet.new_code()
    assert box.scan(wallet.screen()) == payment_code       # the GM65 decoded the phone screen
    await box.wait_spoken("微信收款 12.50 元")
    assert said(box) == ["请出示付款码", "微信收款 12.50 元"]
    assert box.led == "green"
    order_no = box.journal.orders()[0]["order_no"]
    order = await stack.order(DEVICE_ID, order_no)
    assert order.status == "SUCCESS" and order.amount_fen == 1250
    assert [c.total_fee for c in stack.ledger.charges] == [1250]
    assert box.journal.get(order_no)["status"] == "SUCCESS"
    states = [e["state"] for e in box.events if e["event"] == "state"]
    assert states == ["IDLE", "AMOUNT", "WAIT_SCAN", "PAYING", "RESULT"]
    await box.wait_state("IDLE", start=len(box.events) - 1)
    assert box.led == "off"


async def test_engine_in_command_trigger_mode_reads_only_when_asked(stack):
    b = make_box(stack, scan_mode="command", line_ending=b"\r\n")
    await b.start()
    try:
        wallet = Wallet()
        payment_code = wallet.new_code()
        assert b.scan(wallet.screen()) is None          # not triggered: the engine stays silent
        await b.type_amount("9.9")                       # OK triggers a read of what is in view
        await b.wait_spoken("微信收款 9.90 元")
        assert b.scan_engine.scans == [payment_code]
    finally:
        await b.stop()


async def test_payer_typing_password_then_paid(box, stack):
    await box.type_amount("0.5")
    box.scan_text(code(test_codes.PASSWORD, 1))
    await box.wait_spoken("微信收款 0.50 元", timeout=15)
    assert said(box) == ["请出示付款码", "用户支付中，请稍候", "微信收款 0.50 元"]
    queries = sent(box, "query")
    assert queries and all(q["wait"] == 20 for q in queries)
    assert len(queries) <= 2                            # the long poll answered when the payer paid
    assert [c.total_fee for c in stack.ledger.charges] == [50]


@pytest.mark.parametrize("scenario, spoken, status", [
    (test_codes.INSUFFICIENT_FUNDS, "余额不足", "FAILED"),
    (test_codes.EXPIRED, "付款码已过期", "FAILED"),
    (test_codes.PAYER_GIVES_UP, "支付超时，已撤销", "CLOSED"),     # reversed at the deadline
])
async def test_refusals_are_said_with_their_reason(box, stack, scenario, spoken, status):
    await box.type_amount("88")
    box.scan_text(code(scenario))
    await box.wait_spoken(spoken, timeout=20)
    assert said(box)[-1] == spoken
    assert box.led == "red"
    assert box.journal.orders()[0]["status"] == status
    ledger = stack.ledger
    assert ledger.charges == [] or ledger.refunds == ledger.charges     # no money kept from the payer


@pytest.mark.parametrize("order, spoken", [
    ({"status": "FAILED", "reason": "channel_declined"}, "支付失败"),
    ({"status": "FAILED", "reason": None}, "支付失败"),
    ({"status": "FAILED", "reason": "payer_cancelled"}, "用户已取消支付"),
    ({"status": "FAILED", "reason": "code_used"}, "付款码已使用"),
])
def test_reasons_the_sandbox_has_no_code_for_are_said_too(order, spoken):
    assert texts.result_text(order) == spoken


async def test_codes_of_wallets_the_server_does_not_route_are_refused_on_the_box(box, stack):
    info = await box.wait_event(lambda e: e["event"] == "info")
    assert info["wallets"] == ["wechat"]            # the stack configures WeChat only
    await box.type_amount("5")
    box.scan_text("281234567890123456")             # an Alipay code: refused before any request
    await box.wait_spoken("本店暂不支持支付宝付款")       # a wallet this shop does not take, by name
    assert sent(box, "pay") == [] and box.state == "WAIT_SCAN"


async def test_server_refusing_the_code_is_said(box, stack):
    # a box whose table is older than the server's routing (it still thinks Alipay is routed)
    await box.wait_event(lambda e: e["event"] == "info")
    box.app.prefixes = codes.DEFAULT_PREFIXES
    await box.type_amount("5")
    box.scan_text("281234567890123456")
    await box.wait_spoken("不支持的付款码")
    assert box.journal.orders()[0]["status"] == "REFUSED"
    assert box.journal.orders()[0]["reason"] == "unsupported_code"
    assert [e[3] for e in box.app.api.transport.exchanges if e[0].endswith("/pay")][-1] == 400
    assert stack.sandbox.ledger.calls == []


async def test_unsynced_clock_is_corrected_from_server_time(box):
    await box.wait_event(lambda e: e["event"] == "info")
    box.app.api.clock.adopt(int(time.time()) - 10 ** 6)     # a clock far from the server's
    first = len(box.app.api.transport.exchanges)
    await box.type_amount("1")
    box.scan_text(code())
    await box.wait_spoken("微信收款 1.00 元")
    exchanges = box.app.api.transport.exchanges[first:]
    stamps = [int(e[1]["X-Timestamp"]) for e in exchanges]
    assert cbor2.loads(exchanges[0][4])["error"]["code"] == "stale_timestamp"
    assert abs(stamps[0] - time.time()) > 300 and abs(stamps[-1] - time.time()) <= 2
    assert [e[3] for e in exchanges] == [401, 200]


async def test_speech_is_never_cut_off(stack):
    # the voice module takes 80 ms per character; every announcement must still be heard whole
    b = make_box(stack, speech_s_per_char=0.08)
    await b.start()
    try:
        await b.type_amount("12.50")
        b.scan_text(code(test_codes.PASSWORD, 1))
        await b.wait_spoken("微信收款", timeout=15)
        assert b.spoken == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
        ends = [f for f in b.voice.frames if f.command == 0x02]
        assert ends == []           # no stop frame: nothing was interrupted
    finally:
        await b.stop()


async def test_led_blinks_blue_while_the_payer_types_the_password(box):
    await box.type_amount("1")
    box.scan_text(code(test_codes.PASSWORD, 1))
    await box.wait_state("PAYING")
    seen = set()
    while box.state == "PAYING":
        seen.add(box.led)
        await asyncio.sleep(0.03)
    assert seen == {"blue", "off"}
    await box.wait_spoken("微信收款 1.00 元")
    assert box.led == "green"


async def test_order_numbers_persist_across_reboots(stack, tmp_path):
    numbers = []
    for n in range(2):
        b = make_box(stack, workdir=str(tmp_path))
        await b.start()
        try:
            await b.type_amount("2")
            b.scan_text(code())
            await b.wait_spoken("微信收款 2.00 元")
            numbers.append(b.journal.orders()[0]["order_no"])
        finally:
            await b.stop()
    assert numbers[0] != numbers[1] and numbers[1].endswith("-000002")
    for order_no in numbers:
        assert (await stack.order(DEVICE_ID, order_no)).status == "SUCCESS"


async def test_reboot_resumes_an_unfinished_order(stack, tmp_path):
    b = make_box(stack, workdir=str(tmp_path))
    await b.start()
    try:
        await b.type_amount("4")
        b.scan_text(code(test_codes.PASSWORD, 1))
        await b.wait_spoken("用户支付中")
    finally:
        await b.stop()          # power cut while the payer types the password
    order_no = b.journal.orders()[0]["order_no"]
    assert b.journal.get(order_no)["status"] == "PAYING"
    await asyncio.sleep(1.5)    # the payer finishes while the box is off
    b2 = make_box(stack, workdir=str(tmp_path))
    await b2.start()
    try:
        await b2.wait_event(lambda e: e["event"] == "order" and e["order_no"] == order_no)
        assert b2.journal.get(order_no)["status"] == "SUCCESS"
        assert b2.journal.unfinished() == []
    finally:
        await b2.stop()


async def test_reboot_after_pay_never_sent_marks_it_not_sent(stack, tmp_path):
    b = make_box(stack, workdir=str(tmp_path))
    await b.start()
    await b.stop()
    b.journal.record({"order_no": b.journal.next_order_no(DEVICE_ID), "amount_fen": 100, "status": "NEW"})
    b2 = make_box(stack, workdir=str(tmp_path))
    await b2.start()
    try:
        await b2.wait_event(lambda e: e["event"] == "state")
        for _ in range(100):
            if not b2.journal.unfinished():
                break
            await asyncio.sleep(0.02)
        assert b2.journal.orders()[0]["status"] == "NOT_SENT"
    finally:
        await b2.stop()


# ------------------------------------------------------------------------ network down: a closed port
def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_network_down_is_said_and_nothing_is_lost(stack):
    url = "http://127.0.0.1:%d" % _closed_port()
    b = VirtualEnhancedBox(url, DEVICE_ID, stack.keys[DEVICE_ID], key_ms=30)
    await b.start()
    try:
        b.app.api.retry_ms = 10
        await b.type_amount("12.50")
        b.scan_text(code())
        await b.wait_spoken("网络异常")
        assert b.led == "red"
        order = b.journal.orders()[0]
        assert order["status"] == "NEW" and order["amount_fen"] == 1250    # kept to ask about later
        errors = [e for e in b.events if e["event"] == "error" and e["where"] == "pay"]
        assert len(errors) == 1
        assert "cannot connect" in errors[0]["message"]
    finally:
        await b.stop()


# ------------------------------------------------------------------------ fault injection
async def test_server_fault_after_retries_is_a_network_problem_not_a_refusal(stack):
    faults = FaultInjection(stack.url, stack.keys[DEVICE_ID])
    faults.server_fault = True
    b = make_box(stack, transport=faults)
    await b.start()
    try:
        b.app.api.retry_ms = 10
        await b.type_amount("12.50")
        b.scan_text(code())
        await b.wait_spoken("网络异常")
        pays = [r for r in faults.requests if r[0].endswith("/pay")]
        assert len(pays) == 3                                    # pay tried three times, same order_no
        assert len({cbor2.loads(body)["order_no"] for _p, _h, body in pays}) == 1
        assert b.journal.orders()[0]["status"] == "NEW"          # outcome unknown: kept to ask later
    finally:
        await b.stop()


async def test_pay_retries_keep_the_order_number(stack):
    faults = FaultInjection(stack.url, stack.keys[DEVICE_ID])
    faults.fail_pay = [NetworkError("reset"), NetworkError("timeout")]
    b = make_box(stack, transport=faults)
    await b.start()
    try:
        b.app.api.retry_ms = 10
        await b.type_amount("3")
        b.scan_text(code())
        await b.wait_spoken("微信收款 3.00 元")
        pays = [cbor2.loads(body)["order_no"] for p, _h, body in faults.requests if p.endswith("/pay")]
        assert len(pays) >= 3 and len(set(pays)) == 1       # two lost, then sent (and re-signed once
        assert [c.total_fee for c in stack.ledger.charges] == [300]      # for the clock): charged once      # charged once
    finally:
        await b.stop()


async def test_long_poll_cut_short_does_not_hammer_the_server(tmp_path):
    # the payer takes 2 s; a deadline far beyond that, so a loaded machine cannot turn it into a reversal
    async with ServerStack(tmp_path, (DEVICE_ID,), deadline_s=15.0) as stack:
        faults = FaultInjection(stack.url, stack.keys[DEVICE_ID])
        faults.strip_long_poll = True
        b = make_box(stack, transport=faults)
        await b.start()
        try:
            await b.type_amount("2")
            b.scan_text(code(test_codes.PASSWORD, 2))
            await b.wait_state("PAYING")
            started = asyncio.get_running_loop().time()
            await b.wait_spoken("微信收款 2.00 元", timeout=20)
            elapsed = asyncio.get_running_loop().time() - started
            queries = [r for r in faults.requests if r[0].endswith("/query")]
            # every PAYING answer came back at once; the box waited min_poll_ms before asking again
            assert len(queries) <= elapsed / (b.app.min_poll_ms / 1000) + 1
            assert len(queries) >= 2
            led = [e for e in b.events if e["event"] == "led"]
            assert {"event": "led", "colour": "blue", "blink": True} in led
            assert led[-1]["colour"] == "green"
        finally:
            await b.stop()


# ------------------------------------------------------------------------ the wallet's phone screen
@pytest.mark.slow
@pytest.mark.parametrize("scenario, param, spoken", [
    ("01", 1, "微信收款 12.50 元"),          # the payer types the password after 1 s
    ("02", 0, "余额不足"),
    ("05", 0, "支付超时，已撤销"),           # the payer never finishes: reversed at the deadline
])
async def test_whole_payment_scanned_from_the_phone(box, stack, scenario, param, spoken):
    await box.type_amount("12.50")
    await box.wait_spoken("请出示付款码")
    wallet = Wallet()
    payment_code = wallet.new_code(scenario, param)
    assert box.scan(wallet.screen()) == payment_code
    await box.wait_spoken(spoken, timeout=20)
    ledger = stack.ledger
    if scenario == "01":
        assert box.spoken == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
        assert [c.total_fee for c in ledger.charges] == [1250] and box.led == "green"
        assert box.journal.orders()[0]["status"] == "SUCCESS"
    else:
        assert box.spoken[-1] == spoken and box.led == "red"
        assert ledger.charges == [] or ledger.refunds == ledger.charges
        assert box.journal.orders()[0]["status"] in ("FAILED", "CLOSED")
