"""The bulk path of the reads benchmark: N requests cloned from a pool of simulated ones, entirely in SQL.

The template requests (a few tens of thousands, simulated by the load generator in Python) are COPYed into two
unlogged tables; every history row is then an INSERT ... SELECT over generate_series that picks a template by a
hash of the row number, re-dates it and re-identifies it, in chunks spread over a few connections. The
aggregates are computed set-based: every grain of one dimension by one GROUP BY ... GROUPING SETS over the
records (15-minute, hour, day and month buckets nest in UTC, the benchmark's zone, so it is one rollup chain: one
sort, one pass), one statement per dimension and one for the attempts (`usagestream verify`'s recount found no
difference on a 200,000-request run). Their rows are written in the order of the tables' primary keys (grain,
bucket, then key), as the live writer's batches leave them: the rows of one bucket share pages, so a range read
touches a few pages per bucket instead of one per row. Indexes, of the records and of the aggregate tables, are
dropped during the load and built again afterwards, several at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from usagestream.materializer import pg_provider_days
from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_counters import ATTEMPT_COUNTER_SQL, DIM_KEY_SQL, EXECUTED, USAGE_COUNTER_SQL
from usagestream.materializer.pg_day_times import backfill_sql
from usagestream.stats import (
    ATTEMPT_COUNTERS,
    GRAIN_15M,
    GRAIN_DAY,
    GRAIN_HOUR,
    GRAIN_MONTH,
    USAGE_COUNTERS,
)

Log = Callable[[str], None]
TPL_USAGE, TPL_CAND = "bench_tpl_usage", "bench_tpl_candidates"
WORKERS = 2  # connections working at once (2 cores; PostgreSQL overlaps their I/O)
SESSION = "SET maintenance_work_mem = '1GB'; SET work_mem = '1GB'; SET synchronous_commit = off"


async def parallel(pool: asyncpg.Pool, statements: Sequence[str], workers: int = WORKERS) -> None:
    """Run the statements on `workers` connections, each taking the next one when it is done."""
    queue = list(statements)

    async def worker() -> None:
        async with pool.acquire() as conn:
            await conn.execute(SESSION)
            while queue:
                await conn.execute(queue.pop(0))

    await asyncio.gather(*(worker() for _ in range(workers)))


async def copy_templates(
    conn: asyncpg.Connection, finished: Sequence[Any], usage_values: Callable[[Any], list[Any]]
) -> int:
    """COPY the finished templates (idx, usage row, candidates with their slot number) into unlogged tables."""
    await conn.execute(f"DROP TABLE IF EXISTS {TPL_USAGE}, {TPL_CAND}")
    ucols = ", ".join(t.USAGE_FIELDS)
    await conn.execute(
        f"CREATE UNLOGGED TABLE {TPL_USAGE} AS SELECT 0::int AS idx, seq, {ucols} FROM usage_records WITH NO DATA"
    )
    ccols = ", ".join(t.CANDIDATE_FIELDS)
    await conn.execute(
        f"CREATE UNLOGGED TABLE {TPL_CAND} AS SELECT 0::int AS idx, 0::int AS slot, seq, created_at AS tpl_created,"
        f" {ccols} FROM candidate_records WITH NO DATA"
    )
    await conn.copy_records_to_table(
        TPL_USAGE,
        records=[(i, tpl.seq, *usage_values(tpl)) for i, tpl in enumerate(finished)],
        columns=["idx", "seq", *t.USAGE_FIELDS],
    )
    cand_rows = [
        (i, k, seq, tpl.created_at, *fields)
        for i, tpl in enumerate(finished)
        for k, (seq, fields) in enumerate(tpl.candidates)
    ]
    await conn.copy_records_to_table(
        TPL_CAND, records=cand_rows, columns=["idx", "slot", "seq", "tpl_created", *t.CANDIDATE_FIELDS]
    )
    await conn.execute(f"CREATE INDEX ON {TPL_CAND} (idx); ANALYZE {TPL_USAGE}; ANALYZE {TPL_CAND}")
    return len(cand_rows)


def _series(lo: int, hi: int, n_tpl: int, start: datetime, step_us: float) -> str:
    """Rows i in [lo, hi) with their template and created_at (uniform slots of `step_us` with a random offset)."""
    return (
        f"SELECT i, (hashint8extended(i, 1) & 9223372036854775807) % {n_tpl} AS idx,"
        f" timestamptz '{start.isoformat()}' + make_interval(secs => (i + (hashint8extended(i, 2)"
        f" & 1048575) / 1048576.0) * {step_us / 1e6!r}) AS at FROM generate_series({lo}::bigint, {hi - 1}) i"
    )


def usage_insert(tag: str, lo: int, hi: int, n_tpl: int, start: datetime, step_us: float, partitions: int) -> str:
    computed = {
        "id": f"'{tag}-0000-4000-a000-' || lpad(to_hex(g.i), 12, '0')",
        "request_id": f"'req_{tag}_' || lpad(to_hex(g.i), 12, '0')",
        "created_at": "g.at",
        "finalized_at": "u.finalized_at + (g.at - u.created_at)",
    }
    select = ", ".join(computed.get(c, f"u.{c}") for c in t.USAGE_FIELDS)
    return (
        f"INSERT INTO usage_records (seq, kafka_partition, timed_out, {', '.join(t.USAGE_FIELDS)})"
        f" SELECT u.seq, (g.i % {partitions})::int, false, {select}"
        f" FROM ({_series(lo, hi, n_tpl, start, step_us)}) g JOIN {TPL_USAGE} u ON u.idx = g.idx"
    )


def candidate_insert(
    tag: str, lo: int, hi: int, n_tpl: int, start: datetime, step_us: float, partitions: int, share: float
) -> str:
    shifted = {"created_at", "started_at", "finished_at"}
    select = ", ".join(f"c.{c} + (g.at - c.tpl_created)" if c in shifted else f"c.{c}" for c in t.CANDIDATE_FIELDS)
    cut = int(share * 1_000_000)
    return (
        f"INSERT INTO candidate_records ({', '.join(t.CANDIDATE_RECORD_COLUMNS)})"
        f" SELECT '{tag}-0000-4000-b' || lpad(to_hex(g.i), 11, '0') || lpad(to_hex(c.slot), 4, '0'), c.seq,"
        f" (g.i % {partitions})::int, '{tag}-0000-4000-a000-' || lpad(to_hex(g.i), 12, '0'),"
        f" 'req_{tag}_' || lpad(to_hex(g.i), 12, '0'), {select}"
        f" FROM ({_series(lo, hi, n_tpl, start, step_us)}) g JOIN {TPL_CAND} c ON c.idx = g.idx"
        f" WHERE (hashint8extended(g.i, 3) & 9223372036854775807) % 1000000 < {cut}"
    )


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


# --- aggregates ----------------------------------------------------------------------------------------------
def _utc(unit: str) -> str:
    return f"date_trunc('{unit}', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


QUARTER_SQL = "date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00')"
# Every grain in one GROUP BY: month, day, hour, 15 minutes nest (in UTC), so GROUPING SETS over (m, d, h, q),
# (m, d, h), (m, d), (m) is a rollup chain PostgreSQL computes from one sort (or hash) of the records.
BUCKETS_SQL = f"{QUARTER_SQL} AS q, {_utc('hour')} AS h, {_utc('day')} AS d, {_utc('month')} AS m"
GRAIN_SQL = (
    f"CASE WHEN GROUPING(q) = 0 THEN {GRAIN_15M} WHEN GROUPING(h) = 0 THEN {GRAIN_HOUR}"
    f" WHEN GROUPING(d) = 0 THEN {GRAIN_DAY} ELSE {GRAIN_MONTH} END"
)
SETS_SQL = "GROUPING SETS ((m, d, h, q), (m, d, h), (m, d), (m))"


def usage_agg_statement(dim: str) -> str:
    """Every grain of one dimension from one pass over the records, written in primary-key order (grain, bucket,
    key: one sort of the dimension's rows). Keys are grouped in the "C" collation (bytewise: the same groups,
    cheaper sorts)."""
    key = DIM_KEY_SQL[dim]
    counters = ", ".join(f"{USAGE_COUNTER_SQL[c]} AS {c}" for c in USAGE_COUNTERS)
    cols = ", ".join(("dim", "key", "grain", "bucket", *USAGE_COUNTERS))
    rows = f'SELECT r.*, ({key}) COLLATE "C" AS key, {BUCKETS_SQL} FROM usage_records r WHERE {key} IS NOT NULL'
    return (
        f"INSERT INTO usage_agg ({cols}) SELECT '{dim}', key, {GRAIN_SQL}, coalesce(q, h, d, m), {counters}"
        f" FROM ({rows}) s GROUP BY key, {SETS_SQL} ORDER BY 3, 4, 2"
    )


def attempt_agg_statement() -> str:
    counters = ", ".join(f"{ATTEMPT_COUNTER_SQL[c]} AS {c}" for c in ATTEMPT_COUNTERS)
    cols = ", ".join(("provider_id", "grain", "bucket", *ATTEMPT_COUNTERS))
    rows = f"SELECT r.*, {BUCKETS_SQL} FROM candidate_records r WHERE {EXECUTED}"
    return (
        f"INSERT INTO attempt_agg ({cols}) SELECT provider_id, {GRAIN_SQL}, coalesce(q, h, d, m), {counters}"
        f" FROM ({rows}) s GROUP BY provider_id, {SETS_SQL} ORDER BY 2, 3, 1"
    )


AGG_TABLES = ("usage_agg", "attempt_agg")


async def drop_indexes(conn: asyncpg.Connection, tables: Sequence[str]) -> tuple[list[str], list[str]]:
    """Drop the tables' indexes and primary keys; return the statements that build them again (same names): the
    indexes (a primary key's as a unique index, so they can be built side by side), then the constraints."""
    rows = await conn.fetch(
        "SELECT c.relname AS tbl, i.relname AS idx, pg_get_indexdef(i.oid) AS def, con.conname,"
        " pg_get_constraintdef(con.oid) AS condef FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class c ON c.oid = x.indrelid LEFT JOIN pg_constraint con ON con.conindid = i.oid"
        " AND con.conrelid = c.oid WHERE c.relname = ANY($1::text[])",
        list(tables),
    )
    indexes, constraints = [], []
    for r in rows:
        if r["conname"]:
            await conn.execute(f'ALTER TABLE {r["tbl"]} DROP CONSTRAINT "{r["conname"]}"')
            kind = r["condef"].split(" (")[0]  # PRIMARY KEY or UNIQUE
            constraints.append(
                f'ALTER TABLE {r["tbl"]} ADD CONSTRAINT "{r["conname"]}" {kind} USING INDEX "{r["idx"]}"'
            )
        else:
            await conn.execute(f'DROP INDEX "{r["idx"]}"')
        indexes.append(r["def"])
    return indexes, constraints


async def build_aggregates(pool: asyncpg.Pool, dims: Sequence[str]) -> None:
    """One statement per dimension (and one for the attempts), the heaviest first, over the connections; the
    aggregate tables' indexes are dropped before and built after, several at a time."""
    async with pool.acquire() as conn:
        indexes, constraints = await drop_indexes(conn, AGG_TABLES)
    order = sorted(dims, key=lambda d: 0 if d in ("user_model", "user", "api_key") else 1)
    # The kept daily percentiles (migration 0011) and provider days (0012) of the benchmark's zone, UTC, as the
    # migrations fill them.
    kept = [backfill_sql("UTC"), *pg_provider_days.backfill_sql("UTC")]
    await parallel(pool, [usage_agg_statement(d) for d in order] + [attempt_agg_statement(), *kept])
    await parallel(pool, indexes)
    await parallel(pool, constraints, workers=1)


async def timed(label: str, log: Log, facts: dict[str, Any], key: str, work: Awaitable[Any]) -> Any:
    t0 = time.monotonic()
    log(f"{label} ...")
    out = await work
    facts[key] = time.monotonic() - t0
    log(f"  {label}: {facts[key]:.0f}s")
    return out
