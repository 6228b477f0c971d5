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

A wrong config must never charge a wrong amount, so every key is checked like money: each section's
keys are declared below with what they may hold (`Allowed`: a type and a range, said in Chinese and
English), a string is never taken where a list is meant (`labels = "TOTAL"` is refused, not split
into letters), true is not a number, and unknown keys and sections are named. `load_config(path)`
returns an `AgentConfig` or raises ConfigError listing every mistake in the file at once, each in
Chinese (for the till staff) and then English, naming the section, the key, the value given and what
is allowed. The file must be UTF-8 (with or without the BOM Notepad writes); GBK or UTF-16 is refused
with what to do. Secrets (the device key) are never printed: `AgentConfig.describe()` masks them and
a wrong key is shown by its length only.
"""
import codecs
import json
import math
import re
import tomllib
from dataclasses import dataclass, field, fields

from host_agent.amount import SCREEN_LABELS
from host_agent.pole_display import LAMP_NAMES, LAMP_ORDERS, PROTOCOLS, TOTAL_WORDS, VENDOR_LAMPS
from host_agent.sources.manual import MAX_FEN

SOURCES = ("pole_display", "screen", "manual")
BAUDRATES = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class ConfigError(ValueError):
    """Every mistake of one config file: `problems` is a list of (Chinese, English) sentences."""

    def __init__(self, path, problems):
        self.path = str(path)
        self.problems = list(problems)
        count = len(self.problems)
        lines = ["%s: 配置有 %d 处错误 / %d mistake%s in the config"
                 % (self.path, count, count, "" if count == 1 else "s")]
        for zh, en in self.problems:
            lines += ["  " + zh, "  " + en]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Allowed:
    """What a key may hold: `accepts(value)`, and how to say it after "must be" / "应为"."""
    zh: str
    en: str
    accepts: object


def text(nonempty=False, zh="文字（用英文双引号括起来）", en="text in double quotes"):
    return Allowed(zh, en, lambda v: isinstance(v, str) and (bool(v.strip()) or not nonempty))


def pattern(regex, zh, en):
    return Allowed(zh, en, lambda v: isinstance(v, str) and re.fullmatch(regex, v) is not None)


def flag():
    return Allowed("true 或 false", "true or false", lambda v: isinstance(v, bool))


def whole(lo, hi, zh_unit="", en_unit=""):
    return Allowed("%d 到 %d 之间的整数%s" % (lo, hi, zh_unit),
                   "a whole number%s from %d to %d" % (en_unit, lo, hi),
                   lambda v: type(v) is int and lo <= v <= hi)


def seconds(lo, hi):
    # TOML writes 10 and 10.0 alike for a time; true is never a number (bool is an int in Python)
    return Allowed("%g 到 %g 之间的秒数" % (lo, hi), "a number of seconds from %g to %g" % (lo, hi),
                   lambda v: type(v) in (int, float) and lo <= v <= hi)


def one_of(choices, zh=None, en=None):
    names = [str(c) for c in choices]
    listed = " or ".join(names) if len(names) == 2 else "one of " + ", ".join(names)
    return Allowed(zh or "其中之一：" + "、".join(names), en or listed,
                   lambda v: any(type(v) is type(c) and v == c for c in choices))


def words():
    return Allowed('用方括号括起的词表，如 ["TOTAL", "合计"]（一个词也要方括号）',
                   'a list of words in square brackets, e.g. ["TOTAL", "合计"] (one word too)',
                   lambda v: isinstance(v, list) and bool(v)
                   and all(isinstance(w, str) and w.strip() for w in v))


def _region(value):
    return isinstance(value, list) and (not value or (
        len(value) == 4 and all(type(v) is int for v in value) and value[2] > 0 and value[3] > 0))


def _encoding(value):
    try:
        return isinstance(value, str) and bool(codecs.lookup(value))
    except LookupError:
        return False


def _lamps(value):
    if isinstance(value, str):
        return value in VENDOR_LAMPS
    return (isinstance(value, dict) and "total" in value
            and all(name in LAMP_NAMES and type(n) is int and 0 <= n <= 255 for name, n in value.items()))


REGION = Allowed("[左, 上, 宽, 高] 四个整数像素（桌面坐标），由 `calibrate` 给出",
                 "[left, top, width, height] in pixels (desktop coordinates); `calibrate` prints it",
                 _region)
LAMPS = Allowed("%s 之一，或灯表如 {price = 1, total = 2}（名称 %s，值为 ESC s n 的字节 n，0-255，须有 total）"
                % ("、".join(VENDOR_LAMPS), "、".join(LAMP_NAMES)),
                "one of %s, or a table like {price = 1, total = 2} (names %s; values the byte n of "
                "ESC s n, 0-255) that says which n lights the total lamp"
                % (", ".join(VENDOR_LAMPS), ", ".join(LAMP_NAMES)), _lamps)
SERIAL_PORT = text(True, "串口名，如 COM4（`python -m host_agent ports` 可列出）",
                   "the name of a serial port, e.g. COM4 (`python -m host_agent ports` lists them)")
BAUDRATE = one_of(BAUDRATES, "串口速率之一：" + "、".join(map(str, BAUDRATES)),
                  "a number: one of the serial speeds " + ", ".join(map(str, BAUDRATES)))


def key(default=None, allowed=None, *, factory=None, secret=False):
    """A config key: its default and what it may hold, declared once beside it."""
    meta = {"allowed": allowed, "secret": secret}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, repr=not secret, metadata=meta)


@dataclass
class ServerSection:
    url: str = key("", pattern(r"https?://[^/\s]+\S*", "支付服务器地址，如 https://pay.example.com",
                               "the payment server's address, e.g. https://pay.example.com"))
    device_id: str = key("", pattern(r"[A-Za-z0-9_-]{1,32}", "收款助手的设备号（1-32 个 A-Z a-z 0-9 _ -）",
                                     "the agent's device id (1-32 of A-Z a-z 0-9 _ -)"))
    device_key: str = key("", pattern(r"[0-9a-fA-F]{64}", "服务器为本设备打印的 64 个十六进制字符",
                                      "the 64 hex characters the server printed for this device"),
                          secret=True)
    body_format: str = key("cbor", one_of(("cbor", "json")))    # "cbor" as devices do, or "json"
    timeout_s: float = key(10.0, seconds(1, 120))
    subject: str = key("", text())  # shown on the payer's bill; empty: the server's default


@dataclass
class BoxSection:
    port: str = key("", SERIAL_PORT)
    baudrate: int = key(115200, BAUDRATE)


@dataclass
class PoleDisplaySection:
    port: str = key("", text())     # needed when the pole display is read (_check_together)
    mode: str = key("sniff", one_of(("passthrough", "sniff")))
    display_port: str = key("", text())
    baudrate: int = key(2400, BAUDRATE)
    protocol: str = key("auto", one_of(PROTOCOLS + ("auto",)))     # "auto": told from the bytes
    lamps: object = key("wintec", LAMPS)    # a vendor name, or a table {price = 1, total = 2, ...}
    lamp_extra_bytes: object = key(None, whole(0, 4, "（ESC s n 之后的字节数）", " of bytes after ESC s n"))
    lamp_order: str = key("auto", one_of(LAMP_ORDERS))     # "auto": learnt at the POS's clears
    encoding: str = key("gbk", Allowed("已知的文字编码，如 gbk", "a known text encoding, e.g. gbk", _encoding))
    labels: list = key(allowed=words(), factory=lambda: list(TOTAL_WORDS))

    def lamp_table(self):
        return self.lamps


@dataclass
class ScreenSection:
    region: list = key(allowed=REGION, factory=list)        # [left, top, width, height]
    interval_s: float = key(0.25, seconds(0.05, 10))
    labels: list = key(allowed=words(), factory=lambda: list(SCREEN_LABELS))
    # the decimals the POS shows in its total; any other number is refused
    decimals: int = key(2, one_of((0, 1, 2), "0、1 或 2（POS 显示的合计有几位小数）",
                                  "0, 1 or 2 (how many decimals the POS shows in its total)"))
    cross_check: bool = key(False, flag())   # also run the other of pole_display and screen: both must agree


@dataclass
class ManualSection:
    window: bool = key(True, flag())
    max_fen: int = key(500000, whole(1, MAX_FEN, "（单位：分）", " of fen"))


@dataclass
class PaymentSection:
    amount_ttl_s: float = key(600.0, seconds(10, 86400))     # an amount not paid within this is forgotten
    prompt_on_amount: bool = key(True, flag())  # the box says 请出示付款码 when the POS shows a new total
    query_wait_s: int = key(20, whole(1, 30, "（秒）", " of seconds"))
    follow_s: float = key(180.0, seconds(10, 3600))    # stop asking about a PAYING order after this
    pay_attempts: int = key(3, whole(1, 10))    # pay sent this many times (same order_no) when the network fails
    retry_s: float = key(2.0, seconds(0.1, 60))


@dataclass
class LogSection:
    file: str = key("", text())     # empty: the terminal only (under pythonw: host_agent.startup)
    level: str = key("INFO", Allowed("、".join(LOG_LEVELS), ", ".join(LOG_LEVELS[:-1]) + " or " + LOG_LEVELS[-1],
                                     lambda v: isinstance(v, str) and v.upper() in LOG_LEVELS))
    max_bytes: int = key(5_000_000, whole(10_000, 1_000_000_000, "（字节；日志满了就换新文件）",
                                          " of bytes (then the log starts a new file)"))
    backups: int = key(5, whole(1, 100, "（保留的旧日志个数）", " of old log files kept"))


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

    @property
    def reads_pole_display(self):
        return self.amount_source == "pole_display" or (self.screen.cross_check and self.amount_source == "screen")

    @property
    def reads_screen(self):
        return self.amount_source == "screen" or (self.screen.cross_check and self.amount_source == "pole_display")

    def describe(self):
        """The config as the installer wrote it, for `run`'s first log lines, key masked."""
        key = self.server.device_key
        return ("server %s as device %s (key ****%s), box on %s, amount from %s"
                % (self.server.url, self.server.device_id, key[-4:], self.box.port or "?", self.amount_source))


