"""Server configuration: a TOML file, then environment variables, then keyword overrides.

Every section is a frozen dataclass; secrets are `Secret` so they never appear in logs or reprs.
Unknown keys are refused, so a typo in the config file stops the server instead of being ignored.

    SCANPAY_CONFIG   path of the TOML file (when load_settings gets no path)
    SCANPAY_DB       database path, overrides [database] path
"""
from __future__ import annotations

import dataclasses
import os
import re
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
    # A connection must send a whole request head within this (a new one, or one idle between requests):
    # a client that dribbles its headers (slowloris) is cut off instead of holding a connection.
    idle_timeout_s: float = 15.0
    body_timeout_s: float = 15.0       # ... and the request's body within this, once its head arrived
    # GET /metrics: with a token, only `Authorization: Bearer <token>`; without one, only from this
    # machine (loopback, not through a proxy): a scraper elsewhere needs the token.
    metrics_token: Secret = Secret("")
    # true: a development, demo or test setup whose channels are the local sandboxes (hw_sim): `run` accepts
    # channel addresses that are not https and the sandbox's WeChat credentials (the defaults), and logs that
    # it is a sandbox. false: `run` refuses to start with either (sandbox_refusal), so a server started
    # without its config never takes "payments" from a sandbox while no money moves.
    sandbox: bool = False


@dataclass(frozen=True)
class DatabaseSettings:
    # A SQLite file path, ":memory:" (tests), or a PostgreSQL URL (postgresql://user@host:5432/db).
    path: str = "var/scanpay.db"
    schema: str = ""          # PostgreSQL: the schema to use (empty: the server's search_path)
    pool_size: int = 10       # PostgreSQL: connections per server process


NONCE_SLACK_S = 60   # nonces outlive the timestamp window by this much (server clocks in whole seconds, skew)


@dataclass(frozen=True)
class DeviceApiSettings:
    max_body_bytes: int = 8192
    timestamp_window_s: int = 300    # a signed request is accepted this many seconds either side of server time
    # How long a nonce is remembered, counted from the later of its first use and its own timestamp. It must
    # outlive every moment that timestamp still passes the window, so it is derived from the window (0, the
    # default: the window plus NONCE_SLACK_S for whole-second clocks); a value set by hand may only be longer.
    nonce_ttl_s: int = 0
    # Per-transaction ceiling. 5000 yuan is the PBoC level-B daily limit for a payer's dynamic code,
    # so no single B2C payment above it can succeed anyway.
    max_amount_fen: int = 500_000
    min_amount_fen: int = 1
    max_wait_s: int = 30
    # A held long poll re-reads its order this often even without a wake-up (a lost NOTIFY costs at most this).
    poll_recheck_s: float = 5.0
    heartbeat_s: int = 60            # how often devices are asked to send a heartbeat
    activation_code_ttl_s: int = 86_400
    public_url: str = "http://127.0.0.1:8080"   # how payers' phones reach this server (C2B codes, static codes)
    qr_valid_s: int = 300            # a one-time C2B code's life; then the order is closed
    static_code_max_fen: int = 50_000            # PBoC level D: 500 yuan per payer per channel per day on a static code
    # Boot ids a device key was used with are remembered this long: one coming back after another
    # boot id appeared within it means two devices share the key (server/devices/anti_switching.py).
    clone_window_s: int = 86_400

    @property
    def nonce_keep_s(self) -> int:
        return self.nonce_ttl_s or self.timestamp_window_s + NONCE_SLACK_S


@dataclass(frozen=True)
class LimitsSettings:
    """Per-merchant daily caps by verification tier, in fen (China-time days)."""

    tier1_daily_cap_fen: int = 1_000_000       # phone registered: 10,000 yuan a day
    tier2_daily_cap_fen: int = 5_000_000       # ID photo uploaded
    tier3_daily_cap_fen: int = 50_000_000      # business licence and shop photos
    utc_offset_h: int = 8                       # the day the caps count starts at 00:00 China time

    def daily_cap_fen(self, tier: int) -> int:
        return {1: self.tier1_daily_cap_fen, 2: self.tier2_daily_cap_fen}.get(tier, self.tier3_daily_cap_fen)


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    format: str = "text"      # "json": one JSON object per line (for log shippers)


