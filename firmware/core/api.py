# Client of the scanpay device API (docs/device-api.md): CBOR bodies, HMAC-SHA256 signed requests,
# the clock taken from the server (devices have no RTC), `pay` retried with the same order_no
# (the server's idempotency key) and `query` long-polls.
# The transport is injected: anything with `async request(method, path, headers, body, timeout_ms)`
# returning an object with .status, .headers, .body and raising http.NetworkError.
# The host agent's aiohttp client (host_agent/api.py) signs, builds and reads messages with the
# module-level functions here (sign_headers, pay_fields, order_of, refusal): one protocol, written once.
# Requests are signed in headers, or with `compact=True` (config "request_form": "compact") in the compact
# form: signature and fields in a CBOR envelope, field names as numbers, half the bytes on 4G.
from binascii import hexlify

from core import cbor, compact
from core.compat import asleep_ms, const, ticks_diff, ticks_ms, urandom
from core.hmac_sha256 import hmac_sha256, hmac_sha256_hex, sha256_hex
from core.http import NetworkError

_PREFIX = "/d/v1/"
_MARGIN_MS = const(10000)       # on top of a long poll's wait: the server answers at `wait`

PAYING = "PAYING"
SUCCESS = "SUCCESS"
FAILED = "FAILED"
CLOSED = "CLOSED"
REFUNDED = "REFUNDED"
FINAL = (SUCCESS, FAILED, CLOSED, REFUNDED)


class ApiError(Exception):
    """The server refused the request (HTTP 4xx/5xx with a stable error code)."""

    def __init__(self, code, message="", status=0):
        super().__init__("%s: %s" % (code, message) if message else code)
        self.code = code
        self.message = message
        self.status = status


def order_of(answer):
    """The `order` map of an answer (pay, query, qr, close, refund); ApiError bad_response without one."""
    order = answer.get("order")
    if not isinstance(order, dict) or not isinstance(order.get("status"), str):
        raise ApiError("bad_response", "no order in the answer", 200)
    return order


def refusal(status, answer):
    """The ApiError of a non-200 answer: its `error` map's code and message, or http_<status>."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return ApiError("http_%d" % status, "unexpected answer", status)
    return ApiError(error.get("code") or "http_%d" % status, error.get("message") or "", status)


def pay_fields(order_no, amount_fen, auth_code, subject=None):
    """The `pay` request's fields; ValueError for an amount that is not a positive whole number of fen."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ValueError("amount_fen must be a positive integer")
    fields = {"order_no": order_no, "amount_fen": amount_fen, "auth_code": auth_code}
    if subject:
        fields["subject"] = subject
    return fields


class ServerClock:
    """Server time = uptime + offset; the offset comes from every response's server_time."""

    def __init__(self):
        self._offset_ms = None
        self._t0 = ticks_ms()
        self._up_ms = 0

    def _uptime_ms(self):
        # ticks wrap (every ~12 days on 30-bit ticks): accumulate the differences instead
        now = ticks_ms()
        self._up_ms += ticks_diff(now, self._t0)
        self._t0 = now
        return self._up_ms

    @property
    def synced(self):
        return self._offset_ms is not None

    def adopt(self, server_time):
        self._offset_ms = server_time * 1000 - self._uptime_ms()

    def now(self):
        """Unix seconds as the server sees them (0-based uptime before the first answer)."""
        return (self._uptime_ms() + (self._offset_ms or 0)) // 1000


def make_nonce():
    return hexlify(urandom(8)).decode()


def string_to_sign(path, timestamp, nonce, body, identity=None):
    text = "POST\n%s\n%d\n%s\n%s" % (path, timestamp, nonce, sha256_hex(body))
    if identity:
        # the chip's id and this boot's id are signed too: the server tells a copied key by them
        text += "\n%s\n%s" % identity
    return text


def sign_headers(key, device_id, path, body, timestamp, nonce, identity=None, content_type="application/cbor"):
    """The headers of a signed request: key is the 32 raw key bytes, timestamp Unix seconds (int),
    identity (hardware id, boot id) or None."""
    signature = hmac_sha256_hex(key, string_to_sign(path, timestamp, nonce, body, identity).encode())
    headers = {
        "Content-Type": content_type,
        "X-Device-Id": device_id,
        "X-Timestamp": str(timestamp),
        "X-Nonce": nonce,
        "X-Signature": signature,
    }
    if identity:
        headers["X-Hardware-Id"], headers["X-Boot-Id"] = identity
    return headers


def sign_compact(key, device_id, path, message, timestamp, nonce, identity=None):
    """The body of a compact signed request: the CBOR array [device id, timestamp, nonce, (hardware id,
    boot id,) message, signature]. message: the CBOR bytes of the fields (keys packed), nonce: raw bytes
    (signed as their hex), signature: the 32 raw bytes of the same HMAC as sign_headers'."""
    text = string_to_sign(path, timestamp, hexlify(nonce).decode(), message, identity)
    envelope = [device_id, timestamp, nonce]
    if identity:
        envelope.extend(identity)
    envelope.append(message)
    envelope.append(hmac_sha256(key, text.encode()))
    return cbor.encode(envelope)


