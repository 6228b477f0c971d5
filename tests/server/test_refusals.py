"""Bad requests get their own stable error code and change nothing: no order, no event, no nonce."""
import json
import time

import cbor2
import pytest

from hw_sim import test_codes
from hw_sim.device_client import sign_request
from server.device_auth import new_device_key
from server.keys import STORAGE

CODE = test_codes.make_wechat_code(test_codes.SUCCESS)


def pay_json(**fields) -> bytes:
    message = {"order_no": "R1", "amount_fen": 1250, "auth_code": CODE, **fields}
    return json.dumps({k: v for k, v in message.items() if v is not ...}).encode()


def pay_cbor(**fields) -> bytes:
    message = {"order_no": "R1", "amount_fen": 1250, "auth_code": CODE, **fields}
    return cbor2.dumps({k: v for k, v in message.items() if v is not ...})


# (case id, body, content type, expected HTTP status, expected code)
BODY_CASES = [
    ("json-truncated", b'{"order_no": "R1", "amount_fen": 12', "json", 400, "malformed_body"),
    ("json-not-utf8", b'{"order_no": "\xff"}', "json", 400, "malformed_body"),
    ("json-array", b'[1, 2]', "json", 400, "malformed_body"),
    ("json-nan", pay_json(amount_fen=...)[:-1] + b', "amount_fen": NaN}', "json", 400, "malformed_body"),
    ("json-empty", b"", "json", 400, "malformed_body"),
    ("cbor-garbage", b"\xff\xfe\xfd", "cbor", 400, "malformed_body"),
    ("cbor-trailing-bytes", pay_cbor() + b"\x00", "cbor", 400, "malformed_body"),
    ("cbor-array", cbor2.dumps([1, 2]), "cbor", 400, "malformed_body"),
    ("cbor-int-key", cbor2.dumps({1: "R1"}), "cbor", 400, "malformed_body"),
    ("cbor-tagged-value", cbor2.dumps({"order_no": "R1", "amount_fen": cbor2.CBORTag(1, 1250)}), "cbor", 400,
     "malformed_body"),
    ("json-as-cbor", pay_json(), "cbor", 400, "malformed_body"),
    ("amount-zero", pay_json(amount_fen=0), "json", 400, "invalid_amount"),
    ("amount-negative", pay_json(amount_fen=-1250), "json", 400, "invalid_amount"),
    ("amount-float", pay_json(amount_fen=12.5), "json", 400, "invalid_amount"),
    ("amount-whole-float", pay_json(amount_fen=1250.0), "json", 400, "invalid_amount"),
    ("amount-bool", pay_json(amount_fen=True), "json", 400, "invalid_amount"),
    ("amount-string", pay_json(amount_fen="1250"), "json", 400, "invalid_amount"),
    ("amount-too-large", pay_json(amount_fen=500_001), "json", 400, "invalid_amount"),
    ("amount-huge", pay_json(amount_fen=2**62), "json", 400, "invalid_amount"),
    # Beyond 64 bits a number is no field's value: refused while parsing, before it is turned into an int.
    ("amount-past-64-bits", pay_json(amount_fen=10**30), "json", 400, "malformed_body"),
    ("amount-4301-digits", pay_json(amount_fen=...)[:-1] + b', "amount_fen": ' + b"9" * 4301 + b"}", "json", 400,
     "malformed_body"),
    ("cbor-amount-bignum", pay_cbor(amount_fen=2**80), "cbor", 400, "malformed_body"),
    ("json-infinity", pay_json(amount_fen=...)[:-1] + b', "amount_fen": 1e999}', "json", 400, "malformed_body"),
    ("cbor-nan", pay_cbor(amount_fen=float("nan")), "cbor", 400, "malformed_body"),
    ("json-lone-surrogate", pay_json(subject=...)[:-1] + b', "subject": "tea \\ud800"}', "json", 400,
     "malformed_body"),
    ("json-lone-surrogate-key", pay_json()[:-1] + b', "\\udfff": 1}', "json", 400, "malformed_body"),
    ("order-no-trailing-newline", pay_json(order_no="R1\n"), "json", 400, "invalid_field"),
    ("amount-missing", pay_json(amount_fen=...), "json", 400, "invalid_field"),
    ("cbor-amount-float", pay_cbor(amount_fen=12.5), "cbor", 400, "invalid_amount"),
    ("cbor-amount-bool", pay_cbor(amount_fen=True), "cbor", 400, "invalid_amount"),
    ("cbor-amount-zero", pay_cbor(amount_fen=0), "cbor", 400, "invalid_amount"),
    ("code-not-digits", pay_json(auth_code="13456789012345678a"), "json", 400, "invalid_auth_code"),
    ("code-too-short", pay_json(auth_code="134567890"), "json", 400, "invalid_auth_code"),
    ("code-too-long", pay_json(auth_code="1" * 33), "json", 400, "invalid_auth_code"),
    ("code-as-number", pay_json(auth_code=134567890123456789), "json", 400, "invalid_auth_code"),
    ("code-fullwidth-digits", pay_json(auth_code="１３４５６７８９０１２３４５６７８９"), "json", 400, "invalid_auth_code"),
    ("code-missing", pay_json(auth_code=...), "json", 400, "invalid_field"),
    ("code-alipay-prefix", pay_json(auth_code="285678901234567890"), "json", 400, "unsupported_code"),
    ("code-wechat-prefix-wrong-length", pay_json(auth_code="1345678901234567890"), "json", 400, "unsupported_code"),
    ("cbor-code-unknown-prefix", pay_cbor(auth_code="6212345678901234567"), "cbor", 400, "unsupported_code"),
    ("order-no-missing", pay_json(order_no=...), "json", 400, "invalid_field"),
    ("order-no-space", pay_json(order_no="R 1"), "json", 400, "invalid_field"),
    ("order-no-too-long", pay_json(order_no="R" * 33), "json", 400, "invalid_field"),
    ("order-no-number", pay_json(order_no=1), "json", 400, "invalid_field"),
    ("subject-too-long", pay_json(subject="茶" * 65), "json", 400, "invalid_field"),
    ("subject-control-char", pay_json(subject="tea\x00"), "json", 400, "invalid_field"),
    ("subject-not-text", pay_json(subject=5), "json", 400, "invalid_field"),
]


