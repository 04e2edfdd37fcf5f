"""Closed buckets' points kept in the API process per chunk of buckets, used while the hours they meet are unchanged.

Most buckets of a long series are closed, and their points change only when a late, replayed or moved snapshot
lands in them; rewriting their text on every read was most of a read's PostgreSQL time. The writer raises a counter
per UTC hour in the transaction of every change to a record of that hour (`completed_times_revs`,
materializer/pg_day_times.py, kept for the daily percentiles). A chunk's revision is the sum of the counters of the
hours it meets, read in the same snapshot as its points: a later read whose own snapshot gives the same sum sees
the same records in those hours, so the same points (counters only grow). What else could change them without a
counter is in the guard read beside the sums: the database (its oid), the records cut-off (retention), and the file
nodes of `usage_agg` and of the counters' table (a TRUNCATE, a rebuild). The points of a chunk also depend on the
ranking (which groups, and `__other__` as the scope minus them). A chunk also keeps the requests of every group in
its buckets (validated by the same revision), so that the ranking of a range is the sum of its kept chunks' counts
and of the counts of the other buckets read fresh (usagestream/series_rank.py): a kept chunk's points are used when
their series keys, in order, are that ranking. A ranking that also depends on what no revision follows (which users
exist) is not kept: a statement ranks and at least one statement runs (its keys are then the read's ranking).
docs/read-model.md "Time series".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from usagestream.materializer.pg_day_times import revsum
from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.materializer.read.series_points import OTHER
from usagestream.series_rank import top
from usagestream.slices import map_sliced
from usagestream.timeseries import Bucket, SeriesPlan

# The points kept per process by default (Settings.series_cache_mb): about 30 answers of 30 days hourly by model
# (1.9 MB each); the least recently used chunks go first.
MAX_BYTES = 64 << 20
# The buckets of a chunk: those whose start falls in the same span of this many seconds (UTC), so that chunks stay
# the same as a range moves along (a day of hours, about a month of days).
CHUNK_S = {"15m": 6 * 3600, "hour": 86400, "day": 32 * 86400, "week": 366 * 86400, "month": 3660 * 86400}


def guard_columns(lo: str, hi: str) -> str:
    """The guard's five columns (the database's oid, the records cut-off, two file nodes, the chunks' revisions)
    for the chunks' bounds in the array parameters `lo` and `hi`."""
    return (
        "(SELECT oid FROM pg_database WHERE datname = current_database()),"
        " (SELECT value FROM meta WHERE key = 'records_cutoff'), pg_relation_filenode('usage_agg'),"
        " pg_relation_filenode('completed_times_revs'),"
        f" ARRAY(SELECT {revsum('d.lo', 'd.hi')} FROM unnest({lo}::timestamptz[], {hi}::timestamptz[])"
        " WITH ORDINALITY AS d(lo, hi, i) ORDER BY d.i)"
    )


GUARD_SQL = "SELECT " + guard_columns("$1", "$2")

Row = tuple[str | None, tuple[bytes, ...], bool]  # a series' key, its points' parts, whether it counts anything
# Reads the buckets of a plan (re-indexed from 0) with their stamps and segment numbers, and the groups in order if
# known (else the statement ranks them): rows (key, segment, points parts, counts) in the series' order; a (key,
# segment) may come twice (two halves), its parts then in order.
Fetch = Callable[
    [SeriesPlan, list[str], list[int], tuple[str, ...] | None],
    Awaitable[list[tuple[Any, int, tuple[bytes, ...], bool]]],
]
# Counts the requests of every group in the buckets of a plan (re-indexed from 0) per segment number: rows
# (segment, key, requests); a pair absent counts none.
Count = Callable[[SeriesPlan, list[int]], Awaitable[list[tuple[int, str, int]]]]
# The same, in one statement with the guard of the chunks' bounds (`guard_columns`): (its five columns, the rows).
Guarded = Callable[
    [SeriesPlan, list[int], list[Any], list[Any]], Awaitable[tuple[tuple[Any, ...], list[tuple[int, str, int]]]]
]
# Plans what counts the buckets of ascending, disjoint index ranges of a series, indexed from 0 in that order
# (usagestream.timeseries.plan_of): only the buckets no kept chunk holds are planned.
Planner = Callable[[list[tuple[int, int]]], Awaitable[SeriesPlan]]


@dataclass(frozen=True, slots=True)
class Rank:
    """A ranking kept beside the chunks: how to count the groups' requests, and how many groups the series shows."""

    count: Count
    guarded: Guarded
    limit: int


@dataclass(frozen=True, slots=True)
class Segment:
    """Buckets `[lo, hi)` read together; `kept`: closed whole buckets of one chunk, which may be kept."""

    lo: int
    hi: int
    kept: bool


@dataclass(frozen=True, slots=True)
class Kept:
    """A chunk's series as a read found them, with the revision of their hours in that read's snapshot, and the
    requests of every group in its buckets (None: not counted, the ranking not kept)."""

    revsum: int
    series: tuple[Row, ...]
    counts: dict[str, int] | None = None

    @property
    def keys(self) -> tuple[str | None, ...]:
        return tuple(r[0] for r in self.series)

    @property
    def size(self) -> int:
        """About the bytes it holds: its points' text, and a key and an int per counted group."""
        counted = 0 if self.counts is None else sum(len(k) + 64 for k in self.counts)
        return sum(len(p) for r in self.series for p in r[1]) + counted


