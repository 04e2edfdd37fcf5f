"""Time series: per bucket of a granularity in a zone, the /stats counters of a scope or of its top groups.

`usagestream.timeseries.plan` says which stored rows and record slices make up each bucket; this module reads
them in one statement (one REPEATABLE READ snapshot with the extent it planned from), which also writes the points
as JSON text (read.series_points), and names the groups.
What a grouped series counts (what /aggregation/stats counts for the same group): docs/api.md "Time series";
how it is read: docs/read-model.md "Time series".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from usagestream.materializer.pg_counters import ATTEMPT_COUNTER_SQL, DIM_KEY_SQL, EXECUTED, USAGE_COUNTER_SQL
from usagestream.materializer.pg_pool import Conn, fetch_one
from usagestream.materializer.read import series_cache, series_halves, series_points
from usagestream.materializer.read.cutoff import widen_before_cutoff
from usagestream.materializer.read.entities import entity_maps
from usagestream.materializer.read.series_points import OTHER
from usagestream.materializer.read.sql import Args, Statement, cast_sum
from usagestream.materializer.read.stats import extent_sql
from usagestream.slices import map_sliced
from usagestream.timeseries import (
    Bucket,
    Extent,
    PlanError,
    SeriesPlan,
    buckets_sliced,
    check_points,
    part,
    plan,
    plan_of,
    plan_sliced,
    runs,
)

# The counters of /stats (read.stats.STATS_COUNTERS) a point shows, plus input and output tokens.
COUNTERS = (
    "n_all",
    "n_error",
    "in_tok",
    "out_tok",
    "tot_tok",
    "cc_tok",
    "cr_tok",
    "cost",
    "actual_cost",
    "rt_sum",
    "rt_n",
)
# What each slot of COUNTERS holds per grouping: the usage_agg counter (or, for provider, the attempt_agg one) that
# /aggregation/stats sums for that group; "" is 0. `requests` (slot 0) also ranks the groups.
ALL = COUNTERS  # /stats, and /aggregation/stats?group_by=user: every request
FR = (
    "n_fr",
    "fr_err",
    "fr_in",
    "fr_out",
    "fr_tot_tok",
    "fr_cc",
    "fr_cr",
    "fr_cost",
    "fr_actual",
    "fr_rt_sum",
    "fr_rt_n",
)
PROVIDER_USAGE = ("", "", "fin_in", "fin_out", "fin_tot_tok", "fin_cc", "fin_cr", "fin_cost", "fin_actual", "", "")
PROVIDER_ATTEMPTS = ("attempts", "failures", "", "", "", "", "", "", "", "lat_sum", "lat_n")
MEASURE = {"model": FR, "api_format": FR, "provider": PROVIDER_USAGE}  # else ALL
ADMIN_GROUPS = ("model", "provider", "api_format", "user", "api_key")
USER_GROUPS = ("model", "api_format", "api_key")  # a user's own requests: no other users, no providers
# Up to this many record slices in a plan (a range's two cut ends; not a records-only plan's one per bucket), the
# statement names each slice's bounds (`_span`).
EXACT_SPANS = 4
ENTITY_OF = {"user": ("user", "username"), "provider": ("provider", "name"), "api_key": ("api_key", "name")}


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """One validated request: `user_id` None = every request (admin), else that user's only."""

    start: datetime | None
    end: datetime | None
    granularity: str
    tz: ZoneInfo
    group_by: str | None
    limit: int
    now: datetime
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """`points`: the JSON text of the points as UTF-8, comma-separated, without the brackets (read.series_points),
    in consecutive parts (one per statement that read some of its buckets, read.series_halves) to be joined with
    commas: the API writes them into the response as they are."""

    key: str | None
    label: str
    points: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class SeriesAnswer:
    start: datetime
    end: datetime
    buckets: tuple[Bucket, ...]
    series: list[Series] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Source:
    """Where one family of rows comes from: an aggregate dimension and the same key over the records."""

    dim: str
    key_where: str  # over usage_agg's `key` (alias a)
    record_key: str  # over usage_records' columns
    record_where: str
    key: str | None = None  # a row source of the one key it reads (totals), e.g. "(SELECT ''::text AS key)"
    measure: tuple[str, ...] = ALL  # the usage_agg counter of each slot
    one_key: bool = False  # `key` yields one key: a bucket of one stored row is that row, with nothing to sum


