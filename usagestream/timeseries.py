"""The bucket planner of the time series: which buckets a granularity has in a zone, and how each is counted.

A series over the inclusive range `[start, end]` has one bucket per `granularity` unit of the zone `tz`:
- `15m` and `hour`: a bucket starts at every instant at which the zone's wall clock reads a whole quarter or a
  whole hour (so a repeated DST hour is two buckets, a skipped one none, and where a 30-minute change moves
  the clock, the hour before it is one bucket of 90 minutes);
- `day`, `week` (Monday to Sunday) and `month`: a bucket starts at the local midnight opening the day, the week
  or the month (the first pass of a repeated midnight; the instant the clock jumps past a skipped one).

Each bucket holds the records whose `created_at` lies in `[its start, the next bucket's start)`, cut to
`[start, end]`. It is counted exactly, like `usagestream.ranges` counts a range: the 15-minute-aligned part from
stored aggregate rows (the coarsest stored grain that fits exactly: local months and days of the zone the rows
were built in, UTC hours, UTC quarters; never a row that sticks out), the unaligned ends (only where the range
cuts a bucket off the grid) recounted from the records. Every bucket boundary must therefore lie on the UTC
15-minute grid, which holds for every zone whose UTC offset is a multiple of 15 minutes at that time (every zone
today); a range whose buckets would start off the grid (historical offsets such as -00:44:30) is refused with
`PlanError`, as is a range of more than `MAX_BUCKETS` buckets.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TypeVar
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
    month_start,
)

GRANULARITIES = ("15m", "hour", "day", "week", "month")
MAX_BUCKETS = 10_000  # per series; a longer range is refused rather than answered slowly
MAX_POINTS = 100_000  # buckets x series (limit + 1 when grouped): bounds the statement and the response
STEP = 1000  # boundaries between two hand-backs of plan_sliced (a tenth of that many buckets counted)
T = TypeVar("T")
Steps = Generator[None, None, T]  # a computation that yields now and then, and returns its result
TICK = timedelta(microseconds=1)
_WALL_MINUTES = {"15m": 15, "hour": 60}


class PlanError(ValueError):
    """The series cannot be answered exactly or within bounds; the message says why (for a 422 answer)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """`[start, end)` in UTC; `partial` when the range cuts it or it has not ended by `now`."""

    start: datetime
    end: datetime
    partial: bool


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """Per bucket index: stored rows `(i, grain, bucket start)` and record slices `(i, lo, hi)` (half-open)."""

    buckets: tuple[Bucket, ...]
    rows: tuple[tuple[int, int, datetime], ...]
    slices: tuple[tuple[int, datetime, datetime], ...]


def part(p: SeriesPlan, lo: int, hi: int) -> SeriesPlan:
    """The buckets `[lo, hi)` of `p` as a plan of their own, indexed from 0: what counts them is unchanged (a
    series read in parts, materializer/read/series_halves.py)."""
    rows = tuple((i - lo, grain, t) for i, grain, t in p.rows if lo <= i < hi)
    return SeriesPlan(p.buckets[lo:hi], rows, tuple((i - lo, a, z) for i, a, z in p.slices if lo <= i < hi))


def subset(p: SeriesPlan, runs: Sequence[tuple[int, int]]) -> SeriesPlan:
    """The buckets of the ascending, disjoint index ranges `runs` of `p` as a plan of their own, indexed from 0 in
    that order: what counts them is unchanged (kept chunks of a series, materializer/read/series_cache.py)."""
    return _run(_subset_steps(p, runs))


async def subset_sliced(p: SeriesPlan, runs: Sequence[tuple[int, int]]) -> SeriesPlan:
    """`subset`, handing the event loop back every STEP rows (as `plan_sliced`)."""
    return await _drive(_subset_steps(p, runs), hand_back=True)


