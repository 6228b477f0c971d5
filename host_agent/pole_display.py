"""What the POS writes to its customer pole display (客显), parsed back into the amount due.

Pure: `PoleDisplayParser.feed(bytes)` takes the bytes however they were split into reads, and
`idle()` (the line went quiet) returns the total that just appeared on the display, if any. The
serial side (passthrough or sniff) is `host_agent.sources.pole_display`. Protocols
(shared/reference/hardware.md section 3):

- ``led8n``: 8-digit LED. ``ESC Q A <digits> CR`` shows a value; lamps (price / total / collect /
  change) by ``STX L d1d2d3d4`` or by the vendor's ``ESC s n`` (table below, or from config).
  The total is the value shown while the "total" lamp is lit.
- ``cd5220``: 2 x 20 characters. ``ESC Q A text CR`` upper line, ``ESC Q B text CR`` lower line,
  ``ESC l x y`` cursor, ``ESC = n`` device select (1 = printer: those bytes are not for the display).
- ``epson``: ESC/POS display commands (``ESC @``, ``US $ x y`` cursor, ``US MD1..3``), text written plainly.

In the text modes the total is the number after a total label ("TOTAL", "应收", "合计", ...) on the
same line or on the line below, or any number shown while a "total" lamp is lit. Text is decoded with
the configured encoding (Chinese pole displays speak GB2312/GBK).

The display is read when the POS stops writing (`idle()`, a quiet gap on the line): a POS redraws its
display in one burst (lamp then value, or value then lamp; clear then both lines), so only the
screen at the end of a burst is what the customer sees. Halfway states never become amounts, and a
redraw of the same total is not a new sale. For a POS that never pauses, `peek()` and `take()` let
the caller accept a total seen twice some time apart.
"""
from host_agent.amount import TOTAL_LABELS, find_total, has_label, parse_led_digits

ESC, STX, US = 0x1B, 0x02, 0x1F
FF, CAN, CR, LF, BS, HT, HOME = 0x0C, 0x18, 0x0D, 0x0A, 0x08, 0x09, 0x0B

PROTOCOLS = ("led8n", "cd5220", "epson")
LAMP_NAMES = ("price", "total", "collect", "change")

# `ESC s n` differs by vendor: n per lamp, and how many bytes follow n.
VENDOR_LAMPS = {
    "wintec": ({"price": 1, "total": 2, "collect": 3, "change": 4}, 0),
    "partner": ({"price": 2, "total": 3, "collect": 4, "change": 5}, 1),      # ESC s n 01
    "ascii": ({"price": 0x31, "total": 0x32, "collect": 0x33, "change": 0x34}, 0),
}

_MAX_COMMAND = 80       # an ESC Q line longer than this lost its CR: drop it


