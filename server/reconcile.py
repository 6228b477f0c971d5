"""Reconciliation: each channel's daily bill against our orders and refunds.

    python -m server reconcile --date 2026-11-21 [--channel alipay] [--out var/reconcile]

For each channel and day (China time, as the channels cut their bills) it downloads the bill and reports
  - missing_in_orders   the channel took money for a trade_no we have no paid order for
  - missing_in_bill     an order we hold as paid that the channel's bill does not list
  - status              the channel lists it paid, our order is not (PAYING, FAILED, CLOSED)
  - amount              the amounts differ, to the fen
  - refund_missing_in_orders / refund_missing_in_bill / refund_amount   the same for refunds
  - fee / refund_fee    the bill's fee on a row is not the merchant's contracted rate (merchant channel
                        --fee-ppm) applied as server/fees.py says; ours and theirs in fen
  - summary_count / summary_paid / summary_refunded / summary_net / summary_fee
                        the bill's own summary rows (WeChat's 总交易单数 block, Alipay's 合计 lines) do not
                        add up from its detail rows: ours is the rows' sum, theirs the summary's
and the channel's fees. One report file per day and channel (<out>/<date>/<channel>.txt); the exit status
is 1 when anything differs, 2 when a bill could not be had. Rows of a merchant with no contracted rate are
not fee-checked (the report counts them).

    python -m server reconcile --month 2026-11 [--channel alipay] [--out DIR]

sums the month's daily report files per channel and per merchant (<out>/<month>/<channel>.txt,
<out>/<month>/merchants/<merchant_id>/<channel>.txt): the bills' totals, the fees at the contracted rates, and
each kind of difference with its count and the fen it comes to (bill less ours), so a fen a day is the
month's 30 fen.

Where the acquirer is the channel's service provider, each merchant's own bill (its sub-merchant account's)
is reconciled against that merchant's orders alone: a report per merchant and channel
(<out>/<date>/merchants/<merchant_id>/<channel>.txt), and the channel's report is their sum, each difference
naming its merchant.

Orders are read only. An order paid a few seconds before midnight can appear on the next day's bill:
bill rows are matched against orders of the day before and after too, and an order counts as missing
from the bill only on the day it was finished.
"""
from __future__ import annotations

import asyncio
import calendar
import dataclasses
import datetime
import logging
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import days, fees
from .channels import Bill, BillRow, BillStatus, BillUnavailable, Channel, SubMerchant
from .channels.registry import ADAPTERS, open_channels
from .days import CHINA
from .merchant_channels import is_service_provider
from .settings import Settings
from .storage import REFUND_SUCCESS, REFUNDED, SUCCESS, Order, Refund, Storage, open_storage

log = logging.getLogger(__name__)

_DAY_MS = 86_400_000
_PAID = (SUCCESS, REFUNDED)

EXIT_OK, EXIT_DIFFERENCES, EXIT_NO_BILL = 0, 1, 2


@dataclass(frozen=True)
class Difference:
    kind: str
    trade_no: str
    ours: str        # what our records say, "-" for nothing
    theirs: str      # what the bill says
    refund_no: str = ""
    merchant_id: str = ""    # service-provider mode: whose bill it is on


@dataclass
class Report:
    channel: str
    day: datetime.date
    bill_payments: int = 0
    bill_refunds: int = 0
    paid_fen: int = 0          # per the bill
    refunded_fen: int = 0
    fee_fen: int = 0           # the channel's fees, net of fees given back on refunds
    orders_paid: int = 0       # our paid orders finished that day
    fee_ours_fen: int = 0      # the fees of the rows checked, at the merchants' contracted rates (net of refunds')
    fee_unchecked: int = 0     # rows not fee-checked: no order, or its merchant has no contracted rate
    differences: list[Difference] = field(default_factory=list)
    error: str | None = None   # the bill could not be had
    merchant_id: str = ""      # a merchant's own report (service-provider mode); "" for the channel's

    @property
    def ok(self) -> bool:
        return self.error is None and not self.differences

    def text(self) -> str:
        lines = [f"reconciliation {self.channel} {self.day.isoformat()}: "
                 f"{'OK' if self.ok else ('NO BILL' if self.error else f'{len(self.differences)} DIFFERENCES')}"]
        if self.error:
            lines.append(f"bill unavailable: {self.error}")
            return "\n".join(lines) + "\n"
        lines += [f"bill: {self.bill_payments} payments {_yuan(self.paid_fen)} yuan, {self.bill_refunds} refunds "
                  f"{_yuan(self.refunded_fen)} yuan, fees {_yuan(self.fee_fen)} yuan",
                  f"ours: {self.orders_paid} paid orders finished that day",
                  f"fees at the contracted rates: {_yuan(self.fee_ours_fen)} yuan, {self.fee_unchecked} rows unchecked"]
        if self.merchant_id:
            lines.insert(1, f"merchant: {self.merchant_id}")
        if self.differences:
            by_merchant = any(d.merchant_id for d in self.differences)   # service-provider mode
            lines.append("kind\ttrade_no\trefund_no\tours\ttheirs" + ("\tmerchant" if by_merchant else ""))
            lines += [f"{d.kind}\t{d.trade_no}\t{d.refund_no or '-'}\t{d.ours}\t{d.theirs}"
                      + (f"\t{d.merchant_id or '-'}" if by_merchant else "") for d in self.differences]
        return "\n".join(lines) + "\n"


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


