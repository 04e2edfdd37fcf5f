"""Range totals of the `/api/admin/stats/*` family (comparison, cost savings) and the daily response-time
percentiles (`performance/percentiles`).

Totals are sums of the aggregates over a range's plan (`stats_scope`). Percentiles cannot be: no sum of stored
counters gives a quantile, so each local day is exact PostgreSQL `percentile_cont` over its completed records:
kept by the worker for closed days (`completed_times_days`, used only while its revision is current, see
materializer/pg_day_times.py), else computed from the records (the same machinery as the TTL analysis).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from usagestream.materializer import pg_day_times
from usagestream.materializer.read import stats_scope as scope
from usagestream.materializer.read.sql import Args, Statement

Row = scope.Row
COMPARISON_COUNTERS = ("n_all", "tot_tok", "cost", "actual_cost", "rt_sum", "rt_n", "n_error")
SAVINGS_COUNTERS = ("cr_tok", "cr_cost", "cc_cost")
PERCENTILES = pg_day_times.QUANTILES  # the kept days hold these
MIN_SAMPLES = 10  # fewer samples in a day: no percentile (Aether's MIN_PERCENTILE_SAMPLES)


async def totals(
    pool: asyncpg.Pool,
    spans: Sequence[tuple[datetime, datetime]],
    counters: Sequence[str],
    tz_name: str,
    model: str | None = None,
    provider_name: str | None = None,
) -> list[Row]:
    """`counters` over each span (inclusive bounds) of the requests passing the filters, in one snapshot; a span
    without requests sums to zeros."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        f = await scope.resolve(conn, None, model, provider_name)
        out = []
        for span in spans:
            args = Args()
            found = await scope.sums(conn, scope.total_scope(f, args), counters, span, tz_name, args)
            row = next(iter(found.values()), None)
            out.append(row or dict.fromkeys(counters, 0))
        return out


_QUANTILES = ", ".join(str(p) for p in PERCENTILES)
# One index range scan per day (LATERAL ... OFFSET 0): as a plain join PostgreSQL scans every partition's completed
# records once per day.
PERCENTILES_SQL = (
    "SELECT d.i, x.* FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i)"
    " CROSS JOIN LATERAL (SELECT count(u.response_time_ms) AS n_rt, count(u.first_byte_time_ms) AS n_fb,"
    f" percentile_cont(ARRAY[{_QUANTILES}]) WITHIN GROUP (ORDER BY u.response_time_ms) AS rt,"
    f" percentile_cont(ARRAY[{_QUANTILES}]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) AS fb"
    " FROM usage_records u WHERE u.created_at >= d.lo AND u.created_at < d.hi AND u.status = 'completed'"
    " OFFSET 0) x"
)


def percentiles_sql(days: Sequence[tuple[datetime, datetime]]) -> Statement:
    """The statement of `percentiles`: the days' starts and ends as two arrays."""
    return Statement(PERCENTILES_SQL, ([d[0] for d in days], [d[1] for d in days]))


async def percentiles(pool: asyncpg.Pool, days: Sequence[tuple[datetime, datetime]]) -> list[Row]:
    """Per day `[lo, hi)` (UTC instants of local midnights): the sample counts and percentiles (floats) of
    `response_time_ms` and `first_byte_time_ms` over the completed records, in the order of `days`. One snapshot:
    the kept days still current in it, the others from the records."""
    found: dict[int, Row] = {}
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        los, his = [d[0] for d in days], [d[1] for d in days]
        for r in await conn.fetch(pg_day_times.KEPT_SQL, los, his):
            found[r["i"]] = dict(r)
        rest = [i for i in range(len(days)) if i + 1 not in found]
        if rest:
            sql, args = percentiles_sql([days[i] for i in rest])
            for r in await conn.fetch(sql, *args):
                found[rest[r["i"] - 1] + 1] = dict(r)
    empty: Row = {"n_rt": 0, "n_fb": 0, "rt": None, "fb": None}
    return [found.get(i + 1, empty) for i in range(len(days))]
