"""The worker under faults on the real stack: SIGKILL mid-stream, Redis losing everything, bad messages, the
active timeout, and PostgreSQL going away for 30 seconds. Each ends with an exact recount."""

from __future__ import annotations

import asyncio
import io
import json
import random
import shutil
import signal
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from eventgen import generate, usage_event, usage_record
from test_pipeline import START, assert_exact, wait_caught_up, wait_for_live
from testsupport import free_port
from workerproc import produce, read_dead_letters, start_worker, stop_worker, wait_for

from usagestream.materializer.ops.verify import verify
from usagestream.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_settings(topics: Settings) -> Settings:
    return replace(topics, active_timeout_s=10**9, batch_size=500, batch_within_s=0.05, sweep_interval_s=0.5)


async def test_sigkill_at_random_points_still_exact(
    worker_settings: Settings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    traffic = generate(21, 4000, START, timedelta(days=2), dup=0.3, swap=0.4)
    rng = random.Random(5)
    log = tmp_path / "worker.log"
    producer = asyncio.create_task(_produce_slowly(worker_settings, traffic.messages))
    proc = start_worker(worker_settings, log)
    try:
        for _ in range(3):
            await asyncio.sleep(rng.uniform(4.0, 8.0))
            stop_worker(proc, signal.SIGKILL)
            proc = start_worker(worker_settings, log)
        await producer
        await wait_caught_up(pg, traffic)
        await assert_exact(pg, traffic, worker_settings)
        assert await verify(worker_settings, out=(out := io.StringIO())) == 0, out.getvalue()
    finally:
        stop_worker(proc)


async def _produce_slowly(settings: Settings, messages: list[tuple[str, bytes, bytes]]) -> None:
    for i in range(0, len(messages), 1000):
        await produce(settings, messages[i : i + 1000])
        await asyncio.sleep(1.0)


async def test_redis_flushall_heals_the_live_set(
    worker_settings: Settings, pg: asyncpg.Connection, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    traffic = generate(31, 400, now - timedelta(minutes=5), timedelta(minutes=4))
    active = {k for k, u in traffic.latest_usage.items() if u["status"] in ("pending", "streaming")}
    proc = start_worker(worker_settings, tmp_path / "worker.log")
    try:
        await produce(worker_settings, traffic.messages)
        await wait_caught_up(pg, traffic)
        await wait_for_live(redis_client, worker_settings, active)
        before = await redis_client.hgetall(worker_settings.key("live"))
        # Our keys only (other tests share this Redis): the same as a FLUSHALL from the worker's point of view.
        keys = [k async for k in redis_client.scan_iter(match=worker_settings.redis_prefix + "*")]
        await redis_client.delete(*keys)
        await wait_for_live(redis_client, worker_settings, active)
        assert await redis_client.hgetall(worker_settings.key("live")) == before
    finally:
        stop_worker(proc)


async def test_bad_messages_are_dead_lettered_and_change_nothing(
    worker_settings: Settings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    traffic = generate(41, 200, START, timedelta(hours=5))
    good = usage_record("11111111-1111-1111-1111-111111111111", START)
    bad: list[tuple[str, bytes, bytes | None]] = [
        ("usage", b"k1", b"{not json"),
        ("usage", b"k2", b"[1, 2]"),
        ("usage", good["id"].encode(), usage_event(dict(good, input_tokens=-1), 5)),
        ("usage", b"other-key", usage_event(good, 6)),
        ("usage", good["id"].encode(), usage_event(dict(good, created_at="2026-11-01T00:00:00"), 7)),
        ("usage", good["id"].encode(), usage_event(good, 0)),
        ("usage", good["id"].encode(), usage_event(dict(good, total_tokens=2**70), 8)),
        ("candidate", b"k3", json.dumps({"v": 2, "kind": "candidate"}).encode()),
        (
            "entity",
            b"user:u1",
            json.dumps(
                {
                    "v": 1,
                    "kind": "entity",
                    "entity": "user",
                    "id": "u2",
                    "seq": 1,
                    "emitted_at": "2026-11-01T00:00:00Z",
                    "data": {},
                }
            ).encode(),
        ),
    ]
    messages = list(traffic.messages)
    for m in bad:
        messages.insert(random.Random(len(m[2] or b"")).randrange(len(messages)), m)
    proc = start_worker(worker_settings, tmp_path / "worker.log")
    try:
        await produce(worker_settings, messages)
        await wait_caught_up(pg, traffic)
        await wait_for(pg, "SELECT coalesce(sum(count), 0)::int FROM dead_letter_counts", len(bad), proc=proc)
        await assert_exact(pg, traffic, worker_settings)
        assert await pg.fetchval("SELECT count(*) FROM usage_records WHERE id = $1", good["id"]) == 0
        assert proc.poll() is None
    finally:
        stop_worker(proc)
    letters = await read_dead_letters(worker_settings, len(bad))
    assert len(letters) == len(bad)
    for letter in letters:
        assert letter["reason"] and set(letter) == {"reason", "topic", "partition", "offset", "key", "value"}
    reasons = " | ".join(str(x["reason"]) for x in letters)
    for word in ("JSON", "input_tokens", "key", "offset", "seq", "version"):
        assert word in reasons, reasons


async def test_active_timeout_marks_failed_504_and_newer_event_wins(
    worker_settings: Settings, pg: asyncpg.Connection, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    s = replace(worker_settings, active_timeout_s=3)
    now = datetime.now(UTC)
    stuck = usage_record("22222222-2222-2222-2222-222222222222", now, model="m-stuck", status="streaming")
    later = usage_record("33333333-3333-3333-3333-333333333333", now, model="m-late")
    proc = start_worker(s, tmp_path / "worker.log")
    try:
        await produce(
            s,
            [
                ("usage", stuck["id"].encode(), usage_event(stuck, 2)),
                ("usage", later["id"].encode(), usage_event(later, 1)),
            ],
        )
        await wait_for(
            pg,
            "SELECT count(*) FROM usage_records WHERE status = 'failed' AND status_code = 504"
            " AND error_message = 'request timed out'",
            2,
            timeout=30,
            proc=proc,
        )
        await wait_for_live(redis_client, s, set())
        row = await pg.fetchrow(
            "SELECT n_all, n_finished, n_error FROM usage_agg WHERE dim = 'model' AND key = 'm-stuck' AND grain = 1"
        )
        assert tuple(row) == (1, 1, 1)
        # a duplicate of the old state changes nothing; a newer gateway event overrides the timeout
        done = dict(later, status="completed", status_code=200, provider_name="p", total_tokens=5, input_tokens=5)
        await produce(
            s,
            [
                ("usage", stuck["id"].encode(), usage_event(stuck, 2)),
                ("usage", later["id"].encode(), usage_event(done, 2)),
            ],
        )
        await wait_for(
            pg,
            "SELECT status FROM usage_records WHERE id = '33333333-3333-3333-3333-333333333333'",
            "completed",
            timeout=30,
            proc=proc,
        )
        await asyncio.sleep(1.5)
        assert await pg.fetchval("SELECT status FROM usage_records WHERE id = $1", stuck["id"]) == "failed"
        assert await verify(s, out=(out := io.StringIO())) == 0, out.getvalue()
    finally:
        stop_worker(proc)


@pytest.mark.skipif(shutil.which("pg_ctlcluster") is None, reason="needs the Debian PostgreSQL cluster tools")
async def test_postgres_down_for_30_seconds_loses_nothing(
    worker_settings: Settings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    traffic = generate(51, 2000, START, timedelta(days=1))
    cluster = _cluster()
    proc = start_worker(worker_settings, tmp_path / "worker.log")
    half = len(traffic.messages) // 2
    try:
        await produce(worker_settings, traffic.messages[:half])
        await asyncio.sleep(1.0)
        subprocess.run(["pg_ctlcluster", *cluster, "stop", "-m", "fast"], check=True)
        try:
            await produce(worker_settings, traffic.messages[half:])
            await asyncio.sleep(30)
            assert proc.poll() is None, "the worker must wait for PostgreSQL, not exit"
        finally:
            subprocess.run(["pg_ctlcluster", *cluster, "start"], check=True)
        conn = await _reconnect(worker_settings)
        try:
            await wait_caught_up(conn, traffic)
            await assert_exact(conn, traffic, worker_settings)
            assert await conn.fetchval("SELECT coalesce(sum(count), 0) FROM dead_letter_counts") == 0
        finally:
            await conn.close()
    finally:
        stop_worker(proc)


def _cluster() -> list[str]:
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    version, name = out.split()[:2]
    return [version, name]


async def _reconnect(settings: Settings) -> asyncpg.Connection:
    for _ in range(60):
        try:
            return await asyncpg.connect(settings.asyncpg_dsn)
        except (OSError, asyncpg.exceptions.CannotConnectNowError):
            await asyncio.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
async def test_redis_restart_mid_stream_loses_nothing(
    worker_settings: Settings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    """A private redis-server (so the shared one stays up) is killed mid-stream and started again, empty."""
    port = free_port()
    s = replace(worker_settings, redis_url=f"redis://127.0.0.1:{port}/0")
    now = datetime.now(UTC)
    traffic = generate(61, 600, now - timedelta(minutes=5), timedelta(minutes=4))
    active = {k for k, u in traffic.latest_usage.items() if u["status"] in ("pending", "streaming")}
    server = _redis_server(port, tmp_path)
    proc = start_worker(s, tmp_path / "worker.log")
    half = len(traffic.messages) // 2
    try:
        await produce(s, traffic.messages[:half])
        await asyncio.sleep(2.0)
        server.kill()
        server.wait(10)
        await produce(s, traffic.messages[half:])
        await asyncio.sleep(3.0)
        assert proc.poll() is None, "the worker must wait for Redis, not exit"
        server = _redis_server(port, tmp_path)
        await wait_caught_up(pg, traffic)
        client = aioredis.from_url(s.redis_url)
        try:
            await wait_for_live(client, s, active)
        finally:
            await client.aclose()
        await assert_exact(pg, traffic, s)
        assert await pg.fetchval("SELECT coalesce(sum(count), 0) FROM dead_letter_counts") == 0
    finally:
        stop_worker(proc)
        server.kill()
        server.wait(10)


def _redis_server(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=open(tmp_path / f"redis-{port}.log", "ab"),
        stderr=subprocess.STDOUT,
    )
    import time

    for _ in range(100):
        try:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    raise AssertionError("private redis-server did not start")
