"""Console: devices. Inventory with live status, detail with lifecycle history, inspections, activation
codes, and the anti-switching flags with their evidence (docs/console.md, "Devices").

Operators do everything; a merchant user sees only the devices assigned to or installed at its own
stores, read-only: another merchant's device (or one in stock) answers 404, like one that does not exist.
Every lifecycle action goes through a confirmation page (the first POST shows what will happen, the
second, with `confirmed`, does it) and through server/devices.py, the same code as the CLI and tests.
"""
from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web

from .. import devices, params
from ..clock import now_ms
from ..keys import CONSOLE_USER, SETTINGS, STORAGE
from ..storage.records import LIFECYCLE_DECOMMISSIONED, LIFECYCLE_IN_STOCK
from .auth import login_required, merchant_scope, redirect, render
from .orders import check_filters

CHINA = datetime.timezone(datetime.timedelta(hours=8))
# action -> (button text, what the confirmation page says will happen)
ACTIONS = {
    "assign": ("Assign", "assign device {id} to merchant {merchant_id}, store “{store_name}”"),
    "install": ("Mark installed", "mark device {id} installed at “{store}”: it may take payments there, and its "
                                  "next report binds the store's place"),
    "swap": ("Swap", "replace device {id} at “{store}” with {replacement}; {id} goes {old_to_text} and its key "
                     "stops working"),
    "return": ("Return to stock", "take device {id} back to stock: its key stops working and it leaves "
                                  "“{store}”"),
    "decommission": ("Decommission", "decommission device {id} for good: every request it makes is refused"),
    "clear-flag": ("Clear the flag", "clear the “{flag}” flag of device {id}: it may work again{rekey_text}"),
}


def setup(app: web.Application) -> None:
    """Add the device pages under /console/devices."""
    app.router.add_get("/console/devices", device_list)
    app.router.add_get("/console/devices/{device_id}", device_detail)
    app.router.add_post("/console/devices/{device_id}/inspections", add_inspection)
    app.router.add_post("/console/devices/{device_id}/activation-code", activation_code)
    app.router.add_post("/console/devices/{device_id}/{action}", lifecycle_action)


def _online_window_s(request: web.Request) -> int:
    # The same window monitoring counts devices offline by: one idea of "online" in the whole console.
    return request.app[SETTINGS].alerts.offline_after_s


@login_required()
async def device_list(request: web.Request) -> web.StreamResponse:
    user = request[CONSOLE_USER]
    storage = request.app[STORAGE]
    scope = merchant_scope(user)
    query = request.query
    form = {name: query.get(name, "").strip() for name in ("lifecycle", "merchant", "store", "online", "flagged")}
    error = None
    try:
        check_filters(form)
    except params.InvalidParameter as e:
        # Listed without them then: a page that says what was wrong, not a page of nothing.
        error, form["merchant"], form["store"] = e.message, "", ""
    if form["lifecycle"] and form["lifecycle"] not in devices.LIFECYCLES:
        error, form["lifecycle"] = "Status: one of " + ", ".join(devices.LIFECYCLES), ""
    if scope is not None and form["lifecycle"] in (LIFECYCLE_IN_STOCK, LIFECYCLE_DECOMMISSIONED):
        form["lifecycle"] = ""
    rows = await devices.list_devices(
        storage, visible_to=scope, merchant_id=form["merchant"] if scope is None else None,
        lifecycle=form["lifecycle"] or None, store=form["store"] or None,
        online={"yes": True, "no": False}.get(form["online"]), flagged=True if form["flagged"] == "yes" else None,
        online_window_s=_online_window_s(request))
    return render(request, "devices.html", {
        "rows": rows, "form": form, "error": error, "lifecycles": devices.LIFECYCLES,
        "merchants": await devices.merchants(storage) if scope is None else [],
        "stores": sorted({store for _, store in await devices.stores(storage, scope)}),
        "online_window_s": _online_window_s(request)}, status=400 if error else 200)


def _device_id(request: web.Request) -> str:
    return params.device_id(request.match_info["device_id"], "device id")


async def _visible_or_404(request: web.Request) -> Any:
    device = await devices.visible_device(request.app[STORAGE], _device_id(request),
                                          merchant_scope(request[CONSOLE_USER]))
    if device is None:
        raise web.HTTPNotFound()
    return device


@login_required()
async def device_detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request)