@pytest.fixture
async def assert_refused(device, sandbox, count_rows):
    async def check(status_code, expected_status, expected_code, body):
        assert (status_code, body["error"]["code"]) == (expected_status, expected_code), body
        assert body["error"]["message"]
        assert isinstance(body["server_time"], int)
        assert await count_rows() == {"orders": 0, "order_events": 0, "nonces": 0}
        assert sandbox.ledger.calls == []
    return check


@pytest.mark.parametrize("case, body, fmt, status, code", BODY_CASES, ids=[c[0] for c in BODY_CASES])
async def test_bad_body(device, assert_refused, case, body, fmt, status, code):
    got_status, got = await device.post("pay", body, content_type=f"application/{fmt}")
    await assert_refused(got_status, status, code, got)


async def test_error_answers_in_the_request_format(device, assert_refused):
    status, body = await device.post("pay", pay_cbor(amount_fen=0), content_type="application/cbor")
    await assert_refused(status, 400, "invalid_amount", body)   # decoded as CBOR by the helper


@pytest.mark.parametrize("wait", [-1, 31, True, 1.5, "5"])
async def test_bad_query_wait(device, assert_refused, wait):
    status, body = await device.call("query", {"order_no": "R1", "wait": wait})
    await assert_refused(status, 400, "invalid_field", body)


async def test_bad_signature(device, assert_refused):
    status, body = await device.post("pay", pay_json(), headers={"X-Signature": "0" * 64})
    await assert_refused(status, 401, "bad_signature", body)


async def test_signed_with_another_key(device, assert_refused):
    headers = sign_request(device.device_id, new_device_key(), "/d/v1/pay", pay_json())
    status, body = await device.post("pay", pay_json(), headers=headers)
    await assert_refused(status, 401, "bad_signature", body)


