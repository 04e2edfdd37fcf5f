"""The clean boundaries of each grain of the aggregates, where a run of buckets may start or end exactly.

A run of local days (or months) `[lo, hi)` is exactly the instants the writer maps to those buckets when both of
its ends are clean boundaries: a local midnight that exists once, lies on the 15-minute grid, and the writer's
`stats.day_start` (`month_start`) maps the instant at it to itself and the instant before it to an earlier
bucket. Then every instant before `lo` has an earlier local date and every instant from `hi` on a later one, so
the rows keyed in `[lo, hi)` hold exactly the records of `[lo, hi)`, whatever DST does to the days inside. UTC
hours and quarters are clean everywhere. `usagestream.ranges` builds plans from these.
"""

from __future__ import annotations

from collections.abc import Callable
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
    month_start,
)

TICK = timedelta(microseconds=1)
# How many days or months a clean boundary is looked for on either side of an instant before the search gallops
# (or, for a unit sticking out of a range, before that grain is given up there). Zones change offset a few
# times a year, so one is near except in eras off the 15-minute grid (local mean time), which have none.
SEARCH = 40


@dataclass(frozen=True, slots=True)
class Span:
    """The half-open interval of instants `[lo, hi)`."""

    lo: datetime
    hi: datetime


class Level:
    """A grain's clean boundaries near an instant (`floor`: the last at or before it, `above`: the first after)
    and, for the cover, far ones (`first_from`, `last_until`: searched up to a limit however far it is)."""

    grain: int
    size: timedelta  # a unit's typical length, to estimate the rows a run reads

    def floor(self, t: datetime) -> datetime | None:
        raise NotImplementedError

    def above(self, t: datetime) -> datetime | None:
        raise NotImplementedError

    def first_from(self, t: datetime, limit: datetime) -> datetime | None:
        """A clean boundary in `[t, limit]`, the first one if there is one near `t`."""
        raise NotImplementedError

    def last_until(self, t: datetime, limit: datetime) -> datetime | None:
        """A clean boundary in `[limit, t]`, the last one if there is one near `t`."""
        raise NotImplementedError

    def at(self, t: datetime) -> Span | None:
        """The shortest run with clean ends holding `t` (one unit, unless a neighbouring boundary is not clean)."""
        lo, hi = self.floor(t), self.above(t)
        return None if lo is None or hi is None else Span(lo, hi)


class Grid(Level):
    """UTC quarters or hours: every step of the grid is a clean boundary."""

    def __init__(self, grain: int, size: timedelta, floor: Callable[[datetime], datetime]) -> None:
        self.grain, self.size, self._floor = grain, size, floor

    def floor(self, t: datetime) -> datetime:
        return self._floor(t)

    def above(self, t: datetime) -> datetime:
        return self._floor(t) + self.size

    def first_from(self, t: datetime, limit: datetime) -> datetime | None:
        b = t if self._floor(t) == t else self.above(t)
        return b if b <= limit else None

    def last_until(self, t: datetime, limit: datetime) -> datetime | None:
        b = self._floor(t)
        return b if b >= limit else None


