"""The console's days: China time by `[limits] utc_offset_h` (the offset the daily caps count by), and the
Unix-ms bounds the order and refund queries take for them."""
from __future__ import annotations

import datetime


def zone(settings) -> datetime.timezone:
    return datetime.timezone(datetime.timedelta(hours=settings.limits.utc_offset_h))


def today(settings, now_ms: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(now_ms / 1000, zone(settings)).date()


def day_start_ms(day: datetime.date, tz: datetime.timezone) -> int:
    """00:00 of `day` in `tz`, in Unix ms."""
    return int(datetime.datetime.combine(day, datetime.time(), tz).timestamp() * 1000)


def day_end_ms(day: datetime.date, tz: datetime.timezone) -> int:
    """00:00 of the day after `day` in `tz`: the first millisecond not in `day`."""
    return day_start_ms(day + datetime.timedelta(days=1), tz)


def bounds_ms(first: datetime.date, last: datetime.date, tz: datetime.timezone) -> tuple[int, int]:
    """[00:00 of `first`, 00:00 of the day after `last`) in `tz`: the days first..last whole."""
    return day_start_ms(first, tz), day_end_ms(last, tz)
