"""Device request signing (docs/device-api.md section 2), for both ends.

String to sign: method, path, timestamp, nonce and the body's SHA-256, one per line; the signature is
lower-case hex HMAC-SHA256 keyed with the device key's 32 raw bytes.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


class MissingAuth(ValueError):
    """A signing header is missing or malformed."""


@dataclass(frozen=True)
class SignedHeaders:
    device_id: str
    timestamp: str      # exactly as sent: it is part of the string to sign
    nonce: str
    signature: str


def new_device_key() -> str:
    """A fresh device key: 32 random bytes as 64 hex characters."""
    return secrets.token_hex(32)


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode("utf-8")


def compute_signature(key: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(key, string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def sign_request(device_id: str, key_hex: str, path: str, body: bytes, *, timestamp: int | None = None,
                 nonce: str | None = None, method: str = "POST") -> dict[str, str]:
    """The four signing headers for a request (used by simulators, kiosks and tests)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(12)
    signature = compute_signature(bytes.fromhex(key_hex), method, path, ts, nonce, body)
    return {"X-Device-Id": device_id, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": signature}


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    values = {}
    for name, pattern in (("X-Device-Id", DEVICE_ID), ("X-Timestamp", TIMESTAMP),
                          ("X-Nonce", NONCE), ("X-Signature", SIGNATURE)):
        value = headers.get(name)
        if value is None:
            raise MissingAuth(f"header {name} is missing")
        if not pattern.match(value):
            raise MissingAuth(f"header {name} is malformed")
        values[name] = value
    return SignedHeaders(values["X-Device-Id"], values["X-Timestamp"], values["X-Nonce"], values["X-Signature"])


def signature_matches(key: bytes, signed: SignedHeaders, method: str, path: str, body: bytes) -> bool:
    expected = compute_signature(key, method, path, signed.timestamp, signed.nonce, body)
    return hmac.compare_digest(expected, signed.signature)
