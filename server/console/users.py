"""Console: people and roles (docs/console.md, "Users and roles").

Operators manage every user (create an operator or a merchant's owner, disable, enable, reset a password);
a merchant's owner manages its own staff (managers and cashiers) and sets the merchant's refund password.
`role_middleware` refuses, with a 403 page, every request the user's role may not use (auth.may_use, the
table the menu reads too), and keeps a cashier to today's orders.

    GET  /console/users                      the list and the form for a new user
    POST /console/users                      {username, password, kind, merchant_id}: a new user
    POST /console/users/status               {user_id, disabled: 1|0}: disable or enable
    POST /console/users/password             {user_id}: a new password, shown once
    GET  /console/refund-password            the owner's form
    POST /console/refund-password            {password, password2}: the merchant's new refund password
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import re
import secrets
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from .. import params
from ..clock import now_ms
from ..keys import CONSOLE_USER, SETTINGS, STORAGE
from ..days import china_day
from ..refusals import N_, Refused
from ..storage import AlreadyExists, NotFound
from . import i18n, queries
from .audit import audit
from .auth import (CASHIER, MANAGER, MERCHANT, OPERATOR, OWNER, ConsoleUser, check_new_password, hash_password,
                   logged_in_user, login_required, may_use, redirect, render)

log = logging.getLogger(__name__)

_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{2,64}", re.ASCII)
# What a new user is, as the form offers it: an operator may make operators and owners, an owner its staff.
_KINDS = {OPERATOR: (OPERATOR, OWNER), OWNER: (MANAGER, CASHIER)}
_DONE = {"created": N_("The user was created."), "disabled": N_("The user was disabled."),
         "enabled": N_("The user was enabled.")}


def setup(app: web.Application) -> None:
    app.middlewares.append(role_middleware)
    app.router.add_get("/console/users", users_page)
    app.router.add_post("/console/users", create_user)
    app.router.add_post("/console/users/status", set_status)
    app.router.add_post("/console/users/password", reset_password)
    app.router.add_get("/console/refund-password", refund_password_page)
    app.router.add_post("/console/refund-password", set_refund_password)
    env = aiohttp_jinja2.get_env(app)
    env.globals.update(may_use=may_use)


# every request: may this role use it

def _today(request: web.Request) -> int:
    return china_day(now_ms(), request.app[SETTINGS].limits.utc_offset_h)


@web.middleware
async def role_middleware(request: web.Request, handler) -> web.StreamResponse:
    """403 for what the user's role may not use; a cashier sees today's orders only."""
    user: ConsoleUser | None = request.get(CONSOLE_USER)
    path = request.path
    if user is None or not path.startswith("/console") or path.startswith("/console/static/"):
        return await handler(request)
    if user.position == CASHIER and path in ("/console", "/console/") and request.method == "GET":
        raise web.HTTPSeeOther("/console/cashier")
    if path in ("/console", "/console/", "/console/login"):
        return await handler(request)
    if not may_use(user, path):
        raise web.HTTPForbidden(reason=N_("Your role may not use this page."))
    if user.position == CASHIER and request.method == "GET":
        today = _today(request)
        if path == "/console/orders":
            day = f"{today // 10000:04d}-{today // 100 % 100:02d}-{today % 100:02d}"
            if request.query.get("from") != day or request.query.get("to") != day:
                query = {k: v for k, v in request.query.items() if k not in ("from", "to")}
                raise web.HTTPSeeOther("/console/orders?" + urlencode({**query, "from": day, "to": day}))
        else:
            order_id = path.rsplit("/", 1)[1]
            if params.fits(order_id, params.ID):
                row = await request.app[STORAGE].console_order(order_id, user.merchant_id)
                if row is not None and china_day(row.order.created_at, request.app[SETTINGS].limits.utc_offset_h) != today:
                    raise web.HTTPForbidden(reason=N_("A cashier sees today's orders only."))
    return await handler(request)


# the Users page

def _scope(user: ConsoleUser) -> str | None:
    return None if user.is_operator else user.merchant_id


async def _users_page(request: web.Request, *, error: str | None = None, notice: str | None = None,
                      new_password: dict | None = None, form: dict | None = None, status: int = 200) -> web.Response:
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    rows = await storage.console_users(_scope(user))
    now = now_ms()
    merchants = await storage.merchant_list() if user.is_operator else []
    return render(request, "users.html", {
        "rows": rows, "now": now, "kinds": _KINDS[user.position], "merchants": merchants, "error": error,
        "notice": notice, "new_password": new_password,
        "form": form or {"username": "", "kind": _KINDS[user.position][-1], "merchant_id": ""}}, status=status)


@login_required()
async def users_page(request: web.Request) -> web.StreamResponse:
    done = request.query.get("done")
    notice = i18n.gettext(request, _DONE[done]) if done in _DONE else None
    return await _users_page(request, notice=notice)


def _text(form, name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


@login_required()
async def create_user(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    form = await request.post()
    username, kind = _text(form, "username", 64), _text(form, "kind", 16)
    password = form.get("password", "")
    if not isinstance(password, str):
        password = ""
    merchant_id = _text(form, "merchant_id", 64) if user.is_operator else user.merchant_id
    typed = {"username": username if params.is_text(username, 64) else "", "kind": kind,
             "merchant_id": merchant_id or ""}
    try:
        if not _USERNAME.fullmatch(username):
            raise Refused(N_("A user name has 2 to 64 letters, digits or . _ @ -"))
        if kind not in _KINDS[user.position]:
            raise Refused(N_("Choose what the new user is from the list."))
        try:
            check_new_password(password)
        except ValueError:
            raise Refused(N_("The password is too weak: at least 10 characters.")) from None
        role = OPERATOR if kind == OPERATOR else MERCHANT
        if role == MERCHANT and not merchant_id:
            raise Refused(N_("Choose the merchant."))
        password_hash = await asyncio.to_thread(hash_password, password)
        try:
            await queries.add_user(request.app[STORAGE], username, password_hash, role,
                                   merchant_id if role == MERCHANT else None, now_ms(),
                                   staff_role=kind if role == MERCHANT else None)
        except AlreadyExists:
            raise Refused(N_("There is a user named %(name)s already."), name=username) from None
        except NotFound:
            raise Refused(N_("There is no merchant %(merchant)s."), merchant=merchant_id) from None
    except Refused as e:
        return await _users_page(request, error=e.text(lambda m: i18n.gettext(request, m)), form=typed, status=400)
    await audit(request, "user_created", username, kind, merchant_id=merchant_id if role == MERCHANT else None)
    log.info("console user %s (%s) created by %s", username, kind, user.username)
    return redirect("/console/users?done=created")


async def _managed_user(request: web.Request, form) -> dict[str, Any]:
    """The user the form names, if the logged-in user may manage it: operators any other user, an owner its
    own managers and cashiers. Else 404 (another merchant's user answers like a missing one)."""
    user = logged_in_user(request)
    user_id = _text(form, "user_id", 64)
    row = await request.app[STORAGE].get_console_user(user_id) if params.fits(user_id, params.ID) else None
    if row is None or row["id"] == user.id:
        raise web.HTTPNotFound()
    if not user.is_operator and (row["merchant_id"] != user.merchant_id or row["staff_role"] not in (MANAGER, CASHIER)):
        raise web.HTTPNotFound()
    return row


@login_required()
async def set_status(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    row = await _managed_user(request, form)
    disabled = _text(form, "disabled", 2) == "1"
    await request.app[STORAGE].set_console_user_disabled(row["username"], disabled)
    await audit(request, "user_disabled" if disabled else "user_enabled", row["username"],
                merchant_id=row["merchant_id"])
    return redirect("/console/users?done=" + ("disabled" if disabled else "enabled"))


@login_required()
async def reset_password(request: web.Request) -> web.StreamResponse:
    """A new random password, shown once on the answer page (only its hash is kept); the user's sessions end."""
    form = await request.post()
    row = await _managed_user(request, form)
    password = secrets.token_urlsafe(9)
    await request.app[STORAGE].set_console_password(row["username"], await asyncio.to_thread(hash_password, password))
    await audit(request, "user_password_reset", row["username"], merchant_id=row["merchant_id"])
    return await _users_page(request, new_password={"username": row["username"], "password": password})


# the merchant's refund password

@login_required()
async def refund_password_page(request: web.Request) -> web.StreamResponse:
    return await _refund_password_page(request)


async def _refund_password_page(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    user = logged_in_user(request)
    current = await request.app[STORAGE].get_refund_password(user.own_merchant_id)
    locked = bool(current and current["locked_until"] and current["locked_until"] > now_ms())
    return render(request, "refund_password.html", {
        "current": current, "locked": locked, "error": error,
        "done": request.query.get("done") == "set" and error is None}, status=status)


@login_required()
async def set_refund_password(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    form = await request.post()
    password, again = form.get("password", ""), form.get("password2", "")
    if not isinstance(password, str) or not isinstance(again, str) or len(password) < 6:
        return await _refund_password_page(request, error=i18n.gettext(
            request, "The refund password is too weak: at least 6 characters."), status=400)
    if password != again:
        return await _refund_password_page(request, error=i18n.gettext(
            request, "The two passwords differ: type the same one twice."), status=400)
    password_hash = await asyncio.to_thread(hash_password, password)
    await request.app[STORAGE].set_refund_password(user.own_merchant_id, password_hash, user.username, now_ms())
    await audit(request, "refund_password_set", user.merchant_id or "")
    return redirect("/console/refund-password?done=set")
