"""The WeChat adapter's unifiedorder, closeorder, refund, refundquery, downloadbill and the newer sandbox
outcomes (no answer, lost answer, already used), against the sandbox over loopback HTTP."""
import dataclasses
import datetime

from hw_sim import test_codes
from hw_sim.sandbox.common import CHINA
from server.channels import (BillStatus, Outcome, PayCommand, PrecreateCommand, Reason, RefundCommand,
                             TradeType)
from server.channels.wechat import open_channel, signing
from server.clock import new_trade_no

NOTIFY = "https://pay.example/notify/wechat"


def command(scenario=test_codes.SUCCESS, param=0, amount_fen=1250):
    return PayCommand(trade_no=new_trade_no(), amount_fen=amount_fen,
                      auth_code=test_codes.make_wechat_code(scenario, param), subject=None, device_id="D1")


async def test_native_code_paid_then_refunded(wechat, sandbox):
    trade_no = new_trade_no()
    created = await wechat.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=990, subject="面", notify_url=NOTIFY))
    assert created.ok and created.qr_code.startswith("weixin://wxpay/bizpayurl?pr=")
    assert (await wechat.query(trade_no)).outcome is Outcome.WAITING         # NOTPAY
    assert sandbox.pay_c2b(trade_no)
    paid = await wechat.query(trade_no)
    assert paid.outcome is Outcome.SUCCESS and paid.channel_trade_no

    refund = RefundCommand(trade_no=trade_no, refund_no="RF" + trade_no[2:], amount_fen=500, total_fen=990)
    accepted = await wechat.refund(refund)
    assert accepted.outcome is Outcome.WAITING and accepted.channel_refund_no
    again = await wechat.refund(refund)                                     # retried: refunded once
    assert again.channel_refund_no == accepted.channel_refund_no
    assert [r.amount_fen for r in sandbox.ledger.refunds] == [500]
    assert (await wechat.refund_query(trade_no, refund.refund_no)).outcome is Outcome.SUCCESS
    assert (await wechat.refund_query(trade_no, "RFnone")).outcome is Outcome.FAILED
    too_much = await wechat.refund(dataclasses.replace(refund, refund_no="RF2" + trade_no[3:], amount_fen=491))
    assert too_much.outcome is Outcome.FAILED


async def test_jsapi_gives_signed_pay_params(wechat, wechat_settings):
    no_openid = await wechat.precreate(PrecreateCommand(trade_no=new_trade_no(), amount_fen=100, subject=None, notify_url=NOTIFY,
                                                        trade_type=TradeType.JSAPI))
    assert not no_openid.ok
    created = await wechat.precreate(PrecreateCommand(trade_no=new_trade_no(), amount_fen=100, subject=None, notify_url=NOTIFY,
                                                      trade_type=TradeType.JSAPI, payer_id="oUser"))
    assert created.ok and created.pay_params["package"].startswith("prepay_id=wx")
    params = dict(created.pay_params)
    sign_type = params["signType"]
    assert params.pop("paySign") == signing.sign(params, wechat_settings.api_key.reveal(), sign_type)


async def test_closed_code_cannot_be_paid(wechat, sandbox):
    trade_no = new_trade_no()
    await wechat.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=100, subject=None, notify_url=NOTIFY))
    assert (await wechat.close(trade_no)).cancelled
    assert not sandbox.pay_c2b(trade_no)
    assert (await wechat.query(trade_no)).outcome is Outcome.FAILED
    assert (await wechat.close(new_trade_no())).cancelled                 # never created: nothing to pay


async def test_a_paid_code_is_not_closed(wechat, sandbox):
    trade_no = new_trade_no()
    await wechat.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=100, subject=None, notify_url=NOTIFY))
    sandbox.pay_c2b(trade_no)
    closed = await wechat.close(trade_no)
    assert not closed.cancelled and closed.raw["err_code"] == "ORDERPAID"


async def test_bill_lists_payments_refunds_and_fees(wechat, sandbox):
    pay = command(amount_fen=10000)
    await wechat.pay(pay)
    refund_no = "RF" + pay.trade_no[2:]
    await wechat.refund(RefundCommand(trade_no=pay.trade_no, refund_no=refund_no, amount_fen=2500, total_fen=10000))
    today = datetime.datetime.now(CHINA).date()
    rows = await wechat.bill(today)
    assert sorted((r.trade_no, r.status, r.amount_fen, r.fee_fen, r.refund_no or "") for r in rows) == sorted([
        (pay.trade_no, BillStatus.SUCCESS, 10000, 60, ""), (pay.trade_no, BillStatus.REFUND, 2500, -15, refund_no)])
    assert await wechat.bill(today - datetime.timedelta(days=3)) == []       # "No Bill Exist"


async def test_no_answer_is_unknown_and_nothing_is_charged(sandbox, wechat_settings):
    async with open_channel(dataclasses.replace(wechat_settings, timeout_s=0.5)) as wechat:
        pay = command(test_codes.NO_ANSWER, 5)
        assert (await wechat.pay(pay)).outcome is Outcome.UNKNOWN
        assert (await wechat.query(pay.trade_no)).outcome is Outcome.UNKNOWN      # ORDERNOTEXIST
        assert (await wechat.cancel(pay.trade_no)).cancelled
    assert sandbox.ledger.charges == []


async def test_lost_answer_is_unknown_and_query_finds_the_payment(wechat, sandbox):
    pay = command(test_codes.LOST_ANSWER)
    assert (await wechat.pay(pay)).outcome is Outcome.UNKNOWN
    assert (await wechat.query(pay.trade_no)).outcome is Outcome.SUCCESS
    assert len(sandbox.ledger.charges_for(pay.trade_no)) == 1


async def test_slow_answer_still_succeeds(wechat, sandbox):
    pay = command(test_codes.SLOW_ANSWER, 1)
    assert (await wechat.pay(pay)).outcome is Outcome.SUCCESS


async def test_already_used_code_is_refused(wechat, sandbox):
    result = await wechat.pay(command(test_codes.ALREADY_USED))
    assert (result.outcome, result.reason) == (Outcome.FAILED, Reason.CODE_INVALID)
    assert sandbox.ledger.charges == []
