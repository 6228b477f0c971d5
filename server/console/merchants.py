"""Console: merchants (docs/console.md, "Merchants, stores, stock and codes"). Operators register a merchant
by its owner's mobile number, verify its tier on the evidence on file, suspend, activate or close it and
open it at the channels; a merchant user sees its own merchant's page only (another's answers 404) and may
upload its evidence. Every step goes through server/merchants.py and server/merchant_channels.py, the same
code as the CLI and the ops API.

Shared by the onboarding pages (stores.py, stock.py, codes.py): `refusal_text` (a domain refusal in the
reader's language), `labels` (a table of value names, translated) and `confirm` (the confirmation page: the
first POST shows what will happen, the second, with `confirmed`, does it).
"""
from __future__ import annotations

import re
from decimal import Decimal, DecimalException
from typing import Any

from aiohttp import web

from .. import devices, merchant_channels, merchants, params
from .. import stores as store_records
from ..keys import CONSOLE_CSRF_TOKEN, SETTINGS, STORAGE
from ..refusals import N_, Refused
from ..storage import Merchant, NotFound
from ..storage.records import MERCHANT_ACTIVE, MERCHANT_CLOSED, MERCHANT_SUSPENDED
from . import auth, display, i18n
from .auth import logged_in_user, login_required, merchant_scope, redirect, render

LIST_MAX = 200                     # merchants listed at once: search for the others
# Evidence upload: the file's limit ([merchants] evidence_max_bytes) and room for the form around it.
_FORM_OVERHEAD = 64 * 1024
_EVIDENCE_PATH = re.compile(r"/console/merchants/[^/]+/evidence")
_TOO_BIG = "evidence_too_big"      # request key: an upload refused before its body was read

MERCHANT_STATUS = {MERCHANT_ACTIVE: N_("active"), MERCHANT_SUSPENDED: N_("suspended"), MERCHANT_CLOSED: N_("closed")}
EVIDENCE_KIND = {"id_photo": N_("ID photo"), "business_licence": N_("business licence"),
                 "shop_photo": N_("photo of the shop")}
CHANNEL_NAME = display.TABLES["channel"]    # one table of channel names for every page
CODE_STATUS = {"empty": N_("empty"), "bound": N_("bound"), "deregistered": N_("deregistered")}
END_REASON = {"lost": N_("lost"), "damaged": N_("damaged"), "shop_request": N_("the shop asked"), "fraud": N_("fraud"),
              "other": N_("other reason")}
STORE_STATUS = {"open": N_("open"), "closed": N_("closed")}
CHANNEL_STATUS = {"open": N_("taking payments"), "closed": N_("stopped")}
# ?done= of our own redirects -> what the page says was done
DONE = {"registered": N_("The merchant is registered: upload its evidence, then approve its tier."),
        "status": N_("Its status is changed."), "tier": N_("The tier is approved."),
        "evidence": N_("The file is on file."), "opened": N_("The channel is open."),
        "closed": N_("The channel is closed."), "store": N_("The store is added.")}
# status -> (button, what the confirmation page says will happen)
STATUS_ACTIONS = {
    MERCHANT_SUSPENDED: (N_("Suspend"), N_("suspend merchant %(merchant)s (%(name)s): its devices and codes take "
                                           "no payments until it is activated again")),
    MERCHANT_ACTIVE: (N_("Activate"), N_("activate merchant %(merchant)s (%(name)s): it takes payments again")),
    MERCHANT_CLOSED: (N_("Close"), N_("close merchant %(merchant)s (%(name)s) for good: it never takes payments "
                                      "again")),
}

# server/merchants.py words its refusals as English sentences: the common ones in the reader's language
# (matched by their wording), any other as it is.
_MERCHANT_REFUSALS = (
    (re.compile(r".* is not a mainland mobile number"),
     N_("This is not a mainland mobile number (11 digits starting 13 to 19).")),
    (re.compile(r"phone number \S+ is registered already"), N_("This mobile number is registered already.")),
    (re.compile(r"the short name is"), N_("The short name is 1 to 64 characters of text.")),
    (re.compile(r"the legal name is"), N_("The legal name is 1 to 64 characters of text.")),
    (re.compile(r"tier (?P<tier>[0-9]) needs (?P<missing>.+) on file first"),
     N_("Tier %(tier)s needs this evidence on file first: %(missing)s.")),
    (re.compile(r"evidence must be a JPEG"), N_("Evidence must be a JPEG or PNG photo or a PDF.")),
    (re.compile(r"the photo cannot be read"), N_("The photo cannot be read: take it again and upload it.")),
    (re.compile(r"evidence files are"), N_("An evidence file is 1 byte to %(max)s MiB.")),
    (re.compile(r"merchant \S+ is closed"), N_("The merchant is closed.")),
    (re.compile(r"merchant \S+ is \w+: it cannot become"), N_("The merchant's status cannot change that way.")),
)


