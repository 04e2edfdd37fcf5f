"""`usagestream verify` and `usagestream rebuild`: recount every aggregate from the records, compare or replace.

The recount is plain SQL over usage_records / candidate_records (the same predicates as the fold, from
materializer/pg_counters.py), grouped into the same buckets, so it is independent of the worker's incremental path.

After retention dropped the records before its cut-off (`meta.records_cutoff`), only the buckets starting at or
after the cut-off can be recounted: verify compares those, rebuild replaces those; buckets starting before it
(including a local day or month that straddles it) keep the roll-ups as they were (docs/design.md "Retention").
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from datetime import UTC, datetime

from usagestream.errors import ConfigError
from usagestream.materializer import pg_day_times, pg_provider_days
from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_counters import (
    ATTEMPT_COUNTER_SQL,
    DIM_KEY_SQL,
    EXECUTED,
    USAGE_COUNTER_SQL,
)
from usagestream.materializer.pg_cutoffs import read_cutoffs
from usagestream.materializer.pg_pool import Conn, create_pool
from usagestream.materializer.redis_layout import LiveKeys
from usagestream.settings import Settings
from usagestream.stats import ATTEMPT_COUNTERS, GRAIN_15M, GRAIN_HOUR, GRAIN_MONTH, GRAINS, USAGE_COUNTERS

_EVER = datetime(1, 1, 1, tzinfo=UTC)  # the window's start when retention never dropped anything


def bucket_sql(grain: int, tz: str) -> str:
    if grain == GRAIN_15M:
        return "date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00')"
    if grain == GRAIN_HOUR:
        return "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):  # an IANA name (Settings checked it exists)
        raise ValueError(f"unexpected time zone name {tz!r}")
    unit = "month" if grain == GRAIN_MONTH else "day"
    return f"(date_trunc('{unit}', created_at AT TIME ZONE '{tz}') AT TIME ZONE '{tz}')"


def expected_usage_sql(dim: str, grain: int, tz: str) -> str:
    key = DIM_KEY_SQL[dim]
    counters = ", ".join(f"{USAGE_COUNTER_SQL[c]} AS {c}" for c in USAGE_COUNTERS)
    return (
        f"SELECT '{dim}'::text AS dim, {key} AS key, {grain}::smallint AS grain, {bucket_sql(grain, tz)} AS bucket,"
        f" {counters} FROM usage_records WHERE {key} IS NOT NULL GROUP BY 2, 4"
    )


def expected_attempts_sql(grain: int, tz: str) -> str:
    counters = ", ".join(f"{ATTEMPT_COUNTER_SQL[c]} AS {c}" for c in ATTEMPT_COUNTERS)
    return (
        f"SELECT provider_id, {grain}::smallint AS grain, {bucket_sql(grain, tz)} AS bucket, {counters}"
        f" FROM candidate_records WHERE {EXECUTED} GROUP BY 1, 3"
    )


def _nonzero(counters: tuple[str, ...]) -> str:
    return "NOT (" + " AND ".join(f"{c} = 0" for c in counters) + ")"


def _steps(tz: str) -> list[tuple[str, str, str, str]]:
    """(label, table, expected SQL, filter of the stored rows) for every dimension and grain."""
    steps = []
    for grain in GRAINS:
        for dim in DIM_KEY_SQL:
            steps.append(
                (
                    f"usage {dim} grain {grain}",
                    "usage_agg",
                    expected_usage_sql(dim, grain, tz),
                    f"dim = '{dim}' AND grain = {grain}",
                )
            )
        steps.append((f"attempts grain {grain}", "attempt_agg", expected_attempts_sql(grain, tz), f"grain = {grain}"))
    return steps


def _columns(table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if table == "usage_agg":
        return t.USAGE_AGG_COLUMNS, USAGE_COUNTERS
    return t.ATTEMPT_AGG_COLUMNS, ATTEMPT_COUNTERS


def difference_sql(table: str, expected: str, where: str) -> str:
    """The rows of `table` (filtered by `where`, buckets from $1) that differ from the recount `expected`, both ways.
    Rendered for one step of each table in materializer/sql/ops.verify.sql (scripts/generate_sql.py)."""
    columns, counters = _columns(table)
    cols = ", ".join(columns)
    return (
        f"WITH e AS (SELECT * FROM ({expected}) e0 WHERE bucket >= $1),"
        f" s AS (SELECT {cols} FROM {table} WHERE {where} AND bucket >= $1 AND {_nonzero(counters)}),"
        f" d AS ((SELECT 'missing or different' AS side, * FROM (SELECT {cols} FROM e EXCEPT SELECT * FROM s) x)"
        f" UNION ALL (SELECT 'unexpected or different', * FROM (SELECT * FROM s EXCEPT SELECT {cols} FROM e) y))"
        " SELECT * FROM d"
    )


def rebuild_step_sql(table: str, expected: str) -> str:
    """Insert the recount `expected` (buckets from $1) into `table`."""
    cols = ", ".join(_columns(table)[0])
    return f"INSERT INTO {table} ({cols}) SELECT {cols} FROM ({expected}) e WHERE bucket >= $1"


async def records_cutoff(conn: Conn) -> datetime | None:
    return (await read_cutoffs(conn)).records


async def differences(conn: Conn, tz: str, per_step: int = 5) -> tuple[int, list[str]]:
    """Rows where the stored aggregates differ from the recount: (count, a few of each step described).
    Only buckets starting at or after the records cut-off, if retention set one."""
    total, shown = 0, []
    since = await records_cutoff(conn) or _EVER
    for label, table, expected, where in _steps(tz):
        rows = await conn.fetch(difference_sql(table, expected, where), since)
        total += len(rows)
        shown += [f"{label}: {r['side']}: {dict(r)}" for r in rows[:per_step]]
    for table in t.PARTITIONED_TABLES:
        rows = await conn.fetch(homes_difference_sql(table))
        total += len(rows)
        shown += [f"{t.HOMES[table]}: {r['side']}: {r['id']} {r['created_at']}" for r in rows[:per_step]]
    # Kept daily percentiles that claim to be current (their revision is) must equal a recount of their day.
    rows = await conn.fetch(pg_day_times.MISMATCH_SQL)
    total += len(rows)
    shown += [f"completed_times_days: differs from its records: {r['lo']} {r['hi']}" for r in rows[:per_step]]
    rows = await conn.fetch(pg_provider_days.MISMATCH_SQL)  # kept provider days, by the same rule
    total += len(rows)
    shown += [f"provider_days: differs from its records: {r['lo']} {r['hi']}" for r in rows[:per_step]]
    return total, shown


def homes_difference_sql(table: str) -> str:
    """The records without their row in the table's homes, and homes without their record (both must be none:
    the writer's look-up by id goes through the homes, so a missing one would count a stored request as new)."""
    homes = t.HOMES[table]
    return (
        f"(SELECT 'record without its home' AS side, * FROM"
        f" (SELECT id, created_at FROM {table} EXCEPT SELECT id, created_at FROM {homes}) x)"
        f" UNION ALL (SELECT 'home without its record', * FROM"
        f" (SELECT id, created_at FROM {homes} EXCEPT SELECT id, created_at FROM {table}) y)"
    )