def _subset_steps(p: SeriesPlan, runs: Sequence[tuple[int, int]]) -> Steps[SeriesPlan]:
    """A plan's rows and slices are in bucket order: each run's are found by bisection."""
    buckets: list[Bucket] = []
    rows: list[tuple[int, int, datetime]] = []
    slices: list[tuple[int, datetime, datetime]] = []
    row_i, slice_i = [r[0] for r in p.rows], [c[0] for c in p.slices]
    for lo, hi in runs:
        shift = len(buckets) - lo
        buckets.extend(p.buckets[lo:hi])
        a, z = bisect_left(row_i, lo), bisect_left(row_i, hi)
        for at in range(a, z, STEP):
            rows.extend((i + shift, grain, t) for i, grain, t in p.rows[at : min(at + STEP, z)])
            yield
        a, z = bisect_left(slice_i, lo), bisect_left(slice_i, hi)
        slices.extend((i + shift, x, y) for i, x, y in p.slices[a:z])
    return SeriesPlan(tuple(buckets), tuple(rows), tuple(slices))


@dataclass(frozen=True, slots=True)
class Extent:
    """Where data can be: `[first, last]` (oldest stored instant, newest record), and the zone of the stored
    local days and months (None: do not use them)."""

    first: datetime
    last: datetime
    stored_zone: ZoneInfo | None


def ceil_15m(ts: datetime) -> datetime:
    floor = bucket_15m(ts)
    return floor if floor == ts else floor + BUCKET


def check_points(buckets: int, series: int) -> None:
    """Refuse an answer of more than MAX_POINTS points (counted before reading, with the most series it could
    have)."""
    if buckets * series > MAX_POINTS:
        raise PlanError(
            f"{buckets} buckets x {series} series is more than {MAX_POINTS} points: choose a shorter range, a"
            " coarser granularity or a smaller limit"
        )


# --- bucket boundaries ----------------------------------------------------------------------------------------
def boundaries(start: datetime, end: datetime, granularity: str, tz: ZoneInfo) -> list[datetime]:
    """Bucket starts from the one holding `start` to the one holding `end`, then the end of that last bucket."""
    return _run(_boundary_steps(start, end, granularity, tz))


def _boundary_steps(start: datetime, end: datetime, granularity: str, tz: ZoneInfo) -> Steps[list[datetime]]:
    if granularity not in GRANULARITIES:
        raise PlanError(f"granularity must be one of: {', '.join(GRANULARITIES)}")
    found: list[datetime] = []
    source = _wall_starts if granularity in _WALL_MINUTES else _calendar_starts
    for n, b in enumerate(source(start, granularity, tz), start=1):
        if not n % STEP:
            yield
        if found and b <= found[-1]:
            continue  # a local date that does not exist (a skipped day) adds no bucket
        if b <= start:
            found = [b]  # a later boundary still at or before `start`
            continue
        if not found:
            raise PlanError(f"no {granularity} boundary found at or before {start.isoformat()}")
        found.append(b)
        if b > end:
            return found
        if len(found) > MAX_BUCKETS:
            raise PlanError(
                f"more than {MAX_BUCKETS} buckets of granularity '{granularity}' in this range:"
                " choose a shorter range or a coarser granularity"
            )
    raise AssertionError("unreachable: the boundary sources never end")


# Bucket boundaries are instants the zone's wall clock fixes, whatever the range: they are found once per span of
# this many seconds (UTC) and granularity and zone, and every range meeting the span reuses them (a dashboard's
# range moves along by seconds; its boundaries are the same).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPAN_S = {"15m": 2 * 86400, "hour": 8 * 86400, "day": 64 * 86400, "week": 448 * 86400, "month": 3660 * 86400}


def _span_boundary_steps(start: datetime, end: datetime, granularity: str, tz: ZoneInfo) -> Steps[list[datetime]]:
    """`_boundary_steps` from the boundaries of each span the range meets, or (a span the direct search refuses or
    cannot reach, e.g. before a zone's offsets were on the grid or past the year 9999) by that search itself."""
    if granularity in _SPAN_S:
        try:
            return (yield from _from_spans(start, end, granularity, tz))
        except (OverflowError, ValueError):  # PlanError included: the range itself may not meet the cause
            pass
    return (yield from _boundary_steps(start, end, granularity, tz))


