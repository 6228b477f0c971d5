"""The Alipay adapter against the Alipay sandbox over loopback HTTP: every call, every outcome."""
import asyncio
import dataclasses
import datetime

import pytest
from aiohttp import web

from hw_sim import test_codes
from hw_sim.sandbox.common import CHINA
from server.channels import (BillStatus, Outcome, PayCommand, PrecreateCommand, Reason, RefundCommand,
                             TradeType)
from server.channels.alipay import open_channel
from server.clock import new_trade_no
from server.settings import Secret

from tests.channels.channel_settings import alipay_settings_for


def command(scenario=test_codes.SUCCESS, param=0, amount_fen=1250):
    return PayCommand(trade_no=new_trade_no(), amount_fen=amount_fen,
                      auth_code=test_codes.make_alipay_code(scenario, param), subject="茶 & \"点心\"", device_id="D1")


async def test_success_then_query(alipay, alipay_sandbox):
    pay = command()
    result = await alipay.pay(pay)
    assert result.outcome is Outcome.SUCCESS and result.channel_trade_no
    assert alipay_sandbox.ledger.charges_for(pay.trade_no)[0].amount_fen == 1250
    queried = await alipay.query(pay.trade_no)
    assert (queried.outcome, queried.channel_trade_no) == (Outcome.SUCCESS, result.channel_trade_no)
    assert pay.auth_code not in str(result.raw) and "buyer_logon_id" not in result.raw


async def test_password_is_waiting_then_paid(alipay):
    pay = command(test_codes.PASSWORD, 1)
    assert (await alipay.pay(pay)).outcome is Outcome.WAITING
    assert (await alipay.query(pay.trade_no)).outcome is Outcome.WAITING
    await asyncio.sleep(1.1)
    assert (await alipay.query(pay.trade_no)).outcome is Outcome.SUCCESS


async def test_payer_gives_up_cancel_retries_then_closes(alipay, alipay_sandbox):
    pay = command(test_codes.PAYER_GIVES_UP)
    assert (await alipay.pay(pay)).outcome is Outcome.WAITING
    first = await alipay.cancel(pay.trade_no)
    assert (first.cancelled, first.retry) == (False, True)      # retry_flag=Y
    second = await alipay.cancel(pay.trade_no)
    assert second.cancelled
    queried = await alipay.query(pay.trade_no)
    assert (queried.outcome, queried.reason) == (Outcome.FAILED, Reason.TIMEOUT)
    assert alipay_sandbox.ledger.charges == [] and alipay_sandbox.ledger.reversals == [pay.trade_no]


@pytest.mark.parametrize("scenario, reason", [(test_codes.INSUFFICIENT_FUNDS, Reason.INSUFFICIENT_FUNDS),
                                              (test_codes.EXPIRED, Reason.CODE_EXPIRED),
                                              (test_codes.ALREADY_USED, Reason.CODE_EXPIRED)])
async def test_refusals(alipay, alipay_sandbox, scenario, reason):
    result = await alipay.pay(command(scenario))
    assert (result.outcome, result.reason) == (Outcome.FAILED, reason)
    assert alipay_sandbox.ledger.charges == []


async def test_system_error_is_unknown_and_query_finds_the_payment(alipay):
    pay = command(test_codes.SYSTEM_ERROR)
    assert (await alipay.pay(pay)).outcome is Outcome.UNKNOWN
    assert (await alipay.query(pay.trade_no)).outcome is Outcome.SUCCESS


async def test_no_answer_is_unknown_and_nothing_was_charged(alipay_sandbox):
    async with open_channel(alipay_settings_for(alipay_sandbox.base_url, timeout_s=0.5)) as alipay:
        pay = command(test_codes.NO_ANSWER, 5)
        result = await alipay.pay(pay)
        assert result.outcome is Outcome.UNKNOWN and "Timeout" in result.message
        assert (await alipay.query(pay.trade_no)).outcome is Outcome.UNKNOWN     # ACQ.TRADE_NOT_EXIST
        assert (await alipay.cancel(pay.trade_no)).cancelled
    assert alipay_sandbox.ledger.charges == []


async def test_lost_answer_is_unknown_and_query_finds_the_payment(alipay, alipay_sandbox):
    pay = command(test_codes.LOST_ANSWER)
    assert (await alipay.pay(pay)).outcome is Outcome.UNKNOWN
    queried = await alipay.query(pay.trade_no)
    assert queried.outcome is Outcome.SUCCESS
    assert len(alipay_sandbox.ledger.charges_for(pay.trade_no)) == 1


async def test_retried_pay_is_not_charged_twice(alipay, alipay_sandbox):
    pay = command()
    first = await alipay.pay(pay)
    again = await alipay.pay(pay)
    assert again.outcome is Outcome.SUCCESS and again.channel_trade_no == first.channel_trade_no
    assert len(alipay_sandbox.ledger.charges) == 1
    other_amount = await alipay.pay(dataclasses.replace(pay, amount_fen=1))
    assert other_amount.outcome is Outcome.UNKNOWN and other_amount.raw["sub_code"] == "ACQ.CONTEXT_INCONSISTENT"


