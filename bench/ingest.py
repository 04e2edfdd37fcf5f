"""Ingest benchmark: the sustained rate of Kafka -> worker -> PostgreSQL + Redis, on the real local stack.

1. Drain (--runs times): pre-loads N loadgen events into fresh topics, starts `usagestream worker` processes on a
   fresh database, times the drain from the first applied record until every request's latest seq is stored,
   reads the worker's CPU time and resident size (RSS), then runs `verify` (the SQL recount) - exactness.
2. Freshness: a fresh worker, loadgen traffic published at half the median drain rate (or --rate) for
   --seconds; a sample of usage events (one every 50 ms) is timed from the producer's send to the moment the
   record with that seq is committed in PostgreSQL - the transaction that also adds it to the aggregates that
   /stats reads. p50 / p99 of those lags; then `verify`.
   With --standby-port P (a streaming replica of the primary on 127.0.0.1:P, e.g. the one `stack up` starts for
   USAGESTREAM_POSTGRES_READ_DSN), the same samples are also timed until the replica shows them: the freshness of
   an API reading the replica.
3. Restart: under that load one worker is SIGKILLed and started again; the time from the new process's start
   until every partition has committed a new batch (with --workers 2 the survivor's partitions never stopped).
Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/ingest.py --events 300000 [--workers 1] [--runs 3] [--skip-live]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from usagestream.materializer import pg_tables as t
from usagestream.materializer.ops import migrate
from usagestream.materializer.ops.verify import verify
from usagestream.materializer.pg_pool import CUSTOM_PLANS
from usagestream.publisher.loadgen.traffic import DEFAULT_START, generate
from usagestream.settings import Settings
from usagestream.streams.kafka_topics import admin_client, ensure_topics


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


async def _forget(base: Settings, settings: Settings, tag: str) -> None:
    """A run's database and its topics: runs that kept their topics filled the broker's disk (6 GB in a session)."""
    await _drop(base, f"usagestream_bench_{tag}")
    topics = [settings.topic_usage, settings.topic_candidates, settings.topic_entities, settings.topic_dlq]
    async with admin_client(settings) as admin:
        await admin.delete_topics(topics)


async def _preload(settings: Settings, messages: list) -> None:  # type: ignore[type-arg]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    topics = {
        "usage": settings.topic_usage,
        "candidates": settings.topic_candidates,
        "entities": settings.topic_entities,
    }
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


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _backend_cpu(conn: asyncpg.Connection) -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend on this benchmark's database but ours (the workers')."""
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    out = {}
    for row in pids:
        try:
            out[row["pid"]] = _cpu_seconds(row["pid"])
        except OSError:  # ended meanwhile
            pass
    return out


async def _poller(settings: Settings) -> asyncpg.Connection:
    """The benchmark's polling connection: its by-id polls are planned for the tables as they are now (a generic
    plan made while the month was empty would scan it whole), as the worker's connections are."""
    conn = await asyncpg.connect(settings.asyncpg_dsn, server_settings=CUSTOM_PLANS)
    assert isinstance(conn, asyncpg.Connection)
    return conn


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_workers(settings: Settings, n: int, log_dir: Path, tag: str) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, **settings.to_env(), "PYTHONSAFEPATH": "1"}
    exe = Path(sys.executable).parent / "usagestream"
    return [
        subprocess.Popen(
            [str(exe), "worker"], env=env, stdout=open(log_dir / f"{tag}-{i}.log", "ab"), stderr=subprocess.STDOUT
        )
        for i in range(n)
    ]


async def _fresh(base: Settings, log_dir: Path) -> tuple[Settings, str]:
    tag = uuid.uuid4().hex[:8]
    settings = await _database(base, f"usagestream_bench_{tag}")
    settings = replace(
        settings,
        consumer_group=f"bench-{tag}",
        redis_prefix=f"bench-{tag}:",
        topic_usage=f"bench.{tag}.usage",
        topic_candidates=f"bench.{tag}.candidates",
        topic_entities=f"bench.{tag}.entities",
        topic_dlq=f"bench.{tag}.dlq",
        active_timeout_s=10**9,
        state_dir=str(log_dir / tag),
    )
    await asyncio.to_thread(migrate.upgrade, settings)  # alembic runs its own event loop
    await ensure_topics(settings)
    return settings, tag