def _from_spans(start: datetime, end: datetime, granularity: str, tz: ZoneInfo) -> Steps[list[datetime]]:
    n = (start - EPOCH) // timedelta(seconds=_SPAN_S[granularity])
    before = [b for b in _span_bounds(granularity, tz, n) if b <= start]
    if not before:  # the bucket holding `start` began in the span before (no bucket is longer than a span)
        before = [b for b in _span_bounds(granularity, tz, n - 1) if b <= start]
    found = before[-1:]
    if not found:
        raise ValueError("no boundary in the span before")
    while True:
        yield
        for b in _span_bounds(granularity, tz, n):
            if b > start:
                found.append(b)
                if b > end:
                    return found
                if len(found) > MAX_BUCKETS:
                    raise ValueError("too many buckets: the direct search says so")
        n += 1


@lru_cache(maxsize=512)  # at most 768 instants each (quarters): some megabytes
def _span_bounds(granularity: str, tz: ZoneInfo, n: int) -> tuple[datetime, ...]:
    """The boundaries `b` with `n * span <= b < (n + 1) * span` (seconds since the epoch)."""
    lo = EPOCH + n * timedelta(seconds=_SPAN_S[granularity])
    hi = lo + timedelta(seconds=_SPAN_S[granularity])
    return tuple(b for b in _run(_boundary_steps(lo, hi - TICK, granularity, tz)) if lo <= b < hi)


def _wall_starts(start: datetime, granularity: str, tz: ZoneInfo) -> Iterator[datetime]:
    """UTC quarters at which the wall clock reads a whole quarter or hour, from one at or before `start`."""
    minutes = _WALL_MINUTES[granularity]
    q = bucket_15m(start)
    for _ in range(16):  # boundaries are at most 90 minutes apart
        if _on_wall(q, tz, minutes):
            break
        q -= BUCKET
    else:
        raise PlanError(f"time zone {tz.key}: no {granularity} boundary found near {start.isoformat()}")
    yield q
    step = timedelta(minutes=minutes)
    while True:
        nxt = q + step
        # Same offset at both ends: the wall clock moved by exactly one unit, so `nxt` is the next boundary.
        if tz.utcoffset(nxt) == tz.utcoffset(q) and _on_wall(nxt, tz, minutes):
            q = nxt
        else:
            q += BUCKET
            while not _on_wall(q, tz, minutes):
                q += BUCKET
        yield q


def _on_wall(q: datetime, tz: ZoneInfo, minutes: int) -> bool:
    offset = tz.utcoffset(q)
    if offset is None or offset % BUCKET:
        raise PlanError(
            f"time zone {tz.key} is at UTC{_offset_text(offset)} on {q.date().isoformat()}, not a multiple of 15"
            " minutes: its buckets cannot be counted exactly from the 15-minute aggregates; choose a later range"
            " or another zone"
        )
    return q.astimezone(tz).minute % minutes == 0


def _calendar_starts(start: datetime, granularity: str, tz: ZoneInfo) -> Iterator[datetime]:
    day = start.astimezone(tz).date() - timedelta(days=1)
    label = _first_label(day, granularity)
    while True:
        b = local_midnight(label, tz)
        if b != bucket_15m(b):
            raise PlanError(
                f"time zone {tz.key}: the local midnight of {label.isoformat()} is {b.isoformat()}, off the UTC"
                " 15-minute grid: its buckets cannot be counted exactly; choose a later range or another zone"
            )
        yield b
        label = _next_label(label, granularity)


