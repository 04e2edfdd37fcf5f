"""Ingest on a long history (issue 16 goal 3): the drain rate of one worker on a database that already holds N
requests over M month partitions, against a fresh database's, in the same run.

The history is loaded once into a database of its own with the reads benchmark's set-based loader
(bench/reads_load.py: templates simulated by the load generator, cloned and re-dated in SQL, the aggregates
by GROUP BY), plus the record homes the writer keeps (migration 0007): M whole months ending where the drain's
traffic begins (the load generator's 2026-01-01), so the drain writes into the newest month as a live system
does. Then bench/ingest.py's drain runs alternately on a fresh database and on a copy of the history (CREATE
DATABASE ... TEMPLATE), --runs times each, every drain followed by `verify` (the recount of every aggregate,
history included) and dropped. With --consume the history database itself becomes the drain's (renamed, no
copy: half the disk, one run).

    PYTHONSAFEPATH=1 .venv/bin/python bench/long_history.py --requests 1000000 --months 24 --events 150000 --runs 2
        [--keep] [--history usagestream_bench_history_<tag>]  # keep the history database / reuse a kept one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from usagestream.materializer.ops import migrate
from usagestream.materializer.pg_pool import _init_connection
from usagestream.materializer.write.pg_views import _entities
from usagestream.publisher.loadgen.traffic import DEFAULT_START
from usagestream.settings import Settings
from usagestream.stats import DIMENSIONS

sys.path.append(str(Path(__file__).resolve().parent))  # PYTHONSAFEPATH=1 leaves the script's folder out
import ingest as I
import reads as R
import reads_load as L

CHUNK = 500_000  # requests per INSERT ... SELECT


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def months_before(end: datetime, months: int) -> datetime:
    """The first instant of the month `months` whole months before `end`'s month."""
    index = end.year * 12 + end.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


async def load_history(settings: Settings, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    """N finished requests spread evenly over M months before the traffic's start, with their homes and
    aggregates; the migration's secondary indexes are dropped during the load and built again."""
    facts: dict[str, Any] = {}
    tpl = await asyncio.to_thread(R.template_pool, args.pool, args.seed, "ae_hist_" + tag)
    start = months_before(DEFAULT_START, args.months)
    step_us = (DEFAULT_START - start).total_seconds() * 1e6 / args.requests
    pool = await asyncpg.create_pool(settings.asyncpg_dsn, min_size=1, max_size=L.WORKERS + 1, init=_init_connection)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await _entities(conn, tpl.entities)
            await conn.execute(
                "SELECT usagestream_month_partition(p, m) FROM unnest(ARRAY['usage_records', 'candidate_records']) p,"
                " generate_series($1::timestamptz, $2, interval '1 month') m",
                start,
                months_before(DEFAULT_START, 1),  # the traffic's own month as on a fresh database (its default)
            )
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('usage_records', 'candidate_records')"
                " AND indexname NOT LIKE '%_pkey'"
            )
            for r in indexes:
                await conn.execute(f'DROP INDEX "{r["indexname"]}"')
            await L.copy_templates(conn, tpl.finished, lambda x: x.usage)  # type: ignore[arg-type]  # a proxy
        n_tpl, parts = len(tpl.finished), settings.partitions
        ranges = L.chunks(args.requests, CHUNK)
        usage = [L.usage_insert(tag, lo, hi, n_tpl, start, step_us, parts) for lo, hi in ranges]
        cands = [L.candidate_insert(tag, lo, hi, n_tpl, start, step_us, parts, 1.0) for lo, hi in ranges]
        await L.timed("INSERT usage_records", log, facts, "usage_s", L.parallel(pool, usage))
        await L.timed("INSERT candidate_records", log, facts, "candidates_s", L.parallel(pool, cands))
        defs = [r["indexdef"].replace(" ON ONLY ", " ON ") for r in indexes]
        await L.timed("indexes of the migration", log, facts, "index_s", L.parallel(pool, defs))
        homes = [
            "INSERT INTO usage_record_homes (id, created_at) SELECT id, created_at FROM usage_records",
            "INSERT INTO candidate_record_homes (id, created_at) SELECT id, created_at FROM candidate_records",
        ]
        await L.timed("record homes", log, facts, "homes_s", L.parallel(pool, homes))
        async with pool.acquire() as conn:
            await conn.execute(f"DROP TABLE {L.TPL_USAGE}, {L.TPL_CAND}; TRUNCATE usage_agg, attempt_agg")
        await L.timed("aggregates (set-based)", log, facts, "agg_s", L.build_aggregates(pool, DIMENSIONS))
        tables = ("usage_records", "candidate_records", "usage_record_homes", "candidate_record_homes", "usage_agg")
        await L.parallel(pool, [f"VACUUM ANALYZE {name}" for name in (*tables, "attempt_agg", "entities")])
        async with pool.acquire() as conn:
            facts["requests"] = await conn.fetchval("SELECT count(*) FROM usage_records")
            facts["candidates"] = await conn.fetchval("SELECT count(*) FROM candidate_records")
            facts["month_partitions"] = await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'usage_records'::regclass"
            )
            facts["bytes"] = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await pool.close()
    return facts


