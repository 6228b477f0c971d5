"""Merchant statements (对账单) with fees at the contracted rate: the day's figures match the channel's bill to the
fen, a merchant sees its own and an operator any merchant's, the month adds the days up, and the CSV and Excel
exports carry the page's figures."""
from __future__ import annotations

import asyncio
import csv
import datetime
import decimal
import io
import re

import openpyxl

from tests.console.console_stack import NOODLE, OPERATOR, TEA, TEA_SHOP, http_session
from server import merchant_channels
from server.channels.wechat.bill import parse_bill
from server.keys import SETTINGS
from server.reconcile import CHINA


def today() -> datetime.date:
    return datetime.datetime.now(CHINA).date()


async def fetch(stack, headers, path: str, **query) -> tuple[int, dict, str | bytes]:
    async with stack.http.get(stack.url + path, params=query, headers=headers) as resp:
        body = await resp.read()
        return resp.status, dict(resp.headers), body


async def contract_and_refund(stack) -> None:
    """The tea house at 0.38 % on WeChat and 0.6 % on Alipay; 5.00 of T1001 (12.50, WeChat) refunded."""
    for channel, rate in (("wechat", 3800), ("alipay", 6000)):
        await merchant_channels.open_merchant(stack.storage, stack.app[SETTINGS], TEA_SHOP.merchant_id, channel,
                                              fee_rate_ppm=rate, actor="test")
        stack.sandboxes[channel].fee_rate_ppm = rate
    status, answer = await stack.call(TEA_SHOP.device_id, "refund", {"order_no": "T1001", "refund_no": "R1",
                                                                     "amount_fen": 500})
    assert status == 200, answer
    async with asyncio.timeout(5):
        while (await stack.storage.get_order(TEA_SHOP.device_id, "T1001")).refunded_fen < 500:
            await asyncio.sleep(0.05)


