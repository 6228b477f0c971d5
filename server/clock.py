"""Time and identifiers. The database keeps times as integer Unix milliseconds."""
import secrets
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def new_id() -> str:
    """A 32-character id that sorts by creation time (13 digits of ms, 19 random hex)."""
    return "%013d%s" % (now_ms(), secrets.token_hex(10)[:19])


def new_trade_no() -> str:
    """Our order number at the channel (WeChat out_trade_no: at most 32, unique per merchant)."""
    return "SP" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(8)