async def _detail(request: web.Request, *, message: str | None = None, error: str | None = None,
                  status: int = 200) -> web.StreamResponse:
    await _visible_or_404(request)
    storage = request.app[STORAGE]
    operator = merchant_scope(request[CONSOLE_USER]) is None
    [device] = await devices.list_devices(storage, device_id=_device_id(request),
                                          online_window_s=_online_window_s(request))
    merchant = await storage.get_merchant(device.merchant_id)
    spares = [row for row in await devices.list_devices(storage, lifecycle=LIFECYCLE_IN_STOCK,
                                                         online_window_s=_online_window_s(request))
              if row.id != device.id] if operator else []
    flags = await devices.flags(storage, device.id)
    return render(request, "devices_detail.html", {
        "device": device, "merchant": merchant, "operator": operator,
        "online": device.online,
        "online_window_s": _online_window_s(request),
        "open_flag": next((f for f in flags if f.cleared_at is None), None), "flags": flags,
        "events": await devices.history(storage, device.id),
        "inspections": await devices.inspections(storage, device.id),
        "places": await devices.places(storage, device.id) if operator else [],
        "spares": spares, "merchants": await devices.merchants(storage) if operator else [],
        "results": devices.INSPECTION_RESULTS, "today": datetime.datetime.now(CHINA).date().isoformat(),
        "message": message or _done(request), "error": error}, status=status)


def _done(request: web.Request) -> str | None:
    """What the last action did (?done=, from our own redirects), if it is text the page can show."""
    done = request.query.get("done")
    return done if params.is_text(done, 200) else None


@login_required("operator")
async def lifecycle_action(request: web.Request) -> web.StreamResponse:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    device = await _visible_or_404(request)
    form = {k: str(v).strip() for k, v in (await request.post()).items() if k != "csrf_token"}
    actor = request[CONSOLE_USER].username
    storage = request.app[STORAGE]
    facts = {"id": device.id, "store": device.store_name, "flag": device.flag or "",
             "merchant_id": form.get("merchant_id", ""), "store_name": form.get("store_name", ""),
             "replacement": form.get("replacement", ""),
             "old_to_text": "out of service for good (decommissioned)" if form.get("old_to") == "decommissioned"
             else "back to stock",
             "rekey_text": "; its key is revoked, so the genuine device must be activated again with a new code"
             if form.get("rekey") else ""}
    if form.get("confirmed") != "yes":
        button, what = ACTIONS[action]
        return render(request, "devices_confirm.html", {
            "device": device, "action": action, "button": button, "what": what.format(**facts),
            "fields": {k: v for k, v in form.items() if k != "confirmed"}})
    try:
        if action == "assign":
            await devices.assign(storage, device.id, form.get("merchant_id", ""), form.get("store_name", ""),
                                 actor=actor)
        elif action == "install":
            await devices.install(storage, device.id, actor=actor)
        elif action == "swap":
            await devices.swap(storage, device.id, form.get("replacement", ""), actor=actor,
                               old_to=form.get("old_to", LIFECYCLE_IN_STOCK), detail=form.get("note") or None)
            # The replacement's page next: it has the store now, and needs an activation code.
            return redirect(f"/console/devices/{form['replacement']}?done=swapped+in+for+{device.id}")
        elif action == "return":
            await devices.return_to_stock(storage, device.id, actor=actor, detail=form.get("note") or None)
        elif action == "decommission":
            await devices.decommission(storage, device.id, actor=actor, detail=form.get("note") or None)
        elif action == "clear-flag":
            await devices.clear_flag(storage, device.id, actor=actor, note=form.get("note") or None,
                                     rekey=bool(form.get("rekey")))
    except devices.LifecycleRefused as e:
        return await _detail(request, error=str(e), status=409)
    return redirect(f"/console/devices/{device.id}?done={action.replace('-', '+')}+done")


@login_required("operator")
async def add_inspection(request: web.Request) -> web.StreamResponse:
    device = await _visible_or_404(request)
    form = await request.post()
    try:
        await devices.add_inspection(
            request.app[STORAGE], device.id, inspected_on=str(form.get("inspected_on", "")),
            inspector=str(form.get("inspector", "")), result=str(form.get("result", "")),
            notes=str(form.get("notes", "")), actor=request[CONSOLE_USER].username)
    except devices.LifecycleRefused as e:
        return await _detail(request, error=str(e), status=400)
    return redirect(f"/console/devices/{device.id}?done=inspection+recorded")


@login_required("operator")
async def activation_code(request: web.Request) -> web.StreamResponse:
    """A new one-time code, shown on this page once: only its hash is stored."""
    device = await _visible_or_404(request)
    ttl_s = request.app[SETTINGS].device_api.activation_code_ttl_s
    try:
        code = await devices.issue_activation_code(request.app[STORAGE], device.id, ttl_s,
                                                    actor=request[CONSOLE_USER].username)
    except ValueError as e:
        return await _detail(request, error=str(e), status=409)
    return render(request, "devices_code.html", {"device": device, "code": code,
                                                 "expires_at": now_ms() + ttl_s * 1000})