class PoleDisplayParser:
    columns = 20
    rows = 2

    def __init__(self, protocol="led8n", *, lamps="wintec", lamp_extra_bytes=None, encoding="gbk",
                 labels=TOTAL_LABELS):
        """lamps: a vendor name from VENDOR_LAMPS or a {lamp name: n} table; lamp_extra_bytes: bytes
        after n in `ESC s n` (the vendor's when None)."""
        if protocol not in PROTOCOLS:
            raise ValueError("pole display protocol must be one of %s" % ", ".join(PROTOCOLS))
        if isinstance(lamps, str):
            if lamps not in VENDOR_LAMPS:
                raise ValueError("unknown lamp vendor %r (known: %s)" % (lamps, ", ".join(VENDOR_LAMPS)))
            table, extra = VENDOR_LAMPS[lamps]
        else:
            table, extra = dict(lamps), 0
        self._lamp_by_n = {int(n): name for name, n in table.items()}
        self._lamp_extra = extra if lamp_extra_bytes is None else int(lamp_extra_bytes)
        self.protocol = protocol
        self.encoding = encoding
        self.labels = tuple(labels)
        self._buf = bytearray()
        self._to_display = True
        self._dirty = False
        self.total = None           # the amount due the display shows now, in fen, or None
        self._reset()

    # ------------------------------------------------------------------ display state
    def _reset(self):
        self.value = ""             # led8n: what the digits show
        self.lamp = None            # which lamp is lit
        self.lines = [bytearray(b" " * self.columns) for _ in range(self.rows)]
        self.x = self.y = 0
        self._dirty = True

    @property
    def text_lines(self):
        return [bytes(line).decode(self.encoding, "replace").strip() for line in self.lines]

    def _put(self, byte):
        if self.x >= self.columns:
            self.x = 0
            self._newline()
        self.lines[self.y][self.x] = byte
        self.x += 1
        self._dirty = True

    def _newline(self):
        if self.y < self.rows - 1:
            self.y += 1
        else:           # bottom line: scroll up (MD2 behaviour; overwrite-mode displays differ little)
            self.lines.pop(0)
            self.lines.append(bytearray(b" " * self.columns))
        self._dirty = True

    def _set_line(self, row, payload):
        text = bytes(payload[:self.columns]).ljust(self.columns, b" ")
        self.lines[row] = bytearray(text)
        self._dirty = True

    # ------------------------------------------------------------------ evaluation
    def _shown_total(self):
        if self.protocol == "led8n":
            return parse_led_digits(self.value) if self.lamp == "total" else None
        texts = self.text_lines
        for i, text in enumerate(texts):
            if has_label(text, self.labels):
                amount = find_total(text, self.labels, need_label=True)
                if amount is None and i + 1 < len(texts):
                    amount = find_total(texts[i + 1], (), need_label=False)
                return amount
        if self.lamp == "total":
            for text in reversed(texts):
                amount = find_total(text, (), need_label=False)
                if amount is not None:
                    return amount
        return None

    def peek(self):
        """The total the display shows at this moment, without taking it as new (for a line that
        never goes quiet: the caller takes it only when two peeks some time apart agree)."""
        return self._shown_total()

    def take(self, total):
        """Take `total` as shown (after agreeing peeks); returns it when it is new, else None."""
        self._dirty = False
        if total == self.total:
            return None
        self.total = total
        return total

    def idle(self):
        """The line went quiet: read what the display shows now. Returns the total that appeared
        (a total that differs from the one shown before), or None."""
        if not self._dirty:
            return None
        return self.take(self._shown_total())

    # ------------------------------------------------------------------ bytes in
    def feed(self, data):
        """Bytes the POS wrote (split anywhere); what they show is read at the next `idle()`."""
        self._buf += data
        while self._buf:
            used = self._step(self._buf)
            if used == 0:
                break               # a command is incomplete: wait for more bytes
            del self._buf[:used]

    def _step(self, buf):
        b = buf[0]
        if b == ESC:
            return self._esc(buf)
        if b == STX:
            return self._stx(buf)
        if b == US and self.protocol == "epson":
            return self._us(buf)
        if not self._to_display:
            return 1
        if b == FF:
            self._reset()
        elif b == CAN:
            if self.protocol == "led8n":
                self.value = ""
            else:
                self.lines[self.y] = bytearray(b" " * self.columns)
                self.x = 0
            self._dirty = True
        elif b == CR:
            self.x = 0
        elif b == LF:
            self._newline()
        elif b == BS:
            self.x = max(0, self.x - 1)
        elif b == HT:
            self.x = min(self.columns, self.x + 1)
        elif b == HOME:
            self.x = self.y = 0
        elif b >= 0x20 and self.protocol != "led8n":
            self._put(b)
        return 1

    def _esc(self, buf):
        if len(buf) < 2:
            return 0
        c = buf[1]
        if c == 0x40:                                   # ESC @ initialise
            self._reset()
            self._to_display = True
            return 2
        if c == 0x51:                                   # ESC Q A/B text CR
            if len(buf) < 3:
                return 0
            end = buf.find(b"\r", 3, _MAX_COMMAND)
            if end < 0:
                return 3 if len(buf) >= _MAX_COMMAND else 0
            if self._to_display:
                row, payload = buf[2], bytes(buf[3:end])
                if self.protocol == "led8n":
                    if row == 0x41:
                        self.value = payload.decode("ascii", "replace")
                        self._dirty = True
                elif row in (0x41, 0x42):
                    self._set_line(row - 0x41, payload)
            return end + 1
        if c == 0x73:                                   # ESC s n [extra]: a lamp
            need = 3 + self._lamp_extra
            if len(buf) < need:
                return 0
            if self._to_display:
                self.lamp = self._lamp_by_n.get(buf[2])
                self._dirty = True          # evaluated at the next settle point or when quiet
            return need
        if c == 0x6C:                                   # ESC l x y cursor (1-based)
            if len(buf) < 4:
                return 0
            self.x = min(max(buf[2] - 1, 0), self.columns - 1)
            self.y = min(max(buf[3] - 1, 0), self.rows - 1)
            return 4
        if c == 0x3D:                                   # ESC = n device select
            if len(buf) < 3:
                return 0
            self._to_display = buf[2] != 1
            return 3
        if c in (0x74, 0x52, 0x25, 0x26):               # char table, intl set, ...: one argument
            return 3 if len(buf) >= 3 else 0
        return 2

    def _stx(self, buf):
        if len(buf) < 2:
            return 0
        c = buf[1]
        if c == 0x4C:                                   # STX L d1d2d3d4 lamps
            if len(buf) < 6:
                return 0
            lit = [name for name, flag in zip(LAMP_NAMES, bytes(buf[2:6])) if flag == 0x31]
            self.lamp = "total" if "total" in lit else (lit[0] if lit else None)
            self._dirty = True
            return 6
        if c == 0x42:                                   # STX B n baud
            return 3 if len(buf) >= 3 else 0
        return 2

    def _us(self, buf):
        if len(buf) < 2:
            return 0
        c = buf[1]
        if c == 0x24:                                   # US $ x y cursor (1-based)
            if len(buf) < 4:
                return 0
            self.x = min(max(buf[2] - 1, 0), self.columns - 1)
            self.y = min(max(buf[3] - 1, 0), self.rows - 1)
            return 4
        if c in (0x43, 0x45, 0x58, 0x2A, 0x3A, 0x40, 0x72, 0x76):   # one-argument settings
            return 3 if len(buf) >= 3 else 0
        if c == 0x42:                                   # cursor to bottom-left
            self.x, self.y = 0, self.rows - 1
            return 2
        return 2                                        # MD1..3 and other two-byte commands
