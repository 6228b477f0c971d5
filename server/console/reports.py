"""Console: the daily reconciliation reports of server/reconcile.py, per day and channel (docs/console.md).

The reports are the files reconcile writes, <[reconcile] out_dir>/<date>/<channel>.txt (by the daily
job, `python -m server reconcile`, or "run now" here), read back with `parse_report`. Operators see
whole reports and can run one now. A merchant sees the difference lines about its own orders only (a
line whose trade_no is one of its orders); the bill's totals and the lines about trades we hold no order
for are the acquirer's and stay hidden.

    GET  /console/reports?month=YYYY-MM        reports by day and channel, the month's roll-up (default: this
                                               month; reconcile.month_reports); "run now" (operators)
    GET  /console/reports/{date}/{channel}     one report's differences
    POST /console/reports/run                  {date, channel ("" = every active one)}: reconcile now
                                               (today too: the channels give no bill before the day is
                                               over, and the report says so)

The merchants' statements (statements.py) are set up with these pages: they are the other side of the same
money.
"""
from __future__ import annotations

import datetime
import functools
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from .. import days, params, reconcile
from ..refusals import N_
from . import display, i18n, statements
from ..keys import CHANNELS, SETTINGS, STORAGE
from .auth import ConsoleUser, logged_in_user, login_required, merchant_scope, redirect, render

log = logging.getLogger(__name__)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)     # whole names only (fullmatch)
_CHANNEL = re.compile(r"[a-z0-9_]{1,32}", re.ASCII)
_LIST_DAYS = 62
_HEADER = re.compile(r"^reconciliation (\S+) (\d{4}-\d{2}-\d{2}): (OK|NO BILL|\d+ DIFFERENCES)\Z")

# What each kind of difference means, for the page.
KINDS = {
    "missing_in_orders": N_("The channel took money for a trade we have no paid order for"),
    "missing_in_bill": N_("We hold the order as paid; the channel's bill does not list it"),
    "status": N_("The channel lists it paid; our order is not"),
    "amount": N_("The amounts differ"),
    "refund_missing_in_orders": N_("The channel refunded; we have no successful refund for it"),
    "refund_missing_in_bill": N_("Our refund succeeded; the channel's bill does not list it"),
    "refund_amount": N_("The refund amounts differ"),
    "fee": N_("The bill's fee on this payment is not the contracted rate's (ours, rounded half up per payment)"),
    "refund_fee": N_("The fee this refund gave back is not the contracted rate's"),
    "summary_count": N_("The bill's summary states another number of transactions than its rows"),
    "summary_paid": N_("The bill's summary states another amount paid than its rows add up to"),
    "summary_refunded": N_("The bill's summary states another amount refunded than its rows add up to"),
    "summary_net": N_("The bill's summary states another net amount than its rows add up to"),
    "summary_fee": N_("The bill's summary states other fees than its rows add up to"),
}
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}", re.ASCII)

_YUAN_TEXT = r"-?[0-9]+\.[0-9]{2}"
# The report file's lines (server/reconcile.py writes them, in English, amounts in yuan or fen) -> the page's
# sentence in the reader's language, money as the console shows it; a line not matched is shown as it is.
_LINES = (
    (re.compile(rf"bill: (?P<payments>[0-9]+) payments (?P<paid>{_YUAN_TEXT}) yuan, (?P<refunds>[0-9]+) refunds "
                rf"(?P<refunded>{_YUAN_TEXT}) yuan, fees (?P<fees>{_YUAN_TEXT}) yuan\Z"),
     N_("bill: %(payments)s payments %(paid)s, %(refunds)s refunds %(refunded)s, fees %(fees)s")),
    (re.compile(r"ours: (?P<n>[0-9]+) paid orders finished that day\Z"), N_("ours: %(n)s paid orders finished that day")),
    (re.compile(rf"fees at the contracted rates: (?P<fees>{_YUAN_TEXT}) yuan, (?P<n>[0-9]+) rows unchecked\Z"),
     N_("fees at the contracted rates: %(fees)s; %(n)s rows not checked (no contracted rate)")),
    (re.compile(r"(?P<n>[0-9]+) rows\Z"), N_("%(n)s rows")),
    (re.compile(r"(?P<n>[0-9]+) payments\Z"), N_("%(n)s payments")),
    (re.compile(r"(?P<n>[0-9]+) refunds\Z"), N_("%(n)s refunds")),
    (re.compile(r"merchant: (?P<merchant>\S+)\Z"), N_("merchant: %(merchant)s")),
    (re.compile(r"bill unavailable: (?P<why>.*)\Z"), N_("bill unavailable: %(why)s")),
    (re.compile(r"The channel's bill has not been had yet\Z"), N_("The channel's bill has not been had yet")),
    (re.compile(r"paid (?P<fen>-?[0-9]+) fen\Z"), N_("paid %(fen)s")),
    (re.compile(r"refunded (?P<fen>-?[0-9]+) fen\Z"), N_("refunded %(fen)s")),
    (re.compile(r"(?P<status>[A-Z]+) (?P<fen>-?[0-9]+) fen\Z"), N_("%(status)s %(fen)s")),
    (re.compile(r"(?P<fen>-?[0-9]+) fen\Z"), N_("%(fen)s")),
)


