"""Alipay indirect acquiring (间连): every call for a shop's order carries biz_content sub_merchant with the
shop's smid, the sandbox keeps each shop's money apart and refuses smids it does not know, and a shop's bill
is the acquirer's trade bill kept to its rows. Direct mode is what the other Alipay tests cover."""
import datetime
import json

import pytest

from hw_sim import test_codes
from hw_sim.sandbox.common import CHINA
from server.channels import (BillStatus, BillUnavailable, Outcome, PayCommand, PrecreateCommand, Reason,
                             RefundCommand, SubMerchant)
from server.channels.alipay import protocol, signing
from server.channels.alipay.bill import COLUMNS, SUB_MERCHANT_COLUMN, parse_bill_csv
from server.clock import new_trade_no

SHOP_A = SubMerchant("2088000000000001")
SHOP_B = SubMerchant("2088000000000002")
STRANGER = SubMerchant("2088000000009999")


def command(merchant, amount_fen=1250, scenario=test_codes.SUCCESS):
    return PayCommand(trade_no=new_trade_no(), amount_fen=amount_fen, auth_code=test_codes.make_alipay_code(scenario),
                      subject="茶", device_id="D1", merchant=merchant)


@pytest.fixture
def shops(alipay_sandbox):
    alipay_sandbox.add_sub_merchant(SHOP_A.account_id)
    alipay_sandbox.add_sub_merchant(SHOP_B.account_id)
    return alipay_sandbox


def today():
    return datetime.datetime.now(CHINA).date()


# requests and answers: pure functions

BIZ = {
    "pay": lambda m: protocol.pay_biz(trade_no="T1", amount_fen=1, auth_code="28", subject="s", merchant=m),
    "order": lambda m: protocol.order_biz(trade_no="T1", merchant=m),
    "precreate": lambda m: protocol.precreate_biz(trade_no="T1", amount_fen=1, subject="s", expire_s=60, merchant=m),
    "refund": lambda m: protocol.refund_biz(trade_no="T1", refund_no="R1", amount_fen=1, reason=None, merchant=m),
    "refund_query": lambda m: protocol.refund_query_biz(trade_no="T1", refund_no="R1", merchant=m),
}


@pytest.mark.parametrize("name", sorted(BIZ))
def test_every_order_call_carries_the_shops_smid_in_the_signed_biz_content(name):
    biz = BIZ[name](SHOP_A)
    assert biz["sub_merchant"] == {"merchant_id": SHOP_A.account_id, "merchant_type": "alipay"}
    assert protocol.asked_merchant(biz) == SHOP_A.account_id
    params = protocol.common_params(app_id="2021", method=protocol.PAY, biz_content=biz)
    assert json.loads(params["biz_content"])["sub_merchant"]["merchant_id"] == SHOP_A.account_id
    assert f'"merchant_id":"{SHOP_A.account_id}"' in signing.content_to_sign(params)   # signed over it
    direct = BIZ[name](None)
    assert "sub_merchant" not in direct and protocol.asked_merchant(direct) == ""


@pytest.mark.parametrize("sub_code, words", [("ACQ.SECONDARY_MERCHANT_ID_INVALID", "二级商户不存在"),
                                             ("ACQ.SECONDARY_MERCHANT_ID_BLANK", "二级商户编号错误"),
                                             ("ACQ.SECONDARY_MERCHANT_STATUS_ERROR", "商户状态异常")])
