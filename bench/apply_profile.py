"""Where the worker's CPU goes, without Kafka: loadgen messages -> prepare -> Pipeline.apply on the real
PostgreSQL and Redis, in batches as the batch consumer would hand them over, timed per stage.

Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/apply_profile.py --events 100000 [--batch 5000] [--cprofile out]
[--statements]

`--statements`: per statement of the apply, its calls and the CPU its PostgreSQL backend spent on it (the backend's
/proc/<pid>/schedstat before and after the call: PostgreSQL runs on this machine) and the wall time, per event.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).parent))
from ingest import _database, _drop

from usagestream.materializer.ops import migrate
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews
from usagestream.materializer.write.redis_live import RedisLive
from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import Pipeline, prepare

PARTITIONS = 6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--cprofile", help="write a cProfile of the whole apply loop to this file")
    ap.add_argument("--statements", action="store_true", help="PostgreSQL CPU and wall time per statement")
    args = ap.parse_args()
    base = Settings.from_env()
    tag = uuid.uuid4().hex[:8]
    name = f"usagestream_prof_{tag}"
    settings = await _database(base, name)
    settings = replace(settings, redis_prefix=f"prof-{tag}:", active_timeout_s=10**9)
    await asyncio.to_thread(migrate.upgrade, settings)
    messages = generate(int(args.events / 8.6), seed=7, dup_ratio=0.01, reorder_ratio=0.01)
    topics = {
        "usage": settings.topic_usage,
        "candidates": settings.topic_candidates,
        "entities": settings.topic_entities,
    }
    offsets = [0] * PARTITIONS
    records = []
    for m in messages:
        p = zlib.crc32(m.key) % PARTITIONS
        records.append(Consumed(topics[m.kind], p, offsets[p], m.key, m.value))
        offsets[p] += 1
    pool = await create_pool(settings, min_size=1, max_size=4)
    r = aioredis.from_url(settings.redis_url)

    async def dead(msg: object, reason: str) -> None:
        pass

    pipe = Pipeline(settings, PgViews(pool, settings), RedisLive(r, settings), dead)
    per_statement = _instrument() if args.statements else None
    t_prep = t_apply = 0.0
    cpu0 = time.process_time()
    prof = cProfile.Profile() if args.cprofile else None
    started = time.perf_counter()
    if prof:
        prof.enable()
    for i in range(0, len(records), args.batch):
        t0 = time.perf_counter()
        batch = prepare(settings, records[i : i + args.batch])
        t1 = time.perf_counter()
        await pipe.apply(batch)
        t2 = time.perf_counter()
        t_prep += t1 - t0
        t_apply += t2 - t1
    if prof:
        prof.disable()
        prof.dump_stats(args.cprofile)
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    n = len(records)
    print(
        f"{n} events in {total:.2f}s = {n / total:,.0f} events/s; prepare {t_prep / n * 1e6:.1f} us/event,"
        f" apply {t_apply / n * 1e6:.1f} us/event (wall, incl. PostgreSQL and Redis); this process"
        f" {cpu / n * 1e6:.1f} us CPU/event, load {os.getloadavg()[0]:.1f}"
    )
    if per_statement is not None:
        _report(per_statement, n)
    await pool.close()
    keys = [k async for k in r.scan_iter(f"prof-{tag}:*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()
    await _drop(base, name)


def _backend_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def _label(method: str, args: tuple[Any, ...]) -> str:
    if method == "copy_records_to_table":
        return f"COPY {args[0]}"
    words = str(args[0]).replace("\n", " ").split()
    if words[:1] == ["WITH"]:  # the spread: name it by its target
        return " ".join(words[words.index("INSERT") : words.index("INSERT") + 3])
    return " ".join(words[:6])[:70]


def _instrument() -> dict[str, list[int]]:
    """Wrap the connection's statement methods: per label, [calls, backend CPU ns, wall ns]."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])

    def wrap(method: str) -> None:
        original: Callable[..., Any] = getattr(asyncpg.Connection, method)

        async def timed(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
            pid = self.get_server_pid()
            cpu0, wall0 = _backend_ns(pid), time.perf_counter_ns()
            try:
                return await original(self, *args, **kwargs)
            finally:
                acc = out[_label(method, args)]
                acc[0] += 1
                acc[1] += _backend_ns(pid) - cpu0
                acc[2] += time.perf_counter_ns() - wall0

        setattr(asyncpg.Connection, method, timed)

    for method in ("execute", "fetch", "fetchval", "fetchrow", "copy_records_to_table"):
        wrap(method)
    return out


def _report(per_statement: dict[str, list[int]], events: int) -> None:
    total = sum(v[1] for v in per_statement.values())
    print("| statement | calls | PostgreSQL CPU us/event | wall us/event |\n|---|---:|---:|---:|")
    for label, (calls, cpu, wall) in sorted(per_statement.items(), key=lambda kv: -kv[1][1]):
        print(f"| `{label}` | {calls} | {cpu / events / 1e3:.2f} | {wall / events / 1e3:.2f} |")
    print(f"| all | | {total / events / 1e3:.2f} | |")


if __name__ == "__main__":
    asyncio.run(main())
