"""Console: orders. Search, detail with the channel's answers, sync with the channel, refund, daily summary.

A merchant user reaches only its own orders: every query is scoped in SQL (server/storage/console_reads.py),
and an order, device or store of another merchant answers 404, exactly like one that does not exist. Sync and
refund go through the payments layer (server/payments.py), the same code as the resolver and the device API.
"""
from __future__ import annotations

import datetime
import functools
import logging
import re
import secrets
import unicodedata
from decimal import Decimal, InvalidOperation

from aiohttp import web

from .. import params
from ..channels import Outcome
from ..clock import now_ms
from ..device_messages import MAX_REFUND_REASON, RefundRequest
from ..keys import CHANNELS, PAYMENTS, SETTINGS, STORAGE
from ..days import china_day
from ..payments import RefundConflict, RefundImpossible
from ..refusals import N_, Refused
from ..storage import PAYING, REFUND_PENDING, SUCCESS, OrderScope
from .. import days
from . import display, i18n, queries
from .audit import audit
from .auth import ConsoleUser, RefundPasswordRefused, check_refund_password, logged_in_user, login_required, merchant_scope, redirect, render

log = logging.getLogger(__name__)

STATUSES = ("PAYING", "SUCCESS", "FAILED", "CLOSED", "REFUNDED")
# Refund numbers made on the confirmation page: the idempotency key of one refund, like a device's refund_no.
_CONSOLE_REFUND_NO = re.compile(r"^CR[0-9a-f]{20}\Z")
_YUAN = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?\Z")
_SUMMARY_DEFAULT_DAYS = 7
_CHANNEL = re.compile(r"[a-z0-9_]{1,32}", re.ASCII)
_FILTERS = ("q", "from", "to", "device", "store", "channel", "status", "merchant")
_ECHO_MAX = 200

# Why the payments layer refused a refund (RefundImpossible's code; a RefundConflict is "conflict").
_REFUND_REFUSALS = {
    "order_not_paid": N_("the order is not paid"),
    "refund_exceeds_amount": N_("more than is left to refund"),
    "channel_unavailable": N_("the order's channel is not configured here"),
    "conflict": N_("this refund number was used before with other details: start the refund again"),
}

# What a text filter may hold (orders, summary and device pages): a value no record can have is refused
# before any query, by server/params.py (control characters, lone surrogates, impossible ids).
FILTER_CHECKS = {
    "q": functools.partial(params.free_text, name="Search", max_len=64),
    "device": functools.partial(params.device_id, name="Device"),
    "store": functools.partial(params.free_text, name="Store", max_len=64),
    "channel": functools.partial(params.text_part, name="Channel", pattern=_CHANNEL,
                                 rule="a channel name such as wechat"),
    "merchant": functools.partial(params.text_part, name="Merchant", pattern=params.ID,
                                  rule="a merchant id: A-Z a-z 0-9 _ -"),
}


def setup(app: web.Application) -> None:
    """Add the order pages under /console/orders."""
    app.router.add_get("/console/orders", order_list)
    app.router.add_get("/console/orders/summary", summary)   # before {order_id}: a fixed path wins
    app.router.add_get("/console/orders/{order_id}", order_detail)
    app.router.add_post("/console/orders/{order_id}/sync", sync)
    app.router.add_get("/console/orders/{order_id}/refund", refund_form)
    app.router.add_post("/console/orders/{order_id}/refund/confirm", refund_confirm)
    app.router.add_post("/console/orders/{order_id}/refund", refund)


# reading the filters

class BadFilter(Refused):
    """A filter the page cannot use; the message is shown (in the reader's language)."""


def check_filters(form: dict[str, str]) -> None:
    """InvalidParameter for the first text filter in `form` that no record can match."""
    for name, check in FILTER_CHECKS.items():
        if form.get(name):
            check(form[name])


