"""Per-client request limits on the routes where every request is a guess at a secret ([throttle] settings):

    login      POST /console/login     a password (the console also locks each user: console/auth.py)
    activate   POST /d/v1/activate     a device's one-time activation code (the request is unsigned)
    c2b        /c/...                  C2B landing look-ups: order tokens, static codes by device id

Each client (its address; behind a trusted proxy, the one the proxy names in `client_ip_header`) may make
`<kind>_per_min` such requests a minute, in a burst or spread out. Over that, 429 with Retry-After and the
code `rate_limited`; the console draws its login form again instead (console_middleware).

The counts live in this process's memory: with several server processes each allows its own share, and
a restart forgets them. Memory is bounded: past `_MAX_CLIENTS` per kind, the longest quiet are forgotten.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from . import errors
from .middlewares import error_response
from .settings import ThrottleSettings

log = logging.getLogger(__name__)

LOGIN, ACTIVATE, C2B = "login", "activate", "c2b"
_C2B_PAGE = ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
             '<meta name="viewport" content="width=device-width, initial-scale=1"><title>请稍后再试</title></head>'
             '<body><h1>请稍后再试</h1><p>这台手机所在的网络访问过于频繁，请 {seconds} 秒后重新扫码。</p></body></html>')
_MAX_CLIENTS = 10_000       # per kind: about a megabyte; an attacker with more addresses is not slowed anyway
_MINUTE_NS = 60 * 10**9


class RateLimited(web.HTTPTooManyRequests):
    """A console login over its client's limit; console_middleware answers it with the login form."""

    def __init__(self, retry_after_s: int):
        super().__init__(reason=f"Too many login attempts from your address: try again in {retry_after_s} s.",
                         headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class Limiter:
    """At most `per_min` requests a minute from each client: a burst of that many, then one every
    60/per_min seconds (GCRA, a token bucket kept as one number per client: when its bucket is full again).
    Whole nanoseconds, so that `per_min` requests at once are exactly the burst (floats drift by a hair).
    """

    def __init__(self, per_min: int, max_clients: int = _MAX_CLIENTS,
                 clock: Callable[[], int] = time.monotonic_ns):
        self.interval_ns = _MINUTE_NS // per_min
        self.burst_ns = _MINUTE_NS - self.interval_ns      # how far ahead of now a client's bucket may be drained
        self.max_clients = max_clients
        self.clock = clock
        self._full_at: OrderedDict[str, int] = OrderedDict()     # least recently seen first
        self._told: set[str] = set()                             # refused since their last allowed request

    def wait_s(self, client: str) -> float:
        """0 and the request counts; or how many seconds until the client may send one."""
        now = self.clock()
        full_at = max(self._full_at.get(client, now), now)
        if full_at - now > self.burst_ns:
            self._full_at.move_to_end(client)      # a refused client is a known one
            return (full_at - now - self.burst_ns) / 1e9
        self._full_at[client] = full_at + self.interval_ns
        self._full_at.move_to_end(client)
        self._told.discard(client)
        while len(self._full_at) > self.max_clients:
            forgotten, _ = self._full_at.popitem(last=False)
            self._told.discard(forgotten)
        return 0.0

    def __len__(self) -> int:
        """How many clients are remembered."""
        return len(self._full_at)

    def first_refusal(self, client: str) -> bool:
        """True once per run of refusals: a flood is logged once, not once a request."""
        if client in self._told:
            return False
        self._told.add(client)
        return True


def route_kind(request: web.Request) -> str | None:
    # request.path is decoded the way the router matches it: /console/%6Cogin is the login too.
    if request.path.startswith("/c/"):
        return C2B
    if request.method == "POST":
        if request.path == "/d/v1/activate":
            return ACTIVATE
        if request.path == "/console/login":
            return LOGIN
    return None


def client_of(request: web.Request, client_ip_header: str) -> str:
    """The client's address: the peer's, or the last entry of the trusted proxy's header (the proxy
    appends the address it saw; entries before it are whatever the client sent, so never trusted)."""
    address = request.remote or ""
    if client_ip_header:
        named = request.headers.getall(client_ip_header, [""])[-1].rsplit(",", 1)[-1].strip()
        address = named or address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One IPv6 subscriber gets a whole /64: counted per address, it would have 2**64 clients.
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def middleware(settings: ThrottleSettings):
    """The middleware for create_app, with its own limiters (one per kind of route)."""
    limiters = {LOGIN: Limiter(settings.login_per_min), ACTIVATE: Limiter(settings.activate_per_min),
                C2B: Limiter(settings.c2b_per_min)}

    @web.middleware
    async def throttle_middleware(request: web.Request, handler) -> web.StreamResponse:
        kind = route_kind(request) if settings.enabled else None
        if kind is None:
            return await handler(request)
        client = client_of(request, settings.client_ip_header)
        wait_s = limiters[kind].wait_s(client)
        if not wait_s:
            return await handler(request)
        if limiters[kind].first_refusal(client):
            log.warning("throttled: %s from %s (over [throttle] %s_per_min)", kind, client, kind)
        retry_after_s = math.ceil(wait_s)
        if kind == LOGIN:
            raise RateLimited(retry_after_s)
        if kind == C2B and "text/html" in request.headers.get("Accept", ""):
            # A payer's phone: a page in their language, not a JSON error.
            return web.Response(status=429, headers={"Retry-After": str(retry_after_s)}, content_type="text/html",
                                text=_C2B_PAGE.format(seconds=retry_after_s))
        refusal = errors.refusal("rate_limited", f"too many requests from your address: try again in {retry_after_s} s")
        response = error_response(request, refusal.status, refusal.code, refusal.message)
        response.headers["Retry-After"] = str(retry_after_s)
        return response

    return throttle_middleware
