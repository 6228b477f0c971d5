"""The worked signing example in docs/device-api.md section 2 is right, and the server accepts it."""
import hashlib
import re
from pathlib import Path

from server.device_auth import SignedHeaders, compute_signature, signature_matches, string_to_sign

DOC = Path(__file__).resolve().parents[2] / "docs" / "device-api.md"


def example() -> dict[str, str]:
    text = DOC.read_text("utf-8")
    section = text[text.index("### Worked example"):text.index("## 3. Errors")]

    def find(pattern: str) -> str:
        match = re.search(pattern, section)
        assert match, f"docs/device-api.md worked example lacks {pattern}"
        return match.group(1)

    return {
        "device_id": find(r"Device `([^`]+)`"),
        "key_hex": find(r"key \(hex\) `([0-9a-f]{64})`"),
        "body": find(r"JSON body\s+`([^`]+)`"),
        "timestamp": find(r"timestamp `(\d+)`"),
        "nonce": find(r"nonce `([^`]+)`"),
        "body_sha256": find(r"body sha256\s+=\s+([0-9a-f]{64})"),
        "signature": find(r"signature\s+=\s+([0-9a-f]{64})"),
    }


def test_doc_numbers_are_what_the_server_computes():
    ex = example()
    body = ex["body"].encode("utf-8")
    assert hashlib.sha256(body).hexdigest() == ex["body_sha256"]
    key = bytes.fromhex(ex["key_hex"])
    assert compute_signature(key, "POST", "/d/v1/pay", ex["timestamp"], ex["nonce"], body) == ex["signature"]
    signed = SignedHeaders(ex["device_id"], ex["timestamp"], ex["nonce"], ex["signature"])
    assert signature_matches(key, signed, "POST", "/d/v1/pay", body)


def test_doc_string_to_sign_block_matches():
    ex = example()
    text = DOC.read_text("utf-8")
    shown = re.search(r"The string to sign is therefore\s+```text\n(.*?)\n```", text, re.S).group(1)
    expected = string_to_sign("POST", "/d/v1/pay", ex["timestamp"], ex["nonce"], ex["body"].encode())
    assert shown.encode() == expected


def test_the_key_is_the_raw_bytes_not_the_hex_text():
    ex = example()
    body = ex["body"].encode()
    wrong = compute_signature(ex["key_hex"].encode(), "POST", "/d/v1/pay", ex["timestamp"], ex["nonce"], body)
    assert wrong != ex["signature"]
