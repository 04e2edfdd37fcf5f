"""Closed buckets' points kept in the API process per chunk of buckets, used while the hours they meet are unchanged.

Most buckets of a long series are closed, and their points change only when a late, replayed or moved snapshot
lands in them; rewriting their text on every read was most of a read's PostgreSQL time. The writer raises a counter
per UTC hour in the transaction of every change to a record of that hour (`completed_times_revs`,
materializer/pg_day_times.py, kept for the daily percentiles). A chunk's revision is the sum of the counters of the
hours it meets, read in the same snapshot as its points: a later read whose own snapshot gives the same sum sees
the same records in those hours, so the same points (counters only grow). What else could change them without a
counter is in the guard read beside the sums: the database (its oid), the records cut-off (retention), and the file
nodes of `usage_agg` and of the counters' table (a TRUNCATE, a rebuild). The points of a chunk also depend on the
ranking (which groups, and `__other__` as the scope minus them): a kept chunk is used only when its series keys, in
order, are those a statement of the same read returned, and at least one statement always runs.
docs/read-model.md "Time series".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from usagestream.materializer.pg_day_times import revsum
from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.slices import map_sliced
from usagestream.timeseries import Bucket, SeriesPlan, subset_sliced

# The points kept per process: about 30 answers of 30 days hourly by model (1.9 MB each); the least recently used
# chunks go first.
MAX_BYTES = 64 << 20
# The buckets of a chunk: those whose start falls in the same span of this many seconds (UTC), so that chunks stay
# the same as a range moves along (a day of hours, about a month of days).
CHUNK_S = {"15m": 6 * 3600, "hour": 86400, "day": 32 * 86400, "week": 366 * 86400, "month": 3660 * 86400}

GUARD_SQL = (
    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()),"
    " (SELECT value FROM meta WHERE key = 'records_cutoff'), pg_relation_filenode('usage_agg'),"
    " pg_relation_filenode('completed_times_revs'),"
    f" ARRAY(SELECT {revsum('d.lo', 'd.hi')} FROM unnest($1::timestamptz[], $2::timestamptz[])"
    " WITH ORDINALITY AS d(lo, hi, i) ORDER BY d.i)"
)

Row = tuple[str | None, tuple[bytes, ...], bool]  # a series' key, its points' parts, whether it counts anything
# Reads the buckets of a plan (re-indexed from 0) with their stamps and segment numbers: rows (key, segment, points
# parts, counts) in the series' order; a (key, segment) may come twice (two halves), its parts then in order.
Fetch = Callable[[SeriesPlan, list[str], list[int]], Awaitable[list[tuple[Any, int, tuple[bytes, ...], bool]]]]


@dataclass(frozen=True, slots=True)
class Segment:
    """Buckets `[lo, hi)` read together; `kept`: closed whole buckets of one chunk, which may be kept."""

    lo: int
    hi: int
    kept: bool


@dataclass(frozen=True, slots=True)
class Kept:
    """A chunk's series as a read found them, with the revision of their hours in that read's snapshot."""

    revsum: int
    series: tuple[Row, ...]

    @property
    def keys(self) -> tuple[str | None, ...]:
        return tuple(r[0] for r in self.series)

    @property
    def size(self) -> int:
        return sum(len(p) for r in self.series for p in r[1])


class Cache:
    """Kept chunks by name, least recently used first, at most MAX_BYTES of points."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._kept: OrderedDict[Hashable, Kept] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    def get(self, name: Hashable, rev: int) -> Kept | None:
        found = self._kept.get(name)
        if found is None or found.revsum != rev:
            return None
        self._kept.move_to_end(name)
        return found

    def put(self, name: Hashable, kept: Kept) -> None:
        old = self._kept.pop(name, None)
        if old is not None:
            self._bytes -= old.size
        self._kept[name] = kept
        self._bytes += kept.size
        while self._bytes > self._max and self._kept:
            self._bytes -= self._kept.popitem(last=False)[1].size


CACHE = Cache()  # one per process: the guard keeps databases and their states apart


