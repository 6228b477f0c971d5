"""Fees at the merchant's contracted rate and the bills' summary rows (issue 16): the fee rule, a day's bills from
the sandboxes checked row by row and against their summaries, a planted one-fen drift found and named, and the
month's roll-up showing a fen a day as the month's total."""
import asyncio
import datetime
import sys
from decimal import ROUND_HALF_UP, Decimal

import pytest

from hw_sim import test_codes
from hw_sim.sandbox.common import CHINA
from server import fees, merchant_channels
from server.channels import BillRow, BillStatus
from server.channels.alipay.bill import parse_bill_zip
from server.channels.wechat.bill import parse_bill
from server.keys import STORAGE
from server.reconcile import (EXIT_DIFFERENCES, Difference, Report, compare, month_reports, read_report, reconcile,
                              write_report)
from server.storage import SUCCESS, Order

MAKERS = {"wechat": test_codes.make_wechat_code, "alipay": test_codes.make_alipay_code,
          "unionpay": test_codes.make_unionpay_code}


@pytest.mark.parametrize("amount, rate, fee", [
    (1250, 6000, 8),          # 7.5 fen: half up
    (99, 6000, 1),            # 0.594
    (83, 6000, 0),            # 0.498
    (1, 6000, 0),
    (250, 3800, 1),           # 0.95
    (131, 3800, 0),           # 0.4978
    (132, 3800, 1),           # 0.5016
    (125, 4000, 1),           # exactly half a fen: up
    (100_000_000, 3800, 380_000),          # a million yuan
    (123_456_789, 6000, 740_741),          # 740740.734
    (99_999_999, 3800, 380_000),           # 379999.9962
])
def test_the_fee_is_rounded_half_up_at_the_fen_per_payment(amount, rate, fee):
    assert fees.fee_fen(amount, rate) == fee