Prepare = Callable[[Settings], Awaitable[None]]
# The drain's traffic starts at the load generator's DEFAULT_START: a history before it (bench/long_history.py)
# is pruned from the poll instead of summed ten times a second beside the worker.
_SEQ_SUM = "SELECT coalesce(sum(seq), 0)::bigint FROM usage_records WHERE created_at >= $1"

# Our advisory lock namespaces (materializer/pg_tables.py): which lock a waiting batch wants.
_ADVISORY = {t.PARTITION_LOCK_NAMESPACE: " (partition lock)", t.RETENTION_LOCK[0]: " (retention lock)"}


class _Waits:
    """What the workers' PostgreSQL backends wait on during the drain (pg_stat_activity every poll): the share of
    busy backend samples waiting on a heavyweight lock, e.g. on a shared aggregate row another worker's
    transaction updates (`transactionid`, `tuple`), the sign that workers contend."""

    def __init__(self) -> None:
        self.busy = 0
        self.locked: dict[str, int] = {}

    async def sample(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "SELECT a.wait_event_type, a.wait_event, l.classid::int AS space FROM pg_stat_activity a"
            " LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted AND l.locktype = 'advisory'"
            " WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state <> 'idle'"
        )
        self.busy += len(rows)
        for r in rows:
            if r["wait_event_type"] == "Lock":
                kind = r["wait_event"] + _ADVISORY.get(r["space"], "")
                self.locked[kind] = self.locked.get(kind, 0) + 1

    def share(self) -> float:
        return sum(self.locked.values()) / self.busy if self.busy else 0.0

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.locked.items(), key=lambda kv: -kv[1])) or "none"
        return f"lock waits {self.share() * 100:.1f} % of {self.busy} busy-backend samples ({kinds})"


async def run_once(
    base: Settings, events: int, workers: int, log_dir: Path, prepare: Prepare | None = None
) -> dict[str, float]:
    """One drain; `prepare` runs on the migrated database before the traffic (bench/long_history.py: a history)."""
    settings, tag = await _fresh(base, log_dir)
    if prepare is not None:
        await prepare(settings)
    requests = int(events / 8.6)
    messages = generate(requests, seed=7, dup_ratio=0.01, reorder_ratio=0.01)
    await _preload(settings, messages)
    expected = _expected_seq(messages)
    conn = await _poller(settings)
    stored = await conn.fetchval(_SEQ_SUM, DEFAULT_START)  # a prepared history's (0 on a fresh one): not ours
    launched = time.monotonic()
    procs = _start_workers(settings, workers, log_dir, tag)
    first = done = 0.0
    cpu = rss = cpu_first = pg_cpu = 0.0
    wal_first = None
    pg_first: dict[int, float] = {}
    waits = _Waits()
    try:
        while True:
            if first:
                await waits.sample(conn)
            total = await conn.fetchval(_SEQ_SUM, DEFAULT_START) - stored
            now = time.monotonic()
            if total and not first:
                first = now
                cpu_first = sum(_cpu_seconds(p.pid) for p in procs)
                pg_first = await _backend_cpu(conn)
                wal_first = await conn.fetchval("SELECT pg_current_wal_lsn()")
            if total == expected:
                done = now
                break
            await asyncio.sleep(0.1)
        cpu = sum(_cpu_seconds(p.pid) for p in procs) - cpu_first
        pg_cpu = sum(c - pg_first.get(pid, 0.0) for pid, c in (await _backend_cpu(conn)).items())
        rss = max(_rss_mib(p.pid) for p in procs)
        # the whole server's WAL: other databases' writes meanwhile count too (a quiet machine makes it exact)
        wal = await conn.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", wal_first)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        await conn.close()
    clean = await verify(settings, out=io.StringIO()) == 0
    await _forget(base, settings, tag)
    if done == first:  # the whole drain fell between two polls of 0.1 s: no rate to tell
        raise SystemExit(f"{len(messages)} events drained within one poll: ask for more --events")
    rate = len(messages) / (done - first)
    wal_per_event = float(wal) / len(messages)
    cpu_us = cpu / len(messages) * 1e6
    print(
        f"  {len(messages)} events ({requests} requests) drained in {done - first:.1f}s: {rate:,.0f} events/s,"
        f" worker CPU {cpu_us:.0f} us/event (during the drain), its PostgreSQL backends"
        f" {pg_cpu / len(messages) * 1e6:.0f} us/event, WAL {wal_per_event:,.0f} B/event, RSS {rss:.0f} MiB,"
        f" verify {'clean' if clean else 'DIFFERENCES'}, load {os.getloadavg()[0]:.1f};"
        f" {len(messages) / (done - launched):,.0f} events/s counted from the workers' launch"
        f" (start-up and group join included); {waits.summary()}",
        file=sys.stderr,
    )
    return {
        "lock_wait_share": waits.share(),
        "wal_bytes_per_event": wal_per_event,
        "rate": rate,
        "seconds": done - first,
        "events": len(messages),
        "clean": float(clean),
        "rate_from_launch": len(messages) / (done - launched),
        "cpu_us_per_event": cpu_us,
        "pg_cpu_us_per_event": pg_cpu / len(messages) * 1e6,
        "rss_mib": rss,
    }