@dataclass(frozen=True)
class ResolverSettings:
    enabled: bool = True
    tick_s: float = 0.5      # how often it looks for due orders and refunds
    # A claim not renewed for this long is anybody's again (renewed every lease_s / 3 while the work goes on;
    # a dead process's claims pass on sooner: at once at a restart, on PostgreSQL at the next look of any process).
    lease_s: float = 10.0
    batch: int = 100         # per channel: newly claimed orders waiting for a first call, at most
    # Per channel: calls under way at once, and calls started per second. An order's pause between two
    # calls (a reverse retried while WeChat says recall=Y) holds neither.
    concurrency_per_channel: int = 32
    max_rate_per_channel_per_s: float = 100.0
    # After an answer that cannot be trusted (bad signature, unreadable) or a refusal (HTTP 4xx), the next
    # ask waits backoff_first_s, doubled with each such answer in a row, at most backoff_max_s.
    backoff_first_s: float = 2.0
    backoff_max_s: float = 300.0


@dataclass(frozen=True)
class RouteRule:
    """Payment codes starting with one of `prefixes` and of one of `lengths` go to `channel`."""

    channel: str
    prefixes: tuple[str, ...]
    lengths: tuple[int, ...]


# WeChat's own documented example credentials: public, used by the local sandbox only. They are the defaults so
# that a test or the demo needs no file; `run` refuses them unless [server] sandbox = true (sandbox_refusal).
SANDBOX_APPID = "wxd930ea5d5a258f4f"
SANDBOX_MCH_ID = "10000100"
SANDBOX_API_KEY = "192006250b4c09247ec02edce69f6a2d"
SANDBOX_APP_SECRET = "5ac6d9d8ae3cbc2b1b2c3a6f0e5e1c47"   # the sandbox official account's AppSecret (made up)


@dataclass(frozen=True)
class WeChatSubApp:
    """A shop's own official account (sub_appid) whose AppSecret the acquirer holds: its payers are identified
    under it (snsapi_base there gives their sub_openid) and pay in it."""

    appid: str
    app_secret: Secret