_SUMMARY_FIELDS = (("transactions", "summary_count", ""), ("payments", "summary_count", " payments"),
                   ("refunds", "summary_count", " refunds"), ("paid_fen", "summary_paid", " fen"),
                   ("refunded_fen", "summary_refunded", " fen"), ("net_fen", "summary_net", " fen"),
                   ("fee_fen", "summary_fee", " fen"))


def summary_differences(bill: Sequence[BillRow]) -> list[Difference]:
    """Where the bill's summary rows (Bill.stated) are not its detail rows added up (Bill.counted)."""
    stated, counted = getattr(bill, "stated", None), getattr(bill, "counted", None)
    if stated is None or counted is None:
        return []
    found = []
    for name, kind, unit in _SUMMARY_FIELDS:
        theirs, ours = getattr(stated, name), getattr(counted, name)
        if theirs is not None and ours is not None and theirs != ours:
            unit = unit or " rows"
            found.append(Difference(kind, "-", f"{ours}{unit}", f"{theirs}{unit}"))
    return found


def compare(channel: str, day: datetime.date, bill: Sequence[BillRow], orders: Iterable[Order],
            refunds: Mapping[str, Sequence[Refund]], rates: Mapping[str, int | None] | None = None) -> Report:
    """The report for one channel and day: a pure function of the bill and our records.

    `orders` should cover the day before and after too; `refunds` maps order id -> its refunds; `rates` maps
    merchant id -> its contracted fee at this channel in ppm (server/fees.py), None or absent: not checked.
    """
    rates = rates or {}
    report = Report(channel=channel, day=day)
    start, end = days.bounds_ms(day, day, CHINA)
    by_trade_no = {o.trade_no: o for o in orders}
    payments = [r for r in bill if r.status == BillStatus.SUCCESS]
    bill_refunds = [r for r in bill if r.status == BillStatus.REFUND]
    report.bill_payments, report.bill_refunds = len(payments), len(bill_refunds)
    report.paid_fen = sum(r.amount_fen for r in payments)
    report.refunded_fen = sum(r.amount_fen for r in bill_refunds)
    report.fee_fen = sum(r.fee_fen for r in bill)
    diffs = report.differences

    billed = set()
    for row in payments:
        billed.add(row.trade_no)
        order = by_trade_no.get(row.trade_no)
        if order is None:
            diffs.append(Difference("missing_in_orders", row.trade_no, "-", f"paid {row.amount_fen} fen"))
            continue
        if order.status not in _PAID:
            diffs.append(Difference("status", row.trade_no, order.status, "paid"))
        if order.amount_fen != row.amount_fen:
            diffs.append(Difference("amount", row.trade_no, f"{order.amount_fen} fen", f"{row.amount_fen} fen"))
        _check_fee(report, row, rates.get(order.merchant_id or ""))

    paid_today = [o for o in by_trade_no.values()
                  if o.status in _PAID and start <= (o.finished_at or o.created_at) < end]
    report.orders_paid = len(paid_today)
    for order in paid_today:
        if order.trade_no not in billed:
            diffs.append(Difference("missing_in_bill", order.trade_no, f"{order.status} {order.amount_fen} fen", "-"))

    ours_by_refund_no = {}
    for order in by_trade_no.values():
        for refund in refunds.get(order.id, ()):
            ours_by_refund_no[refund.refund_trade_no] = (order, refund)
    billed_refunds = set()
    for row in bill_refunds:
        key = row.refund_no or ""
        billed_refunds.add(key)
        mine = ours_by_refund_no.get(key)
        refunded_order = mine[0] if mine else by_trade_no.get(row.trade_no)
        _check_fee(report, row, rates.get(refunded_order.merchant_id or "") if refunded_order else None)
        if mine is None or mine[1].status != REFUND_SUCCESS:
            ours = "-" if mine is None else mine[1].status
            diffs.append(Difference("refund_missing_in_orders", row.trade_no, ours, f"refunded {row.amount_fen} fen",
                                    refund_no=key))
        elif mine[1].amount_fen != row.amount_fen:
            diffs.append(Difference("refund_amount", row.trade_no, f"{mine[1].amount_fen} fen",
                                    f"{row.amount_fen} fen", refund_no=key))
    for order, refund in ours_by_refund_no.values():
        done_at = refund.finished_at or refund.created_at
        if refund.status == REFUND_SUCCESS and start <= done_at < end and refund.refund_trade_no not in billed_refunds:
            diffs.append(Difference("refund_missing_in_bill", order.trade_no, f"refunded {refund.amount_fen} fen", "-",
                                    refund_no=refund.refund_trade_no))
    for row in payments:
        if row.trade_no not in by_trade_no:
            report.fee_unchecked += 1
    diffs += summary_differences(bill)
    diffs.sort(key=lambda d: (d.kind, d.trade_no, d.refund_no))
    return report