def setup(app: web.Application) -> None:
    """Add the merchant pages under /console/merchants."""
    app.router.add_get("/console/merchants", merchant_list)
    app.router.add_get("/console/merchants/new", new_merchant_page)
    app.router.add_post("/console/merchants/new", create_merchant)
    app.router.add_get("/console/merchants/{merchant_id}", merchant_detail)
    app.router.add_post("/console/merchants/{merchant_id}/status", change_status)
    app.router.add_post("/console/merchants/{merchant_id}/tier", approve_tier)
    app.router.add_post("/console/merchants/{merchant_id}/evidence", upload_evidence)
    app.router.add_get("/console/merchants/{merchant_id}/evidence/{evidence_id}", evidence_file)
    app.router.add_post("/console/merchants/{merchant_id}/channels/{channel}/open", open_channel)
    app.router.add_post("/console/merchants/{merchant_id}/channels/{channel}/close", close_channel)
    # Before the console's own middleware, which reads the form to check its CSRF token.
    names = [getattr(m, "__name__", "") for m in app.middlewares]
    app.middlewares.insert(names.index("console_middleware"), evidence_upload_bound)


# shared by the onboarding pages

def gettext_of(request: web.Request):
    return lambda message: i18n.gettext(request, message)


def refusal_text(request: web.Request, error: Exception) -> str:
    """A domain module's refusal in the reader's language."""
    if isinstance(error, Refused):
        return error.text(gettext_of(request))
    text = str(error)
    if isinstance(error, merchants.MerchantRefused | NotFound):
        for wording, msgid in _MERCHANT_REFUSALS:
            found = wording.match(text)
            if found:
                values = {"max": request.app[SETTINGS].merchants.evidence_max_bytes // (1024 * 1024),
                          **found.groupdict()}
                if "missing" in values:
                    values["missing"] = "、".join(label(request, EVIDENCE_KIND, kind)
                                                 for kind in values["missing"].split(", "))
                return i18n.gettext(request, msgid) % values
    return text


def label(request: web.Request, table: dict[str, str], value: str | None) -> str:
    return i18n.gettext(request, table[value]) if value in table else (value or "")


def labels(request: web.Request, table: dict[str, str]) -> dict[str, str]:
    """A table of value names (statuses, kinds, reasons) in the reader's language, for a template."""
    return {value: i18n.gettext(request, name) for value, name in table.items()}


def confirm(request: web.Request, *, title: str, what: str, action: str, button: str, back: str,
            fields: dict[str, str], danger: bool = False) -> web.Response:
    """The page that says what a step will do; its button sends the same form again with `confirmed`."""
    return render(request, "merchants_confirm.html", {
        "title": title, "what": what, "action": action, "button": button, "back": back, "danger": danger,
        "fields": {name: value for name, value in fields.items() if name not in ("confirmed", "csrf_token")}})


def form_text(form: Any, name: str) -> str:
    """A text field as typed, stripped ("" when absent or a file)."""
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def done(request: web.Request, table: dict[str, str]) -> str | None:
    """What the last step did (?done=, a key of `table`, from our own redirects), in the reader's language."""
    key = request.query.get("done")
    return i18n.gettext(request, table[key]) if key in table else None


def is_operator(request: web.Request) -> bool:
    return merchant_scope(logged_in_user(request)) is None


async def visible_merchant(request: web.Request) -> Merchant:
    """The merchant of the URL, if the user may see it (operators: every one; a merchant user: its own);
    404 otherwise, as for one that does not exist."""
    merchant_id = request.match_info["merchant_id"]
    scope = merchant_scope(logged_in_user(request))
    if not params.fits(merchant_id, params.ID) or scope not in (None, merchant_id):
        raise web.HTTPNotFound()
    merchant = await request.app[STORAGE].get_merchant(merchant_id)
    if merchant is None:
        raise web.HTTPNotFound()
    return merchant


# the list and registering

