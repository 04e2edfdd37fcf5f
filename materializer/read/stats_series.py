"""The time series of `/api/admin/stats/time-series` and `cost/forecast`: one filtered scope, bucket by bucket.

The buckets and what counts each are the time-series engine's (`usagestream.timeseries.plan`, the statement of
`read.timeseries`): stored rows where the zone's buckets are the stored grains, record slices at cut edges. The
scope is `stats_scope.total_scope`'s (a dimension's keys, or for filter combinations no dimension holds, a
recount of the range's records with those filters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from usagestream.materializer.pg_counters import DIM_KEY_SQL
from usagestream.materializer.read import stats_scope as scope
from usagestream.materializer.read.sql import Args, Statement
from usagestream.materializer.read.timeseries import COUNTERS, SeriesQuery, _extent, _Source, _statement
from usagestream.timeseries import Bucket, SeriesPlan, check_points, plan_sliced

__all__ = ["COUNTERS", "ZERO", "Ask", "Counts", "read", "series_sql"]

Counts = tuple[int | Decimal, ...]  # one bucket's counters, in COUNTERS order
ZERO: Counts = (0,) * len(COUNTERS)  # shared by every empty bucket


@dataclass(frozen=True, slots=True)
class Ask:
    start: datetime
    end: datetime  # inclusive
    granularity: str  # hour, day, week, month
    tz: ZoneInfo
    now: datetime
    user_id: str | None = None
    model: str | None = None
    provider_name: str | None = None


async def read(pool: asyncpg.Pool, ask: Ask, tz_name: str) -> list[tuple[Bucket, Counts]]:
    """Each bucket of the range with its counters (`read.timeseries.COUNTERS` order), in one snapshot. Raises
    `usagestream.timeseries.PlanError` for buckets the stored grains cannot count (a zone off the 15-minute grid)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        f = await scope.resolve(conn, ask.user_id, ask.model, ask.provider_name)
        q = SeriesQuery(ask.start, ask.end, ask.granularity, ask.tz, None, 1, ask.now)
        start, end, extent = await _extent(conn, q, tz_name)
        records_only = scope.total_scope(f, Args()).records_only
        p = await plan_sliced(start, end, ask.granularity, ask.tz, ask.now, extent, records_only)
        check_points(len(p.buckets), 1)
        sql, args = series_sql(p, f, q)
        rows = await conn.fetch(sql, *args)  # (i, COUNTERS...) of the buckets with data
        points = [ZERO] * len(p.buckets)
        for r in rows:
            points[r["i"]] = tuple(r[c] for c in COUNTERS)
        return list(zip(p.buckets, points, strict=True))


def series_sql(p: SeriesPlan, f: scope.Filters, q: SeriesQuery) -> Statement:
    """The statement of `read`: per bucket of `p` with data, its index `i` and the scope's `COUNTERS` (the
    engine's totals statement, `read.timeseries._statement`, over `stats_scope.total_scope`'s row source)."""
    args = Args()
    where = scope.total_scope(f, args)
    head, _grouped, totals = _statement(p, None, _source(where), None, q, args)
    return args.statement(f"{head} {totals}")


def _source(where: scope.Scope) -> _Source:
    """The engine's row source of one scope: its keys, read run by run from `usage_agg_by_key`."""
    if where.records_only:
        return _Source("all", "FALSE", DIM_KEY_SQL["all"], where.record_where, "(SELECT ''::text AS key)")
    return _Source(where.dim, "TRUE", DIM_KEY_SQL[where.dim], "TRUE", f"(SELECT unnest({where.keys}::text[]) AS key)")
