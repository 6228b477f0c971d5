"""Server configuration: a TOML file, then environment variables, then keyword overrides.

Every section is a frozen dataclass; secrets are `Secret` so they never appear in logs or reprs.
Unknown keys are refused, so a typo in the config file stops the server instead of being ignored.

    SCANPAY_CONFIG   path of the TOML file (when load_settings gets no path)
    SCANPAY_DB       database path, overrides [database] path
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from typing import Any


class SettingsError(ValueError):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True, repr=False)
class Secret:
    """A value that must never be printed: API keys, passwords."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class DatabaseSettings:
    # A file path, or ":memory:" (tests). PostgreSQL URLs come with the asyncpg backend.
    path: str = "var/scanpay.db"


@dataclass(frozen=True)
class DeviceApiSettings:
    max_body_bytes: int = 8192
    timestamp_window_s: int = 300
    nonce_ttl_s: int = 600
    # Per-transaction ceiling. 5000 yuan is the PBoC level-B daily limit for a payer's dynamic code,
    # so no single B2C payment above it can succeed anyway.
    max_amount_fen: int = 500_000
    max_wait_s: int = 30


@dataclass(frozen=True)
class ResolverSettings:
    enabled: bool = True
    tick_s: float = 0.5      # how often the loop looks for due orders
    lease_s: float = 60.0    # a claimed order is left alone by other loops this long
    batch: int = 50          # orders claimed per tick


@dataclass(frozen=True)
class RouteRule:
    """Payment codes starting with one of `prefixes` and of one of `lengths` go to `channel`."""

    channel: str
    prefixes: tuple[str, ...]
    lengths: tuple[int, ...]


# WeChat's own documented example credentials: public, used by the local sandbox only.
SANDBOX_APPID = "wxd930ea5d5a258f4f"
SANDBOX_MCH_ID = "10000100"
SANDBOX_API_KEY = "192006250b4c09247ec02edce69f6a2d"


@dataclass(frozen=True)
class WeChatSettings:
    enabled: bool = True
    base_url: str = "http://127.0.0.1:8091"
    appid: str = SANDBOX_APPID
    mch_id: str = SANDBOX_MCH_ID
    api_key: Secret = Secret(SANDBOX_API_KEY)
    sign_type: str = "HMAC-SHA256"   # or "MD5"
    spbill_create_ip: str = "127.0.0.1"
    body: str = "scanpay"            # goods description when the device sends no subject
    timeout_s: float = 10.0
    # WeChat's pages disagree (query every 5-10 s, give up after 30 s or 45 s). We take 5 s and 45 s:
    # WeChat itself revokes an unpaid micropay 45 s after creation, so waiting less only loses payers
    # who are still typing their password.
    query_interval_s: float = 5.0
    deadline_s: float = 45.0
    cancel_retry_s: float = 2.0      # pause between reverse calls while WeChat answers recall=Y
    cancel_attempts: int = 5         # reverse calls per resolver pass
    # The real reverse endpoint needs the merchant's client certificate; the sandbox does not.
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class ChannelsSettings:
    wechat: WeChatSettings = WeChatSettings()


DEFAULT_ROUTING = (
    # WeChat: 18 digits starting 10-15. Not 16-19: wider tables swallow JD Pay's 18-digit codes.
    RouteRule(channel="wechat", prefixes=("10", "11", "12", "13", "14", "15"), lengths=(18,)),
)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    device_api: DeviceApiSettings = DeviceApiSettings()
    resolver: ResolverSettings = ResolverSettings()
    routing: tuple[RouteRule, ...] = DEFAULT_ROUTING
    channels: ChannelsSettings = field(default_factory=ChannelsSettings)


def load_settings(path: str | os.PathLike | None = None, **overrides: Any) -> Settings:
    """Settings from `path` (or $SCANPAY_CONFIG, or none), then $SCANPAY_DB, then `overrides`.

    Overrides are nested like the TOML file:
    `load_settings(database={"path": ":memory:"}, channels={"wechat": {"deadline_s": 2}})`.
    """
    raw: dict[str, Any] = {}
    path = path or os.environ.get("SCANPAY_CONFIG") or None
    if path is not None:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as e:
            raise SettingsError(f"cannot read config file {path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"config file {path}: {e}") from None
    if os.environ.get("SCANPAY_DB"):
        raw = _merge(raw, {"database": {"path": os.environ["SCANPAY_DB"]}})
    raw = _merge(raw, overrides)
    settings = _build(Settings, raw, "")
    _check(settings)
    return settings


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, table: Any, where: str) -> Any:
    if isinstance(table, cls):
        return table
    if not isinstance(table, dict):
        raise SettingsError(f"{where or 'config'} must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise SettingsError(f"unknown key {_join(where, unknown[0])}")
    values = {name: _convert(hints[name], table[name], _join(where, name)) for name in table}
    try:
        return cls(**values)
    except TypeError as e:  # a required key (no default) is missing
        raise SettingsError(f"{where}: {e}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and hint is not Secret:
        return _build(hint, value, where)
    if hint is Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            raise SettingsError(f"{where} must be a string")
        return Secret(value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, (list, tuple)):
            raise SettingsError(f"{where} must be a list")
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{where} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{where} must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{where} must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SettingsError(f"{where} must be a string")
        return value
    raise SettingsError(f"{where}: unsupported setting type {hint!r}")  # pragma: no cover


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _check(settings: Settings) -> None:
    api = settings.device_api
    if api.max_amount_fen <= 0:
        raise SettingsError("device_api.max_amount_fen must be positive")
    if api.nonce_ttl_s < 2 * api.timestamp_window_s:
        # A signed request stays acceptable for the whole window on either side of its timestamp;
        # its nonce must be remembered at least that long or it could be replayed.
        raise SettingsError("device_api.nonce_ttl_s must be at least twice timestamp_window_s")
    if not 0 <= api.max_wait_s <= 300:
        raise SettingsError("device_api.max_wait_s must be 0..300")
    known = {f.name for f in dataclasses.fields(ChannelsSettings)}
    for i, rule in enumerate(settings.routing):
        where = f"routing[{i}]"
        if rule.channel not in known:
            raise SettingsError(f"{where}.channel: unknown channel {rule.channel!r}")
        if not rule.prefixes or not all(p.isdigit() and p.isascii() for p in rule.prefixes):
            raise SettingsError(f"{where}.prefixes must be a non-empty list of digit strings")
        if not rule.lengths or not all(10 <= n <= 32 for n in rule.lengths):
            raise SettingsError(f"{where}.lengths must be a non-empty list of 10..32")
    wechat = settings.channels.wechat
    if wechat.sign_type not in ("MD5", "HMAC-SHA256"):
        raise SettingsError("channels.wechat.sign_type must be MD5 or HMAC-SHA256")
    if bool(wechat.cert_file) != bool(wechat.key_file):
        raise SettingsError("channels.wechat.cert_file and key_file go together")

