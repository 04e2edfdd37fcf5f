"""Aether's local-day ranges (usagestream/local_days.py, `time_range` of usagestream.http.params): every preset
at a fixed "now" in several zones, date-only bounds as half-open local days, which zone wins, and each error."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as hs
from multidict import MultiDict

from usagestream import local_days
from usagestream.http import params
from usagestream.http.errors import ApiError

TICK = timedelta(microseconds=1)
# 2026-11-28 is a Saturday; at 20:00 UTC it is already Sunday the 29th in Kolkata, Kathmandu and Auckland.
NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
KOLKATA, KATHMANDU, BERLIN = ZoneInfo("Asia/Kolkata"), ZoneInfo("Asia/Kathmandu"), ZoneInfo("Europe/Berlin")
NEW_YORK, AUCKLAND = ZoneInfo("America/New_York"), ZoneInfo("Pacific/Auckland")


def query(**values: str) -> MultiDict[str]:
    return MultiDict(values)


def resolve(zone: object = UTC, max_days: int | None = 365, **values: str) -> params.TimeRange:
    return params.time_range(query(**values), zone=zone, now=NOW, max_days=max_days)  # type: ignore[arg-type]


def refused(message: str, **values: str) -> None:
    with pytest.raises(ApiError) as caught:
        resolve(**values)
    assert (caught.value.status, caught.value.message) == (400, message)


def local(day: date, zone: ZoneInfo | timezone) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


SAT, SUN = date(2026, 11, 28), date(2026, 11, 29)
PRESETS = {
    "today": (0, 0),
    "yesterday": (-1, -1),
    "last7days": (-6, 0),
    "last30days": (-29, 0),
    "last90days": (-89, 0),
}


@pytest.mark.parametrize("zone", [ZoneInfo("UTC"), KOLKATA, KATHMANDU, BERLIN, NEW_YORK, AUCKLAND])
@pytest.mark.parametrize("preset", local_days.PRESETS)
def test_every_preset_is_whole_local_days_ending_today_in_the_zone(zone: ZoneInfo, preset: str) -> None:
    today = NOW.astimezone(zone).date()
    found = resolve(preset=preset, timezone=str(zone))
    first, last = found.days or (None, None)
    assert first is not None and last is not None
    if preset in PRESETS:
        back, ahead = PRESETS[preset]
        assert (first, last) == (today + timedelta(days=back), today + timedelta(days=ahead))
    assert found.start == local(first, zone) and found.end == local(last + timedelta(days=1), zone) - TICK
    assert found.zone == zone


def test_calendar_presets_in_a_zone_where_it_is_already_sunday() -> None:
    assert SUN == NOW.astimezone(KOLKATA).date() and SAT == NOW.date()
    expected = {
        "this_week": (date(2026, 11, 23), SUN),  # Monday..today
        "last_week": (date(2026, 11, 16), date(2026, 11, 22)),
        "this_month": (date(2026, 11, 1), SUN),
        "last_month": (date(2026, 10, 1), date(2026, 10, 31)),
        "this_year": (date(2026, 1, 1), SUN),
    }
    for preset, days in expected.items():
        assert resolve(preset=preset, timezone="Asia/Kolkata").days == days, preset
    # On a Monday this week is one day and last week the seven before it.
    monday = datetime(2026, 11, 30, 12, tzinfo=UTC)
    found = params.time_range(query(preset="this_week"), zone=UTC, now=monday)
    assert found.days == (date(2026, 11, 30), date(2026, 11, 30))
    found = params.time_range(query(preset="last_week"), zone=UTC, now=monday)
    assert found.days == (date(2026, 11, 23), date(2026, 11, 29))
    january = datetime(2027, 1, 15, tzinfo=UTC)
    assert params.time_range(query(preset="last_month"), zone=UTC, now=january).days == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


def test_two_dates_are_half_open_local_days_at_530_and_545() -> None:
    found = resolve(start_date="2026-02-03", end_date="2026-02-04", timezone="Asia/Kolkata")
    assert found.start == datetime(2026, 2, 2, 18, 30, tzinfo=UTC)
    assert found.end == datetime(2026, 2, 4, 18, 30, tzinfo=UTC) - TICK
    found = resolve(start_date="2026-02-03", end_date="2026-02-03", timezone="Asia/Kathmandu")
    assert (found.start, found.end) == (
        datetime(2026, 2, 2, 18, 15, tzinfo=UTC),
        datetime(2026, 2, 3, 18, 15, tzinfo=UTC) - TICK,
    )


def test_a_dst_day_has_its_own_length() -> None:
    spring = resolve(start_date="2026-03-08", end_date="2026-03-08", timezone="America/New_York")
    assert spring.start is not None and spring.end is not None
    assert spring.end + TICK - spring.start == timedelta(hours=23)
    autumn = resolve(start_date="2026-11-01", end_date="2026-11-01", timezone="America/New_York")
    assert autumn.start is not None and autumn.end is not None
    assert autumn.end + TICK - autumn.start == timedelta(hours=25)


def test_a_skipped_midnight_starts_the_day_at_the_transition() -> None:
    # Chile moves its clocks from 00:00 to 01:00 on 2026-09-06: that day starts at 04:00 UTC (-04 -> -03).
    santiago = ZoneInfo("America/Santiago")
    assert local_days.day_start(date(2026, 9, 6), santiago) == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert local_days.day_end(date(2026, 9, 5), santiago) == datetime(2026, 9, 6, 4, tzinfo=UTC) - TICK


@given(
    zone=hs.sampled_from(["Asia/Kolkata", "Asia/Kathmandu", "America/Santiago", "Australia/Lord_Howe", "UTC"]),
    first=hs.dates(min_value=date(1990, 1, 1), max_value=date(2040, 1, 1)),
    days=hs.integers(min_value=1, max_value=400),
)
def test_consecutive_days_partition_the_range(zone: str, first: date, days: int) -> None:
    tz = ZoneInfo(zone)
    last = first + timedelta(days=days - 1)
    spans = [(local_days.day_start(d, tz), local_days.day_end(d, tz)) for d in local_days.days_between(first, last)]
    assert spans[0][0] == local_days.day_start(first, tz) and spans[-1][1] == local_days.day_end(last, tz)
    assert all(a[1] + TICK == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(lo <= hi for lo, hi in spans)


def test_the_zone_timezone_wins_then_the_offset_then_the_default() -> None:
    both = resolve(start_date="2026-07-01", end_date="2026-07-01", timezone="Europe/Berlin", tz_offset_minutes="60")
    assert both.start == datetime(2026, 6, 30, 22, tzinfo=UTC)  # CEST (+02:00), not the offset sent
    offset = resolve(start_date="2026-07-01", end_date="2026-07-01", tz_offset_minutes="-210")
    assert offset.start == datetime(2026, 7, 1, 3, 30, tzinfo=UTC)
    assert resolve(KOLKATA, start_date="2026-07-01", end_date="2026-07-01").start == datetime(
        2026, 6, 30, 18, 30, tzinfo=UTC
    )
    # A name our zone database lacks falls back to the offset, as Aether did; an empty value is absent.
    fallback = resolve(start_date="2026-07-01", end_date="2026-07-01", timezone="Etc/Unknown", tz_offset_minutes="60")
    assert fallback.start == datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert resolve(KOLKATA, preset="today", timezone=" ", tz_offset_minutes="").zone == KOLKATA


def test_datetime_bounds_keep_their_meaning_and_a_lone_date_is_one_day_edge() -> None:
    found = resolve(KOLKATA, start_date="2026-02-03T10:00:00Z", end_date="2026-02-03T12:00:00", timezone="UTC")
    assert (found.start, found.end, found.days) == (
        datetime(2026, 2, 3, 10, tzinfo=UTC),
        datetime(2026, 2, 3, 12, tzinfo=UTC),
        None,
    )
    assert resolve(KOLKATA, start_date="2026-02-03").start == datetime(2026, 2, 2, 18, 30, tzinfo=UTC)
    lone_end = resolve(KOLKATA, end_date="2026-02-03")
    assert (lone_end.start, lone_end.end) == (None, datetime(2026, 2, 3, 18, 30, tzinfo=UTC) - TICK)
    mixed = resolve(start_date="2026-02-03", end_date="2026-02-01T00:00:00Z")  # no day checks: a datetime end
    assert mixed.start == datetime(2026, 2, 3, tzinfo=UTC) and mixed.days is None
    ancient = resolve(start_date="0001-01-01", end_date="0001-01-02", timezone="Asia/Kolkata")
    assert ancient.start == local_days.EARLIEST
    final = resolve(start_date="9999-12-31", end_date="9999-12-31", timezone="America/New_York")
    assert final.start == final.end == local_days.LATEST


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"preset": "last_decade"}, "Invalid preset"),
        ({"preset": "today", "start_date": "2026-01-01"}, "preset cannot be combined with start_date or end_date"),
        (
            {"preset": "today", "end_date": "2026-01-01T00:00:00Z"},
            "preset cannot be combined with start_date or end_date",
        ),
        ({"start_date": "2026-01-02", "end_date": "2026-01-01"}, "start_date must be <= end_date"),
        ({"start_date": "2025-01-01", "end_date": "2026-01-02"}, "Query range cannot exceed 365 days"),
        (
            {"start_date": "2026-02-30", "end_date": "2026-03-01"},
            "start_date must be a valid date in YYYY-MM-DD format",
        ),
        ({"end_date": "2026-13-01"}, "end_date must be a valid date in YYYY-MM-DD format"),
        ({"preset": "today", "tz_offset_minutes": "1.5"}, "tz_offset_minutes must be a valid integer"),
        ({"preset": "today", "tz_offset_minutes": "1440"}, "tz_offset_minutes must be between -1439 and 1439"),
        (
            {"preset": "today", "timezone": "Mars/Olympus"},
            "timezone: unknown time zone 'Mars/Olympus': expected an IANA name such as Asia/Kolkata",
        ),
        (
            {"preset": "today", "timezone": "../../etc/passwd"},
            "timezone: unknown time zone '../../etc/passwd': expected an IANA name such as Asia/Kolkata",
        ),
    ],
)
def test_bad_ranges_are_400_with_aethers_message(values: dict[str, str], message: str) -> None:
    refused(message, **values)


def test_the_day_limit() -> None:
    assert resolve(start_date="2025-01-01", end_date="2026-01-01").days == (date(2025, 1, 1), date(2026, 1, 1))
    assert resolve(max_days=None, start_date="2000-01-01", end_date="2026-01-01").days is not None
    assert resolve(max_days=None, preset="this_year").days == (date(2026, 1, 1), SAT)


def test_admin_range_defaults_only_without_a_preset() -> None:
    assert params.admin_range(query(), 30, NOW) == (NOW - timedelta(days=30), NOW)
    start, end = params.admin_range(query(preset="today", timezone="Asia/Kolkata"), 30, NOW)
    assert (start, end) == (local(SUN, KOLKATA), local(SUN + timedelta(days=1), KOLKATA) - TICK)
    assert params.date_range(query(preset="yesterday"), zone=KOLKATA, now=NOW) == (
        local(SAT, KOLKATA),
        local(SUN, KOLKATA) - TICK,
    )


def test_request_zone() -> None:
    assert params.request_zone(query(), KOLKATA) == KOLKATA
    assert params.request_zone(query(tz_offset_minutes="0"), KOLKATA) == UTC
    assert params.request_zone(query(tz_offset_minutes="+345"), UTC) == timezone(timedelta(hours=5, minutes=45))
    assert params.request_zone(query(timezone="Asia/Kathmandu"), UTC) == KATHMANDU
