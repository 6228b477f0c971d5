"""Days as China counts them, one home for the whole server: the daily caps, the console's date filters and
totals, monitoring's "today" (China time by `[limits] utc_offset_h`), and the channels' daily bills (Beijing
time, UTC+8 always: China has no daylight saving). A day's bounds are Unix ms, as orders and refunds are
stored: [00:00 of the day, 00:00 of the next)."""
from __future__ import annotations

import datetime
import time

CHINA = datetime.timezone(datetime.timedelta(hours=8))    # Beijing time: the channels' bills and reports


def utc_offset(hours: int) -> datetime.timezone:
    return datetime.timezone(datetime.timedelta(hours=hours))


def zone(settings) -> datetime.timezone:
    """The time zone the daily caps count by ([limits] utc_offset_h)."""
    return utc_offset(settings.limits.utc_offset_h)


def day_of(at_ms: int, tz: datetime.timezone) -> datetime.date:
    """The day `at_ms` (Unix ms) falls on in `tz`."""
    return datetime.datetime.fromtimestamp(at_ms / 1000, tz).date()


def today(settings, now_ms: int) -> datetime.date:
    return day_of(now_ms, zone(settings))


def china_day(at_ms: int, utc_offset_h: int) -> int:
    """The day (YYYYMMDD) at `at_ms` in the caps' time zone (China time by default): the daily caps' key."""
    t = time.gmtime(at_ms // 1000 + utc_offset_h * 3600)
    return t.tm_year * 10000 + t.tm_mon * 100 + t.tm_mday


def day_start_ms(day: datetime.date, tz: datetime.timezone) -> int:
    """00:00 of `day` in `tz`, in Unix ms."""
    return int(datetime.datetime.combine(day, datetime.time(), tz).timestamp() * 1000)


def day_end_ms(day: datetime.date, tz: datetime.timezone) -> int:
    """00:00 of the day after `day` in `tz`: the first millisecond not in `day`."""
    return day_start_ms(day + datetime.timedelta(days=1), tz)


def bounds_ms(first: datetime.date, last: datetime.date, tz: datetime.timezone) -> tuple[int, int]:
    """[00:00 of `first`, 00:00 of the day after `last`) in `tz`: the days first..last whole."""
    return day_start_ms(first, tz), day_end_ms(last, tz)
