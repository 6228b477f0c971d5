"""Console: the cashier page for the compatible scan box, the one that acts as a USB keyboard (docs/console.md).

The cashier picks the store's device, types the amount in yuan, and the box types the customer's payment
code into the focused code field, ending with Enter. The page (static/cashier.js) then pays through
POST /console/cashier/pay, which runs the device API's own pay path (server/payments.py: the same checks,
limits, routing and idempotency) on behalf of that device, and long-polls GET /console/cashier/order until
the order is final. The page makes a new order_no for each scan and sends the same one again when it
retries, so a retry never charges twice. What the page shows and says is the devices' own words, worked out
here, not in the script: the one table every device speaks from, firmware/core/texts.py (imported as
`core.texts`, plain strings and the rules that join them; docs/firmware.md, "Spoken texts"). The server takes
nothing else from the firmware, and nothing from the host agent (tests/test_architecture.py).

    GET  /console/cashier[?device=<id>]     the page
    POST /console/cashier/amount            {device_id, amount}: the amount in fen, or why not
    POST /console/cashier/pay               {device_id, amount, auth_code, order_no}: pay
    GET  /console/cashier/order?device_id=&order_no=&wait=   the order, once final or after `wait` s
                                            (400 invalid_parameter for a part that cannot be right)
"""
from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from core import texts
from core.amount import format_fen

from .. import device_auth, device_messages, params
from ..clock import now_ms
from ..errors import ApiError
from ..keys import PAYMENTS, SETTINGS, STORAGE
from ..merchant_channels import ChannelNotOpen
from ..payments import DailyLimitExceeded, MerchantNotActive, OrderConflict, OrderNotFound, UnsupportedCode
from ..storage import PAYING, Device, Order
from ..refusals import N_, Refused
from .. import days
from . import display, i18n, queries
from .auth import ConsoleUser, logged_in_user, login_required, merchant_scope, render
from .orders import parse_yuan

log = logging.getLogger(__name__)

_MAX_BODY = 4096
DEFAULT_WAIT_S = 20
_WAIT_DIGITS = 4


class AmountRefused(Refused):
    """The typed amount is not one the device API would take; the message says why, for the cashier
    (`text(gettext)`: in the reader's language)."""

    def text(self, gettext) -> str:
        values = {key: gettext(value) if key == "why" else value for key, value in self.values.items()}
        return gettext(self.template) % values if values else gettext(self.template)


def amount_fen(text: str, *, min_fen: int, max_fen: int) -> int:
    """Yuan as typed ("12.5", "12.50") in integer fen, exactly, within the device API's limits."""
    text = (text or "").strip()
    if not text:
        raise AmountRefused(N_("Type the amount first"))
    if text.startswith("-"):
        raise AmountRefused(N_("The amount must be more than zero"))
    try:
        fen = parse_yuan(text)
    except Refused as e:
        raise AmountRefused(N_("%(why)s (no fractions of a fen)"), why=e.template) from None
    if fen <= 0:
        raise AmountRefused(N_("The amount must be more than zero"))
    if fen > max_fen:
        raise AmountRefused(N_("The amount is over the limit of %(amount)s per payment"), amount=display.money(max_fen))
    if fen < min_fen:
        raise AmountRefused(N_("The amount is below the minimum of %(amount)s per payment"),
                            amount=display.money(min_fen))
    return fen


def _yuan(fen: int) -> str:
    return format_fen(fen)


def order_view(order: Order, gettext=i18n.english) -> dict[str, Any]:
    """What the page shows and says about an order (`gettext`: the reader's language for what it shows)."""
    view = {"order_no": order.order_no, "status": order.status, "channel": order.channel,
            "channel_name": display.label(gettext, "channel", order.channel) if order.channel else "",
            "amount_fen": order.amount_fen, "yuan": _yuan(order.amount_fen), "money": display.money(order.amount_fen),
            "reason": order.reason}
    if order.status == PAYING:
        spoken = texts.SAY_PAYER_PAYING
    else:
        spoken = texts.result_text({"status": order.status, "channel": order.channel,
                                    "amount_fen": order.amount_fen, "reason": order.reason})
    return {"order": view, "final": order.status != PAYING, "spoken": spoken}


def _gettext(request: web.Request):
    return lambda message: i18n.gettext(request, message)


def _refusal(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message},
                              "spoken": texts.error_text(code)}, status=status)


async def cashier_devices(storage, user: ConsoleUser) -> list[dict[str, Any]]:
    """The active devices the user may take payments on: its merchant's, or every merchant's for operators."""
    return await storage.cashier_devices(merchant_scope(user))


async def _device(request: web.Request, user: ConsoleUser, device_id: Any) -> Device | None:
    """The device, if the user may pay on it (another merchant's answers like a missing one)."""
    if not params.fits(device_id, device_auth.DEVICE_ID):     # nor does an id no device can have
        return None
    device = await request.app[STORAGE].get_device(device_id)
    scope = merchant_scope(user)
    if device is None or (scope is not None and device.merchant_id != scope):
        return None
    return device


async def _json(request: web.Request) -> dict[str, Any] | None:
    if request.content_type != "application/json" or (request.content_length or 0) > _MAX_BODY:
        return None
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):        # not JSON, or arrays nested thousands deep
        return None
    return body if isinstance(body, dict) else None


