"""The WeChat adapter against the sandbox (both sign types) and against upstreams that misbehave."""
import asyncio
import dataclasses
import socket

import pytest
from aiohttp import web

from hw_sim import test_codes
from server.channels import Outcome, PayCommand, Reason
from server.channels.wechat import open_channel, signing
from server.channels.wechat.xmlcodec import to_xml
from server.clock import new_trade_no
from server.settings import Secret


def command(scenario=test_codes.SUCCESS, param=0, amount_fen=1250):
    return PayCommand(trade_no=new_trade_no(), amount_fen=amount_fen,
                      auth_code=test_codes.make_wechat_code(scenario, param), subject="茶 & <点心>", device_id="D1")


async def test_success_then_query(wechat, sandbox):
    pay = command()
    result = await wechat.pay(pay)
    assert result.outcome is Outcome.SUCCESS and result.channel_trade_no
    assert sandbox.ledger.charges_for(pay.trade_no)[0].total_fee == 1250
    queried = await wechat.query(pay.trade_no)
    assert (queried.outcome, queried.channel_trade_no) == (Outcome.SUCCESS, result.channel_trade_no)
    assert "sign" not in result.raw and pay.auth_code not in str(result.raw)


async def test_password_then_reverse_with_recall(wechat, sandbox):
    pay = command(test_codes.PAYER_GIVES_UP)
    assert (await wechat.pay(pay)).outcome is Outcome.WAITING
    assert (await wechat.query(pay.trade_no)).outcome is Outcome.WAITING
    first = await wechat.cancel(pay.trade_no)
    assert (first.cancelled, first.retry) == (False, True)
    second = await wechat.cancel(pay.trade_no)
    assert second.cancelled
    queried = await wechat.query(pay.trade_no)
    assert (queried.outcome, queried.reason) == (Outcome.FAILED, Reason.TIMEOUT)
    assert sandbox.ledger.reversals == [pay.trade_no]


@pytest.mark.parametrize("scenario, reason", [(test_codes.INSUFFICIENT_FUNDS, Reason.INSUFFICIENT_FUNDS),
                                              (test_codes.EXPIRED, Reason.CODE_EXPIRED)])
async def test_refusals(wechat, scenario, reason):
    result = await wechat.pay(command(scenario))
    assert (result.outcome, result.reason) == (Outcome.FAILED, reason)


async def test_system_error_is_unknown_and_query_finds_the_payment(wechat):
    pay = command(test_codes.SYSTEM_ERROR)
    assert (await wechat.pay(pay)).outcome is Outcome.UNKNOWN
    assert (await wechat.query(pay.trade_no)).outcome is Outcome.SUCCESS


async def test_retried_micropay_is_not_charged_twice(wechat, sandbox):
    pay = command()
    await wechat.pay(pay)
    again = await wechat.pay(pay)
    assert again.outcome is Outcome.UNKNOWN and again.raw["err_code"] == "ORDERPAID"
    assert len(sandbox.ledger.charges) == 1
    other_amount = await wechat.pay(dataclasses.replace(pay, amount_fen=1))
    assert other_amount.raw["err_code"] == "OUT_TRADE_NO_USED"


async def test_a_payment_code_is_good_once(wechat, sandbox):
    pay = command()
    await wechat.pay(pay)
    second = await wechat.pay(dataclasses.replace(pay, trade_no=new_trade_no()))
    assert (second.outcome, second.reason) == (Outcome.FAILED, Reason.CODE_INVALID)


async def test_wrong_api_key_is_refused_by_the_sandbox(wechat_settings, sandbox):
    settings = dataclasses.replace(wechat_settings, api_key=Secret("0" * 32))
    async with open_channel(settings) as wechat:
        result = await wechat.pay(command())
    assert (result.outcome, result.message) == (Outcome.UNKNOWN, "签名错误")
    assert sandbox.ledger.charges == []


async def test_wrong_mch_id_is_refused(wechat_settings, sandbox):
    async with open_channel(dataclasses.replace(wechat_settings, mch_id="999")) as wechat:
        result = await wechat.query("T1")
    assert result.outcome is Outcome.UNKNOWN and sandbox.ledger.calls == []


async def upstream(handler):
    """A one-route HTTP server standing in for an upstream that misbehaves."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.mark.parametrize("answer", [
    # Signed with another key: forged or corrupted.
    lambda: to_xml({"return_code": "SUCCESS", "result_code": "SUCCESS", "transaction_id": "1",
                    "sign": signing.sign({"return_code": "SUCCESS"}, "other", "HMAC-SHA256")}),
    lambda: to_xml({"return_code": "SUCCESS", "result_code": "SUCCESS", "transaction_id": "1"}),   # unsigned
    lambda: b"<html>502 Bad Gateway</html>",
    lambda: b'<!DOCTYPE x [<!ENTITY a "b">]><xml><return_code>SUCCESS</return_code></xml>',
])
async def test_untrustworthy_answers_are_unknown(wechat_settings, answer):
    async def handler(request):
        return web.Response(body=answer(), content_type="text/xml")
    runner, url = await upstream(handler)
    try:
        async with open_channel(dataclasses.replace(wechat_settings, base_url=url)) as wechat:
            assert (await wechat.pay(command())).outcome is Outcome.UNKNOWN
            assert (await wechat.query("T1")).outcome is Outcome.UNKNOWN
            assert not (await wechat.cancel("T1")).cancelled
    finally:
        await runner.cleanup()


async def test_http_error_and_timeout_are_unknown(wechat_settings):
    async def handler(request):
        if request.path.endswith("micropay"):
            await asyncio.sleep(2)
        return web.Response(status=500)
    runner, url = await upstream(handler)
    try:
        async with open_channel(dataclasses.replace(wechat_settings, base_url=url, timeout_s=0.3)) as wechat:
            slow = await wechat.pay(command())
            assert slow.outcome is Outcome.UNKNOWN and "Timeout" in slow.message
            assert (await wechat.query("T1")).outcome is Outcome.UNKNOWN
    finally:
        await runner.cleanup()


async def test_nobody_listening_is_unknown(wechat_settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with open_channel(dataclasses.replace(wechat_settings, base_url=f"http://127.0.0.1:{port}")) as wechat:
        result = await wechat.pay(command())
    assert result.outcome is Outcome.UNKNOWN


async def test_adapter_never_logs_the_whole_code(wechat, caplog):
    pay = command()
    with caplog.at_level("DEBUG"):
        await wechat.pay(pay)
    assert pay.auth_code[-4:] in caplog.text and pay.auth_code not in caplog.text
    assert "192006250b4c09247ec02edce69f6a2d" not in caplog.text
