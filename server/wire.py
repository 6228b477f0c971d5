"""Device API bodies: CBOR for devices, JSON for kiosks and tests; the answer uses the request's format."""
from __future__ import annotations

import io
import json
import math
from typing import Any

import cbor2

CBOR = "cbor"
JSON = "json"
MEDIA_TYPES = {"application/cbor": CBOR, "application/json": JSON}
CONTENT_TYPES = {CBOR: "application/cbor", JSON: "application/json"}

_MAX_DEPTH = 8
# No field of any message needs more than a 64-bit integer: bigger ones are refused while parsing,
# before Python turns thousands of digits into a number (or refuses to, past 4,300 digits).
_MAX_INT_DIGITS = 19
_INT_LIMIT = 2 ** 63


class MalformedBody(ValueError):
    """The body is not a well-formed CBOR map / JSON object of plain values."""


def format_of(content_type: str) -> str | None:
    return MEDIA_TYPES.get(content_type.lower())


def decode(wire_format: str, body: bytes) -> dict[str, Any]:
    message = _decode_cbor(body) if wire_format == CBOR else _decode_json(body)
    if not isinstance(message, dict):
        raise MalformedBody("the body must be a map (CBOR) or an object (JSON)")
    _check_plain(message, 0)
    return message


def encode(wire_format: str, message: dict[str, Any]) -> bytes:
    if wire_format == CBOR:
        return cbor2.dumps(message)
    return _JSON_ENCODER.encode(message).encode("utf-8")


def _decode_cbor(body: bytes) -> Any:
    stream = io.BytesIO(body)
    try:
        decoder = cbor2.CBORDecoder(stream, max_depth=_MAX_DEPTH, allow_duplicate_keys=False,
                                    strict_hashable_types=True)
        message = decoder.decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, EOFError) as e:
        raise MalformedBody(f"not valid CBOR: {e}") from None
    if stream.tell() != len(body):
        raise MalformedBody("not valid CBOR: data after the top-level item")
    return message


def _reject_constant(name: str) -> Any:
    raise MalformedBody(f"not valid JSON: {name} is not a number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise MalformedBody(f"integer of {len(digits.lstrip('-'))} digits: at most {_MAX_INT_DIGITS}")
    return int(digits)


# Made once: json.loads / json.dumps with options build a new decoder / encoder on every call.
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_bounded_int)
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _decode_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):   # as json.loads says it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _JSON_DECODER.decode(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise MalformedBody(f"not valid JSON: {e}") from None


def _check_plain(value: Any, depth: int) -> None:
    # CBOR tags decode to datetimes, Decimals, sets...: none of them belong in a device message.
    if depth > _MAX_DEPTH:
        raise MalformedBody("nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedBody("map keys must be text")
            _check_text(key)
            _check_plain(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_plain(item, depth + 1)
    elif isinstance(value, str):
        _check_text(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -_INT_LIMIT <= value < _INT_LIMIT:   # a CBOR bignum
            raise MalformedBody("integer out of the 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):                # CBOR carries NaN and infinities; JSON "1e999" is one
            raise MalformedBody("numbers must be finite")
    else:
        raise MalformedBody(f"unexpected {type(value).__name__} value")


def _check_text(text: str) -> None:
    # JSON can spell a lone surrogate ("\ud800"): not text any database or page can hold.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBody("text must be valid Unicode (no lone surrogates)") from None
