"""A signed device-API client in JSON or CBOR: what a kiosk's integrator, a test or a benchmark sends as a
device, signed by the firmware's own core (firmware/core/api.py's `sign_headers`), so the server is checked
against the device's signing and not against its own.

    device = DeviceClient(session, "D0001", key_hex, base_url=stack.url)
    status, answer = await device.pay("T1001", 1250, auth_code)

`http` is an aiohttp ClientSession (with `base_url`, the server's URL) or aiohttp's test client (paths
relative to its server). Every answer carries the server's time (devices have no clock): the client checks.
"""
import json
import secrets
import time

import cbor2
from core.api import sign_headers

_PREFIX = "/d/v1/"


def sign_request(device_id: str, key_hex: str, path: str, body: bytes, *, timestamp: int | None = None,
                 nonce: str | None = None, hardware_id: str | None = None, boot_id: str | None = None) -> dict:
    """The signing headers of a POST to `path` (X-Device-Id, X-Timestamp, X-Nonce, X-Signature), with the
    identity headers (X-Hardware-Id, X-Boot-Id) signed as well when both are given."""
    identity = (hardware_id, boot_id) if hardware_id is not None and boot_id is not None else None
    headers = sign_headers(bytes.fromhex(key_hex), device_id, path, body,
                           int(time.time()) if timestamp is None else int(timestamp),
                           nonce or secrets.token_urlsafe(12), identity)
    del headers["Content-Type"]        # the caller's: JSON or CBOR
    return headers


class DeviceClient:
    """One device's signed calls to the device API."""

    def __init__(self, http, device_id: str, key_hex: str, *, base_url: str = ""):
        self.http = http
        self.device_id = device_id
        self.key_hex = key_hex
        self.base_url = base_url

    async def post(self, op: str, body: bytes, *, content_type: str = "application/json",
                   headers: dict | None = None, sign: bool = True, **sign_args) -> tuple[int, dict]:
        """POST `body` as it is to /d/v1/<op> (sign=False: unsigned; `headers` override); (status, answer)."""
        path = _PREFIX + op
        all_headers = {"Content-Type": content_type}
        if sign:
            all_headers.update(sign_request(self.device_id, self.key_hex, path, body, **sign_args))
        all_headers.update(headers or {})
        async with self.http.post(self.base_url + path, data=body, headers=all_headers) as resp:
            raw = await resp.read()
            assert resp.headers["X-Server-Time"].isdigit()
            if resp.content_type == "application/cbor":
                return resp.status, cbor2.loads(raw)
            return resp.status, json.loads(raw)

    async def call(self, op: str, message: dict, *, fmt: str = "json", **kw) -> tuple[int, dict]:
        """`message` as JSON (fmt "json") or CBOR (fmt "cbor"); (status, answer)."""
        if fmt == "cbor":
            return await self.post(op, cbor2.dumps(message), content_type="application/cbor", **kw)
        return await self.post(op, json.dumps(message).encode(), **kw)

    async def pay(self, order_no: str, amount_fen: int, auth_code: str, **kw) -> tuple[int, dict]:
        return await self.call("pay", {"order_no": order_no, "amount_fen": amount_fen, "auth_code": auth_code}, **kw)

    async def query(self, order_no: str, wait: int = 0, **kw) -> tuple[int, dict]:
        return await self.call("query", {"order_no": order_no, "wait": wait}, **kw)

    async def qr(self, order_no: str, amount_fen: int, **kw) -> tuple[int, dict]:
        return await self.call("qr", {"order_no": order_no, "amount_fen": amount_fen}, **kw)

    async def close(self, order_no: str, **kw) -> tuple[int, dict]:
        return await self.call("close", {"order_no": order_no}, **kw)

    async def refund(self, order_no: str, refund_no: str, amount_fen: int, **kw) -> tuple[int, dict]:
        return await self.call("refund", {"order_no": order_no, "refund_no": refund_no, "amount_fen": amount_fen},
                               **kw)
