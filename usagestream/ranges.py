"""Split an inclusive time range into exact edge slices, whole local-day buckets and 15-minute buckets.

The aggregates hold one row per 15-minute UTC bucket (grain 0) and per local day of the configured time zone
(grain 1, keyed by the UTC instant of local midnight, see `usagestream.stats.buckets`). A question about
`[start, end]` is answered by adding up:

- the day buckets wholly inside the aligned core `[A, B)`,
- the 15-minute buckets of the core not covered by those days,
- and a recount from the request records of the two edge slices `[start, A)` and `[B, end]`,

where A is `start` rounded up and B is `end + 1 microsecond` rounded down to a 15-minute boundary (timestamps
have microsecond resolution, so `created_at <= end` is `created_at < end + 1 µs`). A day is used only when its
bucket is exactly the instants `[midnight, next midnight)`: a midnight that is skipped or repeated by a DST
change, or that is not on a 15-minute boundary, falls back to the day's 15-minute buckets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from usagestream.stats import BUCKET, bucket_15m, day_start

TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Span:
    """The half-open interval of instants `[lo, hi)`."""

    lo: datetime
    hi: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """One range: recount records in `edges`, add grain-1 rows at `days` and grain-0 rows in `quarters`."""

    edges: tuple[Span, ...]
    days: tuple[datetime, ...]
    quarters: tuple[Span, ...]


EMPTY = Plan((), (), ())


def ceil_15m(ts: datetime) -> datetime:
    """The first 15-minute boundary at or after `ts` (in UTC)."""
    floor = bucket_15m(ts)
    return floor if floor == ts else floor + BUCKET


def clamp(
    start: datetime | None, end: datetime | None, first: datetime | None, last: datetime | None
) -> tuple[datetime, datetime] | None:
    """Resolve open bounds against the data extent `[first, last]` (oldest and newest stored created_at).

    An unbounded range cannot be checked day by day, and no record lies outside the extent, so the answer is
    the same. None when nothing can match (no data, or the range misses the extent).
    """
    if first is None or last is None:
        return None
    lo = first if start is None else max(start, first)
    hi = last if end is None else min(end, last)
    return (lo, hi) if lo <= hi else None


def decompose(start: datetime, end: datetime, tz: ZoneInfo | None) -> Plan:
    """The plan for the inclusive range `[start, end]`; `tz=None` uses no day buckets."""
    if end < start:
        return EMPTY
    lo, hi = start.astimezone(UTC), end.astimezone(UTC) + TICK
    a, b = ceil_15m(lo), bucket_15m(hi)
    if a >= b:
        return Plan((Span(lo, hi),), (), ())
    edges = tuple(s for s in (Span(lo, a), Span(b, hi)) if s.lo < s.hi)
    days = list(whole_days(a, b, tz)) if tz is not None else []
    return Plan(edges, tuple(d.lo for d in days), tuple(_gaps(a, b, days)))


def whole_days(a: datetime, b: datetime, tz: ZoneInfo) -> Iterator[Span]:
    """The regular local days of `tz` lying wholly inside `[a, b)`, in order."""
    day = a.astimezone(tz).date() - timedelta(days=1)
    last = b.astimezone(tz).date() + timedelta(days=1)
    nxt = local_midnight(day, tz)
    while day <= last:
        cur, nxt = nxt, local_midnight(day + timedelta(days=1), tz)
        if cur is not None and nxt is not None and a <= cur and nxt <= b and _regular(cur, nxt, tz):
            yield Span(cur, nxt)
        day += timedelta(days=1)


def local_midnight(day: date, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of `day`'s local midnight; None if it is skipped, repeated or not 15-minute aligned."""
    first = datetime.combine(day, time(), tzinfo=tz)
    utc = first.astimezone(UTC)
    if first.replace(fold=1).astimezone(UTC) != utc or bucket_15m(utc) != utc:
        return None
    return utc


def _regular(cur: datetime, nxt: datetime, tz: ZoneInfo) -> bool:
    # The day bucket of the writer (stats.day_start) must map both ends of [cur, nxt) to cur.
    return cur < nxt and day_start(cur, tz) == cur and day_start(nxt - TICK, tz) == cur


def _gaps(a: datetime, b: datetime, days: list[Span]) -> Iterator[Span]:
    """The parts of `[a, b)` not covered by `days` (sorted, disjoint, aligned): 15-minute bucket ranges."""
    cursor = a
    for d in days:
        if cursor < d.lo:
            yield Span(cursor, d.lo)
        cursor = d.hi
    if cursor < b:
        yield Span(cursor, b)
