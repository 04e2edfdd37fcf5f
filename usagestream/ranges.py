"""Split an inclusive time range into exact edge slices and signed sums of aggregate buckets.

The aggregates hold one row per key and bucket of four grains (see `usagestream.stats.buckets`): 15-minute UTC
buckets, UTC hours, local days and local months of the configured time zone. A question about `[start, end]` is
answered by adding up:

- a recount from the request records of the two edge slices `[start, A)` and `[B, end]`, where A is `start`
  rounded up and B is `end + 1 microsecond` rounded down to a 15-minute boundary (timestamps have microsecond
  resolution, so `created_at <= end` is `created_at < end + 1 µs`);
- for the aligned core `[A, B)`, bucket rows with a weight: +1 for a bucket inside the core, -1 for a bucket
  subtracted from a larger one that sticks out of it. A partial month at an end of the core is either built up
  from days (and hours, quarters) or read as the whole month minus the days outside the core, whichever reads
  fewer rows; buckets wholly after the newest stored record cost nothing, so a range ending now reads the current
  month minus (almost nothing) instead of every day of the month so far. Days and hours work the same way.

A bucket is used only when it is exactly the instants the writer maps to it: every quarter and UTC hour; a local
day whose midnight exists once, lies on the 15-minute grid and both of whose ends map to it (`stats.day_start`);
a local month all of whose days are such days. Anything else falls back to the finer grains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from usagestream.stats import (
    BUCKET,
    GRAIN_15M,
    GRAIN_DAY,
    GRAIN_HOUR,
    GRAIN_MONTH,
    HOUR,
    bucket_15m,
    day_start,
    hour_start,
)

TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Span:
    """The half-open interval of instants `[lo, hi)`."""

    lo: datetime
    hi: datetime


Piece = tuple[int, datetime, int]  # (grain, bucket start in UTC, weight)


@dataclass(frozen=True, slots=True)
class Plan:
    """One range: recount records in `edges`, add `weight` times each bucket row of `pieces`."""

    edges: tuple[Span, ...]
    pieces: tuple[Piece, ...]

    @property
    def empty(self) -> bool:
        return not (self.edges or self.pieces)


EMPTY = Plan((), ())


def ceil_15m(ts: datetime) -> datetime:
    """The first 15-minute boundary at or after `ts` (in UTC)."""
    floor = bucket_15m(ts)
    return floor if floor == ts else floor + BUCKET


def clamp(
    start: datetime | None, end: datetime | None, first: datetime | None, last: datetime | None
) -> tuple[datetime, datetime] | None:
    """Resolve open bounds against the data extent `[first, last]` (oldest and newest stored created_at).

    An unbounded range cannot be checked bucket by bucket, and no record lies outside the extent, so the answer
    is the same. None when nothing can match (no data, or the range misses the extent).
    """
    if first is None or last is None:
        return None
    lo = first if start is None else max(start, first)
    hi = last if end is None else min(end, last)
    return (lo, hi) if lo <= hi else None


def decompose(start: datetime, end: datetime, tz: ZoneInfo | None, newest: datetime | None = None) -> Plan:
    """The plan for the inclusive range `[start, end]`.

    `tz=None` uses no local days or months (UTC hours and quarters only). `newest` (the newest created_at
    stored, in the same snapshot as the aggregates) steers the choice between equivalent plans: a bucket wholly
    after it sums to zero (no record is counted there), so it is free and left out. Nothing is assumed about
    buckets before the oldest record: retention deletes old records but keeps their aggregates.
    """
    if end < start:
        return EMPTY
    lo, hi = start.astimezone(UTC), end.astimezone(UTC) + TICK
    a, b = ceil_15m(lo), bucket_15m(hi)
    if a >= b:
        return Plan((Span(lo, hi),), ())
    edges = tuple(s for s in (Span(lo, a), Span(b, hi)) if s.lo < s.hi)
    levels = (_MONTHS, _DAYS, _HOURS, _QUARTERS) if tz is not None else (_HOURS, _QUARTERS)
    cover = _Cover(levels, tz, None if newest is None else newest.astimezone(UTC))
    _, parts = cover.cover(0, a, b)
    net: dict[tuple[int, datetime], int] = {}
    for grain, bucket, weight in parts:
        if cover.holds_rows(grain, bucket):  # no record after the newest: such a row sums to zero
            net[(grain, bucket)] = net.get((grain, bucket), 0) + weight
    pieces = tuple(sorted((g, bkt, w) for (g, bkt), w in net.items() if w))
    return Plan(edges, pieces)


# --- units of each grain ------------------------------------------------------------------------------------
# A level is (grain, unit containing an instant or None, whole units inside [lo, hi)).
Unit = Callable[[datetime, "ZoneInfo | None"], "Span | None"]
Whole = Callable[[datetime, datetime, "ZoneInfo | None"], Iterator[Span]]


def _quarter_at(t: datetime, _tz: ZoneInfo | None) -> Span:
    q = bucket_15m(t)
    return Span(q, q + BUCKET)


def _quarters_in(lo: datetime, hi: datetime, _tz: ZoneInfo | None) -> Iterator[Span]:
    q = ceil_15m(lo)
    while q + BUCKET <= hi:
        yield Span(q, q + BUCKET)
        q += BUCKET


def _hour_at(t: datetime, _tz: ZoneInfo | None) -> Span:
    h = hour_start(t)
    return Span(h, h + HOUR)


def _hours_in(lo: datetime, hi: datetime, _tz: ZoneInfo | None) -> Iterator[Span]:
    h = hour_start(lo)
    if h < lo:
        h += HOUR
    while h + HOUR <= hi:
        yield Span(h, h + HOUR)
        h += HOUR


def _day_at(t: datetime, tz: ZoneInfo | None) -> Span | None:
    assert tz is not None
    return _day(t.astimezone(tz).date(), tz)


def _days_in(lo: datetime, hi: datetime, tz: ZoneInfo | None) -> Iterator[Span]:
    assert tz is not None
    return whole_days(lo, hi, tz)


def _month_at(t: datetime, tz: ZoneInfo | None) -> Span | None:
    assert tz is not None
    d = t.astimezone(tz).date()
    return _month(d.year, d.month, tz)


def _months_in(lo: datetime, hi: datetime, tz: ZoneInfo | None) -> Iterator[Span]:
    assert tz is not None
    first, last = lo.astimezone(tz).date(), hi.astimezone(tz).date()
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        span = _month(y, m, tz)
        if span is not None and lo <= span.lo and span.hi <= hi:
            yield span
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


@dataclass(frozen=True, slots=True)
class _Level:
    grain: int
    at: Unit
    inside: Whole


_QUARTERS = _Level(GRAIN_15M, _quarter_at, _quarters_in)
_HOURS = _Level(GRAIN_HOUR, _hour_at, _hours_in)
_DAYS = _Level(GRAIN_DAY, _day_at, _days_in)
_MONTHS = _Level(GRAIN_MONTH, _month_at, _months_in)

Parts = tuple[int, tuple[Piece, ...]]  # (rows it reads, as estimated; the weighted pieces)


class _Cover:
    """The cheapest exact cover of aligned intervals by signed units, level by level (memoized per plan)."""

    def __init__(self, levels: tuple[_Level, ...], tz: ZoneInfo | None, newest: datetime | None):
        self.levels = levels
        self.tz = tz
        self.newest = newest
        self.memo: dict[tuple[int, datetime, datetime], Parts] = {}
        self.spans: dict[tuple[int, datetime], Span] = {}

    def cost(self, s: Span) -> int:
        """1 if the unit can hold rows (it starts at or before the newest record), else 0."""
        return 1 if self.newest is None or s.lo <= self.newest else 0

    def unit(self, level: int, s: Span, weight: int) -> Parts:
        self.spans[(self.levels[level].grain, s.lo)] = s
        return self.cost(s), ((self.levels[level].grain, s.lo, weight),)

    def holds_rows(self, grain: int, bucket: datetime) -> bool:
        return self.cost(self.spans[(grain, bucket)]) > 0

    def cover(self, level: int, lo: datetime, hi: datetime) -> Parts:
        """Pieces whose weighted sum counts each instant of `[lo, hi)` once and no other (lo, hi on the grid)."""
        if lo >= hi:
            return 0, ()
        key = (level, lo, hi)
        found = self.memo.get(key)
        if found is None:
            found = self._cover(level, lo, hi)
            self.memo[key] = found
        return found

    def _cover(self, level: int, lo: datetime, hi: datetime) -> Parts:
        lv = self.levels[level]
        whole = list(lv.inside(lo, hi, self.tz))
        if level == len(self.levels) - 1:  # quarters: the base grain covers any aligned interval
            return _join(*(self.unit(level, s, 1) for s in whole))
        parts: list[Parts] = []
        cursor = lo
        for s in whole:
            if cursor < s.lo:
                parts.append(self.gap(level, cursor, s.lo))
            parts.append(self.unit(level, s, 1))
            cursor = s.hi
        if cursor < hi:
            parts.append(self.gap(level, cursor, hi))
        return _join(*parts)

    def gap(self, level: int, lo: datetime, hi: datetime) -> Parts:
        """`[lo, hi)` holding no whole unit of `level`: finer units, or a unit sticking out minus its outside."""
        lv, finer = self.levels[level], level + 1
        options = [self.cover(finer, lo, hi)]
        left, right = lv.at(lo, self.tz), lv.at(hi - TICK, self.tz)
        if left is not None and left.lo < lo and left.hi <= hi:  # sticks out on the left only
            options.append(
                _join(self.unit(level, left, 1), _neg(self.cover(finer, left.lo, lo)), self.cover(finer, left.hi, hi))
            )
        if right is not None and right.hi > hi and right.lo >= lo:  # on the right only
            options.append(
                _join(
                    self.cover(finer, lo, right.lo), self.unit(level, right, 1), _neg(self.cover(finer, hi, right.hi))
                )
            )
        if left is not None and right is not None and left.lo < lo and right.hi > hi:
            if left == right:  # one unit sticks out on both sides
                options.append(
                    _join(
                        self.unit(level, left, 1),
                        _neg(self.cover(finer, left.lo, lo)),
                        _neg(self.cover(finer, hi, left.hi)),
                    )
                )
            elif left.hi <= right.lo:
                options.append(
                    _join(
                        self.unit(level, left, 1),
                        _neg(self.cover(finer, left.lo, lo)),
                        self.cover(finer, left.hi, right.lo),
                        self.unit(level, right, 1),
                        _neg(self.cover(finer, hi, right.hi)),
                    )
                )
        # Fewest rows; on a tie, fewest pieces (the first option, without subtraction, wins a full tie).
        return min(options, key=lambda o: (o[0], len(o[1])))


def _join(*parts: Parts) -> Parts:
    return sum(p[0] for p in parts), tuple(x for p in parts for x in p[1])


def _neg(p: Parts) -> Parts:
    return p[0], tuple((g, b, -w) for g, b, w in p[1])


# --- local days and months --------------------------------------------------------------------------------


def whole_days(a: datetime, b: datetime, tz: ZoneInfo) -> Iterator[Span]:
    """The regular local days of `tz` lying wholly inside `[a, b)`, in order."""
    day = a.astimezone(tz).date() - timedelta(days=1)
    last = b.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        span = _day(day, tz)
        if span is not None and a <= span.lo and span.hi <= b:
            yield span
        day += timedelta(days=1)


@lru_cache(maxsize=65536)
def _day(day: date, tz: ZoneInfo) -> Span | None:
    """The local day `day` as the writer buckets it, or None if it is not regular."""
    cur, nxt = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    if cur is None or nxt is None or not _regular(cur, nxt, tz):
        return None
    return Span(cur, nxt)


@lru_cache(maxsize=8192)
def _month(year: int, month: int, tz: ZoneInfo) -> Span | None:
    """The local month as the writer buckets it (`stats.month_start`), or None unless every day is regular."""
    first = date(year, month, 1)
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    days = [_day(first + timedelta(days=i), tz) for i in range((nxt - first).days)]
    if any(d is None for d in days):
        return None
    return Span(days[0].lo, days[-1].hi)  # type: ignore[union-attr]


@lru_cache(maxsize=65536)
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
