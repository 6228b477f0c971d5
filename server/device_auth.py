"""Device request signing (docs/device-api.md section 2), for both ends, and the refusals of a device
that may not use the API at all (section 3: decommissioned, not installed, flagged moved or cloned).

String to sign: method, path, timestamp, nonce and the body's SHA-256, one per line; the signature is
lower-case hex HMAC-SHA256 keyed with the device key's 32 raw bytes. A device that sends its identity
(X-Hardware-Id and X-Boot-Id, together) signs them too: two more lines, hardware id and boot id.

The compact form (docs/device-api.md, "Compact form") carries the same fields in a CBOR array instead
of headers, the nonce as raw bytes (its text is their lower-case hex) and the signature as its 32 raw
bytes; `parse_compact` turns it into the same SignedHeaders, so both forms are checked by the same code
against the same string to sign, window and nonce store.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from . import errors, wire
from .storage.records import (
    DEVICE_ACTIVE, DEVICE_PENDING, FLAG_CLONED, FLAG_MOVED, LIFECYCLE_DECOMMISSIONED, LIFECYCLE_INSTALLED, Device,
)

DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}\Z")
TIMESTAMP = re.compile(r"^[0-9]{1,12}\Z")
NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")
SIGNATURE = re.compile(r"^[0-9a-f]{64}\Z")
HARDWARE_ID = re.compile(r"^[A-Za-z0-9_:-]{4,64}\Z")
BOOT_ID = re.compile(r"^[A-Za-z0-9_-]{8,32}\Z")


class MissingAuth(ValueError):
    """A signing header is missing or malformed."""


@dataclass(frozen=True)
class SignedHeaders:
    device_id: str
    timestamp: str      # exactly as sent: it is part of the string to sign
    nonce: str
    signature: str
    hardware_id: str | None = None     # X-Hardware-Id: the chip's id (ESP32 machine.unique_id)
    boot_id: str | None = None         # X-Boot-Id: random, new at every boot


def new_device_key() -> str:
    """A fresh device key: 32 random bytes as 64 hex characters."""
    return secrets.token_hex(32)


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes,
                   identity: tuple[str, str] | None = None) -> bytes:
    lines = [method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()]
    if identity is not None:
        lines.extend(identity)
    return "\n".join(lines).encode("utf-8")


def compute_signature(key: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes,
                      identity: tuple[str, str] | None = None) -> str:
    return hmac.digest(key, string_to_sign(method, path, timestamp, nonce, body, identity), "sha256").hex()


def sign_request(device_id: str, key_hex: str, path: str, body: bytes, *, timestamp: int | None = None,
                 nonce: str | None = None, method: str = "POST", hardware_id: str | None = None,
                 boot_id: str | None = None) -> dict[str, str]:
    """The signing headers for a request (used by simulators, kiosks and tests); with `hardware_id` and
    `boot_id`, the two identity headers as well, signed."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(12)
    identity = (hardware_id, boot_id) if hardware_id is not None and boot_id is not None else None
    signature = compute_signature(bytes.fromhex(key_hex), method, path, ts, nonce, body, identity)
    headers = {"X-Device-Id": device_id, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": signature}
    if identity is not None:
        headers.update({"X-Hardware-Id": identity[0], "X-Boot-Id": identity[1]})
    return headers


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    return _signed(headers.get("X-Device-Id"), headers.get("X-Timestamp"), headers.get("X-Nonce"),
                   headers.get("X-Signature"), headers.get("X-Hardware-Id"), headers.get("X-Boot-Id"),
                   names=_HEADER_NAMES)


_HEADER_NAMES = ("header X-Device-Id", "header X-Timestamp", "header X-Nonce", "header X-Signature",
                 "header X-Hardware-Id", "header X-Boot-Id")
_COMPACT_NAMES = ("device id", "timestamp", "nonce", "signature", "hardware id", "boot id")
_NONCE_BYTES = (4, 32)      # hex text of 8 to 64 characters, as NONCE allows


def _present(name: str, value: str | None, pattern: re.Pattern[str]) -> str:
    if value is None:
        raise MissingAuth(f"{name} is missing")
    if not pattern.match(value):
        raise MissingAuth(f"{name} is malformed")
    return value


def _signed(device_id: str | None, timestamp: str | None, nonce: str | None, signature: str | None,
            hardware_id: str | None, boot_id: str | None, *, names: tuple[str, ...]) -> SignedHeaders:
    """The signing fields, checked the same whichever form carried them (names: theirs in that form)."""
    device_id, timestamp, nonce, signature = (
        _present(name, value, pattern) for name, value, pattern in zip(
            names, (device_id, timestamp, nonce, signature), (DEVICE_ID, TIMESTAMP, NONCE, SIGNATURE)))
    if (hardware_id is None) != (boot_id is None):
        raise MissingAuth(f"{names[4]} and {names[5]} come together")
    if hardware_id is not None and not HARDWARE_ID.match(hardware_id):
        raise MissingAuth(f"{names[4]} is malformed")
    if boot_id is not None and not BOOT_ID.match(boot_id):
        raise MissingAuth(f"{names[5]} is malformed")
    return SignedHeaders(device_id, timestamp, nonce, signature, hardware_id, boot_id)


def parse_compact(body: bytes) -> tuple[SignedHeaders, bytes]:
    """The signing fields and the message bytes of a compact request body: a CBOR array
    [device id, timestamp, nonce, (hardware id, boot id,) message, signature]."""
    try:
        envelope = wire.decode_cbor(body)
    except wire.MalformedBody as e:
        raise MissingAuth(f"the envelope is {e}") from None
    if not isinstance(envelope, list) or len(envelope) not in (5, 7):
        raise MissingAuth("the envelope must be an array of 5 or 7 items")
    device_id, timestamp, nonce, *identity, message, mac = envelope
    if not isinstance(message, bytes):
        raise MissingAuth("the message must be a byte string")
    if not isinstance(nonce, bytes) or not _NONCE_BYTES[0] <= len(nonce) <= _NONCE_BYTES[1]:
        raise MissingAuth("nonce is malformed")
    if not isinstance(mac, bytes) or len(mac) != 32:
        raise MissingAuth("signature is malformed")
    # Integers and text as they must be; anything else is malformed, as a header of the wrong shape is.
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise MissingAuth("timestamp is malformed")
    texts = [device_id, *identity]
    if not all(isinstance(t, str) for t in texts):
        raise MissingAuth("device id, hardware id and boot id must be text")
    hardware_id, boot_id = identity if identity else (None, None)
    return _signed(device_id, str(timestamp), nonce.hex(), mac.hex(), hardware_id, boot_id,
                   names=_COMPACT_NAMES), message


def signature_matches(key: bytes, signed: SignedHeaders, method: str, path: str, body: bytes) -> bool:
    identity = None
    if signed.hardware_id is not None and signed.boot_id is not None:
        identity = (signed.hardware_id, signed.boot_id)
    expected = compute_signature(key, method, path, signed.timestamp, signed.nonce, body, identity)
    return hmac.compare_digest(expected, signed.signature)


def check_standing(device: Device) -> None:
    """Refuse a device that may not use the API whatever it signs: the order is the operator's
    (decommissioned beats flagged beats not installed), then the key's (not activated, disabled)."""
    if device.lifecycle == LIFECYCLE_DECOMMISSIONED:
        raise errors.refusal("device_decommissioned")
    if device.flag == FLAG_CLONED:
        raise errors.refusal("device_cloned")
    if device.flag == FLAG_MOVED:
        raise errors.refusal("device_moved")
    if device.lifecycle != LIFECYCLE_INSTALLED:
        raise errors.refusal("device_not_installed",
                             f"the device is {device.lifecycle.replace('_', ' ')}, not installed")
    if device.status == DEVICE_PENDING:
        raise errors.refusal("device_not_activated")
    if device.status != DEVICE_ACTIVE:
        raise errors.refusal("device_disabled")
