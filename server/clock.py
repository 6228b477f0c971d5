"""Time and identifiers. The database keeps times as integer Unix milliseconds."""
import secrets
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ms(seconds: float) -> int:
    return round(seconds * 1000)


_last_id_ms = 0
_same_ms_count = 0


def new_id() -> str:
    """A 32-character id that sorts by creation order within a process: 13 digits of ms, a 6-digit
    counter for ids made in the same millisecond, 13 random hex (unique across processes)."""
    global _last_id_ms, _same_ms_count
    now = now_ms()
    if now <= _last_id_ms:       # same millisecond, or the clock stepped back: keep the order
        now = _last_id_ms
        _same_ms_count += 1
    else:
        _last_id_ms, _same_ms_count = now, 0
    return "%013d%06d%s" % (now, _same_ms_count, secrets.token_hex(7)[:13])


def new_trade_no() -> str:
    """Our order number at the channel (WeChat out_trade_no: at most 32, unique per merchant)."""
    return "SP" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(8)
