"""Device API bodies: CBOR for devices, JSON for kiosks and tests; the answer uses the request's format.

The compact form (docs/device-api.md, "Compact form") is CBOR whose map keys may be field numbers
(the firmware's table, core.compact); its request body is a signed envelope around such a message,
opened by device_auth.parse_compact before the message is decoded here."""
from __future__ import annotations

import io
import json
import math
from typing import Any, cast

import cbor2
from core.compact import CONTENT_TYPE as COMPACT_TYPE, pack_keys, unpack_keys

CBOR = "cbor"
JSON = "json"
COMPACT = "compact"
MEDIA_TYPES = {"application/cbor": CBOR, "application/json": JSON, COMPACT_TYPE: COMPACT}
CONTENT_TYPES = {CBOR: "application/cbor", JSON: "application/json", COMPACT: COMPACT_TYPE}
BINARY = (CBOR, COMPACT)    # formats that carry raw bytes (JSON carries them as Base64 text)

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
    if wire_format == COMPACT:
        message = unpack_keys(decode_cbor(body, int_keys=True))   # a number no field has stays a number: refused below
    else:
        message = decode_cbor(body) if wire_format == CBOR else _decode_json(body)
    if not isinstance(message, dict):
        raise MalformedBody("the body must be a map (CBOR) or an object (JSON)")
    _check_plain(message, 0)
    return cast(dict[str, Any], message)      # its keys are text now: _check_plain refused any other


def encode(wire_format: str, message: dict[str, Any]) -> bytes:
    if wire_format == CBOR:
        return cbor2.dumps(message)
    if wire_format == COMPACT:
        return cbor2.dumps(pack_keys(message))
    return _JSON_ENCODER.encode(message).encode("utf-8")


def decode_cbor(body: bytes, *, int_keys: bool = False) -> Any:
    """One CBOR item, all of `body`. Map keys are text (or bytes), and integers too with `int_keys` (the
    compact form's field numbers): integers can be made to collide in a hash table, but a body of at most
    [device_api] max_body_bytes holds a few hundred keys, and colliding integers cost a comparison each."""
    stream = io.BytesIO(body)
    try:
        decoder = cbor2.CBORDecoder(stream, max_depth=_MAX_DEPTH, allow_duplicate_keys=False,
                                    strict_hashable_types=not int_keys)
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