def _first_label(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _next_label(label: date, granularity: str) -> date:
    if granularity == "month":
        return date(label.year + 1, 1, 1) if label.month == 12 else date(label.year, label.month + 1, 1)
    return label + timedelta(days=7 if granularity == "week" else 1)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant of `day`'s local midnight (fold=0: the first of a repeated one, and for a skipped one
    the instant the clock jumps past it)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _offset_text(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    sign = "-" if offset < timedelta(0) else "+"
    secs = int(abs(offset).total_seconds())
    return f"{sign}{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


# Largest step between two stored rows of a grain that still share one index range scan (rows in between that
# the plan does not use are read and dropped): the next quarter / hour, the next day / month.
_RUN_GAP = {GRAIN_15M: BUCKET, GRAIN_HOUR: HOUR, GRAIN_DAY: timedelta(hours=26), GRAIN_MONTH: timedelta(days=32)}


def runs(rows: tuple[tuple[int, int, datetime], ...]) -> list[tuple[int, datetime, datetime]]:
    """The plan's stored rows as runs `(grain, first bucket, last bucket)` of consecutive rows of one grain: the
    reader scans each run of a key in one index range instead of probing each row."""
    out: list[tuple[int, datetime, datetime]] = []
    for grain, bucket in sorted((g, b) for _, g, b in rows):
        if out and out[-1][0] == grain and bucket - out[-1][2] <= _RUN_GAP[grain]:
            out[-1] = (grain, out[-1][1], bucket)
        else:
            out.append((grain, bucket, bucket))
    return out


# --- counting each bucket -------------------------------------------------------------------------------------
def plan(
    start: datetime,
    end: datetime,
    granularity: str,
    tz: ZoneInfo,
    now: datetime,
    extent: Extent | None,
    records_only: bool = False,
) -> SeriesPlan:
    """The buckets of `[start, end]` and what to read for each (nothing without data: `extent` None).

    `records_only` recounts every bucket from the records (for groupings no aggregate holds)."""
    return _run(_plan_steps(start, end, granularity, tz, now, extent, records_only))


async def plan_sliced(
    start: datetime,
    end: datetime,
    granularity: str,
    tz: ZoneInfo,
    now: datetime,
    extent: Extent | None,
    records_only: bool = False,
) -> SeriesPlan:
    """`plan`, handing the event loop back every STEP buckets: up to MAX_BUCKETS buckets are tens to hundreds of
    milliseconds of pure Python, which one request must not hold the loop for (usagestream/slices.py). Not a
    thread: a thread holding the GIL delays the loop by a switch interval at each of its wake-ups."""
    return await _drive(_plan_steps(start, end, granularity, tz, now, extent, records_only), hand_back=True)


def _plan_steps(
    start: datetime,
    end: datetime,
    granularity: str,
    tz: ZoneInfo,
    now: datetime,
    extent: Extent | None,
    records_only: bool,
) -> Steps[SeriesPlan]:
    buckets = yield from _bucket_steps(start, end, granularity, tz, now)
    return (yield from _count_steps(buckets, [(0, len(buckets))], start, end, extent, records_only))


async def buckets_sliced(
    start: datetime, end: datetime, granularity: str, tz: ZoneInfo, now: datetime
) -> tuple[Bucket, ...]:
    """The buckets of `plan` alone (what counts each is planned by `plan_of`), handing the event loop back."""
    return await _drive(_bucket_steps(start, end, granularity, tz, now), hand_back=True)


async def plan_of(
    buckets: Sequence[Bucket],
    runs: Sequence[tuple[int, int]],
    start: datetime,
    end: datetime,
    extent: Extent | None,
    records_only: bool = False,
) -> SeriesPlan:
    """`subset(plan(...), runs)` for the buckets `buckets_sliced` found over the same arguments: only the buckets
    of `runs` are counted (a series' kept chunks need no plan, materializer/read/series_cache.py)."""
    return await _drive(_count_steps(buckets, runs, start, end, extent, records_only), hand_back=True)


def _bucket_steps(
    start: datetime, end: datetime, granularity: str, tz: ZoneInfo, now: datetime
) -> Steps[tuple[Bucket, ...]]:
    if end < start:
        raise PlanError("start_date must not be after end_date")
    try:
        bounds = yield from _span_boundary_steps(start.astimezone(UTC), end.astimezone(UTC), granularity, tz)
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, PlanError):
            raise
        raise PlanError("the range's buckets reach beyond the years 1 to 9999: choose a narrower range") from exc
    after = end + TICK
    return tuple(
        Bucket(lo, hi, lo < start or hi > after or hi > now) for lo, hi in zip(bounds, bounds[1:], strict=False)
    )


