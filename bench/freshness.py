"""End-to-end freshness, as a dashboard sees it: from the producer's send until `/api/admin/usage/stats` of a
running `usagestream api` counts the event, and until the admin websocket feed (`/api/admin/usage/active/ws`)
shows it; beside it the PostgreSQL-commit figure bench/ingest.py measures, for the same traffic.

One worker on a fresh database (bench/ingest.py's helpers) takes loadgen traffic published at --rate for
--seconds. Every 50 ms the benchmark also sends a probe: a new request's first snapshot (pending) with its own
model name, all on usage partition 0, so they are applied in the order sent. `/stats?model=<probe model>` (polled
every 10 ms with an admin token; the same aggregate query as the unfiltered dashboard call, committed in the
same transaction) then counts exactly the probes applied so far: probe k is reflected once the count exceeds k.
The websocket client matches each probe's id in the feed's upsert frames. The PostgreSQL figures: the probes'
records visible to a 10 ms poll, and ingest.py's own sample of the loadgen usage events.

Where the time goes: each probe's record carries `updated_at` = its batch's transaction start (now()), so a
probe's lag splits into send -> its batch began (Kafka, the fetch, waiting for the batch before to finish,
parsing) and batch began -> visible (the apply's transaction); the worker's /metrics give the batches' count,
mean size and mean apply time over the timed window, and its event-age histograms the age of each fetch's and
each batch's oldest message when fetched, when the batch began and once it committed (by the Kafka timestamp, so
the time in Kafka is told apart from the wait behind the batch before). Beside them: how late this benchmark's own
event loop wakes (the probes are timed on it, next to the traffic's producer: a late loop would be counted as lag),
and the CPU per published event of the worker, the API, this benchmark, the run database's PostgreSQL backends and the
shared Kafka and Redis (whose figures include whatever else uses them), i.e. where the two cores went.

    PYTHONSAFEPATH=1 .venv/bin/python bench/freshness.py --rate 10000 --seconds 30 --runs 3
        [--batch-size N] [--batch-within S]  # the worker's batch-timing settings for this run
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
from aiokafka import AIOKafkaProducer

from usagestream.materializer.ops.verify import verify
from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings

sys.path.append(str(Path(__file__).resolve().parent))  # PYTHONSAFEPATH=1 leaves the script's folder out
import feed as F
import ingest as I

PROBE_EVERY_S = 0.05
POLL_S = 0.01


def probe_template() -> dict[str, Any]:
    """A loadgen request's first usage snapshot (pending, seq 1): the probes are copies with new ids."""
    for m in generate(1, seed=5, dup_ratio=0.0, reorder_ratio=0.0):
        if m.kind == "usage" and m.value:
            env = json.loads(m.value)
            if env["seq"] == 1 and env["usage"]["status"] == "pending":
                return dict(env)
    raise RuntimeError("the load generator's first request has no pending first snapshot")


def probe_message(template: dict[str, Any], prefix: str, k: int, model: str) -> tuple[bytes, bytes]:
    """Probe k: a new request (id `prefix` + k in hex), created now, of the probe model."""
    uid = f"{prefix}{k:012x}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    usage = {**template["usage"], "id": uid, "request_id": f"req_probe_{uid[-20:]}", "model": model}
    usage["created_at"] = now
    env = {**template, "event_id": str(uuid.uuid4()), "usage_id": uid, "emitted_at": now, "usage": usage}
    return uid.encode(), json.dumps(env).encode()