async def test_precreate_then_payer_pays_then_refund(alipay, alipay_sandbox):
    trade_no = new_trade_no()
    created = await alipay.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=990, subject="面"))
    assert created.ok and created.qr_code.startswith("https://qr.alipay.com/")
    assert (await alipay.query(trade_no)).outcome is Outcome.WAITING
    assert alipay_sandbox.pay_c2b(trade_no)
    assert (await alipay.query(trade_no)).outcome is Outcome.SUCCESS

    refund = RefundCommand(trade_no=trade_no, refund_no="RF1", amount_fen=490, total_fen=990)
    assert (await alipay.refund(refund)).outcome is Outcome.SUCCESS
    assert (await alipay.refund(refund)).outcome is Outcome.SUCCESS        # idempotent: refunded once
    assert [r.amount_fen for r in alipay_sandbox.ledger.refunds] == [490]
    assert (await alipay.refund_query(trade_no, "RF1")).outcome is Outcome.SUCCESS
    assert (await alipay.refund_query(trade_no, "RF2")).outcome is Outcome.FAILED
    too_much = await alipay.refund(dataclasses.replace(refund, refund_no="RF2", amount_fen=501))
    assert too_much.outcome is Outcome.FAILED


async def test_jsapi_create_needs_buyer_and_gives_trade_no(alipay):
    trade_no = new_trade_no()
    missing = await alipay.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=100, subject=None,
                                                      trade_type=TradeType.JSAPI))
    assert not missing.ok
    created = await alipay.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=100, subject=None,
                                                      trade_type=TradeType.JSAPI, payer_id="2088102146225135"))
    assert created.ok and created.pay_params["tradeNO"] == created.channel_trade_no


async def test_close_an_unpaid_code(alipay, alipay_sandbox):
    trade_no = new_trade_no()
    await alipay.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=100, subject=None))
    assert (await alipay.close(trade_no)).cancelled
    assert not alipay_sandbox.pay_c2b(trade_no)
    assert (await alipay.query(trade_no)).outcome is Outcome.FAILED
    assert (await alipay.close(new_trade_no())).cancelled      # never opened: nothing to pay


async def test_bill_lists_payments_refunds_and_fees(alipay, alipay_sandbox):
    pay = command(amount_fen=10000)
    await alipay.pay(pay)
    await alipay.refund(RefundCommand(trade_no=pay.trade_no, refund_no="R1", amount_fen=2500, total_fen=10000))
    today = datetime.datetime.now(CHINA).date()
    rows = await alipay.bill(today)
    paid = [r for r in rows if r.status == BillStatus.SUCCESS]
    refunded = [r for r in rows if r.status == BillStatus.REFUND]
    assert [(r.trade_no, r.amount_fen, r.fee_fen) for r in paid] == [(pay.trade_no, 10000, 60)]
    assert [(r.trade_no, r.amount_fen, r.fee_fen, r.refund_no) for r in refunded] == [(pay.trade_no, 2500, -15, "R1")]
    assert paid[0].channel_trade_no == alipay_sandbox.ledger.charges[0].channel_trade_no
    assert await alipay.bill(today - datetime.timedelta(days=1)) == []


async def test_wrong_app_key_is_refused_by_the_sandbox(alipay_sandbox):
    from Crypto.PublicKey import RSA
    other = RSA.generate(1024).export_key(pkcs=8).decode()
    settings = dataclasses.replace(alipay_settings_for(alipay_sandbox.base_url), app_private_key=Secret(other))
    async with open_channel(settings) as alipay:
        result = await alipay.pay(command())
    assert result.outcome is Outcome.UNKNOWN and "验签出错" in result.message
    assert alipay_sandbox.ledger.charges == []


async def upstream(body: str):
    async def handler(request):
        return web.Response(text=body, content_type="application/json")
    app = web.Application()
    app.router.add_post("/gateway.do", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.mark.parametrize("body", [
    '{"alipay_trade_pay_response":{"code":"10000","trade_no":"1"},"sign":"AAAA"}',     # forged signature
    '{"alipay_trade_pay_response":{"code":"10000","trade_no":"1"}}',                   # unsigned
    '<html>502</html>',
    '{"error_response":{"code":"40002","sub_msg":"x"}}',
    '{"alipay_trade_pay_response":{"code":' + "9" * 5000 + '}}',                      # 5,000-digit number
    '{"alipay_trade_pay_response":' + "[" * 5000 + "]" * 5000 + '}',                   # nesting too deep
])
async def test_untrustworthy_answers_are_unknown(body):
    runner, url = await upstream(body)
    try:
        async with open_channel(alipay_settings_for(url)) as alipay:
            assert (await alipay.pay(command())).outcome is Outcome.UNKNOWN
            assert (await alipay.query("T1")).outcome is Outcome.UNKNOWN
            assert not (await alipay.cancel("T1")).cancelled
    finally:
        await runner.cleanup()


async def test_a_signed_answer_cannot_be_edited(alipay_sandbox):
    # A man in the middle turns "insufficient funds" into "success": the signature no longer verifies.
    import aiohttp

    async def handler(request):
        async with aiohttp.ClientSession() as session:
            async with session.post(alipay_sandbox.base_url + "/gateway.do", data=await request.post()) as resp:
                text = await resp.text()
        return web.Response(text=text.replace('"code":"40004"', '"code":"10000"'), content_type="application/json")

    app = web.Application()
    app.router.add_post("/gateway.do", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with open_channel(alipay_settings_for(f"http://127.0.0.1:{runner.addresses[0][1]}")) as alipay:
            result = await alipay.pay(command(test_codes.INSUFFICIENT_FUNDS))
        assert result.outcome is Outcome.UNKNOWN and "signature" in result.message
    finally:
        await runner.cleanup()


async def test_adapter_never_logs_the_code_or_key(alipay, caplog):
    pay = command()
    with caplog.at_level("DEBUG"):
        await alipay.pay(pay)
    assert pay.auth_code[-4:] in caplog.text and pay.auth_code not in caplog.text
    assert "PRIVATE" not in caplog.text and "PRIVATE" not in repr(alipay)
