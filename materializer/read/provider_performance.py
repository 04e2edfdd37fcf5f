"""Provider performance over a range (`/api/admin/stats/performance/providers`): request and success counts,
output speed, first-byte and response times with their p90 / p99, slow requests, per provider and per bucket.

Closed days of the configured zone are read from the rows the worker keeps per day and provider while their
revision is current (materializer/read/provider_days.py), when the only filter is `provider_id`, and the current
day from its kept closed UTC hours and the records of its other hours; every other bucket, and every request with
a model, api_format, is_stream or has_format_conversion filter, is read from the range's finished records in one
statement, as Aether's definitions need per-request values (a slow threshold the
caller chooses, quantiles, generation time = response minus first byte for streams): no sum of stored counters
gives them (docs/reference-api.md §10.8). Buckets are the zone's days or hours, given as boundaries, so any zone,
fixed offsets included, is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from usagestream.materializer.pg_provider_days import FINISHED, SUCCESS, TPS_MS
from usagestream.materializer.read import provider_days
from usagestream.materializer.read.sql import Args, Statement

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ask:
    bounds: Sequence[datetime]  # bucket boundaries: bucket i is [bounds[i], bounds[i + 1]); the range is all of them
    limit: int
    slow_ms: int
    provider_id: str | None = None
    model: str | None = None
    api_format: str | None = None
    is_stream: bool | None = None
    has_format_conversion: bool | None = None


def _filters(ask: Ask, args: Args) -> str:
    conds = []
    for column, value in (
        ("provider_id", ask.provider_id),
        ("model", ask.model),
        ("api_format", ask.api_format),
        ("is_stream", ask.is_stream),
        ("has_format_conversion", ask.has_format_conversion),
    ):
        if value is not None:
            conds.append(f" AND u.{column} = {args.add(value)}")
    return "".join(conds)


def _sums(slow: str) -> str:
    """The sums over `r` (u): its columns pid, b, shown, ok, tps_ms, output_tokens, response and first-byte times."""
    tps = "ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0"
    return (
        "count(*) AS n, count(*) FILTER (WHERE ok) AS ok_n, COALESCE(sum(u.output_tokens), 0) AS out_tok,"
        f" count(*) FILTER (WHERE u.response_time_ms >= {slow}) AS slow,"
        " sum(u.response_time_ms) FILTER (WHERE ok) AS rt_sum, count(u.response_time_ms) FILTER (WHERE ok) AS rt_n,"
        " sum(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_sum,"
        " count(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_n,"
        f" sum(u.output_tokens) FILTER (WHERE {tps}) AS tps_tok, sum(u.tps_ms) FILTER (WHERE {tps}) AS tps_ms,"
        f" count(*) FILTER (WHERE {tps}) AS tps_n,"
        " percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) FILTER (WHERE ok) AS p_rt,"
        " percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) FILTER (WHERE ok) AS p_fb,"
        " max(u.shown) AS provider"
    )


def statement(ask: Ask) -> Statement:
    """Rows (kind, pid, b, sums...): kind 3 the summary, 1 a provider, 0 a provider's bucket (1-based `b`); the
    providers and buckets of the top `limit` providers only (most requests, then id)."""
    args = Args()
    los, his = args.add(list(ask.bounds[:-1])), args.add(list(ask.bounds[1:]))
    # Bucket by bucket, one index range scan each (LATERAL ... OFFSET 0), only the columns the sums read (a
    # record's bodies and headers are large): cheaper than placing every row of the range with width_bucket.
    rows = (
        f"SELECT d.i AS b, x.* FROM unnest({los}::timestamptz[], {his}::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i)"
        " CROSS JOIN LATERAL (SELECT btrim(u.provider_id) AS pid,"
        f" COALESCE(NULLIF(btrim(u.provider_name), ''), btrim(u.provider_id)) AS shown, ({SUCCESS}) AS ok,"
        f" ({TPS_MS}) AS tps_ms, u.output_tokens, u.response_time_ms, u.first_byte_time_ms"
        f" FROM usage_records u WHERE u.created_at >= d.lo AND u.created_at < d.hi AND {FINISHED}"
        + _filters(ask, args)
        + " OFFSET 0) x"
    )
    top = f'SELECT pid FROM r GROUP BY pid ORDER BY count(*) DESC, pid COLLATE "C" LIMIT {args.add(ask.limit)}'
    return args.statement(
        f"WITH r AS MATERIALIZED ({rows}), t AS ({top})"
        f" SELECT GROUPING(u.pid, u.b) AS kind, u.pid, u.b, {_sums(args.add(ask.slow_ms))} FROM r u"
        " GROUP BY GROUPING SETS ((), (u.pid), (u.pid, u.b))"
        " HAVING GROUPING(u.pid) = 1 OR u.pid IN (SELECT pid FROM t)"
    )


def keepable(ask: Ask) -> bool:
    """Whether kept days may answer: no filter but `provider_id` (kept rows are per day and provider only), and
    day buckets (hours never match a kept day: the records-only statement answers them without a look-up)."""
    days = max((hi - lo for lo, hi in zip(ask.bounds, ask.bounds[1:], strict=False)), default=timedelta(0))
    filters = (ask.model, ask.api_format, ask.is_stream, ask.has_format_conversion)
    return days >= timedelta(hours=23) and all(v is None for v in filters)


async def read(pool: asyncpg.Pool, ask: Ask, planned: asyncpg.Pool | None = None) -> list[Row]:
    """`planned`: the pool whose sessions plan each statement once (pg_pool.create_pool `generic_plans`), for the
    kept days' statements, whose plans do not depend on their parameters' values (index look-ups by span and by
    row): planned per call, they cost about as much to plan as to run. The records-only statement runs on `pool`
    (planned with its range, parallel workers allowed), in its own snapshot: it reads nothing kept."""
    if keepable(ask):
        async with (planned or pool).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            kept = await provider_days.read(conn, ask.bounds[:-1], ask.bounds[1:], ask)
        if kept is not None:
            return kept
    sql, args = statement(ask)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return [dict(r) for r in await conn.fetch(sql, *args)]