@dataclass
class Probes:
    """The probes sent so far (send time, id) and when each target first reflected them."""

    settings: Settings
    model: str
    prefix: str
    sent: list[tuple[float, str]] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)  # time.time() at send, to compare with PostgreSQL's now()
    on_stats: dict[int, float] = field(default_factory=dict)
    on_feed: dict[str, float] = field(default_factory=dict)
    on_pg: dict[str, float] = field(default_factory=dict)
    stats_rtt: list[float] = field(default_factory=list)
    loop_lags: list[float] = field(default_factory=list)  # this process's own loop delays (see loop_lag)

    async def send(self, seconds: float) -> None:
        template = probe_template()
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=0)
        await producer.start()
        start = time.monotonic()
        try:
            while time.monotonic() - start < seconds:
                key, value = probe_message(template, self.prefix, len(self.sent), self.model)
                self.wall.append(time.time())
                self.sent.append((time.monotonic(), key.decode()))
                await producer.send(self.settings.topic_usage, key=key, value=value, partition=0)
                await asyncio.sleep(PROBE_EVERY_S)
            await producer.flush()
        finally:
            await producer.stop()

    def lags(self, seen: dict[Any, float], by_index: bool) -> list[float]:
        return [
            seen[k if by_index else uid] - at
            for k, (at, uid) in enumerate(self.sent)
            if (k if by_index else uid) in seen
        ]


async def poll_stats(session: aiohttp.ClientSession, url: str, probes: Probes, until: asyncio.Event) -> None:
    """`/stats?model=<probe model>` every 10 ms: count c means probes 0..c-1 are reflected (partition order)."""
    while not until.is_set():
        t0 = time.monotonic()
        async with session.get(url, params={"model": probes.model}) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"/stats answered {r.status}: {body}")
        t1 = time.monotonic()
        probes.stats_rtt.append(t1 - t0)
        for k in range(int(body["total_requests"])):
            probes.on_stats.setdefault(k, t1)
        await asyncio.sleep(POLL_S)


async def read_feed(ws: aiohttp.ClientWebSocketResponse, probes: Probes) -> None:
    """The first upsert frame of each probe id (a regex, not a JSON parse: the feed carries every active
    request of the traffic, and this client shares the cores with what it measures)."""
    pattern = re.compile(r'"id":\s*"(' + re.escape(probes.prefix) + r'[0-9a-f]{12})"')
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT and msg.data.startswith('{"type":"upsert"'):
            m = pattern.search(msg.data)
            if m is not None:
                probes.on_feed.setdefault(m.group(1), time.monotonic())


async def poll_pg(conn: asyncpg.Connection, probes: Probes, until: asyncio.Event) -> None:
    """The probes' records in PostgreSQL every 10 ms (the commit the API's read sees)."""
    while not until.is_set():
        waiting = [uid for _, uid in probes.sent if uid not in probes.on_pg]
        if waiting:
            rows = await conn.fetch("SELECT id FROM usage_records WHERE id = ANY($1::text[])", waiting)
            now = time.monotonic()
            for r in rows:
                probes.on_pg[r["id"]] = now
        await asyncio.sleep(POLL_S)


async def loop_lag(lags: list[float], until: asyncio.Event) -> None:
    """How late this process's own event loop wakes from a 10 ms sleep: the probes' send and arrival times are
    taken on this loop, beside the traffic's producer, so a busy loop would add its own delay to every lag."""
    while not until.is_set():
        t0 = time.monotonic()
        await asyncio.sleep(POLL_S)
        lags.append(time.monotonic() - t0 - POLL_S)


def _pids_named(marker: str) -> list[int]:
    """Processes whose command line contains `marker` (Kafka's broker, Redis): shared services of the machine."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


async def cpu_now(conn: asyncpg.Connection, worker: int, api: int, shared: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of the worker, the API, this benchmark, the run database's PostgreSQL backends (the
    worker's, the API's and the pollers') and the shared services (other users of the machine included)."""
    out = {"worker": I._cpu_seconds(worker), "api": I._cpu_seconds(api), "bench": time.process_time()}
    out["postgres"] = sum((await I._backend_cpu(conn)).values())
    for name, pids in shared.items():
        total = 0.0
        for pid in pids:
            try:
                total += I._cpu_seconds(pid)
            except OSError:
                pass
        out[name] = total
    return out


def cpu_per_event(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, float]:
    """Microseconds of CPU per published event, per process. PostgreSQL's backends are read at both ends, so one
    that ended meanwhile is left out (the worker's pool keeps its connections)."""
    return {f"cpu_{k}_us": (after[k] - before[k]) / max(events, 1) * 1e6 for k in before}