TICK_S = 0.005  # the traffic's send interval (its producer lingered 5 ms per message before)


class _Live:
    """Publishes loadgen traffic at a steady rate and samples usage events for their publish -> commit lag."""

    def __init__(self, settings: Settings, rate: float) -> None:
        self.settings = settings
        self.rate = rate
        self.sent = 0
        self.samples: list[tuple[float, str, int]] = []  # (monotonic send time, usage id, seq)
        s = settings
        self.topics = {"usage": s.topic_usage, "candidates": s.topic_candidates, "entities": s.topic_entities}
        self.producer: AIOKafkaProducer | None = None
        self.partitions: list[int] = []

    async def ready(self, messages: list, seconds: float) -> None:  # type: ignore[type-arg]
        """Start the producer and choose the partitions of what `publish` may send, before anything is timed."""
        self.producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=5)
        await self.producer.start()
        wanted = messages[: int(self.rate * seconds * 1.05) + 1000]
        self.partitions = await _partitions(self.producer, wanted, self.topics)

    async def publish(self, messages: list, seconds: float) -> None:  # type: ignore[type-arg]
        """Every TICK_S, what is due at `rate` goes out as one record batch per (topic, partition): the producer's
        per-message `send` (a future, a metadata check, the accumulator) cost this process ~20-30 us of CPU per
        message on the cores the worker, PostgreSQL and Kafka share while the rate is timed; a batch built by
        aiokafka's record builder costs a fraction of that. Each record's Kafka timestamp is its append time."""
        if self.producer is None:
            await self.ready(messages, seconds)
        producer = self.producer
        assert producer is not None
        last = min(len(messages), len(self.partitions))
        start = next_sample = time.monotonic()
        try:
            while (now := time.monotonic()) - start <= seconds and self.sent < last:
                due = min(last, int((now - start) * self.rate) + 1)
                batches: dict[tuple[str, int], Any] = {}
                for i in range(self.sent, due):
                    m = messages[i]
                    where = (self.topics[m.kind], self.partitions[i])
                    batch = batches.get(where)
                    if batch is None:
                        batch = batches[where] = producer.create_batch()
                    if batch.append(key=m.key, value=m.value, timestamp=None) is None:  # full: send it, start anew
                        await producer.send_batch(batch, where[0], partition=where[1])
                        batch = batches[where] = producer.create_batch()
                        batch.append(key=m.key, value=m.value, timestamp=None)
                    if m.kind == "usage" and m.value and now >= next_sample:
                        env = json.loads(m.value)
                        self.samples.append((time.monotonic(), env["usage_id"], env["seq"]))
                        next_sample += 0.05
                for (topic, partition), batch in batches.items():
                    await producer.send_batch(batch, topic, partition=partition)
                self.sent = due
                await asyncio.sleep(TICK_S)
            await producer.flush()
        finally:
            await producer.stop()