def cells(html: str, testid: str) -> list[str]:
    row = re.search(rf'<tr data-testid="{testid}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    return re.findall(r'data-fen="(-?\d+)"', row)


async def test_a_day_s_statement_matches_the_channel_s_bill_to_the_fen(stack):
    await contract_and_refund(stack)
    tea = await http_session(stack, TEA)
    status, _, body = await fetch(stack, tea, "/console/statements")
    html = body.decode()
    assert status == 200 and "对账单" in html and "手续费" in html and "结算金额" in html
    # WeChat: 12.50 and 30.00 paid, 5.00 refunded; fees 4.75 -> 5 and 11.4 -> 11, 1.9 -> 2 given back.
    wechat = re.search(r'<tr data-channel="wechat" data-day="">(.*?)</tr>', html, re.S).group(1)
    assert "0.38%" in wechat and "¥42.50" in wechat and "-¥0.16" in wechat and "¥0.02" in wechat
    assert 'data-fen="3736"' in wechat                  # 4250 - 500 - 16 + 2
    # Alipay: 88.00 at 0.6 % is 52.8 -> 53 fen.
    assert 'data-fen="8747"' in re.search(r'<tr data-channel="alipay" data-day="">(.*?)</tr>', html, re.S).group(1)
    assert cells(html, "statement-total") == ["12483"]

    # The WeChat sandbox's bill for the day, the tea house's rows: the same money and fees, fen for fen.
    ours = {(await stack.storage.get_order(TEA_SHOP.device_id, n)).trade_no for n in ("T1001", "T1003")}
    rows = [r for r in parse_bill(stack.sandboxes["wechat"].bill_text(today())) if r.trade_no in ours]
    paid = sum(r.amount_fen for r in rows if r.status == "SUCCESS")
    refunded = sum(r.amount_fen for r in rows if r.status == "REFUND")
    assert (paid, refunded, sum(r.fee_fen for r in rows)) == (4250, 500, 16 - 2)
    assert paid - refunded - sum(r.fee_fen for r in rows) == 3736

    # A merchant cannot ask for another's: its own statement is what it gets.
    status, _, body = await fetch(stack, tea, "/console/statements", merchant="M2")
    assert cells(body.decode(), "statement-total") == ["12483"]
    noodle = await http_session(stack, NOODLE)
    status, _, body = await fetch(stack, noodle, "/console/statements")
    assert "T1001" not in body.decode() and cells(body.decode(), "statement-total") == ["4400"]    # no rate: no fees


async def test_an_operator_chooses_the_merchant_and_the_month_adds_the_days_up(stack):
    await contract_and_refund(stack)
    ops = await http_session(stack, OPERATOR)
    status, _, body = await fetch(stack, ops, "/console/statements")
    assert status == 200 and 'data-testid="choose-merchant"' in body.decode()
    status, _, body = await fetch(stack, ops, "/console/statements", merchant="M1", date=today().isoformat())
    assert cells(body.decode(), "statement-total") == ["12483"]
    status, _, body = await fetch(stack, ops, "/console/statements", merchant="M1", month=today().strftime("%Y-%m"))
    html = body.decode()
    assert f'data-day="{today().isoformat()}"' in html and cells(html, "statement-total") == ["12483"]
    status, _, body = await fetch(stack, ops, "/console/statements", merchant="NOBODY")
    assert status == 404
    status, _, _ = await fetch(stack, ops, "/console/statements", merchant="M1", month="2026-13")
    assert status == 400


async def test_the_statement_exports_carry_the_page_s_figures(stack):
    await contract_and_refund(stack)
    tea = await http_session(stack, TEA)
    status, headers, body = await fetch(stack, tea, "/console/statements/export", format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "%E5%AF%B9%E8%B4%A6%E5%8D%95" in headers["Content-Disposition"]          # 对账单
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    header, total = rows[0], rows[-1]
    assert header[-1] == "结算金额（元）" and total[0] == "合计"
    assert total[header.index("手续费（元）")] == "0.69" and total[-1] == "124.83"
    wechat = next(r for r in rows[1:-1] if r[1] == "微信支付")
    assert wechat[2] == "0.38%" and wechat[-1] == "37.36"

    ops = await http_session(stack, OPERATOR)
    status, headers, body = await fetch(stack, ops, "/console/statements/export", format="xlsx", merchant="M1",
                                        month=today().strftime("%Y-%m"))
    assert status == 200 and headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = [list(r) for r in openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(
        values_only=True)]
    assert sheet[0] == header
    assert decimal.Decimal(str(sheet[-1][-1])) == decimal.Decimal("124.83")
    assert any(row[0] == today().isoformat() for row in sheet[1:-1])      # the month lists its days
    status, _, _ = await fetch(stack, ops, "/console/statements/export", format="csv")
    assert status == 400                                                  # an operator names the merchant


async def test_the_reports_page_shows_the_month_s_roll_up(stack):
    from server.reconcile import Difference, Report, write_report
    out_dir = stack.app[SETTINGS].reconcile.out_dir
    for d in range(1, 31):
        write_report(Report(channel="alipay", day=datetime.date(2026, 11, d), bill_payments=1, paid_fen=1000,
                            fee_fen=7, fee_ours_fen=6, differences=[Difference("fee", f"T{d}", "6 fen", "7 fen")]),
                     out_dir)
    ops = await http_session(stack, OPERATOR)
    status, _, body = await fetch(stack, ops, "/console/reports", month="2026-11")
    html = body.decode()
    assert status == 200 and "月度汇总" in html
    assert re.search(r'data-kind="fee" data-count="30" data-fen="30"', html)       # a fen a day: 0.30 in the month
    assert "¥0.30" in html
    tea = await http_session(stack, TEA)
    status, _, body = await fetch(stack, tea, "/console/reports", month="2026-11")
    assert status == 200 and 'data-kind="fee"' not in body.decode()     # the acquirer's totals are not a merchant's
    status, _, _ = await fetch(stack, ops, "/console/reports", month="2026-13")
    assert status == 400
