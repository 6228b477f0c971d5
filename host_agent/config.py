"""The agent's TOML config: one file per cashier PC, written by the installer (docs/host-agent.md).

    [server]
    url = "https://pay.example.com"
    device_id = "PC0001"
    device_key = "64 hex characters from `python -m server device add`"

    [box]
    port = "COM4"

    amount_source = "pole_display"      # or "screen" or "manual"
    [pole_display]
    mode = "passthrough"  port = "COM5"  display_port = "COM1"  protocol = "led8n"  lamps = "wintec"

`load_config(path)` returns an `AgentConfig` or raises ConfigError naming the file, the key and what
is wrong. Secrets (the device key) are never printed: `AgentConfig.describe()` masks them.
"""
import re
import tomllib
from dataclasses import dataclass, field, fields

from host_agent.amount import SCREEN_LABELS
from host_agent.pole_display import LAMP_NAMES, LAMP_ORDERS, PROTOCOLS, TOTAL_WORDS, VENDOR_LAMPS

SOURCES = ("pole_display", "screen", "manual")


class ConfigError(ValueError):
    pass


@dataclass
class ServerSection:
    url: str = ""
    device_id: str = ""
    device_key: str = field(default="", repr=False)     # secret
    body_format: str = "cbor"       # "cbor" as devices do, or "json"
    timeout_s: float = 10.0
    subject: str = ""               # shown on the payer's bill; empty: the server's default


@dataclass
class BoxSection:
    port: str = ""
    baudrate: int = 115200


@dataclass
class PoleDisplaySection:
    port: str = ""
    mode: str = "sniff"             # "passthrough" or "sniff"
    display_port: str = ""
    baudrate: int = 2400
    protocol: str = "auto"          # "led8n", "cd5220", "epson", or "auto" (told from the bytes)
    lamps: object = "wintec"        # a vendor name, or a table {price = 1, total = 2, ...}
    lamp_extra_bytes: object = None
    lamp_order: str = "auto"        # "lamp_first", "value_first", or "auto" (learnt at the POS's clears)
    encoding: str = "gbk"
    labels: list = field(default_factory=lambda: list(TOTAL_WORDS))

    def lamp_table(self):
        return self.lamps


@dataclass
class ScreenSection:
    region: list = field(default_factory=list)      # [left, top, width, height]
    interval_s: float = 0.25
    labels: list = field(default_factory=lambda: list(SCREEN_LABELS))
    decimals: int = 2               # the decimals the POS shows in its total; any other number is refused
    cross_check: bool = False       # also run the other of pole_display and screen: both must agree


@dataclass
class ManualSection:
    window: bool = True
    max_fen: int = 500000


@dataclass
class PaymentSection:
    amount_ttl_s: float = 600.0     # an amount not paid within this is forgotten
    prompt_on_amount: bool = True   # the box says 请出示付款码 when the POS shows a new total
    query_wait_s: int = 20
    follow_s: float = 180.0         # stop asking about a PAYING order after this
    pay_attempts: int = 3           # pay sent this many times (same order_no) when the network fails
    retry_s: float = 2.0


@dataclass
class LogSection:
    file: str = ""                  # empty: the terminal only
    level: str = "INFO"


@dataclass
class AgentConfig:
    server: ServerSection = field(default_factory=ServerSection)
    box: BoxSection = field(default_factory=BoxSection)
    amount_source: str = "manual"
    pole_display: PoleDisplaySection = field(default_factory=PoleDisplaySection)
    screen: ScreenSection = field(default_factory=ScreenSection)
    manual: ManualSection = field(default_factory=ManualSection)
    payment: PaymentSection = field(default_factory=PaymentSection)
    log: LogSection = field(default_factory=LogSection)
    path: str = ""

    def describe(self):
        """The config as the installer wrote it, for `run`'s first log lines, key masked."""
        key = self.server.device_key
        return ("server %s as device %s (key ****%s), box on %s, amount from %s"
                % (self.server.url, self.server.device_id, key[-4:], self.box.port or "?", self.amount_source))


_SECTIONS = {"server": ServerSection, "box": BoxSection, "pole_display": PoleDisplaySection,
             "screen": ScreenSection, "manual": ManualSection, "payment": PaymentSection, "log": LogSection}


