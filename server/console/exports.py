"""Console: the orders list and the daily summary as files a shop or a bank's staff open in Excel.

    GET /console/orders/export?format=csv|xlsx&<the orders page's filters>
    GET /console/orders/summary/export?format=csv|xlsx&<the daily summary's filters>
    GET /console/orders/refunds/export?format=csv|xlsx&<the daily summary's filters>   the refunds that went
                                     through in those days, one a row (the summary's refund columns, itemised)

The same rows as the page with the same filters, every page of them (at most EXPORT_MAX_ROWS orders), and
a total row: the figures match the page's to the fen. Headers and names in the reader's language (Chinese by
default). Money is yuan with two decimals, computed from integer fen: in CSV as text ("1288.00"); in Excel as
an exact decimal number shown as #,##0.00, so sums in Excel come out the same. CSV is UTF-8 with a byte order
mark (Excel on Windows then reads Chinese right); Excel files are written with openpyxl, row by row.
"""
from __future__ import annotations

import csv
import datetime
import decimal
import functools
import io
from urllib.parse import quote

from aiohttp import web

from .. import params
from ..clock import now_ms
from ..keys import SETTINGS, STORAGE
from .. import days
from . import display, i18n, queries
from .auth import logged_in_user, login_required, merchant_scope
from .orders import BadFilter, order_filters, summary_filters, summary_rows

EXPORT_MAX_ROWS = 100_000
_PAGE = 2_000
FORMATS = ("csv", "xlsx")
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def setup(app: web.Application) -> None:
    app.router.add_get("/console/orders/export", export_orders)
    app.router.add_get("/console/orders/summary/export", export_summary)
    app.router.add_get("/console/orders/refunds/export", export_refunds)


def yuan(fen: int) -> decimal.Decimal:
    """Integer fen as an exact decimal of yuan (no float anywhere)."""
    return decimal.Decimal(int(fen)).scaleb(-2)


def _format(request: web.Request) -> str:
    value = request.query.get("format", "csv")
    if value not in FORMATS:
        raise params.InvalidParameter("format", "format must be csv or xlsx")
    return value


def _refused(request: web.Request, e: BadFilter | params.InvalidParameter) -> web.HTTPBadRequest:
    text = e.text(functools.partial(i18n.gettext, request)) if isinstance(e, BadFilter) else \
        i18n.refusal_text(request, e.message)
    return web.HTTPBadRequest(reason=text)


