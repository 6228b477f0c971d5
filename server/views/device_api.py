"""The device API: POST /d/v1/<op> (docs/device-api.md).

Every request goes through the same gate, in this order: op, content type, body size, signing
headers, device, signature, timestamp, body, fields and the op's own read-only checks (routing,
idempotency conflict, order exists), nonce. Nothing is written before the last check passes, so a
refused request changes nothing.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .. import device_auth, device_messages, errors, wire
from ..clock import now_ms
from ..keys import PAYMENTS, SETTINGS, STORAGE
from ..payments import OrderConflict, OrderNotFound, UnsupportedCode
from ..storage import DEVICE_ACTIVE, Device

OpHandler = Callable[[web.Request, Device, Any], Awaitable[dict[str, Any]]]


async def prepare_pay(request: web.Request, device: Device, message: dict) -> device_messages.PayRequest:
    pay = device_messages.parse_pay(message, max_amount_fen=request.app[SETTINGS].device_api.max_amount_fen)
    try:
        await request.app[PAYMENTS].check_pay(device, pay)
    except UnsupportedCode as e:
        raise errors.unsupported_code(str(e)) from None
    except OrderConflict as e:
        raise errors.order_conflict(str(e)) from None
    return pay


async def pay(request: web.Request, device: Device, message: device_messages.PayRequest) -> dict[str, Any]:
    try:
        order = await request.app[PAYMENTS].pay(device, message)
    except UnsupportedCode as e:
        raise errors.unsupported_code(str(e)) from None
    except OrderConflict as e:  # lost a race with a concurrent conflicting pay
        raise errors.order_conflict(str(e)) from None
    return {"order": device_messages.order_object(order)}


async def prepare_query(request: web.Request, device: Device, message: dict) -> device_messages.QueryRequest:
    query = device_messages.parse_query(message, max_wait_s=request.app[SETTINGS].device_api.max_wait_s)
    try:
        await request.app[PAYMENTS].get(device, query.order_no)
    except OrderNotFound:
        raise errors.order_not_found(f"no order {query.order_no} from this device") from None
    return query


async def query(request: web.Request, device: Device, message: device_messages.QueryRequest) -> dict[str, Any]:
    order = await request.app[PAYMENTS].wait_for_change(device, message.order_no, message.wait_s)
    return {"order": device_messages.order_object(order)}


# op -> (check and parse the request without changing anything, carry it out)
OPS: dict[str, tuple[Callable[[web.Request, Device, dict], Awaitable[Any]], OpHandler]] = {
    "pay": (prepare_pay, pay),
    "query": (prepare_query, query),
}


async def device_op(request: web.Request) -> web.Response:
    op = request.match_info["op"]
    if op not in OPS:
        raise errors.unknown_op(f"no op {op!r}")
    prepare, handle = OPS[op]
    wire_format = wire.format_of(request.content_type)
    if wire_format is None:
        raise errors.unsupported_media_type("send application/cbor or application/json")
    settings = request.app[SETTINGS].device_api

    body = await _read_body(request, settings.max_body_bytes)
    device, signed = await _authenticate(request, body, settings.timestamp_window_s)
    try:
        decoded = wire.decode(wire_format, body)
    except wire.MalformedBody as e:
        raise errors.malformed_body(str(e)) from None
    message = await prepare(request, device, decoded)
    # Last check, first write: the nonce is recorded only for a request that will be carried out.
    if not await request.app[STORAGE].remember_nonce(device.id, signed.nonce, now_ms(), settings.nonce_ttl_s * 1000):
        raise errors.nonce_reused()

    answer = await handle(request, device, message)
    answer["server_time"] = int(time.time())
    return web.Response(body=wire.encode(wire_format, answer), content_type=wire.CONTENT_TYPES[wire_format])


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise errors.body_too_large(f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:  # chunked uploads have no Content-Length: count as we read
            raise errors.body_too_large(f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _authenticate(request: web.Request, body: bytes, window_s: int) -> tuple[Device, device_auth.SignedHeaders]:
    try:
        signed = device_auth.parse_headers(request.headers)
    except device_auth.MissingAuth as e:
        raise errors.missing_auth(str(e)) from None
    device = await request.app[STORAGE].get_device(signed.device_id)
    if device is None:
        raise errors.unknown_device()
    if device.status != DEVICE_ACTIVE:
        raise errors.device_disabled()
    # The path as sent (still percent-encoded, no query string): what the device signed.
    if not device_auth.signature_matches(device.key, signed, request.method, request.rel_url.raw_path, body):
        raise errors.bad_signature()
    # Checked after the signature, so only the device itself learns that its clock is off.
    skew = int(signed.timestamp) - int(time.time())
    if abs(skew) > window_s:
        raise errors.stale_timestamp(f"timestamp is {skew:+d} s from server time")
    return device, signed
