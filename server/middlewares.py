"""Errors as `{error: {code, message}, server_time}` in the request's format; server time on every answer.
A request's body must arrive within [server] body_timeout_s."""
from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from . import errors, wire
from .errors import ApiError
from .keys import ERROR_CODE, METRICS, OP, SETTINGS

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def error_response(request: web.Request, status: int, code: str, message: str) -> web.Response:
    # Errors answer in the request's format; JSON when it had none we speak.
    wire_format = wire.format_of(request.content_type) or wire.JSON
    body = {"error": {"code": code, "message": message}, "server_time": int(time.time())}
    response = web.Response(status=status, body=wire.encode(wire_format, body),
                            content_type=wire.CONTENT_TYPES[wire_format])
    response[ERROR_CODE] = code
    return response


# No file name is longer than this (255 bytes on every Linux file system), and no URL of ours needs more
# path: longer ones answer 404 before a handler (aiohttp's static files, the firmware files) asks the OS.
_MAX_NAME_BYTES = 255
_MAX_PATH_BYTES = 2048


def _path_too_long(path: str) -> bool:
    encoded = path.encode("utf-8", "surrogatepass")
    return len(encoded) > _MAX_PATH_BYTES or any(len(part) > _MAX_NAME_BYTES for part in encoded.split(b"/"))


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        if _path_too_long(request.path):
            raise web.HTTPNotFound(reason="no such resource")
        response = await handler(request)
    except ApiError as e:
        response = error_response(request, e.status, e.code, e.message)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = _HTTP_CODES.get(e.status, f"http_{e.status}")
        message = errors.refusal(code, e.reason).message if code in errors.REFUSALS else e.reason
        response = error_response(request, e.status, code, message)
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        response = error_response(request, 500, "internal_error", errors.refusal("internal_error").message)
    if wire.format_of(request.content_type) != wire.COMPACT:     # a compact answer says it in its body
        response.headers["X-Server-Time"] = str(int(time.time()))
    if request.path.startswith("/d/v1/"):
        op = request.get(OP, "unknown")
        code = "ok" if response.status < 400 else response.get(ERROR_CODE, f"http_{response.status}")
        metrics = request.app.get(METRICS)
        if metrics is not None:
            metrics.requests.labels(op, code).inc()
    return response


async def drop_compact_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: an answer in the compact form goes without Date and Server (docs/device-api.md,
    "Compact form": its body's server_time is the date; on 4G every byte is paid for)."""
    if wire.format_of(request.content_type) == wire.COMPACT:
        response.headers.popall("Date", None)
        response.headers.popall("Server", None)


@web.middleware
async def body_deadline_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Give the client [server] body_timeout_s to send its whole body, then 408 `request_timeout`.

    The deadline covers the handler until the body's last byte has arrived, and is lifted then: a long
    poll or a slow channel call after that is not the client's doing.
    """
    timeout_s = request.app[SETTINGS].server.body_timeout_s
    waiting = [False]      # the body is still arriving (the callback may fire after we are done)

    def arrived() -> None:
        if waiting[0]:
            waiting[0] = False
            deadline.reschedule(None)

    try:
        async with asyncio.timeout(timeout_s) as deadline:
            if request.body_exists and not request.content.is_eof():
                waiting[0] = True
                request.content.on_eof(arrived)
            else:
                deadline.reschedule(None)
            return await handler(request)
    except TimeoutError:
        if not deadline.expired():
            raise
    finally:
        waiting[0] = False
    log.warning("request body not received within %g s: %s %s", timeout_s, request.method, request.path)
    refusal = errors.refusal("request_timeout", f"the request body did not arrive within {timeout_s:g} s")
    return error_response(request, refusal.status, refusal.code, refusal.message)