class Cache:
    """Kept chunks by name, least recently used first, at most `max_bytes` of points."""

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

    def resize(self, max_bytes: int) -> None:
        """Keep at most `max_bytes` from now on (Settings.series_cache_mb; 0 keeps nothing)."""
        self._max = max_bytes
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
    buckets: Sequence[Bucket],
    planner: Planner,
    stamp: Callable[[Bucket], str],
    fetch: Fetch,
    rank: Rank | None = None,
    cache: Cache | None = None,
) -> list[Row]:
    """The rows of the whole series (key, points parts, counts): kept chunks whose revision is current, the rest
    read by `fetch` (in the transaction of `conn`, which reads the revisions too) and kept for the next read.
    `shape`: what else the points depend on (granularity first, zone, scope, grouping, limit); `buckets`: the
    series' buckets, `planner` what counts some of them; `stamp`: a bucket's
    start as the answer writes it (only the buckets read are written); `rank`: the groups' ranking kept too (None:
    each read's statement ranks them)."""
    cache = CACHE if cache is None else cache
    segs = await segments(buckets, shape[0])
    kept = [k for k, s in enumerate(segs) if s.kept]
    lo = [buckets[segs[k].lo].start for k in kept]
    hi = [buckets[segs[k].hi - 1].end for k in kept]
    always = [k for k, s in enumerate(segs) if not s.kept]  # counted fresh in every read
    fresh_counts: dict[int, dict[str, int]] = {}
    if rank is not None and always:  # counted in the guard's statement: one round trip less
        part, numbers = await _part(planner, segs, always)
        guard, rows = await rank.guarded(part, numbers, lo, hi)
        fresh_counts = _by_segment(always, rows)
    else:
        guard = tuple(await fetch_one(conn, GUARD_SQL, lo, hi))
    db, cut, agg, revs, sums = guard
    names = {
        k: (db, cut, agg, revs, shape, a, z, segs[k].hi - segs[k].lo) for k, a, z in zip(kept, lo, hi, strict=True)
    }
    rev = dict(zip(kept, sums, strict=True))
    found = {k: h for k in kept if (h := cache.get(names[k], rev[k])) is not None}
    if rank is None:
        fresh, keys, hits = await _ranked_by_statement(planner, stamp, segs, found, fetch)
        counts: dict[int, dict[str, int]] = {}
    else:
        counts = {k: h.counts for k, h in found.items() if h.counts is not None}
        counts.update(fresh_counts)
        counts.update(await _counted(planner, segs, [k for k in range(len(segs)) if k not in counts], rank.count))
        ranked = top(counts.values(), rank.limit)
        keys = (*ranked, OTHER)
        hits = {k: h for k, h in found.items() if h.keys == keys}
        missing = [k for k in range(len(segs)) if k not in hits]
        fresh = await _fetch(planner, stamp, segs, missing, fetch, ranked) if missing else {}
        if any(f.keys != keys for f in fresh.values()):
            raise RuntimeError("a time series statement listed other groups than it was given")
    for k, got in fresh.items():
        if segs[k].kept:
            cache.put(names[k], Kept(rev[k], got.series, counts.get(k)))
    return _joined(keys, [hits.get(k) or fresh[k] for k in range(len(segs))])


async def _ranked_by_statement(
    planner: Planner, stamp: Callable[[Bucket], str], segs: list[Segment], found: dict[int, Kept], fetch: Fetch
) -> tuple[dict[int, Kept], tuple[str | None, ...], dict[int, Kept]]:
    """(fresh chunks, the series keys, kept chunks used) when each statement ranks the groups: at least one
    statement runs, and kept chunks of other keys than it returned are read again."""
    hits = dict(found)
    if len(hits) == len(segs):  # a statement always runs: its keys are this read's ranking
        del hits[max(hits)]
    fresh = await _fetch(planner, stamp, segs, [k for k in range(len(segs)) if k not in hits], fetch, None)
    keys = next(iter(fresh.values())).keys
    stale = [k for k, h in hits.items() if h.keys != keys]
    if stale:
        fresh.update(await _fetch(planner, stamp, segs, stale, fetch, None))
        hits = {k: h for k, h in hits.items() if k not in fresh}
    return fresh, keys, hits


async def _counted(planner: Planner, segs: list[Segment], which: list[int], count: Count) -> dict[int, dict[str, int]]:
    """The requests of every group in each of the segments `which` (an empty dict: none), by one `count`."""
    if not which:
        return {}
    part, numbers = await _part(planner, segs, which)
    return _by_segment(which, await count(part, numbers))


def _by_segment(which: list[int], rows: list[tuple[int, str, int]]) -> dict[int, dict[str, int]]:
    """Count rows (segment, key, requests) as each segment of `which`'s requests by key (empty: none)."""
    out: dict[int, dict[str, int]] = {k: {} for k in which}
    for seg, key, n in rows:
        out[seg][key] = n
    return out


async def _part(planner: Planner, segs: list[Segment], which: list[int]) -> tuple[SeriesPlan, list[int]]:
    """The buckets of the segments `which` as a plan of their own, and each bucket's segment number."""
    runs = [(segs[k].lo, segs[k].hi) for k in sorted(which)]
    return await planner(runs), [k for k in sorted(which) for _ in range(segs[k].lo, segs[k].hi)]


async def _fetch(
    planner: Planner,
    stamp: Callable[[Bucket], str],
    segs: list[Segment],
    which: list[int],
    fetch: Fetch,
    ranked: tuple[str, ...] | None,
) -> dict[int, Kept]:
    """The segments `which` read by one `fetch`, each as a Kept (revision 0: the caller's to set)."""
    part, numbers = await _part(planner, segs, which)
    rows = await fetch(part, await map_sliced(stamp, part.buckets), numbers, ranked)
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