@login_required()
async def merchant_list(request: web.Request) -> web.StreamResponse:
    """Operators: every merchant, or those whose phone, id or name has the search. A merchant user: its own."""
    scope = merchant_scope(logged_in_user(request))
    if scope is not None:
        raise web.HTTPSeeOther(f"/console/merchants/{scope}")
    storage = request.app[STORAGE]
    search = request.query.get("q", "").strip()
    error = None
    if not params.is_text(search, 64):
        error, search = i18n.gettext(request, "Search: at most 64 characters of text."), ""
    rows: list[Merchant] = []
    try:
        by_phone = await storage.get_merchant_by_phone(merchants.normalise_phone(search)) if search else None
    except merchants.MerchantRefused:
        by_phone = None
    if by_phone is not None:
        rows = [by_phone]
    else:
        # No storage query lists merchants with their phone: the ids and names, then each merchant.
        wanted = search.casefold()
        for row in await devices.merchants(storage):
            if not wanted or wanted in row["id"].casefold() or wanted in row["name"].casefold():
                merchant = await storage.get_merchant(row["id"])
                if merchant is not None:
                    rows.append(merchant)
                if len(rows) >= LIST_MAX:
                    break
    return render(request, "merchants.html", {
        "rows": rows, "q": search, "error": error, "list_max": LIST_MAX,
        "status_labels": labels(request, MERCHANT_STATUS)}, status=400 if error else 200)


@login_required("operator")
async def new_merchant_page(request: web.Request) -> web.StreamResponse:
    return render(request, "merchants_new.html", {"form": {"phone": "", "short_name": "", "legal_name": ""},
                                                  "error": None})


