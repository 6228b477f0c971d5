"""The web console under /console/ (docs/console.md): server-rendered pages for operators and merchants.

One module per area, each with `setup(app)` adding its routes: home (today's takings), orders, devices,
monitoring, rollouts, reports (reconciliation), cashier, users (people, roles, the refund password), audit
(the audit log). Shared pieces: auth.py (users, sessions, CSRF, `login_required`,
`render`), i18n.py (Chinese or English pages), display.py (money, China time, the names of statuses and
channels), templates/base.html (the layout every page extends), static/console.css (desktop and phone).
"""
from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..errors import ApiError
from ..keys import CONSOLE_USER, SETTINGS, STORAGE
from ..throttle import RateLimited
from ..refusals import N_
from . import (audit, auth, cashier, codes, devices, display, exports, home as home_pages, i18n, merchants, monitoring, orders, reports,
               rollouts, stock, stores, users)

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent

# Pages only load our own files: no inline script, no framing by other sites, forms post only to us.
_SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
                               autoescape=jinja2.select_autoescape(default=True),
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=display.money, china_time=display.china_time, pretty_json=pretty_json,
                       label=_template_label)
    env.globals.update(order_status=display.order_status)
    i18n.setup(app, env)
    app.middlewares.append(console_middleware)
    app.router.add_static("/console/static", _HERE / "static", name="console_static")
    app.router.add_get("/console", home)
    app.router.add_get("/console/", home)
    app.router.add_get("/console/login", login_page)
    app.router.add_post("/console/login", login)
    app.router.add_post("/console/logout", logout)
    home_pages.setup(app)
    exports.setup(app)      # before orders: /console/orders/export is no order id
    orders.setup(app)
    devices.setup(app)
    monitoring.setup(app)
    rollouts.setup(app)
    reports.setup(app)
    cashier.setup(app)
    merchants.setup(app)
    stores.setup(app)
    stock.setup(app)
    codes.setup(app)
    users.setup(app)        # its role check runs inside console_middleware (after the session is loaded)
    audit.setup(app)


# template filters

def _template_label(value: object, table: str) -> str:
    """`{{ order.status | label("order_status") }}`: a stored code by its name in the page's language."""
    return display.label(i18n.template_gettext, table, value)


def pretty_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


# every console request

@web.middleware
async def console_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Under /console/: who is logged in, CSRF on unsafe methods, errors as HTML pages."""
    if not (request.path == "/console" or request.path.startswith("/console/")) \
            or request.path.startswith("/console/static/"):
        return await handler(request)
    try:
        await auth.load_session(request)
        if request.path == "/console/logout" and request.get(CONSOLE_USER) is None:
            response = auth.redirect("/console/login")   # the session is over already: nothing to refuse
        elif request.method in auth.UNSAFE_METHODS and not await auth.csrf_ok(request):
            raise web.HTTPForbidden(reason="csrf")
        else:
            response = await handler(request)
    except RateLimited as e:
        # Too many logins from this address (server/throttle.py): the form again, saying when to retry.
        form = await request.post()
        error = i18n.gettext(request, "Too many login attempts from your address: try again in %(s)s s.") \
            % {"s": e.retry_after_s}
        response = await login_page(request, error=error, username=str(form.get("username", "")),
                                    next_page=str(form.get("next", "")), status=e.status)
        response.headers["Retry-After"] = str(e.retry_after_s)
    except ApiError as e:
        # A refused URL part or query parameter (server/params.py): the page names it and the code.
        response = error_page(request, e.status, e.message, code=e.code)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        response = error_page(request, e.status, e.reason)
    except Exception:
        # A person is reading: an HTML page, not the device API's JSON (which the outer middleware gives).
        log.exception("unexpected error in %s %s", request.method, request.path)
        response = error_page(request, 500, N_("Something went wrong on the server; it has been logged. Try again."))
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


_ERROR_TEXT = {
    403: N_("You may not do this."),
    404: N_("There is no such page, or it is not yours to see."),
    405: N_("This page does not take that kind of request."),
}
_ERROR_TITLE = {403: N_("Forbidden"), 404: N_("Not found"), 500: N_("Server error")}


def error_page(request: web.Request, status: int, reason: str, *, code: str | None = None) -> web.Response:
    # Our handlers give a sentence marked N_ as the reason: shown in the reader's language (any other as it is).
    _ = functools.partial(i18n.gettext, request)
    if reason == "csrf":
        title = _("Request refused")
        text = _("This form was not sent from a console page of your current login (its security token is "
                 "missing or stale), so nothing was changed. Go back, reload the page and try again.")
    else:
        title = _(_ERROR_TITLE[status]) if status in _ERROR_TITLE else _("Error %(status)s") % {"status": status}
        # aiohttp's standard phrase ("Not Found") gets ours.
        try:
            standard = reason == http.HTTPStatus(status).phrase
        except ValueError:
            standard = True
        if standard or not reason:
            text = _(_ERROR_TEXT.get(status, N_("The request could not be served.")))
        else:
            text = i18n.refusal_text(request, reason)
    return auth.render(request, "error.html", {"status": status, "title": title, "text": text, "code": code},
                       status=status)


# the shared pages: home, login, logout

async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/home" if request.get(CONSOLE_USER) else "/console/login")


async def login_page(request: web.Request, *, error: str | None = None, username: str = "",
                     next_page: str | None = None, status: int = 200) -> web.StreamResponse:
    """The form; after a refused login, again with the error, the typed name and where it was going."""
    next_page = auth.safe_next(request.query.get("next") if next_page is None else next_page)
    if request.get(CONSOLE_USER) is not None and error is None:
        raise web.HTTPSeeOther(next_page)
    new_cookies: dict[str, str] = {}
    token = auth.login_csrf_token(request, new_cookies)
    # The login form's own token: the shared render would give the (absent) session's.
    response = aiohttp_jinja2.render_template(
        "login.html", request, {"user": None, "csrf_token": token, "path": request.path, "error": error,
                                "username": username, "next": next_page},
        status=status)
    for value in new_cookies.values():
        auth.set_login_csrf_cookie(request, response, value)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    settings = request.app[SETTINGS].console
    try:
        token, user = await auth.log_in(request.app[STORAGE], settings, username, password)
    except auth.LoginRefused as e:
        # Every refusal answers late: guessing passwords from many connections gains little.
        await asyncio.sleep(settings.failed_login_delay_s)
        return await login_page(request, error=i18n.gettext(request, str(e)), username=username, next_page=str(form.get("next", "")),
                                status=401)
    response = auth.redirect(auth.safe_next(str(form.get("next", ""))))
    auth.set_session_cookie(request, response, token)
    response.del_cookie(auth.LOGIN_CSRF_COOKIE, path="/console/login")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    await auth.log_out(request)
    response = auth.redirect("/console/login")
    auth.clear_session_cookie(response)
    return response
