"""WeChat service-provider mode (服务商): every call for a shop's order names the shop's sub_mch_id (and
sub_appid), the sandbox keeps each shop's money apart and refuses shops it does not know, and the shop's
bill holds its rows alone. Direct mode (no sub-merchant) is what the other WeChat tests cover."""
import dataclasses
import datetime

import pytest

from hw_sim import test_codes
from hw_sim.sandbox.common import CHINA
from server.channels import (BillStatus, BillUnavailable, Outcome, PayCommand, PrecreateCommand, Reason,
                             RefundCommand, SubMerchant, TradeType)
from server.channels.wechat import protocol, signing
from server.channels.wechat.bill import COLUMNS, parse_bill
from server.clock import new_trade_no

SHOP_A = SubMerchant("1900000109")
SHOP_B = SubMerchant("1900000110", app_id="wx0123456789abcdef")
STRANGER = SubMerchant("1900009999")
NOTIFY = "https://pay.example/notify/wechat"
KEY = "192006250b4c09247ec02edce69f6a2d"


def command(merchant, amount_fen=1250, scenario=test_codes.SUCCESS):
    return PayCommand(trade_no=new_trade_no(), amount_fen=amount_fen,
                      auth_code=test_codes.make_wechat_code(scenario), subject=None, device_id="D1", merchant=merchant)


@pytest.fixture
def shops(sandbox):
    sandbox.add_sub_merchant(SHOP_A.account_id)
    sandbox.add_sub_merchant(SHOP_B.account_id, SHOP_B.app_id)
    return sandbox


def today():
    return datetime.datetime.now(CHINA).date()


# requests: pure functions