_SECTIONS = {"server": ServerSection, "box": BoxSection, "pole_display": PoleDisplaySection,
             "screen": ScreenSection, "manual": ManualSection, "payment": PaymentSection, "log": LogSection}
AMOUNT_SOURCE = one_of(SOURCES)


def shown(value):
    """A value as it is written in TOML, for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[%s]" % ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s = %s" % (k, shown(v)) for k, v in value.items())
    return str(value)


def _name(section, key):
    return "[%s] %s" % (section, key) if section else key


def _problem(section, key, value, allowed, given=True, secret=False):
    if not given:
        now_zh, now_en = "未填写", "not set"
    elif secret:
        length = len(value) if isinstance(value, str) else 0
        now_zh = "现有 %d 个字符（密钥不显示）" % length
        now_en = "not the %d characters given (a secret: not shown)" % length
    else:
        now_zh, now_en = "现为 " + shown(value), "not " + shown(value)
    name = _name(section, key)
    space = " " if allowed.zh[:1].isascii() else ""     # 应为 0.05 到 10, 应为其中之一
    return "%s 应为%s%s，%s" % (name, space, allowed.zh, now_zh), "%s must be %s, %s" % (name, allowed.en, now_en)


def _section(section, cls, table, problems, wrong):
    """The section's dataclass from its TOML table; each mistake appended to problems."""
    known = {f.name: f for f in fields(cls)}
    if not isinstance(table, dict):
        problems.append(("[%s] 应为一节（以 [%s] 开头的若干行），现为 %s" % (section, section, shown(table)),
                         "[%s] must be a section (lines under [%s]), not %s" % (section, section, shown(table))))
        table = {}
    for name in table:
        if name not in known:
            problems.append(_unknown_key(section, name, known))
    values = {}
    for name, f in known.items():
        allowed, secret = f.metadata["allowed"], f.metadata["secret"]
        given = name in table
        value = table[name] if given else getattr(cls(), name)
        if not given and value is None:
            continue                # an optional key left out
        if allowed.accepts(value):
            if given:
                values[name] = value
        else:
            problems.append(_problem(section, name, value, allowed, given, secret))
            wrong.add((section, name))
    return cls(**values)