def _count_steps(
    buckets: Sequence[Bucket],
    runs: Sequence[tuple[int, int]],
    start: datetime,
    end: datetime,
    extent: Extent | None,
    records_only: bool,
) -> Steps[SeriesPlan]:
    """What counts the buckets of the ascending, disjoint index ranges `runs`, indexed from 0 in that order."""
    rows: list[tuple[int, int, datetime]] = []
    slices: list[tuple[int, datetime, datetime]] = []
    chosen = tuple(b for lo, hi in runs for b in buckets[lo:hi])
    for i, bucket in enumerate(chosen if extent is not None else ()):
        assert extent is not None
        if i and not i % (STEP // 10):
            yield  # a bucket's count is costlier than a boundary (a stored month checks its days)
        span = _counted(bucket, start, end, extent)
        if span is None:
            continue
        if records_only:
            slices.append((i, *span))
        elif (grain := _whole_row(bucket, span, extent)) is not None:
            rows.append((i, grain, bucket.start))
        else:
            _count(i, span, extent, rows, slices)
    return SeriesPlan(chosen, tuple(rows), tuple(slices))


def _whole_row(b: Bucket, span: tuple[datetime, datetime], ext: Extent) -> int | None:
    """The grain of the one stored row that is the whole bucket, when it is counted whole (most buckets): what
    `_count` finds for it, without tiling (bucket bounds lie on the grid; `_counted` kept it inside the data)."""
    if span[0] != b.start or span[1] != b.end:
        return None
    return _one_row(b.start, b.end, ext.stored_zone)


async def _drive(steps: Steps[T], hand_back: bool) -> T:
    """Drive a generator of steps to its end, its value; `hand_back`: yield to the event loop after each step."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result
        if hand_back:
            await asyncio.sleep(0)


def _run(steps: Steps[T]) -> T:
    """`_drive` without hand-backs, from synchronous code: a coroutine that never awaits ends at its first step."""
    driving = _drive(steps, hand_back=False)
    try:
        driving.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    raise AssertionError("unreachable: _drive awaits only to hand back")


def _counted(b: Bucket, start: datetime, end: datetime, ext: Extent) -> tuple[datetime, datetime] | None:
    """The part of the bucket to count; widened to the whole bucket where the range's cut lies outside the data
    (nothing is stored before `first` or after `last`), so that whole stored rows can answer it."""
    lo, hi = max(b.start, start), min(b.end, end + TICK)
    if lo <= ext.first:
        lo = b.start
    if hi > ext.last:
        hi = b.end
    if lo >= hi or hi <= ext.first or lo > ext.last:
        return None
    return lo, hi


def _count(
    i: int,
    span: tuple[datetime, datetime],
    ext: Extent,
    rows: list[tuple[int, int, datetime]],
    slices: list[tuple[int, datetime, datetime]],
) -> None:
    lo, hi = span
    a, z = ceil_15m(lo), bucket_15m(hi)
    if a >= z:
        slices.append((i, lo, hi))
        return
    slices.extend((i, x, y) for x, y in ((lo, a), (z, hi)) if x < y)
    rows.extend((i, grain, t) for grain, t in _cover(a, z, ext))


# Shorter than any local day or month of any zone (DST moves a day by at most a few hours; a date skipped
# across the date line has no row at all).
_SHORTEST = {GRAIN_DAY: timedelta(hours=12), GRAIN_MONTH: timedelta(days=14)}
# A stored grain: its rows lying wholly inside `[lo, hi)`, as (start, end), in order.
Rows = Callable[[datetime, datetime, "ZoneInfo | None"], Iterator[tuple[datetime, datetime]]]


def _cover(lo: datetime, hi: datetime, ext: Extent) -> Iterator[tuple[int, datetime]]:
    """Stored rows tiling `[lo, hi)` (on the 15-minute grid): the coarsest grain's whole rows first, the gaps
    between them by the finer grains; no row sticks out. Rows that cannot hold data (ending at or before the
    oldest stored instant, starting after the newest record) are left out."""
    one = _one_row(lo, hi, ext.stored_zone)
    if one is not None:  # the usual bucket: exactly one stored row (a quarter, a UTC hour, a stored day or month)
        tiles: Iterator[tuple[int, datetime, datetime]] = iter(((one, lo, hi),))
    else:
        levels: list[tuple[int, Rows]] = [(GRAIN_HOUR, _hours), (GRAIN_15M, _quarters)]
        if ext.stored_zone is not None:
            levels[:0] = [(GRAIN_MONTH, _months), (GRAIN_DAY, _days)]
        tiles = _tile(lo, hi, levels, ext.stored_zone)
    for grain, s, e in tiles:
        if e > ext.first and s <= ext.last:
            yield grain, s


def _one_row(lo: datetime, hi: datetime, tz: ZoneInfo | None) -> int | None:
    """The grain whose stored row is exactly `[lo, hi)`, if one is."""
    span = hi - lo
    if span == BUCKET:
        return GRAIN_15M
    if span == HOUR and lo.astimezone(UTC).minute == 0:
        return GRAIN_HOUR
    if tz is None or span < _SHORTEST[GRAIN_DAY]:
        return None
    first = lo.astimezone(tz).date()
    if stored_day(first, tz) == (lo, hi):
        return GRAIN_DAY
    if first.day == 1 and stored_month(first, tz) == (lo, hi):
        return GRAIN_MONTH
    return None


def _tile(
    lo: datetime, hi: datetime, levels: list[tuple[int, Rows]], tz: ZoneInfo | None
) -> Iterator[tuple[int, datetime, datetime]]:
    if lo >= hi:
        return
    (grain, rows), finer = levels[0], levels[1:]
    if finer and hi - lo < _SHORTEST.get(grain, timedelta(0)):
        yield from _tile(lo, hi, finer, tz)  # no row of this grain is that short: skip the search
        return
    cursor = lo
    for s, e in rows(lo, hi, tz):
        if finer:
            yield from _tile(cursor, s, finer, tz)
        yield grain, s, e
        cursor = e
    if finer:
        yield from _tile(cursor, hi, finer, tz)


def _quarters(lo: datetime, hi: datetime, _tz: ZoneInfo | None) -> Iterator[tuple[datetime, datetime]]:
    t = lo
    while t < hi:
        yield t, t + BUCKET
        t += BUCKET


def _hours(lo: datetime, hi: datetime, _tz: ZoneInfo | None) -> Iterator[tuple[datetime, datetime]]:
    t = lo.astimezone(UTC)
    t = t if t.minute == 0 else t.replace(minute=0) + HOUR
    while t + HOUR <= hi:
        yield t, t + HOUR
        t += HOUR


def _days(lo: datetime, hi: datetime, tz: ZoneInfo | None) -> Iterator[tuple[datetime, datetime]]:
    assert tz is not None
    day, last = lo.astimezone(tz).date(), hi.astimezone(tz).date()
    while day <= last:
        row = stored_day(day, tz)
        if row is not None and lo <= row[0] and row[1] <= hi:
            yield row
        day += timedelta(days=1)


def _months(lo: datetime, hi: datetime, tz: ZoneInfo | None) -> Iterator[tuple[datetime, datetime]]:
    assert tz is not None
    label, last = lo.astimezone(tz).date().replace(day=1), hi.astimezone(tz).date()
    while label <= last:
        row = stored_month(label, tz)
        if row is not None and lo <= row[0] and row[1] <= hi:
            yield row
        label = _next_label(label, "month")


# Cached: the same days and months are asked for by every request (a dashboard's refreshes above all).
@lru_cache(maxsize=65536)
def stored_day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The writer's row of local day `day` as `(start, end)`, or None if it is not exactly that day."""
    s, e = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    return (s, e) if _is_row(s, e, day_start, tz) else None


@lru_cache(maxsize=8192)
def stored_month(first: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The writer's row of the local month starting on `first`, or None if it is not exactly that month."""
    s, e = local_midnight(first, tz), local_midnight(_next_label(first, "month"), tz)
    return (s, e) if _is_row(s, e, month_start, tz) else None


def _is_row(s: datetime, e: datetime, start_of: Callable[[datetime, ZoneInfo], datetime], tz: ZoneInfo) -> bool:
    """Whether the writer's row `s` (it files each record under `start_of(created_at)`) is exactly `[s, e)`:
    both ends map as they should and lie on the grid (checked at the ends, where DST moves them)."""
    return (
        s < e
        and s == bucket_15m(s)
        and e == bucket_15m(e)
        and start_of(s, tz) == s
        and start_of(e - TICK, tz) == s
        and start_of(e, tz) != s
        and start_of(s - TICK, tz) != s
    )
