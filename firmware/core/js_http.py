# HTTP transport for the MicroPython WebAssembly port (tests, the virtual board): the port has no
# sockets, so requests go through a JavaScript module the host registers as `scanpay_http`
# (mp.registerJsModule) whose `request(method, url, headers_json, body_hex, timeout_ms, client_id)` returns a
# Promise of a JSON text {status, headers, body (hex)} or {error}; `client_id` keeps one keep-alive
# connection per transport, as each device has its own; `abort(client_id)` drops that connection when
# the firmware gives up on a request. Same interface as core.http.HttpClient.
import asyncio
import json
from binascii import hexlify, unhexlify

from core.http import NetworkError, Response


class JsHttpTransport:
    timeout_ms = 15000

    def __init__(self, url, bridge=None):
        if bridge is None:
            import scanpay_http as bridge  # pyright: ignore[reportMissingImports]  (the JS host registers it)
        self._bridge = bridge
        self.base = url.rstrip("/")

    async def request(self, method, path, headers=None, body=b"", timeout_ms=None):
        try:
            answer = await self._bridge.request(method, self.base + path, json.dumps(headers or {}),
                                                hexlify(body).decode(), timeout_ms or self.timeout_ms,
                                                id(self))
        except asyncio.CancelledError:
            # the answer may still come: never reuse that connection (HttpClient drops it too)
            self._bridge.abort(id(self))
            raise
        except Exception as e:      # a rejected Promise arrives as a JsException
            raise NetworkError("bridge: %s" % e)
        try:
            data = json.loads(str(answer))
        except ValueError:
            raise NetworkError("bridge: not JSON")
        if data.get("error"):
            raise NetworkError(data["error"])
        headers = {}
        for name in data.get("headers") or {}:
            headers[name.lower()] = data["headers"][name]
        return Response(data["status"], headers, unhexlify(data.get("body") or ""))

    async def close(self):
        pass


def on_webassembly():
    import sys
    return sys.platform == "webassembly"
