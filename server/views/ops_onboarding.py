"""The operations API's onboarding calls (docs/operations.md, "Operations HTTP API"): merchants and their
evidence, tiers and channels, stores, stock-in, device assignment, and static-code batches and codes.

Each handler only translates: HTTP in, one call of the domain module (server/merchants.py, stores.py,
stock.py, devices/, static_codes.py, merchant_channels.py), JSON out. A URL part that cannot be right is
400 invalid_parameter, a body field of the wrong type or value 400 invalid_field; a record that does not
exist is 404 not_found; what the record's state refuses is 409 conflict (409 already_exists for a phone
number, merchant id or channel account taken). Every change is recorded as done by "ops-api".
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from aiohttp import web

from .. import devices, merchant_channels, merchants, params, static_codes, stock, stores
from ..device_auth import DEVICE_ID
from ..errors import ApiError
from ..keys import SETTINGS, STORAGE
from ..storage import AlreadyExists, Merchant, MerchantChannel, NotFound, StaticCode, Store
from .ops_api import _check_token, _created, _error, _json_body, _read

ACTOR = "ops-api"
ID_RULE = "1-64 of A-Z a-z 0-9 _ -"
MERCHANT_ID_RULE = "1-32 of A-Z a-z 0-9 _ -"       # as /ops/v1/devices takes a merchant id
EVIDENCE_TYPES = ("image/jpeg", "image/png", "application/pdf")
STOCK_CSV = "text/csv"


# what a request names

def _part(request: web.Request, name: str) -> str:
    return params.text_part(request.match_info[name], name, params.ID, ID_RULE)


def _listed_part(request: web.Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.match_info[name]
    if value not in allowed:
        raise params.InvalidParameter(name, f"{name} is one of {', '.join(allowed)}")
    return value


# What a body field must be: a check and the rule an operator reads when it fails.
Kind = tuple[Callable[[Any], bool], str]
TEXT: Kind = (lambda value: isinstance(value, str), "text")
WHOLE_NUMBER: Kind = (lambda value: isinstance(value, int) and not isinstance(value, bool), "a whole number")
# A record's id: looked up only when it could be one (and a NUL never reaches PostgreSQL).
RECORD_ID: Kind = (lambda value: params.fits(value, params.ID), ID_RULE)
NEW_MERCHANT_ID: Kind = (lambda value: params.fits(value, DEVICE_ID), MERCHANT_ID_RULE)


def _choice(values: tuple[Any, ...]) -> Kind:
    return (lambda value: type(value) is type(values[0]) and value in values,
            "one of " + ", ".join(map(str, values)))


def _field(body: dict[str, Any], key: str, kind: Kind, *, required: bool = True) -> Any:
    """body[key] when it is of `kind`; None when it is absent and not required; else 400 invalid_field."""
    value = body.get(key)
    if value is None and not required:
        return None
    check, rule = kind
    if not check(value):
        raise _error(400, "invalid_field", f"{key} must be {rule}")
    return value


def _not_found(what: str) -> ApiError:
    return _error(404, "not_found", f"no {what}")


def _conflict(refusal: Exception) -> ApiError:
    return _error(409, "conflict", str(refusal))


def _invalid(refusal: Exception) -> ApiError:
    return _error(400, "invalid_field", str(refusal))


async def _merchant(request: web.Request) -> Merchant:
    """The merchant the URL names (merchants are closed, never deleted: the domain's NotFound cannot follow)."""
    merchant_id = _part(request, "merchant_id")
    merchant = await request.app[STORAGE].get_merchant(merchant_id)
    if merchant is None:
        raise _not_found(f"merchant {merchant_id}")
    return merchant


async def _code(request: web.Request, code_id: str) -> StaticCode:
    code = await static_codes.get(request.app[STORAGE], code_id)
    if code is None:
        raise _not_found(f"code {code_id}")
    return code


async def _store(request: web.Request, store_id: str) -> Store:
    store = await stores.get(request.app[STORAGE], store_id)
    if store is None:
        raise _not_found(f"store {store_id}")
    return store


# what an answer says

def _merchant_json(merchant: Merchant) -> dict[str, Any]:
    return {"id": merchant.id, "short_name": merchant.name, "legal_name": merchant.legal_name,
            "phone": merchant.phone, "status": merchant.status, "tier": merchant.tier,
            "tier_verified_by": merchant.tier_verified_by, "tier_verified_at": merchant.tier_verified_at,
            "created_at": merchant.created_at}


def _channel_json(record: MerchantChannel) -> dict[str, Any]:
    return {"channel": record.channel, "status": record.status, "account_id": record.account_id,
            "app_id": record.app_id, "fee_rate_ppm": record.fee_rate_ppm, "updated_at": record.updated_at,
            "updated_by": record.updated_by}


def _store_json(store: Store) -> dict[str, Any]:
    return asdict(store)


def _store_view_json(view: stores.StoreView) -> dict[str, Any]:
    return {**_store_json(view.store), "devices": view.devices, "codes": view.codes}


def _code_json(request: web.Request, code: StaticCode) -> dict[str, Any]:
    return {**asdict(code), "url": static_codes.code_url(request.app[SETTINGS].device_api.public_url, code.id)}


# merchants

async def register_merchant(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    phone, short_name = _field(body, "phone", TEXT), _field(body, "short_name", TEXT)
    legal_name = _field(body, "legal_name", TEXT, required=False)
    merchant_id = _field(body, "merchant_id", NEW_MERCHANT_ID, required=False)
    storage = request.app[STORAGE]
    try:
        merchant = await merchants.register(storage, phone=phone, short_name=short_name, legal_name=legal_name,
                                            merchant_id=merchant_id)
    except merchants.MerchantRefused as e:
        if await _taken(storage, phone, merchant_id):
            raise _error(409, "already_exists", str(e)) from None
        raise _invalid(e) from None
    return _created(_merchant_json(merchant))


async def _taken(storage: Any, phone: str, merchant_id: str | None) -> bool:
    """Whether a refused registration's number, or the id it asked for, is a merchant's already (the one
    refusal of merchants.register that is no bad value)."""
    if merchant_id is not None and await storage.get_merchant(merchant_id) is not None:
        return True
    try:
        return await storage.get_merchant_by_phone(merchants.normalise_phone(phone)) is not None
    except merchants.MerchantRefused:
        return False


async def merchant_detail(request: web.Request) -> web.Response:
    _check_token(request)
    merchant = await _merchant(request)
    storage = request.app[STORAGE]
    evidence = [asdict(e) for e in await storage.list_evidence(merchant.id)]
    channels = [_channel_json(r) for r in await storage.merchant_channels(merchant.id)]
    store_list = [_store_view_json(view) for view in await stores.list_stores(storage, merchant.id)]
    return web.json_response({**_merchant_json(merchant), "evidence": evidence, "channels": channels,
                              "stores": store_list})


async def set_merchant_status(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    merchant = await _merchant(request)
    status = _field(body, "status", _choice(merchants.STATUSES))
    storage = request.app[STORAGE]
    try:
        await merchants.set_status(storage, merchant.id, status)
    except merchants.MerchantRefused as e:
        raise _conflict(e) from None
    return web.json_response(_merchant_json(await storage.get_merchant(merchant.id) or merchant))


async def verify_tier(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    merchant = await _merchant(request)
    tier = _field(body, "tier", _choice(tuple(merchants.TIER_EVIDENCE)))
    try:
        verified = await merchants.verify_tier(request.app[STORAGE], merchant.id, tier, actor=ACTOR)
    except merchants.MerchantRefused as e:       # closed, or the tier's evidence is not on file
        raise _conflict(e) from None
    return web.json_response(_merchant_json(verified))


async def add_evidence(request: web.Request) -> web.Response:
    _check_token(request)
    kind = _listed_part(request, "kind", merchants.EVIDENCE_KINDS)
    merchant = await _merchant(request)
    if request.content_type not in EVIDENCE_TYPES:
        raise _error(415, "unsupported_media_type", f"send the file as {', '.join(EVIDENCE_TYPES)}")
    settings = request.app[SETTINGS]
    data = await _read(request, settings.merchants.evidence_max_bytes)
    try:
        evidence = await merchants.add_evidence(request.app[STORAGE], settings, merchant.id, kind, data, actor=ACTOR)
    except merchants.MerchantRefused as e:        # empty, not a JPEG, PNG or PDF, or a photo that does not decode
        raise _error(422, "bad_evidence", str(e)) from None
    return _created(asdict(evidence))


async def open_channel(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    channel = _listed_part(request, "channel", merchant_channels.CHANNELS)
    merchant = await _merchant(request)
    account_id = _field(body, "account_id", TEXT, required=False) or ""
    app_id = _field(body, "app_id", TEXT, required=False)
    fee_rate_ppm = _field(body, "fee_rate_ppm", WHOLE_NUMBER, required=False)
    try:
        record = await merchant_channels.open_merchant(
            request.app[STORAGE], request.app[SETTINGS], merchant.id, channel, account_id=account_id, app_id=app_id,
            fee_rate_ppm=fee_rate_ppm, actor=ACTOR)
    except AlreadyExists as e:                    # the account is another merchant's
        raise _error(409, "already_exists", str(e)) from None
    except ValueError as e:
        raise _invalid(e) from None
    return web.json_response(_channel_json(record))


async def close_channel(request: web.Request) -> web.Response:
    _check_token(request)
    channel = _listed_part(request, "channel", merchant_channels.CHANNELS)
    merchant = await _merchant(request)
    record = await merchant_channels.close_merchant(request.app[STORAGE], merchant.id, channel, actor=ACTOR)
    return web.json_response(_channel_json(record))


# stores

async def add_store(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    merchant = await _merchant(request)
    name, address = _field(body, "name", TEXT), _field(body, "address", TEXT, required=False) or ""
    try:
        name, address = stores.check_name(name), stores.check_address(address)
    except stores.StoreRefused as e:
        raise _invalid(e) from None
    try:
        store = await stores.add(request.app[STORAGE], merchant.id, name, address=address, actor=ACTOR)
    except stores.StoreRefused as e:              # the merchant is closed, or has a store of that name
        raise _conflict(e) from None
    return _created(_store_json(store))


async def merchant_stores(request: web.Request) -> web.Response:
    _check_token(request)
    merchant = await _merchant(request)
    views = await stores.list_stores(request.app[STORAGE], merchant.id)
    return web.json_response({"stores": [_store_view_json(view) for view in views]})


async def update_store(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    store_id = _part(request, "store_id")
    name, address = _field(body, "name", TEXT), _field(body, "address", TEXT)
    try:
        name, address = stores.check_name(name), stores.check_address(address)
    except stores.StoreRefused as e:
        raise _invalid(e) from None
    try:
        store = await stores.update(request.app[STORAGE], store_id, name=name, address=address, actor=ACTOR)
    except NotFound:
        raise _not_found(f"store {store_id}") from None
    except stores.StoreRefused as e:              # another store of the merchant has that name
        raise _conflict(e) from None
    return web.json_response(_store_json(store))


async def close_store(request: web.Request) -> web.Response:
    _check_token(request)
    await _json_body(request)
    store_id = _part(request, "store_id")
    storage = request.app[STORAGE]
    try:
        await stores.close(storage, store_id, actor=ACTOR)
    except NotFound:
        raise _not_found(f"store {store_id}") from None
    except stores.StoreRefused as e:              # devices or bound codes are still there
        raise _conflict(e) from None
    return web.json_response(_store_json(await _store(request, store_id)))


# stock and assignment

def _file_refused(message: str, problems: Sequence[tuple[int, Exception]]) -> web.Response:
    error = {"code": "bad_stock_file", "message": message,
             "problems": [{"line": line, "message": str(e)} for line, e in problems]}
    return web.json_response({"error": error, "server_time": int(time.time())}, status=422)


def _stock_lines(body: dict[str, Any]) -> list[stock.StockLine]:
    entries = body.get("devices")
    if not isinstance(entries, list) or not 1 <= len(entries) <= stock.CSV_MAX_LINES:
        raise _error(400, "invalid_field", f"devices must be a list of 1-{stock.CSV_MAX_LINES} {{serial, model?}}")
    lines, seen = [], set()
    for index, entry in enumerate(entries):
        serial = entry.get("serial") if isinstance(entry, dict) else None
        model = entry.get("model") if isinstance(entry, dict) else None
        if not isinstance(serial, str) or not isinstance(model, (str, type(None))):
            raise _error(400, "invalid_field", f"devices[{index}] must be {{serial, model?}} of text")
        try:
            line = stock.check_line(serial, model or "")
        except stock.StockRefused as e:
            raise _error(400, "invalid_field", f"devices[{index}]: {e}") from None
        # stock.receive takes the lines as given: a serial twice would meet the table's primary key.
        if line.serial in seen:
            raise _error(400, "invalid_field", f"devices[{index}]: serial {line.serial} is in the list already")
        seen.add(line.serial)
        lines.append(line)
    return lines


async def receive_stock(request: web.Request) -> web.Response:
    _check_token(request)
    if request.content_type not in (STOCK_CSV, "application/json"):
        raise _error(415, "unsupported_media_type", f"send application/json or {STOCK_CSV}")
    if request.content_type == STOCK_CSV:
        batch = request.query.get("batch", "")
        if not params.is_text(batch, stock.BATCH_MAX):
            raise params.InvalidParameter("batch", f"batch: at most {stock.BATCH_MAX} characters, no control"
                                                   " characters")
        try:
            lines = stock.parse_csv(await _read(request, stock.CSV_MAX_BYTES))
        except stock.StockFileRefused as e:
            return _file_refused(str(e), e.problems)
        except stock.StockRefused as e:           # the file as a whole: not UTF-8, no header, no device
            return _file_refused(str(e), [])
    else:
        body = await _json_body(request)
        batch = _field(body, "batch", TEXT, required=False) or ""
        if not params.is_text(batch, stock.BATCH_MAX):
            raise _error(400, "invalid_field", f"batch: at most {stock.BATCH_MAX} characters, no control characters")
        lines = _stock_lines(body)
    try:
        received = await stock.receive(request.app[STORAGE], lines, batch=batch, actor=ACTOR)
    except stock.StockRefused as e:               # serial numbers known already
        raise _error(409, "already_exists", str(e)) from None
    return _created({"received": received, "batch": batch})


async def assign_device(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    device_id = params.device_id(request.match_info["device_id"])
    merchant_id, store_id = _field(body, "merchant_id", RECORD_ID), _field(body, "store_id", RECORD_ID)
    storage = request.app[STORAGE]
    if await storage.get_device(device_id) is None:
        raise _not_found(f"device {device_id}")
    if await storage.get_merchant(merchant_id) is None:
        raise _not_found(f"merchant {merchant_id}")
    store = await _store(request, store_id)
    if store.merchant_id != merchant_id:
        raise _not_found(f"store {store_id} at merchant {merchant_id}")
    try:
        await devices.assign(storage, device_id, merchant_id, store_id=store_id, actor=ACTOR)
    except devices.LifecycleRefused as e:         # not in stock, the merchant or the store closed
        raise _conflict(e) from None
    device = await storage.get_device(device_id)
    if device is None:                            # never: devices are not deleted
        raise _not_found(f"device {device_id}")
    return web.json_response({"device_id": device_id, "lifecycle": device.lifecycle, "merchant_id": device.merchant_id,
                              "store_id": device.store_id, "store_name": device.store_name})


# static codes

async def print_batch(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    size = _field(body, "size", WHOLE_NUMBER)
    note = _field(body, "note", TEXT, required=False) or ""
    try:
        batch, codes = await static_codes.print_batch(request.app[STORAGE], size, note=note, actor=ACTOR)
    except static_codes.CodeRefused as e:         # a size or note that will not do
        raise _invalid(e) from None
    return _created({"batch": asdict(batch), "codes": [_code_json(request, code) for code in codes]})


async def _batch_codes(request: web.Request) -> tuple[str, list[StaticCode]]:
    batch_id = _part(request, "batch_id")
    codes = await static_codes.batch_codes(request.app[STORAGE], batch_id)
    if not codes:                                 # every batch has at least one code
        raise _not_found(f"batch {batch_id}")
    return batch_id, codes


async def batch_detail(request: web.Request) -> web.Response:
    _check_token(request)
    batch_id, codes = await _batch_codes(request)
    batch = await static_codes.batch(request.app[STORAGE], batch_id)
    return web.json_response({**(asdict(batch) if batch else {"id": batch_id, "size": len(codes)}),
                              "codes": [_code_json(request, code) for code in codes]})


async def batch_sheet(request: web.Request) -> web.Response:
    _check_token(request)
    batch_id, codes = await _batch_codes(request)
    public_url = request.app[SETTINGS].device_api.public_url
    # Up to 84 pages of vector QR codes: drawn off the event loop.
    pdf = await asyncio.to_thread(static_codes.batch_sheet, public_url, batch_id, codes)
    return web.Response(body=pdf, content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="codes-{batch_id}.pdf"'})


async def code_detail(request: web.Request) -> web.Response:
    _check_token(request)
    return web.json_response(_code_json(request, await _code(request, _part(request, "code_id"))))


async def bind_code(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    code = await _code(request, _part(request, "code_id"))
    store_id, device_id = _field(body, "store_id", RECORD_ID), _field(body, "device_id", RECORD_ID, required=False)
    store = await _store(request, store_id)
    try:
        bound = await static_codes.bind(request.app[STORAGE], code.id, store_id=store.id, device_id=device_id,
                                        actor=ACTOR)
    except static_codes.CodeRefused as e:         # not empty, the store or merchant closed, no device there
        raise _conflict(e) from None
    return web.json_response(_code_json(request, bound))


async def unbind_code(request: web.Request) -> web.Response:
    _check_token(request)
    await _json_body(request)
    code = await _code(request, _part(request, "code_id"))
    try:
        await static_codes.unbind(request.app[STORAGE], code.id, actor=ACTOR)
    except static_codes.CodeRefused as e:         # not bound
        raise _conflict(e) from None
    return web.json_response(_code_json(request, await _code(request, code.id)))


REASON = _choice(static_codes.END_REASONS)


async def replace_code(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    lost = await _code(request, _part(request, "code_id"))
    new = await _code(request, _field(body, "new_code_id", RECORD_ID))
    reason = _field(body, "reason", REASON, required=False) or "lost"
    try:
        taken = await static_codes.replace(request.app[STORAGE], lost.id, new.id, reason=reason, actor=ACTOR)
    except static_codes.CodeRefused as e:         # the lost code is not bound, or the new one not empty
        raise _conflict(e) from None
    return web.json_response({"replaced": _code_json(request, await _code(request, lost.id)),
                              "code": _code_json(request, taken)})


async def deregister_code(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    code = await _code(request, _part(request, "code_id"))
    reason = _field(body, "reason", REASON)
    try:
        await static_codes.deregister(request.app[STORAGE], code.id, reason=reason, actor=ACTOR)
    except static_codes.CodeRefused as e:         # deregistered already
        raise _conflict(e) from None
    return web.json_response(_code_json(request, await _code(request, code.id)))


def setup(app: web.Application) -> None:
    add = app.router
    add.add_post("/ops/v1/merchants", register_merchant)
    add.add_get("/ops/v1/merchants/{merchant_id}", merchant_detail)
    add.add_put("/ops/v1/merchants/{merchant_id}/status", set_merchant_status)
    add.add_put("/ops/v1/merchants/{merchant_id}/tier", verify_tier)
    add.add_post("/ops/v1/merchants/{merchant_id}/evidence/{kind}", add_evidence)
    add.add_put("/ops/v1/merchants/{merchant_id}/channels/{channel}", open_channel)
    add.add_delete("/ops/v1/merchants/{merchant_id}/channels/{channel}", close_channel)
    add.add_post("/ops/v1/merchants/{merchant_id}/stores", add_store)
    add.add_get("/ops/v1/merchants/{merchant_id}/stores", merchant_stores)
    add.add_put("/ops/v1/stores/{store_id}", update_store)
    add.add_post("/ops/v1/stores/{store_id}/close", close_store)
    add.add_post("/ops/v1/stock", receive_stock)
    add.add_put("/ops/v1/devices/{device_id}/assignment", assign_device)
    add.add_post("/ops/v1/code-batches", print_batch)
    add.add_get("/ops/v1/code-batches/{batch_id}", batch_detail)
    add.add_get("/ops/v1/code-batches/{batch_id}/sheet.pdf", batch_sheet)
    add.add_get("/ops/v1/codes/{code_id}", code_detail)
    add.add_post("/ops/v1/codes/{code_id}/bind", bind_code)
    add.add_post("/ops/v1/codes/{code_id}/unbind", unbind_code)
    add.add_post("/ops/v1/codes/{code_id}/replace", replace_code)
    add.add_post("/ops/v1/codes/{code_id}/deregister", deregister_code)