async def _partitions(producer: AIOKafkaProducer, messages: list, topics: dict[str, str]) -> list[int]:  # type: ignore[type-arg]
    """Each message's partition, chosen before the timed run by the producer's own default partitioner (murmur2 of
    the key, as Kafka's Java client): the same partitions the producer would pick, without its ~8-10 us of CPU per
    message on the cores the worker, PostgreSQL and Kafka share while the rate is timed."""
    choose = DefaultPartitioner()
    known = {}
    for kind, topic in topics.items():
        known[kind] = sorted(await producer.partitions_for(topic))
    return [choose(m.key, known[m.kind], known[m.kind]) for m in messages]


async def _lags(conn: asyncpg.Connection, live: _Live, done: asyncio.Task[None]) -> list[float]:
    """Poll PostgreSQL every 10 ms for the sampled (id, seq) pairs: the first time each is visible."""
    lags: list[float] = []
    seen = 0
    waiting: list[tuple[float, str, int]] = []
    deadline = None
    while True:
        waiting += live.samples[seen:]
        seen = len(live.samples)
        if waiting:
            rows = await conn.fetch(
                "SELECT id, seq FROM usage_records WHERE id = ANY($1::text[])", [w[1] for w in waiting]
            )
            now = time.monotonic()
            stored = {r["id"]: r["seq"] for r in rows}
            still = []
            for sent, uid, seq in waiting:
                if stored.get(uid, 0) >= seq:
                    lags.append(now - sent)
                else:
                    still.append((sent, uid, seq))
            waiting = still
        if done.done():
            deadline = deadline or time.monotonic() + 30
            if not waiting or time.monotonic() > deadline:
                return lags
        await asyncio.sleep(0.01)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _replica(settings: Settings, port: int) -> asyncpg.Connection:
    """A polling connection to the same database, as the same role, on the replica at 127.0.0.1:`port` (the
    database appears there once the replica has replayed its creation)."""
    url = urlsplit(settings.asyncpg_dsn)
    dsn = urlunsplit(url._replace(netloc=f"{url.username + '@' if url.username else ''}127.0.0.1:{port}"))
    for _ in range(100):
        try:
            conn = await asyncpg.connect(dsn, server_settings=CUSTOM_PLANS)
            assert isinstance(conn, asyncpg.Connection)
            return conn
        except asyncpg.InvalidCatalogNameError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the bench database did not appear on the replica at port {port}")


