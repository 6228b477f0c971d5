"""The compact form (docs/device-api.md, "Compact form") pays and queries, and is refused exactly as the
header form is: the same checks, the same error codes, nothing changed by a refused request. Each refusal
case runs over both forms; the compact request is built here from the spec (cbor2 and the server's
string to sign), not with the firmware's client."""
import time
from dataclasses import dataclass

import cbor2
import pytest

from core.compact import CONTENT_TYPE, pack_keys, unpack_keys
from hw_sim import test_codes
from hw_sim.device_client import sign_request
from server.device_auth import compute_signature

CODE = test_codes.make_wechat_code(test_codes.SUCCESS)
PAY = {"order_no": "K1", "amount_fen": 1250, "auth_code": CODE}


def compact_body(device_id: str, key_hex: str, op: str, fields: dict, *, timestamp: int, nonce: bytes,
                 identity: tuple[str, str] | None = None) -> bytes:
    message = cbor2.dumps(pack_keys(fields))
    signature = compute_signature(bytes.fromhex(key_hex), "POST", f"/d/v1/{op}", str(timestamp), nonce.hex(),
                                  message, identity)
    return cbor2.dumps([device_id, timestamp, nonce, *(identity or ()), message, bytes.fromhex(signature)])


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


@dataclass
class Sent:
    status: int
    answer: dict
    headers: dict


async def send_compact(device, op, fields, *, timestamp=None, nonce=b"\x01" * 8, device_id=None, tamper=None,
                       identity=None) -> Sent:
    body = compact_body(device.device_id, device.key_hex, op, fields, nonce=nonce, identity=identity,
                        timestamp=int(time.time()) if timestamp is None else timestamp)
    envelope = cbor2.loads(body)
    if tamper == "body":
        envelope[-2] = flip(envelope[-2], len(envelope[-2]) - 1)
    elif tamper == "mac":
        envelope[-1] = flip(envelope[-1], 0)
    if device_id is not None:
        envelope[0] = device_id
    resp = await device.client.post(f"/d/v1/{op}", data=cbor2.dumps(envelope), headers={"Content-Type": CONTENT_TYPE})
    assert resp.headers["Content-Type"] == CONTENT_TYPE
    return Sent(resp.status, unpack_keys(cbor2.loads(await resp.read())), dict(resp.headers))


async def send_headers(device, op, fields, *, timestamp=None, nonce=b"\x01" * 8, device_id=None, tamper=None,
                       identity=None) -> Sent:
    body = cbor2.dumps(fields)
    headers = sign_request(device.device_id, device.key_hex, f"/d/v1/{op}", body, nonce=nonce.hex(),
                           timestamp=int(time.time()) if timestamp is None else timestamp)
    if tamper == "body":
        body = flip(body, len(body) - 1)
    elif tamper == "mac":
        headers["X-Signature"] = ("1" if headers["X-Signature"][0] != "1" else "0") + headers["X-Signature"][1:]
    if device_id is not None:
        headers["X-Device-Id"] = device_id
    resp = await device.client.post(f"/d/v1/{op}", data=body,
                                    headers={"Content-Type": "application/cbor", **headers})
    assert resp.headers["Content-Type"] == "application/cbor"
    return Sent(resp.status, cbor2.loads(await resp.read()), dict(resp.headers))


FORMS = {"compact": send_compact, "headers": send_headers}


@pytest.mark.parametrize("form", FORMS)
async def test_pays_and_queries(device, sandbox, form):
    send = FORMS[form]
    paid = await send(device, "pay", PAY, nonce=b"pay-0001")
    assert paid.status == 200, paid.answer
    assert paid.answer["order"]["status"] == "SUCCESS" and paid.answer["order"]["amount_fen"] == 1250
    assert abs(paid.answer["server_time"] - time.time()) < 5
    queried = await send(device, "query", {"order_no": "K1", "wait": 0}, nonce=b"query-01")
    assert queried.status == 200 and queried.answer["order"] == paid.answer["order"]
    assert sandbox.ledger.calls_to("/pay/micropay") == 1
    # The compact answer goes without the headers that say what its body says (or nothing a device reads).
    if form == "compact":
        assert not {"Date", "Server", "X-Server-Time"} & set(queried.headers)
    else:
        assert {"Date", "Server", "X-Server-Time"} <= set(queried.headers)


async def test_compact_answer_is_the_header_forms_with_numbered_keys(device):
    header_form = await send_headers(device, "pay", PAY, nonce=b"pay-0001")
    compact_form = await send_compact(device, "pay", PAY, nonce=b"pay-0002")     # the same order again
    del header_form.answer["server_time"], compact_form.answer["server_time"]
    assert compact_form.answer == header_form.answer


async def test_compact_with_identity(device):
    sent = await send_compact(device, "query", {"order_no": "NONE"}, identity=("a4cf12fe3b5c", "0123456789abcdef"))
    assert (sent.status, sent.answer["error"]["code"]) == (404, "order_not_found")
    paid = await send_compact(device, "pay", PAY, nonce=b"pay-0003", identity=("a4cf12fe3b5c", "0123456789abcdef"))
    assert paid.status == 200
    # a copy of the key without the identity the device has shown: the same anti-switching as the header form
    copy = await send_compact(device, "query", {"order_no": "K1"}, nonce=b"query-02")
    assert (copy.status, copy.answer["error"]["code"]) == (403, "device_cloned")