class DeviceApi:
    pay_attempts = 3            # same order_no every time: the server never charges twice
    retry_ms = 1500
    timeout_ms = 15000

    def __init__(self, transport, device_id, device_key, clock=None, hardware_id=None, compact=False):
        """device_key: the 32 raw key bytes, or the 64 hex characters the device was given.
        hardware_id: the chip's id (the board's machine.unique_id() in hex), sent with a boot id
        made here, new at every boot, in X-Hardware-Id / X-Boot-Id (None: neither is sent).
        compact: requests and answers in the compact form (False: signing headers, plain CBOR)."""
        if isinstance(device_key, str):
            from binascii import unhexlify
            device_key = unhexlify(device_key)
        if len(device_key) != 32:
            raise ValueError("device key must be 32 bytes")
        self.transport = transport
        self.device_id = device_id
        self._key = device_key
        self.clock = clock or ServerClock()
        self.identity = (hardware_id, hexlify(urandom(8)).decode()) if hardware_id else None
        self.compact = compact

    def sibling(self, transport):
        """The same device on another connection (its own transport): the same key, clock and boot
        identity, so the server sees one device. Announcements long-poll on it (core/announce.py), so
        a payment never waits behind their poll on the one connection."""
        other = DeviceApi(transport, self.device_id, self._key, self.clock, compact=self.compact)
        other.identity = self.identity
        return other

    @property
    def key(self):
        """The 32 raw key bytes (the MQTT password is derived from them, core/announce.py)."""
        return self._key

    def sign(self, path, body, timestamp, nonce):
        """The signing headers for a request (with the identity headers when the board gave its id)."""
        return sign_headers(self._key, self.device_id, path, body, timestamp, nonce, self.identity)

    def _adopt_time(self, response, answer):
        server_time = answer.get("server_time") if isinstance(answer, dict) else None
        if not isinstance(server_time, int):
            try:
                server_time = int(response.headers.get("x-server-time", ""))
            except ValueError:
                return
        self.clock.adopt(server_time)

    async def call(self, op, fields, timeout_ms=None):
        """POST one op; the answer's map on 200, ApiError otherwise, NetworkError without answer."""
        path = _PREFIX + op
        message = cbor.encode(compact.pack_keys(fields) if self.compact else fields)
        for attempt in range(2):
            if self.compact:
                headers = {"Content-Type": compact.CONTENT_TYPE}
                body = sign_compact(self._key, self.device_id, path, message, self.clock.now(), urandom(8),
                                    self.identity)
            else:
                headers, body = self.sign(path, message, self.clock.now(), make_nonce()), message
            response = await self.transport.request(
                "POST", path, headers, body, timeout_ms or self.timeout_ms)
            try:
                answer = cbor.decode(response.body) if response.body else None
            except cbor.CBORError:
                answer = None
            if self.compact:
                answer = compact.unpack_keys(answer)
            self._adopt_time(response, answer)
            if response.status == 200 and isinstance(answer, dict):
                return answer
            refused = refusal(response.status, answer)
            if refused.code == "stale_timestamp" and attempt == 0:
                continue        # the clock was just corrected from server_time: sign again
            raise refused
        raise ApiError("stale_timestamp", "clock still refused after correction", 401)

    async def pay(self, order_no, amount_fen, auth_code, subject=None):
        """The order after `pay`. Network errors and server faults (5xx) are retried with the same
        order_no; after the last attempt the NetworkError or ApiError goes to the caller."""
        fields = pay_fields(order_no, amount_fen, auth_code, subject)
        attempt = 0
        while True:
            attempt += 1
            try:
                return order_of(await self.call("pay", fields))
            except NetworkError:
                if attempt >= self.pay_attempts:
                    raise
            except ApiError as e:
                if e.status < 500 or attempt >= self.pay_attempts:
                    raise
            await asleep_ms(self.retry_ms * attempt)

    async def _idempotent(self, op, fields):
        """An op whose fields carry its idempotency key: lost answers and 5xx retried unchanged."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.call(op, fields)
            except NetworkError:
                if attempt >= self.pay_attempts:
                    raise
            except ApiError as e:
                if e.status < 500 or attempt >= self.pay_attempts:
                    raise
            await asleep_ms(self.retry_ms * attempt)

    async def qr(self, order_no, amount_fen, subject=None):
        """(order, qr_code text, answer) for a one-time code the payer scans (C2B)."""
        fields = {"order_no": order_no, "amount_fen": amount_fen}
        if subject:
            fields["subject"] = subject
        answer = await self._idempotent("qr", fields)
        return order_of(answer), answer.get("qr_code"), answer

    async def info(self):
        """The device's merchant, store, limits, static code and wallets (the whole answer map)."""
        return await self.call("info", {})

    async def orders(self, limit=20, before=None):
        """The device's recent orders on the server, newest first."""
        fields = {"limit": limit}
        if before is not None:
            fields["before"] = before
        answer = await self.call("orders", fields)
        orders = answer.get("orders")
        if not isinstance(orders, list):
            raise ApiError("bad_response", "no orders in the answer", 200)
        return orders

    async def close(self, order_no):
        return order_of(await self._idempotent("close", {"order_no": order_no}))

    async def refund(self, order_no, refund_no, amount_fen, reason=None):
        """(refund, order); retried with the same refund_no, which never pays out twice."""
        fields = {"order_no": order_no, "refund_no": refund_no, "amount_fen": amount_fen}
        if reason:
            fields["reason"] = reason
        answer = await self._idempotent("refund", fields)
        return answer.get("refund"), order_of(answer)

    async def heartbeat(self, **fields):
        """battery_pct, charging, signal_dbm, network, firmware, uptime_s, acked -> the answer map."""
        return await self.call("heartbeat", fields)

    async def events(self, after, wait=0):
        """Payments to say in the shop above `after` (docs/device-api.md, events); with wait > 0 the
        server holds the request until one comes or wait runs out. The whole answer map."""
        return await self.call("events", {"after": after, "wait": wait}, timeout_ms=wait * 1000 + _MARGIN_MS)

    async def query(self, order_no, wait=0):
        """The order; with wait > 0 the server holds the request until it is final or wait runs out."""
        answer = await self.call("query", {"order_no": order_no, "wait": wait},
                                 timeout_ms=wait * 1000 + _MARGIN_MS)
        return order_of(answer)