async def segments(buckets: Sequence[Bucket], granularity: str) -> list[Segment]:
    """The buckets cut into segments: runs of closed whole buckets of one chunk, and runs of the others (the
    chunks found in slices of the event loop: a series has up to MAX_BUCKETS buckets)."""
    span = CHUNK_S[granularity]
    tags = await map_sliced(lambda b: None if b.partial else int(b.start.timestamp()) // span, buckets)
    out: list[Segment] = []
    lo = 0
    for i in range(1, len(tags) + 1):
        if i == len(tags) or tags[i] != tags[lo]:
            out.append(Segment(lo, i, tags[lo] is not None))
            lo = i
    return out


async def read(
    conn: Conn,
    shape: tuple[Any, ...],
    p: SeriesPlan,
    stamp: Callable[[Bucket], str],
    fetch: Fetch,
    cache: Cache | None = None,
) -> list[Row]:
    """The rows of the whole series (key, points parts, counts): kept chunks whose revision is current, the rest
    read by `fetch` (in the transaction of `conn`, which reads the revisions too) and kept for the next read.
    `shape`: what else the points depend on (granularity first, zone, scope, grouping, limit); `stamp`: a bucket's
    start as the answer writes it (only the buckets read are written)."""
    cache = CACHE if cache is None else cache
    segs = await segments(p.buckets, shape[0])
    kept = [k for k, s in enumerate(segs) if s.kept]
    lo = [p.buckets[segs[k].lo].start for k in kept]
    hi = [p.buckets[segs[k].hi - 1].end for k in kept]
    db, cut, agg, revs, sums = await fetch_one(conn, GUARD_SQL, lo, hi)
    names = {
        k: (db, cut, agg, revs, shape, a, z, segs[k].hi - segs[k].lo) for k, a, z in zip(kept, lo, hi, strict=True)
    }
    rev = dict(zip(kept, sums, strict=True))
    hits = {k: h for k in kept if (h := cache.get(names[k], rev[k])) is not None}
    if len(hits) == len(segs):  # a statement always runs: its keys are this read's ranking
        del hits[max(hits)]
    fresh = await _fetch(p, stamp, segs, [k for k in range(len(segs)) if k not in hits], fetch)
    keys = next(iter(fresh.values())).keys
    stale = [k for k, h in hits.items() if h.keys != keys]
    if stale:
        fresh.update(await _fetch(p, stamp, segs, stale, fetch))
        hits = {k: h for k, h in hits.items() if k not in fresh}
    for k, found in fresh.items():
        if segs[k].kept:
            cache.put(names[k], Kept(rev[k], found.series))
    return _joined(keys, [hits.get(k) or fresh[k] for k in range(len(segs))])


async def _fetch(
    p: SeriesPlan, stamp: Callable[[Bucket], str], segs: list[Segment], which: list[int], fetch: Fetch
) -> dict[int, Kept]:
    """The segments `which` read by one `fetch`, each as a Kept (revision 0: the caller's to set)."""
    runs = [(segs[k].lo, segs[k].hi) for k in sorted(which)]
    numbers = [k for k in sorted(which) for _ in range(segs[k].lo, segs[k].hi)]
    part = p if len(numbers) == len(p.buckets) else await subset_sliced(p, runs)
    rows = await fetch(part, await map_sliced(stamp, part.buckets), numbers)
    found: dict[int, dict[Any, tuple[tuple[bytes, ...], bool]]] = {}
    for key, seg, parts, counts in rows:
        series = found.setdefault(seg, {})
        had, counted = series.get(key, ((), False))
        series[key] = (had + parts, counted or counts)
    return {k: Kept(0, tuple((key, *v) for key, v in series.items())) for k, series in found.items()}


def _joined(keys: tuple[str | None, ...], chunks: list[Kept]) -> list[Row]:
    """Each series' parts in bucket order, counting if any chunk counts it."""
    out = []
    for n, key in enumerate(keys):
        rows = [c.series[n] for c in chunks]
        out.append((key, tuple(part for r in rows for part in r[1]), any(r[2] for r in rows)))
    return out
