"""Console: payments per minute, success rates, devices offline, resolver backlog, alerts (docs/console.md).

GET /console/monitoring   the figures of server/monitoring.py (a merchant's own only), the alert history
                          (operators)

Every console page also shows the open alerts as banners to operators: `alerts_middleware` puts them in
the templates' context as `console_alerts` (base.html shows them). Merchants see no alerts: the rules
judge the whole service (every merchant's payments and devices), not one shop.
"""
from __future__ import annotations


from aiohttp import web

from .. import alerts, monitoring
from ..clock import now_ms
from ..keys import CONSOLE_ALERTS, CONSOLE_USER, SETTINGS, STORAGE
from .auth import logged_in_user, login_required, merchant_scope, render

# The chart: one bar per minute, drawn on the server as inline SVG (no script, no chart library).
CHART_WIDTH, CHART_HEIGHT, CHART_BAR = 600, 120, 10


def setup(app: web.Application) -> None:
    app.middlewares.append(alerts_middleware)
    app.router.add_get("/console/monitoring", monitoring_page)


@web.middleware
async def alerts_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Console pages for operators get the open alerts (one indexed query) as `console_alerts`; the
    page scripts' own requests (fetch: no text/html in Accept) do not."""
    user = request.get(CONSOLE_USER)
    if (request.method == "GET" and user is not None and user.is_operator
            and "text/html" in request.headers.get("Accept", "")
            and request.path.startswith("/console") and not request.path.startswith("/console/static/")):
        request[CONSOLE_ALERTS] = await alerts.active_alerts(request.app[STORAGE])   # render() passes them on
    return await handler(request)


def chart(bars: list[monitoring.MinuteBar]) -> dict:
    """Bar geometry for the template: succeeded (bottom), failed, paying stacked per minute."""
    top = max([bar.total for bar in bars] + [1])
    scale = (CHART_HEIGHT - 14) / top
    columns = []
    for i, bar in enumerate(bars):
        x = i * CHART_BAR
        y = CHART_HEIGHT
        parts = []
        for kind, count in (("succeeded", bar.succeeded), ("failed", bar.failed), ("paying", bar.paying)):
            if count:
                height = max(1.0, count * scale)
                y -= height
                parts.append({"kind": kind, "y": round(y, 1), "height": round(height, 1)})
        columns.append({"x": x, "bar": bar, "parts": parts})
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bar": CHART_BAR, "top": top, "columns": columns,
            "total": sum(bar.total for bar in bars),
            "peak": max((bar.total for bar in bars), default=0)}


@login_required()
async def monitoring_page(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    settings = request.app[SETTINGS]
    storage = request.app[STORAGE]
    now = now_ms()
    figures = await monitoring.figures(storage, now, offline_after_s=settings.alerts.offline_after_s,
                                       utc_offset_h=settings.limits.utc_offset_h, merchant_id=merchant_scope(user))
    history = await alerts.alert_history(storage) if user.is_operator else []
    hour = {rate.channel: rate for rate in figures.last_hour}
    today = {rate.channel: rate for rate in figures.today}
    rate_rows = [(channel, hour.get(channel), today.get(channel)) for channel in sorted(hour.keys() | today.keys())]
    return render(request, "monitoring.html", {
        "figures": figures, "chart": chart(figures.per_minute), "history": history, "rate_rows": rate_rows,
        "rules": settings.alerts, "backlog_age_s": figures.backlog.oldest_age_s(now)})
