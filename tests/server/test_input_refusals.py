"""Hostile URL parts and query parameters (issue 18, findings 4 and 5): each one that used to answer 500 is
refused with a 4xx and a stable code, and nothing is written.

The reproducers: Unicode digits ("²": `isdigit()` is True, `int()` fails), integers of thousands of digits
(`int()` refuses more than 4,300), days whose next day does not exist (9999-12-31), control characters
(a newline, which aiohttp refuses in a reason phrase; NUL, which PostgreSQL refuses in text), and lone
surrogates, which cannot be encoded for the database or the page. aiohttp's C parser refuses raw
non-UTF-8 bytes in a URL, but its pure-Python parser (AIOHTTP_NO_EXTENSIONS=1, or no compiled
extension) hands them on as surrogates, so those tests run with it. The XML entity expansion of finding 5
is in tests/channels/test_wechat_xml_hardening.py, and here through POST /n/wechat.
"""
from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import secrets

import aiohttp.http_parser
import aiohttp.web_protocol
import pytest

from tests.server.conftest import DEVICE_ID, add_device
from server import params
from server.app import create_app
from server.channels.wechat import signing
from server.channels.wechat.xmlcodec import from_xml, to_xml
from server.clock import now_ms
from server.console import auth, queries
from server.device_messages import QrRequest
from server.keys import PAYMENTS, STORAGE
from server.settings import SANDBOX_API_KEY, SANDBOX_APPID, SANDBOX_MCH_ID, load_settings

OPS_TOKEN = "ops-token-0123456789"
OPERATOR, PASSWORD = "ops1", "correct horse battery"
# Every table a refused request could have written to.
TABLES = ("orders", "order_events", "refunds", "devices", "device_events", "device_inspections", "device_flags",
          "activation_codes", "rollouts", "rollout_devices", "firmware_releases", "nonces", "merchants")
SURROGATE = b"\xed\xa0\x80"        # UTF-8-style bytes of U+D800: the Python parser makes "\udced\udca0\udc80"


class Server:
    def __init__(self, client, app):
        self.client, self.app = client, app
        self.csrf_token = ""

    @property
    def storage(self):
        return self.app[STORAGE]

    async def counts(self) -> dict[str, int]:
        return await self.storage.table_counts(TABLES)

    async def log_in(self) -> None:
        """An operator's console session in the client's cookie jar, and its CSRF token."""
        await queries.add_user(self.storage, OPERATOR, auth.hash_password(PASSWORD), "operator", None, now_ms())
        page = await self.client.get("/console/login")
        token = page.cookies[auth.LOGIN_CSRF_COOKIE].value
        resp = await self.client.post("/console/login", allow_redirects=False,
                                      data={"csrf_token": token, "username": OPERATOR, "password": PASSWORD})
        assert resp.status == 303
        detail = await (await self.client.get(f"/console/devices/{DEVICE_ID}")).text()
        self.csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', detail).group(1)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self.client.session.cookie_jar)

    async def raw(self, method: str, target: bytes, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> tuple[int, bytes]:
        """One request written byte for byte (the client would percent-encode the path): (status, body)."""
        reader, writer = await asyncio.open_connection(self.client.host, self.client.port)
        head = {"Host": "scanpay", "Connection": "close", "Content-Length": str(len(body)), **(headers or {})}
        writer.write(method.encode() + b" " + target + b" HTTP/1.1\r\n"
                     + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in head.items()) + b"\r\n" + body)
        answer = await reader.read()
        writer.close()
        status_line, _, rest = answer.partition(b"\r\n")
        return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.fixture
async def server(aiohttp_client, sandbox, database, tmp_path) -> Server:
    settings = load_settings(
        database=database, resolver={"enabled": False}, ops={"tokens": [OPS_TOKEN]},
        console={"secure_cookies": False, "failed_login_delay_s": 0.0},
        reconcile={"enabled": False, "out_dir": str(tmp_path / "reconcile")},
        channels={"wechat": {"base_url": sandbox.base_url}})
    app = create_app(settings)
    client = await aiohttp_client(app)
    await add_device(app)
    return Server(client, app)