@dataclass(frozen=True)
class WeChatSettings:
    enabled: bool = True
    base_url: str = "http://127.0.0.1:8091"
    appid: str = SANDBOX_APPID        # the acquirer's: in service-provider mode, the 服务商's appid and mch_id
    mch_id: str = SANDBOX_MCH_ID
    # true: the acquirer is the channel's service provider (服务商) and every merchant pays into its own
    # sub-merchant account (server/merchant_channels.py); a merchant without one is not open here.
    # false (direct mode): every merchant's money goes into the account configured here.
    service_provider: bool = False
    api_key: Secret = Secret(SANDBOX_API_KEY)
    sign_type: str = "HMAC-SHA256"   # or "MD5"
    spbill_create_ip: str = "127.0.0.1"
    body: str = "scanpay"            # goods description when the device sends no subject
    notify_url: str = ""             # unifiedorder's notify_url, when the caller gives none
    # C2B in WeChat (docs/c2b.md): the landing page learns the payer's openid by web authorisation
    # (snsapi_base) of the official account `appid`, with its AppSecret; the hosts: "" = base_url (the sandbox).
    app_secret: Secret = Secret(SANDBOX_APP_SECRET)
    oauth_url: str = ""              # WeChat itself: "https://open.weixin.qq.com"
    sns_url: str = ""                # WeChat itself: "https://api.weixin.qq.com"
    sub_apps: tuple[WeChatSubApp, ...] = ()   # shops' own official accounts the acquirer holds the secret of
    timeout_s: float = 10.0
    # WeChat's pages disagree (query every 5-10 s, give up after 30 s or 45 s). We take 5 s and 45 s:
    # WeChat itself revokes an unpaid micropay 45 s after creation, so waiting less only loses payers
    # who are still typing their password.
    query_interval_s: float = 5.0
    # While a payer is typing the password the answer comes seconds after the pay call: the first queries
    # come sooner (the waits between them), then every query_interval_s (docs/operations.md, "What the
    # server does on its own"); a wait above query_interval_s counts as query_interval_s. 1+1+1+2+2+3 s:
    # 6 queries in the first 10 s instead of 2.
    query_schedule_s: tuple[float, ...] = (1.0, 1.0, 1.0, 2.0, 2.0, 3.0)
    deadline_s: float = 45.0
    cancel_retry_s: float = 2.0      # pause between reverse calls while WeChat answers recall=Y
    cancel_attempts: int = 5         # reverse calls per resolver pass
    # The real reverse endpoint needs the merchant's client certificate; the sandbox does not.
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class AlipaySettings:
    # Off until the merchant's keys are configured (PEM text, or bare Base64 as Alipay's console gives it).
    enabled: bool = False
    base_url: str = "http://127.0.0.1:8092"      # real: https://openapi.alipay.com (path /gateway.do)
    app_id: str = ""
    app_private_key: Secret = Secret("")          # signs our requests (RSA2)
    alipay_public_key: str = ""                    # verifies Alipay's answers
    app_auth_token: str = ""                       # when acting for a merchant (ISV); usually empty
    # C2B in the Alipay app (docs/c2b.md): the landing page learns the payer's user_id by auth_base web
    # authorisation of app_id; its host: "" = base_url (the sandbox).
    oauth_url: str = ""                            # Alipay itself: "https://openauth.alipay.com"
    # true: the acquirer is the channel's service provider (服务商) and every merchant pays into its own
    # sub-merchant account (server/merchant_channels.py); a merchant without one is not open here.
    # false (direct mode): every merchant's money goes into the account configured here.
    service_provider: bool = False
    subject: str = "scanpay"
    timeout_s: float = 10.0
    # Alipay's face-to-face demo: on 10003 query up to 5 times, 5 s apart, then cancel; cancel retried up to
    # 3 times, 2 s apart, while it has no answer or says retry_flag=Y. 5 x 5 s = 25 s deadline.
    query_interval_s: float = 5.0
    # While a payer is typing the password the answer comes seconds after the pay call: the first queries
    # come sooner (the waits between them), then every query_interval_s (docs/operations.md, "What the
    # server does on its own"); a wait above query_interval_s counts as query_interval_s. 1+1+1+2+2+3 s:
    # 6 queries in the first 10 s instead of 2.
    query_schedule_s: tuple[float, ...] = (1.0, 1.0, 1.0, 2.0, 2.0, 3.0)
    deadline_s: float = 25.0
    cancel_retry_s: float = 2.0
    cancel_attempts: int = 3


@dataclass(frozen=True)
class UnionPaySettings:
    # Off until the acquirer's signing key and UnionPay's certificate are configured.
    enabled: bool = False
    base_url: str = "http://127.0.0.1:8093"
    acq_code: str = ""                 # our acquirer institution code
    mer_id: str = ""                   # direct mode: the merchant's UnionPay merchant number (merId)
    # true: the acquirer is the channel's service provider (服务商) and every merchant pays into its own
    # sub-merchant account (server/merchant_channels.py); a merchant without one is not open here.
    # false (direct mode): every merchant's money goes into the account configured here.
    service_provider: bool = False
    mer_cat_code: str = "5811"         # MCC
    mer_name: str = "scanpay"
    term_id: str = "00000001"
    sign_private_key: Secret = Secret("")   # PEM; signs our messages
    sign_cert_id: str = ""             # serial number of our signing certificate, sent as certId
    unionpay_public_key: str = ""      # PEM of UnionPay's signing certificate's key: verifies answers
    unionpay_cert_id: str = ""         # the certId UnionPay's answers must carry (empty: not checked)
    # C2B in a UnionPay app (docs/c2b.md): the host of UnionPay's user authorisation page ("" = base_url, the
    # sandbox). UnionPay itself: "https://qr.95516.com" (INFERRED from acquirers' pages, not UnionPay's spec).
    auth_url: str = ""
    timeout_s: float = 10.0
    # No UnionPay QR polling guidance at hand; we follow the terminal practice (Upay, jeepay): query every
    # 5 s, give up after 30 s, then reverse (冲正), retried 3 times 2 s apart.
    query_interval_s: float = 5.0
    # While a payer is typing the password the answer comes seconds after the pay call: the first queries
    # come sooner (the waits between them), then every query_interval_s (docs/operations.md, "What the
    # server does on its own"); a wait above query_interval_s counts as query_interval_s. 1+1+1+2+2+3 s:
    # 6 queries in the first 10 s instead of 2.
    query_schedule_s: tuple[float, ...] = (1.0, 1.0, 1.0, 2.0, 2.0, 3.0)
    deadline_s: float = 30.0
    cancel_retry_s: float = 2.0
    cancel_attempts: int = 3