def _unknown_key(section, name, known):
    if name == "amount_source":
        # TOML puts a key after [section] into that section: the usual slip with amount_source
        return ("[%s] 中不能有 amount_source：它要写在文件开头，第一个 [节] 之前" % section,
                "unknown key 'amount_source' in [%s]: it belongs at the top of the file, before the "
                "first [section]" % section)
    return ("[%s] 中没有 %s 这一项（可用：%s）" % (section, name, "、".join(sorted(known))),
            "unknown key %r in [%s] (known: %s)" % (name, section, ", ".join(sorted(known))))


def parse_config(data, path="<config>"):
    """An AgentConfig from the TOML's data, or ConfigError naming every mistake."""
    problems, wrong = [], set()
    for name in data:
        if name not in _SECTIONS and name != "amount_source":
            problems.append(("没有 %s 这一项设置（可用：amount_source 和 [%s]）" % (name, "]、[".join(_SECTIONS)),
                             "unknown setting %r (known: amount_source and [%s])" % (name, "], [".join(_SECTIONS))))
    config = AgentConfig(path=str(path))
    for name, cls in _SECTIONS.items():
        setattr(config, name, _section(name, cls, data.get(name, {}), problems, wrong))
    if "amount_source" in data:
        if AMOUNT_SOURCE.accepts(data["amount_source"]):
            config.amount_source = data["amount_source"]
        else:
            problems.append(_problem(None, "amount_source", data["amount_source"], AMOUNT_SOURCE))
            wrong.add((None, "amount_source"))
    problems += _check_together(config, wrong)
    if problems:
        raise ConfigError(path, problems)
    return config