async def live_run(
    base: Settings, rate: float, seconds: float, log_dir: Path, workers: int = 1, standby_port: int = 0
) -> dict[str, float]:
    """Freshness at `rate` with `workers` workers, then SIGKILL of one of them + restart under the same load;
    verify at the end."""
    settings, tag = await _fresh(base, log_dir)
    replica = await _replica(settings, standby_port) if standby_port else None
    replica_lags: list[float] = []
    messages = generate(int(rate * (seconds + 60) / 8.6) + 100, seed=11, dup_ratio=0.01, reorder_ratio=0.01)
    procs = _start_workers(settings, workers, log_dir, tag)
    conn = await _poller(settings)
    try:
        probe_seq = await _wait_joined(conn, settings, procs[0])
        if workers > 1:
            await asyncio.sleep(15)  # the others' joins rebalance the group: let that settle before timing
        live = _Live(settings, rate)
        await live.ready(messages, seconds)
        pub = asyncio.create_task(live.publish(messages, seconds))
        on_replica = asyncio.create_task(_lags(replica, live, pub)) if replica is not None else None
        lags = await _lags(conn, live, pub)
        await pub
        replica_lags = await on_replica if on_replica is not None else []
        rss = max(_rss_mib(p.pid) for p in procs)
        # Restart: keep publishing, SIGKILL a worker, start a new one, time until it commits a new batch.
        restart_live = _Live(settings, rate)
        await restart_live.ready(messages[live.sent :], 40)
        pub = asyncio.create_task(restart_live.publish(messages[live.sent :], 40))
        await asyncio.sleep(5)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        await asyncio.sleep(1)
        restarted = time.monotonic()
        since = await conn.fetchval("SELECT now()")
        procs[0] = _start_workers(settings, 1, log_dir, tag)[0]
        # Every partition, not any: with two workers the survivor keeps committing its own partitions.
        while (
            await conn.fetchval(
                "SELECT count(DISTINCT kafka_partition) FROM usage_records WHERE updated_at > $1", since
            )
            < settings.partitions
        ):
            await asyncio.sleep(0.05)
        flowing = time.monotonic() - restarted
        await pub
        expected = probe_seq + _expected_seq(messages[: live.sent + restart_live.sent])
        deadline = time.monotonic() + 300
        while await conn.fetchval("SELECT coalesce(sum(seq), 0)::bigint FROM usage_records") != expected:
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not catch up within 5 minutes")
            await asyncio.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        await conn.close()
        if replica is not None:
            await replica.close()
    clean = await verify(settings, out=io.StringIO()) == 0
    await _forget(base, settings, tag)
    achieved = live.sent / seconds
    print(
        f"  freshness at {achieved:,.0f} events/s for {seconds:.0f}s, {workers} worker(s):"
        f" lag p50 {_pct(lags, 0.5) * 1000:.0f} ms,"
        f" p99 {_pct(lags, 0.99) * 1000:.0f} ms ({len(lags)} samples); RSS {rss:.0f} MiB; restart after SIGKILL"
        f" -> events flowing in {flowing:.1f}s; verify {'clean' if clean else 'DIFFERENCES'},"
        f" load {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    if replica is not None:
        print(
            f"  on the replica (port {standby_port}): lag p50 {_pct(replica_lags, 0.5) * 1000:.0f} ms,"
            f" p99 {_pct(replica_lags, 0.99) * 1000:.0f} ms ({len(replica_lags)} samples)",
            file=sys.stderr,
        )
    extra = (
        {"replica_lag_p50_ms": _pct(replica_lags, 0.5) * 1000, "replica_lag_p99_ms": _pct(replica_lags, 0.99) * 1000}
        if replica is not None
        else {}
    )
    return {
        **extra,
        "rate": achieved,
        "lag_p50_ms": _pct(lags, 0.5) * 1000,
        "lag_p99_ms": _pct(lags, 0.99) * 1000,
        "samples": len(lags),
        "rss_mib": rss,
        "restart_s": flowing,
        "clean": float(clean),
    }


async def _wait_joined(conn: asyncpg.Connection, settings: Settings, proc: subprocess.Popen[bytes]) -> int:
    """Until the worker consumes: publish one probe request and wait for it (it belongs to the verified data)."""
    probe = generate(1, seed=99)
    await _preload(settings, probe)
    want = _expected_seq(probe)
    deadline = time.monotonic() + 120
    while await conn.fetchval("SELECT coalesce(sum(seq), 0)::bigint FROM usage_records") != want:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start consuming")
        await asyncio.sleep(0.1)
    return want


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0, help="freshness rate (default: half the median drain)")
    parser.add_argument("--seconds", type=float, default=30, help="freshness duration")
    parser.add_argument("--skip-live", action="store_true", help="only the drain runs")
    parser.add_argument("--logs", default="", help="keep the worker logs in this folder")
    parser.add_argument("--standby-port", type=int, default=0, help="also time freshness on this local replica")
    args = parser.parse_args()
    base = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(args.logs or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        results = [asyncio.run(run_once(base, args.events, args.workers, logs)) for _ in range(args.runs)]
        rates = [r["rate"] for r in results] or [2 * args.rate]  # --runs 0 --rate R: freshness only
        out: dict[str, object] = (
            {}
            if not results
            else {
                "workers": args.workers,
                "events": results[0]["events"],
                "median_events_per_s": round(statistics.median(rates)),
                "runs": [round(r) for r in rates],
                "median_cpu_us_per_event": round(statistics.median(r["cpu_us_per_event"] for r in results)),
                "median_pg_cpu_us_per_event": round(statistics.median(r["pg_cpu_us_per_event"] for r in results)),
                "lock_wait_share": [round(r["lock_wait_share"], 3) for r in results],
                "median_wal_bytes_per_event": round(statistics.median(r["wal_bytes_per_event"] for r in results)),
                "max_rss_mib": round(max(r["rss_mib"] for r in results)),
                "all_clean": all(r["clean"] for r in results),
            }
        )
        if not args.skip_live:
            rate = args.rate or statistics.median(rates) / 2
            live = asyncio.run(live_run(base, rate, args.seconds, logs, args.workers, args.standby_port))
            out["freshness"] = {k: round(v, 1) for k, v in live.items()}
            out["all_clean"] = bool(out.get("all_clean", True)) and bool(live["clean"])
    out["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
