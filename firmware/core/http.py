# Minimal HTTP/1.1 client over asyncio streams (MicroPython 1.23+ and CPython alike):
# one keep-alive connection, Content-Length or chunked bodies, a timeout around each exchange.
# Every failure to get an answer is a NetworkError; the caller decides whether to retry.
import asyncio

from core.compat import const, wait_for_ms

_MAX_BODY = const(65536)
_MAX_HEADERS = const(64)


class NetworkError(Exception):
    pass


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # names in lower case
        self.body = body


def split_url(url):
    """'http://host:8080/base' -> ('http', 'host', 8080, '/base')."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise ValueError("url must start with http:// or https://: %r" % url)
    hostport, slash, path = rest.partition("/")
    host, colon, port = hostport.partition(":")
    if not host:
        raise ValueError("url has no host: %r" % url)
    port = int(port) if colon else (443 if scheme == "https" else 80)
    base = ("/" + path).rstrip("/") if slash else ""
    return scheme, host, port, base


class HttpClient:
    timeout_ms = 15000

    def __init__(self, url, ssl=None, timeout_ms=None):
        """ssl: None for plain http; for https an SSL context (the board loads the CA) or True."""
        self.scheme, self.host, self.port, self.base = split_url(url)
        self._ssl = ssl if ssl is not None else (True if self.scheme == "https" else None)
        if timeout_ms:
            self.timeout_ms = timeout_ms
        self._reader = None
        self._writer = None
        self._lock = asyncio.Lock()     # one exchange at a time on the one connection

    async def request(self, method, path, headers=None, body=b"", timeout_ms=None):
        """Send one request, return its Response. Raises NetworkError."""
        head = "%s %s%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (
            method, self.base, path, self.host, len(body))
        if headers:
            for name in headers:
                head += "%s: %s\r\n" % (name, headers[name])
        request = (head + "\r\n").encode() + body
        async with self._lock:
            try:
                return await self._request(request, timeout_ms)
            except asyncio.CancelledError:
                # cancelled mid-exchange: half a response may still be on the way; never reuse it
                self._drop()
                raise

    def _drop(self):
        writer = self._writer
        self._reader = self._writer = None
        if writer:
            writer.close()

    async def _request(self, request, timeout_ms):
        try:
            return await wait_for_ms(self._exchange(request), timeout_ms or self.timeout_ms)
        except NetworkError:
            await self.close()
            raise
        except asyncio.TimeoutError:
            await self.close()
            raise NetworkError("no answer within %d ms" % (timeout_ms or self.timeout_ms))
        except (OSError, EOFError, ValueError, IndexError) as e:
            await self.close()
            raise NetworkError("%s: %s" % (type(e).__name__, e))

    async def close(self):
        writer = self._writer
        self._reader = self._writer = None
        if writer:
            try:
                writer.close()
                await writer.wait_closed()
            except Exception:   # already reset by the peer: nothing left to close
                pass

    async def _connect(self):
        try:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl)
        except OSError as e:
            raise NetworkError("cannot connect to %s:%d: %s" % (self.host, self.port, e))

    async def _exchange(self, request):
        reused = self._writer is not None
        if not reused:
            await self._connect()
        try:
            self._writer.write(request)
            await self._writer.drain()
            status_line = await self._reader.readline()
        except OSError:
            if not reused:
                raise
            status_line = b""
        if not status_line and reused:
            # the server closed the idle keep-alive connection: nothing was answered, send again
            await self.close()
            await self._connect()
            self._writer.write(request)
            await self._writer.drain()
            status_line = await self._reader.readline()
        return await self._read_response(status_line)

    async def _read_response(self, status_line):
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise NetworkError("not an HTTP response: %r" % status_line[:40])
        status = int(parts[1])
        headers = {}
        while True:
            line = await self._reader.readline()
            if not line:
                raise NetworkError("connection closed in the headers")
            if line in (b"\r\n", b"\n"):
                break
            if len(headers) >= _MAX_HEADERS:
                raise NetworkError("too many headers")
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > _MAX_BODY:
                raise NetworkError("response body too large: %d" % length)
            body = await self._reader.readexactly(length) if length else b""
        else:
            body = await self._read_to_eof()
            headers["connection"] = "close"
        keep = headers.get("connection", "").lower() != "close" and parts[0] == b"HTTP/1.1"
        if not keep:
            await self.close()
        return Response(status, headers, body)

    async def _read_chunked(self):
        body = b""
        while True:
            size = int((await self._reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await self._reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass        # trailers
                return body
            if len(body) + size > _MAX_BODY:
                raise NetworkError("response body too large")
            body += await self._reader.readexactly(size)
            await self._reader.readline()

    async def _read_to_eof(self):
        body = b""
        while True:
            chunk = await self._reader.read(1024)
            if not chunk:
                return body
            body += chunk
            if len(body) > _MAX_BODY:
                raise NetworkError("response body too large")