# (case, send keyword arguments, HTTP status, error code): each refused alike in both forms
REFUSALS = [
    ("body-byte-flipped", {"tamper": "body"}, 401, "bad_signature"),
    ("mac-flipped", {"tamper": "mac"}, 401, "bad_signature"),
    ("other-device-id", {"device_id": "D0002"}, 401, "bad_signature"),
    ("unknown-device-id", {"device_id": "D9999"}, 401, "unknown_device"),
    ("stale-behind", {"seconds_off": -301}, 401, "stale_timestamp"),      # from the clock when sent,
    ("stale-ahead", {"seconds_off": 400}, 401, "stale_timestamp"),        # not when the tests were collected
    ("nonce-too-short", {"nonce": b"abc"}, 401, "missing_auth"),
]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case, kwargs, status, code", REFUSALS, ids=[c[0] for c in REFUSALS])
async def test_refused_alike(device, other_device, sandbox, count_rows, form, case, kwargs, status, code):
    await other_device("D0002")
    if "seconds_off" in kwargs:
        kwargs = {"timestamp": int(time.time()) + kwargs["seconds_off"]}
    sent = await FORMS[form](device, "pay", PAY, **kwargs)
    assert (sent.status, sent.answer["error"]["code"]) == (status, code), sent.answer
    assert isinstance(sent.answer["server_time"], int)
    assert await count_rows() == {"orders": 0, "order_events": 0, "nonces": 0}
    assert sandbox.ledger.calls == []


@pytest.mark.parametrize("first, again", [(a, b) for a in FORMS for b in FORMS])
async def test_replayed_nonce_refused_in_either_form(device, sandbox, count_rows, first, again):
    """One nonce store for both forms: a compact nonce's text is its hex, the header form's nonce."""
    assert (await FORMS[first](device, "pay", PAY, nonce=b"replay01")).status == 200
    before = await count_rows()
    for fields in (PAY, {"order_no": "K1"}):
        op = "pay" if fields is PAY else "query"
        sent = await FORMS[again](device, op, fields, nonce=b"replay01")
        assert (sent.status, sent.answer["error"]["code"]) == (401, "nonce_reused")
    assert await count_rows() == before
    assert sandbox.ledger.calls_to("/pay/micropay") == 1


@pytest.mark.parametrize("envelope", [
    b"\xff",                                                    # not CBOR
    cbor2.dumps({"order_no": "K1"}),                            # a message without its envelope
    cbor2.dumps(["D0001", 1, b"n" * 8, b"\xa0"]),               # 4 items
    cbor2.dumps(["D0001", "1763776800", b"n" * 8, b"\xa0", b"s" * 32]),    # timestamp as text
    cbor2.dumps(["D0001", 1763776800, "nonce-text", b"\xa0", b"s" * 32]),  # nonce as text
    cbor2.dumps(["D0001", 1763776800, b"n" * 8, b"\xa0", b"s" * 16]),      # a truncated signature
    cbor2.dumps(["D0001", 1763776800, b"n" * 8, {}, b"s" * 32]),           # the message not as bytes
    cbor2.dumps(["D 1", 1763776800, b"n" * 8, b"\xa0", b"s" * 32]),        # device id of the wrong shape
], ids=["garbage", "bare-map", "short", "ts-text", "nonce-text", "mac-16", "message-map", "device-id"])
async def test_malformed_envelope_is_missing_auth(device, count_rows, envelope):
    resp = await device.client.post("/d/v1/pay", data=envelope, headers={"Content-Type": CONTENT_TYPE})
    answer = unpack_keys(cbor2.loads(await resp.read()))
    assert (resp.status, answer["error"]["code"]) == (401, "missing_auth")
    assert await count_rows() == {"orders": 0, "order_events": 0, "nonces": 0}


async def test_a_signed_message_that_is_not_a_map_is_a_malformed_body(device):
    body = compact_body(device.device_id, device.key_hex, "pay", {}, timestamp=int(time.time()), nonce=b"n" * 8)
    envelope = cbor2.loads(body)
    envelope[-2] = cbor2.dumps({99: "x"})       # a number no field has, signed
    signature = compute_signature(bytes.fromhex(device.key_hex), "POST", "/d/v1/pay", str(envelope[1]),
                                  envelope[2].hex(), envelope[-2])
    envelope[-1] = bytes.fromhex(signature)
    resp = await device.client.post("/d/v1/pay", data=cbor2.dumps(envelope), headers={"Content-Type": CONTENT_TYPE})
    assert (resp.status, unpack_keys(cbor2.loads(await resp.read()))["error"]["code"]) == (400, "malformed_body")


async def test_activate_is_not_taken_in_the_compact_form(device):
    resp = await device.client.post("/d/v1/activate", data=cbor2.dumps(pack_keys({"activation_code": "X"})),
                                    headers={"Content-Type": CONTENT_TYPE})
    assert (resp.status, unpack_keys(cbor2.loads(await resp.read()))["error"]["code"]) == (415, "unsupported_media_type")


async def test_the_header_form_still_works_in_json(device):
    status, answer = await device.pay("J1", 1250, CODE)
    assert status == 200 and answer["order"]["status"] == "SUCCESS"
