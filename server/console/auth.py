"""Console users, passwords, sessions and CSRF.

Passwords: scrypt with a salt per user, compared in constant time. Sessions: a random token in an
HttpOnly, SameSite=Lax cookie; the database keeps its SHA-256, the user and a CSRF token, so every
server process knows every session and logout ends it everywhere. Every unsafe request under /console/
must carry the session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`); the login form,
which comes before any session, carries a token that must match a cookie (double submit).

Handlers:

    @login_required()                 # any user; login_required("operator") for operators only
    async def page(request):
        user = logged_in_user(request)          # a ConsoleUser
        rows = ... merchant_scope(user) ...       # None: every merchant; else only that merchant's
        return render(request, "page.html", {"rows": rows})
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from ..clock import now_ms
from ..keys import CONSOLE_ALERTS, CONSOLE_CSRF_TOKEN, CONSOLE_USER, SETTINGS, STORAGE
from ..refusals import N_
from ..storage import Storage
from . import queries

log = logging.getLogger(__name__)

OPERATOR = queries.OPERATOR
MERCHANT = queries.MERCHANT
OWNER, MANAGER, CASHIER = queries.OWNER, queries.MANAGER, queries.CASHIER

SESSION_COOKIE = "scanpay_console"
LOGIN_CSRF_COOKIE = "scanpay_console_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# scrypt cost: 16 MiB and ~50 ms per hash on a server core; stored with the hash, so it can grow later.
_SCRYPT_N = 2 ** 14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 10

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ConsoleUser:
    id: str
    username: str
    role: str                  # "operator" (everything) or "merchant" (its own stores, devices, orders)
    merchant_id: str | None    # set exactly when role is "merchant"
    staff_role: str | None = None   # a merchant user's place: "owner", "manager" or "cashier"

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    @property
    def position(self) -> str:
        """operator, owner, manager or cashier: what the user may do (may_use)."""
        return OPERATOR if self.role == OPERATOR else self.staff_role or OWNER

    @property
    def own_merchant_id(self) -> str:
        """A merchant user's merchant; asked of a user without one (an operator), a clear error."""
        if self.merchant_id is None:
            raise LookupError(f"console user {self.username} ({self.role}) belongs to no merchant")
        return self.merchant_id


def merchant_scope(user: ConsoleUser) -> str | None:
    """The merchant whose data the user may see; None for an operator (every merchant)."""
    return None if user.role == OPERATOR else user.merchant_id


# what each role may use (docs/console.md, "Users and roles"): checked on the server for every request
# (users.role_middleware) and by the menu (base.html), one table for both

# Pages only some may open, by path prefix: who may.
_RESTRICTED = {
    "/console/users": (OPERATOR, OWNER),
    "/console/audit": (OPERATOR, OWNER),
    "/console/refund-password": (OWNER,),
}
# A cashier's whole console: the cashier page and today's orders.
# ... and the payments coming in live on the cashier page (/console/home/live: today's, as the orders list)
_CASHIER_PATHS = ("/console/cashier", "/console/orders", "/console/lang", "/console/logout", "/console/home/live")


def may_use(user: ConsoleUser, path: str) -> bool:
    """Whether the user's role may open `path` at all (the pages still scope what they show)."""
    for prefix, positions in _RESTRICTED.items():
        if path == prefix or path.startswith(prefix + "/"):
            return user.position in positions
    if user.position != CASHIER:
        return True
    if path == "/console/orders" or path.startswith("/console/cashier/") or path in _CASHIER_PATHS:
        return True
    # An order's page (not the summary, exports, sync or refund).
    parts = path.split("/")
    return len(parts) == 4 and path.startswith("/console/orders/") and parts[3] not in ("summary", "export", "")


# passwords

def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            maxmem=_SCRYPT_MAXMEM, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r),
                                p=int(p), maxmem=_SCRYPT_MAXMEM, dklen=len(digest_hex) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


# A hash nobody's password matches: unknown user names cost the same scrypt as known ones.
_NOBODY = hash_password(secrets.token_hex(16))


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a console password has at least {MIN_PASSWORD_LENGTH} characters")