async def split(conn: asyncpg.Connection, probes: Probes) -> dict[str, float]:
    """Per probe: send -> its batch's transaction start (updated_at = now()), and that start -> visible."""
    rows = await conn.fetch(
        "SELECT id, extract(epoch FROM updated_at)::float8 AS began FROM usage_records WHERE id = ANY($1::text[])",
        [uid for _, uid in probes.sent],
    )
    began = {r["id"]: r["began"] for r in rows}
    before, inside = [], []
    for k, (at, uid) in enumerate(probes.sent):
        if uid in began and uid in probes.on_pg:
            before.append(began[uid] - probes.wall[k])
            inside.append(probes.on_pg[uid] - at - before[-1])
    return {
        "until_batch_p50_ms": I._pct(before, 0.5) * 1000,
        "until_batch_p99_ms": I._pct(before, 0.99) * 1000,
        "in_batch_p50_ms": I._pct(inside, 0.5) * 1000,
        "in_batch_p99_ms": I._pct(inside, 0.99) * 1000,
    }


_METRIC = re.compile(r"^usagestream_worker_(batch_size|apply_duration_seconds)_(sum|count) ([0-9.e+-]+)$", re.M)


async def worker_batches(port: int) -> dict[str, float]:
    """The worker's batch histograms' sums and counts (its /metrics)."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    return {f"{m.group(1)}_{m.group(2)}": float(m.group(3)) for m in _METRIC.finditer(text)}


_AGE = re.compile(
    r'^usagestream_worker_event_age_seconds_(bucket|sum|count)\{stage="(\w+)"(?:,le="([^"]+)")?\} (\S+)$', re.M
)


async def worker_ages(port: int) -> dict[tuple[str, str, str], float]:
    """The worker's event-age histograms: (stage, bucket | sum | count, le) -> value."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    return {(m.group(2), m.group(1), m.group(3) or ""): float(m.group(4)) for m in _AGE.finditer(text)}


def age_figures(
    before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float]
) -> dict[str, float]:
    """Per stage over the window: the mean age of each fetch's / batch's oldest message, and the bucket bound
    that 99 % of them fall under (the histogram's resolution)."""
    out = {}
    for stage in ("fetched", "began", "committed"):
        n = after.get((stage, "count", ""), 0) - before.get((stage, "count", ""), 0)
        total = after.get((stage, "sum", ""), 0) - before.get((stage, "sum", ""), 0)
        out[f"age_{stage}_mean_ms"] = total / n * 1000 if n else 0.0
        bounds = sorted(
            (float(le), after[k] - before.get(k, 0))
            for k in after
            if k[0] == stage and k[1] == "bucket"
            for le in [k[2]]
        )
        out[f"age_{stage}_p99_le_ms"] = next((le * 1000 for le, c in bounds if n and c >= 0.99 * n), float("nan"))
    return out


