"""Split an inclusive time range into exact edge slices and signed runs of aggregate buckets.

The aggregates hold one row per key and bucket of four grains (see `usagestream.stats.buckets`): 15-minute UTC
buckets, UTC hours, local days and local months of the configured time zone. A question about `[start, end]` is
answered by adding up:

- a recount from the request records of the two edge slices `[start, A)` and `[B, end]`, where A is `start`
  rounded up and B is `end + 1 microsecond` rounded down to a 15-minute boundary (timestamps have microsecond
  resolution, so `created_at <= end` is `created_at < end + 1 µs`);
- for the aligned core `[A, B)`, runs of bucket rows with a weight: `(grain, lo, hi, weight)` stands for every
  row of that grain whose bucket lies in `[lo, hi)` (one range predicate in SQL, however many buckets it spans),
  +1 for rows inside the core, -1 for rows subtracted from a larger run that sticks out of it. A partial month
  at an end of the core is either built up from days (and hours, quarters) or read as the whole month minus
  the days outside the core, whichever reads fewer rows; rows wholly after the newest stored record cost
  nothing, so a range ending now reads the current month minus (almost nothing) instead of every day of the
  month so far. Days and hours work the same way. A plan has a bounded number of runs (`MAX_PIECES`) and costs
  the same to build for a day or ten thousand years.

A run of local days (or months) is used only between clean boundaries (`usagestream.range_bounds`), where it
holds exactly the instants between them whatever DST does to the days inside; an end that is not clean (a
skipped or repeated midnight, an offset off the 15-minute grid) is never used: the run stops at the nearest
clean boundary and the finer grains cover the rest (UTC hours and quarters are always clean).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from math import ceil
from zoneinfo import ZoneInfo

from usagestream.range_bounds import HOURS, QUARTERS, TICK, Days, Level, Months, Span
from usagestream.stats import BUCKET, bucket_15m

# At most this many runs per plan: each end of the core adds a few per grain (tests/unit/test_ranges.py).
MAX_PIECES = 24

Piece = tuple[int, datetime, datetime, int]  # (grain, first bucket start, end of the run (exclusive), weight)


@dataclass(frozen=True, slots=True)
class Plan:
    """One range: recount records in `edges`, add `weight` times each bucket row of every run of `pieces`."""

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

    No record lies outside the extent, so the answer is the same; the edge slices then have finite ends. None
    when nothing can match (no data, or the range misses the extent).
    """
    if first is None or last is None:
        return None
    lo = first if start is None else max(start, first)
    hi = last if end is None else min(end, last)
    return (lo, hi) if lo <= hi else None


def decompose(start: datetime, end: datetime, tz: ZoneInfo | None, newest: datetime | None = None) -> Plan:
    """The plan for the inclusive range `[start, end]`.

    `tz=None` uses no local days or months (UTC hours and quarters only). `newest` (the newest created_at
    stored, in the same snapshot as the aggregates) steers the choice between equivalent plans: a row wholly
    after it sums to zero (no record is counted there), so it is free and a run starting after it is left out.
    Nothing is assumed about buckets before the oldest record: retention deletes old records but keeps their
    aggregates.
    """
    if end < start:
        return EMPTY
    lo, hi = start.astimezone(UTC), end.astimezone(UTC) + TICK
    a, b = ceil_15m(lo), bucket_15m(hi)
    if a >= b:
        return Plan((Span(lo, hi),), ())
    edges = tuple(s for s in (Span(lo, a), Span(b, hi)) if s.lo < s.hi)
    return Plan(edges, core_runs(a, b, tz, None if newest is None else newest.astimezone(UTC)))


@lru_cache(maxsize=1024)
def core_runs(a: datetime, b: datetime, tz: ZoneInfo | None, last: datetime | None) -> tuple[Piece, ...]:
    """The runs of `decompose`'s aligned core `[a, b)` (`last`: its `newest` in UTC). Remembered: the same core
    comes back for every question over the same quarters (a dashboard's range ending now keeps its core for up
    to 15 minutes), and building it is most of a plan's cost."""
    levels = (Months(tz), Days(tz), HOURS, QUARTERS) if tz is not None else (HOURS, QUARTERS)
    _, parts = _Cover(levels, last).cover(0, a, b)
    return normalize(p for p in parts if last is None or p[1] <= last)


