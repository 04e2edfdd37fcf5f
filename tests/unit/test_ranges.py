"""Property tests of usagestream.ranges: each instant of [start, end] is counted exactly once, no other is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from usagestream.ranges import TICK, Plan, Span, clamp, decompose, local_midnight
from usagestream.stats import bucket_15m, day_start

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
    """How many parts of the plan would count a record created at t (as the writer buckets it)."""
    n = sum(e.lo <= t < e.hi for e in plan.edges)
    q = bucket_15m(t)
    n += sum(s.lo <= q < s.hi for s in plan.quarters)
    n += plan.days.count(day_start(t, tz))
    return n


def probes(start: datetime, end: datetime, plan: Plan, extra: list[timedelta]) -> list[datetime]:
    points = [start, end, start - TICK, end + TICK]
    for s in (*plan.edges, *plan.quarters):
        points += [s.lo, s.lo - TICK, s.hi, s.hi - TICK]
    for d in plan.days:
        points += [d, d - TICK, d + timedelta(hours=1), d + timedelta(hours=23, minutes=59)]
    points += [start + x for x in extra]
    return points


def check(start: datetime, end: datetime, tz: ZoneInfo, extra: list[timedelta]) -> Plan:
    plan = decompose(start, end, tz)
    for t in probes(start, end, plan, extra):
        assert count(plan, t, tz) == (1 if start <= t <= end else 0), (t, plan)
    return plan


offsets = st.one_of(
    st.integers(0, 4 * 24 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(0, 4 * 24 * 4).map(lambda q: timedelta(minutes=15 * q)),
)
durations = st.one_of(
    st.integers(0, 12 * 24 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(0, 12 * 24 * 4).map(lambda q: timedelta(minutes=15 * q)),
    st.integers(0, 3600).map(lambda s: timedelta(seconds=s)),
)


@settings(max_examples=600, deadline=None)
@given(
    case=cases,
    shift=offsets,
    length=durations,
    extra=st.lists(
        st.integers(-2 * 86400 * 10**6, 14 * 86400 * 10**6).map(lambda u: timedelta(microseconds=u))
    ),
)
@example(case=PAIRS[2], shift=timedelta(days=1), length=timedelta(days=3), extra=[])
def test_every_instant_is_counted_once(
    case: tuple[str, datetime], shift: timedelta, length: timedelta, extra: list[timedelta]
) -> None:
    zone, anchor = case
    tz = ZoneInfo(zone)
    start = anchor - timedelta(days=2) + shift
    check(start, start + length, tz, extra)


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), seconds=st.integers(0, 40 * 365 * 86400), days=st.integers(0, 60))
def test_random_years(zone: str, seconds: int, days: int) -> None:
    tz = ZoneInfo(zone)
    start = datetime(1995, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=seconds % 997)
    check(start, start + timedelta(days=days, seconds=seconds % 7919), tz, [])


def test_aligned_range_has_no_start_edge_and_a_point_end_edge() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 1, 3, tzinfo=UTC)
    plan = decompose(start, end, ZoneInfo("UTC"))
    assert plan.edges == (Span(end, end + TICK),)  # a record at exactly `end` counts
    assert plan.days == (start, start + timedelta(days=1))
    assert plan.quarters == ()


def test_same_bucket_is_one_edge() -> None:
    start = datetime(2026, 1, 1, 10, 1, tzinfo=UTC)
    plan = decompose(start, start + timedelta(minutes=5), ZoneInfo("UTC"))
    assert plan.edges == (Span(start, start + timedelta(minutes=5) + TICK),)
    assert plan.days == () and plan.quarters == ()


def test_kathmandu_days_are_used() -> None:
    tz = ZoneInfo("Asia/Kathmandu")
    start = datetime(2026, 1, 1, 7, tzinfo=UTC)
    plan = decompose(start, start + timedelta(days=10), tz)
    assert len(plan.days) == 9
    assert all(d.astimezone(tz).hour == 0 and d.astimezone(tz).minute == 0 for d in plan.days)


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
