"""Orders and the daily summary exported as CSV and Excel: the page's rows and totals to the fen, Chinese
headers, each merchant its own, filters as on the page; read back with Python's csv and with openpyxl."""
from __future__ import annotations

import csv
import decimal
import io
import re

import openpyxl
from playwright.async_api import expect

from tests.console.conftest import login
from tests.console.console_stack import NOODLE, OPERATOR, PASSWORDS, TEA, TEA_SHOP, http_session
from hw_sim import test_codes


async def fetch(stack, headers, path: str, **query) -> tuple[int, dict, bytes]:
    async with stack.http.get(stack.url + path, params=query, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())                     # Excel on Windows reads it as UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def xlsx_rows(body: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_orders_as_csv_and_excel_each_merchant_its_own(stack):
    await stack.pay(TEA_SHOP.device_id, "T1004", 500, scenario=test_codes.INSUFFICIENT_FUNDS)
    tea = await http_session(stack, TEA)
    status, headers, body = await fetch(stack, tea, "/console/orders/export", format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert re.search(r"filename\*=UTF-8''%E8%AE%A2%E5%8D%95-\d{8}-\d{4}\.csv", headers["Content-Disposition"])  # 订单
    rows = csv_rows(body)
    header, lines, total = rows[0], rows[1:-1], rows[-1]
    assert header[:3] == ["创建时间", "完成时间", "商户"] and "金额（元）" in header
    amount, status_col = header.index("金额（元）"), header.index("状态")
    assert sorted(line[5] for line in lines) == ["T1001", "T1002", "T1003", "T1004"]     # no noodle shop orders
    assert {line[2] for line in lines} == {"茶馆"}
    assert sorted(line[amount] for line in lines) == ["12.50", "30.00", "5.00", "88.00"]
    assert {line[status_col] for line in lines} == {"支付成功", "支付失败"}
    assert total[0] == "合计" and total[amount] == "130.50"             # paid orders only: the failed one is not money

    status, headers, body = await fetch(stack, tea, "/console/orders/export", format="xlsx", channel="wechat")
    assert status == 200 and headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = xlsx_rows(body)
    assert sheet[0] == header
    assert sorted(row[5] for row in sheet[1:-1]) == ["T1001", "T1003", "T1004"]
    assert sheet[-1][amount] == decimal.Decimal("42.5") or sheet[-1][amount] == 42.5
    noodle = await http_session(stack, NOODLE)
    _, _, body = await fetch(stack, noodle, "/console/orders/export", format="csv")
    assert sorted(line[5] for line in csv_rows(body)[1:-1]) == ["N2001", "N2002"]


async def test_the_summary_export_matches_the_page_to_the_fen(stack):
    refund = await stack.call(TEA_SHOP.device_id, "refund", {"order_no": "T1002", "refund_no": "R1",
                                                            "amount_fen": 1234})
    assert refund[0] == 200
    operator = await http_session(stack, OPERATOR)
    async with stack.http.get(stack.url + "/console/orders/summary", headers=operator) as resp:
        page = await resp.text()
    page_net = re.search(r'data-testid="summary-total".*?data-label="[^"]*">(-?¥[\d,.]+)</th>\s*</tr>', page, re.S)
    status, _, body = await fetch(stack, operator, "/console/orders/summary/export", format="csv")
    rows = csv_rows(body)
    assert status == 200 and rows[0] == ["日期", "门店", "渠道", "支付笔数", "收款（元）", "退款", "退款（元）", "净额（元）"]
    total = rows[-1]
    assert total[0] == "合计"
    assert sum(decimal.Decimal(r[4]) for r in rows[1:-1]) == decimal.Decimal(total[4]) == decimal.Decimal("174.50")
    # The refund counts on the day it went through; what is left matches the page's total.
    for _ in range(50):
        rows = csv_rows((await fetch(stack, operator, "/console/orders/summary/export", format="csv"))[2])
        if rows[-1][5] == "1":
            break
    assert rows[-1][5] == "1" and rows[-1][6] == "12.34" and rows[-1][7] == "162.16"
    async with stack.http.get(stack.url + "/console/orders/summary", headers=operator) as resp:
        page = await resp.text()
    page_net = re.findall(r'data-label="[^"]*">(-?¥[\d,.]+)</th>', page.split('data-testid="summary-total"')[1])[-1]
    assert page_net == "¥162.16"
    sheet = xlsx_rows((await fetch(stack, operator, "/console/orders/summary/export", format="xlsx"))[2])
    assert sheet[-1][7] in (decimal.Decimal("162.16"), 162.16)
    # The refund itself, one a row, summing to the summary's refunded column.
    status, _, body = await fetch(stack, operator, "/console/orders/refunds/export", format="csv")
    refunds = csv_rows(body)
    assert status == 200 and refunds[0][:2] == ["退款时间", "商户"]
    (refund,), total = refunds[1:-1], refunds[-1]
    assert refund[4] == "R1" and refund[7] == "T1002" and refund[10] == "12.34" and refund[2] == TEA_SHOP.store_name
    assert total[0] == "合计" and total[10] == rows[-1][6] == "12.34"
    tea = await http_session(stack, TEA)
    noodle = await http_session(stack, NOODLE)
    assert len(csv_rows((await fetch(stack, tea, "/console/orders/refunds/export", format="csv"))[2])) == 3
    assert len(csv_rows((await fetch(stack, noodle, "/console/orders/refunds/export", format="csv"))[2])) == 2


async def test_refused_exports_say_why(stack):
    tea = await http_session(stack, TEA)
    for query, status in (({"format": "pdf"}, 400), ({"format": "csv", "from": "2026-13-01"}, 400),
                          ({"format": "csv", "from": "2026-12-05", "to": "2026-12-01"}, 400),
                          ({"format": "csv", "store": "小李面馆"}, 404)):
        got, headers, body = await fetch(stack, tea, "/console/orders/export", **query)
        assert got == status and headers["Content-Type"].startswith("text/html"), (query, got)
    got, _, _ = await fetch(stack, tea, "/console/orders/summary/export", format="csv", **{"from": "2024-01-01"})
    assert got == 400                                                         # more than a year


async def test_the_pages_offer_the_exports(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    await page.goto("/console/orders?channel=alipay")
    link = page.locator("[data-testid=exports] a", has_text="Excel")
    await expect(link).to_have_attribute("href", re.compile(r"/console/orders/export\?.*channel=alipay"))
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    with open(await download.path(), "rb") as f:
        sheet = xlsx_rows(f.read())
    assert [row[5] for row in sheet[1:-1]] == ["T1002"]
