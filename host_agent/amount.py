"""Amounts as the POS shows them, turned into integer fen (never a float anywhere in money).

`parse_amount("¥1,234.50") == 123450`; `find_total("应收 12.50") == 1250`. The same rules serve the
pole-display text modes (CD5220, Epson) and the screen reader, so a label the OCR understands is one
the serial parser understands too.
"""
import re

# Labels a POS puts before the amount due. Upper-cased before matching; config may add more.
TOTAL_LABELS = ("TOTAL", "AMOUNT DUE", "DUE", "应收", "应付", "合计", "总计", "实收金额", "应收金额")

_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")

# a number as a POS writes it: 1234.50, 1,234.50, 12.5, 12; thousands groups only with a comma
_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?![\d])")
_LIGHT_NUMBER = re.compile(r"^-?\d{0,8}(\.\d{0,2})?$")


class AmountError(ValueError):
    pass


def format_fen(amount_fen):
    """1250 -> '12.50'."""
    return "%d.%02d" % divmod(amount_fen, 100)


def parse_yuan(text):
    """'12.50' / '1,234.5' / '12' -> fen. AmountError for anything else, or 0."""
    text = text.strip().translate(_FULLWIDTH_DIGITS)
    match = re.fullmatch(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?", text)
    if not match:
        raise AmountError("not an amount: %r" % text)
    whole = int(match.group(1).replace(",", ""))
    cents = (match.group(2) or "").ljust(2, "0")
    amount_fen = whole * 100 + int(cents)
    if amount_fen <= 0:
        raise AmountError("the amount must be more than 0")
    return amount_fen


def parse_led_digits(text):
    """What an 8-digit LED display shows (`ESC Q A` payload: digits, '-', '.') -> fen, or None for a
    blank, negative or malformed value (a refund or a blank display is not an amount to collect)."""
    text = text.strip()
    if not text or text.startswith("-") or not _LIGHT_NUMBER.match(text) or not any(c.isdigit() for c in text):
        return None
    whole, _, cents = text.partition(".")
    amount_fen = int(whole or "0") * 100 + int(cents.ljust(2, "0") or "0")
    return amount_fen or None


def _normalise(text):
    text = text.translate(_FULLWIDTH_DIGITS).replace("￥", "¥").replace("，", ",").replace("．", ".")
    text = text.replace("：", ":").replace("。", ".")
    # letters OCR confuses with digits, folded only when they touch a digit or a separator
    text = re.sub(r"(?<=[\d.,])[Oo]|[Oo](?=[\d.,])", "0", text)
    text = re.sub(r"(?<=[\d.,])[lI|]|[lI|](?=[\d.,])", "1", text)
    # "12 .50" / "12. 50": OCR sometimes puts a space at the point
    text = re.sub(r"(?<=\d)\s*\.\s*(?=\d)", ".", text)
    text = re.sub(r"(?<=\d),\s+(?=\d{3}\b)", ",", text)
    return text


def _last_number(text):
    found = None
    for match in _NUMBER.finditer(text):
        found = match
    if not found:
        return None
    whole = int(found.group(1).replace(",", ""))
    cents = (found.group(2) or "").ljust(2, "0")
    return whole * 100 + int(cents) or None


_LABEL_KEY = str.maketrans("0158", "OISB")


def _label_at(text, labels):
    """(start, end) of the first total label in text, matching letters OCR reads as digits
    ("T0TAL"); None when there is none."""
    key = text.upper().translate(_LABEL_KEY)
    for label in sorted(labels, key=len, reverse=True):
        at = key.find(label.upper().translate(_LABEL_KEY))
        if at >= 0:
            return at, at + len(label)
    return None


def find_total(text, labels=TOTAL_LABELS, *, need_label=False):
    """The amount due in one line of text the POS shows: "¥1,234.50", "应收 12.50", "TOTAL: 12.50",
    "合计￥8.00". With a label, the number after it. Without one (and `need_label` false: the text
    is a calibrated total field), the number after a currency sign, else the last number.
    None when there is no amount."""
    text = _normalise(text)
    found = _label_at(text, labels)
    if found:
        return _last_number(text[found[1]:])
    if need_label:
        return None
    at = text.rfind("¥")
    if at >= 0:
        return _last_number(text[at + 1:])
    return _last_number(text)


def has_label(text, labels=TOTAL_LABELS):
    return _label_at(_normalise(text), labels) is not None
