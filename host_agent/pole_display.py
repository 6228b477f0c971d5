"""What the POS writes to its customer pole display (客显), read back as the amount due by modelling
the display itself.

Pure: `PoleDisplayReader.feed(bytes)` applies each command to a small virtual display exactly as the
display would (clear, cursor moves, line overwrite, lamps, text) and returns the totals that appeared
(`ShownTotal`), however the bytes were split into reads and whatever the pauses: a total is reported
when the display state says one is shown, never on a quiet gap. The serial side (passthrough or
sniff) is `host_agent.sources.pole_display`. Protocols (shared/reference/hardware.md section 3):

- ``led8n``: 8-digit LED. ``ESC Q A <digits> CR`` shows a value; lamps (price / total / collect /
  change) by ``STX L d1d2d3d4`` or by the vendor's ``ESC s n`` (table below, or from config).
  The total is the value that belongs to the lit "total" lamp: with the usual lamp-then-value order
  the value written after the lamp lit (never the price still shown when it lit); with value-then-lamp
  the value written just before. Unless the config names it, the order is learnt: what follows
  ``FF``/``ESC @`` first and what precedes it last, which pairing makes the prices add up to the
  total or cash - total = change. No LED total before the first sign, nor while the signs disagree.
- ``cd5220`` / ``epson`` / plain text: 2 x 20 characters. ``ESC Q A|B text CR`` sets a line,
  ``ESC l x y`` / ``US $ x y`` move the cursor, text is written at the cursor (overwrite, vertical or
  horizontal scroll: ``US MD1..3``, ``ESC DC1..3``), ``CAN`` clears the cursor line, ``ESC = n`` selects
  the device (1 = printer: those bytes are not for the display). One text model serves all three.

Text totals: the number right after a total label (whole words: TOTAL, 应收, 合计, ... never SUBTOTAL,
小计, TOTAL QTY), or a bare number on the line below a line holding only a total label, or a bare
number written while a "total" lamp is lit. The number must be written after its label (or lamp), and
complete: its line no longer being written, or filled, or ending in two decimals with nothing after.
Two different totals shown at once are no total. Text is decoded with the configured encoding
(Chinese pole displays speak GB2312/GBK).

`protocol="auto"` tells LED from text by the bytes (lamp commands vs. text and cursor commands) and
refuses to read a stream that has both. A total equal to the last one reported is new only after the
display showed some other amount (a price, the cash, the change): a redraw is not a new sale.
"""
import codecs
import logging
import re
from collections import deque, namedtuple

from host_agent.amount import TOTAL_LABELS, format_fen, parse_led_digits

log = logging.getLogger(__name__)

ESC, STX, US, GS, FS = 0x1B, 0x02, 0x1F, 0x1D, 0x1C
FF, CAN, CR, LF, BS, HT, HOME, SOH = 0x0C, 0x18, 0x0D, 0x0A, 0x08, 0x09, 0x0B, 0x01

PROTOCOLS = ("led8n", "cd5220", "epson")
LAMP_NAMES = ("price", "total", "collect", "change")
LAMP_ORDERS = ("auto", "lamp_first", "value_first")

# `ESC s n` differs by vendor: n per lamp, and how many bytes follow n.
VENDOR_LAMPS = {
    "wintec": ({"price": 1, "total": 2, "collect": 3, "change": 4}, 0),
    "partner": ({"price": 2, "total": 3, "collect": 4, "change": 5}, 1),      # ESC s n 01
    "ascii": ({"price": 0x31, "total": 0x32, "collect": 0x33, "change": 0x34}, 0),
}

# 实收金额 is what the customer handed over on most Chinese displays (the cash), not the amount due
TOTAL_WORDS = tuple(label for label in TOTAL_LABELS if label != "实收金额")
# labels of other amounts: a total number may be followed on its line only by one of these
OTHER_WORDS = ("SUBTOTAL", "SUB", "QTY", "QUANTITY", "PCS", "CHANGE", "CASH", "PAID", "TENDER", "PRICE",
               "DISCOUNT", "DISC", "小计", "数量", "件数", "找零", "单价", "收款", "实收", "实收金额", "现金",
               "付款", "优惠", "折扣")