def _limits(request: web.Request) -> tuple[int, int]:
    api = request.app[SETTINGS].device_api
    return api.min_amount_fen, api.max_amount_fen


# the page

@login_required()
async def cashier_page(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    devices = await cashier_devices(request.app[STORAGE], user)
    chosen = request.query.get("device", "")
    if chosen:
        params.device_id(chosen, "device")
    else:
        chosen = devices[0]["id"] if len(devices) == 1 else ""
    min_fen, max_fen = _limits(request)
    # Payments on the shop's codes come in while the cashier waits: today's latest, live (home.live).
    settings = request.app[SETTINGS]
    today_ms = days.day_start_ms(days.today(settings, now_ms()), days.zone(settings))
    recent = await request.app[STORAGE].latest_payments(merchant_scope(user), limit=10, since_ms=today_ms)
    return render(request, "cashier.html", {"devices": devices, "chosen": chosen, "min_fen": min_fen,
                                            "max_fen": max_fen, "say_show_code": texts.SAY_SHOW_CODE,
                                            "say_amount_first": texts.SAY_AMOUNT_FIRST, "recent": recent,
                                            "live_after": max([r.order.finished_at or 0 for r in recent] + [now_ms()])})


# the amount, checked as soon as it is typed

@login_required()
async def check_amount(request: web.Request) -> web.StreamResponse:
    body = await _json(request)
    if body is None:
        return _refusal(400, "malformed_body", "send a JSON object")
    min_fen, max_fen = _limits(request)
    try:
        fen = amount_fen(str(body.get("amount", "")), min_fen=min_fen, max_fen=max_fen)
    except AmountRefused as e:
        return _refusal(400, "invalid_amount", e.text(_gettext(request)))
    return web.json_response({"amount_fen": fen, "yuan": _yuan(fen), "money": display.money(fen)})


# pay and follow

@login_required()
async def pay(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    body = await _json(request)
    if body is None:
        return _refusal(400, "malformed_body", "send a JSON object")
    device = await _device(request, user, body.get("device_id"))
    if device is None:
        return _refusal(404, "unknown_device", i18n.gettext(request, "Choose one of your devices"))
    min_fen, max_fen = _limits(request)
    try:
        fen = amount_fen(str(body.get("amount", "")), min_fen=min_fen, max_fen=max_fen)
    except AmountRefused as e:
        return _refusal(400, "invalid_amount", e.text(_gettext(request)))
    auth_code = str(body.get("auth_code", "")).strip()
    payments = request.app[PAYMENTS]
    try:
        device_auth.check_standing(device)      # the device API's refusals: decommissioned, flagged, ...
        message = device_messages.parse_pay({"order_no": body.get("order_no"), "amount_fen": fen,
                                             "auth_code": auth_code}, max_amount_fen=max_fen, min_amount_fen=min_fen)
        await payments.check_pay(device, message)
        log.info("cashier page: %s pays %d fen on %s as %s", user.username, fen, device.id, message.order_no)
        order = await payments.pay(device, message)
    except ApiError as e:
        return _refusal(e.status, e.code, e.message)
    except UnsupportedCode as e:
        return _refusal(400, "unsupported_code", str(e))
    except ChannelNotOpen as e:
        return _refusal(403, "channel_not_open", i18n.gettext(request, "This shop does not take %(channel)s payments")
                        % {"channel": display.label(_gettext(request), "channel", e.channel)})
    except MerchantNotActive as e:
        return _refusal(403, "merchant_not_active", str(e))
    except OrderConflict as e:
        return _refusal(409, "order_conflict", str(e))
    except DailyLimitExceeded as e:
        return _refusal(403, "daily_limit_exceeded", str(e))
    return web.json_response(order_view(order, _gettext(request)))


@login_required()
async def order(request: web.Request) -> web.StreamResponse:
    user = logged_in_user(request)
    query = request.query
    try:
        device_id = params.device_id(query.get("device_id", ""))
        order_no = params.text_part(query.get("order_no", ""), "order_no", device_messages.ORDER_NO,
                                    "1-32 of A-Z a-z 0-9 _ -")
        wait_s = min(params.digits(query.get("wait", "0"), "wait", max_len=_WAIT_DIGITS),
                      request.app[SETTINGS].device_api.max_wait_s)
    except params.InvalidParameter as e:
        return _refusal(e.status, e.code, e.message)
    device = await _device(request, user, device_id)
    if device is None:
        return _refusal(404, "order_not_found", i18n.gettext(request, "No such order on your devices"))
    try:
        found = await request.app[PAYMENTS].wait_for_change(device, order_no, wait_s)
    except OrderNotFound:
        return _refusal(404, "order_not_found", i18n.gettext(request, "No such order on your devices"))
    return web.json_response(order_view(found, _gettext(request)))


def setup(app: web.Application) -> None:
    app.router.add_get("/console/cashier", cashier_page)
    app.router.add_post("/console/cashier/amount", check_amount)
    app.router.add_post("/console/cashier/pay", pay)
    app.router.add_get("/console/cashier/order", order)
