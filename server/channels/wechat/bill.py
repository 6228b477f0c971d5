"""WeChat's daily bill (downloadbill, bill_type=ALL) read into BillRows.

The bill is CSV text: a header row, then one row per payment or refund with every field prefixed by a
backtick (so spreadsheets keep long numbers as text), then a summary header ("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额") and its
row, read as the bill's stated totals (Bill.stated) beside its rows added up (Bill.counted).
Amounts are yuan ("`12.50"); the fee (手续费) may carry more decimals and is rounded to the fen here.
Source: WeChat's downloadbill page (the ALL bill's columns); columns are read by name.
特约商户号 names the sub-merchant whose row it is (a service provider's bill without sub_mch_id lists every
特约商户's rows); a direct merchant's rows carry "0" there (as bills show it; INFERRED from examples).
"""
from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .. import Bill, BillRow, BillStatus, BillTotals, BillUnavailable, totals_of

COLUMNS = ("交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
           "交易状态", "付款银行", "货币种类", "应结订单总金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
           "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额",
           "费率备注")
SUMMARY = "总交易单数"
SUB_MERCHANT = "特约商户号"


def fen_of_yuan(text: str) -> int:
    """Bill yuan text ("12.50", "-0.06", "0.00060") -> fen, half-up to the fen."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_bill(text: str, sub_mch_id: str | None = None) -> Bill:
    """The bill's payments and refunds. With `sub_mch_id` (a bill asked for one sub-merchant) every row must
    be that shop's: a bill that lists another shop's money is not trusted (BillUnavailable)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if not header or header[0] != COLUMNS[0]:
        raise BillUnavailable("WeChat bill has no header row")
    rows = []
    stated = None
    for line_no, cells in enumerate(reader, 2):
        if not cells:
            continue
        if cells[0].startswith(SUMMARY):
            stated = _summary(cells, next(reader, None), line_no)
            break
        row = dict(zip(header, (c.lstrip("`") for c in cells)))
        if sub_mch_id is not None and row.get(SUB_MERCHANT) != sub_mch_id:
            raise BillUnavailable(f"WeChat bill line {line_no} is sub-merchant {row.get(SUB_MERCHANT)!r}'s, "
                                  f"not {sub_mch_id}'s")
        status = row.get("交易状态")
        try:
            if status == "SUCCESS":
                rows.append(BillRow(trade_no=row["商户订单号"], channel_trade_no=row["微信订单号"],
                                    amount_fen=fen_of_yuan(row["应结订单总金额"]), status=BillStatus.SUCCESS,
                                    fee_fen=fen_of_yuan(row["手续费"]), time=row["交易时间"]))
            elif status == "REFUND":
                rows.append(BillRow(trade_no=row["商户订单号"], channel_trade_no=row["微信订单号"],
                                    amount_fen=fen_of_yuan(row["退款金额"]), status=BillStatus.REFUND,
                                    fee_fen=fen_of_yuan(row["手续费"]), time=row["交易时间"],
                                    refund_no=row.get("商户退款单号") or None))
        except (KeyError, ValueError) as e:
            raise BillUnavailable(f"WeChat bill line {line_no}: {e}") from None
    return Bill(rows, stated=stated, counted=totals_of(rows))


def _summary(header: list[str], values: list[str] | None, line_no: int) -> BillTotals:
    """The summary block: 总交易单数 (payments and refunds), 应结订单总金额, 退款总金额, 手续费总金额 (net of the
    fees refunds gave back, as the rows' 手续费 add up)."""
    if not values:
        raise BillUnavailable(f"WeChat bill line {line_no}: a summary header without its row")
    summary = dict(zip(header, (c.lstrip("`") for c in values)))
    try:
        return BillTotals(transactions=int(summary[SUMMARY]), paid_fen=fen_of_yuan(summary["应结订单总金额"]),
                          refunded_fen=fen_of_yuan(summary["退款总金额"]), fee_fen=fen_of_yuan(summary["手续费总金额"]))
    except (KeyError, ValueError) as e:
        raise BillUnavailable(f"WeChat bill summary, line {line_no + 1}: {e}") from None
