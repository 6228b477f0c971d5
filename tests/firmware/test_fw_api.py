"""The device API client: signing per docs/device-api.md, CBOR, server time, retries."""
import asyncio
import hashlib
import hmac
import re

import cbor2
import pytest

from core import api as api_mod
from core.api import ApiError, DeviceApi, string_to_sign
from core.http import NetworkError, Response

KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
SERVER_TIME = 1763776800


def order(order_no="D0001-ab12-000001", status="SUCCESS", **extra):
    o = {"order_no": order_no, "amount_fen": 1250, "channel": "wechat", "status": status,
         "reason": None, "message": None, "created_at": SERVER_TIME, "finished_at": None}
    o.update(extra)
    return o


def ok(**fields):
    return 200, dict(fields, server_time=SERVER_TIME)


def error(status, code, server_time=SERVER_TIME):
    return status, {"error": {"code": code, "message": "because"}, "server_time": server_time}


class ScriptedTransport:
    """Answers requests from a script: (status, body map), (status, raw bytes) or an exception."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    async def request(self, method, path, headers, body, timeout_ms=None):
        self.requests.append({"method": method, "path": path, "headers": dict(headers),
                              "body": body, "timeout_ms": timeout_ms})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, content = answer
        if isinstance(content, dict):
            content = cbor2.dumps(content)
        return Response(status, {"content-type": "application/cbor"}, content)


def make_api(*answers, compact=False):
    """A client over a scripted transport, in the header form unless `compact`."""
    transport = ScriptedTransport(*answers)
    api = DeviceApi(transport, "D0001", KEY_HEX, compact=compact)
    api.retry_ms = 1
    return api, transport


def expected_signature(path, headers, body):
    text = "\n".join(["POST", path, headers["X-Timestamp"], headers["X-Nonce"],
                      hashlib.sha256(body).hexdigest()])
    return hmac.new(bytes.fromhex(KEY_HEX), text.encode(), hashlib.sha256).hexdigest()


def test_string_to_sign_is_the_documented_five_lines():
    body = b'{"order_no":"A1","amount_fen":1250,"auth_code":"134567890123456789"}'
    assert string_to_sign("/d/v1/pay", 1763776800, "n0nce123", body) == (
        "POST\n/d/v1/pay\n1763776800\nn0nce123\n" + hashlib.sha256(body).hexdigest())


async def test_pay_request_is_signed_cbor():
    api, transport = make_api(ok(order=order()))
    api.clock.adopt(SERVER_TIME)
    result = await api.pay("D0001-ab12-000001", 1250, "134567890123456789")
    assert result["status"] == "SUCCESS"
    sent = transport.requests[0]
    assert sent["method"] == "POST" and sent["path"] == "/d/v1/pay"
    assert cbor2.loads(sent["body"]) == {"order_no": "D0001-ab12-000001", "amount_fen": 1250,
                                         "auth_code": "134567890123456789"}
    headers = sent["headers"]
    assert headers["Content-Type"] == "application/cbor"
    assert headers["X-Device-Id"] == "D0001"
    assert abs(int(headers["X-Timestamp"]) - SERVER_TIME) <= 1
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", headers["X-Nonce"])
    assert headers["X-Signature"] == expected_signature("/d/v1/pay", headers, sent["body"])


async def test_pay_request_in_the_compact_form():
    """No X- headers; the envelope's signature is the header form's HMAC over the
    message bytes, the nonce signed as its hex; numbered answers read as named ones."""
    numbered = {1: {2: "D0001-ab12-000001", 6: "SUCCESS"}, 12: SERVER_TIME, 999: "a field of a newer server"}
    api, transport = make_api((200, numbered), compact=True)
    assert not DeviceApi(None, "D0001", KEY_HEX).compact       # the header form until devices switch over
    api.clock.adopt(SERVER_TIME)
    result = await api.pay("D0001-ab12-000001", 1250, "134567890123456789")
    assert result == {"order_no": "D0001-ab12-000001", "status": "SUCCESS"}
    sent = transport.requests[0]
    assert sent["headers"] == {"Content-Type": "application/x-scanpay"}
    device_id, timestamp, nonce, message, signature = cbor2.loads(sent["body"])
    assert device_id == "D0001" and abs(timestamp - SERVER_TIME) <= 1 and len(nonce) == 8
    assert cbor2.loads(message) == {2: "D0001-ab12-000001", 4: 1250, 15: "134567890123456789"}
    headers = {"X-Timestamp": str(timestamp), "X-Nonce": nonce.hex()}
    assert signature.hex() == expected_signature("/d/v1/pay", headers, message)


async def test_unsynced_clock_adopts_server_time_and_retries_once_with_a_new_nonce():
    api, transport = make_api(error(401, "stale_timestamp"), ok(order=order()))
    assert not api.clock.synced
    await api.pay("D0001-ab12-000001", 1250, "134567890123456789")
    first, second = transport.requests
    assert int(first["headers"]["X-Timestamp"]) < 1000          # uptime: no RTC
    assert abs(int(second["headers"]["X-Timestamp"]) - SERVER_TIME) <= 1
    assert first["headers"]["X-Nonce"] != second["headers"]["X-Nonce"]
    assert first["body"] == second["body"]
    assert api.clock.synced


async def test_stale_twice_is_an_error():
    api, _ = make_api(error(401, "stale_timestamp"), error(401, "stale_timestamp"))
    with pytest.raises(ApiError) as info:
        await api.query("X1")
    assert info.value.code == "stale_timestamp" and info.value.status == 401


async def test_every_answer_moves_the_clock():
    api, _ = make_api((200, {"order": order(), "server_time": SERVER_TIME + 500}))
    await api.query("X1")
    assert abs(api.clock.now() - (SERVER_TIME + 500)) <= 1


async def test_pay_retries_network_errors_with_the_same_order_no():
    api, transport = make_api(NetworkError("reset"), NetworkError("timeout"), ok(order=order()))
    result = await api.pay("D0001-ab12-000007", 1250, "134567890123456789")
    assert result["status"] == "SUCCESS"
    bodies = {r["body"] for r in transport.requests}
    nonces = {r["headers"]["X-Nonce"] for r in transport.requests}
    assert len(transport.requests) == 3 and len(bodies) == 1 and len(nonces) == 3
    assert cbor2.loads(bodies.pop())["order_no"] == "D0001-ab12-000007"


async def test_pay_gives_up_after_its_attempts():
    api, transport = make_api(NetworkError("a"), NetworkError("b"), NetworkError("c"))
    with pytest.raises(NetworkError):
        await api.pay("D0001-ab12-000008", 1250, "134567890123456789")
    assert len(transport.requests) == api.pay_attempts == 3


async def test_pay_retries_server_faults_but_not_refusals():
    api, transport = make_api(error(500, "internal_error"), ok(order=order(status="PAYING")))
    assert (await api.pay("A1", 1250, "134567890123456789"))["status"] == "PAYING"
    assert len(transport.requests) == 2
    api, transport = make_api(error(409, "order_conflict"))
    with pytest.raises(ApiError) as info:
        await api.pay("A1", 1250, "134567890123456789")
    assert info.value.code == "order_conflict" and len(transport.requests) == 1


async def test_query_long_polls_with_a_timeout_beyond_the_wait():
    api, transport = make_api(ok(order=order(status="PAYING")))
    result = await api.query("A1", wait=20)
    assert result["status"] == "PAYING"
    sent = transport.requests[0]
    assert sent["path"] == "/d/v1/query"
    assert cbor2.loads(sent["body"]) == {"order_no": "A1", "wait": 20}
    assert sent["timeout_ms"] > 20000


@pytest.mark.parametrize("status, content, code", [
    (502, b"<html>Bad gateway</html>", "http_502"),
    (200, b"\xff\xff", "http_200"),
    (200, cbor2.dumps({"server_time": SERVER_TIME}), "bad_response"),
    (200, cbor2.dumps({"order": {"order_no": "A1"}, "server_time": SERVER_TIME}), "bad_response"),
    (404, cbor2.dumps({"error": {"code": "order_not_found", "message": "no"}}), "order_not_found"),
])
async def test_unexpected_answers_become_api_errors(status, content, code):
    api, _ = make_api((status, content))
    with pytest.raises(ApiError) as info:
        await api.query("A1")
    assert info.value.code == code


@pytest.mark.parametrize("amount", [0, -1, 12.5, "1250", True, None])
async def test_bad_amounts_never_leave_the_device(amount):
    api, transport = make_api()
    with pytest.raises(ValueError):
        await api.pay("A1", amount, "134567890123456789")
    assert transport.requests == []


def test_device_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        DeviceApi(ScriptedTransport(), "D0001", "abcd")
    assert DeviceApi(ScriptedTransport(), "D0001", bytes(32)).device_id == "D0001"


def test_nonces_do_not_repeat():
    nonces = {api_mod.make_nonce() for _ in range(1000)}
    assert len(nonces) == 1000


async def test_subject_is_sent_when_given():
    api, transport = make_api(ok(order=order()))
    await api.pay("A1", 1250, "134567890123456789", subject="小卖部")
    assert cbor2.loads(transport.requests[0]["body"])["subject"] == "小卖部"


async def test_clock_survives_tick_wraparound(monkeypatch):
    ticks = [0]
    monkeypatch.setattr(api_mod, "ticks_ms", lambda: ticks[0])
    clock = api_mod.ServerClock()
    clock.adopt(SERVER_TIME)
    for _ in range(10):         # 10 x 2^29 ms: the 30-bit tick counter wraps several times
        ticks[0] = (ticks[0] + (1 << 29) - 1) & ((1 << 30) - 1)
        clock.now()
    assert clock.now() == SERVER_TIME + (10 * ((1 << 29) - 1)) // 1000
    await asyncio.sleep(0)
