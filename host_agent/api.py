"""The agent's client of the device API (docs/device-api.md): the agent is a device with its own id
and key. Requests are signed with HMAC-SHA256, bodies are CBOR (or JSON), the clock follows the
server's `server_time`, `pay` is retried with the same order_no (the server never charges twice)
and `query` long-polls.

    api = DeviceApi("https://pay.example.com", "PC0001", key_hex)
    order = await api.pay("H20261122A1B2", 1250, auth_code)
    order = await api.query(order["order_no"], wait=20)

The protocol is the firmware's (firmware/core/api.py): the string to sign and the signed headers, the
`pay` fields, how an order and a refusal are read out of an answer, the order statuses and ApiError.
What is the agent's own: the transport (an aiohttp session instead of the firmware's socket client),
JSON bodies as well as CBOR, the PC's wall clock corrected by server_time (the firmware counts from its
uptime), and order numbers (docs/host-agent.md, "What the agent shares with the firmware").
"""
import asyncio
import json
import secrets
import time

import aiohttp
import cbor2
from core.api import FINAL, PAYING, SUCCESS, ApiError, order_of, pay_fields, refusal, sign_headers

__all__ = ["FINAL", "PAYING", "SUCCESS", "ApiError", "DeviceApi", "ServerUnreachable", "new_order_no", "sign"]

PREFIX = "/d/v1/"


class ServerUnreachable(Exception):
    """No answer from the server (refused connection, DNS, timeout, cut connection)."""


def sign(key, path, timestamp, nonce, body):
    """Lower-case hex HMAC-SHA256 of the documented string to sign; key is the 32 raw bytes."""
    return sign_headers(key, "", path, body, int(timestamp), nonce)["X-Signature"]


def new_order_no(prefix="H"):
    """Unique per device, 1-32 of [A-Za-z0-9_-]: 'H261122-023349-9449b80f' (UTC date, time, 8 random
    hex). The dashes keep it from looking like a payment code, which logs mask."""
    return "%s%s-%s" % (prefix, time.strftime("%y%m%d-%H%M%S", time.gmtime()), secrets.token_hex(4))


class DeviceApi:
    pay_attempts = 3
    retry_s = 1.5

    def __init__(self, base_url, device_id, device_key_hex, *, body_format="cbor", timeout_s=10.0):
        key = bytes.fromhex(device_key_hex)
        if len(key) != 32:
            raise ValueError("the device key is 64 hex characters (32 bytes)")
        if body_format not in ("cbor", "json"):
            raise ValueError("body_format must be cbor or json")
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self._key = key
        self.body_format = body_format
        self.timeout_s = timeout_s
        self.clock_offset_s = 0.0       # server time - our time, from the last answer
        self._session = None

    async def close(self):
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def _encode(self, fields):
        if self.body_format == "cbor":
            return cbor2.dumps(fields), "application/cbor"
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode(), "application/json"

    def _decode(self, body):
        if not body:
            return None
        try:
            return cbor2.loads(body) if self.body_format == "cbor" else json.loads(body)
        except (ValueError, cbor2.CBORDecodeError):
            return None

    def headers(self, path, body, content_type):
        return sign_headers(self._key, self.device_id, path, body, int(time.time() + self.clock_offset_s),
                            secrets.token_hex(8), content_type=content_type)

    def _adopt_time(self, answer, headers):
        server_time = answer.get("server_time") if isinstance(answer, dict) else None
        if not isinstance(server_time, int):
            try:
                server_time = int(headers.get("X-Server-Time", ""))
            except ValueError:
                return
        self.clock_offset_s = server_time - time.time()

    async def call(self, op, fields, timeout_s=None):
        """POST one op: the answer's map on 200, ApiError on a refusal, ServerUnreachable without one."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        path = PREFIX + op
        body, content_type = self._encode(fields)
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        for attempt in range(2):
            try:
                async with self._session.post(self.base_url + path, data=body, timeout=timeout,
                                              headers=self.headers(path, body, content_type)) as response:
                    raw = await response.read()
                    status, response_headers = response.status, response.headers
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise ServerUnreachable("%s: %s" % (self.base_url, type(exc).__name__ if not str(exc)
                                                    else exc)) from None
            answer = self._decode(raw)
            self._adopt_time(answer, response_headers)
            if status == 200 and isinstance(answer, dict):
                return answer
            refused = refusal(status, answer)
            if refused.code == "stale_timestamp" and attempt == 0:
                continue            # our clock was just corrected from server_time: sign again
            raise refused
        raise ApiError("stale_timestamp", "clock still refused after correction", 401)

    async def pay(self, order_no, amount_fen, auth_code, subject=None):
        """The order after `pay`; lost answers and server faults retried with the same order_no."""
        fields = pay_fields(order_no, amount_fen, auth_code, subject)
        for attempt in range(1, self.pay_attempts + 1):
            try:
                return order_of(await self.call("pay", fields))
            except ServerUnreachable:
                if attempt >= self.pay_attempts:
                    raise
            except ApiError as exc:
                if exc.status < 500 or attempt >= self.pay_attempts:
                    raise
            await asyncio.sleep(self.retry_s * attempt)

    async def query(self, order_no, wait=0):
        return order_of(await self.call("query", {"order_no": order_no, "wait": wait},
                                           timeout_s=wait + self.timeout_s))

    async def info(self):
        """The device's merchant, store, limits and the wallets and code prefixes the shop takes."""
        return await self.call("info", {})