def report_text(request: web.Request, line: str) -> str:
    """A line or cell of a report file as the page shows it (see _LINES)."""
    _ = functools.partial(i18n.gettext, request)
    for pattern, msgid in _LINES:
        match = pattern.match(line)
        if match is None:
            continue
        values = {}
        for key, value in match.groupdict().items():
            if key == "fen":
                value = display.money(int(value))
            elif key in ("paid", "refunded", "fees"):
                value = display.money(int(value.replace(".", "")))
            elif key == "status":
                value = display.label(_, "order_status", value)
            values[key] = value
        return _(msgid) % values
    return line


@dataclass
class ParsedReport:
    channel: str
    day: str
    verdict: str                      # OK, NO BILL, N DIFFERENCES
    summary: list[str] = field(default_factory=list)     # the bill and ours lines (or why there is no bill)
    differences: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == "OK"

    @property
    def no_bill(self) -> bool:
        return self.verdict == "NO BILL"


class ReportUnreadable(ValueError):
    pass


def parse_report(text: str) -> ParsedReport:
    """A report file as reconcile.Report.text() writes it."""
    lines = text.splitlines()
    match = _HEADER.match(lines[0]) if lines else None
    if match is None:
        raise ReportUnreadable("not a reconciliation report")
    report = ParsedReport(channel=match.group(1), day=match.group(2), verdict=match.group(3))
    columns = None
    for line in lines[1:]:
        if columns is not None:
            cells = line.split("\t")
            if len(cells) == len(columns):
                report.differences.append(dict(zip(columns, cells)))
        elif line.startswith("kind\t"):
            columns = line.split("\t")
        elif line:
            report.summary.append(line)
    return report


def _out_dir(request: web.Request) -> Path:
    return Path(request.app[SETTINGS].reconcile.out_dir)


def report_files(out_dir: Path) -> list[tuple[str, str, Path]]:
    """(date, channel, path) of the reports on disk, newest day first."""
    if not out_dir.is_dir():
        return []
    days = sorted((d for d in os.listdir(out_dir) if _DAY.fullmatch(d) and (out_dir / d).is_dir()), reverse=True)
    found = []
    for day in days[:_LIST_DAYS]:
        for name in sorted(os.listdir(out_dir / day)):
            channel, dot, ext = name.partition(".")
            if dot and ext == "txt" and _CHANNEL.fullmatch(channel):
                found.append((day, channel, out_dir / day / name))
    return found


def _read(path: Path) -> ParsedReport | None:
    try:
        return parse_report(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ReportUnreadable) as e:
        log.warning("reconciliation report %s unreadable: %s", path, e)
        return None


async def merchant_trades(storage, merchant_id: str, trade_nos: list[str]) -> set[str]:
    """Which of the trade_nos are orders of the merchant."""
    return await storage.merchant_trades(merchant_id, trade_nos)