@pytest.fixture
async def console(server) -> Server:
    await server.log_in()
    return server


@pytest.fixture
def python_http_parser(monkeypatch):
    """The server's connections parse with aiohttp's pure-Python parser, as with AIOHTTP_NO_EXTENSIONS=1."""
    monkeypatch.setattr(aiohttp.web_protocol, "HttpRequestParser", aiohttp.http_parser.HttpRequestParserPy)


async def json_refusal(resp) -> tuple[int, str]:
    return resp.status, (await resp.json())["error"]["code"]


def page_refusal(status: int, text: str) -> tuple[int, str | None]:
    """(status, the error code the console's error page names)."""
    code = re.search(r'data-error-code="([a-z_]+)"', text)
    return status, code.group(1) if code else None


# the devices' firmware downloads and the operations API

@pytest.mark.parametrize("expires, mac, refusal", [
    ("%C2%B2", "0" * 32, (400, "invalid_parameter")),       # "²": str.isdigit() is True, int() raises
    ("9" * 200, "0" * 32, (400, "invalid_parameter")),      # more digits than a timestamp has
    ("9" * 5000, "0" * 32, (404, "not_found")),             # int() refused it; now a name no file has (the edge)
    ("4102444800", "%C3%A9" * 32, (400, "invalid_parameter")),   # non-ASCII: hmac.compare_digest raised
], ids=["unicode-digit", "200-digits", "5000-digits", "non-ascii-mac"])
async def test_a_firmware_url_with_a_malformed_part_is_refused_without_a_key(server, expires, mac, refusal):
    before = await server.counts()
    resp = await server.client.get(f"/d/v1/firmware/{DEVICE_ID}/{expires}/{mac}/box/1.0/manifest.json")
    assert await json_refusal(resp) == refusal
    assert await server.counts() == before


@pytest.mark.parametrize("method, path", [
    ("PUT", "/ops/v1/devices/%00/group"),
    ("GET", "/ops/v1/rollouts/%00"),
    ("POST", "/ops/v1/rollouts/a%0Ab/stop"),
], ids=["group-device", "rollout", "rollout-stop"])
async def test_ops_url_parts_are_checked(server, method, path):
    before = await server.counts()
    resp = await server.client.request(method, path, json={"group": "g1"},
                                       headers={"Authorization": "Bearer " + OPS_TOKEN})
    assert await json_refusal(resp) == (400, "invalid_parameter")
    assert await server.counts() == before


@pytest.mark.parametrize("store, code", [("a\x00b", "invalid_field"), ("\ud800", "malformed_body")],
                         ids=["nul", "surrogate"])
async def test_ops_text_fields_refuse_what_the_database_cannot_store(server, store, code):
    """A NUL is a field the database cannot hold; a lone surrogate is not text at all (the body's decoder,
    the device API's, refuses it as it does on /d/v1)."""
    before = await server.counts()
    body = json.dumps({"device_id": "D0002", "profile": "box", "merchant_id": "M1", "store": store}).encode()
    resp = await server.client.post("/ops/v1/devices", data=body, headers={
        "Authorization": "Bearer " + OPS_TOKEN, "Content-Type": "application/json"})
    assert await json_refusal(resp) == (400, code)
    assert await server.counts() == before


async def test_an_ops_token_that_is_not_utf8_is_refused(server):
    # Header bytes that are not UTF-8 come as surrogates with either parser; encoding them raised.
    status, body = await server.raw("GET", b"/ops/v1/rollouts/R1",
                                    {"Authorization": "Bearer " + SURROGATE.decode("latin-1") + "x" * 16})
    assert status == 401 and b'"unauthorized"' in body


async def test_an_ops_url_part_with_a_surrogate_is_refused(server, python_http_parser):
    status, body = await server.raw("PUT", b"/ops/v1/devices/" + SURROGATE + b"/group",
                                    {"Authorization": "Bearer " + OPS_TOKEN, "Content-Type": "application/json"},
                                    b'{"group": "g1"}')
    assert status == 400 and b'"invalid_parameter"' in body