@dataclass(frozen=True)
class ChannelsSettings:
    wechat: WeChatSettings = WeChatSettings()
    alipay: AlipaySettings = AlipaySettings()
    unionpay: UnionPaySettings = UnionPaySettings()


DEFAULT_ROUTING = (
    # WeChat: 18 digits starting 10-15. Not 16-19: wider tables swallow JD Pay's 18-digit codes.
    RouteRule(channel="wechat", prefixes=("10", "11", "12", "13", "14", "15"), lengths=(18,)),
    # Alipay: 16-24 digits starting 25-30 (alipay.trade.pay auth_code).
    RouteRule(channel="alipay", prefixes=("25", "26", "27", "28", "29", "30"), lengths=tuple(range(16, 25))),
    # UnionPay QR: 19 digits starting 62 (some JD codes look the same; UnionPay takes them).
    RouteRule(channel="unionpay", prefixes=("62",), lengths=(19,)),
)


@dataclass(frozen=True)
class WalletRule:
    """A payer's app: its User-Agent contains one of `user_agent`; it pays through `channel`.

    How the landing page learns who the payer is and opens the app's payment sheet is the channel's
    (its adapter's authorize_url / identify_payer and templates_c2b/pay_<channel>.html; docs/c2b.md).
    """

    channel: str
    user_agent: tuple[str, ...]
    name: str = ""                   # shown to payers, e.g. 微信


DEFAULT_WALLETS = (
    WalletRule(channel="wechat", user_agent=("MicroMessenger",), name="微信"),
    WalletRule(channel="alipay", user_agent=("AlipayClient",), name="支付宝"),
    # UnionPay-capable apps put "UnionPay/<version> <app id>" in their User-Agent ("UnionPay/1.0 CloudPay"
    # is UnionPay's own 云闪付; bank apps send e.g. "UnionPay/1.0 CCBLoongPay").
    WalletRule(channel="unionpay", user_agent=("UnionPay/", "CloudPay"), name="云闪付"),
)


@dataclass(frozen=True)
class C2BSettings:
    """The landing page of one-time and static codes (/c/<token>, /c/s/<device_id>)."""

    wallets: tuple[WalletRule, ...] = DEFAULT_WALLETS
    # The PBoC 296 static-code limit is device_api.static_code_max_fen (per payer, per channel, per day).
    static_code_enabled: bool = True


@dataclass(frozen=True)
class OpsSettings:
    """The operations HTTP API /ops/v1/... (docs/operations.md): off until `tokens` has one."""

    tokens: tuple[Secret, ...] = ()          # operator bearer tokens (compared in constant time)
    release_public_key: str = ""             # hex Ed25519 key every published manifest must verify with
    firmware_dir: str = "var/firmware"       # published bundles: <firmware_dir>/<profile>/<version>/
    max_bundle_bytes: int = 16 * 1024 * 1024
    firmware_url_ttl_s: int = 7 * 86_400     # life of the per-device firmware URL in an update offer
    min_settled: int = 5                     # a rollout stops itself only once this many devices settled


@dataclass(frozen=True)
class ReconcileSettings:
    """The daily job that compares each channel's bill with the orders (server/reconcile.py)."""

    enabled: bool = True
    run_at: str = "10:30"                    # Beijing time; the day before is reconciled (bills are ready by 10:00)
    out_dir: str = "var/reconcile"           # reports: <out_dir>/<date>/<channel>.txt


