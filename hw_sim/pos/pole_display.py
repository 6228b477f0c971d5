"""The POS side of a customer pole display: the bytes real POS programs send, written to a serial
pseudo-terminal, and a display at the other end of a second one (for the agent's passthrough).

    with PseudoSerial() as pos_port:
        pos = PosCashier(pos_port, "led8n", lamps="wintec")
        agent opens pos_port.path with pyserial ...
        pos.sale([350, 900])        # two items, then the total 12.50 under the "total" lamp

How a POS program drives its display is a `PoleStyle` (protocol, lamp vendor and order, how text lines
are placed, labels, layout, currency, what it shows besides the total). `pole_corpus(n, seed)` makes
streams of whole sales in many styles, each sale with the total the display shows (or None), split
into reads every way (`PoleStream.chunks`): one burst, per cashier action, byte by byte, at random.
TUNING is what the reader was tuned on; `held_out=True` (other seeds) draws half its choices from
HELD_OUT_ONLY, never used in tuning.

POSIX only (pty): the simulator runs on the developer machine and CI, not on the cashier PC.
"""
import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass, replace

ESC, STX, US = b"\x1b", b"\x02", b"\x1f"
FF, CAN, CR, LF = b"\x0c", b"\x18", b"\r", b"\n"
COLUMNS = 20

LAMPS = {
    "wintec": ({"price": 1, "total": 2, "collect": 3, "change": 4}, b""),
    "partner": ({"price": 2, "total": 3, "collect": 4, "change": 5}, b"\x01"),
    "ascii": ({"price": 0x31, "total": 0x32, "collect": 0x33, "change": 0x34}, b""),
    "stx": (None, b""),     # STX L d1d2d3d4
}
_STX_ORDER = ("price", "total", "collect", "change")


def yuan(amount_fen):
    return "%d.%02d" % divmod(amount_fen, 100)


