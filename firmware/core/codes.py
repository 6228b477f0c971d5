# Payment-code pre-check on the device: refuse what cannot be a payment code, or is one of a wallet the
# shop does not take, before spending a network round trip on it (and the customer's wait). The server
# routes by prefix and length (server/channels/routing.py) and has the last word; its `info` answer sends the
# prefixes and lengths it routes for this shop (`code_prefixes`, `code_lengths`: docs/device-api.md), and
# the table below is only what a device knows before that answer comes (or from an older server).
# The host agent runs this module too (host_agent/agent.py).

# (channel, prefixes, lengths): a code starting with one of the prefixes, of one of the lengths (None:
# any), belongs to the channel. Among rows whose length fits, the longest matching prefix wins.
DEFAULT_PREFIXES = (
    ("wechat", ("10", "11", "12", "13", "14", "15"), (18,)),
    ("alipay", ("25", "26", "27", "28", "29", "30"), (16, 17, 18, 19, 20, 21, 22, 23, 24)),
    ("unionpay", ("62",), (19,)),
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
    if not isinstance(text, str) or not text:
        return False
    for ch in text:
        if not "0" <= ch <= "9":
            return False
    return True


def load_prefixes(rows):
    """A prefix table from the device config's rows ([channel, lo, hi, min_len, max_len], ...: two-digit
    prefixes lo..hi, lengths min_len..max_len); checked here."""
    table = []
    for row in rows:
        if len(row) != 5:
            raise ValueError("prefix row needs 5 fields: %r" % (row,))
        channel, lo, hi, shortest, longest = row
        if not (isinstance(channel, str) and 10 <= lo <= hi <= 99 and 2 < shortest <= longest):
            raise ValueError("bad prefix row: %r" % (row,))
        table.append((channel, tuple(str(n) for n in range(lo, hi + 1)), tuple(range(shortest, longest + 1))))
    return tuple(table)


def with_known(table):
    """`table` followed by the built-in rows of wallets it does not name: every wallet a device can tell
    by its code, so one the shop does not take is named (NOT_TAKEN), not called unknown."""
    named = [row[0] for row in table]
    return tuple(table) + tuple(row for row in DEFAULT_PREFIXES if row[0] not in named)


def _match(code, table):
    """(channel or None, whether a prefix matched at a length that did not fit)."""
    best = None
    best_len = 0
    length_wrong = False
    for channel, prefixes, lengths in table:
        for prefix in prefixes:
            if code.startswith(prefix):
                if lengths is not None and len(code) not in lengths:
                    length_wrong = True
                elif len(prefix) > best_len:
                    best, best_len = channel, len(prefix)
    return best, length_wrong


def check(code, prefixes=DEFAULT_PREFIXES, known=DEFAULT_PREFIXES):
    """The channel a scanned payment code belongs to, or CodeRefused with a reason. A code of a wallet in
    `known` but not in `prefixes` (the shop does not take it) is NOT_TAKEN, with its channel."""
    code = code.strip()
    if not code:
        raise CodeRefused(EMPTY)
    if not _ascii_digits(code):
        raise CodeRefused(NOT_DIGITS, code)
    if len(code) < 2:
        raise CodeRefused(BAD_LENGTH, code)      # shorter than any wallet's prefix
    channel, length_wrong = _match(code, prefixes)
    if channel is not None:
        return channel
    if not length_wrong:
        other, _ = _match(code, known)
        taken = False
        for row in prefixes:
            taken = taken or row[0] == other
        if other is not None and not taken:     # a wallet the shop takes, by a prefix not routed: unknown
            raise CodeRefused(NOT_TAKEN, code, other)
    raise CodeRefused(BAD_LENGTH if length_wrong else UNKNOWN_PREFIX, code)


def _info_table(code_prefixes, code_lengths, known):
    # the `info` answer's {"wechat": ["10", ...]} and {"wechat": [18]}; a wallet without lengths takes the
    # known table's, or any length
    table = []
    for channel in code_prefixes:
        prefixes = code_prefixes[channel]
        if not isinstance(channel, str) or not isinstance(prefixes, list):
            raise ValueError("bad code_prefixes")
        for prefix in prefixes:
            if not _ascii_digits(prefix):
                raise ValueError("bad prefix %r" % (prefix,))
        lengths = code_lengths.get(channel) if isinstance(code_lengths, dict) else None
        if isinstance(lengths, list) and lengths:
            for n in lengths:
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    raise ValueError("bad length %r" % (n,))
            lengths = tuple(lengths)
        else:
            lengths = None
            for row in known:
                if row[0] == channel:
                    lengths = row[2]
        table.append((channel, tuple(prefixes), lengths))
    return tuple(table)


def prefixes_from_info(info, fallback=DEFAULT_PREFIXES, known=DEFAULT_PREFIXES):
    """The pre-check table from the server's `info` answer: its `code_prefixes` (and `code_lengths`) when
    it sends them, else (an older server) the known table cut down to the `wallets` it routes now, else
    `fallback`. An empty `code_prefixes` is kept: the shop takes no wallet now."""
    if not isinstance(info, dict):
        return fallback
    code_prefixes = info.get("code_prefixes")
    if isinstance(code_prefixes, dict):
        try:
            return _info_table(code_prefixes, info.get("code_lengths"), known)
        except (ValueError, TypeError):
            pass
    wallets = info.get("wallets")
    if isinstance(wallets, list) and wallets:
        table = tuple(row for row in known if row[0] in wallets)
        if table:
            return table
    return fallback