NEUTRAL_WORDS = ("RMB", "CNY", "YUAN", "元", "金额")     # units that never change what a number is

ShownTotal = namedtuple("ShownTotal", "amount_fen offset")      # offset: stream bytes read when it showed

_MAX_COMMAND = 80       # an ESC Q line longer than this lost its CR: drop it
_LED_DIGITS = frozenset(b"0123456789.-, ")
_VOTES = 8              # signs of the LED lamp order remembered (all must agree)
_STARTS = frozenset((ESC, STX, US, FF, CR))     # bytes that begin a command: never an argument of a broken one
_PRINTER_ESC = frozenset(b"!aEdJ-")      # ESC ! font, a align, E bold, d / J feed, - underline


# ---------------------------------------------------------------------------------------- commands
def lex(buf, lamp_extra=0):
    """One display command from the front of buf -> (command tuple, bytes used); (None, 0) while it
    is incomplete. Every protocol's commands at once: their byte sequences do not collide."""
    b = buf[0]
    n = len(buf)
    if b == ESC:
        if n < 2:
            return None, 0
        c = buf[1]
        if c == 0x40:                                   # ESC @ initialise
            return ("init",), 2
        if c == 0x51:                                   # ESC Q A/B text CR
            if n < 3:
                return None, 0
            end = buf.find(b"\r", 3, _MAX_COMMAND)
            lost = buf.find(b"\x1b", 2, end if end >= 0 else _MAX_COMMAND)
            if lost >= 0:                               # the next command began: this one lost its CR
                return ("junk",), lost
            if end < 0:
                return (("junk",), 3) if n >= _MAX_COMMAND else (None, 0)
            return ("line", buf[2], bytes(buf[3:end])), end + 1
        if c == 0x73:                                   # ESC s n [extra]: a lamp
            need = 3 + lamp_extra
            return (("lamp", buf[2], bytes(buf[3:need])), need) if n >= need else (None, 0)
        if c == 0x6C:                                   # ESC l x y cursor (CD5220, 1-based)
            return (("cursor", buf[2], buf[3], "cd5220"), 4) if n >= 4 else (None, 0)
        if c == 0x3D:                                   # ESC = n device select
            return (("select", buf[2]), 3) if n >= 3 else (None, 0)
        if c in (0x11, 0x12, 0x13):                     # ESC DC1..3 overwrite / vertical / horizontal
            return ("mode", c - 0x10, "cd5220"), 2
        if c in (0x74, 0x52, 0x25, 0x26):               # char table, intl set, ...: one argument
            return (("setting",), 3) if n >= 3 else (None, 0)
        if c in _PRINTER_ESC:                           # a receipt printer's command: never a display's
            return (("printer",), 3) if n >= 3 else (None, 0)
        return ("setting",), 1 if c in _STARTS else 2
    if b == STX:
        if n < 2:
            return None, 0
        if buf[1] == 0x4C:                              # STX L d1d2d3d4 lamps
            return (("lamps", bytes(buf[2:6])), 6) if n >= 6 else (None, 0)
        if buf[1] == 0x42:                              # STX B n baud
            return (("baud",), 3) if n >= 3 else (None, 0)
        return ("control", b), 1
    if b == US:
        if n < 2:
            return None, 0
        c = buf[1]
        if c == 0x24:                                   # US $ x y cursor (1-based)
            return (("cursor", buf[2], buf[3], "epson"), 4) if n >= 4 else (None, 0)
        if c in (0x01, 0x02, 0x03):                     # US MD1..3
            return ("mode", c, "epson"), 2
        if c == 0x42:                                   # cursor to the bottom line's left end
            return ("cursor", 1, 2, "epson"), 2
        if c in (0x43, 0x45, 0x58, 0x2A, 0x3A, 0x40, 0x72, 0x76):   # one-argument settings
            return (("us_setting",), 3) if n >= 3 else (None, 0)
        return (("us_setting",), 2) if c not in _STARTS else (("control", b), 1)
    if b in (GS, FS):                                   # printer command sets (cut, barcode, Chinese mode)
        if n < 2:
            return None, 0
        return (("printer",), 2) if buf[1] not in _STARTS else (("control", b), 1)
    if b == FF:
        return ("clear",), 1
    if b in (CAN, CR, LF, BS, HT, HOME):
        return ("move", b), 1
    if b >= 0x20 and b != 0x7F:
        return ("text", b), 1
    return ("control", b), 1


