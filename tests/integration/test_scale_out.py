"""Several workers in one consumer group on the real stack: two workers share six partitions while events with
duplicates and reordering keep flowing; one is SIGKILLed mid-stream and another started (two rebalances). At
the end every aggregate equals the recount written here and `verify` is clean: no double application by an old
and a new owner of a partition (their batches serialize on the partition's advisory lock and are fenced by seq),
and no deadlock between workers adding to the same aggregate rows (rows are written in key order)."""

from __future__ import annotations

import asyncio
import io
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from eventgen import generate
from test_pipeline import START, assert_exact, wait_caught_up
from workerproc import produce, start_worker, stop_worker

from usagestream.materializer.ops.verify import verify
from usagestream.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def six(settings: Settings) -> AsyncIterator[Settings]:
    """This test's topics with six partitions (the shared fixture makes three)."""
    s = replace(
        settings, partitions=6, active_timeout_s=10**9, batch_size=300, batch_within_s=0.05, sweep_interval_s=0.5
    )
    names = [s.topic_usage, s.topic_candidates, s.topic_entities, s.topic_dlq]
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(s.topic_usage, 6, 1),
                NewTopic(s.topic_candidates, 6, 1),
                NewTopic(s.topic_entities, 6, 1, topic_configs={"cleanup.policy": "compact"}),
                NewTopic(s.topic_dlq, 1, 1),
            ]
        )
        yield s
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def _produce_slowly(settings: Settings, messages: list[tuple[str, bytes, bytes]], chunk: int) -> None:
    for i in range(0, len(messages), chunk):
        await produce(settings, messages[i : i + chunk])
        await asyncio.sleep(0.7)


async def _both_consuming(conn: asyncpg.Connection, seen: int, procs: list, timeout: float = 90) -> None:
    """Wait until more records than `seen` exist (the group is consuming again), failing if a worker died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for p in procs:
            assert p.poll() is None, f"a worker exited with {p.returncode}"
        if await conn.fetchval("SELECT count(*) FROM usage_records") > seen:
            return
        await asyncio.sleep(0.3)
    raise AssertionError("the consumer group did not resume")


async def test_two_workers_one_killed_and_replaced_stay_exact(
    six: Settings, pg: asyncpg.Connection, redis_client: object, tmp_path: Path
) -> None:
    traffic = generate(23, 3000, START, timedelta(days=2), dup=0.3, swap=0.4)
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    deadlocks_before = await pg.fetchval(deadlocks)
    a = start_worker(six, logs[0])
    b = start_worker(six, logs[1])
    c = None
    producer = asyncio.create_task(_produce_slowly(six, traffic.messages, 600))
    try:
        await _both_consuming(pg, 0, [a, b])
        await asyncio.sleep(3.0)  # both own partitions and apply batches by now
        stop_worker(a, signal.SIGKILL)  # mid-stream: its partitions move to b, uncommitted batches come again
        seen = await pg.fetchval("SELECT count(*) FROM usage_records")
        c = start_worker(six, logs[2])  # another rebalance: the partitions spread over b and c
        await _both_consuming(pg, seen, [b, c])
        await producer
        await wait_caught_up(pg, traffic)
        await assert_exact(pg, traffic, six)
        assert await verify(six, out=(out := io.StringIO())) == 0, out.getvalue()
        assert b.poll() is None and c.poll() is None, "a worker died (deadlock or crash)"
        await pg.execute("SELECT pg_stat_clear_snapshot()")
        assert await pg.fetchval(deadlocks) == deadlocks_before, "PostgreSQL detected a deadlock between workers"
    finally:
        producer.cancel()
        for p in (a, b, c):
            if p is not None:
                stop_worker(p)
    assert a.returncode == -signal.SIGKILL
    for p, log in ((b, logs[1]), (c, logs[2])):
        assert p is not None and p.returncode == 0, log.read_text()[-3000:]
        assert "deadlock" not in log.read_text().lower()
