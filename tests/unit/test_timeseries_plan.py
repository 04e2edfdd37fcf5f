"""Property tests of usagestream.timeseries: the buckets of a granularity in a zone, and that each bucket counts
every instant of its part of the range exactly once (as the writer files a record created then) and no other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from testsupport import ticks_during

from usagestream.stats import GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH, buckets
from usagestream.timeseries import (
    GRANULARITIES,
    MAX_BUCKETS,
    TICK,
    Extent,
    PlanError,
    SeriesPlan,
    _count,
    _counted,
    _run,
    _span_boundary_steps,
    boundaries,
    plan,
    plan_sliced,
    runs,
)

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
    "Asia/Tehran",
    "Africa/Casablanca",
    "Pacific/Apia",
]
ANCHORS = [
    datetime(2024, 3, 10, 5, 30, tzinfo=UTC),
    datetime(2024, 11, 3, 4, 0, tzinfo=UTC),  # Havana: midnight repeated
    datetime(2024, 3, 10, 5, 0, tzinfo=UTC),  # Havana: midnight skipped
    datetime(2024, 4, 7, 3, 0, tzinfo=UTC),  # Santiago 24:00 -> 23:00
    datetime(2024, 9, 8, 4, 0, tzinfo=UTC),  # Santiago 24:00 -> 01:00
    datetime(2024, 4, 6, 14, 30, tzinfo=UTC),  # Lord Howe 02:00 -> 01:30
    datetime(2024, 10, 5, 15, 30, tzinfo=UTC),  # Lord Howe 02:00 -> 02:30
    datetime(2024, 10, 27, 1, 0, tzinfo=UTC),
    datetime(2011, 12, 30, 10, 0, tzinfo=UTC),  # Apia: a whole local day skipped
    datetime(2026, 2, 3, 16, 0, tzinfo=UTC),
]
# Longest range tried per granularity (keeps every case under MAX_BUCKETS).
SPAN = {
    "15m": timedelta(days=20),
    "hour": timedelta(days=60),
    "day": timedelta(days=400),
    "week": timedelta(days=800),
    "month": timedelta(days=1500),
}
WALL = {"15m": 15, "hour": 60}
SIZE = {0: timedelta(minutes=15), 2: timedelta(hours=1), 1: timedelta(hours=25), 3: timedelta(days=32)}


def holding(p: SeriesPlan, t: datetime, stored: ZoneInfo) -> list[int]:
    """The bucket indexes counting a record created at `t`, once per row or slice that counts it."""
    filed = set(buckets(t, stored))
    hits = [i for i, lo, hi in p.slices if lo <= t < hi]
    return hits + [i for i, g, b in p.rows if (g, b) in filed]


def probes(start: datetime, end: datetime, p: SeriesPlan, extra: list[timedelta]) -> list[datetime]:
    points = [start, end, start - TICK, end + TICK] + [start + x for x in extra]
    for b in p.buckets:
        points += [b.start, b.start - TICK, b.end - TICK, b.start + (b.end - b.start) / 2]
    for _, lo, hi in p.slices:
        points += [lo, lo - TICK, hi, hi - TICK]
    for _, g, b in p.rows:
        points += [b, b - TICK, b + SIZE[g], b + SIZE[g] / 2]
    return points


def check_buckets(p: SeriesPlan, start: datetime, end: datetime, granularity: str, tz: ZoneInfo) -> None:
    bs = p.buckets
    assert bs[0].start <= start < bs[0].end and bs[-1].start <= end < bs[-1].end
    assert all(a.end == b.start and a.start < a.end for a, b in zip(bs, bs[1:], strict=False))
    for b in bs:
        local = b.start.astimezone(tz)
        assert b.start == b.start.astimezone(UTC).replace(minute=b.start.minute // 15 * 15, second=0, microsecond=0)
        if granularity in WALL:
            assert local.minute % WALL[granularity] == 0 and local.second == 0
            quarter = b.start + timedelta(minutes=15)
            while quarter < b.end:  # no wall-clock boundary strictly inside a bucket
                assert quarter.astimezone(tz).minute % WALL[granularity] != 0
                quarter += timedelta(minutes=15)
        else:
            assert b.start == datetime.combine(local.date(), datetime.min.time(), tzinfo=tz).astimezone(UTC) or (
                local.hour != 0  # a skipped midnight: the bucket opens when the clock jumps past it
            )
            assert granularity != "week" or local.weekday() == 0 or local.hour != 0
            assert granularity != "month" or local.day == 1 or local.hour != 0


def check(
    start: datetime,
    end: datetime,
    granularity: str,
    tz: ZoneInfo,
    stored: ZoneInfo | None,
    data: tuple[timedelta, timedelta],
    extra: list[timedelta],
) -> SeriesPlan:
    first, last = start + data[0], start + data[1]
    now = start + (end - start) / 2
    p = plan(start, end, granularity, tz, now, Extent(min(first, last), max(first, last), stored))
    check_buckets(p, start, end, granularity, tz)
    assert [b.partial for b in p.buckets] == [b.start < start or b.end > end + TICK or b.end > now for b in p.buckets]
    lo, hi = min(first, last), max(first, last)
    filed_in = stored or ZoneInfo("UTC")
    for t in probes(start, end, p, extra):
        if not lo <= t <= hi:
            continue  # no record there: a plan may read whole rows across it
        want = [i for i, b in enumerate(p.buckets) if b.start <= t < b.end] if start <= t <= end else []
        assert holding(p, t, filed_in) == want, (t, p)
    return p


deltas = st.integers(-3 * 86400 * 10**6, 40 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us))


@settings(max_examples=500, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    anchor=st.sampled_from(ANCHORS),
    granularity=st.sampled_from(GRANULARITIES),
    shift=st.one_of(
        st.integers(0, 4 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us)),
        st.integers(0, 4 * 96).map(lambda q: timedelta(minutes=15 * q)),
    ),
    fraction=st.floats(0, 1),
    stored=st.sampled_from(["same", "none", "UTC", "Asia/Kolkata"]),
    data=st.tuples(deltas, deltas),
    extra=st.lists(deltas, max_size=20),
)
@example(
    zone="Asia/Kolkata",
    anchor=ANCHORS[-1],
    granularity="month",
    shift=timedelta(hours=3, minutes=7),
    fraction=0.5,
    stored="same",
    data=(timedelta(days=-2), timedelta(days=900)),
    extra=[],
)
def test_every_instant_is_counted_once_in_its_bucket(
    zone: str,
    anchor: datetime,
    granularity: str,
    shift: timedelta,
    fraction: float,
    stored: str,
    data: tuple[timedelta, timedelta],
    extra: list[timedelta],
) -> None:
    tz = ZoneInfo(zone)
    start = anchor - timedelta(days=2) + shift
    end = start + SPAN[granularity] * fraction
    stored_zone = tz if stored == "same" else None if stored == "none" else ZoneInfo(stored)
    check(start, end, granularity, tz, stored_zone, data, extra)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    anchor=st.sampled_from(ANCHORS),
    granularity=st.sampled_from(GRANULARITIES),
    shift=st.integers(0, 4 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us)),
    fraction=st.floats(0, 1),
    stored=st.sampled_from(["same", "none", "UTC"]),
    data=st.tuples(deltas, deltas),
)
def test_a_bucket_counted_whole_by_one_row_is_planned_as_tiling_plans_it(
    zone: str,
    anchor: datetime,
    granularity: str,
    shift: timedelta,
    fraction: float,
    stored: str,
    data: tuple[timedelta, timedelta],
) -> None:
    """The planner's shortcut for a bucket that is one stored row (`_whole_row`) lists what tiling every bucket
    (`_count`) lists: the same rows and slices, in the same order."""
    tz = ZoneInfo(zone)
    start = anchor - timedelta(days=2) + shift
    end = start + SPAN[granularity] * fraction
    stored_zone = tz if stored == "same" else None if stored == "none" else ZoneInfo(stored)
    first, last = sorted((start + data[0], start + data[1]))
    extent = Extent(first, last, stored_zone)
    p = plan(start, end, granularity, tz, start + (end - start) / 2, extent)
    rows: list[tuple[int, int, datetime]] = []
    slices: list[tuple[int, datetime, datetime]] = []
    for i, b in enumerate(p.buckets):
        span = _counted(b, start, end, extent)
        if span is not None:
            _count(i, span, extent, rows, slices)
    assert (p.rows, p.slices) == (tuple(rows), tuple(slices))


def test_configured_zone_reads_one_row_per_day_and_month() -> None:
    tz = ZoneInfo("Asia/Kathmandu")
    start, end = datetime(2025, 12, 31, 18, 15, tzinfo=UTC), datetime(2026, 3, 31, 18, 15, tzinfo=UTC) - TICK
    ext = Extent(start - timedelta(days=400), end + timedelta(days=1), tz)
    days = plan(start, end, "day", tz, end, ext)
    assert len(days.buckets) == 90 and not days.slices
    assert [g for _, g, _ in days.rows] == [GRAIN_DAY] * 90
    months = plan(start, end, "month", tz, end, ext)
    assert [g for _, g, _ in months.rows] == [GRAIN_MONTH] * 3
    other = plan(start, end, "day", ZoneInfo("UTC"), end, ext)  # not the stored zone: hours and quarters
    assert {g for _, g, _ in other.rows} <= {0, GRAIN_HOUR}


def test_a_range_ending_after_the_newest_record_reads_the_whole_last_bucket() -> None:
    tz = ZoneInfo("UTC")
    last = datetime(2026, 3, 15, 10, 40, 3, tzinfo=UTC)
    start, end = datetime(2026, 1, 1, tzinfo=UTC), last + timedelta(seconds=9)
    p = plan(start, end, "month", tz, end, Extent(start, last, tz))
    assert [(i, g) for i, g, _ in p.rows] == [(0, GRAIN_MONTH), (1, GRAIN_MONTH), (2, GRAIN_MONTH)]
    assert p.slices == () and p.buckets[-1].partial and not p.buckets[0].partial


def test_cut_edges_are_recounted_from_records() -> None:
    tz = ZoneInfo("UTC")
    start, end = datetime(2026, 1, 1, 10, 7, tzinfo=UTC), datetime(2026, 1, 1, 12, 20, tzinfo=UTC)
    ext = Extent(start - timedelta(days=1), end + timedelta(days=1), tz)
    p = plan(start, end, "hour", tz, end + timedelta(days=1), ext)
    assert [(b.start.hour, b.partial) for b in p.buckets] == [(10, True), (11, False), (12, True)]
    assert p.slices == (
        (0, start, start.replace(minute=15)),
        (2, end.replace(minute=15), end + TICK),
    )


def test_dst_hours_in_lord_howe_are_90_minutes() -> None:
    """30-minute changes: back at 02:00 to 01:30 and forward at 02:00 to 02:30; either way the wall clock reads
    no whole hour for 90 minutes after 01:00."""
    tz = ZoneInfo("Australia/Lord_Howe")
    for lo in (datetime(2024, 4, 6, 13, tzinfo=UTC), datetime(2024, 10, 5, 14, tzinfo=UTC)):
        got = boundaries(lo, lo + timedelta(hours=3), "hour", tz)
        lengths = [(b1.astimezone(tz).strftime("%H:%M"), b2 - b1) for b1, b2 in zip(got, got[1:], strict=False)]
        assert ("01:00", timedelta(minutes=90)) in lengths
        assert all(n == timedelta(hours=1) for label, n in lengths if label != "01:00")


def test_repeated_hour_is_two_buckets() -> None:
    tz = ZoneInfo("Europe/Berlin")
    got = boundaries(datetime(2024, 10, 27, 0, 0, tzinfo=UTC), datetime(2024, 10, 27, 1, 59, tzinfo=UTC), "hour", tz)
    assert [b.astimezone(tz).strftime("%H:%M%z") for b in got] == ["02:00+0200", "02:00+0100", "03:00+0100"]


def test_off_grid_offsets_are_refused() -> None:
    tz = ZoneInfo("Africa/Monrovia")  # -00:44:30 until 1972
    for granularity in GRANULARITIES:
        with pytest.raises(PlanError, match="Africa/Monrovia"):
            boundaries(datetime(1971, 6, 1, tzinfo=UTC), datetime(1971, 6, 2, tzinfo=UTC), granularity, tz)
    assert boundaries(datetime(1990, 6, 1, tzinfo=UTC), datetime(1990, 6, 1, 1, tzinfo=UTC), "hour", tz)


def test_too_many_buckets_are_refused() -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    utc = ZoneInfo("UTC")
    assert len(boundaries(start, start + timedelta(hours=MAX_BUCKETS - 1), "hour", utc)) == MAX_BUCKETS + 1
    with pytest.raises(PlanError, match="more than 10000 buckets"):
        boundaries(start, start + timedelta(hours=MAX_BUCKETS), "hour", utc)
    with pytest.raises(PlanError, match="start_date must not be after end_date"):
        plan(start, start - TICK, "day", utc, start, None)


def test_no_data_reads_nothing_but_lists_every_bucket() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    p = plan(start, start + timedelta(days=6, hours=23), "day", ZoneInfo("UTC"), start, None)
    assert len(p.buckets) == 7 and p.rows == () and p.slices == ()


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_the_last_representable_years_are_refused_not_crashed(granularity: str) -> None:
    tz = ZoneInfo("America/New_York")
    for start, end in (
        (datetime(9999, 1, 1, tzinfo=UTC), datetime(9999, 12, 29, tzinfo=UTC)),
        (datetime(1, 1, 3, tzinfo=UTC), datetime(1, 1, 9, tzinfo=UTC)),
    ):
        try:
            got = plan(start, end, granularity, tz, end, None)
        except PlanError as exc:
            assert "buckets" in str(exc) or "UTC-04:56:02" in str(exc)
        else:
            assert got.buckets[0].start <= start and got.buckets[-1].end > end


def test_runs_merge_consecutive_rows_of_a_grain() -> None:
    h = datetime(2026, 1, 1, tzinfo=UTC)
    rows = tuple((i, GRAIN_HOUR, h + timedelta(hours=i)) for i in range(5))
    rows += ((9, 0, h + timedelta(hours=9)), (9, 0, h + timedelta(hours=9, minutes=15)))
    rows += ((7, GRAIN_HOUR, h + timedelta(hours=7)),)  # a gap of two hours: a run of its own
    assert runs(rows) == [
        (0, h + timedelta(hours=9), h + timedelta(hours=9, minutes=15)),
        (GRAIN_HOUR, h, h + timedelta(hours=4)),
        (GRAIN_HOUR, h + timedelta(hours=7), h + timedelta(hours=7)),
    ]


async def test_the_sliced_plan_is_the_plan_and_hands_the_loop_back() -> None:
    """`plan_sliced` (the API's) answers as `plan` does, and lets other tasks run while it plans (a long range
    of quarters: thousands of boundaries and buckets), so one request does not hold the event loop."""
    start = datetime(2026, 1, 1, 0, 7, tzinfo=UTC)
    end, tz = start + timedelta(days=90), ZoneInfo("Europe/Berlin")
    extent = Extent(start - timedelta(days=1), end, tz)
    sliced, turns = await ticks_during(plan_sliced(start, end, "15m", tz, end, extent))
    assert sliced == plan(start, end, "15m", tz, end, extent)
    assert turns > 10  # the other task ran between the planner's steps
    with pytest.raises(PlanError, match="start_date must not be after end_date"):
        await plan_sliced(start, start - TICK, "day", tz, start, None)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    anchor=st.sampled_from([*ANCHORS, datetime(1920, 1, 1, tzinfo=UTC), datetime(9999, 11, 20, tzinfo=UTC)]),
    granularity=st.sampled_from(GRANULARITIES),
    shift=st.integers(-400 * 86400 * 10**6, 400 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us)),
    length=st.integers(0, 800 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us)),
)
def test_the_boundaries_kept_per_span_are_those_found_directly(
    zone: str, anchor: datetime, granularity: str, shift: timedelta, length: timedelta
) -> None:
    """The planner's boundaries, from the spans of time it keeps them for, are what the direct search finds (or,
    where that refuses the range, it refuses it the same way)."""
    tz = ZoneInfo(zone)
    try:
        start = anchor + shift
        end = start + length
    except OverflowError:
        return
    try:
        direct: object = boundaries(start, end, granularity, tz)
    except (PlanError, OverflowError, ValueError) as exc:
        direct = type(exc)
    try:
        kept: object = _run(_span_boundary_steps(start, end, granularity, tz))
    except (PlanError, OverflowError, ValueError) as exc:
        kept = type(exc)
    assert kept == direct
