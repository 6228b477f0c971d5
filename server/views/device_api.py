"""The device API: POST /d/v1/<op> (docs/device-api.md).

Every request goes through the same gate, in this order: op, content type, body size, signing
headers, device, signature, timestamp, body, fields and the op's own read-only checks (routing,
limits, idempotency conflict, order state), nonce. Nothing is written before the last check passes,
so a refused request changes nothing; the one exception comes after the nonce: identity and place
(server/devices/anti_switching.py `check_identity`), whose refusal flags the device moved or cloned. `activate` is
the one op without signing: its one-time code is its credential.

The signing fields come in headers, or in the compact form (Content-Type application/x-scanpay) in
an envelope around the message; either way they are checked by the same code (server/device_auth.py)
at the same place in that order, and the answer comes in the request's form.
"""
from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import device_auth, device_messages, errors, rollouts, static_codes, wire
from ..c2b import qr_bitmap
from ..clock import now_ms
from ..devices import (
    ActivationRefused, DeviceFlagged, activate as activate_device, check_activation_code, check_identity, parse_place,
)
from ..keys import ANNOUNCER, DEVICES_SEEN, METRICS, OP, PAYMENTS, SETTINGS, STORAGE
from ..merchant_channels import ChannelNotOpen
from ..payments import (
    DailyLimitExceeded, MerchantNotActive, OrderConflict, OrderNotFound, OrderPaid, RefundConflict, RefundImpossible,
    UnsupportedCode,
)
from ..storage import Device, Merchant, Storage

Prepare = Callable[[web.Request, Device, dict], Awaitable[Any]]
Handle = Callable[[web.Request, Device, Any], Awaitable[dict[str, Any]]]


def _refusals(call):
    """The payments layer's exceptions as the device API's errors."""
    async def wrapped(*args):
        try:
            return await call(*args)
        except UnsupportedCode as e:
            raise errors.refusal("unsupported_code", str(e)) from None
        except MerchantNotActive as e:
            raise errors.refusal("merchant_not_active", str(e)) from None
        except ChannelNotOpen as e:
            raise errors.refusal("channel_not_open", f"this shop does not take {e.channel} payments") from None
        except OrderConflict as e:
            raise errors.refusal("order_conflict", str(e)) from None
        except OrderNotFound as e:
            raise errors.refusal("order_not_found", f"no order {e} from this device") from None
        except DailyLimitExceeded as e:
            raise errors.refusal("daily_limit_exceeded", str(e)) from None
        except OrderPaid as e:
            raise errors.refusal("order_paid", str(e)) from None
        except RefundConflict as e:
            raise errors.refusal("refund_conflict", str(e)) from None
        except RefundImpossible as e:
            raise errors.refusal(e.code, str(e)) from None
    return wrapped


# pay

@_refusals
async def prepare_pay(request: web.Request, device: Device, message: dict) -> device_messages.PayRequest:
    api = request.app[SETTINGS].device_api
    pay = device_messages.parse_pay(message, max_amount_fen=api.max_amount_fen, min_amount_fen=api.min_amount_fen)
    await request.app[PAYMENTS].check_pay(device, pay)
    return pay


@_refusals
async def pay(request: web.Request, device: Device, message: device_messages.PayRequest) -> dict[str, Any]:
    order = await request.app[PAYMENTS].pay(device, message)
    return {"order": device_messages.order_object(order)}


# qr

@_refusals
async def prepare_qr(request: web.Request, device: Device, message: dict) -> device_messages.QrRequest:
    api = request.app[SETTINGS].device_api
    qr_request = device_messages.parse_qr(message, max_amount_fen=api.max_amount_fen,
                                          min_amount_fen=api.min_amount_fen)
    await request.app[PAYMENTS].check_qr(device, qr_request)
    return qr_request