def test_a_refused_smid_is_a_definite_failure_with_a_clear_message(sub_code, words):
    answer = {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": words}
    paid = protocol.interpret_pay(answer)
    assert (paid.outcome, paid.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    assert words in paid.message and "sub-merchant" in paid.message
    assert protocol.interpret_refund(answer).outcome is Outcome.FAILED
    assert protocol.interpret_query(answer).outcome is Outcome.UNKNOWN    # a query proves nothing either way
    assert not protocol.interpret_precreate(answer).ok


def test_an_answer_naming_another_smid_is_caught():
    assert protocol.other_merchant({"alipay_sub_merchant_id": SHOP_A.account_id}, SHOP_A.account_id) is None
    assert protocol.other_merchant({}, SHOP_A.account_id) is None
    assert protocol.other_merchant({"alipay_sub_merchant_id": SHOP_B.account_id}, SHOP_A.account_id) == \
        SHOP_B.account_id
    assert protocol.other_merchant({"alipay_sub_merchant_id": SHOP_B.account_id}, "") == SHOP_B.account_id


def bill_csv(columns, rows):
    lines = ["#支付宝业务明细查询", ",".join(columns)]
    for n, smid in enumerate(rows):
        cells = dict.fromkeys(columns, "")
        cells.update({"支付宝交易号": f"2026{n}", "商户订单号": f"T{n}", "业务类型": "交易", "完成时间": "2026-01-02 10:00:00",
                      "订单金额（元）": "1.00", "服务费（元）": "-0.01", SUB_MERCHANT_COLUMN: smid})
        lines.append(",".join(cells[c] for c in columns))
    return "\n".join(lines) + "\n"


def test_a_shops_bill_is_the_whole_bill_kept_to_its_rows():
    text = bill_csv(COLUMNS + (SUB_MERCHANT_COLUMN,), [SHOP_A.account_id, SHOP_B.account_id, ""])
    assert [r.trade_no for r in parse_bill_csv(text, smid=SHOP_A.account_id)] == ["T0"]
    assert [r.trade_no for r in parse_bill_csv(text)] == ["T0", "T1", "T2"]
    with pytest.raises(BillUnavailable, match=SUB_MERCHANT_COLUMN):    # cannot be split: refused, not handed whole
        parse_bill_csv(bill_csv(COLUMNS, ["", ""]), smid=SHOP_A.account_id)
    assert len(parse_bill_csv(bill_csv(COLUMNS, ["", ""]))) == 2        # today's bills still read


# against the sandbox

async def test_two_shops_paying_land_in_their_own_accounts(alipay, shops):
    a, b = command(SHOP_A, 1250), command(SHOP_B, 990)
    for pay in (a, b):
        assert (await alipay.pay(pay)).outcome is Outcome.SUCCESS
    ledger = shops.ledger
    assert [(c.out_trade_no, c.amount_fen) for c in ledger.charges_of(SHOP_A.account_id)] == [(a.trade_no, 1250)]
    assert [(c.out_trade_no, c.amount_fen) for c in ledger.charges_of(SHOP_B.account_id)] == [(b.trade_no, 990)]
    assert ledger.charges_of("") == []
    queried = await alipay.query(a.trade_no, SHOP_A)
    assert queried.outcome is Outcome.SUCCESS and queried.raw["alipay_sub_merchant_id"] == SHOP_A.account_id


async def test_an_unknown_or_blank_smid_is_refused_and_nothing_is_charged(alipay, shops):
    unknown = await alipay.pay(command(STRANGER))
    assert (unknown.outcome, unknown.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    assert "二级商户不存在" in unknown.message and "ACQ.SECONDARY_MERCHANT_ID_INVALID" in unknown.message
    blank = await alipay.pay(command(SubMerchant("")))
    assert (blank.outcome, blank.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    assert "ACQ.SECONDARY_MERCHANT_ID_BLANK" in blank.message
    assert shops.ledger.charges == [] and shops.ledger.calls == [] and shops.ledger.orders == {}
    precreated = await alipay.precreate(PrecreateCommand(trade_no=new_trade_no(), amount_fen=100, subject=None,
                                                         merchant=STRANGER))
    assert not precreated.ok and "二级商户不存在" in precreated.message


async def test_another_shop_cannot_see_refund_cancel_or_close_a_trade(alipay, shops):
    pay = command(SHOP_A)
    await alipay.pay(pay)
    for other in (SHOP_B, None):
        assert (await alipay.query(pay.trade_no, other)).outcome is Outcome.UNKNOWN      # ACQ.TRADE_NOT_EXIST
        refund = await alipay.refund(RefundCommand(trade_no=pay.trade_no, refund_no="R1", amount_fen=100,
                                                   total_fen=1250, merchant=other))
        assert refund.outcome is Outcome.FAILED and "交易不存在" in refund.message
        await alipay.cancel(pay.trade_no, other)            # ACQ.TRADE_NOT_EXIST: nothing found to cancel
    assert shops.ledger.refunds == [] and shops.ledger.reversals == []
    assert shops.ledger.orders[pay.trade_no].status == "TRADE_SUCCESS"

    refund = RefundCommand(trade_no=pay.trade_no, refund_no="R1", amount_fen=250, total_fen=1250, merchant=SHOP_A)
    assert (await alipay.refund(refund)).outcome is Outcome.SUCCESS
    assert (await alipay.refund_query(pay.trade_no, "R1", SHOP_A)).outcome is Outcome.SUCCESS
    assert (await alipay.refund_query(pay.trade_no, "R1", SHOP_B)).outcome is Outcome.FAILED   # no such refund
    assert [(r.amount_fen, r.merchant) for r in shops.ledger.refunds] == [(250, SHOP_A.account_id)]

    code = new_trade_no()
    assert (await alipay.precreate(PrecreateCommand(trade_no=code, amount_fen=300, subject=None, merchant=SHOP_A))).ok
    await alipay.close(code, SHOP_B)                        # another shop closes nothing
    assert shops.pay_c2b(code)
    assert [c.amount_fen for c in shops.ledger.charges_of(SHOP_A.account_id)] == [1250, 300]


async def test_an_answer_naming_another_shop_is_not_trusted(alipay, shops, monkeypatch):
    pay = command(SHOP_A)
    await alipay.pay(pay)
    answer = shops._answer
    monkeypatch.setattr(shops, "_answer", lambda node, fields: answer(
        node, {**fields, "alipay_sub_merchant_id": SHOP_B.account_id}))
    result = await alipay.query(pay.trade_no, SHOP_A)
    assert result.outcome is Outcome.UNKNOWN and SHOP_B.account_id in result.message


async def test_each_shops_bill_holds_its_rows_alone_and_the_whole_bill_everyones(alipay, shops):
    a1, a2, b, direct = command(SHOP_A, 1000), command(SHOP_A, 2000), command(SHOP_B, 300), command(None, 50)
    for pay in (a1, a2, b, direct):
        assert (await alipay.pay(pay)).outcome is Outcome.SUCCESS
    await alipay.refund(RefundCommand(trade_no=a1.trade_no, refund_no="R1", amount_fen=400, total_fen=1000,
                                      merchant=SHOP_A))

    rows_a = await alipay.bill(today(), SHOP_A)
    assert sorted((r.trade_no, r.status, r.amount_fen) for r in rows_a) == sorted([
        (a1.trade_no, BillStatus.SUCCESS, 1000), (a2.trade_no, BillStatus.SUCCESS, 2000),
        (a1.trade_no, BillStatus.REFUND, 400)])
    assert [(r.trade_no, r.amount_fen) for r in await alipay.bill(today(), SHOP_B)] == [(b.trade_no, 300)]
    assert len(await alipay.bill(today())) == 5
    assert await alipay.bill(today(), STRANGER) == []       # the whole bill has no row of an unknown shop