# the console

@pytest.mark.parametrize("page", ["/console/orders", "/console/orders/summary"])
async def test_a_day_range_ending_on_the_last_day_of_the_calendar_is_refused(console, page):
    before = await console.counts()
    resp = await console.client.get(page, params={"from": "2026-01-01", "to": "9999-12-31"})
    assert resp.status == 400
    assert "结束日期：2000-01-01 至 2099-12-31 之间的日期" in await resp.text()   # "To: a day from …"
    assert await console.counts() == before


@pytest.mark.parametrize("query", [{"store": "a\x00b"}, {"q": "\x00"}, {"device": "D\n1"},
                                   {"merchant": "M\x001"}, {"channel": "wechat\x00"}, {"from": "２０２６-01-01"}],
                         ids=["store-nul", "q-nul", "device-newline", "merchant-nul", "channel-nul", "fullwidth-day"])
async def test_console_order_filters_refuse_control_characters(console, query):
    before = await console.counts()
    resp = await console.client.get("/console/orders", params=query)
    assert resp.status == 400
    assert await console.counts() == before


async def test_a_report_path_with_a_newline_is_refused(console):
    resp = await console.client.get("/console/reports/2026-01-01/wechat%0A")
    assert page_refusal(resp.status, await resp.text()) == (400, "invalid_parameter")
    resp = await console.client.get("/console/reports/%D9%A2%D9%A0%D9%A2%D9%A6-01-01/wechat")   # Arabic-Indic digits
    assert page_refusal(resp.status, await resp.text()) == (400, "invalid_parameter")


@pytest.mark.parametrize("wait", ["%C2%B2", "9" * 5000, "-1"], ids=["unicode-digit", "5000-digits", "negative"])
async def test_the_cashier_long_poll_refuses_a_wait_that_is_not_a_number(console, wait):
    before = await console.counts()
    resp = await console.client.get(f"/console/cashier/order?device_id={DEVICE_ID}&order_no=A1&wait={wait}")
    assert await json_refusal(resp) == (400, "invalid_parameter")
    assert await console.counts() == before


async def test_the_cashier_long_poll_refuses_a_device_id_with_nul(console):
    resp = await console.client.get("/console/cashier/order?device_id=D%00&order_no=A1&wait=0")
    assert await json_refusal(resp) == (400, "invalid_parameter")


@pytest.mark.parametrize("path", ["/console/devices/{}", "/console/orders/{}", "/console/rollouts/{}",
                                  "/console/reports/{}/wechat"])
async def test_console_url_parts_with_a_surrogate_are_refused(console, python_http_parser, path):
    before = await console.counts()
    status, body = await console.raw("GET", path.format("X" + SURROGATE.decode("latin-1")).encode("latin-1"),
                                     {"Cookie": console.cookie_header(), "Accept": "text/html"})
    assert page_refusal(status, body.decode()) == (400, "invalid_parameter")
    assert await console.counts() == before


@pytest.mark.parametrize("action", ["inspections", "activation-code", "decommission", "clear-flag"])
async def test_console_device_actions_refuse_a_surrogate_device_id(console, python_http_parser, action):
    before = await console.counts()
    form = f"csrf_token={console.csrf_token}&confirmed=yes&inspected_on=2026-01-01&inspector=x&result=ok".encode()
    status, body = await console.raw("POST", b"/console/devices/" + SURROGATE + b"/" + action.encode(),
                                     {"Cookie": console.cookie_header(),
                                      "Content-Type": "application/x-www-form-urlencoded"}, form)
    assert page_refusal(status, body.decode()) == (400, "invalid_parameter")
    assert await console.counts() == before


@pytest.mark.parametrize("path", ["/console/devices/%00", "/console/orders/%00", "/console/rollouts/%00",
                                  "/console/devices?store=%00", "/console/orders/summary?store=%00"])
async def test_console_url_parts_and_filters_with_nul_are_refused(console, path):
    resp = await console.client.get(path)
    assert resp.status == 400, path


