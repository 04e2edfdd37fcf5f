"""Put a kept reads-benchmark database's aggregate rows in primary-key order, as bench/reads_load.py now writes them.

Databases loaded before that loader change hold each dimension's rows key by key, so a range read touches one
page per row. `CLUSTER usage_agg USING usage_agg_pkey` fixes that, but needs room for a second copy of the table
and its indexes; this rewrites one dimension at a time instead (its rows copied out in order, deleted, the table
vacuumed so their pages are free, then written back in order into those pages), so it needs room for the largest
dimension only. The answers do not change: every row is written back as it was (checked: count and sums of every
counter per dimension and grain, before and after). For a benchmark database only, with nothing else reading or
writing it meanwhile: a dimension's rows are missing between their DELETE and their INSERT (VACUUM cannot run
inside a transaction).

Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/reads_reorder.py --database usagestream_bench_reads_<tag> [--cluster]
       [--dims all user model provider api_format]  (only the dimensions /stats and /aggregation/stats read)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import replace

import asyncpg

from usagestream.settings import Settings
from usagestream.stats import DIMENSIONS, USAGE_COUNTERS

STAGE = "bench_reorder_stage"
SESSION = "SET maintenance_work_mem = '1GB'; SET work_mem = '1GB'; SET synchronous_commit = off"
SUMS = ", ".join(f"sum({c})" for c in USAGE_COUNTERS)
TOTALS_SQL = f"SELECT dim, grain, count(*), {SUMS} FROM usage_agg GROUP BY 1, 2 ORDER BY 1, 2"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def rewrite(conn: asyncpg.Connection, dim: str) -> int:
    """One dimension's rows written back in (grain, bucket, key) order; how many."""
    if dim not in DIMENSIONS:  # inlined below (CREATE TABLE AS takes no parameters)
        raise ValueError(f"unknown dimension {dim!r}")
    await conn.execute(f"DROP TABLE IF EXISTS {STAGE}")
    await conn.execute(
        f"CREATE UNLOGGED TABLE {STAGE} AS SELECT * FROM usage_agg WHERE dim = '{dim}' ORDER BY grain, bucket, key"
    )
    n = int(await conn.fetchval(f"SELECT count(*) FROM {STAGE}"))
    await conn.execute("DELETE FROM usage_agg WHERE dim = $1", dim)
    await conn.execute("VACUUM usage_agg")  # the deleted rows' pages become free space for the rows written back
    await conn.execute(f"INSERT INTO usage_agg SELECT * FROM {STAGE} ORDER BY grain, bucket, key")
    await conn.execute(f"DROP TABLE {STAGE}")
    return n


async def run(args: argparse.Namespace) -> None:
    base = Settings.from_env()
    dsn = replace(base, postgres_dsn=base.asyncpg_dsn.rsplit("/", 1)[0] + "/" + args.database).asyncpg_dsn
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SESSION)
        before = await conn.fetch(TOTALS_SQL)
        rows = sum(r["count"] for r in before)
        started = time.monotonic()
        if args.cluster:
            await conn.execute("CLUSTER usage_agg USING usage_agg_pkey")
            await conn.execute("CLUSTER attempt_agg USING attempt_agg_pkey")
        else:
            for dim in sorted({r["dim"] for r in before} & set(args.dims or DIMENSIONS)):
                t0 = time.monotonic()
                n = await rewrite(conn, dim)
                log(f"  {dim}: {n:,} rows in {time.monotonic() - t0:.0f}s")
            await conn.execute("CLUSTER attempt_agg USING attempt_agg_pkey")  # small: a second copy is cheap
        for table in ("usage_agg", "attempt_agg"):
            await conn.execute(f"VACUUM ANALYZE {table}")  # one at a time: VACUUM runs outside a transaction
        took = time.monotonic() - started
        after = await conn.fetch(TOTALS_SQL)
        if [tuple(r) for r in after] != [tuple(r) for r in before]:
            raise SystemExit("the aggregates changed: restore the database from its load")
        how = "CLUSTER" if args.cluster else "per-dimension rewrite"
        log(f"{how}: {rows:,} aggregate rows in {took:.0f}s ({took / rows * 1e6:.1f}s per million); sums unchanged")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a database kept by bench/reads.py --keep")
    parser.add_argument("--cluster", action="store_true", help="CLUSTER instead (needs room for a second copy)")
    parser.add_argument("--dims", nargs="*", choices=DIMENSIONS, help="only these dimensions (default: all)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