async def read(pool: asyncpg.Pool, q: SeriesQuery, tz_name: str) -> SeriesAnswer:
    """`timeseries` in its own read-only REPEATABLE READ transaction (as every ReadStore method)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await timeseries(conn, q, tz_name, pool)


async def timeseries(conn: Conn, q: SeriesQuery, tz_name: str, pool: asyncpg.Pool | None = None) -> SeriesAnswer:
    """The answer over one snapshot (call inside a read-only REPEATABLE READ transaction). Raises
    `usagestream.timeseries.PlanError` for a range it refuses (too many points, buckets off the grid). With
    `pool`, a long series may read half its buckets on a second connection of it (read.series_halves)."""
    start, end, extent = await _extent(conn, q, tz_name)
    records_only = q.user_id is not None and q.group_by in ("api_format", "api_key")
    if pool is not None and q.group_by != "provider":  # provider: its attempts carry no hour revision of their own
        return await _kept(conn, pool, q, (start, end), extent, records_only)
    # Planning up to MAX_BUCKETS buckets is pure Python for up to hundreds of milliseconds: in slices of the loop.
    p = await plan_sliced(start, end, q.granularity, q.tz, q.now, extent, records_only)
    check_points(len(p.buckets), q.limit + 1 if q.group_by else 1)
    attempts: tuple[SeriesPlan, SeriesPlan] | None = None
    if q.group_by == "provider":
        # Attempts are counted by the candidates' own times, over their own extent.
        a_extent = await _attempt_extent(conn, start, end, extent)
        a_plan = await plan_sliced(start, end, q.granularity, q.tz, q.now, a_extent)
        attempts = (a_plan, _rank_plan(start, end, q, a_extent, False))
    ranking = _rank_plan(start, end, q, extent, records_only) if q.group_by else None
    stamp: Callable[[Bucket], str] = lambda b: b.start.astimezone(q.tz).isoformat()  # noqa: E731
    stamps = await map_sliced(stamp, p.buckets)
    whole = statement(p, ranking, q, attempts, stamps)
    rows = [(r[0], (r[1],), r[2]) for r in await conn.fetch(whole.text, *whole.args)]  # key, points, counts
    return SeriesAnswer(start, end, p.buckets, await _series(conn, q, rows))


async def _kept(
    conn: Conn,
    pool: asyncpg.Pool,
    q: SeriesQuery,
    bounds: tuple[datetime, datetime],
    extent: Extent | None,
    records_only: bool,
) -> SeriesAnswer:
    """The answer through the kept chunks (read.series_cache): only the buckets they do not hold are planned
    (`plan_of`) and read; a long part in two halves on two connections of `pool` (read.series_halves)."""
    start, end = bounds
    buckets = await buckets_sliced(start, end, q.granularity, q.tz, q.now)
    check_points(len(buckets), q.limit + 1 if q.group_by else 1)
    ranking = _rank_plan(start, end, q, extent, records_only) if q.group_by else None
    stamp: Callable[[Bucket], str] = lambda b: b.start.astimezone(q.tz).isoformat()  # noqa: E731

    async def planner(runs: list[tuple[int, int]]) -> SeriesPlan:
        return await plan_of(buckets, runs, start, end, extent, records_only)

    shape = (q.granularity, q.tz.key, q.user_id, q.group_by, q.limit)
    fetch = functools.partial(_segments, conn, pool, ranking, q)
    rows = await series_cache.read(conn, shape, buckets, planner, stamp, fetch, _kept_rank(conn, q))
    return SeriesAnswer(start, end, buckets, await _series(conn, q, rows))


def _kept_rank(conn: Conn, q: SeriesQuery) -> series_cache.Rank | None:
    """The groups' ranking kept beside the chunks (read.series_cache), counted by `count_statement`; not for
    group_by=user, whose ranking also reads which users exist (entities, which no hour's revision follows)."""
    if q.group_by is None or q.group_by == "user":
        return None
    return series_cache.Rank(functools.partial(_counts, conn, q), functools.partial(_guarded, conn, q), q.limit)


async def _counts(conn: Conn, q: SeriesQuery, p: SeriesPlan, segs: list[int]) -> list[tuple[int, str, int]]:
    """The requests of every group per segment of `p`'s buckets (read.series_cache.Count)."""
    counting = count_statement(p, q, segs)
    return [(r[0], r[1], r[2]) for r in await conn.fetch(counting.text, *counting.args)]


async def _guarded(
    conn: Conn, q: SeriesQuery, p: SeriesPlan, segs: list[int], lo: list[datetime], hi: list[datetime]
) -> tuple[tuple[Any, ...], list[tuple[int, str, int]]]:
    """`_counts` in one statement with the kept chunks' guard (read.series_cache.Guarded)."""
    counting = count_statement(p, q, segs, (lo, hi))
    row = await fetch_one(conn, counting.text, *counting.args)
    return tuple(row[:5]), list(zip(row[5], row[6], row[7], strict=True))


async def _segments(
    conn: Conn,
    pool: asyncpg.Pool,
    ranking: SeriesPlan | None,
    q: SeriesQuery,
    p: SeriesPlan,
    stamps: list[str],
    segs: list[int],
    ranked: tuple[str, ...] | None,
) -> list[tuple[Any, int, tuple[bytes, ...], bool]]:
    """The points of `p`'s buckets per segment `segs` (read.series_cache.Fetch): a long plan as two halves read
    at once (read.series_halves), else in one statement; `ranked`: the groups in order, if known."""
    cut = series_halves.split_at(len(p.buckets))
    async with series_halves.second(conn, pool if cut is not None else None) as other:
        if other is None or cut is None:
            whole = statement(p, ranking, q, None, stamps, segs, ranked)
            return [(r[0], r[1], (r[2],), r[3]) for r in await conn.fetch(whole.text, *whole.args)]
        halves = [
            statement(part(p, lo, hi), ranking, q, None, stamps[lo:hi], segs[lo:hi], ranked)
            for lo, hi in _halves(p, cut)
        ]
        return await series_halves.both_segments(conn, other, halves)


def _halves(p: SeriesPlan, cut: int) -> tuple[tuple[int, int], tuple[int, int]]:
    return (0, cut), (cut, len(p.buckets))


def statement(
    p: SeriesPlan,
    ranking: SeriesPlan | None,
    q: SeriesQuery,
    attempts: tuple[SeriesPlan, SeriesPlan] | None = None,
    stamps: Sequence[str] | None = None,
    segs: list[int] | None = None,
    ranked: Sequence[str] | None = None,
) -> Statement:
    """The one statement of a series (rendered in materializer/sql/read.timeseries.sql): per bucket of `p`, the
    points' JSON text of the scope's totals and, grouped, of the top groups ranked over `ranking` (another cover
    of the range, see `_rank_plan`); group_by=provider also needs the candidates' plan and its ranking plan
    (`attempts`). `stamps`: each bucket's start as written in the answer (computed here if not given). `segs`: the
    points per segment of buckets (series_points.statement). `ranked`: the top groups in order, as the ranking
    would find them (read.series_cache keeps its counts): listed instead of ranked."""
    args = Args()
    total = _total_source(q, args)
    group = _group_source(q, args, ranked is None) if q.group_by else None
    parts: tuple[str, str | None, str]
    order = None  # group_by=provider: the answer's order from its sums (it ranks by the candidates' plan)
    if group is not None and q.group_by == "provider":
        assert attempts is not None, "group_by=provider needs the candidates' plans"
        parts = _provider_statement(p, attempts[0], attempts[1], total, group, q, args)
    else:
        parts = _statement(p, ranking, total, group, q, args, ranked)
        order = "t"
    if stamps is None:
        stamps = [b.start.astimezone(q.tz).isoformat() for b in p.buckets]
    partial = [b.partial for b in p.buckets]
    return args.statement(series_points.statement(*parts, list(stamps), partial, args, order, segs))


async def _extent(conn: Conn, q: SeriesQuery, tz_name: str) -> tuple[datetime, datetime, Extent | None]:
    """The range with open bounds resolved (start: the oldest stored instant; end: now, or the newest record if
    later) and the extent of the data, read as /stats reads it (read.stats.plan_for)."""
    stored, cut, first, last = await fetch_one(conn, extent_sql("usage_records"))
    start, end = q.start, q.end
    if cut is not None:  # before it only the roll-ups remain (docs/read-model.md "Retention")
        start, end, first, last = await widen_before_cutoff(
            conn, "usage_records", start, end, first, last, datetime.fromisoformat(cut)
        )
    if end is None:  # now, or later if a record or the start is later
        end = max(x for x in (q.now, last, start) if x is not None)
    if start is None:
        start = end if first is None else min(first, end)
    if first is None or last is None:
        return start, end, None
    zone = ZoneInfo(tz_name) if stored in (None, tz_name) else None  # days built in another zone: unusable
    return start, end, Extent(first, last, zone)


# The records cut-off and the candidates' extent (group_by=provider counts attempts by their own times).
ATTEMPT_EXTENT_SQL = (
    "SELECT (SELECT value FROM meta WHERE key = 'records_cutoff'), (SELECT min(created_at) FROM"
    " candidate_records), (SELECT max(created_at) FROM candidate_records)"
)


async def _attempt_extent(conn: Conn, start: datetime, end: datetime, usage: Extent | None) -> Extent | None:
    """The extent of the executed attempts (candidate_records, and attempt_agg before the records cut-off)."""
    cut, first, last = await fetch_one(conn, ATTEMPT_EXTENT_SQL)
    if cut is not None:
        cutoff = datetime.fromisoformat(cut)
        _, _, first, last = await widen_before_cutoff(conn, "candidate_records", start, end, first, last, cutoff)
    if first is None or last is None:
        return None
    return Extent(first, last, usage.stored_zone if usage is not None else None)


def _total_source(q: SeriesQuery, args: Args) -> _Source:
    """The scope's totals, counted as the grouping counts (its measure), for `__other__`."""
    measure = MEASURE.get(q.group_by or "", ALL)
    if q.user_id is None:
        return _Source("all", "TRUE", DIM_KEY_SQL["all"], "TRUE", "(SELECT ''::text AS key)", measure, True)
    me = args.add(q.user_id)
    key = f"(SELECT {me}::text AS key)"
    return _Source("user", f"a.key = {me}", "user_id", f"user_id = {me}", key, measure, True)


def _group_source(q: SeriesQuery, args: Args, ranks: bool = True) -> _Source:
    """The groups' rows; `ranks` False: a statement given its groups (no `key_where`, which only ranking reads:
    a parameter the text does not use would have no type)."""
    dim = q.group_by
    assert dim is not None
    measure = MEASURE.get(dim, ALL)
    if q.user_id is None:
        return _Source(dim, "TRUE", DIM_KEY_SQL[dim], "TRUE", measure=measure)
    me = args.add(q.user_id)
    if dim == "model":  # the user_model dimension: key = user_id || chr(31) || model
        mine = f"starts_with(a.key, {args.add(q.user_id + chr(31))})" if ranks else "FALSE"
        return _Source("user_model", mine, DIM_KEY_SQL["user_model"], f"user_id = {me}", None, measure)
    # No dimension holds user x format or user x key: the plan recounts the records (records_only).
    return _Source(dim, "FALSE", DIM_KEY_SQL[dim], f"user_id = {me}", None, measure)


def _rank_plan(start: datetime, end: datetime, q: SeriesQuery, extent: Extent | None, records_only: bool) -> SeriesPlan:
    """Another exact cover of the same range, by months of the stored zone: the groups are ranked on it, a few
    dozen rows per key however many buckets the series has (then only the top keys' rows are read per bucket)."""
    zone = extent.stored_zone if extent is not None and extent.stored_zone is not None else None
    try:
        return plan(start, end, "month", zone or ZoneInfo("UTC"), q.now, extent, records_only)
    except PlanError:  # the stored zone's midnights are off the grid in this range: UTC's never are
        return plan(start, end, "month", ZoneInfo("UTC"), q.now, extent, records_only)


def _sources(p: SeriesPlan, rows_name: str, slices_name: str, args: Args) -> str:
    """The plan as two row sources: `rows_name(i, grain, bucket)` and `slices_name(i, lo, hi)`."""
    cuts = f"unnest({args.add([c[0] for c in p.slices])}::int4[], {args.add([c[1] for c in p.slices])}"
    cuts += f"::timestamptz[], {args.add([c[2] for c in p.slices])}::timestamptz[])"
    return f"{_plan_rows(p, rows_name, args)}, {slices_name} AS (SELECT * FROM {cuts} AS x(i, lo, hi))"


def _runs(p: SeriesPlan, args: Args, name: str = "w") -> str:
    """The plan's stored rows as runs `name(grain, lo, hi)` (usagestream.timeseries.runs)."""
    found = runs(p.rows)
    grains, los = args.add([r[0] for r in found]), args.add([r[1] for r in found])
    his = args.add([r[2] for r in found])
    return (
        f"{name} AS (SELECT * FROM unnest({grains}::int2[], {los}::timestamptz[], {his}::timestamptz[])"
        " AS x(grain, lo, hi))"
    )


def _split(p: SeriesPlan) -> tuple[SeriesPlan, SeriesPlan]:
    """The plan's buckets counted by exactly one stored row (most of them: an hour row for an hourly bucket, a
    day row for a daily one), whose sums are that row's counters as stored, and the others (several rows, or a
    slice of the records: the cut ends, DST days), which are summed. Same buckets; rows and slices divided."""
    rows_of: dict[int, int] = {}
    for i, _, _ in p.rows:
        rows_of[i] = rows_of.get(i, 0) + 1
    for i, _, _ in p.slices:
        rows_of[i] = 2
    one = tuple(r for r in p.rows if rows_of[r[0]] == 1)
    many = tuple(r for r in p.rows if rows_of[r[0]] != 1)
    return SeriesPlan(p.buckets, one, ()), SeriesPlan(p.buckets, many, p.slices)


def _span(p: SeriesPlan, args: Args) -> str:
    """The records' `created_at` bounds of a plan's slices, as parameters: PostgreSQL plans each answer with their
    values (a custom plan: a generic one was three times slower) and so prunes the monthly partitions, which it
    cannot do by the slices' row source; FALSE without a slice (nothing of the records to plan)."""
    if not p.slices:
        return "FALSE"
    if len(p.slices) <= EXACT_SPANS:
        # Each slice's own bounds: a range's cut ends are a few minutes at each end; one span from the first to
        # the last would cover the whole range, which PostgreSQL then estimates as most of the records and reads.
        one = "(u.created_at >= {} AND u.created_at < {})"
        return "(" + " OR ".join(one.format(args.add(c[1]), args.add(c[2])) for c in p.slices) + ")"
    lo, hi = min(c[1] for c in p.slices), max(c[2] for c in p.slices)
    return f"u.created_at >= {args.add(lo)} AND u.created_at < {args.add(hi)}"


def _union(src: _Source, keyed: str | None, span: str, rows: str = "p", slices: str = "e", runs_name: str = "w") -> str:
    """(i, key, counters) from the stored rows and the record slices of a plan (`span`: `_span` of that plan).

    `keyed` None: every key of the dimension at each stored row (to rank them). Else only the keys of the row
    source `keyed` (its column `key`), one index range scan per key and run of rows (`runs_name`, see
    `_keyed_rows`), each row then matched to its bucket by `rows`."""
    cols = _slots(src.measure, "a.", None)
    exprs = _slots(src.measure, "", USAGE_COUNTER_SQL)
    stored = (
        f"SELECT r.i, a.key, {cols} FROM {rows} r JOIN usage_agg a"
        f" ON a.dim = '{src.dim}' AND a.grain = r.grain AND a.bucket = r.bucket WHERE {src.key_where}"
    )
    record_where = src.record_where
    if keyed is not None:
        stored = (
            f"SELECT r.i, a.key, {cols} FROM {_keyed_rows(src, keyed, runs_name)} JOIN {rows} r"
            " ON r.grain = a.grain AND r.bucket = a.bucket"
        )
        record_where += f" AND {src.record_key} IN (SELECT key FROM {keyed} k)"
    return (
        f"{stored} UNION ALL SELECT c.i, {src.record_key} AS key, {exprs} FROM {slices} c JOIN usage_records u"
        f" ON u.created_at >= c.lo AND u.created_at < c.hi"
        f" WHERE {src.record_key} IS NOT NULL AND {record_where} AND {span} GROUP BY 1, 2"
    )


def _keyed_rows(src: _Source, keyed: str, runs_name: str) -> str:
    """The stored rows `a` of the keys of `keyed` over the runs `runs_name`: one index range scan per key and run;
    LATERAL with OFFSET 0 keeps PostgreSQL from flattening it into a join that would read every row of a key
    (it underestimates them) into a hash; it projects only the columns the source reads, not the whole wide row."""
    w = runs_name
    return (
        f"{w} CROSS JOIN {keyed} k CROSS JOIN LATERAL (SELECT {_columns(src)} FROM usage_agg a"
        f" WHERE a.dim = '{src.dim}' AND a.key = k.key AND a.grain = {w}.grain AND a.bucket >= {w}.lo"
        f" AND a.bucket <= {w}.hi OFFSET 0) a"
    )


def _columns(src: _Source) -> str:
    """The columns of usage_agg a source reads: its key, grain, bucket and measure (not the whole wide row)."""
    return ", ".join(["a.key", "a.grain", "a.bucket", *(f"a.{c}" for c in dict.fromkeys(src.measure) if c)])


def _summed(src: _Source, keyed: str, span: str) -> str:
    """(i, key, COUNTERS) per bucket and key of the keys of `keyed` (the bucket plan split by `_split`: `p1`/`w1`
    the buckets of one stored row, `p`/`w`/`e` the others): a bucket of one stored row per key is that row as
    stored (most buckets: no sort, no numeric sums), the others summed."""
    sums = ", ".join(f"{cast_sum(c)} AS {c}" for c in COUNTERS)
    single = (
        f"SELECT r.i, a.key, {_slots(src.measure, 'a.', None)} FROM {_keyed_rows(src, keyed, 'w1')} JOIN p1 r"
        " ON r.grain = a.grain AND r.bucket = a.bucket"
    )
    return f"{single} UNION ALL SELECT i, key, {sums} FROM ({_union(src, keyed, span)}) s GROUP BY 1, 2"


def _slots(measure: tuple[str, ...], prefix: str, recount: dict[str, str] | None) -> str:
    """The select list of one source in COUNTERS order: each slot's column (or its recount over the records)."""
    out = []
    for slot, name in zip(COUNTERS, measure, strict=True):
        value = "0" if not name else (recount[name] if recount is not None else f"{prefix}{name}")
        out.append(f"{value} AS {slot}")
    return ", ".join(out)


def _attempt_union(keyed: str | None, span: str, rows: str, slices: str) -> str:
    """(i, key = provider_id, slots) of the executed attempts over a plan of attempt_agg and candidate_records;
    `keyed` None: every provider, else the providers of the row source `keyed`."""
    only = "" if keyed is None else f" AND provider_id IN (SELECT key FROM {keyed} k)"
    stored_only = only.replace(" AND ", " AND a.", 1)  # the same filter, on attempt_agg's alias
    return (
        f"SELECT r.i, a.provider_id AS key, {_slots(PROVIDER_ATTEMPTS, 'a.', None)} FROM {rows} r JOIN attempt_agg a"
        f" ON a.grain = r.grain AND a.bucket = r.bucket{stored_only}"
        f" UNION ALL SELECT c.i, provider_id AS key, {_slots(PROVIDER_ATTEMPTS, '', ATTEMPT_COUNTER_SQL)}"
        f" FROM {slices} c JOIN candidate_records u ON u.created_at >= c.lo AND u.created_at < c.hi"
        f" WHERE {EXECUTED}{only} AND {span} GROUP BY 1, 2"
    )


def _provider_statement(
    p: SeriesPlan, a: SeriesPlan, ranking: SeriesPlan, total: _Source, group: _Source, q: SeriesQuery, args: Args
) -> tuple[str, str, str]:
    """group_by=provider as /aggregation/stats counts it: executed attempts (requests, errors = failed ones,
    response time = their latency) by the candidates' plan `a`, tokens and cost of the finished requests the
    provider served by the usage plan `p`; ranked by attempts on the coarse plan `ranking` of the candidates.
    (head, grouped, totals) as `series_points.statement` takes them."""
    sums = ", ".join(f"{cast_sum(c)} AS {c}" for c in COUNTERS)
    head = f"WITH {_sources(p, 'p', 'e', args)}, {_runs(p, args)}, {_sources(a, 'pa', 'ea', args)}"
    span_p, span_a, span_r = _span(p, args), _span(a, args), _span(ranking, args)
    top = (
        f"SELECT key FROM ({_attempt_union(None, span_r, 'rp', 're')}) g GROUP BY key HAVING sum(n_all) > 0"
        f' ORDER BY sum(n_all) DESC, key COLLATE "C" LIMIT {args.add(q.limit)}'
    )
    grouped = f"{_union(group, 't', span_p)} UNION ALL {_attempt_union('t', span_a, 'pa', 'ea')}"
    totals = f"{_union(total, total.key, span_p)} UNION ALL {_attempt_union(None, span_a, 'pa', 'ea')}"
    return (
        f"{head}, {_sources(ranking, 'rp', 're', args)}, t AS ({top})",
        f"SELECT i, key, {sums} FROM ({grouped}) s GROUP BY 1, 2",
        f"SELECT i, {sums} FROM ({totals}) s GROUP BY 1",
    )


def _statement(
    p: SeriesPlan,
    ranking: SeriesPlan | None,
    total: _Source,
    group: _Source | None,
    q: SeriesQuery,
    args: Args,
    ranked: Sequence[str] | None = None,
) -> tuple[str, str | None, str]:
    """(head, grouped or None, totals) as `series_points.statement` takes them; grouped, the head also ranks the
    top groups into `t(key, ord)` (or, given them `ranked`, lists them: no ranking to plan or run)."""
    one, many = _split(p)
    span_p = _span(many, args)
    head = f"WITH {_sources(many, 'p', 'e', args)}, {_runs(many, args)}, {_plan_rows(one, 'p1', args)}"
    head += f", {_runs(one, args, 'w1')}"
    if total.one_key and total.key is not None:
        totals = f"SELECT i, {', '.join(COUNTERS)} FROM ({_summed(total, total.key, span_p)}) s"
    else:  # several keys (stats_series' scopes): every bucket summed over them
        sums = ", ".join(f"{cast_sum(c)} AS {c}" for c in COUNTERS)
        single = _union(total, total.key, "FALSE", "p1", "e", "w1")  # FALSE: the slices are the others' part
        stored = f"{single} UNION ALL {_union(total, total.key, span_p)}"
        totals = f"SELECT i, {sums} FROM ({stored}) s GROUP BY 1"
    if group is None or ranking is None:
        return head, None, totals
    if ranked is not None:
        listed = f"t AS (SELECT * FROM unnest({args.add(list(ranked))}::text[]) WITH ORDINALITY AS x(key, ord))"
        return f"{head}, {listed}", _summed(group, "t", span_p), totals
    live = ""
    if group.dim == "user":  # as /aggregation/stats?group_by=user: only existing users rank
        live = (
            " WHERE EXISTS (SELECT 1 FROM entities u WHERE u.entity = 'user' AND u.id = g.key AND NOT u.deleted"
            " AND u.data IS NOT NULL)"
        )
    # The order of the answer's groups too (requests over the range, then key bytewise): the bucket plan is
    # another exact cover of the same range, so its sums per group are these.
    top = (
        f'SELECT key, row_number() OVER (ORDER BY sum(n_all) DESC, key COLLATE "C") AS ord FROM'
        f" ({_union(group, None, _span(ranking, args), 'rp', 're')}) g{live} GROUP BY key HAVING sum(n_all) > 0"
        f" ORDER BY ord LIMIT {args.add(q.limit)}"
    )
    return f"{head}, {_sources(ranking, 'rp', 're', args)}, t AS ({top})", _summed(group, "t", span_p), totals


def count_statement(
    p: SeriesPlan, q: SeriesQuery, segs: list[int], guard: tuple[list[datetime], list[datetime]] | None = None
) -> Statement:
    """Per segment `segs[i]` of the buckets `i` of `p` and group, the requests that rank the groups (requests as
    the grouping counts them: slot 0 of its measure), over the same rows and record slices as the points: the sums
    of a range's parts add up to the statement's ranking (usagestream/series_rank.py). Rows (segment, key,
    requests); with `guard` (the kept chunks' bounds), one row: the guard's five columns
    (read.series_cache.guard_columns), then the segments, keys and requests as three arrays."""
    args = Args()
    bounds = (args.add(guard[0]), args.add(guard[1])) if guard is not None else None
    group = _group_source(q, args)
    sg = f"sg AS (SELECT x.i - 1 AS i, x.seg FROM unnest({args.add(segs)}::int4[]) WITH ORDINALITY AS x(seg, i))"
    counted = (
        f"SELECT sg.seg, g.key, sum(g.n_all)::bigint AS n FROM ({_union(group, None, _span(p, args), 'rp', 're')}) g"
        " JOIN sg ON sg.i = g.i GROUP BY 1, 2 HAVING sum(g.n_all) <> 0"
    )
    head = f"WITH {_sources(p, 'rp', 're', args)}, {sg}"
    if bounds is None:
        return args.statement(f"{head} {counted}")
    arrays = ", ".join(f"ARRAY(SELECT c.{col} FROM c ORDER BY c.seg, c.key)" for col in ("seg", "key", "n"))
    return args.statement(f"{head}, c AS ({counted}) SELECT {series_cache.guard_columns(*bounds)}, {arrays}")


def _plan_rows(p: SeriesPlan, name: str, args: Args) -> str:
    """The plan's stored rows as the row source `name(i, grain, bucket)`."""
    rows = f"unnest({args.add([r[0] for r in p.rows])}::int4[], {args.add([r[1] for r in p.rows])}::int2[],"
    rows += f" {args.add([r[2] for r in p.rows])}::timestamptz[])"
    return f"{name} AS (SELECT * FROM {rows} AS x(i, grain, bucket))"


async def _series(conn: Conn, q: SeriesQuery, rows: Sequence[tuple[Any, ...]]) -> list[Series]:
    """The rows of `series_points.statement` (key, points as a tuple of parts, counts) named: the groups' labels,
    `other` (if it counts anything), or `all`."""
    if q.group_by is None:
        return [Series(None, "all", rows[0][1])]
    labels = await _labels(conn, q, [r[0] for r in rows if r[0] != OTHER])
    out = []
    for key, points, counts in rows:
        if not counts:
            continue
        if key == OTHER:
            out.append(Series(OTHER, "other", points))
        else:
            out.append(Series(_shown_key(q, key), labels.get(key, _shown_key(q, key)), points))
    return out


def _shown_key(q: SeriesQuery, key: str) -> str:
    if q.user_id is not None and q.group_by == "model":
        return key.split("\x1f", 1)[1]
    return key


async def _labels(conn: Conn, q: SeriesQuery, keys: list[str]) -> dict[str, str]:
    """Display names: the entity's name (`Unknown` if it has none or is gone), `unknown` for an empty format."""
    if q.group_by == "api_format":
        return {k: k or "unknown" for k in keys}
    if q.group_by not in ENTITY_OF:
        return {}
    kind, name = ENTITY_OF[q.group_by]
    found = (await entity_maps(conn, {kind: keys}))[kind]
    return {k: _name(found.get(k), name) for k in keys}


def _name(data: dict[str, Any] | None, field_name: str) -> str:
    value = None if data is None else data.get(field_name)
    return value if isinstance(value, str) else "Unknown"