async def history(base: Settings, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The history database: the one named by --history, or a new one loaded now."""
    if args.history:
        return args.history, {}
    tag = uuid.uuid4().hex[:8]
    name = f"usagestream_bench_history_{tag}"
    settings = await I._database(base, name)
    await asyncio.to_thread(migrate.upgrade, settings)
    t0 = time.monotonic()
    facts = await load_history(settings, args, tag)
    facts["load_s"] = time.monotonic() - t0
    log(f"history {name}: {json.dumps(facts)}")
    return name, facts


def from_history(base: Settings, name: str, consume: bool) -> I.Prepare:
    """Replace the drain's fresh database with a copy of the history (same schema: both are migrated to head), or
    with the history itself, renamed (`consume`: no second copy on disk; the drain drops it afterwards)."""

    async def prepare(settings: Settings) -> None:
        target = settings.asyncpg_dsn.rsplit("/", 1)[1]
        conn = await asyncpg.connect(base.asyncpg_dsn.rsplit("/", 1)[0] + "/postgres")
        try:
            t0 = time.monotonic()
            await conn.execute(f'DROP DATABASE "{target}"')
            if consume:
                await conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{target}"')
            else:
                await conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{name}"')
            log(f"  {target}: {'renamed from' if consume else 'a copy of'} {name} in {time.monotonic() - t0:.0f}s")
        finally:
            await conn.close()

    return prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests of history")
    parser.add_argument("--months", type=int, default=24, help="month partitions of history")
    parser.add_argument("--events", type=int, default=150_000, help="events of each drain")
    parser.add_argument("--runs", type=int, default=2, help="drains on each side (fresh, history, alternately)")
    parser.add_argument("--pool", type=int, default=30_000, help="requests simulated as templates")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--history", default="", help="a kept history database to reuse (not loaded again)")
    parser.add_argument("--keep", action="store_true", help="keep the history database")
    parser.add_argument(
        "--consume", action="store_true", help="drain on the history itself, no copy (half the disk; one run)"
    )
    args = parser.parse_args()
    if args.consume and (args.runs != 1 or args.keep):
        raise SystemExit("--consume drains on the history itself: one run, and it is not kept")
    base = Settings.from_env()
    if base.timezone != "UTC":
        raise SystemExit("the set-based loader rolls days and months up from UTC buckets: USAGESTREAM_TIMEZONE=UTC")
    name, facts = asyncio.run(history(base, args))
    results: dict[str, list[dict[str, float]]] = {"fresh": [], "history": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(args.runs):
                log(f"run {k + 1}: fresh database")
                results["fresh"].append(asyncio.run(I.run_once(base, args.events, 1, Path(tmp))))
                log(f"run {k + 1}: on the history ({name})")
                prepare = from_history(base, name, args.consume)
                results["history"].append(asyncio.run(I.run_once(base, args.events, 1, Path(tmp), prepare)))
    finally:
        if not args.keep and not args.history and not args.consume:
            asyncio.run(I._drop(base, name))
    out: dict[str, Any] = {"history_database": name, "history_facts": facts}
    for side, runs in results.items():
        out[side] = {
            "rates": [round(r["rate"]) for r in runs],
            "median_rate": round(statistics.median(r["rate"] for r in runs)),
            "median_pg_cpu_us_per_event": round(statistics.median(r["pg_cpu_us_per_event"] for r in runs)),
            "median_cpu_us_per_event": round(statistics.median(r["cpu_us_per_event"] for r in runs)),
            "all_clean": all(r["clean"] for r in runs),
        }
    out["history_over_fresh"] = round(out["history"]["median_rate"] / out["fresh"]["median_rate"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
