"""The compact form's worked example in docs/device-api.md ("Compact form") is what the firmware sends and
what the server accepts, byte for byte."""
import json
import re
from pathlib import Path

import cbor2

from core import cbor
from core.api import sign_compact
from core.compact import pack_keys
from server import wire
from server.device_auth import parse_compact, signature_matches
from tests.server.test_signing_example import example

DOC = Path(__file__).resolve().parents[2] / "docs" / "device-api.md"


def compact_example() -> dict[str, str]:
    text = DOC.read_text("utf-8")
    section = text[text.index("### Compact form"):text.index("## 3. Errors")]

    def find(pattern: str) -> str:
        match = re.search(pattern, section, re.S)
        assert match, f"docs/device-api.md compact example lacks {pattern}"
        return match.group(1)

    return {"nonce": find(r"compact nonce\s+`([0-9a-f]+)`"), "fields": find(r"the `pay` fields\s+`([^`]+)`"),
            "message": find(r"message\s+=\s+([0-9a-f]+)"), "envelope": find(r"envelope\s+=\s+([0-9a-f]+)")}


def test_the_firmware_builds_the_documented_bytes():
    ex, compact = example(), compact_example()
    fields = json.loads(compact["fields"])
    message = cbor.encode(pack_keys(fields))
    assert message.hex() == compact["message"]
    assert wire.encode(wire.COMPACT, fields) == message      # the server's encoder gives the same bytes
    body = sign_compact(bytes.fromhex(ex["key_hex"]), ex["device_id"], "/d/v1/pay", message, int(ex["timestamp"]),
                        bytes.fromhex(compact["nonce"]))
    assert body.hex() == compact["envelope"]


def test_the_server_accepts_the_documented_envelope():
    ex, compact = example(), compact_example()
    signed, message = parse_compact(bytes.fromhex(compact["envelope"]))
    assert (signed.device_id, signed.timestamp, signed.nonce) == (ex["device_id"], ex["timestamp"], compact["nonce"])
    assert message.hex() == compact["message"]
    assert wire.decode(wire.COMPACT, message) == json.loads(compact["fields"])
    assert signature_matches(bytes.fromhex(ex["key_hex"]), signed, "POST", "/d/v1/pay", message)
    # the same HMAC as the header form's X-Signature over the same string to sign
    assert cbor2.loads(bytes.fromhex(compact["envelope"]))[-1].hex() == signed.signature