def evidence(cmd):
    """Which display family a command proves: "led", "text", or None (either could send it)."""
    kind = cmd[0]
    if kind in ("lamp", "lamps", "baud"):
        return "led"
    if kind in ("text", "cursor", "mode", "us_setting"):
        return "text"
    if kind == "line" and (cmd[1] != 0x41 or not set(cmd[2]) <= _LED_DIGITS):
        return "text"
    return None


# ---------------------------------------------------------------------------------------- LED model
class LedDisplay:
    """An 8-digit LED display: one value, and which lamp is lit."""

    def __init__(self, lamp_order="auto"):
        self.lamp_order = lamp_order
        self.value = ""
        self.lamp = None
        self.value_seq = self.lamp_seq = self.prev_lamp_seq = 0
        self._votes = deque(maxlen=_VOTES)
        # the first / last lamp or value since the last clear ("" before any clear: the agent may have
        # started listening halfway through a sale)
        self._first, self._last = "", None
        self._owned = {"lamp_first": {}, "value_first": {}}     # per order: lamp -> the amount it showed
        self._prices = {"lamp_first": [], "value_first": []}    # per order: the prices of this sale

    @property
    def order(self):
        if self.lamp_order != "auto":
            return self.lamp_order
        if self._votes and all(vote == self._votes[0] for vote in self._votes):
            return self._votes[0]
        return None                         # no sign yet, or the signs disagree

    def _clear_boundary(self):
        # lamp-first POS: a clear is followed by a lamp and preceded by a value; value-first: the reverse
        if self._last is not None:
            self._votes.append("lamp_first" if self._last == "value" else "value_first")
        self._first = self._last = None
        for order in self._owned:
            self._owned[order].clear()
            self._prices[order].clear()

    def _pair(self, order, lamp, amount_fen):
        # the order whose reading makes the prices add up to the total, or cash - total = change, is
        # the POS's (the other order pairs each lamp with its neighbour's value: sums that never fit)
        owned, prices = self._owned[order], self._prices[order]
        if lamp == "price":
            if owned:
                owned.clear()
                prices.clear()
            prices.append(amount_fen)
            return
        owned[lamp] = amount_fen
        # two prices at least: with one, the wrong order can pair the total with an exact cash payment
        if lamp == "total" and len(prices) > 1 and None not in prices and sum(prices) == amount_fen:
            self._votes.append(order)
        if lamp == "change" and amount_fen and None not in (owned.get("total"), owned.get("collect")):
            if owned["collect"] - owned["total"] == amount_fen:
                self._votes.append(order)
        if lamp == "change":
            owned.clear()
            prices.clear()

    def _saw(self, what):
        if self._first is None:
            self._first = what
            self._votes.append("lamp_first" if what == "lamp" else "value_first")
        self._last = what

    def apply(self, cmd, seq, lamp=None):
        kind = cmd[0]
        if kind in ("init", "clear"):
            self._clear_boundary()
            self.value, self.lamp, self.value_seq = "", None, seq
        elif kind == "move" and cmd[1] == CAN:
            self.value, self.value_seq = "", seq
        elif kind == "line" and cmd[1] == 0x41:
            self.value = cmd[2].decode("ascii", "replace")
            self.value_seq = seq
            if self._last == "lamp":
                self._pair("lamp_first", self.lamp, parse_led_digits(self.value))
            self._saw("value")
        elif kind in ("lamp", "lamps"):
            if self._last == "value":
                self._pair("value_first", lamp, parse_led_digits(self.value))
            self.lamp = lamp
            self.prev_lamp_seq, self.lamp_seq = self.lamp_seq, seq
            self._saw("lamp")

    def reading(self, lamp_ok=True):
        """(total fen or None, other amounts shown as (fen, when written), why a total-looking value is
        not taken); lamp_ok: the lamp commands are known to be the configured table's."""
        amount_fen = parse_led_digits(self.value)
        if amount_fen is None or self.lamp is None:
            return None, (), ""
        order = self.order
        if order is None:
            why = "" if self.lamp != "total" else \
                "lamp then value, or value then lamp? not known until the POS clears its display, shows " \
                "two prices and their total, or cash and change (or set lamp_order)"
            return None, (), why
        if order == "lamp_first":
            owned = self.value_seq > self.lamp_seq
        else:
            owned = self.lamp_seq > self.value_seq > self.prev_lamp_seq
        if not owned:
            return None, (), ""
        if self.lamp != "total":
            return None, ((amount_fen, self.value_seq),), ""
        if not lamp_ok:
            return None, (), "the lamp commands were not yet seen whole, or are not the configured table's"
        return amount_fen, (), ""