async def verify(settings: Settings, out: object = sys.stdout) -> int:
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn:
            count, shown = await differences(conn, settings.timezone)
            cutoff = await records_cutoff(conn)
    finally:
        await pool.close()
    for line in shown:
        print(line, file=out)  # type: ignore[call-overload]
    if cutoff is not None:
        print(
            f"verify: records before {cutoff.isoformat()} were dropped by retention; buckets from then on recounted",
            file=out,
        )  # type: ignore[call-overload]
    verdict = "no difference" if count == 0 else f"{count} differing rows"
    print(f"verify: {verdict}", file=out)  # type: ignore[call-overload]
    return 0 if count == 0 else 1


async def rebuild(settings: Settings, out: object = sys.stderr) -> None:
    """Recompute every aggregate from the records in one transaction (the worker waits on its locks), then drop
    the Redis live-set flags so the workers reload the live set from PostgreSQL. After retention, only the buckets
    starting at or after the records cut-off are recomputed; older ones are all that is left of their records."""
    pool = await create_pool(settings)
    steps = _steps(settings.timezone)
    started = time.monotonic()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *t.RETENTION_LOCK)  # cut-off stays put
            for p in range(max(settings.partitions, 64)):
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", t.PARTITION_LOCK_NAMESPACE, p)
            since = await _rebuild_window(conn, settings)
            if since is None:
                await conn.execute("TRUNCATE usage_agg, attempt_agg")
            else:
                await conn.execute("DELETE FROM usage_agg WHERE bucket >= $1", since)
                await conn.execute("DELETE FROM attempt_agg WHERE bucket >= $1", since)
            for i, (label, table, expected, _where) in enumerate(steps, 1):
                await conn.execute(rebuild_step_sql(table, expected), since or _EVER)
                bar = "#" * (30 * i // len(steps))
                print(f"\rrebuild [{bar:<30}] {i}/{len(steps)} {label:<28}", end="", file=out)  # type: ignore[call-overload]
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('timezone', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                settings.timezone,
            )
    finally:
        await pool.close()
    await _forget_live_set(settings)
    print(f"\nrebuild: done in {time.monotonic() - started:.1f}s", file=out)  # type: ignore[call-overload]


async def _rebuild_window(conn: Conn, settings: Settings) -> datetime | None:
    """The records cut-off, if retention set one; the day and month buckets before it cannot be rebuilt, so a
    rebuild then cannot change the time zone."""
    since = await records_cutoff(conn)
    stored = await conn.fetchval("SELECT value FROM meta WHERE key = 'timezone'")
    if since is not None and stored not in (None, settings.timezone):
        raise ConfigError(
            f"retention dropped the records before {since.isoformat()}: the days and months before it stay in"
            f" {stored} and cannot be rebuilt in {settings.timezone}; restore USAGESTREAM_TIMEZONE={stored}"
        )
    return since


async def _forget_live_set(settings: Settings) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=LiveKeys.of(settings).every_ready)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def cli_verify(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(verify(settings))


def cli_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(rebuild(settings))
    return 0
