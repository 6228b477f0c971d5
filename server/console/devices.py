"""Console: devices. Inventory with live status, detail with lifecycle history, inspections, activation
codes, and the anti-switching flags with their evidence (docs/console.md, "Devices").

Operators do everything; a merchant user sees only the devices assigned to or installed at its own
stores, read-only: another merchant's device (or one in stock) answers 404, like one that does not exist.
Every lifecycle action goes through a confirmation page (the first POST shows what will happen, the
second, with `confirmed`, does it) and through server/devices.py, the same code as the CLI and tests.
"""
from __future__ import annotations

import datetime
import functools
import re
from typing import Any

from aiohttp import web

from .. import days, devices, params
from ..clock import now_ms
from ..keys import SETTINGS, STORAGE
from ..refusals import N_
from ..storage.records import LIFECYCLE_DECOMMISSIONED, LIFECYCLE_IN_STOCK
from . import display, i18n
from .auth import logged_in_user, login_required, merchant_scope, redirect, render
from .orders import check_filters

# action -> (button text, what the confirmation page says will happen), English msgids translated where shown
ACTIONS = {
    "assign": (N_("Assign"), N_("assign device %(id)s to merchant %(merchant_id)s, store “%(store_name)s”")),
    "install": (N_("Mark installed"), N_("mark device %(id)s installed at “%(store)s”: it may take payments there, "
                                         "and its next report binds the store's place")),
    "swap": (N_("Swap"), N_("replace device %(id)s at “%(store)s” with %(replacement)s; %(id)s goes %(old_to_text)s "
                            "and its key stops working")),
    "return": (N_("Return to stock"), N_("take device %(id)s back to stock: its key stops working and it leaves "
                                         "“%(store)s”")),
    "decommission": (N_("Decommission"), N_("decommission device %(id)s for good: every request it makes is "
                                            "refused")),
    "clear-flag": (N_("Clear the flag"), N_("clear the “%(flag)s” flag of device %(id)s: it may work "
                                            "again%(rekey_text)s")),
}
# server/devices.py words its refusals as English sentences: the page shows them in the reader's language,
# matched by their wording (a lifecycle named in one by its name), any other as it is.
_DEVICE_REFUSALS = tuple((re.compile(pattern + r"\Z"), msgid) for pattern, msgid in (
    (r"no device (?P<id>\S+)", N_("There is no device %(id)s.")),
    (r"no merchant (?P<merchant>\S+)", N_("There is no merchant %(merchant)s.")),
    (r"merchant (?P<merchant>\S+) is closed", N_("Merchant %(merchant)s is closed.")),
    (r"a store name is 1-(?P<max>[0-9]+) characters, none a control character",
     N_("A store name is 1 to %(max)s characters, none a control character.")),
    (r"device (?P<id>\S+) is (?P<lifecycle>\w+): only a device in stock can be assigned",
     N_("Device %(id)s is %(lifecycle)s: only a device in stock can be assigned.")),
    (r"device (?P<id>\S+) is (?P<lifecycle>\w+): only an assigned device can be installed",
     N_("Device %(id)s is %(lifecycle)s: only an assigned device can be installed.")),
    (r"device (?P<id>\S+) is (?P<lifecycle>\w+): it cannot go back to stock",
     N_("Device %(id)s is %(lifecycle)s: it cannot go back to stock.")),
    (r"device (?P<id>\S+) is (?P<lifecycle>\w+): only an installed device can be swapped",
     N_("Device %(id)s is %(lifecycle)s: only an installed device can be swapped.")),
    (r"device (?P<id>\S+) is (?P<lifecycle>\w+): the replacement must be in stock",
     N_("Device %(id)s is %(lifecycle)s: the replacement must be in stock.")),
    (r"the old device goes back to stock or is decommissioned",
     N_("The old device goes back to stock or is decommissioned.")),
    (r"a device cannot replace itself", N_("A device cannot replace itself.")),
    (r"device (?P<id>\S+) or (?P<other>\S+) changed meanwhile: look again and retry",
     N_("Device %(id)s or %(other)s changed meanwhile: look again and retry.")),
    (r"device (?P<id>\S+) is decommissioned already", N_("Device %(id)s is decommissioned already.")),
    (r"device (?P<id>\S+) is disabled", N_("Device %(id)s is disabled.")),
    (r"device (?P<id>\S+) is in stock: assign it to a store first",
     N_("Device %(id)s is in stock: assign it to a store first.")),
    (r"device (?P<id>\S+) is not flagged", N_("Device %(id)s is not flagged.")),
    (r"device (?P<id>\S+) changed meanwhile: look again", N_("Device %(id)s changed meanwhile: look again.")),
    (r"the inspection date is YYYY-MM-DD", N_("The inspection date is written like 2026-11-21.")),
    (r"the inspector's name is 1-64 characters, none a control character",
     N_("The inspector's name is 1 to 64 characters, none a control character.")),
    (r"the result is one of .*", N_("Choose a result from the list.")),
    (r"the notes hold a control character", N_("The notes hold a control character.")),
))


