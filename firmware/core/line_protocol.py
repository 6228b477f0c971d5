# The basic box <-> host agent line protocol (docs/basic-box-protocol.md), pure functions:
# one message per line, `<VERB> <seq> [<argument>]`, UTF-8, at most 256 bytes before its `\n` (a `\r`
# before the `\n` ignored and not counted). Both ends run this module: the box (core/basic_box.py) and the
# host agent (host_agent/box_link.py), so the two can never disagree on what a line is.
from core.compat import const

MAX_LINE = const(256)
MAX_SEQ = const(65535)

# agent -> box
AGENT_VERBS = ("PING", "ACK", "SAY", "LED", "BEEP", "STOP")
# box -> agent
BOX_VERBS = ("HELLO", "SCAN", "ACK", "ERR")

BAD_LINE = "bad_line"
UNKNOWN_VERB = "unknown_verb"
TOO_LONG = "too_long"

LED_COLOURS = ("off", "red", "green", "blue", "yellow")


class BadLine(ValueError):
    """A line that does not parse; `seq` is its sequence number when that much was readable, else 0."""

    def __init__(self, reason, seq=0):
        super().__init__(reason)
        self.reason = reason
        self.seq = seq


def _seq(text):
    if not text or len(text) > 5:
        return None
    for ch in text:
        if not "0" <= ch <= "9":
            return None
    n = int(text)
    return n if n <= MAX_SEQ else None


def parse_line(raw, verbs=AGENT_VERBS):
    """(verb, seq, argument) of one line (bytes, without or with its `\\r\\n`); BadLine otherwise.
    `argument` is "" when absent."""
    if len(raw) > MAX_LINE + 2:
        raise BadLine(TOO_LONG)
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > MAX_LINE:
        raise BadLine(TOO_LONG)
    try:
        text = raw.decode()
    except UnicodeError:
        raise BadLine(BAD_LINE)
    verb, _, rest = text.partition(" ")
    seq_text, _, argument = rest.partition(" ")
    seq = _seq(seq_text)
    if seq is None or not verb or not ("A" <= verb[0] <= "Z"):
        raise BadLine(BAD_LINE)
    for ch in verb:
        if not "A" <= ch <= "Z":
            raise BadLine(BAD_LINE, seq)
    if verb not in verbs:
        raise BadLine(UNKNOWN_VERB, seq)
    return verb, seq, argument


def format_line(verb, seq, argument=None):
    """The bytes of one message, `\\n`-terminated; ValueError if it would exceed the line limit."""
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError("seq must be 0..65535")
    text = "%s %d" % (verb, seq) if argument is None or argument == "" else "%s %d %s" % (verb, seq, argument)
    line = text.encode()
    if len(line) > MAX_LINE or "\n" in text or "\r" in text:
        raise ValueError("line too long or with a line break")
    return line + b"\n"


def parse_led(argument):
    """(colour, blink) of a LED command's argument; BadLine when it is not one."""
    words = argument.split()
    if not words or words[0] not in LED_COLOURS or len(words) > 2:
        raise BadLine(BAD_LINE)
    if len(words) == 2 and words[1] != "blink":
        raise BadLine(BAD_LINE)
    return words[0], len(words) == 2


class LineSplitter:
    """Bytes in, complete lines out; a line longer than MAX_LINE is dropped whole and reported as
    b"" (a marker the caller answers `ERR 0 too_long`)."""

    def __init__(self):
        self._buf = b""
        self._overlong = False

    def feed(self, data):
        lines = []
        buf = self._buf + bytes(data)
        while True:
            i = buf.find(b"\n")
            if i < 0:
                break
            line, buf = buf[:i + 1], buf[i + 1:]
            if self._overlong:
                self._overlong = False
                lines.append(b"")
            elif len(line) > MAX_LINE + 2:
                lines.append(b"")
            else:
                lines.append(line)
        if len(buf) > MAX_LINE + 1:
            buf = b""
            self._overlong = True
        self._buf = buf
        return lines
