"""WeChat Pay v2 signatures (MD5 and HMAC-SHA256).

All non-empty parameters except `sign`, sorted by key (ASCII), joined `k=v&...`, then `&key=<API key>`;
MD5 of that, or HMAC-SHA256 keyed with the API key; upper-case hex.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

MD5 = "MD5"
HMAC_SHA256 = "HMAC-SHA256"


def string_to_sign(params: Mapping[str, str], api_key: str) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and v not in ("", None))
    return "&".join(f"{k}={v}" for k, v in pairs) + f"&key={api_key}"


def sign(params: Mapping[str, str], api_key: str, sign_type: str = MD5) -> str:
    text = string_to_sign(params, api_key).encode("utf-8")
    if sign_type == MD5:
        return hashlib.md5(text).hexdigest().upper()
    if sign_type == HMAC_SHA256:
        return hmac.new(api_key.encode("utf-8"), text, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign_type {sign_type!r}")


def signature_valid(params: Mapping[str, str], api_key: str, sign_type: str = MD5) -> bool:
    given = params.get("sign") or ""
    try:
        expected = sign(params, api_key, sign_type)
    except ValueError:
        return False
    return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))
