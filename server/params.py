"""URL parts and query parameters, checked before anything uses them: a value that cannot be right is a
400 `invalid_parameter` whose message names the parameter, never its value (docs/console.md "Orders",
docs/device-api.md firmware downloads, docs/operations.md "Operations HTTP API").

Why each check exists (issue 18): "²" and "١٢" pass `str.isdigit()` but `int()` refuses or reads them;
`int()` refuses more than 4,300 digits; 9999-12-31 has no next day; a newline breaks a reason phrase or a
header; PostgreSQL refuses NUL in text; a lone surrogate (aiohttp's pure-Python parser makes them from
bytes that are not UTF-8) cannot be encoded for the database or the page. So patterns are ASCII-only and
match the whole value (`fullmatch`: `^...$` would let a trailing newline through), digits are ASCII and
counted before `int()`, days fall in [FIRST_DAY, LAST_DAY], and free text has no control characters or
surrogates.

    device_id = params.device_id(request.match_info["device_id"])
    wait_s = params.digits(request.query.get("wait", "0"), "wait", max_len=4)
    since = params.day(request.query.get("from", ""), "From")            # None when empty
"""
from __future__ import annotations

import datetime
import re
import unicodedata
from typing import TypeGuard

from .device_auth import DEVICE_ID
from .errors import ApiError

CODE = "invalid_parameter"

# Record ids in URLs: device ids (server/device_auth.py DEVICE_ID is the stricter 1-32), order and rollout
# ids (server/clock.py new_id), C2B tokens (secrets.token_urlsafe).
ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
FIRST_DAY, LAST_DAY = datetime.date(2000, 1, 1), datetime.date(2099, 12, 31)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_NOT_TEXT = {"Cc", "Cs"}       # control characters (NUL, CR, LF, DEL, ...) and lone surrogates


class InvalidParameter(ApiError):
    """A URL part or query parameter refused; `name` is the parameter as the user knows it."""

    def __init__(self, name: str, message: str):
        super().__init__(400, CODE, message)
        self.name = name


def fits(value: object, pattern: re.Pattern[str]) -> TypeGuard[str]:
    """Whether `value` is text the whole of which matches `pattern` (for callers that answer 404 instead)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def text_part(value: object, name: str, pattern: re.Pattern[str] = ID, rule: str = "") -> str:
    """`value` if the whole of it matches `pattern` (compile it with re.ASCII), else InvalidParameter."""
    if not fits(value, pattern):
        raise InvalidParameter(name, f"{name} must be {rule}" if rule else f"{name} is not in its format")
    return value


def device_id(value: object, name: str = "device_id") -> str:
    """A device id as devices are registered (server/device_auth.py DEVICE_ID)."""
    return text_part(value, name, DEVICE_ID, "1-32 of A-Z a-z 0-9 _ -")


def digits(value: object, name: str, *, max_len: int) -> int:
    """1 to `max_len` ASCII digits as an int (no sign, no spaces, no "²")."""
    if not (isinstance(value, str) and 0 < len(value) <= max_len and value.isascii() and value.isdigit()):
        raise InvalidParameter(name, f"{name} must be a whole number of 1-{max_len} digits 0-9")
    return int(value)


def day(value: object, name: str) -> datetime.date | None:
    """A day written YYYY-MM-DD within FIRST_DAY..LAST_DAY, or None for "" (no filter)."""
    if value == "":
        return None
    rule = f"{name}: a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}, written like 2026-11-21"
    if not fits(value, _DAY):
        raise InvalidParameter(name, rule)
    try:
        parsed = datetime.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(name, rule) from None
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise InvalidParameter(name, rule)
    return parsed


def is_text(value: object, max_len: int) -> TypeGuard[str]:
    """Text a person could have typed: at most `max_len` characters, none a control character or surrogate."""
    return (isinstance(value, str) and len(value) <= max_len
            and not any(unicodedata.category(c) in _NOT_TEXT for c in value))


def free_text(value: object, name: str, *, max_len: int) -> str:
    """A search or a name as typed (any language); refuses control characters and lone surrogates."""
    if not is_text(value, max_len):
        raise InvalidParameter(name, f"{name}: at most {max_len} characters, with no control characters")
    return value