async def _visible(storage, user: ConsoleUser, report: ParsedReport) -> ParsedReport:
    """The report as the user may see it: whole for operators, a merchant's own lines otherwise."""
    merchant_id = merchant_scope(user)
    if merchant_id is None:
        return report
    mine = await merchant_trades(storage, merchant_id, [d["trade_no"] for d in report.differences])
    return ParsedReport(channel=report.channel, day=report.day, verdict=report.verdict,
                        summary=["The channel's bill has not been had yet"] if report.no_bill else [],
                        differences=[d for d in report.differences if d["trade_no"] in mine])


def _today_china() -> datetime.date:
    return datetime.datetime.now(days.CHINA).date()


def _month_rollup(request: web.Request, user: ConsoleUser, month: str) -> list[reconcile.MonthReport]:
    """The month's roll-up as the user may see it: operators every channel's and merchant's, a merchant its
    own (service-provider mode: its own bills); nothing of the acquirer's totals."""
    per_channel, per_merchant = reconcile.month_reports(_out_dir(request), month)
    merchant_id = merchant_scope(user)
    if merchant_id is None:
        return per_channel + per_merchant
    return [r for r in per_merchant if r.merchant_id == merchant_id]


async def _list_page(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    month = request.query.get("month", "") or _today_china().strftime("%Y-%m")
    try:
        if not _MONTH.fullmatch(month):
            raise ValueError(month)
        rollup = _month_rollup(request, user, month)
    except ValueError:
        raise params.InvalidParameter("month", statements.BAD_MONTH) from None
    rows = []
    for day, channel, path in report_files(_out_dir(request)):
        report = _read(path)
        if report is None:
            continue
        rows.append({"day": day, "channel": channel, "report": await _visible(storage, user, report)})
    return render(request, "reports/list.html", {
        "text": functools.partial(report_text, request), "rows": rows, "error": error, "channels": sorted(request.app[CHANNELS]),
        "month": month, "rollup": rollup, "kinds": {kind: i18n.gettext(request, text) for kind, text in KINDS.items()},
        "yesterday": (_today_china() - datetime.timedelta(days=1)).isoformat()}, status=status)


@login_required()
async def report_list(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


@login_required()
async def report_detail(request: web.Request) -> web.StreamResponse:
    # Checked before they are used in a path or a sentence (a newline would break the reason phrase).
    day = params.text_part(request.match_info["day"], "day", _DAY, "a day written like 2026-11-21")
    channel = params.text_part(request.match_info["channel"], "channel", _CHANNEL, "a channel name such as wechat")
    path = _out_dir(request) / day / f"{channel}.txt"
    report = _read(path) if path.is_file() else None
    if report is None:
        raise web.HTTPNotFound(reason=N_("There is no such report."))
    visible = await _visible(request.app[STORAGE], logged_in_user(request), report)
    return render(request, "reports/detail.html", {
        "report": visible, "kinds": {kind: i18n.gettext(request, text) for kind, text in KINDS.items()},
        "text": functools.partial(report_text, request)})


@login_required("operator")
async def run_now(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        day = params.day(str(form.get("date", "")).strip(), "Day")
    except params.InvalidParameter as e:
        return await _list_page(request, error=i18n.refusal_text(request, e.message), status=400)
    _ = functools.partial(i18n.gettext, request)
    if day is None:
        return await _list_page(request, error=_("Give the day as YYYY-MM-DD"), status=400)
    if day > _today_china():
        return await _list_page(request, error=_("That day has not come yet (Beijing time)"), status=400)
    channels = request.app[CHANNELS]
    channel = str(form.get("channel", ""))
    if channel and channel not in channels:
        return await _list_page(request, error=_("This channel is not active here"), status=400)
    names = [channel] if channel else sorted(channels)
    if not names:
        return await _list_page(request, error=_("No channel is active"), status=400)
    log.info("console: %s runs the reconciliation of %s for %s", logged_in_user(request).username, day,
             ", ".join(names))
    reports = await reconcile.reconcile_day(request.app[STORAGE], channels, day, _out_dir(request), names,
                                            service_provider=reconcile.service_provider_channels(request.app[SETTINGS]))
    if len(reports) == 1:
        return redirect(f"/console/reports/{day.isoformat()}/{reports[0].channel}")
    return redirect("/console/reports")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/reports", report_list)
    app.router.add_post("/console/reports/run", run_now)
    app.router.add_get("/console/reports/{day}/{channel}", report_detail)
    statements.setup(app)
