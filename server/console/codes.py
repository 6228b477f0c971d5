"""Console: static codes (docs/console.md, "Merchants, stores, stock and codes"). Operators print batches of
empty codes and download each batch's PDF sheet of stickers, look a code up by its id as typed off the
sticker, and bind, unbind, replace or deregister it, each through a confirmation page. A merchant user sees
its own codes only (read-only; another's or an empty one answers 404) and may bind an empty sticker to one
of its own open stores. Through server/static_codes.py and server/code_sheet.py.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from .. import devices, params, static_codes, stores
from ..keys import PAYMENTS, SETTINGS, STORAGE
from ..refusals import N_
from ..storage import StaticCode, Storage, Store
from ..storage.records import CODE_EMPTY, LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED, STORE_OPEN
from . import i18n
from .auth import logged_in_user, login_required, merchant_scope, redirect, render
from .merchants import CODE_STATUS, END_REASON, confirm, done, form_text, is_operator, labels, refusal_text

DONE = {"unbind": N_("The code is empty again."), "replace": N_("The new code took over; the old one is deregistered."),
        "deregister": N_("The code is deregistered.")}
# action -> (button, what the confirmation page says will happen)
ACTIONS = {
    "unbind": (N_("Unbind"), N_("unbind code %(code)s from store %(store)s: it is empty again and takes no money "
                                "until it is bound")),
    "replace": (N_("Replace"), N_("replace code %(code)s with the empty code %(new)s: %(new)s takes over its store "
                                  "and device, %(code)s is deregistered for good (%(reason)s)")),
    "deregister": (N_("Deregister"), N_("deregister code %(code)s for good (%(reason)s): it never takes money again")),
}


def setup(app: web.Application) -> None:
    """Add the static-code pages under /console/codes."""
    app.router.add_get("/console/codes", code_list)
    app.router.add_post("/console/codes/batches", print_batch)
    app.router.add_get("/console/codes/batches/{batch_id}", batch_page)
    app.router.add_get("/console/codes/batches/{batch_id}/sheet.pdf", batch_sheet)
    app.router.add_post("/console/codes/bind", bind_code)
    app.router.add_get("/console/codes/{code_id}", code_page)
    for action in ACTIONS:
        app.router.add_post(f"/console/codes/{{code_id}}/{action}", code_action)


async def codes_at(storage: Storage, store_id: str) -> list[StaticCode]:
    return await static_codes.list_codes(storage, store_id=store_id)


async def _open_stores(storage: Storage, merchant_id: str | None) -> list[stores.StoreView]:
    return [store for store in await stores.list_stores(storage, merchant_id) if store.status == STORE_OPEN]


# the list, batches and their sheets

@login_required()
async def code_list(request: web.Request) -> web.StreamResponse:
    """Operators: the batches, printing one, and looking a code up. A merchant user: its own codes."""
    storage = request.app[STORAGE]
    scope = merchant_scope(logged_in_user(request))
    typed = request.query.get("code", "").strip()
    error = None
    if typed:
        code = await static_codes.get(storage, typed, visible_to=scope) if params.is_text(typed, 40) else None
        if code is not None:
            raise web.HTTPSeeOther(f"/console/codes/{code.id}")
        error = i18n.gettext(request, "No code %(code)s.") % {"code": typed[:40]}
    return await _list(request, error=error, status=404 if error else 200)


async def _list(request: web.Request, *, error: str | None = None, status: int = 200,
                batch_form: dict[str, str] | None = None) -> web.Response:
    storage = request.app[STORAGE]
    scope = merchant_scope(logged_in_user(request))
    return render(request, "codes.html", {
        "operator": scope is None, "error": error,
        "batches": await static_codes.batches(storage) if scope is None else [],
        "codes": await static_codes.list_codes(storage, merchant_id=scope) if scope is not None else [],
        "stores": await _open_stores(storage, scope) if scope is not None else [],
        "batch_form": batch_form or {"size": "", "note": ""}, "batch_max": static_codes.BATCH_MAX,
        "code_status_labels": labels(request, CODE_STATUS), "reason_labels": labels(request, END_REASON),
        "bind_form": {"code_id": "", "store_id": "", "device_id": ""}}, status=status)


@login_required("operator")
async def print_batch(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    typed = {"size": form_text(form, "size"), "note": form_text(form, "note")}
    if not (typed["size"].isascii() and typed["size"].isdigit() and len(typed["size"]) <= 4):
        return await _list(request, status=400, batch_form=typed, error=i18n.gettext(
            request, "A batch has 1 to %(max)d codes.") % {"max": static_codes.BATCH_MAX})
    try:
        batch, _ = await static_codes.print_batch(request.app[STORAGE], int(typed["size"]), note=typed["note"],
                                                  actor=logged_in_user(request).username)
    except static_codes.CodeRefused as e:
        return await _list(request, error=refusal_text(request, e), status=400, batch_form=typed)
    return redirect(f"/console/codes/batches/{batch.id}")


async def _batch(request: web.Request) -> tuple[str, list[StaticCode]]:
    batch_id = request.match_info["batch_id"]
    codes = await static_codes.batch_codes(request.app[STORAGE], batch_id) if params.fits(batch_id, params.ID) else []
    if not codes:
        raise web.HTTPNotFound()
    return batch_id, codes


@login_required("operator")
async def batch_page(request: web.Request) -> web.StreamResponse:
    batch_id, codes = await _batch(request)
    batch = await static_codes.batch(request.app[STORAGE], batch_id)
    return render(request, "codes_batch.html", {"batch_id": batch_id, "batch": batch, "codes": codes,
                                                "code_status_labels": labels(request, CODE_STATUS)})


@login_required("operator")
async def batch_sheet(request: web.Request) -> web.StreamResponse:
    """The batch's stickers as a printable PDF (A4, 12 a page), downloaded."""
    batch_id, codes = await _batch(request)
    # The same sheet whoever prints it (the stickers are Chinese whatever the operator reads); up to 84
    # pages of vector QR codes, drawn off the event loop.
    pdf = await asyncio.to_thread(static_codes.batch_sheet, request.app[SETTINGS].device_api.public_url, batch_id,
                                  codes)
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="codes-{batch_id}.pdf"'})


