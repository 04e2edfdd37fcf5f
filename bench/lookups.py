"""The worker's by-id look-up of stored records (FOR UPDATE) on a long history: as in session 4 (`id = ANY($1)`
over every month partition, the array's values visible to the planner), sessions 5-6 (the array behind a
sub-select, still every partition), and now (pg_views `_select_for_update`: through usage_record_homes, id ->
created_at, then only that month's partition).

    PYTHONSAFEPATH=1 .venv/bin/python bench/lookups.py --database usagestream_bench_reads_<tag>

Needs a database with many months of records: one kept by `bench/reads.py --keep` (10 M requests over 400
days: 19 month partitions). Ids stored in the newest hour stand for the requests a live batch has seen before,
random UUIDs for new ones; each look-up runs in a transaction rolled back afterwards. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_pool import CUSTOM_PLANS
from usagestream.materializer.write.pg_views import _select_for_update
from usagestream.settings import Settings

COLUMNS = t.USAGE_STATE_COLUMNS


async def every_partition(conn: asyncpg.Connection, ids: list[str], _created: list[datetime]) -> Any:
    """The worker's look-up before session 5: the array's values visible to the planner."""
    return await conn.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM usage_records WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        ids,
    )


async def hidden_array(conn: asyncpg.Connection, ids: list[str], _created: list[datetime]) -> Any:
    """Sessions 5-6: the array behind a sub-select, planned without its values (custom plans otherwise estimate
    `= ANY` value by value in every partition), still an index descent in every month partition."""
    cols = ", ".join(COLUMNS)
    return await conn.fetch(
        f"SELECT {cols} FROM usage_records WHERE id = ANY((SELECT $1::text[])::text[]) ORDER BY id FOR UPDATE", ids
    )


async def through_homes(conn: asyncpg.Connection, ids: list[str], _created: list[datetime]) -> Any:
    """The worker's look-up now (pg_views `_select_for_update`): one descent in usage_record_homes, then only the
    partition of each id's created_at (run-time pruning)."""
    return await _select_for_update(conn, "usage_records", COLUMNS, ids)


Lookup = Callable[[asyncpg.Connection, list[str], list[datetime]], Awaitable[Any]]


async def timed(conn: asyncpg.Connection, fn: Lookup, ids: list[str], created: list[datetime], runs: int) -> float:
    samples = []
    for i in range(runs + 3):
        tr = conn.transaction()
        await tr.start()
        t0 = time.perf_counter()
        found = await fn(conn, ids, created)
        elapsed = time.perf_counter() - t0
        await tr.rollback()
        if i >= 3:  # warm-up
            samples.append(elapsed)
    assert len(found) <= len(ids)
    return statistics.median(samples)


async def run(args: argparse.Namespace) -> None:
    base = Settings.from_env()
    dsn = base.asyncpg_dsn.rsplit("/", 1)[0] + "/" + args.database
    # The worker's own session setting (pg_pool.create_pool(custom_plans=True)).
    conn = await asyncpg.connect(dsn, server_settings=CUSTOM_PLANS)
    try:
        parts = await conn.fetchval("SELECT count(*) FROM pg_inherits WHERE inhparent = 'usage_records'::regclass")
        newest = await conn.fetchval("SELECT max(created_at) FROM usage_records")
        stored = await conn.fetch(
            "SELECT id, created_at FROM usage_records WHERE created_at > $1::timestamptz - interval '1 hour'"
            " ORDER BY random() LIMIT $2",
            newest,
            max(args.ids),
        )
        print(f"{args.database}: {parts} partitions of usage_records, newest record {newest.isoformat()}\n")
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM usage_record_homes)"):
            # bench/reads.py loads records directly; the writer's homes (migration 0007) are filled here once
            await conn.execute("INSERT INTO usage_record_homes SELECT id, created_at FROM usage_records")
            await conn.execute("ANALYZE usage_record_homes")
        print(
            "| ids per look-up | ids | `= ANY($1)` (session 4) | array hidden (sessions 5-6) | through homes | per id |"
        )
        print("|---:|---|---:|---:|---:|---|")
        for n in args.ids:
            old = [(r["id"], r["created_at"]) for r in stored[:n]]
            new = [(str(uuid.uuid4()), newest) for _ in range(n)]
            half = old[: n // 2] + new[: n - n // 2]
            for label, pairs in (("stored", old), ("new", new), ("half stored", half)):
                ids, created = [p[0] for p in pairs], [p[1] for p in pairs]
                worker = await timed(conn, every_partition, ids, created, args.runs)
                hidden = await timed(conn, hidden_array, ids, created, args.runs)
                first = await timed(conn, through_homes, ids, created, args.runs)
                print(
                    f"| {n} | {label} | {worker * 1e3:.2f} ms | {hidden * 1e3:.2f} ms | {first * 1e3:.2f} ms |"
                    f" {worker * 1e6 / n:.1f} / {hidden * 1e6 / n:.1f} / {first * 1e6 / n:.1f} us |"
                )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a database kept by bench/reads.py --keep")
    parser.add_argument("--ids", type=int, nargs="*", default=[200, 1000], help="ids per look-up")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case (after 3 warm-ups)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
