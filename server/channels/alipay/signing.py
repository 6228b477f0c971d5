"""Alipay RSA2 signatures (SHA256withRSA, PKCS#1 v1.5, Base64).

Requests: every parameter except `sign` and empty values, sorted by key (ASCII), joined `k=v&...`, signed
with the app's private key. Answers: Alipay signs the exact JSON text of the `<method>_response` member
with its own key; the answer's `sign` sits beside it. (Facts: reference/channels.md section 3.)
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15


def _pem(text: str, kind: str) -> str:
    # Alipay's console hands out keys as bare Base64; PEM files work too.
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text
    body = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


def load_private_key(text: str) -> RSA.RsaKey:
    return RSA.import_key(_pem(text, "PRIVATE KEY"))


def load_public_key(text: str) -> RSA.RsaKey:
    return RSA.import_key(_pem(text, "PUBLIC KEY"))


def content_to_sign(params: Mapping[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and v not in ("", None))
    return "&".join(f"{k}={v}" for k, v in pairs)


def sign_text(text: str, private_key: RSA.RsaKey) -> str:
    digest = SHA256.new(text.encode("utf-8"))
    return base64.b64encode(pkcs1_15.new(private_key).sign(digest)).decode("ascii")


def sign(params: Mapping[str, str], private_key: RSA.RsaKey) -> str:
    return sign_text(content_to_sign(params), private_key)


def verify_text(text: str, signature: str, public_key: RSA.RsaKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        pkcs1_15.new(public_key).verify(SHA256.new(text.encode("utf-8")), raw)
    except (ValueError, TypeError, binascii.Error):
        return False
    return True


def response_node_name(method: str) -> str:
    """alipay.trade.pay -> alipay_trade_pay_response"""
    return method.replace(".", "_") + "_response"


def signed_part(body: str, node: str) -> str | None:
    """The exact JSON text of member `node` of the answer object, as Alipay signed it; None when absent.

    Re-serialising the parsed JSON would not do: whitespace, escapes and key order must stay as sent.
    """
    decoder = json.JSONDecoder()
    key = json.dumps(node)
    start = 0
    while True:
        at = body.find(key, start)
        if at < 0:
            return None
        colon = at + len(key)
        while colon < len(body) and body[colon] in " \t\r\n":
            colon += 1
        if colon < len(body) and body[colon] == ":":
            value_at = colon + 1
            while value_at < len(body) and body[value_at] in " \t\r\n":
                value_at += 1
            try:
                _, end = decoder.raw_decode(body, value_at)
            except (ValueError, RecursionError):     # also a 4,300-digit number or too deep a nesting
                return None
            return body[value_at:end]
        start = at + 1
