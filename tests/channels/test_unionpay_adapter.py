"""The UnionPay QR adapter against the UnionPay sandbox over loopback HTTP: every message, every outcome."""
import asyncio
import dataclasses
import datetime

import pytest
from Crypto.PublicKey import RSA

from tests.channels.channel_settings import unionpay_settings_for
from hw_sim import test_codes
from hw_sim.sandbox.common import CHINA
from server.channels import BillStatus, Outcome, PayCommand, PrecreateCommand, Reason, RefundCommand
from server.channels.unionpay import open_channel, protocol, signing
from server.clock import new_trade_no
from server.settings import Secret


def command(scenario=test_codes.SUCCESS, param=0, amount_fen=1250):
    return PayCommand(trade_no=new_trade_no(), amount_fen=amount_fen,
                      auth_code=test_codes.make_unionpay_code(scenario, param), subject=None, device_id="D1")


async def test_success_then_query(unionpay, unionpay_sandbox):
    pay = command()
    result = await unionpay.pay(pay)
    assert result.outcome is Outcome.SUCCESS and result.channel_trade_no
    assert unionpay_sandbox.ledger.charges_for(pay.trade_no)[0].amount_fen == 1250
    queried = await unionpay.query(pay.trade_no)
    assert (queried.outcome, queried.channel_trade_no) == (Outcome.SUCCESS, result.channel_trade_no)
    assert pay.auth_code not in str(result.raw) and "signature" not in result.raw


async def test_password_is_waiting_then_paid(unionpay):
    pay = command(test_codes.PASSWORD, 1)
    assert (await unionpay.pay(pay)).outcome is Outcome.WAITING
    assert (await unionpay.query(pay.trade_no)).outcome is Outcome.WAITING
    await asyncio.sleep(1.1)
    assert (await unionpay.query(pay.trade_no)).outcome is Outcome.SUCCESS


async def test_payer_gives_up_and_is_reversed(unionpay, unionpay_sandbox):
    pay = command(test_codes.PAYER_GIVES_UP)
    assert (await unionpay.pay(pay)).outcome is Outcome.WAITING
    assert (await unionpay.cancel(pay.trade_no)).cancelled
    assert (await unionpay.cancel(pay.trade_no)).cancelled          # a repeated reversal: same answer
    queried = await unionpay.query(pay.trade_no)
    assert (queried.outcome, queried.reason) == (Outcome.FAILED, Reason.TIMEOUT)
    assert unionpay_sandbox.ledger.reversals == [pay.trade_no] and unionpay_sandbox.ledger.charges == []


@pytest.mark.parametrize("scenario, reason", [(test_codes.INSUFFICIENT_FUNDS, Reason.INSUFFICIENT_FUNDS),
                                              (test_codes.EXPIRED, Reason.CODE_EXPIRED),
                                              (test_codes.ALREADY_USED, Reason.CODE_USED)])
async def test_refusals(unionpay, unionpay_sandbox, scenario, reason):
    pay = command(scenario)
    result = await unionpay.pay(pay)
    assert (result.outcome, result.reason) == (Outcome.FAILED, reason)
    assert unionpay_sandbox.ledger.charges == []


async def test_system_error_is_unknown_and_query_finds_the_payment(unionpay):
    pay = command(test_codes.SYSTEM_ERROR)
    assert (await unionpay.pay(pay)).outcome is Outcome.UNKNOWN
    assert (await unionpay.query(pay.trade_no)).outcome is Outcome.SUCCESS


async def test_no_answer_is_unknown_then_reversed_with_nothing_charged(unionpay_sandbox):
    async with open_channel(unionpay_settings_for(unionpay_sandbox.base_url, timeout_s=0.5)) as unionpay:
        pay = command(test_codes.NO_ANSWER, 5)
        result = await unionpay.pay(pay)
        assert result.outcome is Outcome.UNKNOWN and "Timeout" in result.message
        assert (await unionpay.query(pay.trade_no)).outcome is Outcome.UNKNOWN     # 34: no such transaction
        assert (await unionpay.cancel(pay.trade_no)).cancelled
    assert unionpay_sandbox.ledger.charges == []


async def test_lost_answer_is_unknown_and_query_finds_the_payment(unionpay, unionpay_sandbox):
    pay = command(test_codes.LOST_ANSWER)
    assert (await unionpay.pay(pay)).outcome is Outcome.UNKNOWN
    assert (await unionpay.query(pay.trade_no)).outcome is Outcome.SUCCESS
    assert len(unionpay_sandbox.ledger.charges_for(pay.trade_no)) == 1


async def test_retried_consume_is_not_charged_twice(unionpay, unionpay_sandbox):
    pay = command()
    first = await unionpay.pay(pay)
    again = await unionpay.pay(pay)
    assert again.outcome is Outcome.SUCCESS and again.channel_trade_no == first.channel_trade_no
    assert len(unionpay_sandbox.ledger.charges) == 1