@_refusals
async def qr(request: web.Request, device: Device, message: device_messages.QrRequest) -> dict[str, Any]:
    payments = request.app[PAYMENTS]
    order = await payments.qr(device, message)
    qr_code = payments.qr_code(order)
    # The stand has no QR encoder: it draws this bitmap (raw bytes in CBOR, Base64 in JSON).
    bitmap = qr_bitmap(qr_code)
    if wire.format_of(request.content_type) not in wire.BINARY:
        bitmap["rows"] = base64.b64encode(bitmap["rows"]).decode("ascii")
    return {"order": device_messages.order_object(order), "qr_code": qr_code, "qr_bitmap": bitmap,
            "expires_at": order.deadline_at // 1000}


# query

@_refusals
async def prepare_query(request: web.Request, device: Device, message: dict) -> device_messages.QueryRequest:
    query_request = device_messages.parse_query(message, max_wait_s=request.app[SETTINGS].device_api.max_wait_s)
    await request.app[PAYMENTS].get(device, query_request.order_no)
    return query_request


@_refusals
async def query(request: web.Request, device: Device, message: device_messages.QueryRequest) -> dict[str, Any]:
    order = await request.app[PAYMENTS].wait_for_change(device, message.order_no, message.wait_s)
    return {"order": device_messages.order_object(order)}


# close

@_refusals
async def prepare_close(request: web.Request, device: Device, message: dict) -> device_messages.CloseRequest:
    close_request = device_messages.parse_close(message)
    await request.app[PAYMENTS].check_close(device, close_request.order_no)
    return close_request


@_refusals
async def close(request: web.Request, device: Device, message: device_messages.CloseRequest) -> dict[str, Any]:
    order = await request.app[PAYMENTS].close(device, message)
    return {"order": device_messages.order_object(order)}


# refund

@_refusals
async def prepare_refund(request: web.Request, device: Device, message: dict) -> device_messages.RefundRequest:
    refund_request = device_messages.parse_refund(message, max_amount_fen=request.app[SETTINGS].device_api.max_amount_fen)
    await request.app[PAYMENTS].check_refund(device, refund_request)
    return refund_request


@_refusals
async def refund(request: web.Request, device: Device, message: device_messages.RefundRequest) -> dict[str, Any]:
    refund_record, order = await request.app[PAYMENTS].refund(device, message)
    return {"refund": device_messages.refund_object(refund_record, order),
            "order": device_messages.order_object(order)}


# orders

async def prepare_orders(request: web.Request, device: Device, message: dict) -> device_messages.OrdersRequest:
    return device_messages.parse_orders(message)


async def orders(request: web.Request, device: Device, message: device_messages.OrdersRequest) -> dict[str, Any]:
    before = message.before_s * 1000 if message.before_s is not None else None
    # Only this device's orders since it came to its current store (a moved device starts afresh).
    found = await request.app[STORAGE].list_orders(device.order_scope, before=before, limit=message.limit)
    return {"orders": [device_messages.order_object(order) for order in found]}


# info

async def _merchant_of(storage: Storage, device: Device) -> Merchant:
    """The merchant of a device that may use the API: installed (check_standing), so placed at a merchant's store."""
    merchant = await storage.get_merchant(device.merchant_id) if device.merchant_id else None
    if merchant is None:      # never: an installed device has a merchant, and merchants are closed, not deleted
        raise RuntimeError(f"device {device.id} has no merchant")
    return merchant


async def prepare_info(request: web.Request, device: Device, message: dict) -> None:
    return None


async def info(request: web.Request, device: Device, message: None) -> dict[str, Any]:
    payments = request.app[PAYMENTS]
    merchant = await _merchant_of(request.app[STORAGE], device)
    limits = await payments.limits(device)
    code = await static_codes.code_of_device(request.app[STORAGE], device)
    wallets = await payments.wallets(merchant.id)       # only those the shop takes
    code_prefixes, code_lengths = payments.code_shapes(wallets)
    return {
        "device_id": device.id,
        "merchant": {"id": merchant.id, "name": merchant.name, "tier": merchant.tier},
        "store_name": device.store_name,
        "static_code": payments.static_code_url(code.id) if code else None,
        "limits": {"min_amount_fen": limits.min_amount_fen, "max_amount_fen": limits.max_amount_fen,
                   "static_code_max_fen": limits.static_code_max_fen, "daily_cap_fen": limits.daily_cap_fen,
                   "daily_used_fen": limits.daily_used_fen},
        "wallets": wallets,
        # the devices' pre-check: codes of these prefixes and lengths are routed to these wallets
        "code_prefixes": code_prefixes,
        "code_lengths": code_lengths,
        # how payments on the shop's codes reach the device to be said (events, or MQTT and events)
        "announce": request.app[ANNOUNCER].transport_for(device),
    }


# events: the payments to announce in the shop (server/announce.py)

async def prepare_events(request: web.Request, device: Device, message: dict) -> device_messages.EventsRequest:
    return device_messages.parse_events(message, max_wait_s=request.app[SETTINGS].device_api.max_wait_s)


async def events(request: web.Request, device: Device, message: device_messages.EventsRequest) -> dict[str, Any]:
    return await request.app[ANNOUNCER].events(device, message.after, message.wait_s)


# heartbeat

async def prepare_heartbeat(request: web.Request, device: Device, message: dict) -> device_messages.HeartbeatRequest:
    return device_messages.parse_heartbeat(message)


async def heartbeat(request: web.Request, device: Device,
                    message: device_messages.HeartbeatRequest) -> dict[str, Any]:
    storage = request.app[STORAGE]
    now = now_ms()
    await storage.record_heartbeat(device.id, now, message.values)
    if "firmware" in message.values:
        await rollouts.record_firmware(storage, device.id, message.values["firmware"])
    if message.acked:
        await storage.ack_commands(device.id, message.acked, now)
    commands = await storage.pending_commands(device.id)
    last_seq, _ = await storage.announcement_cursor(device.id)
    return {"heartbeat_s": request.app[SETTINGS].device_api.heartbeat_s,
            "commands": [{"id": c.id, "kind": c.kind, "args": c.args} for c in commands],
            # the device's latest announcement: one above what it has heard means it missed some (events)
            "announce_seq": last_seq}


# ota_report: one OTA step of an offered update (docs/device-api.md)

async def prepare_ota_report(request: web.Request, device: Device,
                             message: dict) -> device_messages.OtaReportRequest:
    return device_messages.parse_ota_report(message, rollouts.STEPS)


async def ota_report(request: web.Request, device: Device,
                     message: device_messages.OtaReportRequest) -> dict[str, Any]:
    return {"recorded": await rollouts.record_step(request.app[STORAGE], device.id, message.version, message.step,
                                                   message.detail)}


@dataclass(frozen=True)
class Op:
    prepare: Prepare     # check and parse the request without changing anything
    handle: Handle       # carry it out


OPS: dict[str, Op] = {
    "info": Op(prepare_info, info),
    "pay": Op(prepare_pay, pay),
    "qr": Op(prepare_qr, qr),
    "query": Op(prepare_query, query),
    "events": Op(prepare_events, events),
    "close": Op(prepare_close, close),
    "refund": Op(prepare_refund, refund),
    "orders": Op(prepare_orders, orders),
    "heartbeat": Op(prepare_heartbeat, heartbeat),
    "ota_report": Op(prepare_ota_report, ota_report),
}


async def device_op(request: web.Request) -> web.Response:
    op = request.match_info["op"]
    if op != "activate" and op not in OPS:
        raise errors.refusal("unknown_op", f"no op {op!r}")
    request[OP] = op
    started = time.monotonic()
    try:
        return await (_activate(request) if op == "activate" else _signed_op(request, OPS[op]))
    finally:
        request.app[METRICS].request_seconds.labels(op).observe(time.monotonic() - started)


async def _signed_op(request: web.Request, op: Op) -> web.Response:
    wire_format = _wire_format(request)
    settings = request.app[SETTINGS].device_api
    body = await _read_body(request, settings.max_body_bytes)
    device, signed, message_bytes = await _authenticate(request, wire_format, body, settings.timestamp_window_s)
    raw_message = _decode(wire_format, message_bytes)
    message = await op.prepare(request, device, raw_message)
    place = _place(raw_message) if op.prepare is prepare_heartbeat else None
    # Last check, first write: the nonce is recorded only for a request that will be carried out.
    if not await request.app[STORAGE].remember_nonce(device.id, signed.nonce, now_ms(), settings.nonce_keep_s * 1000,
                                                     signed_at=int(signed.timestamp) * 1000):
        raise errors.refusal("nonce_reused")
    # Anti-switching looks only at fresh, signed requests (a replay cannot flag a device), and flags
    # before it refuses: the one refusal that writes (docs/device-api.md, "Identity and place").
    try:
        await check_identity(request.app[STORAGE], device, signed, ip=request.remote, place=place,
                             clone_window_s=settings.clone_window_s)
    except DeviceFlagged as e:
        raise errors.refusal("device_cloned" if e.kind == "cloned" else "device_moved") from None
    await _seen(request, device.id)
    answer = await op.handle(request, device, message)
    return _answer(wire_format, answer)


_SEEN_EVERY_MS = 30_000


async def _seen(request: web.Request, device_id: str) -> None:
    """Any fresh signed request shows the device alive, not only heartbeats: a kiosk taking payments is
    online. Written at most every 30 s per device and process."""
    now = now_ms()
    seen = request.app[DEVICES_SEEN]
    if now - seen.get(device_id, 0) >= _SEEN_EVERY_MS:
        seen[device_id] = now
        await request.app[STORAGE].touch_device(device_id, now, now - _SEEN_EVERY_MS)


async def _activate(request: web.Request) -> web.Response:
    wire_format = _wire_format(request)
    if wire_format == wire.COMPACT:     # nothing to sign with yet: the compact form needs a key
        raise errors.refusal("unsupported_media_type", "activate takes application/cbor or application/json")
    body = await _read_body(request, request.app[SETTINGS].device_api.max_body_bytes)
    raw_message = _decode(wire_format, body)
    message = device_messages.parse_activate(raw_message)
    place = _place(raw_message)
    storage = request.app[STORAGE]
    try:
        await check_activation_code(storage, message.activation_code)
        device = await activate_device(storage, message.activation_code, hardware_id=message.hardware_id,
                                       firmware=message.firmware, place=place)
    except ActivationRefused as e:
        raise errors.refusal(e.code) from None
    merchant = await _merchant_of(storage, device)
    return _answer(wire_format, {"device_id": device.id, "device_key": device.key_hex,
                                 "merchant": {"id": merchant.id, "name": merchant.name},
                                 "store_name": device.store_name})


def _place(message: dict[str, Any]) -> list[str] | None:
    try:
        return parse_place(message)
    except ValueError as e:
        raise errors.refusal("invalid_field", str(e)) from None


def _wire_format(request: web.Request) -> str:
    wire_format = wire.format_of(request.content_type)
    if wire_format is None:
        raise errors.refusal("unsupported_media_type",
                             "send application/cbor, application/json or application/x-scanpay")
    return wire_format


def _decode(wire_format: str, body: bytes) -> dict[str, Any]:
    try:
        return wire.decode(wire_format, body)
    except wire.MalformedBody as e:
        raise errors.refusal("malformed_body", str(e)) from None


def _answer(wire_format: str, answer: dict[str, Any]) -> web.Response:
    answer["server_time"] = int(time.time())
    return web.Response(body=wire.encode(wire_format, answer), content_type=wire.CONTENT_TYPES[wire_format])


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise errors.refusal("body_too_large", f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:  # chunked uploads have no Content-Length: count as we read
            raise errors.refusal("body_too_large", f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _authenticate(request: web.Request, wire_format: str, body: bytes,
                        window_s: int) -> tuple[Device, device_auth.SignedHeaders, bytes]:
    """The device and its signing fields, and the message bytes (the body, or the compact envelope's)."""
    try:
        if wire_format == wire.COMPACT:
            signed, body = device_auth.parse_compact(body)
        else:
            signed = device_auth.parse_headers(request.headers)
    except device_auth.MissingAuth as e:
        raise errors.refusal("missing_auth", str(e)) from None
    device = await request.app[STORAGE].get_device(signed.device_id)
    if device is None:
        raise errors.refusal("unknown_device")
    device_auth.check_standing(device)   # decommissioned, flagged, not installed, not activated, disabled
    # The path as sent (still percent-encoded, no query string): what the device signed.
    if not device_auth.signature_matches(device.key, signed, request.method, request.rel_url.raw_path, body):
        raise errors.refusal("bad_signature")
    # Checked after the signature, so only the device itself learns that its clock is off.
    skew = int(signed.timestamp) - int(time.time())
    if abs(skew) > window_s:
        raise errors.refusal("stale_timestamp", f"timestamp is {skew:+d} s from server time")
    return device, signed, body