async def test_a_console_page_query_with_a_surrogate_is_refused(console, python_http_parser):
    for target in (b"/console/cashier?device=" + SURROGATE, b"/console/orders?q=" + SURROGATE,
                   b"/console/orders/summary?channel=" + SURROGATE, b"/console/devices?merchant=" + SURROGATE):
        status, _ = await console.raw("GET", target, {"Cookie": console.cookie_header()})
        assert status == 400, target


async def test_a_rollout_form_with_a_unicode_digit_is_refused(console):
    form = {"csrf_token": console.csrf_token, "release": "box 1.0", "failure_threshold": "10", "share": "10"}
    for min_settled in ("²", "9" * 5000):
        resp = await console.client.post("/console/rollouts/confirm", data={**form, "min_settled": min_settled})
        assert resp.status == 400
        assert "至少完成设备数" in await resp.text()     # "Stop only after"


async def test_a_reconciliation_run_for_a_day_out_of_range_is_refused(console):
    resp = await console.client.post("/console/reports/run",
                                     data={"csrf_token": console.csrf_token, "date": "0001-01-01", "channel": ""})
    assert resp.status == 400
    assert "日期：2000-01-01 至 2099-12-31 之间的日期" in await resp.text()   # "Day: a day from …"


async def test_a_rollout_stop_reason_with_nul_is_refused(console):
    await console.storage.sql.execute(
        "INSERT INTO rollouts (id, profile, version, failure_threshold, min_settled, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", ("R1", "box", "1.0", 0.1, 1, "running", now_ms()))
    resp = await console.client.post("/console/rollouts/R1/stop",
                                     data={"csrf_token": console.csrf_token, "reason": "a\x00b"})
    assert resp.status == 400
    row = await console.storage.sql.fetchone("SELECT state FROM rollouts WHERE id = ?", ("R1",))
    assert row["state"] == "running"


@pytest.mark.parametrize("body", [b'{"device_id": "\\ud800", "amount": "1", "auth_code": "1", "order_no": "A1"}',
                                  b"[" * 5000], ids=["surrogate-device", "nested-arrays"])
async def test_the_cashier_pay_body_refuses_what_it_cannot_use(console, body):
    before = await console.counts()
    resp = await console.client.post("/console/cashier/pay", data=body,
                                     headers={"Content-Type": "application/json", "X-CSRF-Token": console.csrf_token})
    assert (await json_refusal(resp))[0] in (400, 404)
    assert await console.counts() == before


# the C2B landing pages and WeChat's notifications

@pytest.mark.parametrize("path", ["/c/s/a%00b", "/c/a%00b", "/c/a%00b/done", "/c/" + "x" * 65])
async def test_landing_pages_refuse_impossible_codes(server, path):
    before = await server.counts()
    resp = await server.client.get(path, headers={"User-Agent": "MicroMessenger/8.0"})
    assert resp.status == 404 and "二维码无效" in await resp.text()
    assert await server.counts() == before


async def test_landing_pages_refuse_a_surrogate(server, python_http_parser):
    before = await server.counts()
    for method, target in (("GET", b"/c/s/" + SURROGATE), ("POST", b"/c/s/" + SURROGATE),
                           ("GET", b"/c/" + SURROGATE), ("GET", b"/c/" + SURROGATE + b"/done")):
        status, body = await server.raw(method, target, {"User-Agent": "MicroMessenger/8.0"})
        assert status == 404 and "二维码无效" in body.decode(), target
    assert await server.counts() == before


@pytest.mark.parametrize("code", ["..", "%00", "x" * 300], ids=["unknown", "nul", "long"])
async def test_a_wallet_code_the_wallet_refuses_is_the_payers_to_retry_not_a_502(server, code):
    order = await _c2b_order(server)
    before = await server.counts()
    resp = await server.client.get(f"/c/{order.qr_token}?code={code}", allow_redirects=False,
                                   headers={"User-Agent": "MicroMessenger/8.0"})
    assert resp.status == 400 and "请重新扫码" in await resp.text()
    assert await server.counts() == before


