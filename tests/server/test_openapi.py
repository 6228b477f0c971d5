"""docs/openapi.yaml against the running server: every op's real answers (and our requests) validate
against the document's schemas, and the document, the code and docs/device-api.md name the same ops
and error codes."""
import asyncio
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.server.conftest import DEVICE_ID, MERCHANT_ID
from hw_sim import test_codes
from server import errors, middlewares
from server.devices import issue_activation_code, register_device
from server.keys import STORAGE
from server.views.device_api import OPS

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text("utf-8"))


def pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def validate(instance, ref: str) -> None:
    # The whole document is the root resource, so the operation's $refs resolve inside it.
    validator = jsonschema.Draft202012Validator({**SPEC, "$ref": ref})
    validator.validate(instance)


def check_answer(op: str, status: int, body: dict) -> None:
    responses = SPEC["paths"][f"/d/v1/{op}"]["post"]["responses"]
    key = str(status) if str(status) in responses else "default"
    response = responses[key]
    if "$ref" in response:
        validate(body, response["$ref"] + "/content/application~1json/schema")
    else:
        validate(body, pointer("paths", f"/d/v1/{op}", "post", "responses", key, "content", "application/json",
                               "schema"))


def check_request(op: str, message: dict) -> None:
    validate(message, pointer("paths", f"/d/v1/{op}", "post", "requestBody", "content", "application/json",
                              "schema"))


class CheckedDevice:
    """Calls ops through the test device and validates every request and answer against the document."""

    def __init__(self, device):
        self.device = device
        self.seen: set[tuple[str, str]] = set()

    async def call(self, op: str, message: dict) -> tuple[int, dict]:
        status, body = await self.device.call(op, message)
        if status == 200:
            check_request(op, message)
        check_answer(op, status, body)
        self.seen.add((op, "ok" if status == 200 else body["error"]["code"]))
        return status, body


async def test_every_op_answers_as_documented(device):
    checked = CheckedDevice(device)
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    await checked.call("info", {})
    assert (await checked.call("pay", {"order_no": "O1", "amount_fen": 1250, "auth_code": code}))[0] == 200
    await checked.call("pay", {"order_no": "O2", "amount_fen": 990,
                               "auth_code": test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP)})
    await checked.call("pay", {"order_no": "O3", "amount_fen": 500,
                               "auth_code": test_codes.make_wechat_code(test_codes.INSUFFICIENT_FUNDS)})
    await checked.call("query", {"order_no": "O1", "wait": 0})
    await checked.call("events", {"after": 0, "wait": 0})
    await checked.call("events", {"after": 7})                          # past the server's number: reset
    await checked.call("close", {"order_no": "O2"})
    await checked.call("qr", {"order_no": "O4", "amount_fen": 88800, "subject": "茶叶"})
    # The real WeChat adapter and sandbox: a refund is accepted (PENDING), refundquery later says SUCCESS.
    status, body = await checked.call("refund", {"order_no": "O1", "refund_no": "R1", "amount_fen": 250,
                                                 "reason": "少一杯"})
    assert (status, body["refund"]["status"]) == (200, "PENDING")
    await checked.call("orders", {"limit": 10})
    await device.app[STORAGE].add_command(DEVICE_ID, "show_message", {"text": "hi"})
    await checked.call("heartbeat", {"battery_pct": 50, "charging": True, "network": "wifi", "uptime_s": 5})
    await checked.call("ota_report", {"version": "0.3.0", "step": "failed", "detail": "no offer"})
    # Refusals use the error schema, with a documented code.
    await checked.call("pay", {"order_no": "O1", "amount_fen": 1, "auth_code": code})
    await checked.call("refund", {"order_no": "O3", "refund_no": "R3", "amount_fen": 1})
    await checked.call("close", {"order_no": "O1"})
    await checked.call("query", {"order_no": "nope"})
    await checked.call("orders", {"limit": 1000})
    await checked.call("events", {"after": -1})
    assert {op for op, _ in checked.seen} == set(OPS)

    await register_device(device.app[STORAGE], "G9", MERCHANT_ID, "Stall", activation=True)
    activation_code = await issue_activation_code(device.app[STORAGE], "G9", 60)
    for expected in (200, 401):
        resp = await device.client.post("/d/v1/activate", data=json.dumps({"activation_code": activation_code}),
                                        headers={"Content-Type": "application/json"})
        assert resp.status == expected
        check_answer("activate", resp.status, await resp.json())

    resp = await device.client.get("/healthz")
    validate(await resp.json(), SPEC["paths"]["/healthz"]["get"]["responses"]["200"]["$ref"]
             + "/content/application~1json/schema")


def documented_codes() -> set[str]:
    return set(SPEC["components"]["schemas"]["ErrorCode"]["enum"])


def codes_in_the_code() -> set[str]:
    return set(errors.REFUSALS) | set(middlewares._HTTP_CODES.values()) | {"internal_error"}


def test_the_document_names_every_op_and_error_code():
    assert {path.rsplit("/", 1)[1] for path in SPEC["paths"] if path.startswith("/d/v1/")} == set(OPS) | {"activate"}
    assert documented_codes() == codes_in_the_code()


def test_the_reference_page_lists_every_error_code_and_op():
    page = (ROOT / "docs" / "device-api.md").read_text("utf-8")
    table = set(re.findall(r"^\| \d{3} \| `([a-z_]+)` \|", page, re.M))
    assert table == documented_codes()
    for op in set(OPS) | {"activate"}:
        assert f"### `{op}`" in page


@pytest.mark.parametrize("op", sorted(OPS))
def test_document_is_valid_json_schema_for_each_op(op):
    # Schemas themselves are well-formed 2020-12 JSON Schema.
    body = SPEC["paths"][f"/d/v1/{op}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator.check_schema(body)


async def test_refund_waits_for_the_resolver_then_is_valid(device, sandbox):
    """A PENDING refund's later answer also validates (it changes shape only in its values)."""
    checked = CheckedDevice(device)
    await checked.call("pay", {"order_no": "P1", "amount_fen": 1000,
                               "auth_code": test_codes.make_wechat_code(test_codes.SUCCESS)})
    refund = {"order_no": "P1", "refund_no": "RW", "amount_fen": 502}
    status, body = await checked.call("refund", refund)
    assert body["refund"]["status"] == "PENDING"
    for _ in range(100):
        await asyncio.sleep(0.05)
        status, body = await checked.call("refund", refund)
        if body["refund"]["status"] != "PENDING":
            break
    assert (body["refund"]["status"], body["order"]["status"], body["order"]["refunded_fen"]) == \
        ("SUCCESS", "SUCCESS", 502)
    assert [r.amount_fen for r in sandbox.ledger.refunds] == [502]


def test_validation_catches_a_wrong_answer():
    ref = SPEC["paths"]["/d/v1/pay"]["post"]["responses"]["200"]["$ref"] + "/content/application~1json/schema"
    with pytest.raises(jsonschema.ValidationError):
        validate({"order": {"order_no": "A1"}, "server_time": 1}, ref)
    with pytest.raises(jsonschema.ValidationError):
        check_answer("pay", 400, {"error": {"code": "no_such_code", "message": "x"}, "server_time": 1})