def echo(query, names) -> dict[str, str]:
    """The filters as typed, for the page that refuses them; a value the page cannot show is left out."""
    typed = {name: query.get(name, "") for name in names}
    return {name: value if params.is_text(value, _ECHO_MAX) else "" for name, value in typed.items()}


async def _owned_or_404(request: web.Request, user: ConsoleUser, *, device_id: str | None,
                        store_name: str | None) -> None:
    """A merchant filtering by another merchant's device or store gets 404, as for any of its data."""
    scope = merchant_scope(user)
    if scope is None:
        return
    storage = request.app[STORAGE]
    if device_id and not await storage.merchant_has_orders_on(scope, device_id=device_id):
        raise web.HTTPNotFound()
    if store_name and not await storage.merchant_has_orders_on(scope, store_name=store_name):
        raise web.HTTPNotFound()


async def order_filters(request: web.Request, user: ConsoleUser) -> tuple[queries.OrderFilter, dict[str, str]]:
    query = request.query
    form = {name: query.get(name, "").strip() for name in _FILTERS}
    check_filters(form)
    since, until = params.day(form["from"], "From"), params.day(form["to"], "To")
    await _owned_or_404(request, user, device_id=form["device"], store_name=form["store"])
    tz = days.zone(request.app[SETTINGS])
    if since and until and since > until:
        raise BadFilter(N_("From is after To"))
    if form["status"] and form["status"] not in STATUSES:
        raise BadFilter(N_("Status: choose one from the list"))
    scope = merchant_scope(user)
    return queries.OrderFilter(
        merchant_id=scope if scope is not None else (form["merchant"] or None),
        number=form["q"][:64] or None,
        since_ms=days.day_start_ms(since, tz) if since else None,
        until_ms=days.day_end_ms(until, tz) if until else None,
        device_id=form["device"] or None, store_name=form["store"] or None,
        channel=form["channel"] or None, status=form["status"] or None), form


def _page_number(request: web.Request) -> int:
    try:
        return max(1, min(int(request.query.get("page", "1")), 100_000))
    except ValueError:
        return 1


# pages