def _check_fee(report: Report, row: BillRow, rate_ppm: int | None) -> None:
    """The bill's fee on the row against the contracted rate's: a payment's is taken (positive), a refund's
    given back (negative), as the parsers give them."""
    if rate_ppm is None:
        report.fee_unchecked += 1
        return
    refund = row.status == BillStatus.REFUND
    ours = -fees.refund_fee_fen(row.amount_fen, rate_ppm) if refund else fees.fee_fen(row.amount_fen, rate_ppm)
    report.fee_ours_fen += ours
    if row.fee_fen != ours:
        report.differences.append(Difference("refund_fee" if refund else "fee", row.trade_no, f"{ours} fen",
                                             f"{row.fee_fen} fen", refund_no=row.refund_no or ""))


async def reconcile_channel(channel: Channel, storage: Storage, day: datetime.date, *,
                            service_provider: bool = False) -> tuple[Report, list[Report]]:
    """The channel's report and, in service-provider mode, each merchant's (whose sum it is)."""
    start, end = days.bounds_ms(day, day, CHINA)
    orders = await storage.orders_of_channel(channel.name, start - _DAY_MS, end + _DAY_MS)
    refunds = {o.id: await storage.list_refunds(o.id) for o in orders if o.refunded_fen or o.refund_reserved_fen}
    accounts = await storage.channel_accounts(channel.name)
    rates = {a.merchant_id: a.fee_rate_ppm for a in accounts}
    if not service_provider:
        try:
            bill = await channel.bill(day)
        except BillUnavailable as e:
            return Report(channel=channel.name, day=day, error=str(e)), []
        return compare(channel.name, day, bill, orders, refunds, rates), []
    per_merchant = []
    for account in accounts:
        if not account.account_id:
            continue
        theirs = [o for o in orders if o.channel_account == account.account_id]
        try:
            bill = await channel.bill(day, SubMerchant(account.account_id))
        except BillUnavailable as e:
            per_merchant.append(Report(channel=channel.name, day=day, error=str(e), merchant_id=account.merchant_id))
            continue
        report = compare(channel.name, day, bill, theirs, refunds, rates)
        report.merchant_id = account.merchant_id
        report.differences[:] = [dataclasses.replace(d, merchant_id=account.merchant_id) for d in report.differences]
        per_merchant.append(report)
    return _sum(channel.name, day, per_merchant), per_merchant


# The figures that add up: merchants' reports into the channel's day, days into the month (MonthReport).
_SUMMED_FIGURES = ("bill_payments", "bill_refunds", "paid_fen", "refunded_fen", "fee_fen", "fee_ours_fen",
                "fee_unchecked")


def _add_figures(total: "Report | MonthReport", report: Report, names: Sequence[str]) -> None:
    for name in names:
        setattr(total, name, getattr(total, name) + getattr(report, name))


