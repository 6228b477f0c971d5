"""Per-client limits on guessable routes (server/throttle.py): console logins, device activation, C2B
look-ups answer 429 with Retry-After past [throttle]'s limit, other clients are not affected, and the
counts stay bounded in memory."""
from __future__ import annotations

import json
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from server.app import create_app
from server.clock import now_ms
from server.console import auth, queries
from server.keys import STORAGE
from server.settings import SettingsError, load_settings
from server.throttle import Limiter, client_of

LOGIN_CSRF = "a" * 43
PASSWORD = "correct horse battery"
SECOND = 10**9              # the limiter's clock counts nanoseconds


async def start(aiohttp_client, sandbox, tmp_path, **throttle):
    """The real app; clients are told apart by X-Forwarded-For (every test request comes from 127.0.0.1)."""
    settings = load_settings(database={"path": str(tmp_path / "throttle.db")}, resolver={"enabled": False},
                             alerts={"enabled": False}, channels={"wechat": {"base_url": sandbox.base_url}},
                             console={"failed_login_delay_s": 0.0, "secure_cookies": False},
                             throttle={"client_ip_header": "X-Forwarded-For", **throttle})
    app = create_app(settings)
    client = await aiohttp_client(app)
    await queries.add_user(app[STORAGE], "ops1", auth.hash_password(PASSWORD), "operator", None, now_ms())
    return client


def seen_from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def activate(client, address: str) -> tuple[int, dict, dict]:
    resp = await client.post("/d/v1/activate", data=json.dumps({"activation_code": "000000000000"}),
                             headers={"Content-Type": "application/json", **seen_from(address)})
    return resp.status, await resp.json(), resp.headers


def assert_rate_limited(status: int, body: dict, headers, interval_s: int) -> None:
    assert status == 429
    assert body["error"]["code"] == "rate_limited" and body["error"]["message"]
    assert isinstance(body["server_time"], int) and set(body) == {"error", "server_time"}
    assert 1 <= int(headers["Retry-After"]) <= interval_s


async def test_activation_guesses_past_the_limit_are_refused(aiohttp_client, sandbox, tmp_path):
    client = await start(aiohttp_client, sandbox, tmp_path, activate_per_min=3)
    for _ in range(3):
        status, body, _ = await activate(client, "198.51.100.7")
        assert (status, body["error"]["code"]) == (401, "activation_code_unknown")
    assert_rate_limited(*await activate(client, "198.51.100.7"), interval_s=20)   # 3 a minute: one per 20 s
    # Another address still has its own three.
    status, body, _ = await activate(client, "203.0.113.9")
    assert (status, body["error"]["code"]) == (401, "activation_code_unknown")


async def test_c2b_lookups_past_the_limit_are_refused(aiohttp_client, sandbox, tmp_path):
    client = await start(aiohttp_client, sandbox, tmp_path, c2b_per_min=3)
    # Token look-ups, the page after the app's cashier and static codes count together.
    for path in ("/c/no-such-token", "/c/no-such-token/done", "/c/s/NO-SUCH-DEVICE"):
        resp = await client.get(path, headers=seen_from("198.51.100.7"))
        assert resp.status == 404
    resp = await client.get("/c/another-token", headers=seen_from("198.51.100.7"))
    assert_rate_limited(resp.status, await resp.json(), resp.headers, interval_s=20)
    resp = await client.get("/c/another-token", headers=seen_from("203.0.113.9"))
    assert resp.status == 404


async def login(client, address: str, password: str):
    resp = await client.post("/console/login", allow_redirects=False,
                             headers={"Cookie": f"{auth.LOGIN_CSRF_COOKIE}={LOGIN_CSRF}", **seen_from(address)},
                             data={"csrf_token": LOGIN_CSRF, "username": "ops1", "password": password})
    return resp, await resp.text()


async def test_console_logins_past_the_limit_get_the_form_again_with_429(aiohttp_client, sandbox, tmp_path):
    client = await start(aiohttp_client, sandbox, tmp_path, login_per_min=3)
    for _ in range(3):
        resp, _ = await login(client, "198.51.100.7", "not-the-password")
        assert resp.status == 401
    # The fourth is not even checked, the right password included.
    resp, page = await login(client, "198.51.100.7", PASSWORD)
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 20
    assert "您的地址登录尝试过多" in page and 'name="password"' in page   # "Too many login attempts from your address"
    assert auth.SESSION_COOKIE not in resp.cookies
    # Another address logs in; looking at the form is not counted.
    resp, _ = await login(client, "203.0.113.9", PASSWORD)
    assert resp.status == 303 and auth.SESSION_COOKIE in resp.cookies
    for _ in range(5):
        assert (await client.get("/console/login", headers=seen_from("198.51.100.7"))).status == 200