# one code

async def _visible_code(request: web.Request) -> StaticCode:
    code_id = request.match_info["code_id"]
    code = await static_codes.get(request.app[STORAGE], code_id, visible_to=merchant_scope(logged_in_user(request))) \
        if params.is_text(code_id, 40) else None
    if code is None:
        raise web.HTTPNotFound()
    return code


@login_required()
async def code_page(request: web.Request) -> web.StreamResponse:
    return await _code_page(request, await _visible_code(request))


async def _code_page(request: web.Request, code: StaticCode, *, error: str | None = None,
                     status: int = 200) -> web.Response:
    storage = request.app[STORAGE]
    operator = is_operator(request)
    store = await stores.get(storage, code.store_id) if code.store_id else None
    return render(request, "codes_detail.html", {
        "code": code, "store": store, "operator": operator, "url": request.app[PAYMENTS].static_code_url(code.id),
        "stores": await _open_stores(storage, None) if operator and code.status == CODE_EMPTY else [],
        "code_status_labels": labels(request, CODE_STATUS), "reason_labels": labels(request, END_REASON),
        "message": done(request, DONE), "error": error}, status=status)


@login_required("operator")
async def code_action(request: web.Request) -> web.StreamResponse:
    code = await _visible_code(request)
    action = request.path.rsplit("/", 1)[1]
    form = await request.post()
    reason, new = form_text(form, "reason") or "lost", static_codes.typed_code(form_text(form, "new_code_id"))
    if reason not in static_codes.END_REASONS:
        return await _code_page(request, code, status=400, error=i18n.gettext(request, "Choose a reason."))
    if form_text(form, "confirmed") != "yes":
        button, what = ACTIONS[action]
        values = {"code": code.id, "store": code.store_id or "-", "new": new or "-",
                  "reason": i18n.gettext(request, END_REASON[reason])}
        return confirm(request, title=f"{i18n.gettext(request, button)} {code.id}", action=request.path,
                       what=i18n.gettext(request, what) % values, button=i18n.gettext(request, button),
                       back=f"/console/codes/{code.id}", fields={"reason": reason, "new_code_id": new},
                       danger=action != "unbind")
    storage, actor = request.app[STORAGE], logged_in_user(request).username
    try:
        if action == "unbind":
            await static_codes.unbind(storage, code.id, actor=actor)
        elif action == "deregister":
            await static_codes.deregister(storage, code.id, reason=reason, actor=actor)
        else:
            replacement = await static_codes.replace(storage, code.id, new, actor=actor, reason=reason)
            return redirect(f"/console/codes/{replacement.id}?done=replace")
    except static_codes.CodeRefused as e:
        return await _code_page(request, code, error=refusal_text(request, e), status=409)
    return redirect(f"/console/codes/{code.id}?done={action}")


