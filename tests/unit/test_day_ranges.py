"""Aether's day ranges (usagestream/day_ranges.py): presets, validation messages, zones and their local days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from usagestream.day_ranges import (
    DayRange,
    DayRangeError,
    check_series,
    comparison,
    offset_zone,
    preset_days,
    required,
    resolve,
    zone_of,
)

WEDNESDAY = date(2026, 3, 4)
UTC_ZONE = ZoneInfo("UTC")
NOON = datetime(2026, 3, 4, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("preset", "first", "last"),
    [
        ("today", "2026-03-04", "2026-03-04"),
        ("yesterday", "2026-03-03", "2026-03-03"),
        ("last7days", "2026-02-26", "2026-03-04"),
        ("last30days", "2026-02-03", "2026-03-04"),
        ("last90days", "2025-12-05", "2026-03-04"),
        ("this_week", "2026-03-02", "2026-03-04"),
        ("last_week", "2026-02-23", "2026-03-01"),
        ("this_month", "2026-03-01", "2026-03-04"),
        ("last_month", "2026-02-01", "2026-02-28"),
        ("this_year", "2026-01-01", "2026-03-04"),
    ],
)
def test_presets(preset: str, first: str, last: str) -> None:
    assert preset_days(preset, WEDNESDAY) == (date.fromisoformat(first), date.fromisoformat(last))


def test_today_is_the_zone_today() -> None:
    late = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    assert resolve(None, None, "today", ZoneInfo("Asia/Tokyo"), late, 30).first == date(2026, 3, 5)
    assert resolve(None, None, "today", offset_zone(-600), late, 30).first == date(2026, 3, 4)


def test_default_range_is_the_default_days_or_today() -> None:
    assert resolve(None, None, None, UTC_ZONE, NOON, 30) == DayRange(date(2026, 2, 3), WEDNESDAY, UTC_ZONE)
    assert resolve(None, None, None, UTC_ZONE, NOON, 0) == DayRange(WEDNESDAY, WEDNESDAY, UTC_ZONE)


@pytest.mark.parametrize(
    ("start", "end", "preset", "message"),
    [
        ("2026-03-01", None, None, "Either preset or both start_date and end_date must be provided"),
        (None, "2026-03-01", "today", "preset cannot be combined with start_date or end_date"),
        (None, None, "last_decade", "Invalid preset"),
        ("2026-3-1", "2026-03-02", None, "start_date must be a valid date in YYYY-MM-DD format"),
        ("2026-03-01", "2026-02-30", None, "end_date must be a valid date in YYYY-MM-DD format"),
        ("2026-03-02", "2026-03-01", None, "start_date must be <= end_date"),
        ("2025-03-01", "2026-03-02", None, "Query range cannot exceed 365 days"),
        ("0002-12-31", "0003-01-02", None, "start_date must be between 0003-01-01 and 9998-12-30"),
    ],
)
def test_refusals_carry_aethers_text(start: str | None, end: str | None, preset: str | None, message: str) -> None:
    with pytest.raises(DayRangeError) as caught:
        resolve(start, end, preset, UTC_ZONE, NOON, 30)
    assert str(caught.value) == message


def test_a_year_of_days_is_allowed() -> None:
    assert resolve("2025-03-01", "2026-03-01", None, UTC_ZONE, NOON, 30).days == 366


def test_offset_zones_are_fixed_and_named() -> None:
    for minutes, name in ((330, "UTC+05:30"), (-210, "UTC-03:30"), (345, "UTC+05:45"), (0, "UTC+00:00")):
        z = offset_zone(minutes)
        assert z.key == name
        for when in (
            datetime(1900, 1, 1, tzinfo=UTC),
            datetime(2026, 7, 1, tzinfo=UTC),
            datetime(9998, 1, 1, tzinfo=UTC),
        ):
            assert when.astimezone(z).utcoffset() == timedelta(minutes=minutes)
    with pytest.raises(DayRangeError, match="between -720 and 840"):
        offset_zone(841)


def test_zone_choice() -> None:
    default = ZoneInfo("Europe/Berlin")
    assert zone_of("Asia/Kolkata", "60", default) == ZoneInfo("Asia/Kolkata")  # the IANA name wins
    assert zone_of(None, "60", default).key == "UTC+01:00"
    assert zone_of(None, None, default) is default
    for bad in ("Mars/Olympus", "../etc/passwd", "Europe/Berlin\x00"):
        with pytest.raises(DayRangeError, match="timezone must be an IANA time zone name"):
            zone_of(bad, None, default)
    with pytest.raises(DayRangeError, match="tz_offset_minutes must be a valid integer"):
        zone_of("Asia/Kolkata", "5.5", default)  # a bad offset is refused whatever else is sent


def test_local_days_across_dst() -> None:
    ny = ZoneInfo("America/New_York")
    spring = DayRange(date(2026, 3, 8), date(2026, 3, 8), ny)  # 23 hours
    lo, hi = spring.bounds()
    assert hi - lo == timedelta(hours=23) - timedelta(microseconds=1)
    assert lo == datetime(2026, 3, 8, 5, tzinfo=UTC)
    fall = DayRange(date(2026, 10, 31), date(2026, 11, 2), ny)
    assert [b - a for a, b in fall.day_spans()] == [timedelta(hours=24), timedelta(hours=25), timedelta(hours=24)]


def test_comparison_ranges() -> None:
    current = DayRange(date(2026, 3, 1), date(2026, 3, 7), UTC_ZONE)
    assert comparison(current, "period") == DayRange(date(2026, 2, 22), date(2026, 2, 28), UTC_ZONE)
    assert comparison(current, "year") == DayRange(date(2025, 3, 1), date(2025, 3, 7), UTC_ZONE)
    leap = DayRange(date(2028, 2, 29), date(2028, 2, 29), UTC_ZONE)
    assert comparison(leap, "year") == DayRange(date(2027, 2, 28), date(2027, 2, 28), UTC_ZONE)
    with pytest.raises(DayRangeError, match="comparison_type must be 'period' or 'year'"):
        comparison(current, "month")


@pytest.mark.parametrize(
    ("first", "kind"), [("0150-05-06", "period"), ("0003-01-01", "year"), ("0003-06-01", "period")]
)
def test_comparison_before_the_earliest_date_is_refused(first: str, kind: str) -> None:
    """Found by schemathesis: current_start=0150-05-06, current_end=9314-05-13 was a 500 (date overflow)."""
    current = DayRange(
        date.fromisoformat(first), date(9314, 5, 13) if first == "0150-05-06" else date(3, 12, 1), UTC_ZONE
    )
    with pytest.raises(DayRangeError, match="comparison range underflow"):
        comparison(current, kind)


def test_required_dates() -> None:
    names = ("current_start", "current_end")
    with pytest.raises(DayRangeError, match="current_end is required"):
        required("2026-01-01", None, UTC_ZONE, names)
    assert required("2020-01-01", "2026-01-01", UTC_ZONE, names).days == 2193  # no span limit


def test_series_limits() -> None:
    check_series(DayRange(WEDNESDAY, WEDNESDAY, UTC_ZONE), "hour")
    with pytest.raises(DayRangeError, match="Hour granularity only supports single day query"):
        check_series(DayRange(WEDNESDAY, WEDNESDAY + timedelta(days=1), UTC_ZONE), "hour")
    check_series(DayRange(WEDNESDAY, WEDNESDAY + timedelta(days=89), UTC_ZONE), "day")
    with pytest.raises(DayRangeError, match=r"cannot exceed 90 days \(requested 91 days\)"):
        check_series(DayRange(WEDNESDAY, WEDNESDAY + timedelta(days=90), UTC_ZONE), "day")
