# Amount entry on a keypad, as a cashier types it: digits, one '.', at most two decimals, never
# above the maximum. The result is integer fen; there are no floats anywhere in money.
from core.compat import const

_MAX_FEN_DEFAULT = const(5000000)   # 50 000.00 yuan unless the config says otherwise


def format_fen(fen):
    """1250 -> '12.50'."""
    sign = "-" if fen < 0 else ""
    fen = -fen if fen < 0 else fen
    return "%s%d.%02d" % (sign, fen // 100, fen % 100)


def parse_yuan(text):
    """'12.5' -> 1250. Raises ValueError for anything that is not a plain amount with <= 2 decimals."""
    if not text or text.count(".") > 1:
        raise ValueError("not an amount: %r" % text)
    whole, _, frac = text.partition(".")
    digits = whole + frac
    if len(frac) > 2 or not digits:
        raise ValueError("not an amount: %r" % text)
    for ch in digits:
        if not "0" <= ch <= "9":
            raise ValueError("not an amount: %r" % text)
    return int(whole or "0") * 100 + int((frac + "00")[:2])


class AmountEntry:
    def __init__(self, max_fen=_MAX_FEN_DEFAULT):
        self.max_fen = max_fen
        self.text = ""      # what the cashier typed so far, normalised ("0.5", "12.")

    def press(self, key):
        """Apply one key ('0'-'9', '.', '00'). True if taken, False if refused (the box may beep)."""
        if key == "00":
            return self.press("0") and self.press("0")
        text = self.text
        if key == ".":
            if "." in text:
                return False
            self.text = (text or "0") + "."
            return True
        if len(key) != 1 or not "0" <= key <= "9":
            return False
        if "." in text:
            if len(text) - text.index(".") > 2:
                return False    # already two decimals
            candidate = text + key
        elif text == "0":
            candidate = key     # no leading zeros: "0" then "5" is "5"
        else:
            candidate = text + key
        if parse_yuan(candidate) > self.max_fen:
            return False
        self.text = candidate
        return True

    def backspace(self):
        self.text = self.text[:-1]
        if self.text == "0":
            self.text = ""
        return True

    def clear(self):
        self.text = ""

    def load_fen(self, fen):
        self.text = format_fen(fen) if fen else ""

    @property
    def fen(self):
        """The amount in fen; 0 when nothing (or only '0.') is typed."""
        if not self.text or self.text == ".":
            return 0
        return parse_yuan(self.text)

    @property
    def empty(self):
        return not self.text

    def display(self):
        """What a screen would show: '12.50', or '0.00' when empty."""
        return format_fen(self.fen)