def _sum(channel: str, day: datetime.date, reports: Sequence[Report]) -> Report:
    total = Report(channel=channel, day=day)
    for report in reports:
        _add_figures(total, report, (*_SUMMED_FIGURES, "orders_paid"))
        for difference in report.differences:
            # a summary row is the whole file's: every merchant's bill cut from one file repeats it
            if difference.kind.startswith("summary_") and any(
                    dataclasses.replace(d, merchant_id="") == dataclasses.replace(difference, merchant_id="")
                    for d in total.differences):
                continue
            total.differences.append(difference)
    missing = [r.merchant_id for r in reports if r.error]
    if missing:
        total.error = f"no bill for merchant{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    return total


def write_report(report: Report, out_dir: str | os.PathLike) -> str:
    folder = os.path.join(out_dir, report.day.isoformat())
    if report.merchant_id:
        folder = os.path.join(folder, "merchants", report.merchant_id)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{report.channel}.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(report.text())
    return path


# The monthly roll-up: the month's daily report files added up.

_HEADER = re.compile(r"^reconciliation (\S+) (\d{4}-\d{2}-\d{2}): (OK|NO BILL|\d+ DIFFERENCES)\Z")
_BILL_LINE = re.compile(r"^bill: (\d+) payments (-?\d+\.\d\d) yuan, (\d+) refunds (-?\d+\.\d\d) yuan, "
                        r"fees (-?\d+\.\d\d) yuan\Z")
_OURS_LINE = re.compile(r"^ours: (\d+) paid orders finished that day\Z")
_FEES_LINE = re.compile(r"^fees at the contracted rates: (-?\d+\.\d\d) yuan, (\d+) rows unchecked\Z")
_FEN_CELL = re.compile(r"(-?\d+) fen\Z")
_MONTH = re.compile(r"^(\d{4})-(\d{2})\Z")