# logging in and out

class LoginRefused(Exception):
    """Wrong user name or password, a disabled user, or a locked-out one; the message is for the page."""


# One answer for every refusal: a different one for a locked or disabled user would tell a guesser which
# user names exist. It names the lock so that a person refused with the right password knows to wait.
REFUSED = N_("wrong user name or password (after too many wrong tries a user is locked for a while)")


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


async def log_in(storage: Storage, settings: Any, username: str, password: str) -> tuple[str, ConsoleUser]:
    """Check the password; a new session's cookie token and its user. LoginRefused otherwise.

    Every attempt is counted before its password is checked (storage.reserve_login_attempt), so the lock
    holds against many guesses sent at once; an unknown, disabled or locked user costs the same queries
    and the same scrypt (against a hash nobody matches) as a wrong password.
    """
    now = now_ms()
    row = await storage.console_user_by_name(username)
    reserved = await storage.reserve_login_attempt(username, now, settings.max_failed_logins,
                                                   now + settings.lockout_s * 1000)
    checked = row if reserved and row is not None else None
    # Hash in a thread: scrypt takes tens of milliseconds, the event loop serves others meanwhile.
    good = await asyncio.to_thread(verify_password, password, checked.password_hash if checked else _NOBODY)
    if checked is None or not good:
        # Never the typed name itself: it may be a password typed into the wrong field.
        if row is None:
            log.info("console login refused: unknown user name")
        else:
            why = "wrong password" if checked else "disabled" if row.disabled else "locked"
            log.info("console login refused: %s (%s)", row.username, why)
        raise LoginRefused(REFUSED)
    await storage.login_succeeded(checked.id, now)
    token = secrets.token_urlsafe(32)
    await storage.add_console_session(_session_id(token), checked.id, secrets.token_urlsafe(32), now,
                                      now + settings.session_ttl_s * 1000)
    log.info("console login: %s (%s)", checked.username, checked.role)
    return token, ConsoleUser(id=checked.id, username=checked.username, role=checked.role,
                              merchant_id=checked.merchant_id, staff_role=checked.staff_role)


async def log_out(request: web.Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[STORAGE].delete_console_session(_session_id(token))


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    settings = request.app[SETTINGS].console
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_ttl_s, path="/console",
                        httponly=True, samesite="Lax", secure=settings.secure_cookies)


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/console")