# binding: from a store's page, a code's page or a merchant's code list

@login_required()
async def bind_code(request: web.Request) -> web.StreamResponse:
    """An empty code (its id as typed off the sticker) bound to an open store and, optionally, the device placed
    there that says its payments. Operators: any store; a merchant user: its own stores only."""
    storage = request.app[STORAGE]
    scope = merchant_scope(logged_in_user(request))
    form = await request.post()
    typed = {name: form_text(form, name) for name in ("code_id", "store_id", "device_id")}
    error = await _bind_refusal(request, typed)
    if error is not None:
        return render(request, "codes_bind.html", {
            "form": typed, "error": error, "stores": await _open_stores(storage, scope)}, status=400)
    code, store = await static_codes.get(storage, typed["code_id"]), await stores.get(storage, typed["store_id"])
    assert code is not None and store is not None
    if form_text(form, "confirmed") != "yes":
        what = i18n.gettext(request, "bind code %(code)s to store %(store)s (%(name)s, merchant %(merchant)s): payers "
                                     "who scan it pay this store") % {
            "code": code.id, "store": store.id, "name": store.name, "merchant": store.merchant_id}
        return confirm(request, title=i18n.gettext(request, "Bind the code"), action=request.path, what=what,
                       button=i18n.gettext(request, "Bind the code"), back=f"/console/stores/{store.id}",
                       fields={**typed, "code_id": code.id})
    try:
        await static_codes.bind(storage, code.id, store_id=store.id, device_id=typed["device_id"] or None,
                                merchant_id=scope, actor=logged_in_user(request).username)
    except static_codes.CodeRefused as e:
        return render(request, "codes_bind.html", {
            "form": typed, "error": refusal_text(request, e), "stores": await _open_stores(storage, scope)},
            status=409)
    return redirect(f"/console/stores/{store.id}?done=bound")


async def _bind_refusal(request: web.Request, typed: dict[str, str]) -> str | None:
    """Why the form cannot be bound as it is (before the confirmation page), in the reader's language."""
    storage = request.app[STORAGE]
    scope = merchant_scope(logged_in_user(request))
    code = await static_codes.get(storage, typed["code_id"]) if params.is_text(typed["code_id"], 40) else None
    # A merchant user learns nothing about another merchant's codes: no such code, as for a typo.
    if code is None or (scope is not None and code.status != CODE_EMPTY and code.merchant_id != scope):
        return i18n.gettext(request, "No code %(code)s.") % {"code": typed["code_id"][:40]}
    if code.status != CODE_EMPTY:
        return i18n.gettext(request, "Code %(code)s is %(status)s: only an empty code can be bound.") % {
            "code": code.id, "status": i18n.gettext(request, CODE_STATUS.get(code.status, code.status))}
    store = await stores.get(storage, typed["store_id"], visible_to=scope) \
        if params.fits(typed["store_id"], params.ID) else None
    if store is None or store.status != STORE_OPEN:
        return i18n.gettext(request, "Choose one of the open stores.")
    if typed["device_id"] and typed["device_id"] not in {device.id for device in await placed_devices(request, store)}:
        return i18n.gettext(request, "Device %(device)s is not placed at this store.") % {
            "device": typed["device_id"][:40]}
    return None


async def placed_devices(request: web.Request, store: Store) -> list[devices.DeviceView]:
    """The devices assigned to or installed at `store`."""
    return [device for device in await devices.list_devices(
                request.app[STORAGE], merchant_id=store.merchant_id,
                online_window_s=request.app[SETTINGS].alerts.offline_after_s)
            if device.store_id == store.id and device.lifecycle in (LIFECYCLE_ASSIGNED, LIFECYCLE_INSTALLED)]