# ---------------------------------------------------------------------------------------- text model
_FOLD = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                       **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
                       **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
                       "￥": "¥", "，": ",", "．": ".", "：": ":", "（": "(", "）": ")", "／": "/"})
_TOKEN = re.compile(r"(?P<number>\d(?:[\d,.]*\d)?)"
                    r"|(?P<word>[A-Za-z]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)"
                    r"|(?P<minus>-)"
                    r"|(?P<other>[^\s:=()\[\]/.,¥$#])")
_MONEY = re.compile(r"(?:0|[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*)(?:\.(\d{1,2}))?")


class _Number:
    __slots__ = ("amount_fen", "decimals", "start", "end", "seq", "kind", "label_seq", "after", "next_start",
                 "at_edge")


class _Row:
    """What one display line says: its numbers, each with what stands before and after it."""

    def __init__(self, numbers, label_only, label_seq, word_ends):
        self.numbers = numbers          # [_Number]
        self.label_only = label_only    # the line is a total label and nothing else
        self.label_seq = label_seq
        self.word_ends = word_ends      # where each word that is not a unit (元, RMB) ends


class TextDisplay:
    """A 2 x 20 character display (CD5220, Epson / ESC-POS, plain text)."""
    columns = 20
    rows = 2

    def __init__(self, encoding="gbk", labels=TOTAL_WORDS):
        self.encoding = encoding
        self._labels = frozenset(_key(label) for label in labels)
        self._others = frozenset(_key(word) for word in OTHER_WORDS) - self._labels
        self._neutral = frozenset(NEUTRAL_WORDS)
        self.cells = [bytearray(b" " * self.columns) for _ in range(self.rows)]
        self.seqs = [[0] * self.columns for _ in range(self.rows)]
        self.x = self.y = 0
        self.open = [True] + [False] * (self.rows - 1)      # rows the cursor is writing into
        self.mode = 1                                       # 1 overwrite, 2 vertical, 3 horizontal scroll
        self.lamp = None
        self.lamp_seq = 0
        self._rows = [None] * self.rows                     # analysis cache

    @property
    def text_lines(self):
        return [bytes(line).decode(self.encoding, "replace").strip() for line in self.cells]

    # ---------------------------------------------------------------- applying commands
    def _blank(self, row, seq):
        self.cells[row][:] = b" " * self.columns
        self.seqs[row] = [seq] * self.columns
        self._rows[row] = None

    def _goto(self, x, y):
        self.x, self.y = x, y
        self.open = [row == y for row in range(self.rows)]

    def _down(self, seq):
        if self.y < self.rows - 1:
            self._goto(self.x, self.y + 1)
        elif self.mode == 2:                                # vertical scroll: lines move up
            self.cells.append(self.cells.pop(0))
            self.seqs.append(self.seqs.pop(0))
            self._rows.append(self._rows.pop(0))
            self._blank(self.rows - 1, seq)
            self._goto(self.x, self.y)
        else:                                               # overwrite: back to the top line
            self._goto(self.x, 0)

    def _put(self, byte, seq):
        if self.x >= self.columns:
            if self.mode == 3:                              # horizontal scroll: the line moves left
                line, seqs = self.cells[self.y], self.seqs[self.y]
                del line[0], seqs[0]
                line.append(0x20)
                seqs.append(seq)
                self.x = self.columns - 1
            else:
                self._goto(0, self.y)
                self._down(seq)
        self.cells[self.y][self.x] = byte
        self.seqs[self.y][self.x] = seq
        self._rows[self.y] = None
        self._goto(self.x + 1, self.y)

    def apply(self, cmd, seq, lamp=None):
        kind = cmd[0]
        if kind in ("init", "clear"):
            for row in range(self.rows):
                self._blank(row, seq)
            self._goto(0, 0)
            if kind == "init":
                self.mode, self.lamp = 1, None
        elif kind == "text":
            self._put(cmd[1], seq)
        elif kind == "line" and cmd[1] in (0x41, 0x42):
            row = cmd[1] - 0x41
            self.cells[row][:] = cmd[2][:self.columns].ljust(self.columns, b" ")
            self.seqs[row] = [seq] * self.columns
            self._rows[row] = None
            self.open[row] = False
        elif kind == "cursor":
            self._goto(min(max(cmd[1] - 1, 0), self.columns - 1), min(max(cmd[2] - 1, 0), self.rows - 1))
        elif kind == "mode":
            self.mode = cmd[1]
        elif kind == "move":
            code = cmd[1]
            if code == CAN:
                self._blank(self.y, seq)
                self._goto(0, self.y)
            elif code == CR:
                self._goto(0, self.y)
            elif code == LF:
                self._down(seq)
            elif code == BS:
                self._goto(max(0, self.x - 1), self.y)
            elif code == HT:
                self._goto(min(self.columns, self.x + 1), self.y)
            elif code == HOME:
                self._goto(0, 0)
        elif kind in ("lamp", "lamps"):
            self.lamp, self.lamp_seq = lamp, seq

    def distrust(self):
        """What was written so far is of unknown origin: it stays on the display as characters that
        never read as a label or an amount (nor let one beside them count) until overwritten."""
        for row in range(self.rows):
            for x, seq in enumerate(self.seqs[row]):
                if seq:
                    self.cells[row][x] = 0x7F
            self._rows[row] = None

    # ---------------------------------------------------------------- reading the display
    def _row(self, row):
        if self._rows[row] is None:
            self._rows[row] = self._analyse(bytes(self.cells[row]), self.seqs[row])
        return self._rows[row]

    def _analyse(self, raw, seqs):
        text, spans = _decode(raw, self.encoding)
        numbers, words, word_spans, after = [], [], [], []
        since, minus = 0, False                             # words[since:] stand before the next number
        for match in _TOKEN.finditer(text.translate(_FOLD)):
            kind = match.lastgroup
            start, end = spans[match.start()][0], spans[match.end() - 1][1]
            if kind == "number":
                if numbers:
                    numbers[-1].next_start = start
                number = _Number()
                found = _MONEY.fullmatch(match.group())
                number.amount_fen = None if (minus or not found) else _fen(found)
                number.decimals = len(found.group(1) or "") if found else -1
                number.start, number.end = start, end
                number.seq = min(seqs[start:end])
                number.kind = self._label_kind(words[since:])
                number.label_seq = max((max(seqs[a:b]) for a, b in word_spans[since:]), default=0)
                number.after, number.next_start = [], None
                # a number at the right edge may go on at the next line's start (the display wraps)
                number.at_edge = not raw[end:].strip(b".,")
                numbers.append(number)
                after, since, minus = number.after, len(words), False
            elif kind == "minus":
                minus = True
            else:
                word = match.group().upper() if kind == "word" else "\x00"
                words.append(word)
                word_spans.append((start, end))
                after.append((word, end))
                minus = False
        label_only = not numbers and bool(words) and self._label_kind(words) == "total"
        label_seq = max((max(seqs[a:b]) for a, b in word_spans), default=0)
        word_ends = [end for word, (_, end) in zip(words, word_spans) if word not in self._neutral]
        return _Row(numbers, label_only, label_seq, word_ends)

    def _strip(self, words):
        kept = []
        for word in words:
            if word in self._neutral:
                continue
            if word not in self._labels and word.endswith("金额") and word[:-2] in self._labels:
                word = word[:-2]                            # 合计金额 = 合计
            kept.append(word)
        return kept

    def _label_kind(self, words):
        """"bare" (no words), "total" (the words are total labels, whole), or "other"."""
        words = self._strip(words)
        if not words:
            return "bare"
        # the words must split into whole labels: "AMOUNT DUE", "TOTAL DUE"; never "TOTAL QTY"
        ends = {0}
        for i in range(1, len(words) + 1):
            if any(j in ends and " ".join(words[j:i]) in self._labels for j in range(i)):
                ends.add(i)
        return "total" if len(words) in ends else "other"

    def _followed_ok(self, number, upto):
        """Only units, or another amount's label, after a total: "TOTAL 12.50 元", "TOTAL 12.50 CHANGE
        7.50"; never "TOTAL 3 ITEMS 12.50" or "合计 3 件". upto: cells written so far on an open line."""
        words = self._strip([word for word, end in number.after if end <= upto])
        if not words:
            return True
        another = number.next_start is not None and number.next_start < upto
        return another and " ".join(words) in self._labels | self._others

    def _written_upto(self, row):
        """Cells of the row that hold what the POS is writing now (the rest is older, or to come; a
        character that reaches past them, half a GBK character, is not written yet)."""
        if not self.open[row] or (row == self.y and self.x >= self.columns):
            return self.columns
        return self.x

    def reading(self, lamp_ok=True):
        """(total fen or None, other amounts shown as (fen, when written), why a total-looking value is
        not taken).

        A number counts when it is all there: its line is not being written, or it is full, or the
        number is behind the cursor with two decimals (a third never follows); and a number that
        touches the right edge with fewer than two decimals may go on at the next line's start."""
        totals, others = set(), set()
        for row in range(self.rows):
            analysed = self._row(row)
            above = self._row(row - 1) if row else None
            upto = self._written_upto(row)
            for number in analysed.numbers:
                if number.amount_fen is None:
                    continue
                if upto < self.columns and not (number.end <= upto and number.decimals == 2):
                    continue
                if number.at_edge and number.decimals < 2:
                    continue
                # a total's number is new only when written after its label (or lamp): the price still
                # shown under a new label is no amount at all until the POS writes the total there
                written_after = None
                if number.kind == "total":
                    if self._followed_ok(number, upto):
                        written_after = number.label_seq
                elif number.kind == "bare" and len(analysed.numbers) == 1 \
                        and not any(end <= upto for end in analysed.word_ends):
                    if above is not None and above.label_only:
                        written_after = above.label_seq     # the label above, the number below
                    elif self.lamp == "total" and lamp_ok:
                        written_after = self.lamp_seq
                if written_after is None:
                    others.add((number.amount_fen, number.seq))
                elif number.seq >= written_after:
                    totals.add(number.amount_fen)
        if len(totals) > 1:
            return None, others, "different totals shown at once (%s)" % ", ".join(
                format_fen(t) for t in sorted(totals))
        return (totals.pop() if totals else None), others, ""