async def test_body_changed_after_signing(device, assert_refused):
    headers = sign_request(device.device_id, device.key_hex, "/d/v1/pay", pay_json(amount_fen=1))
    status, body = await device.post("pay", pay_json(amount_fen=100000), headers=headers)
    await assert_refused(status, 401, "bad_signature", body)


async def test_signed_for_another_path(device, assert_refused):
    headers = sign_request(device.device_id, device.key_hex, "/d/v1/query", pay_json())
    status, body = await device.post("pay", pay_json(), headers=headers)
    await assert_refused(status, 401, "bad_signature", body)


@pytest.mark.parametrize("skew", [-301, 400])
async def test_stale_timestamp(device, assert_refused, skew):
    status, body = await device.post("pay", pay_json(), timestamp=int(time.time()) + skew)
    await assert_refused(status, 401, "stale_timestamp", body)


@pytest.mark.parametrize("header", ["X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
async def test_missing_signing_header(device, assert_refused, header):
    headers = sign_request(device.device_id, device.key_hex, "/d/v1/pay", pay_json())
    del headers[header]
    status, body = await device.post("pay", pay_json(), headers=headers, sign=False)
    await assert_refused(status, 401, "missing_auth", body)


@pytest.mark.parametrize("header, value", [("X-Nonce", "short"), ("X-Nonce", "has space in it"),
                                           ("X-Timestamp", "12.5"), ("X-Signature", "ABCD" * 16)])
async def test_malformed_signing_header(device, assert_refused, header, value):
    status, body = await device.post("pay", pay_json(), headers={header: value})
    await assert_refused(status, 401, "missing_auth", body)


async def test_unknown_device(device, assert_refused):
    headers = sign_request("D9999", device.key_hex, "/d/v1/pay", pay_json())
    status, body = await device.post("pay", pay_json(), headers=headers, sign=False)
    await assert_refused(status, 401, "unknown_device", body)


async def test_disabled_device(device, assert_refused):
    await device.app[STORAGE].set_device_status(device.device_id, "disabled")
    status, body = await device.post("pay", pay_json())
    await assert_refused(status, 403, "device_disabled", body)


async def test_reused_nonce(device, sandbox, count_rows):
    status, _ = await device.post("pay", pay_json(), nonce="nonce-0001")
    assert status == 200
    before = await count_rows()
    # The exact request again (a replay), and a different request with the same nonce.
    replay = await device.post("pay", pay_json(), nonce="nonce-0001")
    other = await device.call("query", {"order_no": "R1"}, nonce="nonce-0001")
    for status, body in (replay, other):
        assert (status, body["error"]["code"]) == (401, "nonce_reused")
    assert await count_rows() == before
    assert sandbox.ledger.calls_to("/pay/micropay") == 1


class ServerClock:
    """Moves the server's clock (time.time for timestamps, time.time_ns for stored times) forward."""

    def __init__(self, monkeypatch):
        self.ahead_s = 0.0
        self.real_time, real_ns = time.time, time.time_ns
        monkeypatch.setattr(time, "time", lambda: self.real_time() + self.ahead_s)
        monkeypatch.setattr(time, "time_ns", lambda: real_ns() + int(self.ahead_s * 1e9))

    def set(self, unix_s: float) -> None:
        self.ahead_s = unix_s - self.real_time()


@pytest.mark.parametrize("op", ["heartbeat", "pay"])
async def test_a_request_stamped_at_the_windows_edge_cannot_be_replayed_once_its_nonce_would_have_expired(
        device, sandbox, count_rows, monkeypatch, op):
    """Stamped a whole window ahead, a request stays acceptable for two windows after it was first sent:
    its nonce must still be remembered when the same bytes come back at the end of that time."""
    window = 300
    clock = ServerClock(monkeypatch)
    clock.set(int(time.time()) + 1.01)        # the first request arrives just after a whole second
    stamp = int(time.time()) + window
    body = pay_json() if op == "pay" else json.dumps({"battery_pct": 80}).encode()
    status, _ = await device.post(op, body, nonce="edge-nonce-01", timestamp=stamp)
    assert status == 200
    before = await count_rows()
    clock.set(stamp + window + 0.5)           # the timestamp is now exactly a window behind: still inside it
    # (for the next half second, by the whole seconds the server counts: time enough for the request)
    status, answer = await device.post(op, body, nonce="edge-nonce-01", timestamp=stamp)
    assert (status, answer["error"]["code"]) == (401, "nonce_reused")
    assert await count_rows() == before
    # A moment later the timestamp itself is too old: refused for that, not carried out either.
    clock.set(stamp + window + 1.3)
    status, answer = await device.post(op, body, nonce="edge-nonce-01", timestamp=stamp)
    assert (status, answer["error"]["code"]) == (401, "stale_timestamp")
    assert sandbox.ledger.calls_to("/pay/micropay") == (1 if op == "pay" else 0)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_wrong_content_type(device, assert_refused, content_type):
    status, body = await device.post("pay", pay_json(), content_type=content_type)
    await assert_refused(status, 415, "unsupported_media_type", body)


async def test_oversize_body(device, assert_refused):
    body = pay_json(subject=None, padding="x" * 9000)
    status, got = await device.post("pay", body)
    await assert_refused(status, 413, "body_too_large", got)


async def test_oversize_chunked_body(device, assert_refused):
    # No Content-Length: the limit is enforced while reading.
    payload = pay_json(subject=None, padding="x" * 9000)

    async def chunks():
        for i in range(0, len(payload), 1000):
            yield payload[i:i + 1000]

    headers = {"Content-Type": "application/json",
               **sign_request(device.device_id, device.key_hex, "/d/v1/pay", payload)}
    resp = await device.client.post("/d/v1/pay", data=chunks(), headers=headers)
    assert "Content-Length" not in resp.request_info.headers
    await assert_refused(resp.status, 413, "body_too_large", await resp.json())


async def test_unknown_op(device, assert_refused):
    status, body = await device.post("refundz", pay_json())
    await assert_refused(status, 404, "unknown_op", body)


async def test_other_paths_and_methods_answer_json_errors(device):
    resp = await device.client.get("/d/v1/pay")
    assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"
    resp = await device.client.get("/nothing")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("op", ["activate", "info", "pay", "qr", "query", "close", "refund", "orders", "heartbeat",
                                "ota_report"])
async def test_an_integer_of_thousands_of_digits_is_a_malformed_body_for_every_op(device, count_rows, op):
    body = b'{"order_no": "R1", "limit": ' + b"1" * 4301 + b"}"
    status, answer = await device.post(op, body, sign=op != "activate")
    assert (status, answer["error"]["code"]) == (400, "malformed_body")
    assert await count_rows() == {"orders": 0, "order_events": 0, "nonces": 0}


@pytest.mark.parametrize("fields", [
    {"version": "1.2.0", "step": []},
    {"version": "1.2.0", "step": {"a": 1}},
    {"version": "1.2.0", "step": "download", "detail": ["x"]},
    {"version": ["1.2.0"], "step": "download"},
    {"version": "1.2.\ud800", "step": "download"},
    {"version": "1.2.0\n", "step": "download"},
], ids=["step-list", "step-map", "detail-list", "version-list", "version-surrogate", "version-newline"])
@pytest.mark.parametrize("fmt", ["json", "cbor"])
async def test_ota_report_fields_of_the_wrong_kind_are_refused(device, count_rows, fields, fmt):
    if fmt == "cbor" and "\ud800" in str(fields.get("version")):
        # CBOR text must be UTF-8: the surrogate's three bytes, as a sender that does not check would write them.
        body = cbor2.dumps({**fields, "version": "1.2.X"}).replace(b"1.2.X", "1.2.\ud800".encode("utf-8", "surrogatepass"))
        status, answer = await device.post("ota_report", body, content_type="application/cbor")
        assert (status, answer["error"]["code"]) == (400, "malformed_body")
    else:
        status, answer = await device.call("ota_report", fields, fmt=fmt)
        assert status == 400 and answer["error"]["code"] in ("invalid_field", "malformed_body")
    assert (await count_rows())["nonces"] == 0
