"""UnionPay's daily file for the acquirer, read into BillRows.

INFERRED format (the real settlement files and their download message were not at hand): the file
comes as `fileContent` of a signed answer, Base64 of zlib-deflated UTF-8 text (acp's file transfer
delivers Base64 of deflated content too); one transaction a line, `|`-separated:
    orderNo|origOrderNo|reqType|txnAmt|fee|txnTime|voucherNum[|merId]
txnAmt and fee in fen; txnTime yyyyMMddHHmmss (Beijing time); reqType as in the messages. The 8th field,
merId, names the merchant of a line when it is a sub-merchant's (acquirer files list every merchant of the
institution, each line with its merchant code: INFERRED); a line without it is the acquirer's own merId's.
One merchant's bill keeps its lines alone: the file is asked for with its merId and filtered by it.
No summary line is known for this file, so a UnionPay bill has no stated totals to check (Bill.stated None):
its fees are checked line by line only.
"""
from __future__ import annotations

import base64
import binascii
import zlib

from .. import Bill, BillRow, BillStatus, BillUnavailable
from .protocol import CANCEL, CONSUME, REFUND, amount_fen_of

FIELDS = ("orderNo", "origOrderNo", "reqType", "txnAmt", "fee", "txnTime", "voucherNum")
MER_ID = "merId"          # the optional 8th field


def decode_file_content(file_content: str) -> str:
    try:
        return zlib.decompress(base64.b64decode(file_content, validate=True)).decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError) as e:
        raise BillUnavailable(f"unreadable UnionPay file: {e}") from None


def encode_file_content(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode("utf-8"))).decode("ascii")


def _time(text: str) -> str:
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]} {text[8:10]}:{text[10:12]}:{text[12:14]}"


def parse_bill(text: str, mer_id: str | None = None) -> Bill:
    """The file's payments and refunds; with `mer_id`, only the lines of that (sub-)merchant."""
    rows = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("|")
        if len(cells) not in (len(FIELDS), len(FIELDS) + 1):
            raise BillUnavailable(f"UnionPay file line {line_no}: {len(cells)} fields, not {len(FIELDS)}")
        row = dict(zip(FIELDS + (MER_ID,), cells))
        if mer_id is not None and row.get(MER_ID) != mer_id:
            continue
        try:
            amount, fee = amount_fen_of(row["txnAmt"]), int(row["fee"])
        except ValueError as e:
            raise BillUnavailable(f"UnionPay file line {line_no}: {e}") from None
        if len(row["txnTime"]) != 14 or not row["txnTime"].isdigit():
            raise BillUnavailable(f"UnionPay file line {line_no}: bad txnTime")
        if row["reqType"] == CONSUME:
            rows.append(BillRow(trade_no=row["orderNo"], channel_trade_no=row["voucherNum"], amount_fen=amount,
                                status=BillStatus.SUCCESS, fee_fen=fee, time=_time(row["txnTime"])))
        elif row["reqType"] in (REFUND, CANCEL):
            rows.append(BillRow(trade_no=row["origOrderNo"], channel_trade_no=row["voucherNum"], amount_fen=amount,
                                status=BillStatus.REFUND, fee_fen=fee, time=_time(row["txnTime"]),
                                refund_no=row["orderNo"]))
    return Bill(rows)
