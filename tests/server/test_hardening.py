"""What users of a payment server expect of it at the network's edge: slow clients are cut off, console
cookies are Secure unless development says otherwise, /metrics is not for anyone, malformed requests are
one WARNING line, and tracebacks are masked like every other log line."""
import asyncio
import io
import json
import logging
import time
from pathlib import Path

import aiohttp

from tests.loopback import start_server
from server.app import create_app
from server.console import auth, queries
from server.clock import now_ms
from server.keys import STORAGE
from server.logs import setup_logging
from server.settings import LoggingSettings, load_settings

from tests.server.conftest import DEVICE_ID, Device, add_device, test_settings

CODE = "134567890123456789"          # looks like a WeChat payment code


async def start_server_process(tmp_path: Path, extra_config: str) -> tuple[asyncio.subprocess.Process, int]:
    config = tmp_path / "scanpay.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "run.db"}"\n\n{extra_config}')
    return await start_server("--config", str(config), port_file=tmp_path / "port")


async def test_slow_clients_are_cut_off_and_malformed_requests_are_one_warning_line(tmp_path):
    process, port = await start_server_process(
        tmp_path, "[server]\nsandbox = true\nidle_timeout_s = 1.0\nbody_timeout_s = 1.0\n\n"
                  "[console]\nsecure_cookies = false\n")
    try:
        # Headers dribbled a line at a time (slowloris): the connection is closed, not held.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /d/v1/info HTTP/1.1\r\nHost: scanpay\r\n")
        started = time.monotonic()
        closed = False
        for i in range(40):                 # would take 12 s to send them all
            try:
                writer.write(b"X-Slow-%d: 1\r\n" % i)
                await writer.drain()
            except ConnectionError:
                closed = True
                break
            try:
                if await asyncio.wait_for(reader.read(100), 0.3) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed, "a client sending headers for 12 s kept its connection"
        assert time.monotonic() - started < 8
        writer.close()

        # A whole head, then a body that never ends: answered 408 request_timeout.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /d/v1/activate HTTP/1.1\r\nHost: scanpay\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 60\r\n\r\n{\"activation_code\": ")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 8)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        assert json.loads(body)["error"]["code"] == "request_timeout"
        writer.close()

        # A request line no HTTP client would send.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: scanpay\r\nBad Header " + CODE.encode() + b"\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(100), 8)).startswith(b"HTTP/1.0 400")
        writer.close()
    finally:
        process.terminate()
        _, stderr = await process.communicate()
    log = stderr.decode()
    assert "Traceback" not in log and " ERROR " not in log, log
    [malformed] = [line for line in log.splitlines() if "malformed HTTP request" in line]
    assert " WARNING aiohttp.server: " in malformed and CODE not in malformed
    assert "secure_cookies is off" in log          # said at start-up


async def test_a_long_poll_outlives_the_body_timeout(aiohttp_client, sandbox, tmp_path):
    """The body deadline ends with the body: a query waiting for the payer is not cut off."""
    settings = load_settings(database={"path": str(tmp_path / "p.db")}, server={"body_timeout_s": 0.3},
                             channels={"wechat": {"base_url": sandbox.base_url}})
    app = create_app(settings)
    client = await aiohttp_client(app)
    device = Device(client, DEVICE_ID, await add_device(app))
    assert (await device.qr("W1", 500))[0] == 200
    started = time.monotonic()
    status, body = await device.query("W1", wait=1)
    assert (status, body["order"]["status"]) == (200, "PAYING")
    assert time.monotonic() - started >= 0.9          # it did wait, past the body deadline


async def test_secure_cookies_by_default(aiohttp_client, sandbox, tmp_path):
    app = create_app(load_settings(database={"path": str(tmp_path / "c.db")}, resolver={"enabled": False},
                                   channels={"wechat": {"base_url": sandbox.base_url}}))
    client = await aiohttp_client(app)
    await queries.add_user(app[STORAGE], "ops1", auth.hash_password("correct horse battery"), "operator", None,
                           now_ms())
    page = await client.get("/console/login")
    login_cookie = page.cookies[auth.LOGIN_CSRF_COOKIE]
    assert login_cookie["secure"] and login_cookie["httponly"]
    resp = await client.post("/console/login", allow_redirects=False,
                             headers={"Cookie": f"{auth.LOGIN_CSRF_COOKIE}={login_cookie.value}"},
                             data={"csrf_token": login_cookie.value, "username": "ops1",
                                   "password": "correct horse battery"})
    assert resp.status == 303
    session = resp.cookies[auth.SESSION_COOKIE]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


async def test_metrics_only_with_the_token_or_from_this_machine(aiohttp_client, sandbox, tmp_path):
    token = "scrape-token-0123456789"
    open_app = create_app(test_settings(sandbox, str(tmp_path / "a.db")))
    client = await aiohttp_client(open_app)
    assert (await client.get("/metrics")).status == 200                  # Prometheus on this machine
    proxied = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert (proxied.status, (await proxied.json())["error"]["code"]) == (403, "metrics_refused")
    assert (await client.get("/healthz")).status == 200                  # health stays open

    settings = load_settings(database={"path": str(tmp_path / "b.db")}, server={"metrics_token": token},
                             channels={"wechat": {"base_url": sandbox.base_url}})
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/metrics")).status == 403
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"})).status == 403
    ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert ok.status == 200 and "scanpay_" in await ok.text()


def test_text_log_tracebacks_are_masked():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        setup_logging(LoggingSettings(level="INFO", format="text"), stream=stream)
        try:
            raise ValueError(f"channel refused code {CODE} with key {'ab' * 32}")
        except ValueError:
            logging.getLogger("scanpay.test").exception("pay failed")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    text = stream.getvalue()
    assert "Traceback" in text and "ValueError" in text
    assert CODE not in text and "ab" * 32 not in text
    assert CODE[-4:] in text


async def test_a_path_longer_than_any_file_name_is_404_not_a_server_error(aiohttp_client, sandbox, tmp_path):
    client = await aiohttp_client(create_app(test_settings(sandbox, str(tmp_path / "l.db"))))
    for path in ("/console/static/" + "x" * 1000, "/console/static/" + "x" * 256 + ".css",
                 "/d/v1/firmware/D1/1/" + "a" * 64 + "/p/v/" + "9" * 5000, "/" + "/".join(["abc"] * 700)):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"
    assert (await client.get("/console/static/console.css")).status == 200
