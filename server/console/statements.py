"""Console: a merchant's statement (对账单) for a day or a month, with fees at its contracted rates.

    GET /console/statements?[merchant=M1]&date=YYYY-MM-DD | month=YYYY-MM
    GET /console/statements/export?format=csv|xlsx&<the same>

Per channel (and, for a month, per day and channel): payments and their amount, refunds and theirs, the fees at
the merchant's contracted rate at that channel (server/fees.py: per payment, half up at the fen), the fees the
refunds gave back, and the settlement (paid − refunded − fees + fees given back); then the total. Payments
count on the China-time day they were finished and refunds on the day they went through, as the channels'
bills count them, so a day's figures match the channel's bill to the fen. A channel where the merchant has no
contracted rate shows its fees as not computed (0) and says so. A merchant user sees its own statement;
operators choose the merchant.
"""
from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass, field

from aiohttp import web

from .. import fees, params
from ..keys import CHANNELS, STORAGE
from ..days import CHINA
from ..reconcile import month_days
from ..refusals import N_
from .. import days
from . import display, exports, i18n, queries
from .auth import logged_in_user, login_required, merchant_scope, render

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}", re.ASCII)
_MERCHANT = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
_PAGE = 2_000
_SLACK_MS = 86_400_000      # a payment finishes within a day of its order's creation (C2B codes: an hour)
_PAID = ("SUCCESS", "REFUNDED")
BAD_MONTH = N_("month must be a month from 2000-01 to 2099-12, written like 2026-11")
_BAD_MERCHANT = N_("merchant must be a merchant id such as M1")


@dataclass
class Line:
    """One channel's figures (for a month also one day's): integer fen throughout."""

    channel: str
    day: str = ""                      # YYYY-MM-DD, or "" for a whole period's line
    rate_ppm: int | None = None        # the contracted rate; None: none agreed, fees not computed
    payments: int = 0
    paid_fen: int = 0
    refunds: int = 0
    refunded_fen: int = 0
    fee_fen: int = 0
    fee_returned_fen: int = 0

    @property
    def settlement_fen(self) -> int:
        return fees.settlement_fen(self.paid_fen, self.refunded_fen, self.fee_fen, self.fee_returned_fen)

    def add(self, other: "Line") -> None:
        self.payments += other.payments
        self.paid_fen += other.paid_fen
        self.refunds += other.refunds
        self.refunded_fen += other.refunded_fen
        self.fee_fen += other.fee_fen
        self.fee_returned_fen += other.fee_returned_fen


@dataclass
class Statement:
    merchant_id: str
    merchant_name: str
    first_day: datetime.date
    last_day: datetime.date
    days: list[Line] = field(default_factory=list)        # per day and channel (a month's statement)
    channels: list[Line] = field(default_factory=list)    # per channel, the whole period
    total: Line = field(default_factory=lambda: Line(channel=""))

    @property
    def unrated(self) -> list[str]:
        return [line.channel for line in self.channels if line.rate_ppm is None]


def _china_day(at_ms: int) -> str:
    return days.day_of(at_ms, CHINA).isoformat()


async def statement(storage, merchant_id: str, merchant_name: str, first_day: datetime.date,
                    last_day: datetime.date) -> Statement:
    """The merchant's statement for first_day..last_day (China time), from its orders and refunds."""
    start, end = days.bounds_ms(first_day, last_day, CHINA)
    rates = {r.channel: r.fee_rate_ppm for r in await storage.merchant_channels(merchant_id)}
    cells: dict[tuple[str, str], Line] = {}

    def cell(day: str, channel: str) -> Line:
        return cells.setdefault((day, channel), Line(channel=channel, day=day, rate_ppm=rates.get(channel)))

    found: list[queries.OrderRow] = []
    order_filter = queries.OrderFilter(merchant_id=merchant_id, since_ms=start - _SLACK_MS, until_ms=end)
    while True:
        page = await storage.search_orders(order_filter, offset=len(found), limit=_PAGE)
        found += page
        if len(page) < _PAGE:
            break
    for row in found:
        order = row.order
        done = order.finished_at or order.created_at
        if order.status not in _PAID or not start <= done < end:
            continue
        line = cell(_china_day(done), order.channel)
        line.payments += 1
        line.paid_fen += order.amount_fen
        if line.rate_ppm is not None:
            line.fee_fen += fees.fee_fen(order.amount_fen, line.rate_ppm)
    for done in await storage.refunds_done(merchant_id, start, end, None, None):
        line = cell(_china_day(done["finished_at"]), done["channel"])
        line.refunds += 1
        line.refunded_fen += done["amount_fen"]
        if line.rate_ppm is not None:
            line.fee_returned_fen += fees.refund_fee_fen(done["amount_fen"], line.rate_ppm)
    result = Statement(merchant_id=merchant_id, merchant_name=merchant_name, first_day=first_day, last_day=last_day)
    by_channel: dict[str, Line] = {}
    for (day, channel), line in sorted(cells.items()):
        result.days.append(line)
        by_channel.setdefault(channel, Line(channel=channel, rate_ppm=line.rate_ppm)).add(line)
        result.total.add(line)
    result.channels = [by_channel[c] for c in sorted(by_channel)]
    return result


