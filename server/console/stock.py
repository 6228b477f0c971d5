"""Console: stock (docs/console.md, "Merchants, stores, stock and codes"), operators only; a merchant user
gets 404, as for a page that does not exist. Devices received from the factory by serial number, one typed
in or a delivery's CSV file (every bad line named with its line number, nothing stored), wait in stock
until one is assigned to a merchant's open store. Through server/stock.py and server/devices/lifecycle.py.
"""
from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from .. import devices, stock, stores
from ..keys import SETTINGS, STORAGE
from ..refusals import N_
from ..storage.records import LIFECYCLE_IN_STOCK, STORE_OPEN
from . import i18n
from .auth import logged_in_user, login_required, merchant_scope, redirect, render
from .merchants import done, form_text, refusal_text

DONE = {"received": N_("Received into stock."), "assigned": N_("The device is assigned to the store.")}


def setup(app: web.Application) -> None:
    """Add the stock pages under /console/stock."""
    app.router.add_get("/console/stock", stock_page)
    app.router.add_post("/console/stock/receive", receive_one)
    app.router.add_post("/console/stock/upload", receive_file)
    app.router.add_post("/console/stock/assign", assign)


def _operators_only(request: web.Request) -> None:
    # Stock is the acquirer's: to a merchant user it does not exist.
    if merchant_scope(logged_in_user(request)) is not None:
        raise web.HTTPNotFound()


async def _page(request: web.Request, *, error: str | None = None, problems: Sequence[tuple[int, str]] = (),
                status: int = 200, typed: dict[str, str] | None = None) -> web.Response:
    storage = request.app[STORAGE]
    in_stock = await devices.list_devices(storage, lifecycle=LIFECYCLE_IN_STOCK,
                                          online_window_s=request.app[SETTINGS].alerts.offline_after_s)
    return render(request, "stock.html", {
        "devices": in_stock, "stores": [s for s in await stores.list_stores(storage) if s.status == STORE_OPEN],
        "typed": {"serial": "", "model": "", "batch": "", "device_id": "", "store_id": "", **(typed or {})},
        "csv_max_lines": stock.CSV_MAX_LINES, "message": done(request, DONE), "error": error,
        "problems": problems}, status=status)


@login_required()
async def stock_page(request: web.Request) -> web.StreamResponse:
    _operators_only(request)
    return await _page(request)


@login_required()
async def receive_one(request: web.Request) -> web.StreamResponse:
    _operators_only(request)
    form = await request.post()
    typed = {name: form_text(form, name) for name in ("serial", "model", "batch")}
    try:
        line = stock.check_line(typed["serial"], typed["model"])
        await stock.receive(request.app[STORAGE], [line], batch=typed["batch"], actor=logged_in_user(request).username)
    except stock.StockRefused as e:
        return await _page(request, error=refusal_text(request, e), status=400, typed=typed)
    return redirect("/console/stock?done=received")


@login_required()
async def receive_file(request: web.Request) -> web.StreamResponse:
    """A delivery's CSV (serial,model): every device or none."""
    _operators_only(request)
    form = await request.post()
    upload, batch = form.get("file"), form_text(form, "batch")
    if not isinstance(upload, web.FileField):
        return await _page(request, error=i18n.gettext(request, "Choose a CSV file to upload."), status=400,
                           typed={"batch": batch})
    with upload.file:
        data = upload.file.read(stock.CSV_MAX_BYTES + 1)
    try:
        lines = stock.parse_csv(data)
        await stock.receive(request.app[STORAGE], lines, batch=batch, actor=logged_in_user(request).username)
    except stock.StockFileRefused as e:
        return await _page(request, error=refusal_text(request, e), status=400, typed={"batch": batch},
                           problems=[(number, refusal_text(request, problem)) for number, problem in e.problems])
    except stock.StockRefused as e:
        return await _page(request, error=refusal_text(request, e), status=400, typed={"batch": batch})
    return redirect("/console/stock?done=received")


@login_required()
async def assign(request: web.Request) -> web.StreamResponse:
    """A device in stock to a merchant's open store (its merchant is the store's)."""
    _operators_only(request)
    form = await request.post()
    typed = {name: form_text(form, name) for name in ("device_id", "store_id")}
    storage = request.app[STORAGE]
    store = await stores.get(storage, typed["store_id"]) if typed["store_id"] else None
    if store is None or store.status != STORE_OPEN:
        return await _page(request, error=i18n.gettext(request, "Choose one of the open stores."), status=400,
                           typed=typed)
    device = await storage.get_device(typed["device_id"]) if typed["device_id"] else None
    if device is None or device.lifecycle != LIFECYCLE_IN_STOCK:
        return await _page(request, error=i18n.gettext(request, "Choose one of the devices in stock."), status=400,
                           typed=typed)
    try:
        await devices.assign(storage, device.id, store.merchant_id, store_id=store.id,
                             actor=logged_in_user(request).username)
    except devices.LifecycleRefused as e:
        # server/devices/lifecycle.py words its refusals in English only (another operator was faster, the merchant closed).
        return await _page(request, error=str(e), status=409, typed=typed)
    return redirect("/console/stock?done=assigned")
