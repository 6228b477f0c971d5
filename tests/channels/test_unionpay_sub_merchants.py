"""UnionPay QR for an acquirer's many merchants: every message names the shop's own merId under the
acquirer's acqCode, the sandbox keeps each merchant's money apart and refuses merIds it does not know, and a
merchant's daily file holds its lines alone. Direct mode is what the other UnionPay tests cover."""
import datetime

import pytest

from hw_sim import test_codes
from hw_sim.sandbox import keys as sandbox_keys
from hw_sim.sandbox.common import CHINA
from server.channels import (BillStatus, BillUnavailable, Outcome, PayCommand, PrecreateCommand, Reason,
                             RefundCommand, SubMerchant)
from server.channels.unionpay import protocol, signing
from server.channels.unionpay.bill import parse_bill
from server.clock import new_trade_no

SHOP_A = SubMerchant("898310000000001")
SHOP_B = SubMerchant("898310000000002")
STRANGER = SubMerchant("898319999999999")


def command(merchant, amount_fen=1250, scenario=test_codes.SUCCESS):
    return PayCommand(trade_no=new_trade_no(), amount_fen=amount_fen, auth_code=test_codes.make_unionpay_code(scenario),
                      subject=None, device_id="D1", merchant=merchant)


@pytest.fixture
def shops(unionpay_sandbox):
    unionpay_sandbox.add_sub_merchant(SHOP_A.account_id)
    unionpay_sandbox.add_sub_merchant(SHOP_B.account_id)
    return unionpay_sandbox


def today():
    return datetime.datetime.now(CHINA).date()


# messages and answers: pure functions

def test_the_merid_is_signed_with_the_message():
    key = signing.load_private_key(sandbox_keys.UNIONPAY_ACQUIRER_PRIVATE_KEY)
    public = signing.load_public_key(sandbox_keys.UNIONPAY_ACQUIRER_PUBLIC_KEY)
    message = signing.sign(protocol.query_request(acq_code="48020000", mer_id=SHOP_A.account_id, order_no="T1"),
                           key, "1")
    assert (message["acqCode"], message["merId"]) == ("48020000", SHOP_A.account_id)
    assert signing.signature_valid(message, public)
    assert not signing.signature_valid({**message, "merId": SHOP_B.account_id}, public)


