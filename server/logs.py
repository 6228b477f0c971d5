"""Log set-up: text or JSON lines, and a last line of defence that masks payment codes and keys.

The code masks what it logs on purpose (`masking.mask`); this filter also rewrites anything in a
record that looks like a payment code (10-32 digits) or a key (32+ hex characters), whoever logged it.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time

from aiohttp.http_exceptions import HttpProcessingError

from .masking import mask
from .settings import LoggingSettings

_PAYMENT_CODE = re.compile(r"(?<![0-9A-Za-z])[0-9]{10,32}(?![0-9A-Za-z])")
_KEY = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
_SECRET_NAMES = ("auth_code", "device_key", "key_hex", "api_key", "activation_code", "private_key")


def mask_text(text: str) -> str:
    text = _KEY.sub(lambda m: mask(m.group(0)), text)
    return _PAYMENT_CODE.sub(lambda m: mask(m.group(0)), text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when set: the traceback, masked like the message (an exception's
            # text or a local's repr can hold a payment code).
            record.exc_text = mask_text(_TRACEBACKS.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        for name in _SECRET_NAMES:
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, mask(value))
        return True


_TRACEBACKS = logging.Formatter()


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a request it cannot parse (a bad request line or header, from a scanner or a broken
    client) as an ERROR with a traceback, though it already answered 400: make it one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            said = record.getMessage()          # "Error handling request from <peer>"
            peer = said.rsplit(" from ", 1)[1] if " from " in said else "?"
            detail = str(error.message).strip().splitlines()[0] if error.message else ""
            record.msg, record.args = "malformed HTTP request from %s refused (%s): %s", (peer, error.code, detail)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and the record's extra fields."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str | int | float | bool | None] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: LoggingSettings, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(MaskingFilter())
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestFilter())
