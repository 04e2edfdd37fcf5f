"""Worker memory: the resident size (RSS) of one `usagestream worker` as its history grows to N requests.

Each request is one finished usage snapshot (the last snapshot of a loadgen request - completed, failed or
cancelled - cloned with a new id and moved in time), so 10 M requests are 10 M events, spread evenly and in order
over --days days ending now: the worker creates every 15-minute, hour, day and month bucket of that history, like
a gateway's. The benchmark publishes while the worker consumes, keeping at most --ahead events unconsumed (the
usage topic keeps only a bounded tail: the history is in PostgreSQL, not in Kafka), reads the worker's applied
count from its /metrics and its RSS from /proc every second, and prints the RSS at every --sample-every requests.
Stops with the worker's log tail if anything is dead-lettered or nothing is applied for a minute.
Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/worker_memory.py --requests 10000000 [--days 400] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings
from usagestream.streams.kafka_topics import admin_client

sys.path.append(str(Path(__file__).resolve().parent))  # PYTHONSAFEPATH=1 leaves the script's folder out
import ingest as I

_HOLES = ("@@UID@@", "@@EID@@", "@@RID@@", "@@CREATED@@", "@@EMITTED@@", "@@FINAL@@")
_TERMINAL = {"completed", "failed", "cancelled"}
METRICS_PORT = 9471


class Templates:
    """Last snapshots of loadgen requests with holes for the id, the event id and the three time stamps."""

    def __init__(self, requests: int, seed: int) -> None:
        last: dict[str, tuple[int, dict]] = {}  # type: ignore[type-arg]
        for m in generate(requests, seed=seed):
            if m.kind == "usage" and m.value:
                env = json.loads(m.value)
                if env["seq"] >= last.get(env["usage_id"], (0, {}))[0]:
                    last[env["usage_id"]] = (env["seq"], env)
        self.parts: list[list[str]] = []
        self.durations: list[timedelta] = []
        for _, env in last.values():
            usage = env["usage"]
            if usage["status"] not in _TERMINAL:
                continue
            created = datetime.fromisoformat(usage["created_at"])
            self.durations.append(datetime.fromisoformat(env["emitted_at"]) - created)
            env["usage_id"] = usage["id"] = "@@UID@@"
            env["event_id"], usage["request_id"] = "@@EID@@", "@@RID@@"
            usage["created_at"], env["emitted_at"] = "@@CREATED@@", "@@EMITTED@@"
            usage["finalized_at"] = "@@FINAL@@" if usage["finalized_at"] else None
            self.parts.append(re.split("(@@[A-Z]+@@)", json.dumps(env, separators=(",", ":"))))

    def event(self, i: int, prefix: str, created: datetime) -> tuple[bytes, bytes]:
        k = i % len(self.parts)
        uid = f"{prefix}-{i:012x}"
        emitted = (created + self.durations[k]).isoformat().replace("+00:00", "Z")
        fill = {
            "@@UID@@": uid,
            "@@EID@@": f"{prefix[:-4]}ffff-{i:012x}",
            "@@RID@@": f"req_{i:016x}",
            "@@CREATED@@": created.isoformat().replace("+00:00", "Z"),
            "@@EMITTED@@": emitted,
            "@@FINAL@@": emitted,
        }
        return uid.encode(), "".join(fill.get(p, p) for p in self.parts[k]).encode()


async def _metrics(session: aiohttp.ClientSession) -> dict[str, float]:
    """Sums of the worker's applied and dead-lettered counters (all labels)."""
    async with session.get(f"http://127.0.0.1:{METRICS_PORT}/metrics") as resp:
        text = await resp.text()
    out = {"applied": 0.0, "dead": 0.0}
    for line in text.splitlines():
        if line.startswith("usagestream_worker_events_applied_total{"):
            out["applied"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("usagestream_worker_dead_lettered_total{"):
            out["dead"] += float(line.rsplit(" ", 1)[1])
    return out


async def _bounded_topic(settings: Settings) -> None:
    """The usage topic keeps about 1 GiB: consumed segments go, so 10 M events never sit on disk at once."""
    res = ConfigResource(
        ConfigResourceType.TOPIC,
        settings.topic_usage,
        configs={"retention.bytes": str(1 << 28), "segment.bytes": str(1 << 26)},
    )
    async with admin_client(settings) as client:
        await client.alter_configs([res])


class Run:
    def __init__(self, settings: Settings, args: argparse.Namespace, log: Path) -> None:
        self.settings, self.args, self.log = settings, args, log
        self.sent = 0
        self.applied = 0.0
        self.samples: list[tuple[int, float, float]] = []  # (applied, rss MiB, seconds since start)

    async def publish(self, templates: Templates) -> None:
        s, a = self.settings, self.args
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap, linger_ms=10, acks=1, max_batch_size=1 << 20, max_request_size=1 << 21
        )
        await producer.start()
        prefix = f"{zlib.crc32(s.topic_usage.encode()):08x}-0000-4000-8000"
        step = timedelta(days=a.days) / a.requests
        start = datetime.now(UTC) - timedelta(days=a.days)
        try:
            i = 0
            while i < a.requests:
                while self.sent - self.applied > a.ahead:
                    await asyncio.sleep(0.05)
                batches = {p: producer.create_batch() for p in range(s.partitions)}
                end = min(a.requests, i + 6000)
                for j in range(i, end):
                    key, value = templates.event(j, prefix, start + step * j)
                    p = j % s.partitions
                    if batches[p].append(key=key, value=value, timestamp=None) is None:
                        await producer.send_batch(batches[p], s.topic_usage, partition=p)
                        batches[p] = producer.create_batch()
                        batches[p].append(key=key, value=value, timestamp=None)
                for p, batch in batches.items():
                    if batch.record_count():
                        await producer.send_batch(batch, s.topic_usage, partition=p)
                self.sent = i = end
            await producer.flush()
        finally:
            await producer.stop()

    async def watch(self, pid: int, publisher: asyncio.Task[None]) -> None:
        a = self.args
        t0 = time.monotonic()
        last_change, next_mark = t0, a.sample_every
        async with aiohttp.ClientSession() as session:
            while self.applied < a.requests:
                await asyncio.sleep(1)
                if publisher.done() and publisher.exception():
                    raise RuntimeError("publishing failed") from publisher.exception()
                try:
                    m = await _metrics(session)
                except aiohttp.ClientError:
                    m = {"applied": self.applied, "dead": 0.0}  # not serving yet
                now = time.monotonic()
                if m["dead"]:
                    raise RuntimeError(f"{m['dead']:.0f} events dead-lettered:\n{self._tail()}")
                if m["applied"] > self.applied:
                    last_change = now
                elif now - last_change > 60:
                    raise RuntimeError(f"nothing applied for 60 s at {self.applied:,.0f}:\n{self._tail()}")
                self.applied = m["applied"]
                rss = I._rss_mib(pid)
                if self.applied >= next_mark or self.applied >= a.requests:
                    self.samples.append((int(self.applied), rss, now - t0))
                    rate = self.applied / (now - t0)
                    print(
                        f"  {self.applied:>12,.0f} requests applied, RSS {rss:,.0f} MiB,"
                        f" {now - t0:,.0f} s ({rate:,.0f}/s), load {os.getloadavg()[0]:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )
                    while next_mark <= self.applied:
                        next_mark += a.sample_every

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


async def main_async(args: argparse.Namespace) -> None:
    base = Settings.from_env()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    settings, tag = await I._fresh(base, log_dir)
    settings = replace(settings, worker_metrics_port=METRICS_PORT)
    await _bounded_topic(settings)
    templates = Templates(args.templates, seed=5)
    print(f"database usagestream_bench_{tag}, {len(templates.parts):,} templates, logs in {log_dir}", file=sys.stderr)
    proc = I._start_workers(settings, 1, log_dir, tag)[0]
    run = Run(settings, args, log_dir / f"{tag}-0.log")
    started = time.monotonic()
    try:
        publisher = asyncio.create_task(run.publish(templates))
        await run.watch(proc.pid, publisher)
        await publisher
        elapsed = time.monotonic() - started
        conn = await asyncpg.connect(settings.asyncpg_dsn)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM usage_records")
            size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        finally:
            await conn.close()
    finally:
        proc.terminate()
        proc.wait(60)
        if not args.keep:
            await I._forget(base, settings, tag)
    _report(args, run, stored, size, elapsed)


def _report(args: argparse.Namespace, run: Run, stored: int, size: str, elapsed: float) -> None:
    rss = [r for _, r, _ in run.samples]
    print(
        f"\nCommand: `PYTHONSAFEPATH=1 .venv/bin/python bench/worker_memory.py --requests {args.requests}"
        f" --days {args.days}`\n"
    )
    print(
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {stored:,} usage records stored (expected {args.requests:,}),"
        f" database {size}; {elapsed:,.0f} s in all ({args.requests / elapsed:,.0f} requests/s while publishing"
        f" too); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end."
    )
    print(f"- Worker RSS: first sample {rss[0]:,.0f} MiB, last {rss[-1]:,.0f} MiB, max {max(rss):,.0f} MiB.\n")
    print("| requests applied | worker RSS MiB | seconds |\n|---:|---:|---:|")
    for applied, r, t in run.samples:
        print(f"| {applied:,} | {r:,.0f} | {t:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=400, help="history span, ending now")
    parser.add_argument("--sample-every", type=int, default=1_000_000)
    parser.add_argument("--ahead", type=int, default=200_000, help="most events published but not yet applied")
    parser.add_argument("--templates", type=int, default=20_000, help="loadgen requests to clone from")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    if args.requests < 1 or args.days <= 0 or args.sample_every < 1:
        parser.error("--requests and --sample-every must be >= 1 and --days > 0")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: stop the worker, drop the database
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