async def test_cancel_paid_same_day_gives_the_money_back(unionpay, unionpay_sandbox):
    pay = command()
    await unionpay.pay(pay)
    assert not (await unionpay.cancel_paid(pay.trade_no, 1)).cancelled    # a cancel is for the whole amount
    assert (await unionpay.cancel_paid(pay.trade_no, 1250)).cancelled
    assert [r.amount_fen for r in unionpay_sandbox.ledger.refunds] == [1250]


async def test_refund_partial_then_query(unionpay, unionpay_sandbox):
    pay = command(amount_fen=1000)
    await unionpay.pay(pay)
    refund = RefundCommand(trade_no=pay.trade_no, refund_no=new_trade_no(), amount_fen=400, total_fen=1000)
    assert (await unionpay.refund(refund)).outcome is Outcome.SUCCESS
    assert (await unionpay.refund(refund)).outcome is Outcome.SUCCESS       # repeated: refunded once
    assert [r.amount_fen for r in unionpay_sandbox.ledger.refunds] == [400]
    assert (await unionpay.refund_query(pay.trade_no, refund.refund_no)).outcome is Outcome.SUCCESS
    assert (await unionpay.refund_query(pay.trade_no, "NOPE12345678")).outcome is Outcome.FAILED
    too_much = dataclasses.replace(refund, refund_no=new_trade_no(), amount_fen=601)
    assert (await unionpay.refund(too_much)).outcome is Outcome.FAILED


async def test_c2b_code_paid_by_a_unionpay_app(unionpay, unionpay_sandbox):
    trade_no = new_trade_no()
    created = await unionpay.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=880, subject=None))
    assert created.ok and created.qr_code.startswith("https://qr.95516.com/")
    assert (await unionpay.query(trade_no)).outcome is Outcome.WAITING
    assert unionpay_sandbox.pay_c2b(trade_no)
    assert (await unionpay.query(trade_no)).outcome is Outcome.SUCCESS


async def test_c2b_code_closed_unpaid(unionpay, unionpay_sandbox):
    trade_no = new_trade_no()
    await unionpay.precreate(PrecreateCommand(trade_no=trade_no, amount_fen=880, subject=None))
    assert (await unionpay.close(trade_no)).cancelled
    assert not unionpay_sandbox.pay_c2b(trade_no)


async def test_daily_file(unionpay):
    pay, other = command(amount_fen=10000), command(amount_fen=99)
    await unionpay.pay(pay)
    await unionpay.pay(other)
    await unionpay.refund(RefundCommand(trade_no=pay.trade_no, refund_no="RF" + pay.trade_no[2:], amount_fen=5000,
                                        total_fen=10000))
    rows = await unionpay.bill(datetime.datetime.now(CHINA).date())
    assert sorted((r.trade_no, r.status, r.amount_fen, r.fee_fen) for r in rows) == sorted([
        (pay.trade_no, BillStatus.SUCCESS, 10000, 60), (other.trade_no, BillStatus.SUCCESS, 99, 1),
        (pay.trade_no, BillStatus.REFUND, 5000, -30)])


async def test_wrong_signing_key_is_refused(unionpay_sandbox):
    other = RSA.generate(1024).export_key().decode()
    settings = unionpay_settings_for(unionpay_sandbox.base_url, sign_private_key=Secret(other))
    async with open_channel(settings) as unionpay:
        result = await unionpay.pay(command())
    assert result.outcome is Outcome.UNKNOWN and result.message == "验证签名失败"
    assert unionpay_sandbox.ledger.charges == []


async def test_answer_signed_by_someone_else_is_not_trusted(unionpay_sandbox):
    # We expect UnionPay's key; a sandbox signing with another key is an impostor.
    impostor_key = RSA.generate(1024)
    settings = unionpay_settings_for(unionpay_sandbox.base_url,
                                     unionpay_public_key=impostor_key.publickey().export_key().decode())
    async with open_channel(settings) as unionpay:
        result = await unionpay.pay(command())
    assert result.outcome is Outcome.UNKNOWN and "signature" in result.message


def test_signature_is_sha256_hex_then_rsa():
    key = RSA.generate(1024)
    signed = signing.sign({"b": "2", "a": "1", "empty": ""}, key, "123")
    assert signing.content_to_sign(signed) == "a=1&b=2&certId=123"
    assert signing.signature_valid(signed, key.publickey(), "123")
    assert not signing.signature_valid({**signed, "a": "9"}, key.publickey())
    assert not signing.signature_valid(signed, key.publickey(), "456")
    # the digest signed is the lower-case hex text of SHA-256, as UnionPay's SDK makes it
    import base64
    import hashlib

    from Crypto.Hash import SHA256
    from Crypto.Signature import pkcs1_15
    hex_text = hashlib.sha256(b"a=1&b=2&certId=123").hexdigest().encode()
    pkcs1_15.new(key.publickey()).verify(SHA256.new(hex_text), base64.b64decode(signed["signature"]))


def test_order_time_comes_from_our_trade_no():
    assert protocol.order_time_of("SP20261121170000abcdef0123456789") == "20261122010000"   # UTC+8
