"""Ingest benchmark: the sustained rate of Kafka -> worker -> PostgreSQL + Redis, on the real local stack.

It pre-loads N loadgen events into fresh topics, starts `usagestream worker` processes on a fresh database, and
times the drain from the first applied record until every request's latest seq is stored; then runs `verify`.
Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/ingest.py --events 300000 [--workers 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from usagestream.materializer import pg_migrations
from usagestream.materializer.verify import verify
from usagestream.publisher.traffic import generate
from usagestream.settings import Settings
from usagestream.streams.kafka_topics import ensure_topics


async def _database(base: Settings, name: str) -> Settings:
    admin = base.asyncpg_dsn.rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return replace(base, postgres_dsn=base.asyncpg_dsn.rsplit("/", 1)[0] + "/" + name)


async def _drop(base: Settings, name: str) -> None:
    conn = await asyncpg.connect(base.asyncpg_dsn.rsplit("/", 1)[0] + "/postgres")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await conn.close()


async def _preload(settings: Settings, messages: list) -> None:  # type: ignore[type-arg]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20,
                                max_batch_size=512 * 1024)  # fmt: skip
    await producer.start()
    topics = {"usage": settings.topic_usage, "candidates": settings.topic_candidates,
              "entities": settings.topic_entities}  # fmt: skip
    try:
        for m in messages:
            await producer.send(topics[m.kind], key=m.key, value=m.value)
        await producer.flush()
    finally:
        await producer.stop()


def _expected_seq(messages: list) -> int:  # type: ignore[type-arg]
    best: dict[str, int] = {}
    for m in messages:
        if m.kind == "usage" and m.value:
            env = json.loads(m.value)
            best[env["usage_id"]] = max(best.get(env["usage_id"], 0), env["seq"])
    return sum(best.values())


async def run_once(base: Settings, events: int, workers: int, log_dir: Path) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    settings = await _database(base, f"usagestream_bench_{tag}")
    settings = replace(settings, consumer_group=f"bench-{tag}", redis_prefix=f"bench-{tag}:",
                       topic_usage=f"bench.{tag}.usage", topic_candidates=f"bench.{tag}.candidates",
                       topic_entities=f"bench.{tag}.entities", topic_dlq=f"bench.{tag}.dlq",
                       active_timeout_s=10**9, state_dir=str(log_dir / tag))  # fmt: skip
    await asyncio.to_thread(pg_migrations.upgrade, settings)  # alembic runs its own event loop
    await ensure_topics(settings)
    requests = int(events / 8.6)
    messages = generate(requests, seed=7, dup_ratio=0.01, reorder_ratio=0.01)
    await _preload(settings, messages)
    expected = _expected_seq(messages)
    env = {**os.environ, **settings.to_env(), "PYTHONSAFEPATH": "1"}
    exe = Path(sys.executable).parent / "usagestream"
    procs = [subprocess.Popen([str(exe), "worker"], env=env, stdout=open(log_dir / f"{tag}-{i}.log", "wb"),
                              stderr=subprocess.STDOUT) for i in range(workers)]  # fmt: skip
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    first = done = 0.0
    try:
        while True:
            total = await conn.fetchval("SELECT coalesce(sum(seq), 0)::bigint FROM usage_records")
            now = time.monotonic()
            if total and not first:
                first = now
            if total == expected:
                done = now
                break
            await asyncio.sleep(0.1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        await conn.close()
    clean = await verify(settings, out=io.StringIO()) == 0
    await _drop(base, f"usagestream_bench_{tag}")
    rate = len(messages) / (done - first)
    print(f"  {len(messages)} events ({requests} requests) drained in {done - first:.1f}s: {rate:,.0f} events/s,"
          f" verify {'clean' if clean else 'DIFFERENCES'}", file=sys.stderr)  # fmt: skip
    return {"rate": rate, "seconds": done - first, "events": len(messages), "clean": float(clean)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        results = [
            asyncio.run(run_once(base, args.events, args.workers, Path(tmp))) for _ in range(args.runs)
        ]
    rates = [r["rate"] for r in results]
    print(json.dumps({"workers": args.workers, "events": results[0]["events"], "median_events_per_s":
                      round(statistics.median(rates)), "runs": [round(r) for r in rates],
                      "all_clean": all(r["clean"] for r in results)}))  # fmt: skip


if __name__ == "__main__":
    main()