def test_a_refused_merchant_is_a_definite_failure_with_a_clear_message():
    for code in ("31", "32"):
        answer = {"respCode": code, "respMsg": "商户状态不正确", "merId": STRANGER.account_id}
        paid = protocol.interpret_consume(answer)
        assert (paid.outcome, paid.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
        assert STRANGER.account_id in paid.message and f"({code})" in paid.message
        assert protocol.interpret_refund(answer).outcome is Outcome.FAILED
        assert protocol.interpret_query(answer).outcome is Outcome.UNKNOWN     # proves nothing about a payment
        assert not protocol.interpret_undo(answer).cancelled


def test_an_answer_naming_another_merchant_is_caught():
    assert protocol.other_merchant({"merId": SHOP_A.account_id}, SHOP_A.account_id) is None
    assert protocol.other_merchant({}, SHOP_A.account_id) is None
    assert protocol.other_merchant({"merId": SHOP_B.account_id}, SHOP_A.account_id) == SHOP_B.account_id


FILE = "\n".join([
    "#orderNo|origOrderNo|reqType|txnAmt|fee|txnTime|voucherNum",
    f"T1||{protocol.CONSUME}|1000|6|20260102100000|V1|{SHOP_A.account_id}",
    f"T2||{protocol.CONSUME}|300|2|20260102100001|V2|{SHOP_B.account_id}",
    f"T3||{protocol.CONSUME}|50|0|20260102100002|V3",                          # the acquirer's own merId
    f"R1|T1|{protocol.REFUND}|400|-2|20260102100003|V4|{SHOP_A.account_id}",
]) + "\n"


def test_a_merchants_file_keeps_its_lines_alone():
    rows = parse_bill(FILE, mer_id=SHOP_A.account_id)
    assert [(r.trade_no, r.status, r.amount_fen) for r in rows] == [
        ("T1", BillStatus.SUCCESS, 1000), ("T1", BillStatus.REFUND, 400)]
    assert [r.trade_no for r in parse_bill(FILE, mer_id=SHOP_B.account_id)] == ["T2"]
    assert len(parse_bill(FILE)) == 4
    with pytest.raises(BillUnavailable):
        parse_bill(f"T1||{protocol.CONSUME}|1000|6|20260102100000|V1|{SHOP_A.account_id}|extra\n")


# against the sandbox

async def test_two_merchants_paying_land_in_their_own_accounts(unionpay, shops):
    a, b = command(SHOP_A, 1250), command(SHOP_B, 990)
    for pay in (a, b):
        assert (await unionpay.pay(pay)).outcome is Outcome.SUCCESS
    ledger = shops.ledger
    assert [(c.out_trade_no, c.amount_fen) for c in ledger.charges_of(SHOP_A.account_id)] == [(a.trade_no, 1250)]
    assert [(c.out_trade_no, c.amount_fen) for c in ledger.charges_of(SHOP_B.account_id)] == [(b.trade_no, 990)]
    assert ledger.charges_of("") == []
    queried = await unionpay.query(a.trade_no, SHOP_A)
    assert queried.outcome is Outcome.SUCCESS and queried.raw["merId"] == SHOP_A.account_id


async def test_an_unknown_merid_is_refused_and_nothing_is_charged(unionpay, shops):
    unknown = await unionpay.pay(command(STRANGER))
    assert (unknown.outcome, unknown.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    assert "商户状态不正确" in unknown.message and STRANGER.account_id in unknown.message
    assert shops.ledger.charges == [] and shops.ledger.calls == [] and shops.ledger.orders == {}
    precreated = await unionpay.precreate(PrecreateCommand(trade_no=new_trade_no(), amount_fen=100, subject=None,
                                                           merchant=STRANGER))
    assert not precreated.ok and "商户状态不正确" in precreated.message


async def test_another_merchant_cannot_see_refund_reverse_or_close_an_order(unionpay, shops):
    pay = command(SHOP_A)
    await unionpay.pay(pay)
    for other in (SHOP_B, None):
        assert (await unionpay.query(pay.trade_no, other)).outcome is Outcome.UNKNOWN     # 34 查无此交易
        refund = await unionpay.refund(RefundCommand(trade_no=pay.trade_no, refund_no="RF" + pay.trade_no[2:],
                                                     amount_fen=100, total_fen=1250, merchant=other))
        assert refund.outcome is Outcome.FAILED and "原交易不存在" in refund.message
        await unionpay.cancel(pay.trade_no, other)          # 34: UnionPay found nothing to reverse
    assert shops.ledger.refunds == [] and shops.ledger.reversals == []
    assert (await unionpay.query(pay.trade_no, SHOP_A)).outcome is Outcome.SUCCESS

    refund = RefundCommand(trade_no=pay.trade_no, refund_no="RF" + pay.trade_no[2:], amount_fen=250,
                           total_fen=1250, merchant=SHOP_A)
    assert (await unionpay.refund(refund)).outcome is Outcome.SUCCESS
    assert (await unionpay.refund_query(pay.trade_no, refund.refund_no, SHOP_A)).outcome is Outcome.SUCCESS
    assert (await unionpay.refund_query(pay.trade_no, refund.refund_no, SHOP_B)).outcome is Outcome.FAILED
    assert [(r.amount_fen, r.merchant) for r in shops.ledger.refunds] == [(250, SHOP_A.account_id)]

    code = new_trade_no()
    assert (await unionpay.precreate(PrecreateCommand(trade_no=code, amount_fen=300, subject=None,
                                                      merchant=SHOP_A))).ok
    await unionpay.close(code, SHOP_B)                      # another merchant reverses nothing
    assert shops.pay_c2b(code)
    assert [c.amount_fen for c in shops.ledger.charges_of(SHOP_A.account_id)] == [1250, 300]


async def test_an_answer_naming_another_merchant_is_not_trusted(unionpay, shops, monkeypatch):
    pay = command(SHOP_A)
    await unionpay.pay(pay)
    answer = shops._answer
    monkeypatch.setattr(shops, "_answer", lambda fields: answer({**fields, "merId": SHOP_B.account_id}))
    result = await unionpay.query(pay.trade_no, SHOP_A)
    assert result.outcome is Outcome.UNKNOWN and SHOP_B.account_id in result.message


async def test_each_merchants_file_holds_its_lines_alone_and_the_whole_file_everyones(unionpay, shops):
    a1, a2, b, direct = command(SHOP_A, 1000), command(SHOP_A, 2000), command(SHOP_B, 300), command(None, 50)
    for pay in (a1, a2, b, direct):
        assert (await unionpay.pay(pay)).outcome is Outcome.SUCCESS
    await unionpay.refund(RefundCommand(trade_no=a1.trade_no, refund_no="RF" + a1.trade_no[2:], amount_fen=400,
                                        total_fen=1000, merchant=SHOP_A))

    rows_a = await unionpay.bill(today(), SHOP_A)
    assert sorted((r.trade_no, r.status, r.amount_fen) for r in rows_a) == sorted([
        (a1.trade_no, BillStatus.SUCCESS, 1000), (a2.trade_no, BillStatus.SUCCESS, 2000),
        (a1.trade_no, BillStatus.REFUND, 400)])
    assert [(r.trade_no, r.amount_fen) for r in await unionpay.bill(today(), SHOP_B)] == [(b.trade_no, 300)]
    assert len(await unionpay.bill(today())) == 5            # the acquirer's own merId: the whole file
    assert {line.rsplit("|", 1)[-1] for line in shops.file_text(today(), SHOP_B.account_id).splitlines()[1:]} == {
        SHOP_B.account_id}
    with pytest.raises(BillUnavailable, match="商户状态不正确"):
        await unionpay.bill(today(), STRANGER)
