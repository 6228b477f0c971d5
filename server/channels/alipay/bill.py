"""Alipay's daily trade bill: a zip of GBK CSV files, read into BillRows.

Layout (Alipay's "业务明细" file of bill_type=trade): '#' comment lines around one header row and the
data rows; amounts in yuan; refunds are rows of 业务类型 "退款" with negative amounts; the service fee
(服务费) is negative when Alipay takes it. The summary lines are read as the bill's stated totals (Bill.stated,
beside Bill.counted, the whole file's rows added up): the detail file's footer "#交易合计：N笔，退款合计：M笔" and
the 合计 row of the summary file ("汇总": per store 交易订单总笔数, 退款订单总笔数, 订单金额（元）, 服务费（元）; its
订单金额 is taken as payments less refunds, 服务费 signed as in the rows: INFERRED from the detail file's
conventions).
Source: the layout of Alipay's downloadable trade bills as merchants see them (not in
reference/channels.md); the parser reads columns by name, so added or reordered columns do not break it.

One shop's bill in indirect acquiring: alipay.data.dataservice.bill.downloadurl.query takes a `smid` only with
bill_type trade_zft_merchant (直付通; the SDK model AlipayDataDataserviceBillDownloadurlQueryModel: "二级商户smid，
这个参数只在bill_type是trade_zft_merchant时才能使用"), and Alipay's public pages give no per-smid bill for 间连.
So the acquirer's whole trade bill is fetched and its rows are kept by the sub-merchant column. That column's
name, SUB_MERCHANT_COLUMN, is INFERRED (Alipay's own term 二级商户编号, from its error texts): a bill without it
cannot be split, and is refused rather than handed whole to one shop.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile

from .. import Bill, BillRow, BillStatus, BillTotals, BillUnavailable, totals_of
from .protocol import signed_fen_of

COLUMNS = ("支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
           "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）",
           "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
           "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注")
SUB_MERCHANT_COLUMN = "二级商户编号"
_KIND = {"交易": BillStatus.SUCCESS, "退款": BillStatus.REFUND}
_FOOTER = re.compile(r"#交易合计：(?P<payments>[0-9]+)笔，退款合计：(?P<refunds>[0-9]+)笔")
SUMMARY_TOTAL = "合计"


def parse_bill_zip(data: bytes, smid: str | None = None) -> Bill:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            csvs = [n for n in archive.namelist() if n.endswith(".csv")]
            names = [n for n in csvs if "汇总" not in n]
            if len(names) != 1:
                raise BillUnavailable(f"expected one detail CSV in the bill, found {len(names)}")
            text = archive.read(names[0]).decode("gbk")
            summaries = [archive.read(n).decode("gbk") for n in csvs if "汇总" in n]
    except (zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise BillUnavailable(f"unreadable Alipay bill: {e}") from None
    bill = parse_bill_csv(text, smid)
    total = summary_total(summaries[0]) if summaries else None
    if total is not None:      # the summary file's 合计 row states more than the footer: it is the one checked
        bill.stated = total
    return bill


def summary_total(text: str) -> BillTotals | None:
    """The 合计 row of the summary file (None when it has none)."""
    header = None
    for cells in csv.reader(io.StringIO(text)):
        if not cells or cells[0].startswith("#"):
            continue
        cells = [c.strip().strip("\t") for c in cells]
        if header is None:
            header = cells
            continue
        if cells[0] != SUMMARY_TOTAL:
            continue
        row = dict(zip(header, cells))
        try:
            return BillTotals(payments=int(row["交易订单总笔数"]), refunds=int(row["退款订单总笔数"]),
                              net_fen=signed_fen_of(row["订单金额（元）"]), fee_fen=-signed_fen_of(row["服务费（元）"] or "0"))
        except (KeyError, ValueError) as e:
            raise BillUnavailable(f"Alipay summary file: its 合计 row lacks {e}") from None
    return None


def parse_bill_csv(text: str, smid: str | None = None) -> Bill:
    """The bill's payments and refunds; with `smid`, only that sub-merchant's rows."""
    rows: list[BillRow] = []
    every: list[BillRow] = []        # every shop's, for the footer's counts
    header: list[str] | None = None
    stated = None
    for line_no, cells in enumerate(csv.reader(io.StringIO(text)), 1):
        if cells and cells[0].startswith("#"):
            footer = _FOOTER.match(cells[0].strip())
            if footer:
                stated = BillTotals(payments=int(footer["payments"]), refunds=int(footer["refunds"]))
            continue
        if not cells:
            continue
        cells = [c.strip().strip("\t") for c in cells]
        if header is None:
            header = cells
            missing = [c for c in ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）",
                                   "服务费（元）") if c not in header]
            if smid is not None and SUB_MERCHANT_COLUMN not in header:
                missing.append(SUB_MERCHANT_COLUMN)
            if missing:
                raise BillUnavailable(f"Alipay bill header lacks {missing[0]}")
            continue
        row = dict(zip(header, cells))
        kind = _KIND.get(row["业务类型"])
        if kind is None:
            continue
        try:
            amount = abs(signed_fen_of(row["订单金额（元）"]))
            fee = -signed_fen_of(row["服务费（元）"] or "0")
        except ValueError as e:
            raise BillUnavailable(f"Alipay bill line {line_no}: {e}") from None
        bill_row = BillRow(trade_no=row["商户订单号"], channel_trade_no=row["支付宝交易号"], amount_fen=amount,
                           status=kind, fee_fen=fee, time=row["完成时间"] or row.get("创建时间", ""),
                           refund_no=row.get("退款批次号/请求号") or None)
        every.append(bill_row)
        if smid is None or row.get(SUB_MERCHANT_COLUMN) == smid:
            rows.append(bill_row)
    if header is None:
        raise BillUnavailable("Alipay bill has no header row")
    return Bill(rows, stated=stated, counted=totals_of(every))