class PseudoSerial:
    """One end of a serial cable: a pty whose slave path the agent opens with pyserial as if it were
    COM3. `unplug()` closes it (the agent's reads fail, as when the USB cable is pulled)."""

    def __init__(self):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)     # no echo, no CR/LF translation: bytes pass as on a real port
        tty.setraw(self.master)
        self.path = os.ttyname(self._slave)
        self._closed = False

    def write(self, data):
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.master], [], 5)
            if not ready:
                raise TimeoutError("nobody reads the pseudo-terminal %s" % self.path)
            view = view[os.write(self.master, view):]

    def read(self, timeout=1.0):
        """Whatever arrived within `timeout` (b"" when nothing did)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:     # the other side is gone
            return b""

    def read_exactly(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        data = bytearray()
        while len(data) < count and time.monotonic() < deadline:
            data += self.read(max(0.0, min(0.2, deadline - time.monotonic())))
        return bytes(data)

    def unplug(self):
        if not self._closed:
            self._closed = True
            os.close(self.master)
            os.close(self._slave)

    close = unplug

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unplug()


class PoleDisplayRecorder:
    """The customer display at the end of the agent's passthrough port: keeps every byte it gets."""

    def __init__(self, port):
        self.port = port
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pole-display")
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.received += self.port.read(0.05)

    def wait_for(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return bytes(self.received)

    def stop(self):
        self._stop.set()
        self._thread.join(2)


@dataclass(frozen=True)
class PoleStyle:
    """How one POS program drives its pole display."""
    protocol: str = "led8n"     # "led8n", "cd5220", "epson", "plain" (text, CR and LF only)
    lamps: str = "wintec"       # led8n: "wintec", "partner", "ascii", "stx" (STX L d1d2d3d4)
    lamp_first: bool = True     # led8n: the lamp command before the value, or after it
    writer: str = ""            # how text lines are put: cd5220 "esc_q" / "esc_l", epson "us" / "can" /
                                # "scroll" (US MD2, a line per CR LF), plain "wrap" / "crlf"; "": the first
    label: str = "TOTAL"
    layout: str = "same_line"   # "same_line" (right-aligned), "left", "two_lines" (label above the number)
    encoding: str = "gbk"
    currency: str = ""          # "", "￥", "RMB " before the number; "元" after it
    thousands: bool = False     # 1,234.50
    item_label: str = ""        # the item's price line: "" (bare number), "PRICE", "单价"
    clear: str = "ff"           # at each sale's start: "ff", "init" (ESC @ FF), "none"
    change: bool = True         # the cash and the change after the total
    subtotal: bool = False      # "SUBTOTAL x" above the total (a discount makes them differ)
    qty: bool = False           # "TOTAL QTY n" shown before the total
    redraw: bool = False        # the total written twice
    printer: bool = False       # cd5220: the receipt goes to the printer through the display (ESC = 1)

    @property
    def line_writer(self):
        return self.writer or {"cd5220": "esc_q", "epson": "us", "plain": "wrap"}.get(self.protocol, "")

    @property
    def chinese(self):
        return not self.label.isascii()


class PosCashier:
    """Writes what a POS program writes to its pole display, in one of the protocols, in a style."""

    def __init__(self, port, protocol="led8n", *, lamps="wintec", encoding="gbk", label="TOTAL",
                 byte_gap_s=0.0, **style):
        """byte_gap_s: pause between bytes, like a POS writing at 2400 baud one byte at a time;
        style: the other PoleStyle fields."""
        self.port = port
        self.style = PoleStyle(protocol=protocol, lamps=lamps, encoding=encoding, label=label, **style)
        self.protocol = protocol
        self.lamps = lamps
        self.encoding = encoding
        self.label = label
        self.byte_gap_s = byte_gap_s
        self.written = bytearray()

    def write(self, data):
        if not self.written and not data.startswith(self.init_bytes()):
            data = self.init_bytes() + data     # a POS program initialises its display when it opens the port
        self.written += data
        if self.byte_gap_s:
            for i in range(len(data)):
                self.port.write(data[i:i + 1])
                time.sleep(self.byte_gap_s)
        elif self.port is not None:
            self.port.write(data)

    # ------------------------------------------------------------------ protocol pieces
    def lamp(self, name):
        table, extra = LAMPS[self.lamps]
        if table is None:
            return STX + b"L" + bytes(0x31 if n == name else 0x30 for n in _STX_ORDER)
        return ESC + b"s" + bytes([table[name]]) + extra

    def _led(self, amount_fen, lamp, lamp_first):
        value = ESC + b"QA" + yuan(amount_fen).encode() + CR
        return self.lamp(lamp) + value if lamp_first else value + self.lamp(lamp)

    def money(self, amount_fen):
        style = self.style
        whole, cents = divmod(amount_fen, 100)
        text = ("{:,}" if style.thousands else "{}").format(whole) + ".%02d" % cents
        return text + "元" if style.currency == "元" else style.currency + text

    def _cells(self, text):
        return text.encode(self.encoding)

    def _line(self, text, align="right"):
        data = self._cells(text)[:COLUMNS]
        return data.rjust(COLUMNS) if align == "right" else data.ljust(COLUMNS)

    def _labelled(self, label, amount_fen, sep=" "):
        """'TOTAL 12.50', shortened (no currency, then no space) until it fits the 20 columns."""
        for text in (label + sep + self.money(amount_fen), label + sep + yuan(amount_fen),
                     label + yuan(amount_fen)):
            if len(self._cells(text)) <= COLUMNS:
                return text
        raise ValueError("%r does not fit a 20-column display" % text)

    def _text(self, upper, lower, pad=True):
        """Both lines, as the style's writer puts them. upper/lower are bytes; pad: already 20 columns."""
        writer = self.style.line_writer
        if writer == "esc_q":
            return ESC + b"=\x02" + ESC + b"QA" + upper + CR + ESC + b"QB" + lower + CR
        if writer == "us":
            return FF + US + b"$\x01\x01" + upper + US + b"$\x01\x02" + lower
        if writer == "can":
            return US + b"$\x01\x01" + CAN + upper + US + b"$\x01\x02" + CAN + lower
        upper, lower = upper.ljust(COLUMNS), lower.ljust(COLUMNS)
        if writer == "esc_l":
            return ESC + b"l\x01\x01" + upper + ESC + b"l\x01\x02" + lower
        if writer == "scroll":
            return CR + LF + upper + CR + LF + lower
        if writer == "crlf":
            return upper + CR + LF + lower + CR + LF
        return upper + lower                                    # wrap: 40 characters, the display wraps

    def _screen(self, upper, lower, lower_align="right"):
        return self._text(self._line(upper, "left"), self._line(lower, lower_align))

    def init_bytes(self):
        if self.style.protocol == "plain":
            return FF
        data = ESC + b"@" + FF
        return data + US + b"\x02" if self.style.line_writer == "scroll" else data

    def clear_bytes(self):
        how = self.style.clear
        if how == "none":
            return b""
        return self.init_bytes() if how == "init" else FF

    def price_bytes(self, amount_fen, name="ITEM", lamp_first=None):
        style = self.style
        if style.protocol == "led8n":
            return self._led(amount_fen, "price", style.lamp_first if lamp_first is None else lamp_first)
        price = self._labelled(style.item_label, amount_fen) if style.item_label else self.money(amount_fen)
        return self._screen(name, price)

    def total_bytes(self, amount_fen, lamp_first=None, layout=None, subtotal_fen=None):
        """layout (text modes): "same_line" ("TOTAL    12.50" on the lower line), "left" ("TOTAL: 12.50"
        at the left) or "two_lines" (the label above, the number below); subtotal_fen: shown above."""
        style = self.style
        if style.protocol == "led8n":
            return self._led(amount_fen, "total", style.lamp_first if lamp_first is None else lamp_first)
        layout = layout or style.layout
        if layout == "two_lines":
            return self._screen(self.label, self.money(amount_fen))
        upper = ""
        if subtotal_fen is not None:
            upper = self._labelled("小计" if style.chinese else "SUBTOTAL", subtotal_fen)
            upper = self._line(upper).decode(self.encoding)
        if layout == "left":
            lower = self._labelled(self.label, amount_fen, ": ")
            if style.line_writer in ("us", "can"):          # the line was cleared: no padding
                return self._text(self._cells(upper), self._cells(lower))
            return self._screen(upper, lower, "left")
        return self._screen(upper, self._labelled(self.label, amount_fen))

    def subtotal_only_bytes(self, subtotal_fen):
        label = "小计" if self.style.chinese else "SUBTOTAL"
        return self._screen("", self._labelled(label, subtotal_fen))

    def qty_bytes(self, count):
        return self._screen("", ("合计数量 %d" if self.style.chinese else "TOTAL QTY %d") % count)

    def collect_change_bytes(self, paid_fen, change_fen):
        if self.style.protocol == "led8n":
            return self._led(paid_fen, "collect", self.style.lamp_first) + \
                self._led(change_fen, "change", self.style.lamp_first)
        cash, change = ("收款", "找零") if self.style.chinese else ("CASH", "CHANGE")
        return self._screen(self._line(self._labelled(cash, paid_fen)).decode(self.encoding),
                            self._labelled(change, change_fen))

    def receipt_bytes(self, items, total_fen):
        """The receipt, sent to the printer through the display (CD5220 pass-through, ESC = 1): ESC/POS
        printer commands, 32-column lines ended by CR LF, the total in bold, then the paper cut."""
        def line(left, right=""):
            return (left + right.rjust(32 - len(left))).encode("ascii") + CR + LF
        body = ESC + b"a\x01" + line("SCANPAY MART") + ESC + b"a\x00"
        body += b"".join(line("ITEM", yuan(p)) for p in items)
        body += ESC + b"E\x01" + line("TOTAL", yuan(total_fen)) + ESC + b"E\x00" + line("THANK YOU")
        return ESC + b"=\x01" + ESC + b"@" + body + ESC + b"d\x03" + b"\x1dV\x00" + ESC + b"=\x02"

    # ------------------------------------------------------------------ what the cashier does
    def start(self):
        self.write(self.init_bytes())

    def show_item(self, amount_fen, name="ITEM"):
        self.write(self.price_bytes(amount_fen, name))

    def show_total(self, amount_fen, **kw):
        self.write(self.total_bytes(amount_fen, **kw))

    def clear(self):
        self.write(FF)

    def sale(self, item_prices_fen, **kw):
        """Items rung up one by one, then the total; returns the total in fen."""
        for price in item_prices_fen:
            self.show_item(price)
        total = sum(item_prices_fen)
        self.show_total(total, **kw)
        return total


# ---------------------------------------------------------------------------------------- corpus
TUNING = {
    "protocol": ("led8n", "cd5220", "epson", "plain"),
    "lamps": ("wintec", "partner", "stx"),
    "lamp_first": (True, False),
    "writer_cd5220": ("esc_q",), "writer_epson": ("us",), "writer_plain": ("wrap",),
    "label": ("TOTAL", "合计", "应收"),
    "layout": ("same_line", "two_lines", "left"),
    "encoding": ("gbk",),
    "currency": ("", "￥"),
    "thousands": (False,),
    "item_label": ("", "PRICE"),
    "clear": ("ff", "init", "none"),
}
HELD_OUT_ONLY = {
    "protocol": (),
    "lamps": ("ascii",),
    "lamp_first": (),
    "writer_cd5220": ("esc_l",), "writer_epson": ("can", "scroll"), "writer_plain": ("crlf",),
    "label": ("总计", "应付", "AMOUNT DUE", "DUE", "应收金额"),
    "layout": (),
    "encoding": ("gb18030",),
    "currency": ("RMB ", "元"),
    "thousands": (True,),
    "item_label": ("单价",),
    "clear": (),
}
NAMES = ("COLA", "BEER", "BREAD", "MILK 1L", "RICE 5KG", "可乐", "面包", "牛奶", "鸡蛋 10个", "矿泉水")
MID_START_SHARE = 0.15      # streams the agent starts listening to halfway through a command
TRAP_SHARE = 0.1            # text sales that show only a subtotal: no total


@dataclass
class PoleStream:
    """What one POS wrote over several sales, and what a right reader makes of it."""
    style: PoleStyle
    data: bytes
    actions: list           # (start, end) of each cashier action's bytes
    sales: list             # (start, end, total fen or None): each sale's bytes and the total it shows
    mid_start: bool = False
    tail_total: object = None   # mid_start: the total of the sale heard halfway (it may show, or not)

    def chunks(self, how, rng=None):
        """The bytes as reads: "burst" (one), "actions" (a read per cashier action), "bytes",
        "random" (1-24 bytes, a pause anywhere: between a lamp and its value, inside a number)."""
        data = self.data
        if how == "burst":
            return [data]
        if how == "actions":
            cuts = sorted({0, len(data)} | {start for start, _ in self.actions})
            return [data[a:b] for a, b in zip(cuts, cuts[1:])]
        if how == "bytes":
            return [data[i:i + 1] for i in range(len(data))]
        rng = rng or random.Random(len(data))
        out, i = [], 0
        while i < len(data):
            step = rng.randint(1, 24)
            out.append(data[i:i + step])
            i += step
        return out


    def score(self, shown):
        """shown: (amount fen, stream offset when it showed) the reader reported -> {"exact", "missed",
        "wrong", "repeated"}: a sale's total reported (once) / not reported / an amount reported that
        the sale does not show as its total / the right total reported again within the sale."""
        counts = {"exact": 0, "missed": 0, "wrong": 0, "repeated": 0}
        for start, end, total in self.sales:
            got = [amount for amount, offset in shown if start < offset <= end]
            if total is not None:
                counts["exact" if total in got else "missed"] += 1
                counts["repeated"] += max(0, got.count(total) - 1)
            counts["wrong"] += sum(1 for amount in got if amount != total)
        # before the first whole sale only the total of the sale heard halfway may show
        counts["wrong"] += sum(1 for amount, offset in shown
                               if offset <= self.sales[0][0] and amount != self.tail_total)
        return counts


def _pick(rng, attribute, held_out):
    values = TUNING[attribute]
    if held_out and HELD_OUT_ONLY[attribute] and rng.random() < 0.5:
        values = HELD_OUT_ONLY[attribute]
    return rng.choice(values)


def random_style(rng, held_out=False):
    def pick(attribute):
        return _pick(rng, attribute, held_out)

    protocol = pick("protocol")
    if protocol == "led8n":
        return PoleStyle(protocol, lamps=pick("lamps"), lamp_first=pick("lamp_first"), clear=pick("clear"))
    style = PoleStyle(protocol, writer=pick("writer_" + protocol), label=pick("label"), layout=pick("layout"),
                      encoding=pick("encoding"), currency=pick("currency"), thousands=pick("thousands"),
                      item_label=pick("item_label"), clear=pick("clear"),
                      change=rng.random() < 0.7, qty=rng.random() < 0.25, redraw=rng.random() < 0.15,
                      printer=protocol == "cd5220" and rng.random() < 0.3)
    if style.layout != "two_lines" and rng.random() < 0.3:
        style = replace(style, subtotal=True)
    if style.chinese and style.item_label == "PRICE" or not style.chinese and style.item_label == "单价":
        style = replace(style, item_label="")
    return style


def _sale(pos, rng, previous):
    """One sale as cashier actions -> ([bytes], total fen shown or None)."""
    style = pos.style
    if previous and rng.random() < 0.1:
        items = previous                        # the next customer buys the same: the same total again
    else:
        items = [rng.choice((rng.randint(50, 999), rng.randint(100, 9999), rng.randint(1000, 99999)))
                 for _ in range(rng.randint(1, 4))]
    actions = [pos.clear_bytes()] if style.clear != "none" else []
    for price in items:
        actions.append(pos.price_bytes(price, rng.choice(NAMES)))
    subtotal = sum(items)
    total = subtotal - (subtotal * rng.randint(1, 10) // 100 if style.subtotal else 0)
    text = style.protocol != "led8n"
    if text and style.qty:
        actions.append(pos.qty_bytes(len(items)))
    shown = total
    if text and rng.random() < TRAP_SHARE:
        actions.append(pos.subtotal_only_bytes(subtotal))
        shown = None
    else:
        sub = subtotal if style.subtotal and style.layout != "two_lines" else None
        actions.append(pos.total_bytes(total, subtotal_fen=sub))
        if style.redraw:
            actions.append(pos.total_bytes(total, subtotal_fen=sub))
    if style.printer:
        actions.append(pos.receipt_bytes(items, total))
    if style.change:
        step = rng.choice((1, 1000, 5000, 10000))          # 1: the exact money, no change
        paid = -(-total // step) * step
        actions.append(pos.collect_change_bytes(paid, paid - total))
    return [a for a in actions if a], shown, items


def pole_stream(style, rng, sales=6):
    pos = PosCashier(None, style.protocol, lamps=style.lamps, encoding=style.encoding, label=style.label,
                     **{f: getattr(style, f) for f in PoleStyle.__dataclass_fields__
                        if f not in ("protocol", "lamps", "encoding", "label")})
    mid_start = rng.random() < MID_START_SHARE
    data, actions, shown_sales = bytearray(), [], []
    previous = tail_total = None
    if mid_start:                               # the tail of a sale the agent did not hear whole
        tail_actions, tail_total, previous = _sale(pos, rng, None)
        tail = tail_actions[-1]
        data += tail[rng.randint(1, len(tail) - 1):]
        actions.append((0, len(data)))
    else:
        data += pos.init_bytes()
        actions.append((0, len(data)))
    for _ in range(sales):
        sale_actions, shown, previous = _sale(pos, rng, previous)
        start = len(data)
        for action in sale_actions:
            actions.append((len(data), len(data) + len(action)))
            data += action
        shown_sales.append((start, len(data), shown))
    return PoleStream(style, bytes(data), actions, shown_sales, mid_start, tail_total)


def pole_corpus(count, seed, held_out=False, sales=6):
    rng = random.Random(seed)
    return [pole_stream(random_style(rng, held_out), rng, sales) for _ in range(count)]
