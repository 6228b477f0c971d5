"""The POS side of a customer pole display: the bytes real POS programs send, written to a serial
pseudo-terminal, and a display at the other end of a second one (for the agent's passthrough).

    with PseudoSerial() as pos_port:
        pos = PosCashier(pos_port, "led8n", lamps="wintec")
        agent opens pos_port.path with pyserial ...
        pos.sale([350, 900])        # two items, then the total 12.50 under the "total" lamp

POSIX only (pty): the simulator runs on the developer machine and CI, not on the cashier PC.
"""
import os
import select
import threading
import time
import tty

ESC, STX, US = b"\x1b", b"\x02", b"\x1f"
FF, CAN, CR = b"\x0c", b"\x18", b"\r"

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


class PosCashier:
    """Writes what a POS program writes to its pole display, in one of the three protocols."""

    def __init__(self, port, protocol="led8n", *, lamps="wintec", encoding="gbk", label="TOTAL",
                 byte_gap_s=0.0):
        """byte_gap_s: pause between bytes, like a POS writing at 2400 baud one byte at a time."""
        self.port = port
        self.protocol = protocol
        self.lamps = lamps
        self.encoding = encoding
        self.label = label
        self.byte_gap_s = byte_gap_s
        self.written = bytearray()

    def write(self, data):
        self.written += data
        if self.byte_gap_s:
            for i in range(len(data)):
                self.port.write(data[i:i + 1])
                time.sleep(self.byte_gap_s)
        else:
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

    def _text(self, upper, lower):
        enc = self.encoding
        if self.protocol == "cd5220":
            return (ESC + b"=\x02" + ESC + b"QA" + upper.encode(enc)[:20] + CR
                    + ESC + b"QB" + lower.encode(enc)[:20] + CR)
        return (FF + US + b"$\x01\x01" + upper.encode(enc)[:20]
                + US + b"$\x01\x02" + lower.encode(enc)[:20])

    def init_bytes(self):
        return ESC + b"@" + FF

    def price_bytes(self, amount_fen, name="ITEM", lamp_first=True):
        if self.protocol == "led8n":
            return self._led(amount_fen, "price", lamp_first)
        return self._text(name[:20], ("PRICE %s" % yuan(amount_fen)).rjust(20))

    def total_bytes(self, amount_fen, lamp_first=True, layout="same_line"):
        """layout (text modes): "same_line" ("TOTAL    12.50" on the lower line) or "two_lines"
        (the label above, the number below)."""
        if self.protocol == "led8n":
            return self._led(amount_fen, "total", lamp_first)
        if layout == "two_lines":
            return self._text(self.label, yuan(amount_fen).rjust(20))
        line = self.label + " " + yuan(amount_fen)
        return self._text("", line.rjust(20 - (len(line.encode(self.encoding)) - len(line))))

    def collect_change_bytes(self, paid_fen, change_fen):
        if self.protocol == "led8n":
            return self._led(paid_fen, "collect", True) + self._led(change_fen, "change", True)
        return self._text(("CASH %s" % yuan(paid_fen)).rjust(20), ("CHANGE %s" % yuan(change_fen)).rjust(20))

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