def test_the_rule_is_decimal_half_up_for_every_small_amount():
    for rate in (3800, 6000, 2500):
        for amount in range(0, 5000):
            exact = (Decimal(amount) * rate / 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            assert fees.fee_fen(amount, rate) == int(exact), (amount, rate)
    assert fees.settlement_fen(10_000, 2_500, 60, 15) == 7_455
    assert (fees.rate_text(3800), fees.rate_text(6000), fees.rate_text(None)) == ("0.38%", "0.60%", "-")


async def pay(stack, channel, order_no, amount):
    status, body = await stack["call"]("pay", {"order_no": order_no, "amount_fen": amount,
                                               "auth_code": MAKERS[channel]()})
    assert body["order"]["status"] == "SUCCESS", body
    return (await stack["app"][STORAGE].get_order("D1", order_no)).trade_no


async def contract(stack, rate_ppm, channels=("wechat", "alipay", "unionpay")):
    for channel in channels:
        stack[channel].fee_rate_ppm = rate_ppm
        await merchant_channels.open_merchant(stack["app"][STORAGE], stack["settings"], "M1", channel,
                                              fee_rate_ppm=rate_ppm, actor="test")


async def refund(stack, order_no, refund_no, amount):
    status, body = await stack["call"]("refund", {"order_no": order_no, "refund_no": refund_no, "amount_fen": amount})
    assert status == 200, body
    storage = stack["app"][STORAGE]
    async with asyncio.timeout(5):
        while (await storage.get_order("D1", order_no)).refunded_fen < amount:
            await asyncio.sleep(0.05)


async def test_fees_at_the_contracted_rate_match_every_sandbox_bill(stack, tmp_path):
    await contract(stack, 3800)
    for channel in MAKERS:
        await pay(stack, channel, f"{channel}-1", 1250)     # 4.75 fen -> 5
        await pay(stack, channel, f"{channel}-2", 131)      # 0.4978 -> 0
    await refund(stack, "wechat-1", "R1", 500)              # 1.9 fen given back -> 2
    await refund(stack, "alipay-1", "R2", 500)
    today = datetime.datetime.now(CHINA).date()
    reports = {r.channel: r for r in await reconcile(stack["settings"], today, out_dir=tmp_path)}
    assert all(r.ok for r in reports.values()), {c: r.text() for c, r in reports.items()}
    for channel in MAKERS:
        report = reports[channel]
        assert report.fee_unchecked == 0
        assert report.fee_fen == report.fee_ours_fen
    assert (reports["wechat"].fee_fen, reports["alipay"].fee_fen, reports["unionpay"].fee_fen) == (3, 3, 5)
    # the WeChat bill's own rows say the rate, and its summary states the same net fee
    bill = parse_bill(stack["wechat"].bill_text(today))
    assert bill.stated.fee_fen == 3 and bill.stated.transactions == 3
    assert "`0.38%" in stack["wechat"].bill_text(today)
    alipay_bill = parse_bill_zip(stack["alipay"].bill_zip(today))
    assert (alipay_bill.stated.payments, alipay_bill.stated.refunds, alipay_bill.stated.net_fen,
            alipay_bill.stated.fee_fen) == (2, 1, 881, 3)


async def test_a_one_fen_fee_drift_and_a_summary_mismatch_are_found_and_named(stack, tmp_path):
    await contract(stack, 6000)
    wechat_trade = await pay(stack, "wechat", "wechat-1", 1250)
    alipay_trade = await pay(stack, "alipay", "alipay-1", 99)
    union_trade = await pay(stack, "unionpay", "unionpay-1", 1250)
    stack["wechat"].fee_drift[wechat_trade] = 1          # the channel rounds this row one fen up
    stack["unionpay"].fee_drift[union_trade] = -1
    stack["alipay"].summary_drift_fen = 1                # the 合计 line says a fen more than the rows
    today = datetime.datetime.now(CHINA).date()
    reports = {r.channel: r for r in await reconcile(stack["settings"], today, out_dir=tmp_path)}
    assert reports["wechat"].differences == [Difference("fee", wechat_trade, "8 fen", "9 fen")]
    # the WeChat summary adds the drifted row up as it is: it agrees with its rows, only the fee is wrong
    assert reports["unionpay"].differences == [Difference("fee", union_trade, "8 fen", "7 fen")]
    assert reports["alipay"].differences == [Difference("summary_fee", "-", "1 fen", "2 fen")]
    text = (tmp_path / today.isoformat() / "alipay.txt").read_text()
    assert "summary_fee\t-\t-\t1 fen\t2 fen" in text and alipay_trade not in text
    assert f"fee\t{wechat_trade}\t-\t8 fen\t9 fen" in (tmp_path / today.isoformat() / "wechat.txt").read_text()

    stack["wechat"].summary_drift_fen = -1
    stack["wechat"].fee_drift.clear()
    again = {r.channel: r for r in await reconcile(stack["settings"], today, ["wechat"], out_dir=tmp_path / "2")}
    assert again["wechat"].differences == [Difference("summary_fee", "-", "8 fen", "7 fen")]


def test_summary_rows_that_do_not_add_up_are_each_named():
    from server.channels import Bill, BillTotals
    rows = [BillRow("T1", "X1", 1000, BillStatus.SUCCESS, 6, "2026-11-21 12:00:00")]
    bill = Bill(rows, stated=BillTotals(transactions=2, paid_fen=1001, refunded_fen=0, fee_fen=6),
                counted=BillTotals(transactions=1, paid_fen=1000, refunded_fen=0, fee_fen=6))
    now = int(datetime.datetime(2026, 11, 21, 12, tzinfo=CHINA).timestamp() * 1000)
    order = Order(id="o1", device_id="D1", order_no="1", trade_no="T1", amount_fen=1000, channel="wechat",
                  status=SUCCESS, auth_code_hash="", auth_code_masked="", created_at=now, deadline_at=now,
                  finished_at=now, merchant_id="M1")
    report = compare("wechat", datetime.date(2026, 11, 21), bill, [order], {}, {"M1": 6000})
    assert report.differences == [Difference("summary_count", "-", "1 rows", "2 rows"),
                                  Difference("summary_paid", "-", "1000 fen", "1001 fen")]
    unrated = compare("wechat", datetime.date(2026, 11, 21), rows, [order], {}, {})
    assert unrated.ok and unrated.fee_unchecked == 1


def test_a_fen_a_day_is_the_month_s_total(tmp_path):
    november = [datetime.date(2026, 11, d) for d in range(1, 31)]
    for day in november:
        report = Report(channel="alipay", day=day, bill_payments=2, paid_fen=2000, fee_fen=13, fee_ours_fen=12,
                        orders_paid=2, differences=[Difference("fee", f"T{day:%d}", "6 fen", "7 fen")])
        assert read_report(report.text()) == report
        write_report(report, tmp_path)
        write_report(Report(channel="wechat", day=day, bill_payments=1, paid_fen=1000, fee_fen=6, fee_ours_fen=6,
                            orders_paid=1), tmp_path)
        mine = Report(channel="alipay", day=day, bill_payments=1, paid_fen=1000, fee_fen=7, fee_ours_fen=6,
                      merchant_id="M1", differences=[Difference("fee", f"T{day:%d}", "6 fen", "7 fen", merchant_id="M1")])
        write_report(mine, tmp_path)
    per_channel, per_merchant = month_reports(tmp_path, "2026-11")
    alipay, wechat = per_channel
    assert (alipay.channel, alipay.days, alipay.paid_fen, alipay.fee_fen, alipay.fee_ours_fen) == (
        "alipay", 30, 60_000, 390, 360)
    assert alipay.kinds == {"fee": [30, 30]}
    assert wechat.ok and wechat.fee_fen == 180
    assert [(m.merchant_id, m.channel, m.kinds) for m in per_merchant] == [("M1", "alipay", {"fee": [30, 30]})]
    assert "fee\t30\t30" in alipay.text()


async def test_cli_month_prints_the_roll_up(tmp_path):
    for d in (1, 2, 3):
        write_report(Report(channel="unionpay", day=datetime.date(2026, 10, d), bill_payments=1, paid_fen=100,
                            fee_fen=2, fee_ours_fen=1, differences=[Difference("fee", f"T{d}", "1 fen", "2 fen")]),
                     tmp_path)
    config = tmp_path / "scanpay.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "db.sqlite"}"\n[reconcile]\nout_dir = "{tmp_path}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "reconcile", "--config", str(config), "--month", "2026-10",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == EXIT_DIFFERENCES, err
    assert "reconciliation month unionpay 2026-10: 3 DIFFERENCES" in out.decode()
    assert "fee\t3\t3" in (tmp_path / "2026-10" / "unionpay.txt").read_text()
