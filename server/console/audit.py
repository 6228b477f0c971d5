"""Console: the audit log (docs/console.md, "Audit log"). Who did what and when.

    await audit(request, "refund", order.order_no, "CR… 1250 fen")    # one line in any console handler

Besides the handlers' own lines, `audit_middleware` records every login and every console form that changed
something (a POST answered with a redirect: device lifecycle, merchants, stores, codes, stock, rollouts), by
its route and the ids in its URL; form fields are never written, so no password and no payment code is.
Operators read every entry, an owner its own merchant's (GET /console/audit).
"""
from __future__ import annotations

import logging

from aiohttp import web

from ..clock import now_ms
from ..keys import CONSOLE_USER, STORAGE
from . import queries
from .auth import MERCHANT, ConsoleUser, logged_in_user, login_required, render

log = logging.getLogger(__name__)

_PAGE_LIMIT = 500
# Forms that change nothing, or whose handlers write their own entry (by path prefix).
_NOT_RECORDED = ("/console/lang", "/console/logout", "/console/cashier", "/console/users", "/console/refund-password")


def setup(app: web.Application) -> None:
    app.middlewares.append(audit_middleware)
    app.router.add_get("/console/audit", audit_page)


async def record(storage, user: ConsoleUser | None, action: str, subject: str = "", detail: str = "", *,
                 merchant_id: str | None = None, actor: str | None = None, actor_role: str | None = None) -> None:
    """One entry; the merchant is the acting merchant user's, else `merchant_id` (whose data it touched)."""
    if user is not None and user.role == MERCHANT:
        merchant_id = user.merchant_id
    await storage.add_audit(now_ms(), actor if actor is not None else (user.username if user else ""),
                            actor_role if actor_role is not None else (user.position if user else ""),
                            merchant_id, action, subject[:200], detail[:500])


async def audit(request: web.Request, action: str, subject: str = "", detail: str = "", *,
                merchant_id: str | None = None) -> None:
    """Record that the logged-in user did `action` to `subject`. Never pass a password or a whole code."""
    await record(request.app[STORAGE], request.get(CONSOLE_USER), action, subject, detail, merchant_id=merchant_id)


def _recorded(request: web.Request) -> bool:
    path = request.path
    if request.method != "POST" or not path.startswith("/console/"):
        return False
    if path.startswith("/console/orders/") and "/refund" in path:
        return False                        # orders.refund writes its own, with the amount
    return not any(path == prefix or path.startswith(prefix + "/") for prefix in _NOT_RECORDED)


async def _after_form(request: web.Request, status: int) -> None:
    storage = request.app[STORAGE]
    if request.method == "POST" and request.path == "/console/login":
        form = await request.post()
        if status == 303:
            # A successful login: the name is a real user's (a refused one may be a mistyped password).
            row = await storage.console_user_by_name(str(form.get("username", "")).strip())
            if row is not None:
                user = ConsoleUser(id=row.id, username=row.username, role=row.role, merchant_id=row.merchant_id,
                                   staff_role=row.staff_role)
                await record(storage, user, "login")
        elif status == 401:
            await record(storage, None, "login_refused")
        return
    if status != 303 or not _recorded(request):
        return
    info = request.match_info
    route = info.route.resource.canonical if info.route.resource is not None else request.path
    subject = " ".join(f"{name}={value}" for name, value in info.items())
    merchant_id = info.get("merchant_id")
    if merchant_id is None and "device_id" in info:
        device = await storage.get_device(info["device_id"])
        merchant_id = device.merchant_id if device is not None else None
    await record(storage, request.get(CONSOLE_USER), route, subject, merchant_id=merchant_id)


@web.middleware
async def audit_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            await _after_form(request, e.status)
        raise
    await _after_form(request, response.status)
    return response


@login_required()
async def audit_page(request: web.Request) -> web.StreamResponse:
    """Operators: every entry; an owner: its merchant's (users.role_middleware lets no one else in)."""
    user = logged_in_user(request)
    scope = None if user.is_operator else user.merchant_id
    entries = await request.app[STORAGE].audit_entries(scope, limit=_PAGE_LIMIT)
    return render(request, "audit.html", {"entries": entries, "limit": _PAGE_LIMIT})