def _key(label):
    return " ".join(label.upper().split())


def _fen(found):
    whole, _, cents = found.group().replace(",", "").partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0")) or None


def _decode(raw, encoding):
    """The text of a line of display cells, and for each character the cells (start, end) it uses."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    chars, spans, start = [], [], 0
    for i in range(len(raw)):
        out = decoder.decode(raw[i:i + 1])
        for ch in out:
            chars.append(ch)
            spans.append((start, i + 1))
        if out:
            start = i + 1
    for ch in decoder.decode(b"", True):                # a character cut off at the line's end
        chars.append(ch)
        spans.append((min(start, len(raw) - 1), len(raw)))
    return "".join(chars), spans


# ---------------------------------------------------------------------------------------- the reader
class PoleDisplayReader:
    """Bytes the POS writes to its pole display in, totals the display shows out."""

    def __init__(self, protocol="auto", *, lamps="wintec", lamp_extra_bytes=None, lamp_order="auto",
                 encoding="gbk", labels=TOTAL_WORDS):
        """protocol: one of PROTOCOLS, or "auto" (told from the bytes); lamps: a vendor name from
        VENDOR_LAMPS or a {lamp name: n} table; lamp_extra_bytes: bytes after n in `ESC s n` (the
        vendor's when None); lamp_order: "lamp_first", "value_first" or "auto" (learnt)."""
        if protocol != "auto" and protocol not in PROTOCOLS:
            raise ValueError("pole display protocol must be one of %s, or auto" % ", ".join(PROTOCOLS))
        if lamp_order not in LAMP_ORDERS:
            raise ValueError("lamp order must be one of %s" % ", ".join(LAMP_ORDERS))
        if isinstance(lamps, str):
            if lamps not in VENDOR_LAMPS:
                raise ValueError("unknown lamp vendor %r (known: %s)" % (lamps, ", ".join(VENDOR_LAMPS)))
            table, extra = VENDOR_LAMPS[lamps]
            self._vendor = lamps
        else:
            table, extra, self._vendor = dict(lamps), 0, None
        self._lamp_by_n = {int(n): name for name, n in table.items()}
        self._lamp_extra = extra if lamp_extra_bytes is None else int(lamp_extra_bytes)
        # a vendor table whose command shape does not match the bytes is the wrong table: Partner's
        # price lamp is Wintec's total. Lamps count once one command was seen whole and well formed.
        self._lamp_check = "unverified" if (self._vendor or self._lamp_extra == 0) else "ok"
        self._lamp_unchecked = False        # the last command was a lamp and its next byte is not seen yet
        self.protocol = protocol
        self.led = LedDisplay(lamp_order) if protocol in ("auto", "led8n") else None
        self.text = TextDisplay(encoding, labels) if protocol != "led8n" else None
        self._evidence = {}                 # family -> the command kind that showed it
        self._buf = bytearray()
        self._to_display = True
        self._synced = False                # a display command seen: what came before may be a fragment
        self._printing = False              # printer commands seen: the bytes are a receipt
        self._seq = 0
        self.offset = 0                     # bytes consumed
        self._shown = None                  # the total the display shows now
        self._reported = None
        self._armed = True                  # another amount was shown since the last report
        self._beside = set()                # the other amounts shown with the last total reported
        self._reported_seq = 0
        self._noted = set()                 # why totals were not taken, logged since the last total

    @property
    def family(self):
        """"led", "text", or None while the protocol is not known (or the bytes are ambiguous)."""
        if self.protocol != "auto":
            return "led" if self.protocol == "led8n" else "text"
        if len(self._evidence) == 1:
            return next(iter(self._evidence))
        return None

    def feed(self, data):
        """Bytes the POS wrote (split anywhere) -> [ShownTotal] that appeared on the display."""
        shown = []
        self._buf += data
        while self._buf:
            cmd, used = lex(self._buf, self._lamp_extra)
            if cmd is None:
                break                       # a command is incomplete: wait for more bytes
            del self._buf[:used]
            self.offset += used
            self._step(cmd, shown)
        return shown

    def _step(self, cmd, shown):
        kind = cmd[0]
        if self._lamp_unchecked:
            self._lamp_unchecked = False
            self._check_lamp(cmd != ("control", SOH))
        if kind == "select":                        # ESC = n: 1 printer, 2 display, 3 both
            self._to_display = cmd[1] != 1
            if self._to_display:
                self._printing, self._synced = False, True
            return
        if kind == "printer" and self._to_display and not self._printing:
            # a receipt passing through the display to the printer (the ESC = 1 before it not heard):
            # nothing is read until the POS selects the display again
            self._printing = True
            self._note("receipt printer commands: not for the display (until ESC = 2 or a display command)")
        if self._printing and kind in ("clear", "line", "cursor", "lamp", "lamps"):
            self._printing = False          # a command only a display takes: the receipt is over
        if not self._to_display or self._printing:
            return
        self._seq += 1
        if not self._synced:
            # the agent may have started listening halfway through a command or a receipt: nothing
            # counts before a command only a display gets
            self._synced = kind in ("clear", "line", "cursor", "lamp", "lamps") or \
                (kind == "move" and cmd[1] in (CR, CAN))
            if self._synced and self.text is not None:
                self.text.distrust()        # "TOTAL 9.00" may be the tail of "SUBTOTAL 9.00"
        if kind == "init":
            if len(self._evidence) > 1:
                self._evidence.clear()      # the POS starts afresh: judge its bytes again
        elif self.protocol == "auto" and self._synced:
            family = evidence(cmd)
            if family and family not in self._evidence:
                self._evidence[family] = kind
                self._log_protocol()
        lamp = self._lamp(cmd) if kind in ("lamp", "lamps") else None
        for model in (self.led, self.text):
            if model is not None:
                model.apply(cmd, self._seq, lamp)
        self._settle(shown)

    def _lamp(self, cmd):
        if cmd[0] == "lamps":
            lit = [name for name, flag in zip(LAMP_NAMES, cmd[1]) if flag == 0x31]
            if set(cmd[1]) <= {0x30, 0x31}:
                self._check_lamp(True)              # STX L needs no vendor table
            return lit[0] if len(lit) == 1 else None
        name = self._lamp_by_n.get(cmd[1])
        if name is None:
            self._note("ESC s %d is in no lamp of the table %r: check [pole_display] lamps"
                       % (cmd[1], self._vendor or self._lamp_by_n))
        if self._vendor == "partner":
            self._check_lamp(cmd[2] == b"\x01")
        elif self._lamp_extra == 0:
            self._lamp_unchecked = True
        return name

    def _check_lamp(self, well_formed):
        if self._lamp_check == "wrong":
            return
        if well_formed:
            self._lamp_check = "ok"
        else:
            self._lamp_check = "wrong"
            log.warning("pole display: the lamp commands do not have the shape of lamps = %r (ESC s n%s): "
                        "no LED totals until the config names the display's table",
                        self._vendor or "table", " 01" if self._lamp_extra else "")

    def _settle(self, shown):
        family = self.family
        model = self.led if family == "led" else self.text if family == "text" else None
        if model is None or not self._synced:
            total, others, why = None, (), ""
            if len(self._evidence) > 1:
                why = "the bytes look like both an LED display (%s) and a text display (%s): set protocol" % (
                    self._evidence.get("led"), self._evidence.get("text"))
                self._note(why, logging.WARNING)
            elif any(m is not None and m.reading()[0] is not None for m in (self.led, self.text)):
                why = "no display command heard yet (the agent started listening halfway)" if not self._synced \
                    else "the display protocol is not known yet (no lamp, text or cursor command seen)"
        else:
            total, others, why = model.reading(self._lamp_check == "ok")
        if why:
            self._note(why)
        if total is not None and total != self._shown:
            if total != self._reported or self._armed:
                shown.append(ShownTotal(total, self.offset))
                self._reported, self._armed = total, False
                self._noted.clear()
                self._beside = {amount for amount, _ in others}
                self._reported_seq = self._seq
                log.debug("pole display shows the total %s", format_fen(total))
        # a price, the cash, the change written since: the same total again is a new sale (not the total
        # itself left without its label, nor the subtotal beside it redrawn)
        if total is None and any(seq > self._reported_seq and amount not in self._beside
                                 for amount, seq in others):
            self._armed = True
        self._shown = total

    def _note(self, why, level=logging.INFO):
        if why not in self._noted:          # once between two totals
            self._noted.add(why)
            log.log(level, "pole display: no total taken: %s", why)

    def _log_protocol(self):
        family = self.family
        if family:
            log.info("pole display: the POS writes %s", "an LED 8-digit display (led8n)" if family == "led"
                     else "a text display (cd5220 / epson / plain text)")
