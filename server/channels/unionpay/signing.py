"""UnionPay signatures, as UnionPay's own SDK ("acp") signs its messages.

What public code shows (UnionPay's acp SDK as copied into many public repositories, Java SDKUtil.sign and
the PHP acp_service for version 5.1.0; a UnionPay QR notification in a public test carries the same
`certId` and `signature` fields):
  1. all fields except `signature`, sorted by name, joined `key=value&key=value`;
  2. SHA-256 of that text, written as lower-case hex ("sha256X16");
  3. SHA256withRSA (PKCS#1 v1.5) over the bytes of that hex text, with the private key of the
     acquirer's signing certificate;
  4. Base64 into `signature`; the certificate's serial number (decimal) goes into `certId`.
Inferred, not seen in the sources: empty fields are left out before signing (the acp SDK filters blank
values from a request before signing it); answers are verified with UnionPay's public key from config
(the acp 5.1.0 SDK instead validates a `signPubKeyCert` sent in the answer against UnionPay's root and
intermediate certificates: to do once the real certificates are at hand).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15

SIGNATURE = "signature"
CERT_ID = "certId"


def load_private_key(pem: str) -> RSA.RsaKey:
    return RSA.import_key(pem)


def load_public_key(pem: str) -> RSA.RsaKey:
    return RSA.import_key(pem)


def content_to_sign(params: Mapping[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != SIGNATURE and v not in ("", None))
    return "&".join(f"{k}={v}" for k, v in pairs)


def digest_hex(params: Mapping[str, str]) -> str:
    return hashlib.sha256(content_to_sign(params).encode("utf-8")).hexdigest()


def sign(params: Mapping[str, str], private_key: RSA.RsaKey, cert_id: str) -> dict[str, str]:
    """`params` with certId and signature added."""
    signed = {k: v for k, v in params.items() if v not in ("", None) and k != SIGNATURE}
    signed[CERT_ID] = cert_id
    hex_text = digest_hex(signed).encode("ascii")
    signed[SIGNATURE] = base64.b64encode(pkcs1_15.new(private_key).sign(SHA256.new(hex_text))).decode("ascii")
    return signed


def signature_valid(params: Mapping[str, str], public_key: RSA.RsaKey, cert_id: str = "") -> bool:
    if cert_id and params.get(CERT_ID) != cert_id:
        return False
    try:
        raw = base64.b64decode(params.get(SIGNATURE) or "", validate=True)
        pkcs1_15.new(public_key).verify(SHA256.new(digest_hex(params).encode("ascii")), raw)
    except (ValueError, TypeError, binascii.Error):
        return False
    return True