@login_required("operator")
async def create_merchant(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    form = {name: form_text(posted, name) for name in ("phone", "short_name", "legal_name")}
    try:
        merchant = await merchants.register(request.app[STORAGE], phone=form["phone"], short_name=form["short_name"],
                                            legal_name=form["legal_name"] or None)
    except merchants.MerchantRefused as e:
        return render(request, "merchants_new.html", {"form": form, "error": refusal_text(request, e)}, status=400)
    return redirect(f"/console/merchants/{merchant.id}?done=registered")


# a merchant's page

@login_required()
async def merchant_detail(request: web.Request) -> web.StreamResponse:
    return await detail(request, await visible_merchant(request))


async def detail(request: web.Request, merchant: Merchant, *, error: str | None = None,
                 status: int = 200, store_form: dict[str, str] | None = None) -> web.Response:
    """The merchant's page, with what the last step did or why it was refused."""
    storage, settings = request.app[STORAGE], request.app[SETTINGS]
    evidence = {kind: [] for kind in merchants.EVIDENCE_KINDS}
    for item in await storage.list_evidence(merchant.id):
        evidence[item.kind].append(item)
    records = {record.channel: record for record in await storage.merchant_channels(merchant.id)}
    channels = [{"channel": channel, "record": records.get(channel),
                 "service_provider": merchant_channels.is_service_provider(settings, channel)}
                for channel in merchant_channels.CHANNELS]
    tiers = [{"tier": tier, "kinds": kinds, "cap_fen": settings.limits.daily_cap_fen(tier)}
             for tier, kinds in merchants.TIER_EVIDENCE.items()]
    return render(request, "merchants_detail.html", {
        "merchant": merchant, "operator": is_operator(request), "tiers": tiers, "evidence": evidence,
        "channels": channels, "stores": await store_records.list_stores(storage, merchant.id),
        "store_form": store_form or {"name": "", "address": ""},
        "evidence_max_mib": settings.merchants.evidence_max_bytes / (1024 * 1024),
        "status_labels": labels(request, MERCHANT_STATUS), "kind_labels": labels(request, EVIDENCE_KIND),
        "channel_labels": labels(request, CHANNEL_NAME), "channel_status_labels": labels(request, CHANNEL_STATUS),
        "store_status_labels": labels(request, STORE_STATUS),
        "status_actions": {status_: i18n.gettext(request, button) for status_, (button, _) in STATUS_ACTIONS.items()},
        "message": done(request, DONE), "error": error}, status=status)


@login_required("operator")
async def change_status(request: web.Request) -> web.StreamResponse:
    merchant = await visible_merchant(request)
    form = await request.post()
    new_status = form_text(form, "status")
    if new_status not in STATUS_ACTIONS:
        return await detail(request, merchant, status=400,
                            error=i18n.gettext(request, "Choose a status: active, suspended or closed."))
    button, what = STATUS_ACTIONS[new_status]
    if form_text(form, "confirmed") != "yes":
        return confirm(request, title=i18n.gettext(request, button), action=request.path,
                       what=i18n.gettext(request, what) % {"merchant": merchant.id, "name": merchant.name},
                       button=i18n.gettext(request, button), back=f"/console/merchants/{merchant.id}",
                       fields={"status": new_status}, danger=new_status != MERCHANT_ACTIVE)
    try:
        await merchants.set_status(request.app[STORAGE], merchant.id, new_status)
    except (merchants.MerchantRefused, NotFound) as e:
        return await detail(request, merchant, error=refusal_text(request, e), status=409)
    return redirect(f"/console/merchants/{merchant.id}?done=status")


@login_required("operator")
async def approve_tier(request: web.Request) -> web.StreamResponse:
    merchant = await visible_merchant(request)
    tier = form_text(await request.post(), "tier")
    if tier not in ("1", "2", "3"):
        return await detail(request, merchant, error=i18n.gettext(request, "A tier is 1, 2 or 3."), status=400)
    try:
        await merchants.verify_tier(request.app[STORAGE], merchant.id, int(tier),
                                    actor=logged_in_user(request).username)
    except (merchants.MerchantRefused, NotFound) as e:
        return await detail(request, merchant, error=refusal_text(request, e), status=409)
    return redirect(f"/console/merchants/{merchant.id}?done=tier")


# evidence

@web.middleware
async def evidence_upload_bound(request: web.Request, handler) -> web.StreamResponse:
    """An evidence upload may be as big as [merchants] evidence_max_bytes (more than aiohttp's 1 MiB for any
    other form), and no bigger: aiohttp stops reading a form at the request's bound. A bigger one the
    browser announced (Content-Length) is answered on the merchant's page, its body unread."""
    if request.method != "POST" or not _EVIDENCE_PATH.fullmatch(request.path):
        return await handler(request)
    bound = request.app[SETTINGS].merchants.evidence_max_bytes + _FORM_OVERHEAD
    if (request.content_length or 0) > bound:
        # Refused unread. Its CSRF token is in the unread form, so the session's own goes in the header: the
        # handler only shows the refusal on the page (a forged request gets that and nothing else).
        await auth.load_session(request)
        headers = {**request.headers, "Content-Type": "application/octet-stream"}
        csrf_token = request.get(CONSOLE_CSRF_TOKEN)
        if csrf_token:
            headers[auth.CSRF_HEADER] = csrf_token
        bounded = request.clone(headers=headers, client_max_size=bound)
        bounded[_TOO_BIG] = True
    else:
        bounded = request.clone(client_max_size=bound)
    try:
        return await handler(bounded)
    finally:
        # aiohttp deletes the uploaded files of the request it made once it is answered, not a clone's.
        bounded._finish()


@login_required()
async def upload_evidence(request: web.Request) -> web.StreamResponse:
    """Operators, and the merchant's own users: a file proving a tier (JPEG, PNG or PDF)."""
    merchant = await visible_merchant(request)
    settings = request.app[SETTINGS]
    limit = settings.merchants.evidence_max_bytes
    too_big = i18n.gettext(request, "An evidence file is 1 byte to %(max)s MiB.") % {"max": limit // (1024 * 1024)}
    if request.get(_TOO_BIG):
        return await detail(request, merchant, error=too_big, status=413)
    form = await request.post()
    kind, upload = form_text(form, "kind"), form.get("file")
    if kind not in merchants.EVIDENCE_KINDS:
        return await detail(request, merchant, error=i18n.gettext(request, "Choose what the file shows."), status=400)
    if not isinstance(upload, web.FileField):
        return await detail(request, merchant, error=i18n.gettext(request, "Choose a file to upload."), status=400)
    with upload.file:
        data = upload.file.read(limit + 1)
    if len(data) > limit:
        return await detail(request, merchant, error=too_big, status=413)
    try:
        await merchants.add_evidence(request.app[STORAGE], settings, merchant.id, kind, data,
                                     actor=logged_in_user(request).username)
    except (merchants.MerchantRefused, NotFound) as e:
        return await detail(request, merchant, error=refusal_text(request, e), status=400)
    return redirect(f"/console/merchants/{merchant.id}?done=evidence")


@login_required()
async def evidence_file(request: web.Request) -> web.StreamResponse:
    """The file, for operators and the merchant it belongs to (merchants.evidence_file decides); 404 else."""
    merchant_id, evidence_id = request.match_info["merchant_id"], request.match_info["evidence_id"]
    if not params.fits(merchant_id, params.ID) or not params.fits(evidence_id, params.ID):
        raise web.HTTPNotFound()
    found = await merchants.evidence_file(request.app[STORAGE], request.app[SETTINGS], merchant_id, evidence_id,
                                          merchant_scope(logged_in_user(request)))
    if found is None or not found[1].is_file():
        raise web.HTTPNotFound()
    evidence, path = found
    return web.Response(body=path.read_bytes(), content_type=evidence.content_type, headers={
        "Content-Disposition": f"inline; filename=\"{evidence.kind}.{path.suffix.lstrip('.')}\"",
        "X-Content-Type-Options": "nosniff"})


# channels

def fee_rate_ppm(text: str) -> int | None:
    """A fee rate as typed, in parts per million: "0.38%" or "38‱" (or "38") -> 3800; "" -> None.
    ValueError when it is no number or not a whole number of ppm."""
    text = text.replace(" ", "")
    if not text:
        return None
    per, number = (10_000, text[:-1]) if text.endswith("%") else (100, text.removesuffix("‱"))
    try:
        ppm = Decimal(number) * per
    except DecimalException:          # no number, or one too big for Decimal to multiply
        raise ValueError(text) from None
    if not ppm.is_finite() or ppm != ppm.to_integral_value() or not number.isascii():
        raise ValueError(text)
    return int(ppm)


def _channel(request: web.Request) -> str:
    channel = request.match_info["channel"]
    if channel not in merchant_channels.CHANNELS:
        raise web.HTTPNotFound()
    return channel


@login_required("operator")
async def open_channel(request: web.Request) -> web.StreamResponse:
    merchant = await visible_merchant(request)
    channel = _channel(request)
    form = await request.post()
    account_id, app_id = form_text(form, "account_id"), form_text(form, "sub_appid") or None
    try:
        fee = fee_rate_ppm(form_text(form, "fee_rate"))
    except ValueError:
        return await detail(request, merchant, status=400, error=i18n.gettext(
            request, "A fee rate is a number in ‱ (38) or in %% (0.38%%), to a whole part per million.") % {})
    if merchant.status == MERCHANT_CLOSED:
        return await detail(request, merchant, error=i18n.gettext(request, "The merchant is closed."), status=409)
    try:
        await merchant_channels.open_merchant(request.app[STORAGE], request.app[SETTINGS], merchant.id, channel,
                                              account_id=account_id, app_id=app_id, fee_rate_ppm=fee,
                                              actor=logged_in_user(request).username)
    except ValueError as e:
        # merchant_channels words its refusals in English; the usual one in the reader's language.
        text = str(e)
        if "sub-merchant id" in text or "app id" in text:
            text = i18n.gettext(request, "The %(channel)s account id or sub_appid is not in that channel's format: "
                                         "%(detail)s") % {"channel": label(request, CHANNEL_NAME, channel),
                                                          "detail": text}
        elif "fee rate" in text:
            text = i18n.gettext(request, "A fee rate is at most 10%%.") % {}
        return await detail(request, merchant, error=text, status=400)
    return redirect(f"/console/merchants/{merchant.id}?done=opened")


@login_required("operator")
async def close_channel(request: web.Request) -> web.StreamResponse:
    merchant = await visible_merchant(request)
    channel = _channel(request)
    if form_text(await request.post(), "confirmed") != "yes":
        name = label(request, CHANNEL_NAME, channel)
        return confirm(request, title=i18n.gettext(request, "Close the channel"), action=request.path,
                       what=i18n.gettext(request, "close %(channel)s for merchant %(merchant)s (%(name)s): it takes "
                                                  "no more payments through it (its orders there can still be "
                                                  "refunded)") % {"channel": name, "merchant": merchant.id,
                                                                   "name": merchant.name},
                       button=i18n.gettext(request, "Close the channel"), back=f"/console/merchants/{merchant.id}",
                       fields={}, danger=True)
    await merchant_channels.close_merchant(request.app[STORAGE], merchant.id, channel,
                                           actor=logged_in_user(request).username)
    return redirect(f"/console/merchants/{merchant.id}?done=closed")