def normalize(parts: Iterable[Piece]) -> tuple[Piece, ...]:
    """The same weighted sum as the fewest disjoint runs: per grain, the weight of every bucket is the sum of the
    runs holding it; adjacent runs of equal weight merge and runs that cancel out disappear."""
    steps: dict[int, dict[datetime, int]] = {}
    for grain, lo, hi, w in parts:
        at = steps.setdefault(grain, {})
        at[lo] = at.get(lo, 0) + w
        at[hi] = at.get(hi, 0) - w
    out: list[Piece] = []
    for grain in sorted(steps):
        weight, since = 0, datetime.min.replace(tzinfo=UTC)
        for x in sorted(steps[grain]):
            now = weight + steps[grain][x]
            if now != weight:
                if weight:
                    out.append((grain, since, x, weight))
                weight, since = now, x
    return tuple(out)


Parts = tuple[int, tuple[Piece, ...]]  # (rows it reads, as estimated; the weighted runs)


class _Cover:
    """The cheapest exact cover of aligned intervals by signed runs, level by level (memoized per plan)."""

    def __init__(self, levels: tuple[Level, ...], newest: datetime | None) -> None:
        self.levels = levels
        self.newest = newest
        self.memo: dict[tuple[int, datetime, datetime], Parts] = {}

    def run(self, level: int, s: Span, weight: int) -> Parts:
        """One run and the rows it may read: its units starting at or before the newest record."""
        lv = self.levels[level]
        end = s.hi if self.newest is None else min(s.hi, self.newest + TICK)
        rows = ceil((end - s.lo) / lv.size) if end > s.lo else 0
        return rows, ((lv.grain, s.lo, s.hi, weight),)

    def cover(self, level: int, lo: datetime, hi: datetime) -> Parts:
        """Runs whose weighted sum counts each instant of `[lo, hi)` once and no other (lo, hi on the grid)."""
        if lo >= hi:
            return 0, ()
        key = (level, lo, hi)
        found = self.memo.get(key)
        if found is None:
            found = self._cover(level, lo, hi)
            self.memo[key] = found
        return found

    def _cover(self, level: int, lo: datetime, hi: datetime) -> Parts:
        if level == len(self.levels) - 1:  # quarters: the base grain covers any aligned interval
            return self.run(level, Span(lo, hi), 1)
        lv = self.levels[level]
        a = lv.first_from(lo, hi)
        b = None if a is None else lv.last_until(hi, a)
        if a is None or b is None or a >= b:
            return self.gap(level, lo, hi)
        return _join(self.gap(level, lo, a), self.run(level, Span(a, b), 1), self.gap(level, b, hi))

    def gap(self, level: int, lo: datetime, hi: datetime) -> Parts:
        """`[lo, hi)` holding no whole run of `level`: finer runs, or a run sticking out minus its outside."""
        lv, finer = self.levels[level], level + 1
        options = [self.cover(finer, lo, hi)]
        left, right = lv.at(lo), lv.at(hi - TICK)
        if left is not None and left.lo < lo and left.hi <= hi:  # sticks out on the left only
            options.append(
                _join(self.run(level, left, 1), _neg(self.cover(finer, left.lo, lo)), self.cover(finer, left.hi, hi))
            )
        if right is not None and right.hi > hi and right.lo >= lo:  # on the right only
            options.append(
                _join(self.cover(finer, lo, right.lo), self.run(level, right, 1), _neg(self.cover(finer, hi, right.hi)))
            )
        if left is not None and right is not None and left.lo < lo and right.hi > hi:
            if left == right:  # one run sticks out on both sides
                options.append(
                    _join(
                        self.run(level, left, 1),
                        _neg(self.cover(finer, left.lo, lo)),
                        _neg(self.cover(finer, hi, left.hi)),
                    )
                )
            elif left.hi <= right.lo:
                options.append(
                    _join(
                        self.run(level, left, 1),
                        _neg(self.cover(finer, left.lo, lo)),
                        self.cover(finer, left.hi, right.lo),
                        self.run(level, right, 1),
                        _neg(self.cover(finer, hi, right.hi)),
                    )
                )
        # Fewest rows; on a tie, fewest runs (the first option, without subtraction, wins a full tie).
        return min(options, key=lambda o: (o[0], len(o[1])))


def _join(*parts: Parts) -> Parts:
    return sum(p[0] for p in parts), tuple(x for p in parts for x in p[1])


def _neg(p: Parts) -> Parts:
    return p[0], tuple((g, lo, hi, -w) for g, lo, hi, w in p[1])
