"""Hostile inputs for every way into the server, and the harness that sends them and judges the answers.

Shared by tests/server/test_fuzz.py (hypothesis, a bounded run in `make test`) and
tests/bench/test_bench_fuzz.py (a seeded generator, 100,000 cases). A case generator takes a `Chooser`,
which makes every choice: `DrawChooser` draws from hypothesis (so its examples shrink), `RandomChooser`
from a seeded `random.Random` (fast, for the benchmark). Both run the same generators over the same pools.

    async with fuzz_target(tmp_path) as target:
        case = make_case(RandomChooser(random.Random(1)), target.world, "device")
        outcome = await target.send(case)
        assert outcome.problem is None, outcome.describe()

Areas (`AREAS`): the device API (every op, JSON and CBOR, signed, unsigned and badly signed), every URL
pattern of the app with hostile placeholders, console forms and console query parameters (as an operator
and as a merchant user, with a valid CSRF token), the operations API, WeChat's payment notifications and
the C2B landing pages. A problem is an answer of 5xx, a request with no answer (the connection dropped,
or nothing within `ANSWER_TIMEOUT_S`), or a 4xx refusal that wrote to the database.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import io
import json
import logging
import math
import random
import re
import sqlite3
import struct
import tarfile
import time
import traceback
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from hypothesis import strategies as st
from PIL import Image
from yarl import URL

from hw_sim import test_codes
from hw_sim.sandbox import keys as sandbox_keys
from hw_sim.sandbox import run_alipay_sandbox, run_wechat_sandbox
from hw_sim.sandbox.alipay import SANDBOX_APP_ID
from server import devices, merchants, reconcile, rollouts, static_codes
from server.app import create_app
from server.channels.wechat import signing as wechat_signing
from server.clock import now_ms
from server.console import auth, queries
from server.console.devices import ACTIONS as DEVICE_ACTIONS
from hw_sim.device_client import sign_request
from server.device_auth import new_device_key
from server.device_messages import NETWORKS
from server.keys import SETTINGS, STORAGE
from server.settings import SANDBOX_API_KEY, SANDBOX_APPID, SANDBOX_MCH_ID, Settings, load_settings

ANSWER_TIMEOUT_S = 20.0
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------- choosing

class Chooser(Protocol):
    def choice(self, options: Sequence[Any]) -> Any: ...
    def integer(self, low: int, high: int) -> int: ...
    def chance(self, percent: int) -> bool: ...


class RandomChooser:
    """Choices from a seeded random.Random: cheap, for long runs."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent


class DrawChooser:
    """Choices drawn from hypothesis (`st.data()` or a composite's `draw`): reproducible and shrinkable."""

    def __init__(self, draw: Callable[[st.SearchStrategy], Any]):
        self.draw = draw

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.draw(st.integers(0, len(options) - 1))]

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def chance(self, percent: int) -> bool:
        # Shrinks towards 0, so towards "yes": the well-formed value, the usual path.
        return self.draw(st.integers(0, 99)) < percent


# ------------------------------------------------------------------------------ values on the wire

@dataclass(frozen=True)
class BigInt:
    """An integer of `digits` decimal digits, written without ever being a Python int (past 4,300 digits
    Python refuses to turn text into one): JSON digits, a CBOR bignum (tag 2 or 3)."""
    digits: int
    negative: bool = False


@dataclass(frozen=True)
class Fragment:
    """A literal piece of a body, as it is in each format (NaN, invalid UTF-8, undefined ...)."""
    json: bytes
    cbor: bytes


@dataclass(frozen=True)
class Pairs:
    """A map written pair by pair: duplicate keys, keys that are not text."""
    items: tuple[tuple[Any, Any], ...]


@dataclass(frozen=True)
class Tagged:
    """A CBOR tag around a value (JSON: the bare value)."""
    tag: int
    value: Any


def to_json(value: Any, ascii_only: bool = True) -> bytes:
    """JSON text of `value`. Lone surrogates: escaped (`"\\ud800"`) with `ascii_only`, else raw (invalid UTF-8)."""
    if isinstance(value, Fragment):
        return value.json
    if isinstance(value, BigInt):
        return (b"-" if value.negative else b"") + b"9" * value.digits
    if isinstance(value, Tagged):
        return to_json(value.value, ascii_only)
    if value is None or isinstance(value, bool):
        return {None: b"null", True: b"true", False: b"false"}[value]
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if math.isnan(value):
            return b"NaN"
        if math.isinf(value):
            return b"Infinity" if value > 0 else b"-Infinity"
        return repr(value).encode()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if isinstance(value, bytes):
        return b'"' + value + b'"'      # raw bytes inside a string: usually not UTF-8
    if isinstance(value, (list, tuple)):
        return b"[" + b",".join(to_json(v, ascii_only) for v in value) + b"]"
    items = value.items if isinstance(value, Pairs) else tuple(value.items())
    return b"{" + b",".join(
        (to_json(k, ascii_only) if isinstance(k, str) else b'"' + to_json(k, ascii_only).strip(b'"') + b'"')
        + b":" + to_json(v, ascii_only) for k, v in items) + b"}"


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError("CBOR head over 64 bits")


