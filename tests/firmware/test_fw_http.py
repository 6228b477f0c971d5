"""The firmware's HTTP/1.1 client against a small loopback server that misbehaves on purpose."""
import asyncio

import pytest

from core.http import HttpClient, NetworkError, split_url


class Server:
    """Loopback HTTP server; `script` decides each answer from the request path."""

    def __init__(self):
        self.connections = 0
        self.requests = []
        self._writers = set()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        for w in list(self._writers):
            w.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode().split(" ", 2)
                headers = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.requests.append((method, path, headers, body))
                keep = await self.answer(path, body, writer)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def answer(self, path, body, writer):
        if path.endswith("/echo"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Server-Time: 5\r\n\r\n" % len(body) + body)
            return True
        if path.endswith("/close-after"):       # no Connection: close, just hangs up afterwards
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return False
        if path.endswith("/connection-close"):
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            return False
        if path.endswith("/chunked"):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n")
            return True
        if path.endswith("/eof"):
            writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
            return False
        if path.endswith("/slow"):
            await asyncio.sleep(1)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            return True
        if path.endswith("/garbage"):
            writer.write(b"SMTP ready\r\n\r\n")
            return False
        if path.endswith("/truncated"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            return False
        if path.endswith("/huge"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
            return False
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


@pytest.mark.parametrize("url, parts", [
    ("http://127.0.0.1:8080", ("http", "127.0.0.1", 8080, "")),
    ("https://pay.example.com", ("https", "pay.example.com", 443, "")),
    ("http://h/base/", ("http", "h", 80, "/base")),
])
def test_split_url(url, parts):
    assert split_url(url) == parts


@pytest.mark.parametrize("url", ["ftp://h", "h:80", "http://", "http://:80"])
def test_split_url_refuses(url):
    with pytest.raises(ValueError):
        split_url(url)


async def test_keep_alive_reuses_one_connection():
    async with Server() as server:
        client = HttpClient(server.url)
        try:
            for n in range(3):
                r = await client.request("POST", "/echo", {"X-N": str(n)}, b"body%d" % n)
                assert (r.status, r.body, r.headers["x-server-time"]) == (200, b"body%d" % n, "5")
            assert server.connections == 1
            assert server.requests[2][2]["x-n"] == "2" and server.requests[0][2]["host"] == "127.0.0.1"
        finally:
            await client.close()


async def test_base_path_prefixes_every_request():
    async with Server() as server:
        client = HttpClient(server.url + "/api")
        try:
            assert (await client.request("POST", "/echo", None, b"x")).status == 200
            assert server.requests[0][1] == "/api/echo"
        finally:
            await client.close()


async def test_server_hanging_up_idle_connection_is_retried_transparently():
    async with Server() as server:
        client = HttpClient(server.url)
        try:
            assert (await client.request("POST", "/close-after")).body == b"ok"
            await asyncio.sleep(0.05)
            assert (await client.request("POST", "/echo", None, b"again")).body == b"again"
            assert server.connections == 2
        finally:
            await client.close()


async def test_connection_close_header_and_http10_close_the_connection():
    async with Server() as server:
        client = HttpClient(server.url)
        try:
            assert (await client.request("POST", "/connection-close")).status == 201
            assert (await client.request("GET", "/eof")).body == b"until the end"
            assert (await client.request("POST", "/echo", None, b"3")).body == b"3"
            assert server.connections == 3
        finally:
            await client.close()


async def test_chunked_body():
    async with Server() as server:
        client = HttpClient(server.url)
        try:
            assert (await client.request("GET", "/chunked")).body == b"hello, world"
            assert (await client.request("POST", "/echo", None, b"next")).body == b"next"
            assert server.connections == 1
        finally:
            await client.close()


async def test_timeout_is_a_network_error_and_the_next_request_reconnects():
    async with Server() as server:
        client = HttpClient(server.url, timeout_ms=200)
        try:
            with pytest.raises(NetworkError, match="no answer"):
                await client.request("POST", "/slow")
            assert (await client.request("POST", "/echo", None, b"ok")).body == b"ok"
            assert server.connections == 2
        finally:
            await client.close()


@pytest.mark.parametrize("path, match", [("/garbage", "not an HTTP"), ("/truncated", "EOF|Incomplete"),
                                         ("/huge", "too large")])
async def test_broken_answers_are_network_errors(path, match):
    async with Server() as server:
        client = HttpClient(server.url)
        try:
            with pytest.raises(NetworkError, match=match):
                await client.request("POST", path)
        finally:
            await client.close()


async def test_nobody_listening_is_a_network_error():
    async with Server() as server:
        url = server.url
    client = HttpClient(url, timeout_ms=2000)
    with pytest.raises(NetworkError, match="cannot connect"):
        await client.request("POST", "/echo")
    await client.close()


async def test_concurrent_requests_take_turns_on_the_connection():
    async with Server() as server:
        client = HttpClient(server.url)
        try:
            results = await asyncio.gather(*(client.request("POST", "/echo", None, b"%d" % n)
                                             for n in range(5)))
            assert [r.body for r in results] == [b"0", b"1", b"2", b"3", b"4"]
            assert server.connections == 1
        finally:
            await client.close()


async def test_cancelled_request_never_leaves_half_an_answer_behind():
    async with Server() as server:
        client = HttpClient(server.url)
        try:
            slow = asyncio.create_task(client.request("POST", "/slow"))
            await asyncio.sleep(0.1)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert (await client.request("POST", "/echo", None, b"fresh")).body == b"fresh"
            assert server.connections == 2
        finally:
            await client.close()
