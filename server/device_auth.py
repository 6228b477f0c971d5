"""Device request signing (docs/device-api.md section 2), for both ends, and the refusals of a device
that may not use the API at all (section 3: decommissioned, not installed, flagged moved or cloned).

String to sign: method, path, timestamp, nonce and the body's SHA-256, one per line; the signature is
lower-case hex HMAC-SHA256 keyed with the device key's 32 raw bytes. A device that sends its identity
(X-Hardware-Id and X-Boot-Id, together) signs them too: two more lines, hardware id and boot id.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from . import errors
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
    values = {}
    for name, pattern in (("X-Device-Id", DEVICE_ID), ("X-Timestamp", TIMESTAMP),
                          ("X-Nonce", NONCE), ("X-Signature", SIGNATURE)):
        value = headers.get(name)
        if value is None:
            raise MissingAuth(f"header {name} is missing")
        if not pattern.match(value):
            raise MissingAuth(f"header {name} is malformed")
        values[name] = value
    hardware_id, boot_id = headers.get("X-Hardware-Id"), headers.get("X-Boot-Id")
    if (hardware_id is None) != (boot_id is None):
        raise MissingAuth("headers X-Hardware-Id and X-Boot-Id come together")
    if hardware_id is not None and not HARDWARE_ID.match(hardware_id):
        raise MissingAuth("header X-Hardware-Id is malformed")
    if boot_id is not None and not BOOT_ID.match(boot_id):
        raise MissingAuth("header X-Boot-Id is malformed")
    return SignedHeaders(values["X-Device-Id"], values["X-Timestamp"], values["X-Nonce"], values["X-Signature"],
                         hardware_id, boot_id)


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
        raise errors.device_decommissioned()
    if device.flag == FLAG_CLONED:
        raise errors.device_cloned()
    if device.flag == FLAG_MOVED:
        raise errors.device_moved()
    if device.lifecycle != LIFECYCLE_INSTALLED:
        raise errors.device_not_installed(f"the device is {device.lifecycle.replace('_', ' ')}, not installed")
    if device.status == DEVICE_PENDING:
        raise errors.device_not_activated()
    if device.status != DEVICE_ACTIVE:
        raise errors.device_disabled()