@dataclass(frozen=True)
class ConsoleSettings:
    """The web console /console/ (docs/console.md): sessions and login throttling."""

    session_ttl_s: int = 8 * 3600            # a login lasts this long (one working shift), then log in again
    # Cookies only over HTTPS (the console runs behind a TLS proxy). false only for plain-HTTP development:
    # the server says so at start-up.
    secure_cookies: bool = True
    max_failed_logins: int = 5               # wrong passwords in a row before the user is locked out
    lockout_s: int = 300                     # how long a locked-out user is refused, even with the right password
    failed_login_delay_s: float = 1.0        # every refused login is answered this much later
    page_size: int = 50                      # rows per page of order lists


@dataclass(frozen=True)
class ThrottleSettings:
    """Per-client request limits (server/throttle.py) on the routes where each request is a guess at a
    secret. Counted in each server process's memory: with N processes a client gets up to N times these."""

    enabled: bool = True
    # A person mistyping tries a few times a minute, and a shop's staff behind one address log in one by
    # one; a password sprayed over many user names (the lock-out only guards each user) gets 10 a minute.
    login_per_min: int = 10
    # An installer activates one device at a time; a 12-digit one-time code at 10 guesses a minute is safe.
    activate_per_min: int = 10
    # A payer's page waiting for the result reloads every 2 s (30 a minute): 240 lets eight payers behind
    # one mobile carrier's NAT address wait at once, and still slows a scan of static codes by device id
    # (one-time tokens are 144 random bits: counting is against load, not guessing).
    c2b_per_min: int = 240
    # Empty: the client is the connection's peer address. Behind a reverse proxy that every client must
    # pass (and that writes the client's address into a header), that header, e.g. "X-Forwarded-For"; its
    # last entry, the one the proxy added, is taken. Never set it without such a proxy in front: clients
    # would choose their own address and escape every limit.
    client_ip_header: str = ""


@dataclass(frozen=True)
class MerchantsSettings:
    """Onboarding (server/merchants.py): where tier evidence is kept, and how big a file may be."""

    evidence_dir: str = "var/evidence"       # <evidence_dir>/<merchant_id>/<sha256>.<jpg|png|pdf>: back it up
    evidence_max_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class RobotSettings:
    """A group-chat robot the alerts are sent to (server/alert_robots.py)."""

    kind: str                                # "wecom" (企业微信群机器人) or "dingtalk" (钉钉自定义机器人)
    url: Secret                              # its webhook URL, key or access_token included: keep it secret
    secret: Secret = Secret("")              # DingTalk 加签: the robot's SEC… secret ("" when not set)
    name: str = ""                           # which robot, in our logs


@dataclass(frozen=True)
class AlertsSettings:
    """Monitoring alerts (server/alerts.py): rules evaluated in the background, shown in the console."""

    enabled: bool = True
    interval_s: float = 15.0                 # how often the rules are evaluated
    offline_after_s: int = 300               # an active device that made no signed request for this long is offline
    success_rate_min_pct: float = 80.0       # per channel: alert below this share of payments succeeding
    success_rate_window_s: int = 900         # ... over this many recent seconds
    success_rate_min_payments: int = 20      # ... once at least this many payments finished in the window
    devices_offline_max: int = 10            # alert when more devices than this are offline
    backlog_max: int = 100                   # alert when more orders PAYING plus refunds PENDING than this
    backlog_oldest_max_s: int = 600          # ... or when the oldest of them is older than this
    resolver_lag_max_s: int = 60             # alert when work due this long ago is still waiting for a resolver
    robots: tuple[RobotSettings, ...] = ()   # group chats told of every alert raised and cleared


@dataclass(frozen=True)
class MqttSettings:
    """The acquirer's MQTT broker (Mosquitto 2): the server publishes each announcement to the device's topic."""

    host: str = "127.0.0.1"
    port: int = 1883
    # Where devices reach the broker (empty: host and port above, as the server does).
    device_host: str = ""
    device_port: int = 0
    username: str = "scanpay-server"         # the server's own client at the broker
    password: Secret = Secret("")
    topic_prefix: str = "scanpay/d/"         # a device's topic: <prefix><device id>/paid
    # Create each device's client (user name = device id, password derived from its key) and the
    # scanpay-device role in Mosquitto's dynamic security plugin; the server's user needs its admin role.
    provision: bool = False
    keepalive_s: int = 60


