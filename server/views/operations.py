"""For operators and their monitoring: GET /healthz and GET /metrics (Prometheus)."""
from __future__ import annotations

import asyncio
import hmac
import logging
import time

from aiohttp import web

from ..clock import now_ms
from ..errors import ApiError
from ..keys import METRICS, RESOLVER_TASK, SETTINGS, STORAGE
from ..metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

_DB_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers (and the resolver runs, where enabled); 503 otherwise."""
    storage = request.app[STORAGE]
    checks = {"database": "ok", "resolver": "off"}
    healthy = True
    try:
        await asyncio.wait_for(storage.ping(), _DB_TIMEOUT_S)
    except Exception as e:  # anything: the point is to answer, not to raise
        log.warning("health check: database %s", e.__class__.__name__)
        checks["database"] = "failing"
        healthy = False
    if request.app[SETTINGS].resolver.enabled:
        task = request.app.get(RESOLVER_TASK)
        checks["resolver"] = "ok" if task is not None and not task.done() else "stopped"
        healthy = healthy and checks["resolver"] == "ok"
    return web.json_response({"status": "ok" if healthy else "failing", "checks": checks,
                              "backend": storage.backend, "server_time": int(time.time())},
                             status=200 if healthy else 503)


_LOOPBACK = ("127.", "::1", "::ffff:127.")
# Headers a reverse proxy adds: a request that carries one came from elsewhere, whatever its peer address.
_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _may_scrape(request: web.Request) -> bool:
    token = request.app[SETTINGS].server.metrics_token.reveal()
    if token:
        sent = request.headers.get("Authorization", "")
        return sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].encode(), token.encode())
    return (request.remote or "").startswith(_LOOPBACK) and not any(h in request.headers for h in _PROXY_HEADERS)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics, for a scraper with [server] metrics_token, or on this machine when none is set."""
    if not _may_scrape(request):
        log.warning("metrics refused to %s", request.remote)
        raise ApiError(403, "metrics_refused", "metrics need [server] metrics_token, or a request from this machine")
    registry = request.app[METRICS]
    try:
        backlog = await asyncio.wait_for(request.app[STORAGE].count_backlog(now_ms()), _DB_TIMEOUT_S)
        for kind, count in backlog.items():
            registry.resolver_backlog.labels(kind).set(count)
    except Exception as e:
        log.warning("metrics: backlog unavailable (%s)", e.__class__.__name__)
    response = web.Response(body=registry.render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response