def read_config_text(path):
    """The config file's text: UTF-8, with or without a BOM; anything else ConfigError."""
    def refuse(zh, en):
        raise ConfigError(path, [(zh, en)])

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        refuse("找不到配置文件", "no such config file (see docs/host-agent.md for an example)")
    except OSError as exc:
        refuse("无法打开配置文件：%s" % exc.strerror, "cannot open the config file: %s" % exc.strerror)
    save_as = ("请用记事本“另存为”，编码选 UTF-8 后保存", 'open it in Notepad, "Save As" with Encoding: UTF-8')
    if raw.startswith(_UTF16_BOMS) or b"\x00" in raw:
        refuse("配置文件是 UTF-16（记事本的“Unicode”）编码，应为 UTF-8。" + save_as[0],
               "the config file is saved as UTF-16 (Notepad's \"Unicode\"), not UTF-8: " + save_as[1])
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        refuse("配置文件第 %d 行不是 UTF-8 编码（可能是 GBK/ANSI）。%s" % (line, save_as[0]),
               "line %d of the config file is not UTF-8 (GBK or ANSI?): %s" % (line, save_as[1]))


def load_config(path):
    text = read_config_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        zh, en = "不是有效的 TOML：%s" % exc, "not valid TOML: %s" % exc
        if "Unescaped '\\'" in str(exc):     # a Windows path in double quotes
            zh += "（Windows 路径请用 / 或单引号：'C:\\scanpay\\agent.log'）"
            en += " (write Windows paths with / or in single quotes: 'C:\\scanpay\\agent.log')"
        raise ConfigError(path, [(zh, en)]) from None
    return parse_config(data, str(path))


def _check_together(config, wrong):
    """The rules between keys (a source needs its port, the screen its region); a key already
    reported wrong is not blamed again."""
    problems = []

    def bad(keys, zh, en):
        if not any(k in wrong for k in keys):
            problems.append((zh, en))

    source, pole, screen = config.amount_source, config.pole_display, config.screen
    if screen.cross_check and source not in ("pole_display", "screen"):
        bad([(None, "amount_source"), ("screen", "cross_check")],
            "[screen] cross_check = true 是拿客显和屏幕互相核对：amount_source 应为 pole_display 或 screen，现为 %s"
            % shown(source),
            "[screen] cross_check checks the pole display against the screen: amount_source must be one "
            "of them, not %s" % shown(source))
    if config.reads_pole_display and not pole.port:
        if screen.cross_check:
            bad([("pole_display", "port")], "[screen] cross_check 需要 [pole_display] port（以及 [pole_display] 的其余设置）",
                "[screen] cross_check needs [pole_display] port (and the rest of [pole_display])")
        else:
            bad([("pole_display", "port"), (None, "amount_source")],
                "[pole_display] port 应为 POS 写客显数据的串口，未填写",
                "[pole_display] port must name the port the POS writes its display data to, not set")
    if config.reads_pole_display and pole.mode == "passthrough" and not pole.display_port:
        bad([("pole_display", "mode"), ("pole_display", "display_port")],
            "[pole_display] mode = \"passthrough\" 需要 display_port（客显所接的串口），未填写",
            "[pole_display] passthrough needs display_port (the port the customer display is on), not set")
    if config.reads_screen and not screen.region:
        bad([("screen", "region")], "[screen] region 应为 %s，未填写" % REGION.zh,
            "[screen] region must be %s, not set" % REGION.en)
    return problems