def batch_figures(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    n = after.get("batch_size_count", 0) - before.get("batch_size_count", 0)
    size = after.get("batch_size_sum", 0) - before.get("batch_size_sum", 0)
    apply = after.get("apply_duration_seconds_sum", 0) - before.get("apply_duration_seconds_sum", 0)
    return {
        "batches_per_s": n / seconds,
        "mean_batch": size / n if n else 0.0,
        "mean_apply_ms": apply / n * 1000 if n else 0.0,
        "apply_busy_share": apply / seconds,
    }


def admin_token(settings: Settings) -> str:
    claims = {"user_id": F.ADMIN_ID, "role": "admin", "type": "access", "exp": int(time.time()) + 86400}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def run(base: Settings, args: argparse.Namespace, logs: Path) -> dict[str, float]:
    settings, tag = await I._fresh(base, logs)
    overrides: dict[str, Any] = {"jwt_secret": uuid.uuid4().hex * 2, "worker_metrics_port": F.free_port()}
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.batch_within:
        overrides["batch_within_s"] = args.batch_within
    settings = replace(settings, **overrides)
    traffic = generate(int(args.rate * (args.seconds + 30) / 8.6) + 100, seed=11, dup_ratio=0.01, reorder_ratio=0.01)
    worker = I._start_workers(settings, 1, logs, tag)
    conn = await I._poller(settings)
    api = None
    try:
        await I._wait_joined(conn, settings, worker[0])
        await _admin(conn, settings, tag)
        api, port = await F.start_api(settings)
        probes = Probes(settings, model=f"freshness-probe-{tag}", prefix=f"{uuid.uuid4().hex[:8]}-0000-4000-8000-")
        headers = {"Authorization": f"Bearer {admin_token(settings)}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            ws = await session.ws_connect(f"ws://127.0.0.1:{port}/api/admin/usage/active/ws", autoping=True)
            until = asyncio.Event()
            before = await worker_batches(settings.worker_metrics_port)
            ages_before = await worker_ages(settings.worker_metrics_port)
            live = I._Live(settings, args.rate)
            await live.ready(traffic, args.seconds)
            shared = {"kafka": _pids_named("kafka.Kafka"), "redis": _pids_named("redis-server")}
            cpu_conn = await I._poller(settings)  # its own: `conn` is busy with poll_pg meanwhile
            cpu_before = await cpu_now(cpu_conn, worker[0].pid, api.pid, shared)
            publish = asyncio.create_task(live.publish(traffic, args.seconds))
            watchers = [
                asyncio.create_task(
                    poll_stats(session, f"http://127.0.0.1:{port}/api/admin/usage/stats", probes, until)
                ),
                asyncio.create_task(read_feed(ws, probes)),
                asyncio.create_task(poll_pg(conn, probes, until)),
                asyncio.create_task(loop_lag(probes.loop_lags, until)),
            ]
            sender = asyncio.create_task(probes.send(args.seconds))
            pg_conn = await I._poller(settings)
            try:
                traffic_lags = await I._lags(pg_conn, live, publish)
            finally:
                await pg_conn.close()
            await sender
            after = await worker_batches(settings.worker_metrics_port)
            ages = age_figures(ages_before, await worker_ages(settings.worker_metrics_port))
            try:
                cpu_after = await cpu_now(cpu_conn, worker[0].pid, api.pid, shared)
            finally:
                await cpu_conn.close()
            cpu = cpu_per_event(cpu_before, cpu_after, live.sent)
            deadline = time.monotonic() + 30
            while len(probes.on_stats) < len(probes.sent) or len(probes.on_feed) < len(probes.sent):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            until.set()
            await ws.close()
            await asyncio.gather(*watchers, return_exceptions=True)
        parts = await split(conn, probes)
        await _caught_up(conn, live.sent, traffic)
    finally:
        for p in [*worker, *([api] if api else [])]:
            p.terminate()
            p.wait(30)
        await conn.close()
    clean = await verify(settings, out=io.StringIO()) == 0
    await I._forget(base, settings, tag)
    return report(
        args,
        live.sent / args.seconds,
        probes,
        traffic_lags,
        {**parts, **cpu, **ages},
        batch_figures(before, after, args.seconds),
        clean,
    )


async def _admin(conn: asyncpg.Connection, settings: Settings, tag: str) -> None:
    """Publish the load generator's admin user (the one the token names) and wait until the worker stored it."""
    msgs = generate(1, seed=98, dup_ratio=0.0, reorder_ratio=0.0, admin_token=f"ae_fresh_{tag}")
    await I._preload(settings, [m for m in msgs if m.kind == "entities"])
    deadline = time.monotonic() + 60
    while not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM entities WHERE entity = 'user' AND id = $1)", F.ADMIN_ID
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not store the admin user")
        await asyncio.sleep(0.1)


async def _caught_up(conn: asyncpg.Connection, sent: int, traffic: list[Any]) -> None:
    """Wait until the published traffic is all stored (verify compares a settled database)."""
    probe_seq = I._expected_seq(generate(1, seed=99))
    want = probe_seq + I._expected_seq(traffic[:sent])
    deadline = time.monotonic() + 300
    query = "SELECT coalesce(sum(seq), 0)::bigint FROM usage_records WHERE model NOT LIKE 'freshness-probe-%'"
    while await conn.fetchval(query) != want:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not catch up within 5 minutes")
        await asyncio.sleep(0.2)


def report(
    args: argparse.Namespace,
    rate: float,
    probes: Probes,
    traffic_lags: list[float],
    parts: dict[str, float],
    batches: dict[str, float],
    clean: bool,
) -> dict[str, float]:
    figures: dict[str, float] = {"rate": rate, "probes": len(probes.sent)}
    for name, lags in (
        ("pg_traffic", traffic_lags),
        ("pg_probe", probes.lags(probes.on_pg, by_index=False)),
        ("stats", probes.lags(probes.on_stats, by_index=True)),
        ("feed", probes.lags(probes.on_feed, by_index=False)),
    ):
        figures[f"{name}_n"] = len(lags)
        figures[f"{name}_p50_ms"] = I._pct(lags, 0.5) * 1000
        figures[f"{name}_p99_ms"] = I._pct(lags, 0.99) * 1000
    figures["stats_rtt_p50_ms"] = I._pct(probes.stats_rtt, 0.5) * 1000
    figures["stats_rtt_p99_ms"] = I._pct(probes.stats_rtt, 0.99) * 1000
    figures["bench_loop_lag_p50_ms"] = I._pct(probes.loop_lags, 0.5) * 1000
    figures["bench_loop_lag_p99_ms"] = I._pct(probes.loop_lags, 0.99) * 1000
    figures.update(parts)
    figures.update(batches)
    figures["clean"] = float(clean)
    figures["load"] = os.getloadavg()[0]
    cpu = ", ".join(f"{k[4:-3]} {v:.1f}" for k, v in figures.items() if k.startswith("cpu_"))
    ages = ", ".join(
        f"{stage} {figures[f'age_{stage}_mean_ms']:.0f} / {figures[f'age_{stage}_p99_le_ms']:.0f}"
        for stage in ("fetched", "began", "committed")
    )
    print(
        f"  {rate:,.0f} events/s for {args.seconds:.0f}s: /stats p50 {figures['stats_p50_ms']:.0f} p99"
        f" {figures['stats_p99_ms']:.0f} ms, feed p50 {figures['feed_p50_ms']:.0f} p99 {figures['feed_p99_ms']:.0f}"
        f" ms, PostgreSQL (traffic) p50 {figures['pg_traffic_p50_ms']:.0f} p99 {figures['pg_traffic_p99_ms']:.0f} ms;"
        f" batches {batches['batches_per_s']:.1f}/s of {batches['mean_batch']:.0f},"
        f" apply {batches['mean_apply_ms']:.0f} ms; oldest message's age (mean / p99 bucket, ms): {ages};"
        f" this loop's lag p99 {figures['bench_loop_lag_p99_ms']:.1f} ms; CPU us/event: {cpu};"
        f" verify {'clean' if clean else 'DIFFERENCES'}, load {figures['load']:.1f}",
        file=sys.stderr,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000, help="loadgen events per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=0, help="USAGESTREAM_BATCH_SIZE of the worker (0: default)")
    parser.add_argument("--batch-within", type=float, default=0, help="USAGESTREAM_BATCH_WITHIN_S (0: default)")
    parser.add_argument("--logs", default="", help="keep the worker and API logs in this folder")
    args = parser.parse_args()
    base = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(args.logs or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        runs = [asyncio.run(run(base, args, logs)) for _ in range(args.runs)]
    keys = runs[0].keys()
    out = {k: round(statistics.median(r[k] for r in runs), 1) for k in keys}
    print(json.dumps({"median": out, "runs": [{k: round(v, 1) for k, v in r.items()} for r in runs]}))


if __name__ == "__main__":
    main()
