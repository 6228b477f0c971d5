"""Console: stores (docs/console.md, "Merchants, stores, stock and codes"). A store's page shows its devices
and the static codes bound there; its name and address are edited, it is closed (operators, through a
confirmation page) and an empty code is bound to it. Through server/stores.py and server/static_codes.py.

Who: operators, every store; a merchant user, its own merchant's stores only (another's answers 404): it
may add a store, edit one and bind an empty sticker to one (the ground team is often the owner), but not
close one.
"""
from __future__ import annotations

from aiohttp import web

from .. import params, stores
from ..keys import STORAGE
from ..refusals import N_
from ..storage import NotFound, Store
from . import codes, i18n
from .auth import logged_in_user, login_required, merchant_scope, redirect, render
from .merchants import (
    CODE_STATUS, STORE_STATUS, confirm, detail as merchant_page, done, form_text, is_operator, labels,
    refusal_text, visible_merchant,
)

DONE = {"saved": N_("The store is saved."), "closed": N_("The store is closed."),
        "bound": N_("The code is bound to this store.")}   # bound: by codes.bind_code


def setup(app: web.Application) -> None:
    """Add the store pages under /console/stores, and adding one on its merchant's page."""
    app.router.add_post("/console/merchants/{merchant_id}/stores", add_store)
    app.router.add_get("/console/stores/{store_id}", store_detail)
    app.router.add_post("/console/stores/{store_id}/edit", edit_store)
    app.router.add_post("/console/stores/{store_id}/close", close_store)


async def visible_store(request: web.Request) -> Store:
    """The store of the URL if the user may see it; 404 otherwise, as for one that does not exist."""
    store_id = request.match_info["store_id"]
    store = await stores.get(request.app[STORAGE], store_id, visible_to=merchant_scope(logged_in_user(request))) \
        if params.fits(store_id, params.ID) else None
    if store is None:
        raise web.HTTPNotFound()
    return store


@login_required()
async def add_store(request: web.Request) -> web.StreamResponse:
    merchant = await visible_merchant(request)
    form = await request.post()
    typed = {"name": form_text(form, "name"), "address": form_text(form, "address")}
    try:
        await stores.add(request.app[STORAGE], merchant.id, typed["name"], address=typed["address"],
                         actor=logged_in_user(request).username)
    except (stores.StoreRefused, NotFound) as e:
        return await merchant_page(request, merchant, error=refusal_text(request, e), status=400, store_form=typed)
    return redirect(f"/console/merchants/{merchant.id}?done=store")


@login_required()
async def store_detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request, await visible_store(request))


async def _detail(request: web.Request, store: Store, *, error: str | None = None,
                  status: int = 200) -> web.Response:
    storage = request.app[STORAGE]
    return render(request, "stores_detail.html", {
        "store": store, "merchant": await storage.get_merchant(store.merchant_id), "operator": is_operator(request),
        "devices": await codes.placed_devices(request, store), "codes": await codes.codes_at(storage, store.id),
        "store_status_labels": labels(request, STORE_STATUS), "code_status_labels": labels(request, CODE_STATUS),
        "message": done(request, DONE), "error": error}, status=status)


@login_required()
async def edit_store(request: web.Request) -> web.StreamResponse:
    store = await visible_store(request)
    form = await request.post()
    try:
        await stores.update(request.app[STORAGE], store.id, name=form_text(form, "name"),
                            address=form_text(form, "address"), actor=logged_in_user(request).username)
    except (stores.StoreRefused, NotFound) as e:
        return await _detail(request, store, error=refusal_text(request, e), status=400)
    return redirect(f"/console/stores/{store.id}?done=saved")


@login_required("operator")
async def close_store(request: web.Request) -> web.StreamResponse:
    store = await visible_store(request)
    if form_text(await request.post(), "confirmed") != "yes":
        return confirm(request, title=i18n.gettext(request, "Close the store"), action=request.path,
                       what=i18n.gettext(request, "close store %(store)s (%(name)s) for good") % {
                           "store": store.id, "name": store.name},
                       button=i18n.gettext(request, "Close the store"), back=f"/console/stores/{store.id}",
                       fields={}, danger=True)
    try:
        await stores.close(request.app[STORAGE], store.id, actor=logged_in_user(request).username)
    except (stores.StoreRefused, NotFound) as e:
        return await _detail(request, store, error=refusal_text(request, e), status=409)
    return redirect(f"/console/stores/{store.id}?done=closed")
