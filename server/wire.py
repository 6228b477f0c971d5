"""Device API bodies: CBOR for devices, JSON for kiosks and tests; the answer uses the request's format."""
from __future__ import annotations

import io
import json
from typing import Any

import cbor2

CBOR = "cbor"
JSON = "json"
MEDIA_TYPES = {"application/cbor": CBOR, "application/json": JSON}
CONTENT_TYPES = {CBOR: "application/cbor", JSON: "application/json"}

_MAX_DEPTH = 8


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


# Made once: json.loads / json.dumps with options build a new decoder / encoder on every call.
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
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
            _check_plain(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_plain(item, depth + 1)
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise MalformedBody(f"unexpected {type(value).__name__} value")