def _file(request: web.Request, kind: str, name: str, ascii_name: str, header: list[str],
          rows: list[list]) -> web.Response:
    stamp = datetime.datetime.fromtimestamp(now_ms() / 1000, days.zone(request.app[SETTINGS]))
    stamp = stamp.strftime("%Y%m%d-%H%M")
    filename, fallback = f"{name}-{stamp}.{kind}", f"{ascii_name}-{stamp}.{kind}"
    if kind == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([[f"{cell:.2f}" if isinstance(cell, decimal.Decimal) else cell for cell in row]
                          for row in rows])
        body, content_type = ("\ufeff" + text.getvalue()).encode("utf-8"), "text/csv; charset=utf-8"
    else:
        body, content_type = _xlsx(name, header, rows), _XLSX
    return web.Response(body=body, headers={
        "Content-Type": content_type,
        # The name in ASCII for old clients, and as UTF-8 (RFC 6266 / 5987) for the rest.
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"})


def spreadsheet(request: web.Request, kind: str, name: str, ascii_name: str, header: list[str],
                rows: list[list]) -> web.Response:
    """A download of `rows` under `header` as CSV or Excel (kind), as the exports here write them; for other
    console areas (statements.py). Money cells are `yuan(fen)`."""
    return _file(request, kind, name, ascii_name, header, rows)


def _xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    bold = Font(bold=True)
    head = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, decimal.Decimal):
                cell.number_format = "#,##0.00"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@login_required()
async def export_orders(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    _ = functools.partial(i18n.gettext, request)
    try:
        kind = _format(request)
        order_filter, _form = await order_filters(request, user)
    except (BadFilter, params.InvalidParameter) as e:
        raise _refused(request, e) from None
    found: list[queries.OrderRow] = []
    while True:
        page = await storage.search_orders(order_filter, offset=len(found), limit=_PAGE)
        found += page
        if len(page) < _PAGE or len(found) > EXPORT_MAX_ROWS:
            break
    if len(found) > EXPORT_MAX_ROWS:
        raise web.HTTPBadRequest(reason=_("More than %(n)s orders: choose fewer days or a store, then export again.")
                                 % {"n": f"{EXPORT_MAX_ROWS:,}"})
    names = await storage.merchant_names_of({row.order.merchant_id for row in found if row.order.merchant_id})
    label = functools.partial(display.label, _)
    header = [_("Created"), _("Finished"), _("Merchant"), _("Store"), _("Device"), _("Order number"),
              _("Our trade number"), _("Channel's trade number"), _("Channel"), _("Kind"), _("Status"),
              _("Amount (yuan)"), _("Refunded (yuan)"), _("Reason")]
    rows = [[display.china_time(o.created_at), display.china_time(o.finished_at) if o.finished_at else "",
             names.get(o.merchant_id or "", o.merchant_id or ""), row.store_name, o.device_id, o.order_no, o.trade_no,
             o.channel_trade_no or "", label("channel", o.channel), label("kind", o.kind),
             label("order_status", display.order_status(o)), yuan(o.amount_fen), yuan(o.refunded_fen),
             o.reason or ""] for row in found for o in [row.order]]
    paid = [row.order for row in found if row.order.status in ("SUCCESS", "REFUNDED")]
    rows.append([_("Total"), "", "", "", "", _("%(n)s orders, %(paid)s paid") % {"n": len(found), "paid": len(paid)},
                 "", "", "", "", "", yuan(sum(o.amount_fen for o in paid)), yuan(sum(o.refunded_fen for o in paid)),
                 ""])
    return _file(request, kind, _("orders"), "orders", header, rows)


@login_required()
async def export_summary(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    _ = functools.partial(i18n.gettext, request)
    try:
        kind = _format(request)
        since, until, form = await summary_filters(request, user)
    except (BadFilter, params.InvalidParameter) as e:
        raise _refused(request, e) from None
    rows, totals = await summary_rows(request, user, since, until, form["store"] or None, form["channel"] or None)
    header = [_("Day"), _("Store"), _("Channel"), _("Payments"), _("Paid (yuan)"), _("Refunds"),
              _("Refunded (yuan)"), _("Net (yuan)")]
    lines = [[r["day"], r["store_name"], display.label(_, "channel", r["channel"]), r["paid_count"], yuan(r["paid_fen"]),
              r["refund_count"], yuan(r["refund_fen"]), yuan(r["net_fen"])] for r in rows]
    lines.append([_("Total"), f"{since.isoformat()} – {until.isoformat()}", "", totals["paid_count"],
                  yuan(totals["paid_fen"]), totals["refund_count"], yuan(totals["refund_fen"]), yuan(totals["net_fen"])])
    return _file(request, kind, _("daily-summary"), "daily-summary", header, lines)


@login_required()
async def export_refunds(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    _ = functools.partial(i18n.gettext, request)
    try:
        kind = _format(request)
        since, until, form = await summary_filters(request, user)
    except (BadFilter, params.InvalidParameter) as e:
        raise _refused(request, e) from None
    since_ms, until_ms = days.bounds_ms(since, until, days.zone(request.app[SETTINGS]))
    refunds = await storage.refunds_done(merchant_scope(user), since_ms, until_ms, form["store"] or None,
                                         form["channel"] or None)
    names = await storage.merchant_names_of({r["merchant_id"] for r in refunds if r["merchant_id"]})
    header = [_("Refunded at"), _("Merchant"), _("Store"), _("Device"), _("Refund number"), _("Our refund number"),
              _("Channel's refund number"), _("Order number"), _("Our trade number"), _("Channel"),
              _("Refunded (yuan)"), _("Reason")]
    rows = [[display.china_time(r["finished_at"]), names.get(r["merchant_id"] or "", r["merchant_id"] or ""),
             r["store_name"], r["device_id"], r["refund_no"], r["refund_trade_no"], r["channel_refund_no"] or "",
             r["order_no"], r["trade_no"], display.label(_, "channel", r["channel"]), yuan(r["amount_fen"]),
             r["reason"] or ""] for r in refunds]
    rows.append([_("Total"), f"{since.isoformat()} – {until.isoformat()}", "", "",
                 _("%(n)s refunds") % {"n": len(refunds)}, "", "", "", "", "",
                 yuan(sum(r["amount_fen"] for r in refunds)), ""])
    return _file(request, kind, _("refunds"), "refunds", header, rows)

