"""CPU per call of the goal-4 read questions, in-process: this process's and its PostgreSQL backends' (no HTTP).

On a shared machine wall-clock times swing by 2x between runs of the same code; CPU per call does not, so an A/B
of two checkouts on one kept database (each run from its own checkout and venv, alternated) compares this. It asks
what the API asks for `/stats`, every `group_by`, the first page of `/records` (20) and hit-analysis over 30 and 365
days ending now, through `ShapedReads` on pools made as the API makes them (with the range questions' own pool
when the checkout has one), encoding each answer as the API does. Read-only: safe on a database others measure.

Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/reads_cpu.py usagestream_bench_reads_<tag> [--n 100]
       [--only stats page] [--days 30 365]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from multidict import MultiDict

from usagestream.http.jsonio import encode_sliced
from usagestream.http.shape.reads import ShapedReads
from usagestream.http.views.export import admin_record_query
from usagestream.materializer.pg_pool import create_pool
from usagestream.settings import Settings

HOURS = {30: 168, 365: 720}  # hit-analysis's window beside each range, as bench/reads.py pairs them


def backend_cpu_s(pid: int) -> float:
    """Seconds a backend has run on a CPU (/proc/<pid>/schedstat: PostgreSQL runs on this machine)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


async def pools(settings: Settings) -> tuple[ShapedReads, list[int], list[Any]]:
    """The store, the pids of its backends, its pools (one connection each)."""
    pool = await create_pool(settings, min_size=1, max_size=1, stateless=True, read_only=True)
    made = [pool]
    if "planned" in inspect.signature(ShapedReads.__init__).parameters:
        planned = await create_pool(
            settings, min_size=1, max_size=1, stateless=True, read_only=True, generic_plans=True
        )  # type: ignore[call-arg]
        made.append(planned)
        store = ShapedReads(pool, settings, planned)  # type: ignore[call-arg]
    else:
        store = ShapedReads(pool, settings)
    pids = []
    for p in made:
        async with p.acquire() as conn:
            pids.append(await conn.fetchval("SELECT pg_backend_pid()"))
    return store, pids, made


def questions(store: ShapedReads, settings: Settings, days: int, now: datetime) -> dict[str, Any]:
    hi = now - timedelta(seconds=7, microseconds=123_457)  # bench/reads.py's range: ends off the 15-minute grid
    lo = hi - timedelta(days=days) + timedelta(seconds=7 * 60 + 13, microseconds=250_001)
    rq = admin_record_query(MultiDict({"start_date": lo.isoformat(), "end_date": hi.isoformat()}), settings, now)
    asks: dict[str, Callable[[], Awaitable[Any]]] = {"stats": lambda: store.stats(rq.start, rq.end)}
    for g in ("model", "user", "provider", "api_format"):
        asks[g] = lambda g=g: store.aggregation(g, rq.start, rq.end, 20)
    asks["page"] = lambda: store.records(rq, 20, 0)
    asks["hit"] = lambda: store.hit_analysis(None, None, HOURS.get(days, 24), now)
    return asks


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("database")
    p.add_argument("--n", type=int, default=100, help="timed calls per question, after 5 warm-ups")
    p.add_argument("--only", nargs="*", help="only these questions (stats model user provider api_format page hit)")
    p.add_argument("--days", nargs="*", type=int, default=[30, 365])
    a = p.parse_args()
    base = Settings.from_env()
    settings = replace(base, postgres_dsn=base.asyncpg_dsn.rsplit("/", 1)[0] + "/" + a.database, timezone="UTC")
    store, pids, made = await pools(settings)
    now = datetime.now(UTC)
    try:
        for days in a.days:
            for name, ask in questions(store, settings, days, now).items():
                if a.only and name not in a.only:
                    continue
                for _ in range(5):
                    await encode_sliced(await ask())
                walls = []
                c0, b0 = time.process_time(), sum(map(backend_cpu_s, pids))
                for _ in range(a.n):
                    t = time.perf_counter()
                    await encode_sliced(await ask())
                    walls.append((time.perf_counter() - t) * 1000)
                c1, b1 = time.process_time(), sum(map(backend_cpu_s, pids))
                walls.sort()
                py, pg = (c1 - c0) / a.n * 1000, (b1 - b0) / a.n * 1000
                print(
                    f"{days:>3} days {name:<10} wall p50 {statistics.median(walls):6.2f} min {walls[0]:6.2f} ms"
                    f" | CPU per call: Python {py:5.2f} PostgreSQL {pg:5.2f} ms",
                    flush=True,
                )
    finally:
        for pool in made:
            await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
