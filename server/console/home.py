"""Console: the home page, what a shop owner opens first on the phone (docs/console.md "Home").

    GET /console/home        today's takings (今日实收: paid today less refunded today), payments, average
                             ticket, refunds, the channel mix, the last 7 and 30 days as bars, the latest
                             payments. A merchant sees its own; an operator every merchant's.
    GET /console/home/live   new payments as server-sent events (text/event-stream), for static/home.js:
                             `after` (Unix ms: payments finished later), `hold` (0-30 s the stream stays
                             open; default 0: what there is, at once). The browser's EventSource comes back
                             when it ends, with the last event's id (Last-Event-ID): nothing is missed or
                             shown twice.

Days are China time (`[limits] utc_offset_h`). A payment counts on the day it was made, a refund on the day
it went through, as in the daily summary (/console/orders/summary).
"""
from __future__ import annotations

import asyncio
import datetime
import json
from dataclasses import dataclass, field

from aiohttp import web

from core import texts

from .. import params
from ..clock import now_ms
from ..keys import SETTINGS, STORAGE
from .. import days
from . import display, i18n, queries
from .auth import logged_in_user, login_required, merchant_scope, render

CHART_WIDTH, CHART_HEIGHT = 600, 120
_LIVE_MAX_HOLD_S = 30
_LIVE_RECHECK_S = 1.0          # a waiting stream looks for new payments this often (any server process)
_RECENT = 10


def setup(app: web.Application) -> None:
    app.router.add_get("/console/home", home_page)
    app.router.add_get("/console/home/live", live)


@dataclass
class ChannelShare:
    channel: str
    count: int = 0
    fen: int = 0
    pct: float = 0.0


@dataclass
class Day:
    day: datetime.date
    paid_count: int = 0
    paid_fen: int = 0
    refund_count: int = 0
    refund_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refund_fen


@dataclass
class Takings:
    today: Day
    days: list[Day]                                   # the last 30 days, oldest first, today last
    channels: list[ChannelShare] = field(default_factory=list)   # today's, biggest first

    @property
    def average_fen(self) -> int | None:
        return round(self.today.paid_fen / self.today.paid_count) if self.today.paid_count else None


def _day_number(day: datetime.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


async def takings(storage, settings, merchant_id: str | None, now: int) -> Takings:
    zone = days.zone(settings)
    today = datetime.datetime.fromtimestamp(now / 1000, zone).date()
    first = today - datetime.timedelta(days=29)
    by_day = {day: Day(day) for day in (first + datetime.timedelta(days=n) for n in range(30))}
    channels: dict[str, ChannelShare] = {}
    for row in await storage.paid_per_day_and_channel(merchant_id, _day_number(first), _day_number(today)):
        number = int(row["day"])
        day = datetime.date(number // 10000, number // 100 % 100, number % 100)
        if day in by_day:
            by_day[day].paid_count += row["paid_count"]
            by_day[day].paid_fen += row["paid_fen"]
        if day == today:
            share = channels.setdefault(row["channel"], ChannelShare(row["channel"]))
            share.count += row["paid_count"]
            share.fen += row["paid_fen"]
    since = days.day_start_ms(first, zone)
    for refund in await storage.refunds_done(merchant_id, since, None, None, None):
        day = datetime.datetime.fromtimestamp(refund["finished_at"] / 1000, zone).date()
        if day in by_day:
            by_day[day].refund_count += 1
            by_day[day].refund_fen += refund["amount_fen"]
    total = sum(share.fen for share in channels.values())
    for share in channels.values():
        share.pct = round(100.0 * share.fen / total, 1) if total else 0.0
    ordered = [by_day[day] for day in sorted(by_day)]
    return Takings(today=ordered[-1], days=ordered,
                   channels=sorted(channels.values(), key=lambda s: (-s.fen, s.channel)))


def bars(days: list[Day]) -> dict:
    """Bar geometry for the template: the net takings of each day (a day with more refunded than paid: 0)."""
    top = max([day.net_fen for day in days] + [1])
    width = CHART_WIDTH / len(days)
    scale = (CHART_HEIGHT - 14) / top
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bar": width, "top": top,
            "columns": [{"x": round(i * width, 1), "day": day,
                         "height": round(max(day.net_fen, 0) * scale, 1)} for i, day in enumerate(days)]}


@login_required()
async def home_page(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    storage, settings = request.app[STORAGE], request.app[SETTINGS]
    now = now_ms()
    figures = await takings(storage, settings, merchant_scope(user), now)
    recent = await storage.latest_payments(merchant_scope(user), limit=_RECENT)
    return render(request, "home.html", {
        "takings": figures, "week": bars(figures.days[-7:]), "month": bars(figures.days),
        "recent": recent, "live_after": max([row.order.finished_at or 0 for row in recent] + [now]),
    })


@login_required()
async def live(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    query = request.query
    after = params.digits(query["after"], "after", max_len=16) if "after" in query else now_ms()
    last_id = request.headers.get("Last-Event-ID", "")
    if last_id.isascii() and last_id.isdigit() and len(last_id) <= 16:
        after = int(last_id)              # the browser came back: go on from the last event it had
    hold_s = min(params.digits(query["hold"], "hold", max_len=2), _LIVE_MAX_HOLD_S) if "hold" in query else 0
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    def gettext(message: str) -> str:
        return i18n.gettext(request, message)
    deadline = asyncio.get_running_loop().time() + hold_s
    while True:
        for row in await storage.paid_since(merchant_scope(user), after, limit=50):
            order = row.order
            after = max(after, order.finished_at or after)
            event = {"order_id": order.id, "channel": order.channel,
                     "channel_name": display.label(gettext, "channel", order.channel),
                     "amount_fen": order.amount_fen, "amount": display.money(order.amount_fen),
                     "store_name": row.store_name, "time": display.china_time(order.finished_at, "%H:%M:%S"),
                     # what the page says aloud where the browser lets it: the devices' own words
                     "speech": texts.success_text(order.channel, order.amount_fen)}
            await response.write(f"id: {after}\nevent: paid\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
                                 .encode("utf-8"))
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(_LIVE_RECHECK_S, remaining))
    await response.write_eof()
    return response