async def test_the_defaults_hold_and_throttling_can_be_turned_off(aiohttp_client, sandbox, tmp_path):
    client = await start(aiohttp_client, sandbox, tmp_path)
    assert [(await activate(client, "198.51.100.7"))[0] for _ in range(11)] == [401] * 10 + [429]
    off = await start(aiohttp_client, sandbox, tmp_path / "off", enabled=False)
    assert {(await activate(off, "198.51.100.7"))[0] for _ in range(30)} == {401}


def test_a_client_gets_its_burst_then_one_request_per_interval():
    clock = [1000 * SECOND]
    limiter = Limiter(per_min=6, clock=lambda: clock[0])       # 6 at once, then one every 10 s
    assert [limiter.wait_s("a") for _ in range(6)] == [0.0] * 6
    assert limiter.wait_s("a") == pytest.approx(10.0)
    clock[0] += 4 * SECOND
    assert limiter.wait_s("a") == pytest.approx(6.0)          # refused requests do not push it further
    clock[0] += 6 * SECOND
    assert limiter.wait_s("a") == 0.0
    assert limiter.wait_s("a") == pytest.approx(10.0)
    assert limiter.wait_s("b") == 0.0                           # every client has its own
    clock[0] += 60 * SECOND
    assert [limiter.wait_s("a") for _ in range(6)] == [0.0] * 6  # a quiet minute refills the burst


@pytest.mark.parametrize("per_min", [1, 7, 9, 240, 1187, 100_000])
def test_exactly_per_min_requests_at_once_pass(per_min):
    limiter = Limiter(per_min, clock=lambda: 10**16 + 7)          # a monotonic clock months after boot
    assert not any(limiter.wait_s("a") for _ in range(per_min))
    assert limiter.wait_s("a") > 0


def test_memory_is_bounded_by_forgetting_the_longest_quiet_clients():
    limiter = Limiter(per_min=1, max_clients=3, clock=lambda: 0)
    for client in ("c0", "c1", "c2", "c3", "c4"):
        assert limiter.wait_s(client) == 0.0
    assert len(limiter) == 3
    assert limiter.wait_s("c4") > 0            # remembered
    assert limiter.wait_s("c0") == 0.0         # forgotten, so allowed again


def _request(headers: dict[str, str] | list[tuple[str, str]] | None = None, peer: str = "192.0.2.1"):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (peer, 40000) if name == "peername" else default
    return make_mocked_request("POST", "/d/v1/activate", headers=headers or {}, transport=transport)


def test_the_client_is_the_peer_unless_a_trusted_proxy_names_it():
    forwarded = {"X-Forwarded-For": "10.9.9.9, 203.0.113.9"}
    assert client_of(_request(forwarded), "") == "192.0.2.1"                 # no proxy: the header is ignored
    # Behind the proxy: its own entry, the last; the ones before it are the client's to invent.
    assert client_of(_request(forwarded), "X-Forwarded-For") == "203.0.113.9"
    assert client_of(_request(), "X-Forwarded-For") == "192.0.2.1"           # not through the proxy
    appended = [("X-Forwarded-For", "10.9.9.9"), ("X-Forwarded-For", "203.0.113.9")]   # a line of its own
    assert client_of(_request(appended), "X-Forwarded-For") == "203.0.113.9"
    # One IPv6 subscriber's /64 is one client; an IPv4-mapped address is the IPv4 one.
    assert client_of(_request(peer="2001:db8:1:2:aaaa::1"), "") == "2001:db8:1:2::/64"
    assert client_of(_request(peer="2001:db8:1:2:bbbb::9"), "") == "2001:db8:1:2::/64"
    assert client_of(_request(peer="::ffff:198.51.100.7"), "") == "198.51.100.7"


@pytest.mark.parametrize("throttle", [{"login_per_min": 0}, {"activate_per_min": -1}, {"c2b_per_min": 10**6},
                                      {"client_ip_header": "X-Forwarded-For: 1.2.3.4"}, {"per_min": 5}])
def test_bad_throttle_settings_are_refused(throttle):
    with pytest.raises(SettingsError, match="throttle"):
        load_settings(throttle=throttle)


async def test_a_throttled_payer_sees_a_page_in_chinese(aiohttp_client, sandbox, tmp_path):
    client = await start(aiohttp_client, sandbox, tmp_path, c2b_per_min=1)
    browser = {"Accept": "text/html,application/xhtml+xml", **seen_from("198.51.100.8")}
    assert (await client.get("/c/no-such-token", headers=browser)).status == 404
    resp = await client.get("/c/no-such-token", headers=browser)
    assert resp.status == 429 and resp.content_type == "text/html" and int(resp.headers["Retry-After"]) > 0
    assert "请稍后再试" in await resp.text()
