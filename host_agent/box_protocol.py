"""The basic box's USB serial line protocol (docs/basic-box-protocol.md), as pure functions.

One message per line, `<VERB> <seq> [<argument>]`, UTF-8, at most 256 bytes, `\\n` ended (`\\r` before
it ignored). `parse_line(b"SCAN 2 1345...\\r\\n") == Message("SCAN", 2, "1345...")`.
"""
from dataclasses import dataclass

MAX_LINE = 256
MAX_SEQ = 65535

# box -> agent
HELLO, SCAN, ACK, ERR = "HELLO", "SCAN", "ACK", "ERR"
# agent -> box
PING, SAY, LED, BEEP, STOP = "PING", "SAY", "LED", "BEEP", "STOP"

BOX_VERBS = (HELLO, SCAN, ACK, ERR)
LED_COLOURS = ("off", "red", "green", "blue", "yellow")


class BadLine(ValueError):
    def __init__(self, reason, seq=0):
        super().__init__(reason)
        self.reason = reason
        self.seq = seq


@dataclass(frozen=True)
class Message:
    verb: str
    seq: int
    argument: str = ""

    def encode(self):
        return format_line(self.verb, self.seq, self.argument)


def format_line(verb, seq, argument=""):
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError("seq must be 0..65535")
    if "\n" in argument or "\r" in argument:
        raise ValueError("an argument is one line")
    line = ("%s %d %s" % (verb, seq, argument) if argument else "%s %d" % (verb, seq)).encode("utf-8") + b"\n"
    if len(line) > MAX_LINE:
        raise ValueError("line longer than %d bytes" % MAX_LINE)
    return line


def parse_line(raw):
    """bytes of one line (with or without its ending) -> Message; BadLine(reason, seq) otherwise."""
    line = raw.rstrip(b"\n")
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) + 1 > MAX_LINE:
        raise BadLine("too_long")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine("bad_line") from None
    verb, _, rest = text.partition(" ")
    seq_text, _, argument = rest.partition(" ")
    if not seq_text.isdigit() or not seq_text.isascii() or int(seq_text) > MAX_SEQ:
        raise BadLine("bad_line")
    seq = int(seq_text)
    if not verb.isalpha() or not verb.isupper():
        raise BadLine("bad_line", seq)
    return Message(verb, seq, argument)


class LineSplitter:
    """Bytes in, complete lines out; a line over MAX_LINE is cut off and reported as too long."""

    def __init__(self):
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data):
        self._buf += data
        lines = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
                    self._overflow = True
                break
            line = bytes(self._buf[:end + 1])
            del self._buf[:end + 1]
            if self._overflow:
                self._overflow = False
                lines.append(b"\x00" * (MAX_LINE + 1))     # parse_line reports it as too_long
            else:
                lines.append(line)
        return lines
