"""Budget period arithmetic: properties over random instants and zones, plus the known
DST-at-midnight days that motivated the "first valid instant after midnight" rule."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.limits.periods import check_timezone, period_bounds

# DST zones on both hemispheres, half-hour and 45-minute offsets, zones whose clocks
# jump at midnight (Santiago, Havana, Beirut, Asuncion, Cairo, Tehran historically),
# one that skipped a whole day (Apia, 2011-12-30) and one without DST.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "America/Asuncion",
    "Africa/Cairo",
    "Asia/Tehran",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Asia/Tokyo",
]

HOUR = 3600
DAY = 86400

# 1970 .. 2100: past transitions from the tz database, future ones from its rules.
instants = st.integers(min_value=0, max_value=4_102_444_800)
zones = st.sampled_from(ZONES)
calendar = st.sampled_from(["daily", "weekly", "monthly"])


def _offset(t: int, zone: ZoneInfo) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(t, zone).utcoffset()


@lru_cache(maxsize=None)
def transitions(tz: str, year: int) -> tuple[int, ...]:
    """The instants in ``year`` at which ``tz`` changes its UTC offset."""
    zone = ZoneInfo(tz)
    t = int(dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    end = int(dt.datetime(year + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    found: list[int] = []
    prev = _offset(t, zone)
    while t < end:
        nxt = t + 6 * HOUR
        if _offset(nxt, zone) != prev:
            lo, hi = t, nxt  # the change happens in (lo, hi]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if _offset(mid, zone) != prev else (mid, hi)
            found.append(hi)
            prev = _offset(nxt, zone)
        t = nxt
    return tuple(found)


@st.composite
def near_transition(draw: st.DrawFn) -> tuple[int, str]:
    """An instant within a few days of one of the zone's clock changes (or of new year)."""
    tz = draw(zones)
    year = draw(st.integers(min_value=1971, max_value=2099))
    changes = transitions(tz, year)
    base = draw(st.sampled_from(changes)) if changes else int(dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    return base + draw(st.integers(min_value=-3 * DAY, max_value=3 * DAY)), tz


# Half the cases anywhere, half next to a DST change (where the bugs would be).
cases = st.one_of(st.tuples(instants, zones), near_transition())

props = settings(deadline=None, derandomize=True, database=None, max_examples=300)


def local(t: int, tz: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, ZoneInfo(tz))


def is_period_start(t: int, tz: str) -> bool:
    """Local midnight, or the first instant after a midnight the clocks skipped."""
    wall = local(t, tz)
    if (wall.hour, wall.minute, wall.second) == (0, 0, 0):
        return True
    before = local(t - 1, tz)
    return before.replace(tzinfo=None) < wall.replace(hour=0, minute=0, second=0, tzinfo=None) < wall.replace(tzinfo=None)


@props
@given(case=cases, period=calendar)
def test_now_lies_in_its_period(case: tuple[int, str], period: str) -> None:
    now, tz = case
    start, nxt = period_bounds(period, now, tz)  # type: ignore[arg-type]
    assert nxt is not None
    assert start <= now < nxt


@props
@given(now=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False), tz=zones, period=calendar)
def test_fractional_instants(now: float, tz: str, period: str) -> None:
    start, nxt = period_bounds(period, now, tz)  # type: ignore[arg-type]
    assert nxt is not None and start <= now < nxt


@props
@given(case=cases, period=calendar)
def test_periods_tile_time(case: tuple[int, str], period: str) -> None:
    """The next period starts exactly where this one ends, and the previous one ends exactly
    where this one starts: no gap, no overlap."""
    now, tz = case
    start, nxt = period_bounds(period, now, tz)  # type: ignore[arg-type]
    assert nxt is not None
    assert period_bounds(period, nxt, tz)[0] == nxt  # type: ignore[arg-type]
    assert period_bounds(period, nxt - 1, tz) == (start, nxt)  # type: ignore[arg-type]
    assert period_bounds(period, start, tz) == (start, nxt)  # type: ignore[arg-type]
    assert period_bounds(period, start - 1, tz)[1] == start  # type: ignore[arg-type]


@props
@given(case=cases, period=calendar)
def test_starts_are_local_midnights(case: tuple[int, str], period: str) -> None:
    now, tz = case
    start, nxt = period_bounds(period, now, tz)  # type: ignore[arg-type]
    assert nxt is not None
    assert is_period_start(start, tz)
    assert is_period_start(nxt, tz)


@props
@given(case=cases)
def test_daily_lengths(case: tuple[int, str]) -> None:
    now, tz = case
    start, nxt = period_bounds("daily", now, tz)
    assert nxt is not None
    # 23 or 25 hours across DST (Lord Howe: 23.5 / 24.5); historical offset changes in
    # these zones stay within a few hours. Apia's skipped day leaves its neighbour 24 h.
    assert 20 * HOUR <= nxt - start <= 28 * HOUR


@props
@given(case=cases)
def test_weekly_starts_on_monday(case: tuple[int, str]) -> None:
    now, tz = case
    start, nxt = period_bounds("weekly", now, tz)
    assert nxt is not None
    assert local(start, tz).weekday() == 0
    assert local(nxt, tz).weekday() == 0
    # 7 days, give or take DST; Apia's week of 2011-12-26 had only 6 days.
    assert 6 * DAY - 2 * HOUR <= nxt - start <= 7 * DAY + 2 * HOUR


