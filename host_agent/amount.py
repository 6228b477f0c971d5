"""Amounts as the POS shows them, turned into integer fen (never a float anywhere in money).

`parse_amount("¥1,234.50") == 123450`; `find_total("应收 12.50") == 1250`. The same rules serve the
pole-display text modes (CD5220, Epson) and the screen reader, so a label the OCR understands is one
the serial parser understands too.
"""
import re
from dataclasses import dataclass

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


# ---------------------------------------------------------------------------------------------
# The screen reader's stricter rules. A screen may show several numbers (a subtotal, a quantity, a
# total); OCR may lose or invent a decimal point. Only a number after a total label (a whole word:
# not SUBTOTAL, not "TOTAL QTY") or, in a field with no label at all, the one number there, written
# exactly as a POS writes money, is an amount; anything doubtful is refused with a reason.
SCREEN_LABELS = TOTAL_LABELS + ("实收",)
CURRENCY_WORDS = ("RMB", "CNY", "元")
# words a POS puts before numbers that are not the amount due
OTHER_LABELS = ("SUBTOTAL", "SUB TOTAL", "QTY", "ITEMS", "PRICE", "CASH", "CHANGE", "DISCOUNT", "TAX",
                "小计", "数量", "合计数量", "件数", "单价", "原价", "找零", "现金", "折扣", "优惠")

_SCREEN_TOKEN = re.compile(
    r"(?P<number>\d[\d.,]*(?:\s?\.\s?\d[\d.,]*)*|\.\d[\d.,]*)"       # "12.50", "1,234.50", "12 .50"
    r"|(?P<latin>[A-Za-z](?:[A-Za-z]|\d(?=[A-Za-z]))*)"                # "TOTAL", "T0TAL" (OCR's zero)
    r"|(?P<cjk>[\u2e80-\u9fff\uf900-\ufaff]+)"
    r"|(?P<sign>[¥$-])"
    r"|(?P<newline>\n)")


def _money_pattern(decimals):
    whole = r"(?:0|[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*)"
    if decimals is None:
        return re.compile(whole + r"(?:\.\d{1,2})?")
    if decimals == 0:
        return re.compile(whole)
    return re.compile(whole + r"\.\d{%d}" % decimals)


@dataclass(frozen=True)
class ScreenTotal:
    amount_fen: object              # int, or None
    why: str = ""                   # "" (found, or no number at all) or the reason it was refused
    span: tuple = ()                # (start, end) in the text of the number taken, and of its label;
                                    # for "bad_number", of the number refused


def _tokens(text):
    for match in _SCREEN_TOKEN.finditer(text):
        kind = match.lastgroup
        value = match.group()
        if kind in ("latin", "cjk"):
            kind = "currency" if value.upper() in CURRENCY_WORDS else "word"
        elif kind == "sign":
            kind = "currency" if value != "-" else "minus"
        yield kind, value, match.start(), match.end()


def _label_key(word):
    return word.upper().replace(" ", "").translate(_LABEL_KEY)


def _label_kind(words, labels):
    """What the last words before a number say: "total" (a whole total label: "AMOUNT DUE", "应收"),
    "other" (SUBTOTAL, 小计, any unrelated word), "unclear" (close to a total label but not one:
    OCR may have misread it), or "" (no words: an unlabelled number)."""
    for take in (3, 2):         # a currency word OCR split in two ("RM B") is no label
        if len(words) >= take and _label_key("".join(words[-take:])) in CURRENCY_WORDS:
            words = words[:-take]
            break
    if not words:
        return ""
    joined, tails = "", []
    for word in reversed(words[-3:]):
        joined = _label_key(word) + joined
        tails.append(joined)
    if any(tail in {_label_key(label) for label in labels} for tail in tails):
        return "total"
    if any(tail in {_label_key(label) for label in OTHER_LABELS} for tail in tails):
        return "other"
    for label in labels:
        key = _label_key(label)
        if any(_distance(tail, key) <= (2 if len(key) >= 5 else 1) for tail in tails):
            return "unclear"
    return "other"


def _distance(a, b):
    """Levenshtein distance (short words only)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def screen_total(text, labels=SCREEN_LABELS, decimals=2):
    """The total in what OCR read off a POS screen (lines separated by newlines) -> ScreenTotal.
    `decimals`: how many decimals the POS shows (None: 0 to 2)."""
    text = text.translate(_SCREEN_FOLD)
    money = _money_pattern(decimals)
    numbers = []            # (value, start, end, words before it on its line, label span, sign before)
    split = set()           # numbers with only a space between them and the one before: "4.2 1"
    words, label_at = [], None
    previous = None
    for kind, value, start, end in _tokens(text):
        if kind == "newline":
            words, label_at, previous = [], None, None
            continue
        if kind == "number":
            if previous == "number" and text[numbers[-1][2]:start].strip() == "":
                split.update((numbers[-1][1], start))
            numbers.append((value, start, end, tuple(words), label_at, previous == "minus"))
            words, label_at = [], None
        elif kind == "word":
            words.append(value)
            label_at = (start, end) if label_at is None or previous != "word" else (label_at[0], end)
        previous = kind
    if not numbers:
        return ScreenTotal(None, "")
    kinds = [_label_kind(n[3], labels) for n in numbers]
    totals = [n for n, kind in zip(numbers, kinds) if kind == "total"]
    if not totals:
        totals = [n for n, kind in zip(numbers, kinds) if kind == ""]
    if any(n[1] in split for n in totals):
        return ScreenTotal(None, "split")
    if len(totals) > 1 and not any(kind == "total" for kind in kinds):
        return ScreenTotal(None, "several_totals")
    if "unclear" in kinds:      # a label that may be a misread total label: perhaps another total
        return ScreenTotal(None, "several_totals" if totals else "unsure")
    if not totals:
        return ScreenTotal(None, "not_total")
    amounts = set()
    for value, start, end, _, label, minus in totals:
        compact = re.sub(r"\s", "", value)
        if minus or not money.fullmatch(compact):
            return ScreenTotal(None, "bad_number", (start, end))
        whole, _, cents = compact.replace(",", "").partition(".")
        amounts.add(int(whole) * 100 + int(cents.ljust(2, "0")))
    if len(amounts) > 1:
        return ScreenTotal(None, "several_totals")
    amount_fen = amounts.pop()
    if amount_fen <= 0:
        return ScreenTotal(None, "bad_number")
    value, start, end, _, label, _ = totals[0]
    before, after = text[start - 1:start], text[end:end + 1]
    if (before and not _BESIDE_NUMBER.match(before)) or (after and not _BESIDE_NUMBER.match(after)):
        return ScreenTotal(None, "unsure")      # a stray mark against the number: "(8.05" may be 18.05
    return ScreenTotal(amount_fen, "", (start, end) + (label or (start, start)))


# what may stand right against a total: a space, a colon or currency sign before it, a word (a
# label, 元, RMB)
_BESIDE_NUMBER = re.compile(r"[\s:¥$A-Za-z\u2e80-\u9fff\uf900-\ufaff]")

_SCREEN_FOLD = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                              **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
                              "￥": "¥", "，": ",", "．": ".", "：": ":", "。": "."})