BUILDERS = {
    "micropay": lambda m: protocol.micropay_request(appid="wxA", mch_id="100", trade_no="T1", amount_fen=1,
                                                    auth_code="134", body="b", spbill_create_ip="1.2.3.4", merchant=m),
    "orderquery": lambda m: protocol.orderquery_request(appid="wxA", mch_id="100", trade_no="T1", merchant=m),
    "reverse": lambda m: protocol.reverse_request(appid="wxA", mch_id="100", trade_no="T1", merchant=m),
    "closeorder": lambda m: protocol.closeorder_request(appid="wxA", mch_id="100", trade_no="T1", merchant=m),
    "refund": lambda m: protocol.refund_request(appid="wxA", mch_id="100", trade_no="T1", refund_no="R1",
                                                total_fen=2, refund_fen=1, merchant=m),
    "refundquery": lambda m: protocol.refundquery_request(appid="wxA", mch_id="100", refund_no="R1", merchant=m),
    "downloadbill": lambda m: protocol.downloadbill_request(appid="wxA", mch_id="100", day=datetime.date(2026, 1, 2),
                                                            merchant=m),
    "unifiedorder": lambda m: protocol.unifiedorder_request(appid="wxA", mch_id="100", trade_no="T1", amount_fen=1,
                                                            body="b", trade_type="NATIVE", spbill_create_ip="1.2.3.4",
                                                            notify_url=NOTIFY, expire_s=300, merchant=m),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_request_names_the_shop_beside_the_acquirer_and_is_signed_over_it(name):
    build = BUILDERS[name]
    shop = protocol.signed(build(SHOP_B), KEY, signing.MD5)
    assert (shop["appid"], shop["mch_id"], shop["sub_mch_id"], shop["sub_appid"]) == (
        "wxA", "100", SHOP_B.account_id, SHOP_B.app_id)
    assert signing.signature_valid(shop, KEY)
    assert not signing.signature_valid({**shop, "sub_mch_id": SHOP_A.account_id}, KEY)   # the sign covers it
    no_app = protocol.signed(build(SHOP_A), KEY, signing.MD5)
    assert no_app["sub_mch_id"] == SHOP_A.account_id and "sub_appid" not in no_app
    direct = protocol.signed(build(None), KEY, signing.MD5)
    assert "sub_mch_id" not in direct and "sub_appid" not in direct       # direct mode: as before


def test_jsapi_payer_is_the_sub_openid_under_the_shops_own_app():
    def order(merchant):
        return protocol.unifiedorder_request(appid="wxA", mch_id="100", trade_no="T1", amount_fen=1, body="b",
                                             trade_type="JSAPI", spbill_create_ip="1.2.3.4", notify_url=NOTIFY,
                                             expire_s=300, openid="oPayer", merchant=merchant)
    under_shop_app = order(SHOP_B)
    assert under_shop_app["sub_openid"] == "oPayer" and "openid" not in under_shop_app
    assert order(SHOP_A)["openid"] == "oPayer" and "sub_openid" not in order(SHOP_A)   # the acquirer's appid
    assert order(None)["openid"] == "oPayer"


REFUSED = {"return_code": "FAIL", "return_msg": "特约子商户商户号未授权服务商的产品权限"}


def test_a_refused_sub_merchant_is_a_definite_failure_with_a_clear_message():
    paid = protocol.interpret_micropay(REFUSED)
    assert (paid.outcome, paid.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    assert "sub-merchant" in paid.message and "未授权" in paid.message
    for words in ("sub_mch_id与sub_appid不匹配", "受理机构必须传入sub_mch_id"):
        assert protocol.interpret_micropay({"return_code": "FAIL", "return_msg": words}).outcome is Outcome.FAILED
    # Other transport refusals stay UNKNOWN (query first), as before.
    assert protocol.interpret_micropay({"return_code": "FAIL", "return_msg": "签名错误"}).outcome is Outcome.UNKNOWN
    refund = protocol.interpret_refund(REFUSED)
    assert (refund.outcome, refund.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    # A query proves nothing about a payment made before the refusal: still UNKNOWN, but it says why.
    queried = protocol.interpret_orderquery(REFUSED)
    assert queried.outcome is Outcome.UNKNOWN and "sub-merchant" in queried.message
    closed = protocol.interpret_closeorder(REFUSED)
    assert (closed.cancelled, closed.retry) == (False, False)
    assert not protocol.interpret_unifiedorder(REFUSED).ok


def test_an_answer_naming_another_sub_merchant_is_caught():
    asked = protocol.orderquery_request(appid="wxA", mch_id="100", trade_no="T1", merchant=SHOP_A)
    assert protocol.other_merchant({"sub_mch_id": SHOP_A.account_id}, asked) is None
    assert protocol.other_merchant({}, asked) is None
    assert protocol.other_merchant({"sub_mch_id": SHOP_B.account_id}, asked) == f"sub_mch_id={SHOP_B.account_id}"
    direct = protocol.orderquery_request(appid="wxA", mch_id="100", trade_no="T1")
    assert protocol.other_merchant({"sub_mch_id": SHOP_A.account_id}, direct)
    assert protocol.other_merchant({"sub_mch_id": SHOP_B.account_id, "sub_appid": "wxOther"},
                                   protocol.orderquery_request(appid="wxA", mch_id="100", trade_no="T1",
                                                               merchant=SHOP_B))


def bill_text(*sub_mch_ids):
    def row(n, sub):
        cells = dict.fromkeys(COLUMNS, "")
        cells.update({"交易时间": "2026-01-02 10:00:00", "特约商户号": sub, "微信订单号": f"42{n}", "商户订单号": f"T{n}",
                      "交易状态": "SUCCESS", "应结订单总金额": "1.00", "退款金额": "0.00", "手续费": "0.01"})
        return ",".join("`" + cells[c] for c in COLUMNS)
    return "\n".join([",".join(COLUMNS)] + [row(n, sub) for n, sub in enumerate(sub_mch_ids)]) + "\n"


def test_a_shops_bill_must_hold_its_rows_alone():
    assert [r.trade_no for r in parse_bill(bill_text("1900000109", "1900000109"), sub_mch_id="1900000109")] == [
        "T0", "T1"]
    with pytest.raises(BillUnavailable):
        parse_bill(bill_text("1900000109", "1900000110"), sub_mch_id="1900000109")
    assert len(parse_bill(bill_text("1900000109", "1900000110"))) == 2     # the whole bill: everyone's


# against the sandbox

async def test_two_shops_paying_land_in_their_own_accounts(wechat, shops):
    a, b = command(SHOP_A, 1250), command(SHOP_B, 990)
    for pay in (a, b):
        assert (await wechat.pay(pay)).outcome is Outcome.SUCCESS
    ledger = shops.ledger
    assert [(c.out_trade_no, c.amount_fen) for c in ledger.charges_of(SHOP_A.account_id)] == [(a.trade_no, 1250)]
    assert [(c.out_trade_no, c.amount_fen) for c in ledger.charges_of(SHOP_B.account_id)] == [(b.trade_no, 990)]
    assert ledger.charges_of("") == []                                   # nothing in the acquirer's own account
    assert (await wechat.query(a.trade_no, SHOP_A)).outcome is Outcome.SUCCESS
    assert (await wechat.query(b.trade_no, SHOP_B)).outcome is Outcome.SUCCESS


async def test_an_unknown_or_mismatched_sub_merchant_is_refused_and_nothing_is_charged(wechat, shops):
    unknown = await wechat.pay(command(STRANGER))
    assert (unknown.outcome, unknown.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    assert "未授权" in unknown.message
    wrong_app = await wechat.pay(command(dataclasses.replace(SHOP_A, app_id="wxfedcba9876543210")))
    assert (wrong_app.outcome, wrong_app.reason) == (Outcome.FAILED, Reason.CHANNEL_DECLINED)
    assert "sub_appid" in wrong_app.message
    assert shops.ledger.charges == [] and shops.ledger.calls == []       # refused before anything happened
    precreated = await wechat.precreate(PrecreateCommand(trade_no=new_trade_no(), amount_fen=100, subject=None,
                                                         notify_url=NOTIFY, merchant=STRANGER))
    assert not precreated.ok and "未授权" in precreated.message


async def test_another_shop_cannot_see_refund_reverse_or_close_an_order(wechat, shops):
    pay = command(SHOP_A)
    paid = await wechat.pay(pay)
    for other in (SHOP_B, None):
        assert (await wechat.query(pay.trade_no, other)).outcome is Outcome.UNKNOWN      # ORDERNOTEXIST
        refund = await wechat.refund(RefundCommand(trade_no=pay.trade_no, refund_no="RF" + pay.trade_no[2:],
                                                   amount_fen=100, total_fen=1250, merchant=other))
        assert refund.outcome is Outcome.FAILED
        await wechat.cancel(pay.trade_no, other)          # ORDERNOTEXIST: WeChat found nothing to reverse
    assert shops.ledger.refunds == [] and shops.ledger.reversals == []
    assert shops.ledger.orders[pay.trade_no].state == "SUCCESS"
    queried = await wechat.query(pay.trade_no, SHOP_A)
    assert (queried.outcome, queried.channel_trade_no) == (Outcome.SUCCESS, paid.channel_trade_no)

    refund = RefundCommand(trade_no=pay.trade_no, refund_no="RF" + pay.trade_no[2:], amount_fen=250,
                           total_fen=1250, merchant=SHOP_A)
    assert (await wechat.refund(refund)).outcome is Outcome.WAITING
    assert (await wechat.refund_query(pay.trade_no, refund.refund_no, SHOP_A)).outcome is Outcome.SUCCESS
    assert (await wechat.refund_query(pay.trade_no, refund.refund_no, SHOP_B)).outcome is Outcome.FAILED
    assert [(r.amount_fen, r.merchant) for r in shops.ledger.refunds] == [(250, SHOP_A.account_id)]

    code = new_trade_no()
    assert (await wechat.precreate(PrecreateCommand(trade_no=code, amount_fen=300, subject=None, notify_url=NOTIFY,
                                                    merchant=SHOP_A))).ok
    await wechat.close(code, SHOP_B)                     # another shop closes nothing
    assert shops.pay_c2b(code)                           # the payer can still pay it, into shop A
    assert [c.amount_fen for c in shops.ledger.charges_of(SHOP_A.account_id)] == [1250, 300]


async def test_jsapi_in_the_shops_own_app(wechat, wechat_settings, shops):
    trade_no = new_trade_no()
    created = await wechat.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=100, subject=None,
                                                      notify_url=NOTIFY, trade_type=TradeType.JSAPI,
                                                      payer_id="oSubPayer", merchant=SHOP_B))
    assert created.ok
    params = dict(created.pay_params)
    assert params["appId"] == SHOP_B.app_id                  # the payer's page runs in the shop's app
    assert params.pop("paySign") == signing.sign(params, wechat_settings.api_key.reveal(), params["signType"])
    order = shops.ledger.orders[trade_no]
    assert (order.sub_mch_id, order.sub_appid, order.openid) == (SHOP_B.account_id, SHOP_B.app_id, "oSubPayer")


async def test_an_answer_naming_another_shop_is_not_trusted(wechat, shops, monkeypatch):
    pay = command(SHOP_A)
    await wechat.pay(pay)
    answer = shops._answer
    monkeypatch.setattr(shops, "_answer", lambda fields, sign_type: answer(
        {**fields, "sub_mch_id": SHOP_B.account_id}, sign_type))
    result = await wechat.query(pay.trade_no, SHOP_A)
    assert result.outcome is Outcome.UNKNOWN and SHOP_B.account_id in result.message


async def test_each_shops_bill_holds_its_rows_alone_and_the_whole_bill_everyones(wechat, shops):
    a1, a2, b, direct = command(SHOP_A, 1000), command(SHOP_A, 2000), command(SHOP_B, 300), command(None, 50)
    for pay in (a1, a2, b, direct):
        assert (await wechat.pay(pay)).outcome is Outcome.SUCCESS
    await wechat.refund(RefundCommand(trade_no=a1.trade_no, refund_no="RF" + a1.trade_no[2:], amount_fen=400,
                                      total_fen=1000, merchant=SHOP_A))

    rows_a = await wechat.bill(today(), SHOP_A)
    assert sorted((r.trade_no, r.status, r.amount_fen) for r in rows_a) == sorted([
        (a1.trade_no, BillStatus.SUCCESS, 1000), (a2.trade_no, BillStatus.SUCCESS, 2000),
        (a1.trade_no, BillStatus.REFUND, 400)])
    assert [(r.trade_no, r.amount_fen) for r in await wechat.bill(today(), SHOP_B)] == [(b.trade_no, 300)]
    assert len(await wechat.bill(today())) == 5                              # no sub-merchant: the whole bill
    with pytest.raises(BillUnavailable, match="未授权"):
        await wechat.bill(today(), STRANGER)
