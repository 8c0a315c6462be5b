"""Budget periods: calendar-aligned windows in a configured IANA time zone.

A period is a half-open interval of unix seconds ``[start, next)``; consecutive periods
share their boundary, so the periods of one kind tile time with no gap and no overlap.

- daily    starts at local midnight
- weekly   starts on Monday at local midnight
- monthly  starts on the 1st at local midnight
- lifetime is ``(0, None)``: it never resets

Daylight saving makes a local day 23 or 25 hours long (a month or a week likewise an hour
shorter or longer); nothing here assumes 24-hour days. A few zones move their clocks *at*
midnight, so a local midnight may not exist (America/Santiago and America/Havana spring
forward from 00:00 to 01:00; Pacific/Apia skipped all of 2011-12-30) or may happen twice
(clocks falling back to 00:00). The boundary of local date D is therefore defined as
the first instant whose local wall-clock time is at or after D 00:00:

- an ambiguous midnight resolves to its first occurrence (``fold=0``);
- a midnight inside a gap resolves to the instant the clocks jump (the first valid
  local time after midnight, e.g. 01:00);
- a date skipped entirely has an empty period that is never returned.

The boundary of a date is found from the zone's own data with ``zoneinfo``; the few
gap cases are solved by bisection on whole seconds (transitions are on whole seconds).
Boundaries are cached per (zone, date), so a call is two datetime conversions and two
cache hits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Period = Literal["daily", "weekly", "monthly", "lifetime"]
PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly", "lifetime")

_ONE_DAY = dt.timedelta(days=1)


def check_timezone(name: str) -> str | None:
    """A config-load check: None when ``name`` is a usable IANA zone, else the problem."""
    if not isinstance(name, str) or not name.strip():
        return "must be an IANA time zone name such as 'UTC' or 'Europe/Berlin'"
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone '{name}' (expected an IANA name such as 'UTC' or 'Europe/Berlin')"
    return None


def period_bounds(period: Period, now: float, tz: str) -> tuple[int, int | None]:
    """The period containing instant ``now``: (start, next start) in unix seconds.

    ``start <= now < next``; ``next`` of one period is ``start`` of the following one.
    Raises ValueError for an unknown period or time zone (validate with check_timezone).
    """
    if period == "lifetime":
        return 0, None
    step = _STEPS.get(period)
    if step is None:
        raise ValueError(f"unknown budget period '{period}' (expected one of {', '.join(PERIODS)})")
    try:
        zone = _zone(tz)
    except ZoneInfoNotFoundError:
        raise ValueError(f"unknown time zone '{tz}'") from None
    align, advance, retreat = step
    first = align(dt.datetime.fromtimestamp(now, zone).date())
    start, following = _boundary(tz, first), _boundary(tz, advance(first))
    # The local date of `now` names the right period except where clocks fall back across
    # midnight (local dates briefly run backwards) or a gap pushed a boundary past `now`.
    while now < start:
        first = retreat(first)
        start, following = _boundary(tz, first), start
    while now >= following:
        first = advance(first)
        start, following = following, _boundary(tz, advance(first))
    return start, following


# ---- calendar steps ---------------------------------------------------------------------


def _day(d: dt.date) -> dt.date:
    return d


def _next_day(d: dt.date) -> dt.date:
    return d + _ONE_DAY


def _prev_day(d: dt.date) -> dt.date:
    return d - _ONE_DAY


def _monday(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday())


def _next_week(d: dt.date) -> dt.date:
    return d + dt.timedelta(days=7)


def _prev_week(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=7)


def _first_of_month(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _next_month(d: dt.date) -> dt.date:
    return dt.date(d.year + 1, 1, 1) if d.month == 12 else dt.date(d.year, d.month + 1, 1)


def _prev_month(d: dt.date) -> dt.date:
    return dt.date(d.year - 1, 12, 1) if d.month == 1 else dt.date(d.year, d.month - 1, 1)


_DateFn = Callable[[dt.date], dt.date]
# period -> (align a date to its period's first day, the next period's, the previous period's)
_STEPS: dict[str, tuple[_DateFn, _DateFn, _DateFn]] = {
    "daily": (_day, _next_day, _prev_day),
    "weekly": (_monday, _next_week, _prev_week),
    "monthly": (_first_of_month, _next_month, _prev_month),
}


# ---- zone arithmetic ----------------------------------------------------------------------


@lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        # A machine without the tz database can still run the default configuration.
        if name in ("UTC", "Etc/UTC"):
            return dt.timezone.utc
        raise


@lru_cache(maxsize=4096)
def _boundary(tz: str, day: dt.date) -> int:
    """The first instant whose local wall time in ``tz`` is at or after ``day`` 00:00."""
    zone = _zone(tz)
    midnight = dt.datetime(day.year, day.month, day.day)
    early = midnight.replace(tzinfo=zone, fold=0)  # ambiguous: the first occurrence
    t = int(early.timestamp())
    if _wall(t, zone) == midnight:
        return t
    # Midnight falls in a gap. PEP 495 maps a gap time with fold=0 through the offset
    # before the jump (an instant after it) and with fold=1 through the offset after
    # it (an instant before it): the jump lies in (lo, hi]. Find the first instant
    # whose wall time has reached midnight.
    lo = int(midnight.replace(tzinfo=zone, fold=1).timestamp())
    hi = t
    if lo >= hi:  # not expected from zoneinfo; keep a valid answer regardless
        return t
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wall(mid, zone) >= midnight:
            hi = mid
        else:
            lo = mid
    return hi


def _wall(t: int, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, zone).replace(tzinfo=None)