def refusal_text(request: web.Request, sentence: str) -> str:
    """A refusal of server/devices/lifecycle.py in the reader's language (see _DEVICE_REFUSALS)."""
    _ = functools.partial(i18n.gettext, request)
    for pattern, msgid in _DEVICE_REFUSALS:
        match = pattern.match(sentence)
        if match:
            values = {key: display.label(_, "lifecycle", value) if key == "lifecycle" else value
                      for key, value in match.groupdict().items()}
            return _(msgid) % values
    return i18n.refusal_text(request, sentence)


# ?done= of our own redirects -> what the page says was done
DONE = {"assign": N_("assigned"), "install": N_("marked installed"), "swap": N_("swapped"),
        "return": N_("returned to stock"), "decommission": N_("decommissioned"), "clear-flag": N_("flag cleared"),
        "inspection": N_("inspection recorded"), "swapped-in": N_("this device took the place of %(other)s")}


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
    user = logged_in_user(request)
    storage = request.app[STORAGE]
    scope = merchant_scope(user)
    query = request.query
    form = {name: query.get(name, "").strip() for name in ("lifecycle", "merchant", "store", "online", "flagged")}
    error = None
    try:
        check_filters(form)
    except params.InvalidParameter as e:
        # Listed without them then: a page that says what was wrong, not a page of nothing.
        error, form["merchant"], form["store"] = i18n.refusal_text(request, e.message), "", ""
    if form["lifecycle"] and form["lifecycle"] not in devices.LIFECYCLES:
        error, form["lifecycle"] = i18n.gettext(request, "Status: choose one from the list"), ""
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
                                          merchant_scope(logged_in_user(request)))
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
    operator = merchant_scope(logged_in_user(request)) is None
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
        "results": devices.INSPECTION_RESULTS, "today": datetime.datetime.now(days.CHINA).date().isoformat(),
        "message": message or _done(request), "error": error}, status=status)


def _done(request: web.Request) -> str | None:
    """What the last action did (?done=, from our own redirects: an action, with `other` a device id)."""
    done, other = request.query.get("done"), request.query.get("other", "")
    if done not in DONE or not params.is_text(other, 64):
        return None
    return i18n.gettext(request, DONE[done]) % {"other": other} if "%(" in DONE[done] else i18n.gettext(request, DONE[done])


@login_required("operator")
async def lifecycle_action(request: web.Request) -> web.StreamResponse:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    device = await _visible_or_404(request)
    form = {k: str(v).strip() for k, v in (await request.post()).items() if k != "csrf_token"}
    actor = logged_in_user(request).username
    storage = request.app[STORAGE]
    facts = {"id": device.id, "store": device.store_name, "flag": device.flag or "",
             "merchant_id": form.get("merchant_id", ""), "store_name": form.get("store_name", ""),
             "replacement": form.get("replacement", ""),
             "old_to_text": i18n.gettext(request, "out of service for good (decommissioned)")
             if form.get("old_to") == "decommissioned" else i18n.gettext(request, "back to stock"),
             "rekey_text": i18n.gettext(request, "; its key is revoked, so the genuine device must be activated "
                                                 "again with a new code") if form.get("rekey") else ""}
    if device.flag:
        facts["flag"] = display.label(functools.partial(i18n.gettext, request), "flag", device.flag)
    if form.get("confirmed") != "yes":
        button, what = ACTIONS[action]
        return render(request, "devices_confirm.html", {
            "device": device, "action": action, "button": i18n.gettext(request, button),
            "what": i18n.gettext(request, what) % facts,
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
            return redirect(f"/console/devices/{form['replacement']}?done=swapped-in&other={device.id}")
        elif action == "return":
            await devices.return_to_stock(storage, device.id, actor=actor, detail=form.get("note") or None)
        elif action == "decommission":
            await devices.decommission(storage, device.id, actor=actor, detail=form.get("note") or None)
        elif action == "clear-flag":
            await devices.clear_flag(storage, device.id, actor=actor, note=form.get("note") or None,
                                     rekey=bool(form.get("rekey")))
    except devices.LifecycleRefused as e:
        return await _detail(request, error=refusal_text(request, str(e)), status=409)
    return redirect(f"/console/devices/{device.id}?done={action}")


@login_required("operator")
async def add_inspection(request: web.Request) -> web.StreamResponse:
    device = await _visible_or_404(request)
    form = await request.post()
    try:
        await devices.add_inspection(
            request.app[STORAGE], device.id, inspected_on=str(form.get("inspected_on", "")),
            inspector=str(form.get("inspector", "")), result=str(form.get("result", "")),
            notes=str(form.get("notes", "")), actor=logged_in_user(request).username)
    except devices.LifecycleRefused as e:
        return await _detail(request, error=refusal_text(request, str(e)), status=400)
    return redirect(f"/console/devices/{device.id}?done=inspection")


@login_required("operator")
async def activation_code(request: web.Request) -> web.StreamResponse:
    """A new one-time code, shown on this page once: only its hash is stored."""
    device = await _visible_or_404(request)
    ttl_s = request.app[SETTINGS].device_api.activation_code_ttl_s
    try:
        code = await devices.issue_activation_code(request.app[STORAGE], device.id, ttl_s,
                                                    actor=logged_in_user(request).username)
    except ValueError as e:
        return await _detail(request, error=refusal_text(request, str(e)), status=409)
    return render(request, "devices_code.html", {"device": device, "code": code,
                                                 "expires_at": now_ms() + ttl_s * 1000})