def to_cbor(value: Any) -> bytes:
    """CBOR of `value`; text with lone surrogates becomes invalid UTF-8, big integers bignums."""
    if isinstance(value, Fragment):
        return value.cbor
    if isinstance(value, BigInt):
        size = max(1, value.digits * 415 // 1000)          # log256(10) = 0.415
        return _cbor_head(6, 3 if value.negative else 2) + _cbor_head(2, size) + b"\xff" * size
    if isinstance(value, Tagged):
        return _cbor_head(6, value.tag) + to_cbor(value.value)
    if value is None or isinstance(value, bool):
        return {None: b"\xf6", True: b"\xf5", False: b"\xf4"}[value]
    if isinstance(value, int):
        if 0 <= value < 1 << 64:
            return _cbor_head(0, value)
        if -(1 << 64) <= value < 0:
            return _cbor_head(1, -1 - value)
        magnitude = value if value >= 0 else -1 - value
        raw = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
        return _cbor_head(6, 2 if value >= 0 else 3) + _cbor_head(2, len(raw)) + raw
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        return _cbor_head(3, len(raw)) + raw
    if isinstance(value, bytes):
        return _cbor_head(2, len(value)) + value
    if isinstance(value, (list, tuple)):
        return _cbor_head(4, len(value)) + b"".join(to_cbor(v) for v in value)
    items = value.items if isinstance(value, Pairs) else tuple(value.items())
    return _cbor_head(5, len(items)) + b"".join(to_cbor(k) + to_cbor(v) for k, v in items)


def nested(depth: int) -> Fragment:
    """A list in a list ... `depth` deep around 1 (built flat: no recursion on either side of the wire)."""
    return Fragment(b"[" * depth + b"1" + b"]" * depth, b"\x81" * depth + b"\x01")


# -------------------------------------------------------------------------------------- hostile pools

HOSTILE_TEXTS = (
    "", " ", "\ud800", "\udfff", "a\udc80z", "²", "1²", "²³", "٣", "१२", "１２", "½", "Ⅻ", "𝟗",
    "\x00", "\x07", "\x1b[31m", "\n", "\r\n", "x\ny", "x\r\nSet-Cookie: a=b", "\t", "\x7f", "\x85",
    "\u202e", "\u2028", "\ufeff", "\ufffd", "\U0010ffff", "\uffff", "茶馆", "😀", "e\u0301",
    "..", "../../etc/passwd", "/", "\\", "//evil.example", "%00", "%ED%A0%80", "%0A",
    "'", '"', "' OR '1'='1", "<script>alert(1)</script>", "{{7*7}}", "%s%n", "${jndi:x}",
    "-1", "0", "+1", "00", "1.5", "1e999", "NaN", "Infinity", "null", "true", "0x10", "1_000", " 12 ", "12.",
    ".5", "1,000", "-0", "9" * 19, "9" * 20, "9" * 40, "9" * 4301, "9" * 5000, "²" * 100,
    "x" * 33, "x" * 65, "x" * 201, "x" * 1000, "x" * 9000,
    "9999-12-31", "0001-01-01", "0000-00-00", "2026-02-30", "10000-01-01", "2026-13-01", "2026-1-1",
    "2026-01-01T00:00", "20260101",
)

# Dates a day filter may meet: the edges of what datetime can represent.
DATES = ("2026-01-01", "2026-06-30", "9999-12-31", "0001-01-01", "0001-01-02", "9999-12-30", "2025-12-31",
         "1970-01-01", "2026-02-29", "2024-02-29")

HOSTILE_SCALARS = (
    None, True, False, 0, -1, 1, 2 ** 31, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63, -2 ** 63 - 1, 2 ** 64,
    10 ** 30, -10 ** 30, BigInt(20), BigInt(300), BigInt(4300), BigInt(4301), BigInt(5000),
    BigInt(5000, negative=True), 0.5, -0.0, 1e308, 12.5, 1250.0, 1e-300,
    float("nan"), float("inf"), float("-inf"), b"", b"\x00\xff\xfe",
    Fragment(b"1e99999", b"\xf9\x7c\x00"), Fragment(b"-1e99999", b"\xf9\xfc\x00"),
    Fragment(b"NaN", b"\xf9\x7e\x00"), Fragment(b"1.0e-99999", b"\xfa\x7f\xc0\x00\x00"),
    Fragment(b"undefined", b"\xf7"), Fragment(b"\"\\ud800\"", b"\x63\xed\xa0\x80"),
    Fragment(b"\"\\udc00\\ud800\"", b"\x66\xed\xb0\x80\xed\xa0\x80"),
    Fragment(b"\"\xff\xfe\"", b"\x62\xff\xfe"), Fragment(b"\"\xc0\xaf\"", b"\x62\xc0\xaf"),
    Fragment(b"\"\\u0000\"", b"\x61\x00"), Fragment(b"0" * 30, b"\xe0"), Fragment(b"01", b"\xf8\x20"),
    Fragment(b"-", b"\x7f\x61\x61\xff"), Fragment(b"1e400", b"\x5f\x41\x00\xff"),
    Tagged(1, 1e300), Tagged(0, "2026-01-01T00:00:00Z"), Tagged(4, [-2, 12345]), Tagged(258, ["a", "b"]),
    Tagged(2, b"\x01"), Tagged(55799, "x"), Tagged(30, [1, 0]), Tagged(37, b"\x00"), Tagged(35, "("),
    Tagged(28, "x"), Tagged(29, 7), Tagged(1004, "x"), Tagged(260, b"\x00"),
)

HOSTILE_CONTAINERS = (
    [], {}, ["x"], [1, 2, 3], {"a": 1}, {"": ""}, {"\ud800": 1}, [None], [[]], [{}], {"order_no": "A1"},
    nested(9), nested(40), nested(3000), Pairs((("a", 1), ("a", 2))), Pairs(((1, "x"),)),
    ["1" * 64] * 101, ["0" * 32] * 5,
)


# What a field that reads a number may meet: str.isdigit() says yes to "²", and int() refuses past 4,300 digits.
HOSTILE_NUMBERS = ("²", "1²", "٣", "１２", "𝟗", "9" * 5000, "9" * 4301, "9" * 20, "-1", "0", "1e999", "NaN", " 1",
                   "1.5", "0x10", "", "99999999999999999999999")


def hostile_text(ch: Chooser) -> str:
    return ch.choice(HOSTILE_NUMBERS) if ch.chance(30) else ch.choice(HOSTILE_TEXTS)


def field_modes(ch: Chooser, names: Sequence[str], *, absent_percent: int = 10) -> dict[str, str]:
    """Which fields are well-formed ("good"), "hostile" or "absent": mostly one hostile field among good ones
    (to reach the code behind the first checks), else each field on its own."""
    if names and ch.chance(60):
        victim = ch.choice(names)
        return {name: "hostile" if name == victim else "good" for name in names}
    modes = {}
    for name in names:
        roll = ch.integer(0, 99)
        modes[name] = "absent" if roll < absent_percent else "hostile" if roll < absent_percent + 25 else "good"
    return modes


def hostile_value(ch: Chooser) -> Any:
    kind = ch.integer(0, 9)
    if kind <= 4:
        return hostile_text(ch)
    if kind <= 7:
        return ch.choice(HOSTILE_SCALARS)
    return ch.choice(HOSTILE_CONTAINERS)


HOSTILE_SEGMENTS = (
    "%ED%A0%80", "%ED%BF%BF", "a%ED%B2%80b", "%C2%B2", "1%C2%B2", "%C2%B2%C2%B3", "%D9%A3", "%EF%BC%91%EF%BC%92",
    "%F0%9D%9F%97", "9" * 5000, "9" * 4301, "9" * 20, "0", "-1", "00", "..", "%2E%2E", ".", "%2e", "%0A",
    "%0D%0A", "a%0Ab", "2026-01-01%0A", "%00", "a%00b", "%E8%8C%B6%E9%A6%86", "%F0%9F%98%80", "%FF", "%C0%AF",
    "%25", "%", "%G1", "%2F", "a%2Fb", "..%2F..%2Fetc%2Fpasswd", "%5C", "%20", "%09", "%7F", "x" * 300,
    "x" * 5000, "%3Cscript%3E", "'", "%22", "~", "CON", "-", "_", "%E2%80%AE", "%EF%BB%BF", "@", ";", ",",
    "+", "%2B", "manifest.json", "files%2F..%2F..%2Fapp.py", "%C2%A0", "%E2%80%A8", "%C3%A9", "e%CC%81",
    "%EF%BF%BF", "%F4%8F%BF%BF", "%F5%80%80%80", "%E0%80%AF",
)

# Raw bytes in the request line (the HTTP parser's job): sent only now and then.
RAW_SEGMENTS = ("²", "茶", "é", "a\x85b")


def quote_text(text: str) -> str:
    """Percent-encoding of text as a browser would send it (lone surrogates as their UTF-8-ish bytes)."""
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


def hostile_segment(ch: Chooser) -> str:
    """A path segment or query value, percent-encoded as sent (now and then raw bytes the parser must refuse)."""
    kind = ch.integer(0, 19)
    if kind == 0:
        return ch.choice(RAW_SEGMENTS)
    if kind <= 6:
        return quote_text(hostile_text(ch))
    return ch.choice(HOSTILE_SEGMENTS)




# ------------------------------------------------------------------------------------------- the world

@dataclass
class World:
    """What the seeded server holds: ids and secrets the generators use to build well-formed values."""
    device_id: str = "FZ-D1"            # the device-API fuzz device (merchant M1)
    device_key: str = ""
    identity_device_id: str = "FZ-ID"   # signs with identity headers, always the same ones
    identity_key: str = ""
    hardware_id: str = "FZHW-0001"
    boot_id: str = "FZBOOT-0001"
    devices_all: tuple[str, ...] = ()    # every device id (read-only pages)
    static_codes: tuple[str, ...] = ()   # a bound, an empty and a deregistered static code
    victims: tuple[str, ...] = ()        # devices the console's lifecycle forms may change
    order_nos: tuple[str, ...] = ()      # orders of the fuzz device
    refund_nos: tuple[str, ...] = ()
    order_ids: tuple[str, ...] = ()      # console ids of orders
    qr_tokens: tuple[str, ...] = ()
    trade_nos: tuple[str, ...] = ()      # WeChat C2B orders: what a notify names
    activation_codes: tuple[str, ...] = ()
    command_ids: tuple[str, ...] = ()
    profile: str = "enhanced_box"
    version: str = "0.3.0"
    rollout_ids: tuple[str, ...] = ()
    firmware_parts: dict[str, str] = field(default_factory=dict)   # a valid firmware URL's placeholders
    report_days: tuple[str, ...] = ("2026-01-01",)
    merchants: tuple[str, ...] = ("M1", "M2")
    stores: tuple[str, ...] = ()
    # What the operations API's onboarding calls may change (seeded through it): never what other areas pay by.
    ops_merchants: tuple[str, ...] = ()
    store_ids: tuple[str, ...] = ()       # a store of each of the first two ops merchants
    stock_serials: tuple[str, ...] = ()   # received into stock; the first two assigned to those stores
    batch_ids: tuple[str, ...] = ()
    ops_codes: tuple[str, ...] = ()       # the batch's codes, the first bound
    evidence_files: tuple[tuple[str, bytes], ...] = ()   # (Content-Type, file): real photos, a PDF and junk
    evidence_ids: tuple[str, ...] = ()    # evidence on file for the first ops merchant (console evidence pages)
    routes: tuple[tuple[str, tuple[str, ...]], ...] = ()     # every route pattern and its methods
    passwords: dict[str, str] = field(default_factory=dict)
    ops_token: str = "fuzz-ops-token-0123456789"
    bundles: tuple[tuple[str, str, bytes], ...] = ()    # (profile, version, .tar.gz): valid and hostile releases
    next_number: int = 0

    def fresh(self, prefix: str) -> str:
        self.next_number += 1
        return f"{prefix}{self.next_number}"


OPERATOR, MERCHANT = "fz-ops", "fz-tea"
LOGIN_CSRF = "L" * 43                 # the login form's double-submit token: any cookie value of 32+ characters
CSRF_MARK = "__FUZZ_CSRF__"           # replaced by the session's CSRF token when the case is sent
WALLET_CODE_MARK = "__FUZZ_WALLET_CODE__"   # replaced by a fresh one-time code from the sandbox wallet


# ---------------------------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    """One request, as sent (the target adds what only it knows: signatures, session cookies, CSRF)."""
    area: str
    method: str
    target: str                                  # path and query, percent-encoded as sent
    route: str                                   # the route pattern it aims at (for grouping findings)
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    session: str | None = None                   # "operator" or "merchant": that console login's cookie
    csrf: str | None = None                      # "header": the session's token in X-CSRF-Token
    sign: str | None = None                      # device API: good, bad_signature, stale, future, identity
    device: str = ""                             # which device signs

    def describe(self, limit: int = 400) -> str:
        def cut(text: str) -> str:
            return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"
        lines = [f"{self.method} {cut(self.target)}"]
        lines += [f"{name}: {cut(value)}" for name, value in self.headers]
        if self.session:
            lines.append(f"(logged in as the {self.session} user{', CSRF header' if self.csrf else ''})")
        if self.sign:
            lines.append(f"(signed: {self.sign}, device {self.device})")
        if self.body:
            lines.append("body: " + cut(repr(self.body)))
        return "\n".join(lines)


# ------------------------------------------------------------------------------------ the device API

def _order_no(ch: Chooser, world: World) -> str:
    kind = ch.integer(0, 9)
    if kind <= 4 and world.order_nos:
        return ch.choice(world.order_nos)
    if kind == 5:
        return ch.choice(("a", "A" * 32, "x-_9", "0"))
    return world.fresh("F")


def _auth_code(ch: Chooser) -> str:
    prefix = ch.choice((test_codes.WECHAT_PREFIX, test_codes.WECHAT_PREFIX, test_codes.ALIPAY_PREFIX, "99", "62"))
    scenario = ch.choice((test_codes.SUCCESS, test_codes.SUCCESS, test_codes.INSUFFICIENT_FUNDS, test_codes.EXPIRED,
                          test_codes.ALREADY_USED, test_codes.SYSTEM_ERROR, test_codes.PASSWORD))
    length = 19 if prefix == "62" else 18
    tail = "".join(str(ch.integer(0, 9)) for _ in range(4)).ljust(length - 6, "0")
    return f"{prefix}{scenario}00{tail}"[:length]


# Two places (a device that reports the second after the first is flagged moved: the target clears it).
PLACES = ({"bssid": "aa:bb:cc:dd:ee:01", "seen": ["aa:bb:cc:dd:ee:02"]}, {"cell": "460-00-4321"},
          {"bssid": "AA-BB-CC-DD-EE-01", "cell": "460-00-4321-77"}, {"bssid": "02:00:00:00:00:99"}, {"seen": []})


# A well-formed value: one of a tuple's values, or what a function of the chooser makes.
Good = tuple | Callable[[Chooser], Any]


def good_value(ch: Chooser, good: Good) -> Any:
    return ch.choice(good) if isinstance(good, tuple) else good(ch)


def _device_fields(world: World) -> dict[str, dict[str, Good]]:
    """op -> field -> its well-formed values (docs/device-api.md section 5)."""
    order_no = lambda ch: _order_no(ch, world)      # noqa: E731
    versions = (world.version, "0.0.1", "1.0.0-rc.1")
    acked = lambda ch: [ch.choice(world.command_ids) if world.command_ids and ch.chance(50) else "0" * 32]  # noqa: E731
    return {
        "activate": {"activation_code": world.activation_codes or ("000000000000",),
                     "hardware_id": ("FZHW-9999", "a4:cf:12:00:00:01"), "firmware": versions, "place": PLACES},
        "info": {},
        "pay": {"order_no": order_no, "amount_fen": (1, 1250, 500_000, 500_001), "auth_code": _auth_code,
                "subject": ("茶", "Green tea", "x" * 64)},
        "qr": {"order_no": order_no, "amount_fen": (1, 1250, 50_000), "subject": ("茶", "Noodles")},
        "query": {"order_no": order_no, "wait": (0, 0, 0, 1)},
        "events": {"after": (0, 1, 2 ** 53), "wait": (0, 0, 0, 1)},
        "close": {"order_no": order_no},
        "refund": {"order_no": order_no,
                   "refund_no": lambda ch: ch.choice(world.refund_nos) if ch.chance(30) else world.fresh("R"),
                   "amount_fen": (1, 10, 1250), "reason": ("broken", "退款")},
        "orders": {"limit": (1, 20, 100, 101), "before": (0, 2 ** 40, 1_800_000_000)},
        "heartbeat": {"battery_pct": (0, 55, 100), "charging": (True, False), "signal_dbm": (-150, -70, 0),
                      "network": NETWORKS, "firmware": versions, "uptime_s": (0, 3600, 2 ** 40), "acked": acked,
                      "place": PLACES},
        "ota_report": {"version": versions, "step": tuple(rollouts.STEPS),
                       "detail": ("disk full", "x" * 300, "files/core/app.mpy")},
    }


DEVICE_OPS = ("activate", "info", "pay", "qr", "query", "events", "close", "refund", "orders", "heartbeat",
              "ota_report")
HOSTILE_OPS = ("PAY", "pay%0A", "%ED%A0%80", "firmware", "pay.json", "%C2%B2", "x" * 300, "__init__", "OPS", "")
DEVICE_CONTENT_TYPES = ("application/json; charset=utf-8", "APPLICATION/CBOR", "text/plain", "",
                        "application/cbor, application/json", "application/json; charset=latin-1",
                        "multipart/form-data; boundary=x", "application/x-www-form-urlencoded")


def device_message(ch: Chooser, world: World, op: str) -> Any:
    """The op's fields, each well-formed, hostile or left out, and sometimes a field nobody asked for."""
    spec = _device_fields(world).get(op, {})
    message: dict[str, Any] = {}
    for name, mode in field_modes(ch, tuple(spec)).items():
        if mode == "good":
            message[name] = good_value(ch, spec[name])
        elif mode == "hostile":
            message[name] = hostile_value(ch)
    if ch.chance(10):
        message[ch.choice(("extra", "\ud800", "", "order_no", "x" * 100))] = hostile_value(ch)
    if ch.chance(4) and message:
        key = next(iter(message))
        return Pairs(tuple(message.items()) + ((key, hostile_value(ch)),))     # a duplicate key
    return message


def encode_body(ch: Chooser, fmt: str, message: Any) -> bytes:
    """`message` in the format, or (now and then) a body that is not one: garbage, truncated, not a map."""
    kind = ch.integer(0, 49)
    if kind == 0:
        message = ch.choice(([], "text", 1, None, nested(30), [message]))
    body = to_cbor(message) if fmt == "cbor" else to_json(message, ascii_only=ch.chance(70))
    if kind == 1:
        return body[: ch.integer(0, max(0, len(body) - 1))]
    if kind == 2:
        return body + ch.choice((b"\x00", b" {}", b"\xff", b"garbage"))
    if kind == 3:
        return ch.choice((b"", b"\xef\xbb\xbf{}", b"\xff" * 20, b"{" * 5000, b"[" * 5000, b"\x9f" * 5000,
                          b"\xbf" * 100, bytes(range(256)), b"{}" * 5000, b"x" * 9000))
    if kind == 4 and fmt == "cbor":
        return b"\xd9\xd9\xf7" + body                       # the self-described CBOR tag around it
    if kind == 5 and fmt == "json":
        return b"  \n" + body + b"\n\t "
    return body


def device_case(ch: Chooser, world: World) -> Case:
    op = ch.choice(DEVICE_OPS) if ch.chance(96) else ch.choice(HOSTILE_OPS)
    fmt = ch.choice(("json", "cbor"))
    body = encode_body(ch, fmt, device_message(ch, world, op))
    content_type = {"json": "application/json", "cbor": "application/cbor"}[fmt]
    if ch.chance(4):
        content_type = ch.choice(DEVICE_CONTENT_TYPES)
    headers: list[tuple[str, str]] = [("Content-Type", content_type)] if content_type else []
    sign = None
    device = world.device_id
    if op != "activate":
        roll = ch.integer(0, 19)
        if roll <= 13:
            sign = "good"
        elif roll == 14:
            sign, device = "identity", world.identity_device_id
        elif roll <= 16:
            sign = ch.choice(("bad_signature", "stale", "future"))
        elif roll == 17:
            headers += _hostile_signing_headers(ch, world)
        # else: unsigned
    return Case("device", "POST", f"/d/v1/{op}", "/d/v1/{op}", tuple(headers), body, sign=sign, device=device)


def _hostile_signing_headers(ch: Chooser, world: World) -> list[tuple[str, str]]:
    good = {"X-Device-Id": world.device_id, "X-Timestamp": str(int(time.time())), "X-Nonce": "n0nce-fuzz-1",
            "X-Signature": "0" * 64}
    name = ch.choice(tuple(good) + ("X-Hardware-Id", "X-Boot-Id"))
    good[name] = ch.choice(("", "9" * 5000, "²", "12345678901234", "-1", "0x10", "A" * 64, "g" * 64, "0" * 63,
                            "NOPE", "D0001 ", "%ED%A0%80", "é", "茶".encode().decode("latin-1"), "\t1"))
    return list(good.items())


# -------------------------------------------------------------------------------------------- URLs

def placeholders(pattern: str) -> list[str]:
    return re.findall(r"\{([^}:]+)(?::[^}]*)?\}", pattern)


def placeholder_pools(world: World) -> dict[str, Sequence[str]]:
    """Every route placeholder -> its well-formed values (a new placeholder needs a pool here)."""
    return {
        "op": DEVICE_OPS, "device_id": world.devices_all, "code_id": world.static_codes, "token": world.qr_tokens, "order_id": world.order_ids,
        "rollout_id": world.rollout_ids, "day": world.report_days, "channel": ("wechat", "alipay", "unionpay"),
        "profile": (world.profile,), "version": (world.version,),
        "path": ("manifest.json", "manifest.sig", "files/core/app.mpy", "files/none.mpy"),
        "action": tuple(DEVICE_ACTIONS), "expires": (world.firmware_parts.get("expires", "1"),),
        "mac": (world.firmware_parts.get("mac", "0" * 32),),
        "merchant_id": world.ops_merchants, "store_id": world.store_ids, "batch_id": world.batch_ids,
        "kind": merchants.EVIDENCE_KINDS, "evidence_id": world.evidence_ids,
    }


def _good_placeholder(ch: Chooser, world: World, name: str) -> str:
    return urllib.parse.quote(ch.choice(placeholder_pools(world)[name]), safe="/")


QUERY_NAMES = ("next", "from", "to", "wait", "page", "status", "channel", "device", "device_id", "order_no",
               "store", "merchant", "q", "lifecycle", "online", "flagged", "synced", "refunded", "done", "code",
               "state", "x")


def _query(ch: Chooser, world: World, names: Sequence[str] = QUERY_NAMES) -> str:
    pairs = []
    for _ in range(ch.integer(1, 3)):
        name = ch.choice(names) if ch.chance(90) else hostile_segment(ch)
        value = _good_param(ch, world, name) if ch.chance(40) else hostile_segment(ch)
        pairs.append(f"{name}={value}")
    return "?" + "&".join(pairs)


# Request headers the server or aiohttp reads, with values a client may send (sendable: no CR, LF or NUL).
_LATIN1_UTF8 = "茶".encode().decode("latin-1")      # UTF-8 bytes sent as they are
HOSTILE_HEADERS = {
    "Host": ("", "a b", "[::1", "x" * 300, "127.0.0.1:99999", "é", _LATIN1_UTF8, "-1", "[", "::::"),
    "Cookie": tuple(f"{auth.SESSION_COOKIE}{value}" for value in ("=" + "x" * 129, "=é", "=" + _LATIN1_UTF8, "",
                                                                 '="a', "=%ED%A0%80")) + ("=;=;", "a=" + "b" * 5000),
    "Range": ("bytes=0-0", "bytes=-0", "bytes=99999999999999999999-", "bytes=" + "9" * 5000 + "-", "bytes=5-1",
              "bytes=²-", "bytes=0-1,2-3", "lines=1-2", "bytes="),
    "If-Modified-Since": ("Mon, 99 Feb 9999 99:99:99 GMT", "0", "9" * 5000, "Sat, 01 Jan 0001 00:00:00 GMT",
                          "Fri, 31 Dec 9999 23:59:59 GMT", "²"),
    "If-Unmodified-Since": ("Sat, 01 Jan 0001 00:00:00 GMT", "junk", "Fri, 31 Dec 9999 23:59:59 GMT"),
    "If-None-Match": ('"x"', "*", 'W/"', '"' + "x" * 5000 + '"', "é"),
    "If-Range": ('"x"', "Sat, 01 Jan 0001 00:00:00 GMT", "junk"),
    "Accept": ("text/html", "*/*;q=²", "text/html;" * 500, "é"),
    "Accept-Encoding": ("gzip;q=2", "br, zstd, *;q=0", "x" * 300),
    "Content-Type": ("application/x-www-form-urlencoded; charset=nonexistent", "multipart/form-data",
                     "multipart/form-data; boundary=", "application/json; charset=utf-32", "text/html; charset=é"),
    "X-CSRF-Token": ("", "é", _LATIN1_UTF8, "x" * 5000),
    "X-Forwarded-For": ("1.2.3.4", "é", "x" * 300, ", , ,", "[::1]:80"),
    "Forwarded": ("for=1.2.3.4;proto=https", 'for="[::1', "=;=,", "é"),
    "Authorization": ("Bearer ", "Bearer " + "x" * 5000, "Basic Zm9v", "Bearer é", "Bearer " + _LATIN1_UTF8),
    "Origin": ("null", "https://evil.example", "é"),
    "Referer": ("https://evil.example/", "%ED%A0%80", "é"),
}


def url_case(ch: Chooser, world: World) -> Case:
    pattern, methods = ch.choice(world.routes)
    method = ch.choice(methods) if ch.chance(90) else ch.choice(("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
    # The firmware URL's parts belong together (its MAC covers them): well-formed means that URL's own.
    coherent = world.firmware_parts if pattern.startswith("/d/v1/firmware/") else {}
    path = pattern
    for name, mode in field_modes(ch, placeholders(pattern), absent_percent=0).items():
        if mode == "good":
            value = urllib.parse.quote(coherent[name], safe="/") if name in coherent \
                else _good_placeholder(ch, world, name)
        else:
            value = hostile_segment(ch)
            if name == "path" and ch.chance(40):
                value = "files/" + value
        path = re.sub(r"\{" + re.escape(name) + r"(?::[^}]*)?\}", lambda _m: value, path, count=1)
    if pattern == "/console/static":
        path += "/" + (ch.choice(("console.css", "cashier.js")) if ch.chance(30) else hostile_segment(ch))
    if ch.chance(25):
        path += _query(ch, world)
    headers: list[tuple[str, str]] = []
    body = b""
    if method in ("POST", "PUT", "PATCH"):
        kind = ch.integer(0, 3)
        if kind == 1:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            body = f"{ch.choice(('amount', 'confirmed', 'x'))}={hostile_segment(ch)}".encode()
        elif kind == 2:
            headers.append(("Content-Type", "application/json"))
            body = to_json(hostile_value(ch))
        elif kind == 3:
            headers.append(("Content-Type", ch.choice(("application/cbor", "application/gzip", "text/xml"))))
            body = ch.choice((b"\xa0", b"<xml></xml>", b"\x1f\x8b\x08\x00", b"\xff" * 64))
    if path.startswith("/ops/") and ch.chance(60):
        headers.append(("Authorization", "Bearer " + world.ops_token))
    if ch.chance(20):
        name = ch.choice(tuple(HOSTILE_HEADERS))
        headers.append((name, ch.choice(HOSTILE_HEADERS[name])))
    session = ch.choice((None, "operator", "merchant")) if path.startswith("/console") else None
    csrf = "header" if session and method not in ("GET", "HEAD", "OPTIONS") and ch.chance(60) else None
    return Case("url", method, path, pattern, tuple(headers), body, session=session, csrf=csrf)


# ---------------------------------------------------------------------------------------- the console

def _good_param(ch: Chooser, world: World, name: str) -> str:
    pools: dict[str, Sequence[str]] = {
        "from": DATES, "to": DATES, "wait": ("0", "1", "30", "²", "٣"), "after": ("0", "1765000000000", "99999999999999999"),
        "format": ("csv", "xlsx", "pdf"), "page": ("1", "2", "100000", "0", "-1"),
        "status": ("PAYING", "SUCCESS", "FAILED", "CLOSED", "REFUNDED", "paid"),
        "channel": ("wechat", "alipay", "unionpay"), "device": world.devices_all, "device_id": world.devices_all,
        "order_no": world.order_nos or ("P1",), "store": world.stores or ("x",), "merchant": world.merchants,
        "q": ("P1", "T", "%"), "lifecycle": ("in_stock", "assigned", "installed", "decommissioned"),
        "online": ("yes", "no"), "flagged": ("yes",), "synced": ("success", "none", "paying"),
        "refunded": ("R1",), "done": ("assign+done",), "date": DATES, "month": ("2026-11", "2026-13", "0000-00", "11"),
        "next": ("/console/orders", "/console/devices?x=1", "//evil.example", "/console/%0D%0ALocation:x",
                 "/console/orders%0A", "/console/../x", "https://evil.example/"),
        "code": (WALLET_CODE_MARK, "bad-code"), "state": ("wechat",),
    }
    return urllib.parse.quote(ch.choice(pools.get(name) or ("1",)), safe="/%:")


# Every GET page under /console -> the query parameters it reads
CONSOLE_PAGES = {
    "/console": (),
    "/console/home": (),
    "/console/home/live": ("after", "hold"),
    "/console/orders": ("q", "from", "to", "device", "store", "channel", "status", "merchant", "page"),
    "/console/orders/summary": ("from", "to", "store", "channel"),
    "/console/orders/export": ("format", "q", "from", "to", "device", "store", "channel", "status", "merchant"),
    "/console/orders/summary/export": ("format", "from", "to", "store", "channel"),
    "/console/orders/refunds/export": ("format", "from", "to", "store", "channel"),
    "/console/orders/{order_id}": ("synced", "refunded"),
    "/console/orders/{order_id}/refund": (),
    "/console/devices": ("lifecycle", "merchant", "store", "online", "flagged"),
    "/console/devices/{device_id}": ("done",),
    "/console/monitoring": (),
    "/console/rollouts": (),
    "/console/rollouts/{rollout_id}": (),
    "/console/rollouts/{rollout_id}/stop": (),
    "/console/reports": ("month",),
    "/console/reports/{day}/{channel}": (),
    "/console/statements": ("merchant", "date", "month"),
    "/console/statements/export": ("format", "merchant", "date", "month"),
    "/console/cashier": ("device",),
    "/console/cashier/order": ("device_id", "order_no", "wait"),
    "/console/merchants": ("q",),
    "/console/merchants/new": (),
    "/console/merchants/{merchant_id}": ("done",),
    "/console/merchants/{merchant_id}/evidence/{evidence_id}": (),
    "/console/stores/{store_id}": ("done",),
    "/console/stock": ("done",),
    "/console/codes": ("code",),
    "/console/codes/batches/{batch_id}": (),
    "/console/codes/batches/{batch_id}/sheet.pdf": (),
    "/console/codes/{code_id}": ("done",),
    "/console/login": ("next",),
    "/console/": (),
    "/console/users": ("done",),
    "/console/refund-password": ("done",),
    "/console/audit": (),
}


def _fill(ch: Chooser, world: World, pattern: str, hostile_percent: int = 0,
          pools: dict[str, Sequence[str]] | None = None) -> str:
    """`pattern` with each placeholder well-formed (from `pools` first, then `placeholder_pools`) or hostile."""
    path = pattern
    for name in placeholders(pattern):
        if ch.chance(hostile_percent):
            value = hostile_segment(ch)
        elif pools and name in pools:
            value = urllib.parse.quote(ch.choice(pools[name]), safe="")
        else:
            value = _good_placeholder(ch, world, name)
        path = path.replace("{" + name + "}", value, 1)
    return path


def console_query_case(ch: Chooser, world: World) -> Case:
    pattern = ch.choice(tuple(CONSOLE_PAGES))
    names = CONSOLE_PAGES[pattern]
    pairs = []
    for name, mode in field_modes(ch, names, absent_percent=30).items():
        if mode == "good":
            pairs.append(f"{name}={_good_param(ch, world, name)}")
        elif mode == "hostile":
            pairs.append(f"{name}={hostile_segment(ch)}")
    if ch.chance(15):
        pairs.append(f"{ch.choice(QUERY_NAMES)}={hostile_segment(ch)}")
    if ch.chance(5) and pairs:
        pairs.append(pairs[0])                      # a parameter twice
    target = _fill(ch, world, pattern, hostile_percent=10) + ("?" + "&".join(pairs) if pairs else "")
    session = None if pattern == "/console/login" and ch.chance(50) else ch.choice(("operator", "merchant"))
    headers = (("Accept", "text/html"),) if ch.chance(50) else ()
    return Case("console_query", "GET", target, pattern, headers, session=session)


def console_forms(world: World) -> dict[str, dict[str, Sequence[str]]]:
    """Every POST route under /console -> its form fields -> their well-formed values."""
    victims = world.victims or ("FZ-V1",)
    return {
        "/console/login": {"username": (OPERATOR, MERCHANT, "nobody"),
                           "password": tuple(world.passwords.values()) + ("wrong-password",),
                           "next": ("/console/orders", "/console/orders\r\nX-Injected: 1", "/console/x\ny",
                                    "//evil.example", "/console/devices?x=%0A", "")},
        "/console/logout": {},
        "/console/orders/{order_id}/sync": {},
        "/console/orders/{order_id}/refund/confirm": {"amount": ("0.01", "12.50", "１２．５", "100000000", "0"),
                                                      "reason": ("broken", "退款")},
        "/console/orders/{order_id}/refund": {"refund_no": ("CR" + "0" * 20, "CR" + "a" * 20),
                                              "amount_fen": ("1", "10", "٣", "0"), "reason": ("broken",)},
        "/console/devices/{device_id}/inspections": {"inspected_on": DATES, "inspector": ("Wang", "x" * 64),
                                                     "result": ("pass", "fail", "repair"), "notes": ("ok",)},
        "/console/devices/{device_id}/activation-code": {},
        "/console/devices/{device_id}/{action}": {"confirmed": ("yes", "no"), "merchant_id": world.merchants,
                                                  "store_name": ("Tea House", "茶馆"), "replacement": victims,
                                                  "old_to": ("in_stock", "decommissioned"), "note": ("n",),
                                                  "rekey": ("1", "")},
        "/console/rollouts/confirm": {"release": (f"{world.profile} {world.version}", "x y"),
                                      "failure_threshold": ("10", "2.5%", "0", "100", "nan"),
                                      "min_settled": ("1", "5", "0", "²"), "target": ("share", "groups"),
                                      "share": ("10", "100", "0.5"), "groups": ("pilot", "a,b"), "last": ("1", "")},
        "/console/rollouts": {"release": (f"{world.profile} {world.version}",), "failure_threshold": ("10",),
                              "min_settled": ("1", "²", "٣"), "target": ("share", "groups"), "share": ("10", "100"),
                              "groups": ("pilot",), "last": ("1", "")},
        "/console/rollouts/{rollout_id}/stages": {"target": ("share", "groups"), "share": ("10", "100", "1e-300"),
                                                  "groups": ("pilot", "a b"), "last": ("1", "")},
        "/console/rollouts/{rollout_id}/stop": {"reason": ("enough", "")},
        "/console/reports/run": {"date": DATES, "channel": ("wechat", "alipay", "")},
        "/console/cashier/amount": {"amount": ("12.50", "0.01", "5000", "１２．５")},
        "/console/cashier/pay": {"device_id": (world.device_id,) + victims, "amount": ("12.50", "0.01"),
                                 "auth_code": ("134567890123456789",), "order_no": ("C1", "x" * 33)},
        "/console/lang": {"lang": ("zh_CN", "en", "fr"), "next": ("/console/orders", "//evil.example", "")},
        # People and roles: new users with names of their own; ids no user has (the fuzz's own users stay).
        "/console/users": {"username": ("fz-staff1", "fz-staff2", "x" * 65, "茶 馆"),
                           "password": ("fuzz-password-1", "short"),
                           "kind": ("operator", "owner", "manager", "cashier", "boss"), "merchant_id": world.merchants},
        "/console/users/status": {"user_id": ("FZ-NO-USER", "x" * 65), "disabled": ("1", "0", "x")},
        "/console/users/password": {"user_id": ("FZ-NO-USER",)},
        "/console/refund-password": {"password": ("fuzz-refund-1", "x"), "password2": ("fuzz-refund-1", "y")},
        **_onboarding_forms(world),
    }


def _onboarding_forms(world: World) -> dict[str, dict[str, Sequence[str]]]:
    """The console's onboarding forms (merchants, stores, stock, codes): they change only the ops area's
    merchants, stores, stock and codes (_placeholder_for_form), never what the other areas pay by."""
    store_ids, codes = world.store_ids or ("ST1",), world.ops_codes or ("x",)
    confirmed = ("yes", "no")
    reasons = static_codes.END_REASONS + ("x",)
    return {
        "/console/merchants/new": {"phone": ("13900000000", "+86 139 0000 0001", "12345"),
                                   "short_name": ("老王茶馆", "x" * 65), "legal_name": ("上海老王餐饮有限公司", "")},
        "/console/merchants/{merchant_id}/status": {"status": ("active", "suspended", "closed", "x"),
                                                    "confirmed": confirmed},
        "/console/merchants/{merchant_id}/tier": {"tier": ("1", "2", "3", "4", "²")},
        "/console/merchants/{merchant_id}/evidence": {"kind": merchants.EVIDENCE_KINDS + ("selfie",),
                                                      "file": ("not a photo",)},
        "/console/merchants/{merchant_id}/channels/{channel}/open": {
            "account_id": ("1900000109", "2088000000000001", "898310048990001", ""),
            "sub_appid": ("wx0123456789abcdef", ""), "fee_rate": ("0.38%", "38", "38‱", "1e999999999", "sNaN", "")},
        "/console/merchants/{merchant_id}/channels/{channel}/close": {"confirmed": confirmed},
        "/console/merchants/{merchant_id}/stores": {"name": ("南京路店", "x" * 65), "address": ("上海市黄浦区", "x" * 201)},
        "/console/stores/{store_id}/edit": {"name": ("南京路店", "x" * 65), "address": ("上海市黄浦区", "")},
        "/console/stores/{store_id}/close": {"confirmed": confirmed},
        "/console/stock/receive": {"serial": ("FZ-CR1", "FZ-CR2", "x" * 33, "SP 1"), "model": ("box-e2", "x" * 33),
                                   "batch": ("d-1", "x" * 65)},
        "/console/stock/upload": {"file": ("serial,model\nFZ-CU1,box\n", "serial\nA,B,C\n"), "batch": ("d-1",)},
        "/console/stock/assign": {"device_id": world.stock_serials or ("x",), "store_id": store_ids},
        "/console/codes/batches": {"size": ("1", "3", "0", "1001", "²"), "note": ("地推一组", "x" * 201)},
        "/console/codes/bind": {"code_id": codes, "store_id": store_ids, "device_id": world.stock_serials or ("x",),
                                "confirmed": confirmed},
        "/console/codes/{code_id}/unbind": {"confirmed": confirmed},
        "/console/codes/{code_id}/replace": {"new_code_id": codes, "reason": reasons, "confirmed": confirmed},
        "/console/codes/{code_id}/deregister": {"reason": reasons, "confirmed": confirmed},
    }


def _placeholder_for_form(ch: Chooser, world: World, name: str) -> str:
    # Lifecycle forms only ever touch the victims: the device-API fuzz device must keep working.
    if name == "device_id":
        return urllib.parse.quote(ch.choice(world.victims or ("FZ-V1",)), safe="")
    if name == "code_id":       # the ops area's codes: the C2B area's bound code must keep taking money
        return urllib.parse.quote(ch.choice(world.ops_codes or ("x",)), safe="")
    return _good_placeholder(ch, world, name)


def console_form_case(ch: Chooser, world: World) -> Case:
    forms = console_forms(world)
    pattern = ch.choice(tuple(forms))
    path = pattern
    for name in placeholders(pattern):
        value = hostile_segment(ch) if ch.chance(10) else _placeholder_for_form(ch, world, name)
        path = path.replace("{" + name + "}", value, 1)
    spec = forms[pattern]
    fields = [(name, ch.choice(spec[name]) if mode == "good" else hostile_text(ch))
              for name, mode in field_modes(ch, tuple(spec)).items() if mode != "absent"]
    if ch.chance(10):
        fields.append((ch.choice(("x", "csrf_token", "\ud800", "")), ch.choice(HOSTILE_TEXTS)))
    headers: list[tuple[str, str]] = []
    csrf = None
    session: str | None = ch.choice(("operator", "operator", "merchant"))
    if pattern == "/console/login":
        session = None
        headers.append(("Cookie", f"{auth.LOGIN_CSRF_COOKIE}={LOGIN_CSRF}"))
        fields.append((auth.CSRF_FIELD, LOGIN_CSRF if ch.chance(90) else "wrong"))
    elif ch.chance(50):
        csrf = "header"
    elif ch.chance(90):
        fields.append((auth.CSRF_FIELD, CSRF_MARK))
    if pattern.startswith("/console/cashier/") and ch.chance(80):
        payload = {name: value for name, value in fields if name != auth.CSRF_FIELD}
        if ch.chance(20):
            payload = {name: hostile_value(ch) for name in payload} or {"amount": hostile_value(ch)}
        body = to_json(payload, ascii_only=ch.chance(70))
        headers.append(("Content-Type", "application/json"))
        csrf = "header"
    else:
        body, content_type = _form_body(ch, fields)
        headers.append(("Content-Type", content_type))
    return Case("console_form", "POST", path, pattern, tuple(headers), body, session=session, csrf=csrf)


def _form_body(ch: Chooser, fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    """A browser's urlencoded form, or multipart (text or file parts), or one with a charset we do not speak."""
    roll = ch.integer(0, 19)
    if roll <= 14:
        parts = []
        for name, value in fields:
            raw = quote_text(value) if ch.chance(85) else hostile_segment(ch)
            parts.append(f"{quote_text(name)}={raw}")
        body = "&".join(parts).encode()
        content_type = "application/x-www-form-urlencoded"
        if roll == 14:
            content_type += ch.choice(("; charset=latin-1", "; charset=utf-16", "; charset=nonexistent",
                                       "; charset=utf-8", "; charset="))
        return body, content_type
    boundary = "fuzzBoundary7MA4YWxkTrZu0gW"
    out = io.BytesIO()
    for name, value in fields:
        out.write(f"--{boundary}\r\n".encode())
        if roll >= 18:
            out.write(f'Content-Disposition: form-data; name="{name}"; filename="a.txt"\r\n'
                      "Content-Type: text/plain\r\n\r\n".encode("utf-8", "surrogatepass"))
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n'.encode("utf-8", "surrogatepass"))
            if roll == 17:
                out.write(b"Content-Type: text/plain; charset=nonexistent\r\n")
            out.write(b"\r\n")
        out.write(value.encode("utf-8", "surrogatepass") + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


# ------------------------------------------------------------------------------- the operations API

def _ops_bodies(world: World) -> dict[tuple[str, str], dict[str, Good]]:
    """(method, route) -> JSON field -> its well-formed values (docs/operations.md)."""
    names = (world.profile, "qr_stand", "pilot", "a.b-c_d", "x" * 32)
    return {
        ("POST", "/ops/v1/devices"): {
            "device_id": lambda ch: world.fresh("OPS-") if ch.chance(70) else world.device_id, "profile": names,
            "group": names, "merchant_id": ("M1", "M9", "M-new"), "store": ("Tea House", "x" * 64),
            "issue": ("activation_code", "key")},
        ("PUT", "/ops/v1/devices/{device_id}/group"): {"group": names},
        ("POST", "/ops/v1/rollouts"): {"profile": names, "version": (world.version, "9.9.9"),
                                       "failure_threshold": (0, 0.5, 1, 1.5), "min_settled": (1, 5, 2 ** 62)},
        ("POST", "/ops/v1/rollouts/{rollout_id}/stages"): {"share": (0.1, 1, 0), "groups": (["pilot"], ["a", "b"]),
                                                          "last": (True, False)},
        ("POST", "/ops/v1/rollouts/{rollout_id}/stop"): {"reason": ("enough", "x" * 500)},
        ("PUT", "/ops/v1/firmware/{profile}/{version}"): {},
        ("GET", "/ops/v1/rollouts/{rollout_id}"): {},
        ("GET", "/ops/v1/firmware/{profile}/{version}/{path}"): {},
        **_onboarding_bodies(world),
    }


def _onboarding_bodies(world: World) -> dict[tuple[str, str], dict[str, Good]]:
    merchant_ids = world.ops_merchants or ("FZ-OPS1",)
    store_names = ("南京路店", "x" * 64, "x" * 65)
    reasons = static_codes.END_REASONS
    return {
        ("POST", "/ops/v1/merchants"): {
            "phone": lambda ch: "139" + world.fresh("").zfill(8) if ch.chance(70) else ch.choice(
                ("13900000000", "+86 139 0000 0001", "12345")),
            "short_name": ("老王茶馆", "x" * 64, "x" * 65), "legal_name": ("上海老王餐饮有限公司",),
            "merchant_id": lambda ch: world.fresh("FZ-OM") if ch.chance(70) else ch.choice(merchant_ids)},
        ("GET", "/ops/v1/merchants/{merchant_id}"): {},
        ("PUT", "/ops/v1/merchants/{merchant_id}/status"): {"status": ("active", "suspended", "active", "closed")},
        ("PUT", "/ops/v1/merchants/{merchant_id}/tier"): {"tier": (1, 2, 3)},
        ("POST", "/ops/v1/merchants/{merchant_id}/evidence/{kind}"): {},
        ("PUT", "/ops/v1/merchants/{merchant_id}/channels/{channel}"): {
            "account_id": ("1900000109", "2088000000000001", "898310048990001", ""),
            "app_id": ("wx0123456789abcdef",), "fee_rate_ppm": (0, 3800, 100_000, 100_001)},
        ("DELETE", "/ops/v1/merchants/{merchant_id}/channels/{channel}"): {},
        ("POST", "/ops/v1/merchants/{merchant_id}/stores"): {
            "name": lambda ch: world.fresh("分店") if ch.chance(70) else ch.choice(store_names),
            "address": ("上海市黄浦区", "x" * 200, "x" * 201)},
        ("GET", "/ops/v1/merchants/{merchant_id}/stores"): {},
        ("PUT", "/ops/v1/stores/{store_id}"): {"name": store_names, "address": ("上海市黄浦区", "")},
        ("POST", "/ops/v1/stores/{store_id}/close"): {},
        ("POST", "/ops/v1/stock"): {
            "batch": ("d-1", "x" * 64, "x" * 65),
            "devices": lambda ch: [{"serial": world.fresh("FZ-IN")} if ch.chance(80)
                                   else {"serial": ch.choice(world.stock_serials or ("x",)), "model": "box"}
                                   for _ in range(ch.integer(1, 3))]},
        ("PUT", "/ops/v1/devices/{device_id}/assignment"): {"merchant_id": merchant_ids,
                                                            "store_id": world.store_ids or ("ST1",)},
        ("POST", "/ops/v1/code-batches"): {"size": (1, 2, 0, 1001), "note": ("地推一组", "x" * 201)},
        ("GET", "/ops/v1/code-batches/{batch_id}"): {},
        ("GET", "/ops/v1/code-batches/{batch_id}/sheet.pdf"): {},
        ("GET", "/ops/v1/codes/{code_id}"): {},
        ("POST", "/ops/v1/codes/{code_id}/bind"): {"store_id": world.store_ids or ("ST1",),
                                                   "device_id": world.stock_serials or ("x",)},
        ("POST", "/ops/v1/codes/{code_id}/unbind"): {},
        ("POST", "/ops/v1/codes/{code_id}/replace"): {"new_code_id": world.ops_codes or ("x",), "reason": reasons},
        ("POST", "/ops/v1/codes/{code_id}/deregister"): {"reason": reasons},
    }


def _stock_csv(ch: Chooser, world: World) -> bytes:
    """A stock-in file: fresh serials, one known already, bad lines, or no file at all."""
    kind = ch.integer(0, 5)
    if kind <= 1:
        lines = "".join(f"{world.fresh('FZ-CSV')},box-e2\n" for _ in range(ch.integer(1, 3)))
        return (("\ufeff" if kind else "") + "serial,model\n" + lines).encode()
    if kind == 2:
        return f"serial\n{ch.choice(world.stock_serials or ('x',))}\n".encode()
    if kind == 3:
        return f"serial,model\n{hostile_text(ch)},box\nA,B,C\n".encode("utf-8", "surrogatepass")
    return ch.choice((b"", b"serial,model\n", b"\xff\xfe", b"id,x\nA,B\n", b"serial\n" + b"\n" * 100))


def ops_case(ch: Chooser, world: World) -> Case:
    bodies = _ops_bodies(world)
    method, pattern = ch.choice(tuple(bodies))
    # Codes and devices of its own: the ops area must not deregister the code the C2B area pays through.
    path = _fill(ch, world, pattern, hostile_percent=15,
                 pools={"code_id": world.ops_codes, "device_id": world.devices_all + world.stock_serials})
    headers: list[tuple[str, str]] = []
    if ch.chance(92):
        headers.append(("Authorization", "Bearer " + world.ops_token))
    elif ch.chance(50):
        headers.append(("Authorization", ch.choice(("Bearer ", "Bearer " + "x" * 5000, "Basic Zm9v",
                                                    "Bearer " + world.ops_token + "x", "Bearer é"))))
    body = b""
    if pattern.startswith("/ops/v1/firmware/") and method == "PUT":
        headers.append(("Content-Type", "application/gzip"))
        if world.bundles and ch.chance(80):
            profile, version, body = ch.choice(world.bundles)
            if ch.chance(70):
                path = f"/ops/v1/firmware/{profile}/{version}"
        else:
            body = ch.choice((b"", b"\x1f\x8b", b"not a tarball",
                              b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\x00" * 20))
    elif pattern.endswith("/evidence/{kind}"):
        content_type, body = ch.choice(world.evidence_files)
        headers.append(("Content-Type", content_type if ch.chance(90) else ch.choice(("text/plain", "image/gif"))))
    elif pattern == "/ops/v1/stock" and ch.chance(50):
        body = _stock_csv(ch, world)
        headers.append(("Content-Type", "text/csv"))
        if ch.chance(50):
            path += "?batch=" + (ch.choice(("d-2", "x" * 65)) if ch.chance(50) else hostile_segment(ch))
    elif method != "GET":
        spec = bodies[(method, pattern)]
        message: Any = {}
        for field_name, mode in field_modes(ch, tuple(spec)).items():
            if mode == "good":
                message[field_name] = good_value(ch, spec[field_name])
            elif mode == "hostile":
                message[field_name] = hostile_value(ch)
        if ch.chance(5):
            message = hostile_value(ch)
        body = to_json(message, ascii_only=ch.chance(70))
        headers.append(("Content-Type", "application/json" if ch.chance(95) else "text/plain"))
    return Case("ops", method, path, pattern, tuple(headers), body)


# --------------------------------------------------------------------------------- WeChat notifications

def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notify_case(ch: Chooser, world: World) -> Case:
    params: dict[str, str] = {
        "return_code": "SUCCESS", "appid": SANDBOX_APPID, "mch_id": SANDBOX_MCH_ID,
        "nonce_str": "fuzz" + str(ch.integer(0, 10 ** 6)), "result_code": "SUCCESS",
        "out_trade_no": ch.choice(world.trade_nos) if world.trade_nos and ch.chance(70) else "T" + "0" * 20,
        "total_fee": "1250", "transaction_id": "4200000000000000", "openid": "oSbxpayer",
    }
    for name, mode in field_modes(ch, tuple(params), absent_percent=3).items():
        if mode == "hostile":
            params[name] = hostile_text(ch)
        elif mode == "absent":
            del params[name]
    if ch.chance(10):
        params["sign_type"] = ch.choice((wechat_signing.HMAC_SHA256, wechat_signing.MD5, "SHA1", ""))
    if ch.chance(85):
        try:
            params["sign"] = wechat_signing.sign(params, SANDBOX_API_KEY, params.get("sign_type") or wechat_signing.MD5)
        except (ValueError, UnicodeEncodeError):
            pass
    else:
        params["sign"] = ch.choice(("", "0" * 32, "x"))
    inner = "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in params.items())
    body = f"<xml>{inner}</xml>".encode("utf-8", "surrogatepass")
    roll = ch.integer(0, 19)
    if roll == 0:
        body = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><a>&a;</a></xml>'
    elif roll == 1:
        body = b"<xml>" + b"<a>1</a>" * 3000 + b"</xml>"
    elif roll == 2:
        body = ch.choice((b"", b"<xml>", b"<notxml/>", b"<xml><a><b>1</b></a></xml>", b"<xml><a>1</a><a>2</a></xml>",
                          b"\xff\xfe<\x00x\x00", b"<xml><![CDATA[x]]></xml>",
                          b"<?xml version='1.0' encoding='utf-16'?><xml/>",
                          b"<xml>" + b"<a>" * 5000, b"<xml><a>\x00</a></xml>", b"<xml><a>&#xD800;</a></xml>",
                          b"<xml><a>&#0;</a></xml>", b"x" * 20000))
    elif roll == 3:
        body = body[: ch.integer(0, len(body))]
    headers = (("Content-Type", ch.choice(("text/xml", "application/xml", "text/plain"))),)
    return Case("notify", "POST", "/n/wechat", "/n/wechat", headers, body)


# ---------------------------------------------------------------------------------------- C2B landing

USER_AGENTS = ("Mozilla/5.0 MicroMessenger/8.0", "Mozilla/5.0 AlipayClient/10.5", "UnionPay/1.0 CloudPay",
               "Mozilla/5.0 (iPhone)", "", "MicroMessenger" * 500, "MicroMessenger AlipayClient")


def c2b_case(ch: Chooser, world: World) -> Case:
    kind = ch.integer(0, 3)
    tokens = world.qr_tokens or ("x",)
    if kind <= 1:
        token = urllib.parse.quote(ch.choice(tokens), safe="") if ch.chance(70) else hostile_segment(ch)
        pattern = "/c/{token}" if kind == 0 else "/c/{token}/done"
        target = pattern.replace("{token}", token)
        if kind == 0 and ch.chance(70):
            target += "?code=" + (WALLET_CODE_MARK if ch.chance(50) else hostile_segment(ch))
            if ch.chance(30):
                target += "&state=" + hostile_segment(ch)
        method, body, headers = "GET", b"", []
    else:
        pattern = "/c/s/{code_id}"
        code = urllib.parse.quote(ch.choice(world.static_codes + world.devices_all or ("x",)), safe="") \
            if ch.chance(70) else hostile_segment(ch)
        target = pattern.replace("{code_id}", code)
        method = ch.choice(("GET", "POST", "POST"))
        body, headers = b"", []
        if method == "POST":
            amount = ch.choice(("12.50", "0.01", "500", "500.01", "9999999", "1")) if ch.chance(50) \
                else hostile_segment(ch)
            body = f"amount={amount}".encode()
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    user_agent = ch.choice(USER_AGENTS)
    if user_agent:
        headers.append(("User-Agent", user_agent))
    return Case("c2b", method, target, pattern, tuple(headers), body)


# ------------------------------------------------------------------------------------------ all areas

AREAS: dict[str, Callable[[Chooser, World], Case]] = {
    "device": device_case, "url": url_case, "console_query": console_query_case,
    "console_form": console_form_case, "ops": ops_case, "notify": notify_case, "c2b": c2b_case,
}


def make_case(ch: Chooser, world: World, area: str) -> Case:
    return AREAS[area](ch, world)


def cases(world: World, area: str) -> st.SearchStrategy[Case]:
    """A hypothesis strategy of one area's cases."""
    @st.composite
    def build(draw):
        return make_case(DrawChooser(draw), world, area)
    return build()


# ------------------------------------------------------------------------------------------ outcomes

@dataclass
class Outcome:
    case: Case
    status: int | None                 # None: no answer
    error_code: str | None = None      # the JSON error code, when the answer has one
    problem: str | None = None         # "5xx", "no answer", "4xx wrote"; None when all is well
    detail: str = ""                   # the exception, the tables written
    traceback: str = ""                # the server's logged traceback, if any
    cause: str = ""                    # what groups it with the same problem elsewhere

    def describe(self) -> str:
        lines = [f"{self.problem}: {self.status} {self.error_code or ''} {self.detail}".rstrip(),
                 self.case.describe()]
        if self.traceback:
            lines.append("traceback (last lines):\n" + "\n".join(self.last_lines()))
        return "\n".join(lines)

    def last_lines(self, count: int = 8) -> list[str]:
        return [line if len(line) <= 300 else line[:300] + "…" for line in self.traceback.strip().splitlines()[-count:]]


def cause_of(traceback_text: str, outcome_status: int | None, case: Case) -> str:
    """The exception and the deepest frame in the server's own code (and where it was raised, when that is
    in a library): the same bug reached by different requests groups together."""
    if not traceback_text:
        return f"{outcome_status} without a traceback at {case.method} {case.route}"
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', traceback_text)
    if not frames:
        return f"{outcome_status} at {case.method} {case.route}: " + traceback_text.strip().splitlines()[-1][:120]
    ours = [f for f in frames if f[0].startswith(str(REPO / "server"))]
    where = ours[-1] if ours else frames[-1]
    exception = traceback_text.strip().splitlines()[-1].split(":")[0]
    text = f"{exception} in {_short(where[0])} {where[2]}()"
    if frames[-1] is not where and frames[-1] not in ours:
        text += f", raised in {_short(frames[-1][0])} {frames[-1][2]}()"
    return text


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", str(REPO) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


@dataclass
class Findings:
    """Distinct problems, each with how often it came up and its shortest reproducer."""
    by_cause: dict[str, list[Any]] = field(default_factory=dict)     # cause -> [count, outcome]

    def add(self, outcome: Outcome) -> None:
        key = f"{outcome.problem}: {outcome.cause}"
        entry = self.by_cause.get(key)
        if entry is None:
            self.by_cause[key] = [1, outcome]
        else:
            entry[0] += 1
            if len(outcome.case.describe()) < len(entry[1].case.describe()):
                entry[1] = outcome

    def __len__(self) -> int:
        return len(self.by_cause)

    def report(self) -> str:
        parts = []
        for key, (count, outcome) in sorted(self.by_cause.items()):
            parts.append(f"### {key} ({count}x)\n{outcome.describe()}")
        return "\n\n".join(parts)

    def as_json(self) -> list[dict[str, Any]]:
        return [{"cause": key, "count": count, "area": outcome.case.area, "status": outcome.status,
                 "reproducer": outcome.case.describe(), "traceback": outcome.last_lines()}
                for key, (count, outcome) in sorted(self.by_cause.items())]


# ---------------------------------------------------------------------------------------------- target

# Documented refusals that write (docs/device-api.md, "Identity and place"; a console login counts its
# failures before checking the password: console/auth.py log_in).
_WRITING_REFUSALS = {("device", "device_moved"), ("device", "device_cloned"), ("login", "401")}


class _ErrorRecords(logging.Handler):
    """The server's ERROR records (with their tracebacks) since the last `take`."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> str:
        texts = []
        for record in self.records:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            texts.append(text)
        self.records.clear()
        return "\n".join(texts)


@contextlib.contextmanager
def _server_logs() -> Any:
    """Only ERROR records, kept by us: 100,000 refusals would otherwise fill pytest's log capture."""
    handler = _ErrorRecords()
    saved = []
    for name in ("server", "aiohttp", "hw_sim"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


def fuzz_settings(tmp: Path, wechat_url: str, alipay_url: str, release_public_hex: str, token: str) -> Settings:
    """The test server's settings: SQLite, no background tasks (nothing writes but the request), short
    long polls, no throttling, no login lock-out or delay (the fuzzer logs in thousands of times)."""
    short = {"timeout_s": 2.0, "query_interval_s": 0.3, "deadline_s": 3.0, "cancel_retry_s": 0.1}
    overrides: dict[str, Any] = dict(
        database={"path": str(tmp / "fuzz.db")},
        resolver={"enabled": False}, alerts={"enabled": False},
        reconcile={"enabled": False, "out_dir": str(tmp / "reconcile")},
        device_api={"max_wait_s": 1, "poll_recheck_s": 0.5},
        limits={"tier1_daily_cap_fen": 10 ** 15, "tier2_daily_cap_fen": 10 ** 15, "tier3_daily_cap_fen": 10 ** 15},
        console={"failed_login_delay_s": 0.0, "secure_cookies": False, "max_failed_logins": 10 ** 9},
        ops={"tokens": [token], "release_public_key": release_public_hex, "firmware_dir": str(tmp / "firmware"),
             "min_settled": 2},
        merchants={"evidence_dir": str(tmp / "evidence")},
        channels={"wechat": {"base_url": wechat_url, **short},
                  "alipay": {"enabled": True, "base_url": alipay_url, "app_id": SANDBOX_APP_ID,
                             "app_private_key": sandbox_keys.ALIPAY_APP_PRIVATE_KEY,
                             "alipay_public_key": sandbox_keys.ALIPAY_PLATFORM_PUBLIC_KEY, **short}})
    if "throttle" in Settings.__dataclass_fields__:
        overrides["throttle"] = {"enabled": False}
    return load_settings(**overrides)


def make_bundle(key: Any, profile: str, version: str, files: dict[str, bytes] | None = None,
                names: dict[str, str] | None = None) -> bytes:
    """A release bundle as `tools release` makes it, signed with `key`; `names` renames members in the tar."""
    files = files or {"core/app.mpy": b"app-fuzz", "boards/enhanced_box.mpy": b"board"}
    manifest = {"profile": profile, "version": version, "mpy_arch": "xtensawin",
                "files": {rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                          for rel, data in files.items()}}
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    signature = eddsa.new(key, "rfc8032").sign(body).hex()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in [("manifest.json", body), ("manifest.sig", signature.encode())] + [
                ("files/" + rel, data) for rel, data in files.items()]:
            info = tarfile.TarInfo((names or {}).get(name, f"{profile}-{version}/{name}"))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Target:
    """The real app on an in-process test server, seeded; `send` a case and get its judged outcome."""

    def __init__(self, app: web.Application, server: TestServer, http: aiohttp.ClientSession, world: World,
                 db_path: Path, wechat: Any, logs: _ErrorRecords):
        self.app = app
        self.server = server
        self.http = http
        self.world = world
        self.base = str(server.make_url("")).rstrip("/")
        self.wechat = wechat
        self.logs = logs
        self.observer = sqlite3.connect(str(db_path), isolation_level=None)
        self.tables = [row[0] for row in self.observer.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
            " AND name <> 'schema_migrations'")]
        self.sessions: dict[str, tuple[str, str]] = {}      # role -> (cookie token, CSRF token)
        self.nonce = 0
        self._version = -1
        self._counts: dict[str, int] = {}

    @property
    def storage(self) -> Any:
        return self.app[STORAGE]

    # what the database holds

    def _data_version(self) -> int:
        return self.observer.execute("PRAGMA data_version").fetchone()[0]

    def _row_counts(self) -> dict[str, int]:
        return {t: self.observer.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in self.tables}

    def settle(self) -> None:
        """Take the database as it is now as the state the next case starts from."""
        self._version = self._data_version()
        self._counts = self._row_counts()

    # the console

    async def log_in(self, role: str) -> None:
        username = OPERATOR if role == "operator" else MERCHANT
        form = urllib.parse.urlencode({"username": username, "password": self.world.passwords[username],
                                       auth.CSRF_FIELD: LOGIN_CSRF}).encode()
        async with self.http.post(self.base + "/console/login", data=form, allow_redirects=False, headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"{auth.LOGIN_CSRF_COOKIE}={LOGIN_CSRF}"}) as resp:
            assert resp.status == 303, f"logging in as {username}: {resp.status}"
            token = resp.cookies[auth.SESSION_COOKIE].value
        row = await self.storage.console_session(hashlib.sha256(token.encode()).hexdigest(), now_ms())
        self.sessions[role] = (token, row["csrf_token"])

    async def _session_alive(self, role: str) -> bool:
        token = self.sessions[role][0]
        return await self.storage.console_session(hashlib.sha256(token.encode()).hexdigest(), now_ms()) is not None

    async def _wallet_code(self) -> str:
        """A one-time code from the WeChat sandbox's web authorisation, as a payer's app would get it."""
        async with self.http.get(self.wechat.base_url + "/connect/oauth2/authorize", allow_redirects=False, params={
                "appid": self.wechat.appid, "redirect_uri": "http://x/", "response_type": "code",
                "scope": "snsapi_base", "state": "wechat"}) as resp:
            location = resp.headers["Location"]
        return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]

    # sending

    def _signed(self, case: Case) -> list[tuple[str, str]]:
        self.nonce += 1
        world = self.world
        key = world.identity_key if case.device == world.identity_device_id else world.device_key
        path = case.target.split("?", 1)[0]
        skew = {"stale": -3600, "future": 3600}.get(case.sign or "", 0)
        identity = {"hardware_id": world.hardware_id, "boot_id": world.boot_id} if case.sign == "identity" else {}
        headers = sign_request(case.device, key, path, case.body, timestamp=int(time.time()) + skew,
                               nonce=f"fz{self.nonce:010d}", **identity)
        if case.sign == "bad_signature":
            headers["X-Signature"] = ("0" if headers["X-Signature"][0] != "0" else "1") + headers["X-Signature"][1:]
        return list(headers.items())

    async def send(self, case: Case) -> Outcome:
        headers = list(case.headers)
        target, body = case.target, case.body
        if case.sign:
            headers += self._signed(case)
        if case.session:
            cookie, csrf = self.sessions[case.session]
            headers.append(("Cookie", f"{auth.SESSION_COOKIE}={cookie}"))
            if case.csrf == "header":
                headers.append((auth.CSRF_HEADER, csrf))
            body = body.replace(CSRF_MARK.encode(), csrf.encode())
        if WALLET_CODE_MARK in target:
            target = target.replace(WALLET_CODE_MARK, await self._wallet_code())
        if self._version != self._data_version():
            self.settle()
        self.logs.take()
        outcome = await self._exchange(case, target, headers, body)
        outcome.traceback = self.logs.take()
        await self._judge(outcome)
        await self._repair(outcome)
        return outcome

    async def _exchange(self, case: Case, target: str, headers: list[tuple[str, str]], body: bytes) -> Outcome:
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                async with self.http.request(case.method, URL(self.base + target, encoded=True), data=body or None,
                                             headers=headers, allow_redirects=False,
                                             skip_auto_headers=("Content-Type",)) as resp:
                    raw = await resp.read()
                    outcome = Outcome(case, resp.status)
                    if resp.content_type in ("application/json", "application/cbor") and resp.status >= 400:
                        outcome.error_code = _error_code(resp.content_type, raw)
                    return outcome
        except TimeoutError:
            return Outcome(case, None, problem="no answer", detail=f"nothing within {ANSWER_TIMEOUT_S:g} s")
        except aiohttp.ClientResponseError as e:
            # The HTTP parser's own refusal of a request line it cannot read (raw bytes in the path): aiohttp
            # answers 400 with a body even to HEAD, which the client then calls malformed. An answer all the same.
            return Outcome(case, e.status, detail="answered by aiohttp's HTTP parser")
        except aiohttp.ClientError as e:
            return Outcome(case, None, problem="no answer", detail=f"{type(e).__name__}: {e}")

    async def _judge(self, outcome: Outcome) -> None:
        status = outcome.status
        if outcome.problem is None and status is not None and status >= 500:
            outcome.problem, outcome.detail = "5xx", ""
        version = self._data_version()
        if outcome.problem is None and status is not None and 400 <= status < 500 and version != self._version:
            kind = "login" if outcome.case.target.startswith("/console/login") else outcome.case.area
            if (kind, outcome.error_code or str(status)) not in _WRITING_REFUSALS:
                counts = self._row_counts()
                changed = [f"{t} {self._counts.get(t)}->{n}" for t, n in counts.items() if self._counts.get(t) != n]
                outcome.problem = "4xx wrote"
                outcome.detail = ", ".join(changed) or "rows updated (no row count changed)"
        if outcome.problem:
            outcome.cause = (cause_of(outcome.traceback, status, outcome.case) if outcome.problem != "4xx wrote"
                             else f"{outcome.case.method} {outcome.case.route} {status} {outcome.error_code}")

    async def _repair(self, outcome: Outcome) -> None:
        """Undo what stops later cases from reaching deep: a flagged fuzz device, a logged-out session."""
        case = outcome.case
        if case.area == "device" and outcome.error_code in ("device_moved", "device_cloned"):
            for device_id in (self.world.device_id, self.world.identity_device_id):
                device = await self.storage.get_device(device_id)
                if device is not None and device.flag is not None:
                    await devices.clear_flag(self.storage, device_id, actor="fuzz")
        if case.session and case.target.startswith("/console/logout") and not await self._session_alive(case.session):
            await self.log_in(case.session)


def _error_code(content_type: str, raw: bytes) -> str | None:
    try:
        import cbor2
        answer = cbor2.loads(raw) if content_type == "application/cbor" else json.loads(raw)
        return answer["error"]["code"]
    except Exception:
        return None


async def _seed(target: Target, release_key: Any, tmp: Path) -> None:
    """Merchants, devices, console users, orders, a refund, C2B orders, a release and a rollout, a report."""
    world, storage, app = target.world, target.storage, target.app
    await storage.add_merchant("M1", "茶馆")
    await storage.add_merchant("M2", "面馆")
    world.device_key, world.identity_key = new_device_key(), new_device_key()
    await storage.add_device(world.device_id, "M1", "老王茶馆", world.device_key)
    await storage.add_device(world.identity_device_id, "M1", "老王茶馆", world.identity_key)
    for device_id, merchant in (("FZ-V1", "M1"), ("FZ-V2", "M2"), ("FZ-M2", "M2")):
        await storage.add_device(device_id, merchant, "小李面馆" if merchant == "M2" else "老王茶馆", new_device_key())
    await devices.register_device(storage, "FZ-SPARE", "M1", "老王茶馆", activation=True)
    await devices.return_to_stock(storage, "FZ-SPARE", actor="fuzz")
    await devices.register_device(storage, "FZ-NEW", "M1", "老王茶馆", activation=True)
    code = await devices.issue_activation_code(storage, "FZ-NEW", 86_400)
    world.activation_codes = (code, "000000000000", "123456789012")
    world.victims = ("FZ-V1", "FZ-V2", "FZ-SPARE", "FZ-NEW")
    world.devices_all = (world.device_id, world.identity_device_id, "FZ-V1", "FZ-V2", "FZ-M2", "FZ-SPARE", "FZ-NEW")
    world.stores = ("老王茶馆", "小李面馆")
    _, printed = await static_codes.print_batch(storage, 3, actor="fuzz")
    device = await storage.get_device(world.device_id)
    await static_codes.bind(storage, printed[0].id, store_id=device.store_id, device_id=device.id, actor="fuzz")
    await static_codes.deregister(storage, printed[2].id, reason="lost", actor="fuzz")
    world.static_codes = tuple(code.id for code in printed)
    world.passwords = {OPERATOR: "operator-password-1", MERCHANT: "tea-house-password"}
    await queries.add_user(storage, OPERATOR, auth.hash_password(world.passwords[OPERATOR]), "operator", None, now_ms())
    await queries.add_user(storage, MERCHANT, auth.hash_password(world.passwords[MERCHANT]), "merchant", "M1",
                           now_ms())
    await target.log_in("operator")
    await target.log_in("merchant")

    async def call(op: str, message: dict) -> dict:
        body = json.dumps(message).encode()
        case = Case("seed", "POST", f"/d/v1/{op}", "/d/v1/{op}", (("Content-Type", "application/json"),), body,
                    sign="good", device=world.device_id)
        async with target.http.post(target.base + case.target, data=body, headers=target._signed(case)
                                    + list(case.headers)) as resp:
            answer = await resp.json()
            assert resp.status == 200, (op, answer)
            return answer

    wechat_ok = test_codes.make_code(test_codes.WECHAT_PREFIX)
    for number, code_ in (("P1", wechat_ok), ("P2", test_codes.make_code(test_codes.ALIPAY_PREFIX)),
                          ("P3", test_codes.make_code(test_codes.WECHAT_PREFIX)),
                          ("P9", test_codes.make_code(test_codes.WECHAT_PREFIX, test_codes.PASSWORD, 99))):
        await call("pay", {"order_no": number, "amount_fen": 125_000, "auth_code": code_})
    await call("refund", {"order_no": "P1", "refund_no": "R1", "amount_fen": 100})
    tokens = []
    for number in ("Q1", "Q2", "Q3"):
        await call("qr", {"order_no": number, "amount_fen": 1250})
        tokens.append((await storage.get_order(world.device_id, number)).qr_token)
    world.order_nos = ("P1", "P2", "P3", "P9", "Q1", "Q2", "Q3")
    world.refund_nos = ("R1",)
    # Q1 opened in WeChat: a C2B order a notify may name (docs/c2b.md: to WeChat's web authorisation and back
    # with the nonce cookie, then the payment page).
    async with target.http.get(f"{target.base}/c/{tokens[0]}", allow_redirects=False,
                               headers={"User-Agent": "MicroMessenger"}) as resp:
        assert resp.status == 302, resp.status
        nonce, authorize = resp.cookies["c2b_auth"].value, resp.headers["Location"]
    async with target.http.get(authorize, allow_redirects=False) as resp:
        back = urllib.parse.urlsplit(resp.headers["Location"])       # on device_api.public_url: here, target.base
    async with target.http.get(f"{target.base}{back.path}?{back.query}", allow_redirects=False, headers={
            "User-Agent": "MicroMessenger", "Cookie": f"c2b_auth={nonce}"}) as resp:
        assert resp.status == 200, resp.status
    world.qr_tokens = tuple(tokens)
    world.trade_nos = ((await storage.get_order(world.device_id, "Q1")).trade_no,)
    world.order_ids = tuple([(await storage.get_order(world.device_id, n)).id for n in ("P1", "P2", "P9", "Q1")])
    # A release, offered to the fuzz device by a rollout.
    key = release_key
    bundle = make_bundle(key, world.profile, world.version)
    auth_header = {"Authorization": "Bearer " + world.ops_token}
    async with target.http.put(f"{target.base}/ops/v1/firmware/{world.profile}/{world.version}", data=bundle,
                               headers={**auth_header, "Content-Type": "application/gzip"}) as resp:
        assert resp.status == 201, await resp.text()
    await rollouts.set_device_profile(storage, world.device_id, world.profile, "pilot")
    await rollouts.set_device_profile(storage, "FZ-V1", world.profile, "pilot")
    async with target.http.post(f"{target.base}/ops/v1/rollouts", json={
            "profile": world.profile, "version": world.version, "failure_threshold": 1}, headers=auth_header) as resp:
        rollout_id = (await resp.json())["id"]
    async with target.http.post(f"{target.base}/ops/v1/rollouts/{rollout_id}/stages", json={"groups": ["pilot"]},
                                headers=auth_header) as resp:
        assert resp.status == 200
    world.rollout_ids = (rollout_id,)
    world.command_ids = tuple(c.id for c in await storage.pending_commands(world.device_id))
    expires = int(time.time()) + 86_400
    world.firmware_parts = {"device_id": world.device_id, "expires": str(expires), "profile": world.profile,
                            "version": world.version,
                            "mac": rollouts.url_mac(world.device_key, world.device_id, expires, world.profile,
                                                    world.version), "path": "manifest.json"}
    world.bundles = tuple((profile, version, make_bundle(key, profile, version, **how)) for profile, version, how in (
        (world.profile, "0.3.1", {}), (world.profile, "0.3.2", {"files": {"../x.mpy": b"x"}}),
        (world.profile, "0.3.3", {"names": {"manifest.json": "/etc/manifest.json"}}),
        (world.profile, "0.3.4", {"files": {"茶/\u202e.mpy": b"x"}}),
        (world.profile, "0.3.5", {"files": {"a" * 300 + ".mpy": b"x"}}),
        (world.profile, "0.3.6", {"files": {"core/" + "d/" * 200 + "x.mpy": b"x"}}),
        ("other", world.version, {})))
    await _seed_onboarding(target)
    evidence = await merchants.add_evidence(storage, app[SETTINGS], world.ops_merchants[0], "id_photo",
                                            world.evidence_files[0][1], actor="fuzz")
    world.evidence_ids = (evidence.id,)
    # A reconciliation report on disk, as the daily job writes it.
    out_dir = tmp / "reconcile" / world.report_days[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    p1 = await storage.get_order(world.device_id, "P1")
    report = reconcile.Report("wechat", datetime.date.fromisoformat(world.report_days[0]), differences=[
        reconcile.Difference("amount", p1.trade_no, "1250.00", "1250.01"),
        reconcile.Difference("refund_missing_in_bill", p1.trade_no, "1.00", "-", refund_no="R1")])
    (out_dir / "wechat.txt").write_text(report.text(), "utf-8")
    methods: dict[str, list[str]] = {}
    for route in app.router.routes():
        if route.resource is not None:
            methods.setdefault(route.resource.canonical, []).append(route.method)
    world.routes = tuple((pattern, tuple(found)) for pattern, found in methods.items())


async def _seed_onboarding(target: Target) -> None:
    """Merchants, stores, stock and a batch of codes for the ops area, made through the ops API itself."""
    world = target.world

    async def call(method: str, path: str, body: dict) -> dict:
        async with target.http.request(method, target.base + path, json=body,
                                       headers={"Authorization": "Bearer " + world.ops_token}) as resp:
            answer = await resp.json()
            assert resp.status in (200, 201), (path, answer)
            return answer

    world.ops_merchants = ("FZ-OPS1", "FZ-OPS2", "FZ-OPS3")
    for number, merchant_id in enumerate(world.ops_merchants):
        await call("POST", "/ops/v1/merchants", {"phone": f"1370000000{number}", "short_name": f"商户{number}",
                                                 "merchant_id": merchant_id})
    world.store_ids = tuple([(await call("POST", f"/ops/v1/merchants/{merchant_id}/stores", {"name": "南京路店"}))["id"]
                             for merchant_id in world.ops_merchants[:2]])
    world.stock_serials = tuple(f"FZ-STOCK{n}" for n in range(1, 7))
    await call("POST", "/ops/v1/stock", {"devices": [{"serial": serial} for serial in world.stock_serials]})
    for serial, merchant_id, store_id in zip(world.stock_serials, world.ops_merchants, world.store_ids):
        await call("PUT", f"/ops/v1/devices/{serial}/assignment", {"merchant_id": merchant_id, "store_id": store_id})
    printed = await call("POST", "/ops/v1/code-batches", {"size": 12, "note": "fuzz"})
    world.batch_ids = (printed["batch"]["id"],)
    world.ops_codes = tuple(code["id"] for code in printed["codes"])
    await call("POST", f"/ops/v1/codes/{world.ops_codes[0]}/bind", {"store_id": world.store_ids[0]})
    photos = []
    for fmt, content_type in (("JPEG", "image/jpeg"), ("PNG", "image/png")):
        out = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 30, 30)).save(out, fmt)
        photos.append((content_type, out.getvalue()))
    world.evidence_files = tuple(photos) + (
        ("application/pdf", b"%PDF-1.4\n%%EOF\n"), ("image/jpeg", photos[0][1][:40]), ("image/png", b""),
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), ("image/jpeg", b"GIF89a" + b"\x00" * 32))


@contextlib.asynccontextmanager
async def fuzz_target(tmp: Path, prepare: Callable[[web.Application], None] | None = None) -> AsyncIterator[Target]:
    """The seeded server, in this event loop, with sandboxes for WeChat and Alipay; `prepare` may add to
    the app before it starts (the harness's own test adds routes that fail on purpose)."""
    release_key = ECC.generate(curve="Ed25519")
    public_hex = release_key.public_key().export_key(format="raw").hex()
    world = World()
    with _server_logs() as logs:
        async with run_wechat_sandbox() as wechat, run_alipay_sandbox() as alipay:
            app = create_app(fuzz_settings(tmp, wechat.base_url, alipay.base_url, public_hex, world.ops_token))
            if prepare is not None:
                prepare(app)
            server = TestServer(app)
            await server.start_server()
            http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=None))
            target = Target(app, server, http, world, tmp / "fuzz.db", wechat, logs)
            try:
                await _seed(target, release_key, tmp)
                target.settle()
                yield target
            finally:
                target.observer.close()
                await http.close()
                await server.close()