def login_csrf_token(request: web.Request, response_cookies: dict[str, str]) -> str:
    """The login form's token: the cookie's, or a new one the caller sets as the cookie."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not token or len(token) < 32:
        token = secrets.token_urlsafe(32)
        response_cookies[LOGIN_CSRF_COOKIE] = token
    return token


def set_login_csrf_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path="/console/login", httponly=True, samesite="Lax",
                        secure=request.app[SETTINGS].console.secure_cookies)


# the merchant's refund password

class RefundPasswordRefused(Exception):
    """No refund password set, a wrong one, or refunds locked; the message (N_) is for the page."""


async def check_refund_password(storage: Storage, settings: Any, merchant_id: str, password: str) -> None:
    """RefundPasswordRefused unless `password` is the merchant's refund password. Every try is counted before
    it is checked, like a login: after [console] max_failed_logins wrong ones in a row, refunds of the merchant
    are refused for lockout_s, even with the right password."""
    now = now_ms()
    row = await storage.get_refund_password(merchant_id)
    if row is None:
        raise RefundPasswordRefused(N_("No refund password is set for this merchant: the owner sets it first "
                                       "(Refund password)."))
    reserved = await storage.reserve_refund_try(merchant_id, now, settings.max_failed_logins,
                                                now + settings.lockout_s * 1000)
    if not reserved:
        raise RefundPasswordRefused(N_("Refunds are locked for a while after too many wrong refund passwords. "
                                       "Try again later."))
    if not await asyncio.to_thread(verify_password, password, row["password_hash"]):
        raise RefundPasswordRefused(N_("Wrong refund password (after too many wrong tries refunds are locked "
                                       "for a while)."))
    await storage.refund_try_succeeded(merchant_id)


# per request: who is it, and is an unsafe request really from our pages

def _remember(request: web.Request, user: ConsoleUser | None, csrf_token: str | None) -> None:
    request[CONSOLE_USER] = user
    request[CONSOLE_CSRF_TOKEN] = csrf_token


async def load_session(request: web.Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    user, csrf_token = None, None
    if token and len(token) <= 128 and token.isascii():
        row = await request.app[STORAGE].console_session(_session_id(token), now_ms())
        if row is not None:
            user = ConsoleUser(id=row["user_id"], username=row["username"], role=row["role"],
                               merchant_id=row["merchant_id"], staff_role=row["staff_role"])
            csrf_token = row["csrf_token"]
    _remember(request, user, csrf_token)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_form(request: web.Request) -> Any:
    """The posted form, parsed once: aiohttp keeps it, so a handler's `request.post()` gets it back. 400 for
    a form that cannot be read as text (an unknown or wrong charset, a broken multipart body, a field name or
    value that is not valid Unicode): a page that echoes a field must never fail to encode it."""
    try:
        form = await request.post()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        raise web.HTTPBadRequest(reason=N_("The form could not be read.")) from None
    for name, value in form.items():
        try:
            name.encode("utf-8")
            if isinstance(value, str):
                value.encode("utf-8")
        except UnicodeEncodeError:
            raise web.HTTPBadRequest(reason=N_("The form holds text that is not valid Unicode.")) from None
    return form


async def csrf_ok(request: web.Request) -> bool:
    """An unsafe request carries the token of its session (or, for the login form, of its cookie). A form
    is read here whichever way the token came, so every handler gets a form that was checked."""
    sent = request.headers.get(CSRF_HEADER)
    if request.content_type in _FORM_TYPES:
        form = await read_form(request)
        if sent is None:
            sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not sent:
        return False
    if request.path == "/console/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    else:
        expected = request.get(CONSOLE_CSRF_TOKEN)
    # A header's bytes that are not UTF-8 arrive as surrogates: no token of ours, and not encodable.
    return bool(expected) and sent.isascii() and hmac.compare_digest(sent.encode(), expected.encode())


def logged_in_user(request: web.Request) -> ConsoleUser:
    """The request's logged-in user; nobody logged in: to the login page (back here after a GET)."""
    user = request.get(CONSOLE_USER)
    if user is None:
        back = request.path_qs if request.method == "GET" else "/console/"
        raise web.HTTPSeeOther(f"/console/login?next={quote(back, safe='')}")
    return user


def login_required(role: str | None = None) -> Callable[[Handler], Handler]:
    """Only logged-in users (of `role`, when given): else to the login page, or 403 for the wrong role."""
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            user = logged_in_user(request)
            if role is not None and user.role != role:
                raise web.HTTPForbidden(reason=N_("This page is for operators only."))
            return await handler(request)
        return wrapped
    return decorate


def render(request: web.Request, template: str, context: dict[str, Any] | None = None, *,
           status: int = 200) -> web.Response:
    """The template with `user` and `csrf_token` added (every form needs the token)."""
    full = {"user": request.get(CONSOLE_USER), "csrf_token": request.get(CONSOLE_CSRF_TOKEN) or "",
            "console_alerts": request.get(CONSOLE_ALERTS, []),
            "path": request.path, **(context or {})}
    return aiohttp_jinja2.render_template(template, request, full, status=status)


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST, the browser GETs the next page (a reload does not post again)."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(target: str | None) -> str:
    """Where to go after login: only a page of the console (never another site)."""
    # Printable ASCII only (our own links are percent-encoded): a CR/LF would split the Location header.
    if target and target.startswith("/console/") and not target.startswith("/console/login") \
            and all("!" <= c <= "~" for c in target) \
            and not any(part in target for part in ("\\", "//", "/..", "/./")):
        return target
    return "/console/orders"