@dataclass(frozen=True)
class AnnounceSettings:
    """Payments said in the shop (server/announce.py): every C2B payment, on the device bound to its code."""

    enabled: bool = True
    # "events": devices long-poll the `events` op; "mqtt": also pushed to the device's MQTT topic as it
    # happens (devices still catch up through `events` after a reconnect or a reboot).
    transport: str = "events"
    # A payment the device learns of later than this after it was made is shown, not spoken: a shop hearing
    # "收款 25.80 元" for a customer who left an hour ago would look for money it already has.
    speak_within_s: int = 120
    max_events: int = 20                     # announcements per `events` answer
    mqtt: MqttSettings = MqttSettings()


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    device_api: DeviceApiSettings = DeviceApiSettings()
    resolver: ResolverSettings = ResolverSettings()
    limits: LimitsSettings = LimitsSettings()
    logging: LoggingSettings = LoggingSettings()
    routing: tuple[RouteRule, ...] = DEFAULT_ROUTING
    channels: ChannelsSettings = field(default_factory=ChannelsSettings)
    c2b: C2BSettings = C2BSettings()
    ops: OpsSettings = OpsSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    console: ConsoleSettings = ConsoleSettings()
    throttle: ThrottleSettings = ThrottleSettings()
    alerts: AlertsSettings = AlertsSettings()
    merchants: MerchantsSettings = MerchantsSettings()
    announce: AnnounceSettings = AnnounceSettings()


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
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and hint is not Secret:
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
    for name in ("wechat", "alipay", "unionpay"):
        channel = getattr(settings.channels, name)
        if len(channel.query_schedule_s) > 20 or not all(0 < wait < 3600 for wait in channel.query_schedule_s):
            raise SettingsError(f"channels.{name}.query_schedule_s: at most 20 waits, each above 0 s and below an hour")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", settings.reconcile.run_at):
        raise SettingsError("reconcile.run_at must be HH:MM (Beijing time)")
    api = settings.device_api
    if api.max_amount_fen <= 0:
        raise SettingsError("device_api.max_amount_fen must be positive")
    if api.timestamp_window_s <= 0:
        raise SettingsError("device_api.timestamp_window_s must be positive")
    if api.nonce_ttl_s and api.nonce_ttl_s < api.timestamp_window_s + NONCE_SLACK_S:
        # A request's timestamp passes until server time is timestamp + window; its nonce, remembered from
        # the later of its arrival and its timestamp, must be kept at least that long or it could be replayed.
        raise SettingsError(f"device_api.nonce_ttl_s must be 0 (derived) or at least timestamp_window_s + "
                            f"{NONCE_SLACK_S}")
    if not 0 <= api.max_wait_s <= 300:
        raise SettingsError("device_api.max_wait_s must be 0..300")
    if not 1 <= api.min_amount_fen <= api.max_amount_fen:
        raise SettingsError("device_api.min_amount_fen must be 1..max_amount_fen")
    if api.poll_recheck_s <= 0 or api.qr_valid_s <= 0 or api.activation_code_ttl_s <= 0:
        raise SettingsError("device_api.poll_recheck_s, qr_valid_s and activation_code_ttl_s must be positive")
    if api.clone_window_s < api.timestamp_window_s:
        # shorter than a signed request stays valid: a boot id could be forgotten while its requests still count
        raise SettingsError("device_api.clone_window_s must be at least timestamp_window_s")
    for n, robot in enumerate(settings.alerts.robots):
        if robot.kind not in ("wecom", "dingtalk"):
            raise SettingsError(f"alerts.robots[{n}].kind must be wecom or dingtalk")
        if not re.fullmatch(r"https?://\S+", robot.url.reveal()):
            raise SettingsError(f"alerts.robots[{n}].url must be the robot's http(s) webhook URL")
    announce = settings.announce
    if announce.transport not in ("events", "mqtt"):
        raise SettingsError("announce.transport must be events or mqtt")
    if announce.speak_within_s < 0 or not 1 <= announce.max_events <= 100:
        raise SettingsError("announce.speak_within_s must not be negative, announce.max_events 1..100")
    mqtt = announce.mqtt
    if not (0 < mqtt.port < 65536 and 0 <= mqtt.device_port < 65536 and 5 <= mqtt.keepalive_s <= 3600):
        raise SettingsError("announce.mqtt: port 1..65535, device_port 0..65535, keepalive_s 5..3600")
    if not re.fullmatch(r"[A-Za-z0-9_./-]{0,64}", mqtt.topic_prefix) or "+" in mqtt.topic_prefix:
        raise SettingsError("announce.mqtt.topic_prefix: letters, digits and _ . / - only")
    if settings.logging.format not in ("text", "json"):
        raise SettingsError("logging.format must be text or json")
    if settings.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("logging.level must be DEBUG, INFO, WARNING or ERROR")
    ops = settings.ops
    if ops.release_public_key and not re.fullmatch(r"[0-9a-fA-F]{64}", ops.release_public_key):
        raise SettingsError("ops.release_public_key must be 64 hex characters (tools keygen's release.pub)")
    if any(len(token.reveal()) < 16 for token in ops.tokens):
        raise SettingsError("ops.tokens: each token must be at least 16 characters")
    if ops.max_bundle_bytes <= 0 or ops.firmware_url_ttl_s <= 0 or ops.min_settled < 1:
        raise SettingsError("ops.max_bundle_bytes and firmware_url_ttl_s must be positive, min_settled at least 1")
    console = settings.console
    if console.session_ttl_s <= 0 or console.max_failed_logins < 1 or console.lockout_s < 0 \
            or console.failed_login_delay_s < 0 or not 1 <= console.page_size <= 1000:
        raise SettingsError("console: session_ttl_s positive, max_failed_logins at least 1, lockout_s and "
                            "failed_login_delay_s not negative, page_size 1..1000")
    alerts = settings.alerts
    if alerts.interval_s <= 0 or alerts.offline_after_s <= 0 or alerts.success_rate_window_s <= 0 \
            or not 0 <= alerts.success_rate_min_pct <= 100 or alerts.success_rate_min_payments < 1 \
            or alerts.devices_offline_max < 0 or alerts.backlog_max < 0 or alerts.backlog_oldest_max_s <= 0 \
            or alerts.resolver_lag_max_s <= 0:
        raise SettingsError("alerts: interval_s, offline_after_s, success_rate_window_s, backlog_oldest_max_s and "
                            "resolver_lag_max_s positive, success_rate_min_pct 0..100, success_rate_min_payments at "
                            "least 1, devices_offline_max and backlog_max not negative")
    if not 1024 <= settings.merchants.evidence_max_bytes <= 50 * 1024 * 1024:
        raise SettingsError("merchants.evidence_max_bytes must be 1024..52428800")
    server = settings.server
    if not 0 < server.idle_timeout_s <= 3600 or not 0 < server.body_timeout_s <= 3600:
        raise SettingsError("server.idle_timeout_s and body_timeout_s must be 0..3600 (not 0)")
    if server.metrics_token.reveal() and len(server.metrics_token.reveal()) < 16:
        raise SettingsError("server.metrics_token must be at least 16 characters")
    resolver = settings.resolver
    if resolver.tick_s <= 0 or resolver.lease_s < 1 or resolver.batch < 1 or resolver.concurrency_per_channel < 1 \
            or resolver.max_rate_per_channel_per_s <= 0 or not 0 < resolver.backoff_first_s <= resolver.backoff_max_s:
        raise SettingsError("resolver: tick_s, max_rate_per_channel_per_s positive, lease_s at least 1, batch and "
                            "concurrency_per_channel at least 1, 0 < backoff_first_s <= backoff_max_s")
    if settings.database.pool_size < 2:
        raise SettingsError("database.pool_size must be at least 2")
    known = {f.name for f in dataclasses.fields(ChannelsSettings)}
    for i, rule in enumerate(settings.routing):
        where = f"routing[{i}]"
        if rule.channel not in known:
            raise SettingsError(f"{where}.channel: unknown channel {rule.channel!r}")
        if not rule.prefixes or not all(p.isdigit() and p.isascii() for p in rule.prefixes):
            raise SettingsError(f"{where}.prefixes must be a non-empty list of digit strings")
        if not rule.lengths or not all(10 <= n <= 32 for n in rule.lengths):
            raise SettingsError(f"{where}.lengths must be a non-empty list of 10..32")
    for i, wallet in enumerate(settings.c2b.wallets):
        if wallet.channel not in known or not wallet.user_agent or not all(wallet.user_agent):
            raise SettingsError(f"c2b.wallets[{i}]: needs a known channel and non-empty user_agent strings")
    wechat = settings.channels.wechat
    if wechat.sign_type not in ("MD5", "HMAC-SHA256"):
        raise SettingsError("channels.wechat.sign_type must be MD5 or HMAC-SHA256")
    if bool(wechat.cert_file) != bool(wechat.key_file):
        raise SettingsError("channels.wechat.cert_file and key_file go together")
    alipay = settings.channels.alipay
    if alipay.enabled and not (alipay.app_id and alipay.app_private_key.reveal() and alipay.alipay_public_key):
        raise SettingsError("channels.alipay needs app_id, app_private_key and alipay_public_key when enabled")
    unionpay = settings.channels.unionpay
    if unionpay.enabled and not ((unionpay.mer_id or unionpay.service_provider) and unionpay.sign_private_key.reveal()
                                 and unionpay.sign_cert_id and unionpay.unionpay_public_key):
        raise SettingsError("channels.unionpay needs mer_id (unless service_provider), sign_private_key, "
                            "sign_cert_id and unionpay_public_key when enabled")
    throttle = settings.throttle
    if not all(1 <= n <= 100_000 for n in (throttle.login_per_min, throttle.activate_per_min,
                                           throttle.c2b_per_min)):
        raise SettingsError("throttle: login_per_min, activate_per_min and c2b_per_min must be 1..100000")
    if not re.fullmatch(r"[A-Za-z0-9-]*", throttle.client_ip_header):
        raise SettingsError("throttle.client_ip_header must be a header name (e.g. X-Forwarded-For) or empty")