def _section(where, cls, table):
    if not isinstance(table, dict):
        raise ConfigError("%s: [%s] must be a table" % where)
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError("%s: unknown key %r in [%s] (known: %s)"
                              % (where[0], key, where[1], ", ".join(sorted(known))))
        default = known[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError("%s: [%s] %s must be true or false" % (where[0], where[1], key))
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError("%s: [%s] %s must be a number" % (where[0], where[1], key))
            if isinstance(default, int) and not isinstance(value, int):
                raise ConfigError("%s: [%s] %s must be a whole number" % (where[0], where[1], key))
        if isinstance(default, str) and known[key].name != "lamps" and not isinstance(value, str):
            raise ConfigError("%s: [%s] %s must be text" % (where[0], where[1], key))
        values[key] = value
    return cls(**values)


def parse_config(data, path="<config>"):
    unknown = set(data) - set(_SECTIONS) - {"amount_source"}
    if unknown:
        raise ConfigError("%s: unknown setting(s) %s" % (path, ", ".join(sorted(unknown))))
    config = AgentConfig(path=path)
    for name, cls in _SECTIONS.items():
        if name in data:
            setattr(config, name, _section((path, name), cls, data[name]))
    config.amount_source = data.get("amount_source", "manual")
    _check(config, path)
    return config


def load_config(path):
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("%s: no such config file (see docs/host-agent.md for an example)" % path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("%s: not valid TOML: %s" % (path, exc)) from None
    return parse_config(data, str(path))


def _check(config, path):
    def bad(message):
        raise ConfigError("%s: %s" % (path, message))

    server = config.server
    if not re.match(r"^https?://[^/\s]+", server.url or ""):
        bad("[server] url must be the payment server's address, e.g. https://pay.example.com")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", server.device_id or ""):
        bad("[server] device_id must be the agent's device id (1-32 of A-Z a-z 0-9 _ -)")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", server.device_key or ""):
        bad("[server] device_key must be the 64 hex characters the server printed for this device")
    if server.body_format not in ("cbor", "json"):
        bad("[server] body_format must be cbor or json")
    if not config.box.port:
        bad("[box] port must name the scan box's serial port (`python -m host_agent ports` lists them)")
    if config.amount_source not in SOURCES:
        bad("amount_source must be one of %s" % ", ".join(SOURCES))
    if config.amount_source == "pole_display":
        pole = config.pole_display
        if not pole.port:
            bad("[pole_display] port must name the port the POS writes its display data to")
        if pole.mode not in ("passthrough", "sniff"):
            bad("[pole_display] mode must be passthrough or sniff")
        if pole.mode == "passthrough" and not pole.display_port:
            bad("[pole_display] passthrough needs display_port (the port the customer display is on)")
        if pole.protocol != "auto" and pole.protocol not in PROTOCOLS:
            bad("[pole_display] protocol must be one of %s, or auto (told from the bytes)"
                % ", ".join(PROTOCOLS))
        if pole.lamp_order not in LAMP_ORDERS:
            bad("[pole_display] lamp_order must be one of %s" % ", ".join(LAMP_ORDERS))
        if isinstance(pole.lamps, str):
            if pole.lamps not in VENDOR_LAMPS:
                bad("[pole_display] lamps must be one of %s, or a table like {price = 1, total = 2}"
                    % ", ".join(VENDOR_LAMPS))
        elif isinstance(pole.lamps, dict):
            for name, n in pole.lamps.items():
                if name not in LAMP_NAMES or not isinstance(n, int) or not 0 <= n <= 255:
                    bad("[pole_display] lamps: %r = %r; names are %s, values the byte n of ESC s n"
                        % (name, n, ", ".join(LAMP_NAMES)))
            if "total" not in pole.lamps:
                bad("[pole_display] lamps must say which n lights the total lamp")
        else:
            bad("[pole_display] lamps must be a vendor name or a table")
        try:
            "x".encode(pole.encoding)
        except LookupError:
            bad("[pole_display] encoding %r is not a known text encoding" % pole.encoding)
    screen = config.screen
    if screen.decimals not in (0, 1, 2):
        bad("[screen] decimals must be 0, 1 or 2 (how many decimals the POS shows in its total)")
    if screen.cross_check and config.amount_source not in ("pole_display", "screen"):
        bad("[screen] cross_check checks the pole display against the screen: amount_source must be one of them")
    if screen.cross_check and not config.pole_display.port:
        bad("[screen] cross_check needs [pole_display] port (and the rest of [pole_display])")
    if config.amount_source == "screen" or screen.cross_check:
        region = config.screen.region
        if (len(region) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in region)
                or region[2] <= 0 or region[3] <= 0):
            bad("[screen] region must be [left, top, width, height] in pixels; `calibrate` prints it")
    if not 1 <= config.payment.query_wait_s <= 30:
        bad("[payment] query_wait_s must be 1-30")
    if config.log.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        bad("[log] level must be DEBUG, INFO, WARNING or ERROR")