# the page

def _today() -> datetime.date:
    return datetime.datetime.now(CHINA).date()


async def _period(request: web.Request) -> tuple[dict[str, str], str | None, datetime.date, datetime.date]:
    """The form (echoed), the merchant asked for, and the period's first and last day."""
    user = logged_in_user(request)
    query = request.query
    form = {"merchant": "", "date": "", "month": ""}
    scope = merchant_scope(user)
    if scope is not None:
        merchant_id = scope
    else:
        merchant_id = query.get("merchant", "").strip() or None
        if merchant_id is not None:
            if not _MERCHANT.fullmatch(merchant_id):
                raise params.InvalidParameter("merchant", _BAD_MERCHANT)
            form["merchant"] = merchant_id
    month = query.get("month", "").strip()
    if month:
        try:
            dates = month_days(month) if _MONTH.fullmatch(month) else []
        except ValueError:
            dates = []
        if not dates or not (params.FIRST_DAY <= dates[0] and dates[-1] <= params.LAST_DAY):
            raise params.InvalidParameter("month", BAD_MONTH)
        form["month"] = month
        return form, merchant_id, dates[0], dates[-1]
    day = params.day(query.get("date", "").strip(), "date") or _today()
    form["date"] = day.isoformat()
    return form, merchant_id, day, day


async def _statement_of(request: web.Request) -> tuple[dict[str, str], Statement | None]:
    form, merchant_id, first, last = await _period(request)
    if merchant_id is None:
        return form, None
    merchant = await request.app[STORAGE].get_merchant(merchant_id)
    if merchant is None:
        raise web.HTTPNotFound(reason=N_("There is no such merchant."))
    return form, await statement(request.app[STORAGE], merchant_id, merchant.name, first, last)


@login_required()
async def statement_page(request: web.Request) -> web.StreamResponse:
    form, found = await _statement_of(request)
    return render(request, "statements.html", {
        "form": form, "statement": found, "rate_text": fees.rate_text, "monthly": bool(form["month"]),
        "channels": sorted(request.app[CHANNELS])})


@login_required()
async def statement_export(request: web.Request) -> web.StreamResponse:
    kind = request.query.get("format", "csv")
    if kind not in exports.FORMATS:
        raise params.InvalidParameter("format", "format must be csv or xlsx")
    form, found = await _statement_of(request)
    if found is None:
        raise params.InvalidParameter("merchant", N_("Give the merchant whose statement to export."))
    _ = functools.partial(i18n.gettext, request)
    header = [_("Day"), _("Channel"), _("Fee rate"), _("Payments"), _("Paid (yuan)"), _("Refunds"),
              _("Refunded (yuan)"), _("Fees (yuan)"), _("Fees returned (yuan)"), _("Settlement (yuan)")]

    def cells(first: str, line: Line, channel: str) -> list:
        return [first, channel, fees.rate_text(line.rate_ppm), line.payments, exports.yuan(line.paid_fen),
                line.refunds, exports.yuan(line.refunded_fen), exports.yuan(line.fee_fen),
                exports.yuan(line.fee_returned_fen), exports.yuan(line.settlement_fen)]
    label = functools.partial(display.label, _, "channel")
    period = form["month"] or form["date"]
    rows = [cells(line.day, line, label(line.channel)) for line in found.days] if form["month"] else []
    rows += [cells(period, line, label(line.channel)) for line in found.channels]
    rows.append(cells(_("Total"), found.total, f"{found.merchant_name} ({found.merchant_id})"))
    title = _("statement")
    return exports.spreadsheet(request, kind, f"{title}-{found.merchant_id}-{period}",
                               f"statement-{found.merchant_id}-{period}", header, rows)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/statements", statement_page)
    app.router.add_get("/console/statements/export", statement_export)