# The channels' addresses a server may call, per channel: the API and the payer-authorisation hosts ("" = the API's).
_CHANNEL_URLS = {"wechat": ("base_url", "oauth_url", "sns_url"), "alipay": ("base_url", "oauth_url"),
                 "unionpay": ("base_url", "auth_url")}
_SANDBOX_CREDENTIALS = {"appid": SANDBOX_APPID, "mch_id": SANDBOX_MCH_ID, "api_key": SANDBOX_API_KEY}


def sandbox_refusal(settings: Settings, *, config_file: bool = True) -> str | None:
    """Why `run` must not start with these settings, in one line (Chinese, then English), or None.

    Every real channel is spoken to over https; the local sandboxes are plain http on loopback. So unless
    [server] sandbox = true says this is a sandbox setup, an enabled channel whose address is not https, or that
    still has the sandbox's WeChat credentials (the built-in defaults), stops the server naming that key.
    `config_file`: whether a config file was read (without one the defaults are all there is, and the line says so).
    """
    if settings.server.sandbox:
        return None
    found = None
    for name, keys in _CHANNEL_URLS.items():
        channel = getattr(settings.channels, name)
        if not channel.enabled:
            continue
        for key in keys:
            url = getattr(channel, key)
            if url and not url.lower().startswith("https://"):
                found = (f"channels.{name}.{key} 是 {url}，不是 https 地址（渠道沙箱？）",
                         f"channels.{name}.{key} is {url}, not an https address (a channel sandbox?)")
                break
        if found is None and name == "wechat":
            for key, value in _SANDBOX_CREDENTIALS.items():
                own = getattr(channel, key)
                if (own.reveal() if isinstance(own, Secret) else own) == value:
                    found = (f"channels.wechat.{key} 仍是沙箱的测试值", f"channels.wechat.{key} is still the sandbox's")
                    break
        if found:
            break
    if found is None:
        return None
    zh, en = found
    if not config_file:
        zh, en = f"没有配置文件（--config 或 SCANPAY_CONFIG），{zh}", f"no config file (--config or SCANPAY_CONFIG): {en}"
    return (f"拒绝启动：{zh}。请填写渠道的 https 地址和商户的凭据；仅开发和演示可设 server.sandbox = true"
            f" / refusing to start: {en}; configure the channel's https address and credentials, or set "
            f"server.sandbox = true for development and demos only")