def signed_notify(trade_no: str, **fields) -> bytes:
    params_ = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": SANDBOX_APPID,
               "mch_id": SANDBOX_MCH_ID, "nonce_str": secrets.token_hex(8), "out_trade_no": trade_no,
               "total_fee": "100", "transaction_id": "4200000000000001", "sign_type": "HMAC-SHA256", **fields}
    params_["sign"] = signing.sign(params_, SANDBOX_API_KEY, "HMAC-SHA256")
    return to_xml(params_)


async def test_a_notify_with_a_5000_digit_total_fee_is_refused(server):
    order = await _c2b_order(server)
    before = await server.counts()
    resp = await server.client.post("/n/wechat", data=signed_notify(order.trade_no, total_fee="9" * 5000))
    assert resp.status == 200 and from_xml(await resp.read())["return_code"] == "FAIL"
    assert await server.counts() == before


async def test_a_utf16_notify_with_nested_entities_is_refused_unexpanded(server, caplog):
    order = await _c2b_order(server)
    before = await server.counts()
    with caplog.at_level(logging.WARNING, logger="server.views.landing"):
        resp = await server.client.post("/n/wechat", data=entity_bomb_utf16(order.trade_no))
    assert resp.status == 200 and from_xml(await resp.read())["return_code"] == "FAIL"
    [refusal] = [r.getMessage() for r in caplog.records if "wechat notify refused" in r.getMessage()]
    assert "bad XML" in refusal and "DTD" in refusal          # refused for its DOCTYPE, not for its signature
    assert await server.counts() == before


def entity_bomb_utf16(trade_no: str = "T1") -> bytes:
    """988 bytes of UTF-16: a DOCTYPE of nested entities that expands to 5,000,000 characters."""
    entities = '<!ENTITY a0 "' + "x" * 50 + '">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 6))
    text = (f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE xml [{entities}]>'
            f"<xml><return_code>SUCCESS</return_code><out_trade_no>{trade_no}</out_trade_no>"
            "<attach>&a5;</attach></xml>")
    return text.encode("utf-16")


async def _c2b_order(server):
    device = await server.storage.get_device(DEVICE_ID)
    return await server.app[PAYMENTS].qr(device, QrRequest(order_no="N1", amount_fen=100))


# the helpers themselves

def test_digits_are_ascii_and_bounded():
    assert params.digits("0042", "wait", max_len=4) == 42
    for bad in ("", "²", "١٢", "１２", "1 ", " 1", "+1", "-1", "1_000", "12345", "1\n"):
        with pytest.raises(params.InvalidParameter) as refused:
            params.digits(bad, "wait", max_len=4)
        assert (refused.value.status, refused.value.code) == (400, "invalid_parameter")
        assert refused.value.message == "wait must be a whole number of 1-4 digits 0-9"     # never the value


def test_days_are_iso_within_the_century():
    assert params.day("", "From") is None
    assert params.day("2026-11-21", "From") == datetime.date(2026, 11, 21)
    for bad in ("9999-12-31", "0001-01-01", "2026-11-21\n", "20261121", "2026-W47-6", "２０２６-11-21",
                "2026-02-30", "x" * 5000):
        with pytest.raises(params.InvalidParameter):
            params.day(bad, "From")


def test_text_parts_match_whole_and_ascii_only():
    assert params.text_part("D0001", "device", params.ID) == "D0001"
    for bad in ("D0001\n", "", "\ud800", "D\x00", "Ｄ1", "a" * 65, "a/b"):
        with pytest.raises(params.InvalidParameter):
            params.text_part(bad, "device", params.ID)


def test_free_text_refuses_control_characters_and_surrogates_only():
    assert params.free_text(" 老王茶馆 ", "Store", max_len=64) == " 老王茶馆 "
    for bad in ("a\x00", "a\nb", "\x7f", "a\ud800", "x" * 65):
        with pytest.raises(params.InvalidParameter):
            params.free_text(bad, "Store", max_len=64)
