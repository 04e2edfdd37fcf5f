"""Property tests of usagestream.ranges: each instant of [start, end] is counted exactly once, no other is."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from usagestream import ranges
from usagestream.range_bounds import local_midnight
from usagestream.ranges import MAX_PIECES, TICK, Plan, Span, clamp, decompose
from usagestream.stats import GRAIN_15M, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH, buckets

ZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Shanghai",
    "Pacific/Chatham",
    "America/Asuncion",
    "Asia/Tehran",
    "Africa/Casablanca",
    "Pacific/Apia",
    "Africa/Monrovia",
]

# (zone, instant near one of its DST changes or odd midnights).
PAIRS = [
    ("America/St_Johns", datetime(2024, 3, 10, 5, 30, tzinfo=UTC)),
    ("America/New_York", datetime(2024, 3, 10, 7, 0, tzinfo=UTC)),
    ("America/Havana", datetime(2024, 11, 3, 4, 0, tzinfo=UTC)),  # 01:00 -> 00:00: midnight repeated
    ("America/Havana", datetime(2024, 3, 10, 5, 0, tzinfo=UTC)),  # 00:00 -> 01:00: midnight skipped
    ("America/Santiago", datetime(2024, 4, 7, 3, 0, tzinfo=UTC)),  # 24:00 -> 23:00
    ("America/Santiago", datetime(2024, 9, 8, 4, 0, tzinfo=UTC)),  # 24:00 -> 01:00
    ("Australia/Lord_Howe", datetime(2024, 4, 6, 14, 30, tzinfo=UTC)),  # 02:00 -> 01:30
    ("Australia/Lord_Howe", datetime(2024, 10, 5, 15, 30, tzinfo=UTC)),  # 02:00 -> 02:30
    ("Europe/Berlin", datetime(2024, 3, 31, 1, 0, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2024, 10, 27, 1, 0, tzinfo=UTC)),
    ("Asia/Tehran", datetime(2022, 3, 21, 20, 30, tzinfo=UTC)),
    ("Pacific/Chatham", datetime(2024, 4, 6, 14, 0, tzinfo=UTC)),
    ("Asia/Kathmandu", datetime(1986, 1, 1, 0, 0, tzinfo=UTC)),  # +05:30 -> +05:45
    ("Asia/Kolkata", datetime(1941, 10, 1, 0, 0, tzinfo=UTC)),
    ("Africa/Casablanca", datetime(2024, 3, 10, 2, 0, tzinfo=UTC)),
    ("Pacific/Apia", datetime(2011, 12, 30, 10, 0, tzinfo=UTC)),  # a whole local day skipped
    (
        "Africa/Monrovia",
        datetime(1971, 6, 1, 0, 0, tzinfo=UTC),
    ),  # -00:44:30: midnights off the 15-minute grid
    ("Africa/Monrovia", datetime(1972, 1, 7, 0, 0, tzinfo=UTC)),  # -00:44:30 -> +00:00
    ("Europe/Amsterdam", datetime(1936, 6, 1, 0, 0, tzinfo=UTC)),  # +00:19:32 / +01:19:32
]
ANCHORS = [a for _, a in PAIRS] + [datetime(2026, 2, 3, 16, 0, tzinfo=UTC)]
cases = st.one_of(
    st.sampled_from(PAIRS),
    st.tuples(st.sampled_from(ZONES), st.sampled_from(ANCHORS)),
)


def count(plan: Plan, t: datetime, tz: ZoneInfo) -> int:
    """How many times the plan counts a record created at t (as the writer buckets it): edges once each,
    each bucket row holding it `weight` times."""
    n = sum(e.lo <= t < e.hi for e in plan.edges)
    held = dict(buckets(t, tz))
    return n + sum(w for g, lo, hi, w in plan.pieces if lo <= held[g] < hi)


SIZES = {
    GRAIN_15M: timedelta(minutes=15),
    GRAIN_HOUR: timedelta(hours=1),
    GRAIN_DAY: timedelta(hours=23),
    GRAIN_MONTH: timedelta(days=27),
}


def probes(start: datetime, end: datetime, plan: Plan, extra: list[timedelta]) -> list[datetime]:
    points = [start, end, start - TICK, end + TICK]
    for s in plan.edges:
        points += [s.lo, s.lo - TICK, s.hi, s.hi - TICK]
    for g, lo, hi, _ in plan.pieces:
        size = SIZES[g]
        for b in (lo, hi):
            points += [b, b - TICK, b + size, b + size - TICK, b + size / 2, b + size + timedelta(hours=2)]
            points += [b - size, b - size / 2, b - timedelta(hours=2)]
        points += [lo + (hi - lo) * k / 7 for k in range(1, 7)]
    points += [start + x for x in extra]
    return points


def check(start: datetime, end: datetime, tz: ZoneInfo, extra: list[timedelta], extent: bool = False) -> Plan:
    newest = end + timedelta(hours=5) if extent else None
    plan = decompose(start, end, tz, newest)
    assert len(plan.pieces) <= MAX_PIECES and len(plan.edges) <= 2, plan
    for t in probes(start, end, plan, extra):
        if newest is not None and t > newest:
            continue  # no record lies after the newest: the plan may drop buckets there
        assert count(plan, t, tz) == (1 if start <= t <= end else 0), (t, plan)
    return plan


offsets = st.one_of(
    st.integers(0, 4 * 24 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(0, 4 * 24 * 4).map(lambda q: timedelta(minutes=15 * q)),
)
durations = st.one_of(
    st.integers(0, 12 * 24 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(0, 400 * 24 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(0, 12 * 24 * 4).map(lambda q: timedelta(minutes=15 * q)),
    st.integers(0, 3600).map(lambda s: timedelta(seconds=s)),
)


@settings(max_examples=600, deadline=None)
@given(
    case=cases,
    shift=offsets,
    length=durations,
    extra=st.lists(st.integers(-40 * 86400 * 10**6, 400 * 86400 * 10**6).map(lambda u: timedelta(microseconds=u))),
    extent=st.booleans(),
)
@example(case=PAIRS[2], shift=timedelta(days=1), length=timedelta(days=3), extra=[], extent=False)
def test_every_instant_is_counted_once(
    case: tuple[str, datetime], shift: timedelta, length: timedelta, extra: list[timedelta], extent: bool
) -> None:
    zone, anchor = case
    tz = ZoneInfo(zone)
    start = anchor - timedelta(days=2) + shift
    check(start, start + length, tz, extra, extent)


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    seconds=st.integers(0, 40 * 365 * 86400),
    days=st.integers(0, 400),
    extent=st.booleans(),
)
def test_random_years(zone: str, seconds: int, days: int, extent: bool) -> None:
    tz = ZoneInfo(zone)
    start = datetime(1995, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=seconds % 997)
    check(start, start + timedelta(days=days, seconds=seconds % 7919), tz, [], extent)


def test_aligned_range_has_no_start_edge_and_a_point_end_edge() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 1, 3, tzinfo=UTC)
    plan = decompose(start, end, ZoneInfo("UTC"))
    assert plan.edges == (Span(end, end + TICK),)  # a record at exactly `end` counts
    assert plan.pieces == ((GRAIN_DAY, start, end, 1),)  # two days, one run


def test_same_bucket_is_one_edge() -> None:
    start = datetime(2026, 1, 1, 10, 1, tzinfo=UTC)
    plan = decompose(start, start + timedelta(minutes=5), ZoneInfo("UTC"))
    assert plan.edges == (Span(start, start + timedelta(minutes=5) + TICK),)
    assert plan.pieces == ()


def test_kathmandu_days_are_used() -> None:
    tz = ZoneInfo("Asia/Kathmandu")
    start = datetime(2026, 1, 1, 7, tzinfo=UTC)
    plan = decompose(start, start + timedelta(days=10), tz)
    days = [(lo, hi) for g, lo, hi, w in plan.pieces if g == GRAIN_DAY and w == 1]
    assert len(days) == 1  # the last partial day may be read as its day row minus its hours after the end
    lo, hi = days[0]
    assert hi - lo >= timedelta(days=9)
    assert all(d.astimezone(tz).hour == 0 and d.astimezone(tz).minute == 0 for d in (lo, hi))


def test_a_year_ending_now_reads_a_few_dozen_buckets() -> None:
    """365 days ending a few seconds before the newest record: months, the current month minus what lies after
    the range (nothing stored but the current quarter), a few days, hours and quarters at the start."""
    tz = ZoneInfo("UTC")
    last = datetime(2026, 11, 28, 10, 40, 3, tzinfo=UTC)
    end = last - timedelta(seconds=7)
    start = end - timedelta(days=365) + timedelta(minutes=7, seconds=13)
    plan = decompose(start, end, tz, last)
    months = [(lo, hi) for g, lo, hi, w in plan.pieces if g == GRAIN_MONTH and w == 1]
    assert len(months) == 1
    assert months[0][1] - months[0][0] >= timedelta(days=334)  # 11 whole months and the current one
    assert len(plan.pieces) <= 12
    check(start, end, tz, [], extent=True)


def test_a_range_inside_one_month_may_subtract_from_it() -> None:
    tz = ZoneInfo("Europe/Berlin")
    start, end = datetime(2026, 6, 2, 9, 5, tzinfo=UTC), datetime(2026, 6, 29, 13, 20, tzinfo=UTC)
    plan = decompose(start, end, tz)
    assert any(g == GRAIN_MONTH for g, _, _, _ in plan.pieces)
    assert any(w < 0 for _, _, _, w in plan.pieces)
    check(start, end, tz, [timedelta(days=d, minutes=7) for d in range(-3, 31)])


def test_repeated_midnight_falls_back_to_quarters() -> None:
    tz = ZoneInfo("America/Havana")
    assert local_midnight(datetime(2024, 11, 3).date(), tz) is None
    assert local_midnight(datetime(2024, 11, 4).date(), tz) is not None


def test_clamp() -> None:
    a, b = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert clamp(None, None, a, b) == (a, b)
    assert clamp(None, None, None, None) is None
    assert clamp(b + TICK, None, a, b) is None
    assert clamp(a - timedelta(days=1), a + TICK, a, b) == (a, a + TICK)


# The years the parser accepts for created_at (docs/contract-notes.md, "Shapes and types"): the data extent,
# and so an open range, may span them.
FIRST = datetime(2, 1, 2, tzinfo=UTC)
LAST = datetime(9998, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
SPAN_US = int((LAST - FIRST) / TICK)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    a=st.integers(0, SPAN_US),
    b=st.integers(0, SPAN_US),
    extent=st.booleans(),
    extra=st.lists(st.integers(0, SPAN_US), max_size=20),
)
def test_any_range_of_the_accepted_years_is_a_few_runs(
    zone: str, a: int, b: int, extent: bool, extra: list[int]
) -> None:
    """However long the range, the plan has at most MAX_PIECES runs (check asserts it) and stays exact."""
    start, end = FIRST + TICK * min(a, b), FIRST + TICK * max(a, b)
    check(start, end, ZoneInfo(zone), [FIRST + TICK * x - start for x in extra], extent)


def test_planning_the_widest_range_is_cheap() -> None:
    """Records at both ends of the accepted years: one plan per zone, each a few runs, in a few ms of CPU (the
    bound is 50 ms, loose for a loaded machine; enumerating the buckets took tens of seconds)."""
    for zone in ZONES:
        tz = ZoneInfo(zone)
        began = time.process_time()
        plan = decompose(FIRST, LAST - timedelta(days=1), tz, LAST - timedelta(days=1))
        assert time.process_time() - began < 0.05, zone
        assert len(plan.pieces) <= MAX_PIECES


def test_a_record_dated_2100_adds_no_buckets() -> None:
    """An open range over 2026-2100 reads one run per grain and end, not one piece per month or day."""
    tz = ZoneInfo("Asia/Shanghai")
    start, last = datetime(2026, 1, 5, 3, 7, 11, tzinfo=UTC), datetime(2100, 6, 1, 12, 0, 1, tzinfo=UTC)
    plan = check(start, last, tz, [], extent=True)
    assert len(plan.pieces) <= 8
    assert [g for g, _, _, w in plan.pieces if w > 0].count(GRAIN_MONTH) == 1


@pytest.mark.parametrize(
    "zone",
    [
        "America/Havana",
        "America/Santiago",
        "America/Asuncion",
        "Pacific/Apia",
        "Africa/Casablanca",
        "Africa/Monrovia",
        "Europe/Amsterdam",
    ],
)
def test_runs_over_irregular_days_count_each_instant_once(zone: str) -> None:
    """Runs of days and months pass over skipped and repeated midnights (and off-grid eras): probe every local
    midnight of the range and the hours around it, where DST changes happen."""
    tz = ZoneInfo(zone)
    years = {"Pacific/Apia": 2010, "Africa/Monrovia": 1970, "Europe/Amsterdam": 1935}.get(zone, 2022)
    start = datetime(years, 1, 3, 7, 5, 9, tzinfo=UTC)
    end = start + timedelta(days=3 * 365 + 11, hours=5, minutes=3)
    plan = decompose(start, end, tz)
    assert len(plan.pieces) <= MAX_PIECES
    day = start.astimezone(tz).date()
    while (mid := datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)) <= end:
        for t in (mid + timedelta(minutes=m) for m in range(-180, 181, 15)):
            for probe in (t, t - TICK):
                assert count(plan, probe, tz) == (1 if start <= probe <= end else 0), (probe, plan)
        day += timedelta(days=1)


def test_the_runs_of_a_core_are_built_once_for_every_range_over_the_same_quarters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two ranges cut inside the same quarters share their aligned core: its runs are built for the first and
    remembered for the second (a dashboard's range ending now keeps its core for up to 15 minutes); the cut
    ends differ, and each plan is the one built from scratch."""
    built: list[object] = []

    class Counted(ranges._Cover):
        def __init__(self, *args: object) -> None:
            built.append(args)
            super().__init__(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ranges, "_Cover", Counted)
    ranges.core_runs.cache_clear()
    tz, newest = ZoneInfo("Europe/Berlin"), datetime(2026, 3, 20, tzinfo=UTC)
    start, end = datetime(2026, 1, 3, 10, 7, 12, tzinfo=UTC), datetime(2026, 3, 14, 16, 52, tzinfo=UTC)
    first = decompose(start, end, tz, newest)
    second = decompose(start + timedelta(minutes=1), end - timedelta(minutes=1), tz, newest)
    assert len(built) == 1
    assert first.pieces == second.pieces and first.edges != second.edges
    ranges.core_runs.cache_clear()
    assert decompose(start + timedelta(minutes=1), end - timedelta(minutes=1), tz, newest) == second
    assert len(built) == 2