@props
@given(case=cases)
def test_monthly_starts_on_the_first(case: tuple[int, str]) -> None:
    now, tz = case
    start, nxt = period_bounds("monthly", now, tz)
    assert nxt is not None
    first, following = local(start, tz), local(nxt, tz)
    assert first.day == 1 and following.day == 1
    assert (following.year * 12 + following.month) - (first.year * 12 + first.month) == 1
    # 28-31 days, give or take a DST hour (and Apia's 2011-12 lost a day).
    assert 27 * DAY - 2 * HOUR <= nxt - start <= 31 * DAY + 2 * HOUR


@settings(deadline=None, derandomize=True, database=None, max_examples=60)
@given(case=cases)
def test_periods_nest(case: tuple[int, str]) -> None:
    now, tz = case
    """The days of a month tile it: walking day by day from its start reaches its end."""
    start, nxt = period_bounds("monthly", now, tz)
    assert nxt is not None
    t, days = start, 0
    while t < nxt:
        d_start, d_next = period_bounds("daily", t, tz)
        assert d_start == t and d_next is not None
        t, days = d_next, days + 1
    assert t == nxt
    assert 27 <= days <= 31


@pytest.mark.parametrize(
    "tz",
    ["America/Santiago", "America/Havana", "Asia/Beirut", "America/Asuncion", "Africa/Cairo",
     "Asia/Tehran", "Pacific/Apia", "Australia/Lord_Howe"],
)
def test_every_clock_change_of_the_tricky_zones(tz: str) -> None:
    """Exhaustively, around every offset change from 1970 to 2040 in the zones that move
    their clocks at midnight: the properties above hold a second before, at and after."""
    checked = 0
    for year in range(1970, 2041):
        for change in transitions(tz, year):
            for now in (change - 1, change, change + 1):
                for period in ("daily", "weekly", "monthly"):
                    start, nxt = period_bounds(period, now, tz)  # type: ignore[arg-type]
                    assert nxt is not None and start <= now < nxt
                    assert is_period_start(start, tz) and is_period_start(nxt, tz)
                    assert period_bounds(period, nxt, tz)[0] == nxt  # type: ignore[arg-type]
                    assert period_bounds(period, start - 1, tz)[1] == start  # type: ignore[arg-type]
                    checked += 1
    assert checked > 0


def test_lifetime_never_resets() -> None:
    assert period_bounds("lifetime", 1_700_000_000.5, "Europe/Berlin") == (0, None)


def test_utc_month_boundaries_are_exact() -> None:
    leap = dt.datetime(2024, 2, 15, 12, tzinfo=dt.timezone.utc).timestamp()
    start, nxt = period_bounds("monthly", leap, "UTC")
    assert start == int(dt.datetime(2024, 2, 1, tzinfo=dt.timezone.utc).timestamp())
    assert nxt == int(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc).timestamp())
    dec = dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc).timestamp()
    assert period_bounds("monthly", dec, "UTC")[1] == int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp())


@pytest.mark.parametrize(
    ("tz", "utc_noon", "start_wall", "hours"),
    [
        # Clocks jump 00:00 -> 01:00: the day starts at 01:00 and lasts 23 hours.
        ("America/Santiago", "2024-09-08", "2024-09-08T01:00:00-03:00", 23),
        ("America/Havana", "2024-03-10", "2024-03-10T01:00:00-04:00", 23),
        ("Asia/Beirut", "2020-03-29", "2020-03-29T01:00:00+03:00", 23),
        # Clocks fall back 01:00 -> 00:00: midnight happens twice; the day starts at the first.
        ("America/Havana", "2024-11-03", "2024-11-03T00:00:00-04:00", 25),
        # An ordinary European DST end: 25 hours from an ordinary midnight.
        ("Europe/Berlin", "2024-10-27", "2024-10-27T00:00:00+02:00", 25),
    ],
)
def test_dst_at_midnight(tz: str, utc_noon: str, start_wall: str, hours: int) -> None:
    now = dt.datetime.fromisoformat(utc_noon + "T16:00:00+00:00").timestamp()
    start, nxt = period_bounds("daily", now, tz)
    assert start == int(dt.datetime.fromisoformat(start_wall).timestamp())
    assert nxt is not None and nxt - start == hours * HOUR


def test_skipped_day_has_no_period() -> None:
    """Samoa skipped 2011-12-30: Thursday 29th was followed by Saturday 31st."""
    tz = "Pacific/Apia"
    thu = dt.datetime(2011, 12, 29, 12, tzinfo=ZoneInfo(tz)).timestamp()
    _, end_thu = period_bounds("daily", thu, tz)
    assert end_thu is not None
    assert local(end_thu, tz).date() == dt.date(2011, 12, 31)
    week_start, week_end = period_bounds("weekly", thu, tz)
    assert week_end is not None and week_end - week_start == 6 * DAY


def test_unknown_period_and_zone() -> None:
    with pytest.raises(ValueError, match="unknown budget period"):
        period_bounds("hourly", 0, "UTC")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        period_bounds("daily", 0, "Mars/Olympus_Mons")


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_check_timezone_accepts(name: str) -> None:
    assert check_timezone(name) is None


@pytest.mark.parametrize("name", ["", "  ", "Mars/Olympus_Mons", "Europe/berlin ", "../../etc/passwd", "/etc/localtime"])
def test_check_timezone_rejects(name: str) -> None:
    problem = check_timezone(name)
    assert problem is not None and "time zone" in problem