@login_required()
async def order_list(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    page_size = request.app[SETTINGS].console.page_size
    page = _page_number(request)
    error, rows = None, []
    try:
        order_filter, form = await order_filters(request, user)
    except BadFilter as e:
        error, form = e.text(functools.partial(i18n.gettext, request)), echo(request.query, _FILTERS)
    except params.InvalidParameter as e:
        error, form = i18n.refusal_text(request, e.message), echo(request.query, _FILTERS)
    else:
        rows = await storage.search_orders(order_filter, offset=(page - 1) * page_size, limit=page_size + 1)
    has_next = len(rows) > page_size
    query_params = {k: v for k, v in form.items() if v}
    return render(request, "orders/list.html", {
        "rows": rows[:page_size], "form": form, "error": error, "page": page, "has_next": has_next,
        "params": query_params, "devices": await storage.merchant_devices(merchant_scope(user)),
        "channels": sorted(request.app[CHANNELS]), "statuses": STATUSES}, status=400 if error else 200)


async def _order_or_404(request: web.Request) -> queries.OrderRow:
    user = logged_in_user(request)
    order_id = params.text_part(request.match_info["order_id"], "order id", params.ID)
    row = await request.app[STORAGE].console_order(order_id, merchant_scope(user))
    if row is None:
        raise web.HTTPNotFound()
    return row


def _refundable_fen(row: queries.OrderRow) -> int:
    order = row.order
    return order.amount_fen - order.refund_reserved_fen if order.status == SUCCESS else 0


@login_required()
async def order_detail(request: web.Request) -> web.StreamResponse:
    row = await _order_or_404(request)
    storage = request.app[STORAGE]
    synced, refunded = request.query.get("synced"), request.query.get("refunded")
    return render(request, "orders/detail.html", {
        "row": row, "order": row.order, "events": await storage.list_events(row.order.id),
        "refunds": await storage.list_refunds(row.order.id), "refundable_fen": _refundable_fen(row),
        "merchant": await storage.get_merchant(row.order.merchant_id) if row.order.merchant_id else None,
        "synced": synced if synced in {o.value for o in Outcome} | {"none"} else None,
        "refunded": refunded if params.fits(refunded, params.ID) else None})


@login_required()
async def sync(request: web.Request) -> web.StreamResponse:
    """Ask the channel about the order now, as the resolver would, and show what it said."""
    row = await _order_or_404(request)
    user = logged_in_user(request)
    order = row.order
    payments, storage = request.app[PAYMENTS], request.app[STORAGE]
    asked_at = now_ms()
    await storage.add_event(order.id, asked_at, "console:sync", f"by {user.username}")
    outcome = "none"
    if order.status == PAYING:
        # The resolver's own step: a query, or past the deadline the reverse / close. Its answer is
        # journalled; the page shows the last query answer since the button was pressed.
        order = await payments.step(order)
        answers = [e.kind.split(":", 1)[1] for e in await storage.list_events(order.id)
                   if e.at >= asked_at and e.kind.startswith("query:")]
        outcome = answers[-1] if answers else "none"
    else:
        channel = payments.channel_of(order)
        if channel is not None:
            # A final order stays as it is; the channel's answer goes in its journal, for the people
            # reconciling (a channel that disagrees shows up here and in the daily reconciliation).
            result = await payments.query_channel(channel, order)
            await storage.add_event(order.id, now_ms(), f"sync:{result.outcome.value}",
                                    result.reason or result.message, dict(result.raw) or None)
            outcome = result.outcome.value
    for refund_record in await storage.list_refunds(order.id):
        if refund_record.status == REFUND_PENDING:
            await payments.refund_step(refund_record)
    log.info("console sync of %s/%s by %s: %s", order.device_id, order.order_no, user.username, outcome)
    return redirect(f"/console/orders/{order.id}?synced={outcome}")


# refunds: form -> confirmation (with a new refund number) -> refund

def parse_yuan(text: str) -> int:
    """Yuan as typed ("12.5", "12.50", "12") in integer fen, exactly; ValueError otherwise."""
    # A Chinese input method may type full-width digits and point ("１２．５"): NFKC makes them ASCII.
    text = unicodedata.normalize("NFKC", text).strip()
    if not _YUAN.match(text):
        raise Refused(N_("Type the amount in yuan with at most two decimals, like 12.50"))
    try:
        fen = Decimal(text) * 100
    except InvalidOperation:
        raise Refused(N_("Type the amount in yuan, like 12.50")) from None
    if fen != fen.to_integral_value():
        raise Refused(N_("Amounts go to the fen: at most two decimals"))
    return int(fen)


def _refund_page(request: web.Request, row: queries.OrderRow, *, error: str | None = None,
                 amount: str = "", reason: str = "", status: int = 200) -> web.Response:
    return render(request, "orders/refund.html", {
        "row": row, "order": row.order, "refundable_fen": _refundable_fen(row), "error": error,
        "amount": amount, "reason": reason, "max_reason": MAX_REFUND_REASON}, status=status)


@login_required()
async def refund_form(request: web.Request) -> web.StreamResponse:
    row = await _order_or_404(request)
    error = None if _refundable_fen(row) > 0 else i18n.gettext(request, "This order has nothing left to refund.")
    return _refund_page(request, row, error=error)


def _reason(form) -> str | None:
    reason = str(form.get("reason", "")).strip()
    return reason[:MAX_REFUND_REASON] or None


@login_required()
async def refund_confirm(request: web.Request) -> web.StreamResponse:
    row = await _order_or_404(request)
    form = await request.post()
    amount_text, reason = str(form.get("amount", "")), _reason(form)
    try:
        amount_fen = parse_yuan(amount_text)
        if amount_fen <= 0:
            raise Refused(N_("The amount must be more than 0"))
        if amount_fen > _refundable_fen(row):
            raise Refused(N_("At most %(amount)s can be refunded"), amount=display.money(_refundable_fen(row)))
    except Refused as e:
        return _refund_page(request, row, error=e.text(functools.partial(i18n.gettext, request)),
                            amount=amount_text, reason=reason or "", status=400)
    # The refund's number is made here, once: submitting the confirmation twice refunds once.
    return _confirm_page(request, row, amount_fen, reason or "", "CR" + secrets.token_hex(10))


def _confirm_page(request: web.Request, row: queries.OrderRow, amount_fen: int, reason: str, refund_no: str, *,
                  error: str | None = None, status: int = 200) -> web.Response:
    """The confirmation; a merchant user types the merchant's refund password on it (operators need none)."""
    return render(request, "orders/refund_confirm.html", {
        "row": row, "order": row.order, "amount_fen": amount_fen, "reason": reason, "refund_no": refund_no,
        "full": amount_fen == row.order.amount_fen - row.order.refund_reserved_fen,
        "needs_password": not logged_in_user(request).is_operator, "error": error}, status=status)


@login_required()
async def refund(request: web.Request) -> web.StreamResponse:
    row = await _order_or_404(request)
    user = logged_in_user(request)
    form = await request.post()
    refund_no, reason = str(form.get("refund_no", "")), _reason(form)
    try:
        amount_fen = int(str(form.get("amount_fen", "")))
    except ValueError:
        amount_fen = 0
    if not _CONSOLE_REFUND_NO.match(refund_no) or not 0 < amount_fen <= row.order.amount_fen:
        return _refund_page(request, row, error=i18n.gettext(
                            request, "The confirmation was incomplete: start the refund again."),
                            status=400)
    storage, order = request.app[STORAGE], row.order
    device = await storage.get_device(order.device_id)
    if device is None:
        raise web.HTTPNotFound()
    first = await storage.get_refund(device.id, refund_no) is None
    if not user.is_operator and first:
        # The merchant's refund password (operators, the acquirer's staff, refund without it: the log says so).
        password = form.get("refund_password", "")
        try:
            await check_refund_password(storage, request.app[SETTINGS].console, user.own_merchant_id,
                                        password if isinstance(password, str) else "")
        except RefundPasswordRefused as e:
            await audit(request, "refund_password_wrong", order.order_no, f"{refund_no} {amount_fen} fen: {e}")
            return _confirm_page(request, row, amount_fen, reason or "", refund_no,
                                 error=i18n.gettext(request, str(e)), status=403)
    try:
        # Through the device that took it, whichever shop that device is at now: the user may see the order.
        refund_record, _ = await request.app[PAYMENTS].refund(
            device, RefundRequest(order_no=order.order_no, refund_no=refund_no, amount_fen=amount_fen, reason=reason),
            OrderScope(device_id=device.id, merchant_id=order.merchant_id or "", since=0))
    except (RefundImpossible, RefundConflict) as e:
        fresh = await storage.console_order(order.id, merchant_scope(user))
        why = _REFUND_REFUSALS.get(getattr(e, "code", "conflict"), str(e))
        return _refund_page(request, fresh or row, error=i18n.gettext(request, "Refund refused: %(reason)s")
                            % {"reason": i18n.gettext(request, why)}, status=409)
    if first:
        await storage.add_event(order.id, now_ms(), "console:refund",
                                f"{refund_no} {amount_fen} fen by {user.username}")
        await audit(request, "refund", order.order_no,
                    f"{refund_no} {amount_fen} fen, {refund_record.status}, "
                    + ("as operator, no refund password" if user.is_operator else "refund password given"),
                    merchant_id=order.merchant_id)
        log.info("console refund %s of %s/%s, %d fen, by %s: %s", refund_no, order.device_id, order.order_no,
                 amount_fen, user.username, refund_record.status)
    return redirect(f"/console/orders/{order.id}?refunded={refund_record.refund_no}")


# the daily summary

SUMMARY_SUMS = ("paid_count", "paid_fen", "refund_count", "refund_fen", "net_fen")
SUMMARY_FILTERS = ("from", "to", "store", "channel")


async def summary_filters(request: web.Request, user: ConsoleUser) -> tuple[datetime.date, datetime.date, dict]:
    """The summary's days and filters (the last _SUMMARY_DEFAULT_DAYS by default; at most a year); BadFilter or
    InvalidParameter for what cannot be used."""
    today = days.today(request.app[SETTINGS], now_ms())
    form = {name: request.query.get(name, "").strip() for name in SUMMARY_FILTERS}
    check_filters(form)
    since = params.day(form["from"], "From") or today - datetime.timedelta(days=_SUMMARY_DEFAULT_DAYS - 1)
    until = params.day(form["to"], "To") or today
    await _owned_or_404(request, user, device_id=None, store_name=form["store"])
    if since > until:
        raise BadFilter(N_("From is after To"))
    if (until - since).days > 366:
        raise BadFilter(N_("At most a year at a time"))
    form["from"], form["to"] = since.isoformat(), until.isoformat()
    return since, until, form


async def summary_rows(request: web.Request, user: ConsoleUser, since: datetime.date, until: datetime.date,
                       store: str | None, channel: str | None) -> tuple[list[dict], dict[str, int]]:
    """The summary's rows (newest day first) and their totals, for the page and its exports alike."""
    storage = request.app[STORAGE]
    offset_h = request.app[SETTINGS].limits.utc_offset_h
    since_ms, until_ms = days.bounds_ms(since, until, days.zone(request.app[SETTINGS]))
    scope = merchant_scope(user)
    order_filter = queries.OrderFilter(merchant_id=scope, since_ms=since_ms, until_ms=until_ms, store_name=store,
                                       channel=channel)
    table: dict[tuple[int, str, str], dict[str, int]] = {}

    def cell(day: int, store_name: str, channel_name: str) -> dict[str, int]:
        return table.setdefault((day, store_name, channel_name), {"paid_count": 0, "paid_fen": 0, "refund_count": 0,
                                                                  "refund_fen": 0})
    for paid in await storage.paid_by_day(order_filter):
        entry = cell(paid["day"], paid["store_name"], paid["channel"])
        entry["paid_count"] += paid["paid_count"]
        entry["paid_fen"] += int(paid["paid_fen"] or 0)
    for done in await storage.refunds_done(scope, since_ms, until_ms, store, channel):
        entry = cell(china_day(done["finished_at"], offset_h), done["store_name"], done["channel"])
        entry["refund_count"] += 1
        entry["refund_fen"] += done["amount_fen"]
    rows = [{"day": f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}", "store_name": store_name,
             "channel": channel_name, **values, "net_fen": values["paid_fen"] - values["refund_fen"]}
            for (day, store_name, channel_name), values in sorted(table.items(),
                                                                 key=lambda kv: (-kv[0][0], kv[0][1], kv[0][2]))]
    return rows, {name: sum(r[name] for r in rows) for name in SUMMARY_SUMS}


@login_required()
async def summary(request: web.Request) -> web.StreamResponse:
    """Per China-time day, store and channel: paid orders and refunds (by the day they went through)."""
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    error, rows, totals = None, [], None
    try:
        since, until, form = await summary_filters(request, user)
    except BadFilter as e:
        error, form = e.text(functools.partial(i18n.gettext, request)), echo(request.query, SUMMARY_FILTERS)
    except params.InvalidParameter as e:
        error, form = i18n.refusal_text(request, e.message), echo(request.query, SUMMARY_FILTERS)
    else:
        rows, totals = await summary_rows(request, user, since, until, form["store"] or None, form["channel"] or None)
    stores = sorted({d["store_name"] for d in await storage.merchant_devices(merchant_scope(user))})
    return render(request, "orders/summary.html", {
        "rows": rows, "totals": totals, "form": form, "error": error, "stores": stores,
        "channels": sorted(request.app[CHANNELS])}, status=400 if error else 200)
