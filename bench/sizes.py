"""Disk and memory per request, measured through the real worker: PostgreSQL table sizes (records, aggregates,
with indexes and TOAST) and Redis memory of the live set, for docs/deployment.md.

    PYTHONSAFEPATH=1 .venv/bin/python bench/sizes.py --requests 20000 --days 7

Generates request lifecycles (tests/integration/eventgen.py: statuses, candidates, duplicates) over `--days`,
each usage snapshot with a small request body, on a fresh database, topics and Redis prefix; every active
request stays active (no timeout), so the live set holds ~10 % of the requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from e2e_env import admin_sql, db_dsn, forget_redis, topics
from eventgen import dumps, generate
from workerproc import produce, start_worker, stop_worker, wait_for

from usagestream.materializer.ops import migrate
from usagestream.materializer.redis_layout import LiveKeys
from usagestream.settings import Settings

BODY = {
    "model": "claude-sonnet",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Summarize the attached meeting notes in five bullet points."}],
}


async def sizes(conn: asyncpg.Connection) -> dict[str, tuple[int, int]]:
    out = {}
    for table in ("usage_records", "candidate_records"):
        out[table] = (
            await conn.fetchval(f"SELECT count(*) FROM {table}"),
            await conn.fetchval(
                "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint FROM pg_inherits"
                " WHERE inhparent = $1::regclass",
                table,
            ),
        )
    for table in ("usage_agg", "attempt_agg", "entities"):
        out[table] = (
            await conn.fetchval(f"SELECT count(*) FROM {table}"),
            await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table),
        )
    return out


async def main(args: argparse.Namespace) -> None:
    base = Settings.from_env()
    tag = uuid.uuid4().hex[:8]
    db = f"usagestream_sizes_{tag}"
    s = replace(
        base,
        postgres_dsn=db_dsn(base.asyncpg_dsn, db),
        consumer_group=f"sizes-{tag}",
        redis_prefix=f"sizes-{tag}:",
        topic_usage=f"sizes.{tag}.usage",
        topic_candidates=f"sizes.{tag}.candidates",
        topic_entities=f"sizes.{tag}.entities",
        topic_dlq=f"sizes.{tag}.dlq",
        partitions=3,
        active_timeout_s=10**9,
        state_dir=tempfile.mkdtemp(prefix="sizes-"),
    )
    await admin_sql(base, f'CREATE DATABASE "{db}"')
    await asyncio.to_thread(migrate.upgrade, s)
    await topics(s, create=True)
    now = datetime.now(UTC)
    traffic = generate(5, args.requests, now - timedelta(days=args.days), timedelta(days=args.days), dup=0.05)
    messages = []
    for kind, key, value in traffic.messages:
        if kind == "usage":
            env = json.loads(value, parse_float=Decimal)
            env["usage"]["request_body"] = BODY
            value = dumps(env)
        messages.append((kind, key, value))
    seq = {}
    for kind, _k, value in messages:
        if kind == "usage":
            env = json.loads(value)
            seq[env["usage_id"]] = max(seq.get(env["usage_id"], 0), env["seq"])
    log = Path(s.state_dir) / "worker.log"
    proc = start_worker(s, log)
    conn = await asyncpg.connect(s.asyncpg_dsn)
    client = aioredis.from_url(s.redis_url)
    try:
        await produce(s, messages)
        await wait_for(
            conn, "SELECT coalesce(sum(seq), 0)::bigint FROM usage_records", sum(seq.values()), timeout=1800, proc=proc
        )
        await asyncio.sleep(3)  # the live set follows the commit
        await conn.execute("VACUUM ANALYZE")
        got = await sizes(conn)
        n = got["usage_records"][0]
        print(f"requests: {n:,}; events: {len(messages):,}; history: {args.days} days")
        for table, (rows, size) in got.items():
            print(
                f"{table:18} rows {rows:>10,}  size {size / 2**20:8.1f} MiB  per 100k requests"
                f" {size / n * 1e5 / 2**20:8.1f} MiB  per row {size / max(rows, 1):6.0f} B"
            )
        keys = LiveKeys.of(s)
        active = await client.hlen(keys.items)
        mem = sum([await client.memory_usage(k) or 0 for k in (keys.items, keys.by_created)])
        print(f"redis live set: {active:,} active requests, {mem / 2**10:.0f} KiB, {mem / max(active, 1):.0f} B each")
    finally:
        stop_worker(proc)
        await conn.close()
        await client.aclose()
        await topics(s, create=False)
        await forget_redis(s)
        await admin_sql(base, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--days", type=int, default=7)
    asyncio.run(main(p.parse_args()))