def _fen_of_yuan_text(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, cents = text.lstrip("-").split(".")
    return sign * (int(whole) * 100 + int(cents))


def read_report(text: str) -> Report:
    """A report file back into a Report (what Report.text() wrote); ValueError when it is not one."""
    lines = text.splitlines()
    head = _HEADER.match(lines[0]) if lines else None
    if head is None:
        raise ValueError("not a reconciliation report")
    report = Report(channel=head[1], day=datetime.date.fromisoformat(head[2]))
    columns = None
    for line in lines[1:]:
        if columns is not None:
            cells = dict(zip(columns, line.split("\t")))
            report.differences.append(Difference(
                cells.get("kind", ""), cells.get("trade_no", ""), cells.get("ours", ""), cells.get("theirs", ""),
                refund_no="" if cells.get("refund_no", "-") == "-" else cells["refund_no"],
                merchant_id="" if cells.get("merchant", "-") == "-" else cells["merchant"]))
        elif line.startswith("kind\t"):
            columns = line.split("\t")
        elif line.startswith("bill unavailable: "):
            report.error = line.removeprefix("bill unavailable: ")
        elif line.startswith("merchant: "):
            report.merchant_id = line.removeprefix("merchant: ")
        elif match := _BILL_LINE.match(line):
            report.bill_payments, report.bill_refunds = int(match[1]), int(match[3])
            report.paid_fen, report.refunded_fen = _fen_of_yuan_text(match[2]), _fen_of_yuan_text(match[4])
            report.fee_fen = _fen_of_yuan_text(match[5])
        elif match := _OURS_LINE.match(line):
            report.orders_paid = int(match[1])
        elif match := _FEES_LINE.match(line):
            report.fee_ours_fen, report.fee_unchecked = _fen_of_yuan_text(match[1]), int(match[2])
    return report


def difference_fen(difference: Difference) -> int:
    """What a difference comes to in fen, the bill's figure less ours ("-" counts as nothing); 0 for counts."""
    def fen(cell: str) -> int:
        match = _FEN_CELL.search(cell)
        return int(match[1]) if match else 0
    return fen(difference.theirs) - fen(difference.ours)


@dataclass
class MonthReport:
    """A month's daily reports of one channel (and one merchant, in service-provider mode) added up."""

    channel: str
    month: str                 # YYYY-MM
    merchant_id: str = ""
    days: int = 0              # daily reports found
    days_without_bill: int = 0
    bill_payments: int = 0
    bill_refunds: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    fee_fen: int = 0
    fee_ours_fen: int = 0
    fee_unchecked: int = 0
    kinds: dict[str, list[int]] = field(default_factory=dict)     # kind -> [differences, fen (bill less ours)]

    @property
    def ok(self) -> bool:
        return not self.kinds and not self.days_without_bill

    def add(self, report: Report) -> None:
        self.days += 1
        if report.error:
            self.days_without_bill += 1
            return
        _add_figures(self, report, _SUMMED_FIGURES)
        for difference in report.differences:
            entry = self.kinds.setdefault(difference.kind, [0, 0])
            entry[0] += 1
            entry[1] += difference_fen(difference)

    def text(self) -> str:
        verdict = "OK" if self.ok else f"{sum(n for n, _ in self.kinds.values())} DIFFERENCES"
        lines = [f"reconciliation month {self.channel} {self.month}: {verdict}"]
        if self.merchant_id:
            lines.append(f"merchant: {self.merchant_id}")
        lines += [f"days: {self.days} reports, {self.days_without_bill} without a bill",
                  f"bill: {self.bill_payments} payments {_yuan(self.paid_fen)} yuan, {self.bill_refunds} refunds "
                  f"{_yuan(self.refunded_fen)} yuan, fees {_yuan(self.fee_fen)} yuan",
                  f"fees at the contracted rates: {_yuan(self.fee_ours_fen)} yuan, {self.fee_unchecked} rows unchecked"]
        if self.kinds:
            lines.append("kind\tdifferences\tfen")
            lines += [f"{kind}\t{n}\t{fen}" for kind, (n, fen) in sorted(self.kinds.items())]
        return "\n".join(lines) + "\n"


def month_days(month: str) -> list[datetime.date]:
    match = _MONTH.match(month)
    if match is None:
        raise ValueError(f"a month is written like 2026-11, not {month!r}")
    year, month_no = int(match[1]), int(match[2])
    if not (1 <= year and 1 <= month_no <= 12):
        raise ValueError(f"a month is written like 2026-11, not {month!r}")
    return [datetime.date(year, month_no, d) for d in range(1, calendar.monthrange(year, month_no)[1] + 1)]


def month_reports(out_dir: str | os.PathLike, month: str,
                  channel_names: Sequence[str] | None = None) -> tuple[list[MonthReport], list[MonthReport]]:
    """The month's roll-up from the daily report files: per channel, and per merchant and channel."""
    per_channel: dict[str, MonthReport] = {}
    per_merchant: dict[tuple[str, str], MonthReport] = {}
    for day in month_days(month):
        folder = os.path.join(out_dir, day.isoformat())
        if not os.path.isdir(folder):
            continue
        files = [(name, "", os.path.join(folder, name)) for name in sorted(os.listdir(folder))]
        merchants_dir = os.path.join(folder, "merchants")
        if os.path.isdir(merchants_dir):
            for merchant_id in sorted(os.listdir(merchants_dir)):
                sub = os.path.join(merchants_dir, merchant_id)
                if os.path.isdir(sub):
                    files += [(name, merchant_id, os.path.join(sub, name)) for name in sorted(os.listdir(sub))]
        for name, merchant_id, path in files:
            channel, dot, ext = name.partition(".")
            if not dot or ext != "txt" or (channel_names and channel not in channel_names):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    report = read_report(f.read())
            except (OSError, UnicodeDecodeError, ValueError) as e:
                log.warning("reconcile month: %s unreadable: %s", path, e)
                continue
            fresh = MonthReport(channel=channel, month=month, merchant_id=merchant_id)
            if merchant_id:
                per_merchant.setdefault((merchant_id, channel), fresh).add(report)
            else:
                per_channel.setdefault(channel, fresh).add(report)
    return ([per_channel[k] for k in sorted(per_channel)],
            [per_merchant[k] for k in sorted(per_merchant)])


def write_month(report: MonthReport, out_dir: str | os.PathLike) -> str:
    folder = os.path.join(out_dir, report.month)
    if report.merchant_id:
        folder = os.path.join(folder, "merchants", report.merchant_id)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{report.channel}.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(report.text())
    return path


def run_month(month: str, channel_names: Sequence[str] | None = None,
              out_dir: str | os.PathLike = "var/reconcile") -> int:
    """The CLI's --month: adds up the month's daily reports, writes and prints the roll-up; exit 1 when any
    day had differences, 2 when a day had no bill."""
    per_channel, per_merchant = month_reports(out_dir, month, channel_names)
    if not per_channel and not per_merchant:
        raise ValueError(f"no daily reports for {month} in {out_dir}")
    for report in per_merchant + per_channel:
        write_month(report, out_dir)
    for report in per_channel:
        print(report.text(), end="")
    if any(r.days_without_bill for r in per_channel + per_merchant):
        return EXIT_NO_BILL
    return EXIT_DIFFERENCES if any(r.kinds for r in per_channel + per_merchant) else EXIT_OK


async def reconcile_day(storage: Storage, channels: Mapping[str, Channel], day: datetime.date,
                        out_dir: str | os.PathLike, channel_names: Sequence[str] | None = None, *,
                        service_provider: Collection[str] = ()) -> list[Report]:
    """Reconcile `day` for the named (default: all) channels; writes a report file per channel (and per
    merchant for the channels named in `service_provider`). The channels' reports are returned."""
    names = list(channel_names or channels)
    unknown = [n for n in names if n not in channels]
    if unknown:
        raise ValueError(f"channel {unknown[0]} is not active")
    reports = []
    for name in names:
        report, per_merchant = await reconcile_channel(channels[name], storage, day,
                                                       service_provider=name in service_provider)
        for merchant_report in per_merchant:
            write_report(merchant_report, out_dir)
        path = write_report(report, out_dir)
        if report.ok:
            log.info("reconcile %s %s: ok -> %s", name, day, path)
        else:
            log.warning("reconcile %s %s: %s -> %s", name, day, report.error or
                        f"{len(report.differences)} differences", path)
        reports.append(report)
    return reports


async def reconcile(settings: Settings, day: datetime.date, channel_names: Sequence[str] | None = None,
                    out_dir: str | os.PathLike = "var/reconcile") -> list[Report]:
    """The command: open storage and channels from the settings, reconcile `day`."""
    async with open_storage(settings.database) as storage, open_channels(settings) as channels:
        return await reconcile_day(storage, channels, day, out_dir, channel_names,
                                   service_provider=service_provider_channels(settings))


def service_provider_channels(settings: Settings) -> list[str]:
    return [name for name in ADAPTERS if is_service_provider(settings, name)]


# The scheduled job. WeChat has the previous day's bill ready after 10:00 and Alipay after 09:00 (Beijing
# time), so the default run is 10:30 for the day before. To wire in the app: a cleanup_ctx task running
# run_daily(app[STORAGE], app[CHANNELS], out_dir).

DEFAULT_RUN_AT = datetime.time(10, 30)


def next_run(now: datetime.datetime, at: datetime.time = DEFAULT_RUN_AT) -> datetime.datetime:
    """The first `at` (Beijing time) strictly after `now`."""
    now = now.astimezone(CHINA)
    run = datetime.datetime.combine(now.date(), at, tzinfo=CHINA)
    return run if run > now else run + datetime.timedelta(days=1)


def _china_now() -> datetime.datetime:
    return datetime.datetime.now(CHINA)


async def run_daily(storage: Storage, channels: Mapping[str, Channel], out_dir: str | os.PathLike,
                    at: datetime.time = DEFAULT_RUN_AT, now=_china_now, *,
                    service_provider: Collection[str] = ()) -> None:
    """Forever: at `at` each day, reconcile the day before. A failed pass is logged, never fatal."""
    while True:
        now_ = now()
        wake = next_run(now_, at)
        await asyncio.sleep((wake - now_).total_seconds())
        try:
            await reconcile_day(storage, channels, wake.date() - datetime.timedelta(days=1), out_dir,
                                service_provider=service_provider)
        except Exception:
            log.exception("scheduled reconciliation failed")


def exit_status(reports: Sequence[Report]) -> int:
    if any(r.error for r in reports):
        return EXIT_NO_BILL
    return EXIT_DIFFERENCES if any(r.differences for r in reports) else EXIT_OK


def run(settings: Settings, day: datetime.date, channel_names: Sequence[str] | None = None,
        out_dir: str | os.PathLike = "var/reconcile") -> int:
    """The CLI's entry: prints each report, returns the exit status."""
    reports = asyncio.run(reconcile(settings, day, channel_names, out_dir))
    for report in reports:
        print(report.text(), end="")
    return exit_status(reports)
