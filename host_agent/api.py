"""The agent's client of the device API (docs/device-api.md): the agent is a device with its own id
and key. Requests are signed with HMAC-SHA256, bodies are CBOR (or JSON), the clock follows the
server's `server_time`, `pay` is retried with the same order_no (the server never charges twice)
and `query` long-polls.

    api = DeviceApi("https://pay.example.com", "PC0001", key_hex)
    order = await api.pay("H20261122A1B2", 1250, auth_code)
    order = await api.query(order["order_no"], wait=20)
"""
import asyncio
import hashlib
import hmac
import json
import secrets
import time

import aiohttp
import cbor2

PREFIX = "/d/v1/"
PAYING, SUCCESS, FAILED, CLOSED = "PAYING", "SUCCESS", "FAILED", "CLOSED"
FINAL = ("SUCCESS", "FAILED", "CLOSED", "REFUNDED")


class ApiError(Exception):
    """The server refused the request: HTTP 4xx/5xx with a stable error code."""

    def __init__(self, code, message="", status=0):
        super().__init__("%s: %s" % (code, message) if message else code)
        self.code = code
        self.message = message
        self.status = status


class ServerUnreachable(Exception):
    """No answer from the server (refused connection, DNS, timeout, cut connection)."""


def string_to_sign(path, timestamp, nonce, body):
    return "POST\n%s\n%s\n%s\n%s" % (path, timestamp, nonce, hashlib.sha256(body).hexdigest())


def sign(key, path, timestamp, nonce, body):
    """Lower-case hex HMAC-SHA256 of the string to sign; key is the 32 raw bytes."""
    return hmac.new(key, string_to_sign(path, timestamp, nonce, body).encode(), hashlib.sha256).hexdigest()


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
        timestamp = str(int(time.time() + self.clock_offset_s))
        nonce = secrets.token_hex(8)
        return {"Content-Type": content_type, "X-Device-Id": self.device_id, "X-Timestamp": timestamp,
                "X-Nonce": nonce, "X-Signature": sign(self._key, path, timestamp, nonce, body)}

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
            error = answer.get("error") if isinstance(answer, dict) else None
            if not isinstance(error, dict):
                raise ApiError("http_%d" % status, "unexpected answer from the server", status)
            code = error.get("code") or "http_%d" % status
            if code == "stale_timestamp" and attempt == 0:
                continue            # our clock was just corrected from server_time: sign again
            raise ApiError(code, error.get("message") or "", status)

    @staticmethod
    def _order(answer):
        order = answer.get("order")
        if not isinstance(order, dict) or not isinstance(order.get("status"), str):
            raise ApiError("bad_response", "no order in the server's answer", 200)
        return order

    async def pay(self, order_no, amount_fen, auth_code, subject=None):
        """The order after `pay`; lost answers and server faults retried with the same order_no."""
        if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
            raise ValueError("amount_fen must be a positive whole number of fen")
        fields = {"order_no": order_no, "amount_fen": amount_fen, "auth_code": auth_code}
        if subject:
            fields["subject"] = subject
        for attempt in range(1, self.pay_attempts + 1):
            try:
                return self._order(await self.call("pay", fields))
            except ServerUnreachable:
                if attempt >= self.pay_attempts:
                    raise
            except ApiError as exc:
                if exc.status < 500 or attempt >= self.pay_attempts:
                    raise
            await asyncio.sleep(self.retry_s * attempt)

    async def query(self, order_no, wait=0):
        return self._order(await self.call("query", {"order_no": order_no, "wait": wait},
                                           timeout_s=wait + self.timeout_s))