class Calendar(Level):
    """Local days or months, numbered by an ordinal; a boundary is the start of a unit whose midnight is clean."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def ordinal(self, t: datetime) -> int:
        raise NotImplementedError

    def boundary(self, n: int) -> datetime | None:
        raise NotImplementedError

    def floor(self, t: datetime) -> datetime | None:
        n = self.ordinal(t) + 1  # the local date can run ahead of the instant's bucket around a change
        for i in range(SEARCH):
            b = self.boundary(n - i)
            if b is not None and b <= t:
                return b
        return None

    def above(self, t: datetime) -> datetime | None:
        n = self.ordinal(t) - 1
        for i in range(SEARCH):
            b = self.boundary(n + i)
            if b is not None and b > t:
                return b
        return None

    def first_from(self, t: datetime, limit: datetime) -> datetime | None:
        near = self.floor(t)
        if near != t:
            near = self.above(t)
        if near is None:  # no clean boundary near t (an era off the 15-minute grid): look further, up to limit
            # Every instant before a clean boundary has an earlier local date, so units after t's are after t.
            n = self._search(self.ordinal(t) + 1, self.ordinal(limit), 1)
            near = None if n is None else self.boundary(n)
        return near if near is not None and near <= limit else None

    def last_until(self, t: datetime, limit: datetime) -> datetime | None:
        near = self.floor(t)
        if near is None:
            n = self._search(self.ordinal(t), self.ordinal(limit), -1)
            near = None if n is None else self.boundary(n)
        return near if near is not None and near >= limit else None

    def _scan(self, n: int, d: int) -> int | None:
        """The first clean unit of n, n + d, ... (SEARCH of them), or None."""
        return next((m for m in range(n, n + d * SEARCH, d) if self.boundary(m) is not None), None)

    def _search(self, a: int, b: int, d: int) -> int | None:
        """A clean unit from a towards b (direction d): gallop until a window holds one, then bisect back to the
        earliest window that does, so the search costs O(log distance) windows however far the era reaches."""
        prev, x, step = a, a, SEARCH
        while (b - x) * d >= 0:
            hit = self._scan(x, d)
            if hit is not None:
                break
            prev, x, step = x, x + d * step, step * 2
        else:
            return None
        while (x - prev) * d > SEARCH:
            mid = prev + (x - prev) // 2
            found = self._scan(mid, d)
            if found is None:
                prev = mid
            else:
                x, hit = mid, found
        return hit if (b - hit) * d >= 0 else None


class Days(Calendar):
    grain, size = GRAIN_DAY, timedelta(days=1)

    def ordinal(self, t: datetime) -> int:
        return t.astimezone(self.tz).toordinal()

    def boundary(self, n: int) -> datetime | None:
        return day_boundary(n, self.tz)


class Months(Calendar):
    grain, size = GRAIN_MONTH, timedelta(days=30.436875)  # the mean Gregorian month

    def ordinal(self, t: datetime) -> int:
        local = t.astimezone(self.tz)
        return local.year * 12 + local.month - 1

    def boundary(self, n: int) -> datetime | None:
        return month_boundary(n, self.tz)


QUARTERS = Grid(GRAIN_15M, BUCKET, bucket_15m)
HOURS = Grid(GRAIN_HOUR, HOUR, hour_start)


@lru_cache(maxsize=65536)
def day_boundary(n: int, tz: ZoneInfo) -> datetime | None:
    """The UTC instant the local day with ordinal `n` starts at, if it is a clean boundary of day buckets."""
    try:
        return _clean(local_midnight(date.fromordinal(n), tz), lambda t: day_start(t, tz))
    except (ValueError, OverflowError):  # outside the years datetime can hold
        return None


@lru_cache(maxsize=8192)
def month_boundary(n: int, tz: ZoneInfo) -> datetime | None:
    """The UTC instant the local month `n` (year * 12 + month - 1) starts at, if it is a clean boundary."""
    try:
        return _clean(local_midnight(date(n // 12, n % 12 + 1, 1), tz), lambda t: month_start(t, tz))
    except (ValueError, OverflowError):
        return None


def _clean(midnight: datetime | None, bucket: Callable[[datetime], datetime]) -> datetime | None:
    # The writer's bucket of the instant at the boundary starts there, and the instant before lies in an earlier
    # bucket: the rows keyed from here on hold exactly the records from here on.
    if midnight is None or bucket(midnight) != midnight or bucket(midnight - TICK) >= midnight:
        return None
    return midnight


@lru_cache(maxsize=65536)
def local_midnight(day: date, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of `day`'s local midnight; None if it is skipped, repeated or not 15-minute aligned."""
    first = datetime.combine(day, time(), tzinfo=tz)
    utc = first.astimezone(UTC)
    if first.replace(fold=1).astimezone(UTC) != utc or bucket_15m(utc) != utc:
        return None
    return utc
