# Payment-code pre-check on the device: refuse what cannot be a payment code before spending a
# network round trip on it. The server routes by the same prefixes and has the last word; this
# table is data (the config may replace it) so a new wallet needs no firmware change.

# (channel, first two-digit prefix, last two-digit prefix, shortest length, longest length)
DEFAULT_PREFIXES = (
    ("wechat", 10, 15, 18, 18),
    ("alipay", 25, 30, 16, 24),
    ("unionpay", 62, 62, 19, 19),
)

# refusal reasons (stable strings, the app maps them to speech)
EMPTY = "empty"
NOT_DIGITS = "not_digits"
UNKNOWN_PREFIX = "unknown_prefix"
BAD_LENGTH = "bad_length"
NOT_TAKEN = "not_taken"      # a known wallet's code, but this shop does not take that wallet


class CodeRefused(ValueError):
    def __init__(self, reason, code="", channel=None):
        super().__init__("payment code refused: %s (%s)" % (reason, mask(code)))
        self.reason = reason
        self.channel = channel


def mask(code):
    """All but the last 4 characters hidden: logs never hold a whole payment code."""
    if len(code) <= 4:
        return "*" * len(code)
    return "*" * (len(code) - 4) + code[-4:]


def _ascii_digits(text):
    # str.isdigit() also takes other scripts' digits on CPython; a payment code is ASCII 0-9 only
    for ch in text:
        if not "0" <= ch <= "9":
            return False
    return True


def load_prefixes(rows):
    """A prefix table from config rows ([channel, lo, hi, min_len, max_len], ...); checked here."""
    table = []
    for row in rows:
        if len(row) != 5:
            raise ValueError("prefix row needs 5 fields: %r" % (row,))
        channel, lo, hi, shortest, longest = row
        if not (isinstance(channel, str) and 10 <= lo <= hi <= 99 and 2 < shortest <= longest):
            raise ValueError("bad prefix row: %r" % (row,))
        table.append((channel, lo, hi, shortest, longest))
    return tuple(table)


def check(code, prefixes=DEFAULT_PREFIXES, known=DEFAULT_PREFIXES):
    """The channel a scanned payment code belongs to, or CodeRefused with a reason. A code of a wallet in
    `known` but not in `prefixes` (the shop does not take it) is NOT_TAKEN, with its channel."""
    code = code.strip()
    if not code:
        raise CodeRefused(EMPTY)
    if not _ascii_digits(code):
        raise CodeRefused(NOT_DIGITS, code)
    if len(code) < 2:
        raise CodeRefused(BAD_LENGTH, code)
    head = int(code[:2])
    length_wrong = False
    for channel, lo, hi, shortest, longest in prefixes:
        if lo <= head <= hi:
            if shortest <= len(code) <= longest:
                return channel
            length_wrong = True
    if not length_wrong:
        for channel, lo, hi, shortest, longest in known:
            if lo <= head <= hi and shortest <= len(code) <= longest:
                raise CodeRefused(NOT_TAKEN, code, channel)
    raise CodeRefused(BAD_LENGTH if length_wrong else UNKNOWN_PREFIX, code)


def prefixes_from_info(info, fallback=DEFAULT_PREFIXES):
    """The pre-check table from the server's `info` answer: its `code_prefixes` rows when it sends
    them, else the known table cut down to the `wallets` the server routes now."""
    rows = info.get("code_prefixes") if isinstance(info, dict) else None
    if rows:
        try:
            return load_prefixes(rows)
        except (ValueError, TypeError):
            pass
    wallets = info.get("wallets") if isinstance(info, dict) else None
    if isinstance(wallets, list) and wallets:
        table = tuple(row for row in fallback if row[0] in wallets)
        if table:
            return table
    return fallback
