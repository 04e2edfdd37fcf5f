"""The worker's metrics while events flow, on the real stack: a real `usagestream worker` scraped over HTTP, and
the batch consumer's lag gauges read as batches are fetched."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from eventgen import candidate_event, candidate_record, usage_event, usage_record
from prom_support import samples, value
from workerproc import free_port, no_timeout, produce, start_worker, stop_worker, wait_for

from usagestream.settings import Settings
from usagestream.streams.batch_consumer import BatchConsumer
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.worker_metrics import WorkerMetrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CREATED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
P = "usagestream_worker_"


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


async def scrape_until(
    url: str, name: str, expected: float, proc: subprocess.Popen[bytes], timeout: float = 60, **labels: object
) -> str:
    """Scrape until `name{labels}` reaches `expected` (the worker has handled what was published)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the worker exited"
        try:
            text = await scrape(url)
        except aiohttp.ClientConnectionError:  # not listening yet
            text = ""
        if value(text, name, **labels) == expected:
            return text
        await asyncio.sleep(0.3)
    raise AssertionError(f"{name}{labels} never reached {expected}: {value(text, name, **labels)}")


def per_topic(text: str, name: str, topic: str) -> float:
    """The sum of `name` over every series of `topic` (any other label)."""
    return sum(v for (n, labels), v in samples(text).items() if n == name and ("topic", topic) in labels)


def assert_every_message_accounted(text: str, topic: str) -> None:
    consumed = value(text, P + "events_consumed_total", topic=topic)
    outcome = (
        per_topic(text, P + "events_applied_total", topic)
        + per_topic(text, P + "events_skipped_total", topic)
        + per_topic(text, P + "dead_lettered_total", topic)
    )
    assert consumed == outcome, f"{topic}: consumed {consumed} != applied + skipped + dead-lettered {outcome}"


def lifecycle(n: int) -> tuple[list[tuple[str, bytes, bytes]], list[dict[str, object]]]:
    """n requests, each pending (seq 1) then completed (seq 2), with one candidate each (seq 1)."""
    messages, finals = [], []
    for _ in range(n):
        rid = str(uuid.uuid4())
        pending = usage_record(rid, CREATED, provider_name="p", provider_id="p")
        final = dict(pending, status="completed", status_code=200, total_tokens=7, output_tokens=7)
        cand = candidate_record(CREATED, provider_id="p", status="success", status_code=200, latency_ms=120)
        messages += [
            ("usage", rid.encode(), usage_event(pending, 1)),
            ("usage", rid.encode(), usage_event(final, 2)),
            ("candidate", rid.encode(), candidate_event(str(uuid.uuid4()), rid, 1, cand)),
        ]
        finals.append(final)
    return messages, finals


async def test_worker_metrics_move_as_events_flow(topics: Settings, pg: asyncpg.Connection, tmp_path: Path) -> None:
    s = replace(no_timeout(topics), batch_within_s=0.05, sweep_interval_s=0.5, worker_metrics_port=free_port())
    url = f"http://127.0.0.1:{s.worker_metrics_port}/metrics"
    usage, cands = s.topic_usage, s.topic_candidates
    messages, finals = lifecycle(4)
    good = len(messages)
    bad = [("usage", b"k-bad", b"{not json"), ("candidate", b"k-bad", json.dumps({"v": 9}).encode())]
    proc = start_worker(s, tmp_path / "worker.log")
    try:
        await produce(s, [*messages, *bad])
        await wait_for(pg, "SELECT coalesce(sum(seq), 0)::int FROM usage_records", 2 * len(finals), proc=proc)
        await wait_for(pg, "SELECT count(*) FROM candidate_records", len(finals), proc=proc)
        first = await scrape_until(url, P + "dead_lettered_total", 1, proc, topic=cands, reason="version")
        assert value(first, P + "events_consumed_total", topic=usage) == 2 * len(finals) + 1
        assert value(first, P + "events_consumed_total", topic=cands) == len(finals) + 1
        assert value(first, P + "dead_lettered_total", topic=usage, reason="json") == 1
        assert value(first, P + "events_applied_total", topic=cands) == len(finals)
        # Each request's two snapshots: both applied, or the pending one superseded in the same batch.
        applied = value(first, P + "events_applied_total", topic=usage)
        superseded = value(first, P + "events_skipped_total", topic=usage, reason="superseded")
        assert len(finals) <= applied <= 2 * len(finals) and applied + superseded == 2 * len(finals)
        assert 1 <= value(first, P + "batch_size_count") and value(first, P + "batch_size_sum") <= good + len(bad)
        assert value(first, P + "apply_duration_seconds_count") == value(first, P + "batch_size_count")
        for topic in (usage, cands):
            assert_every_message_accounted(first, topic)
            lags = {
                dict(labels)["partition"]: v
                for (n, labels), v in samples(first).items()
                if n == P + "consumer_lag" and ("topic", topic) in labels
            }
            assert lags == {str(p): 0 for p in range(s.partitions)}, f"caught up on every partition of {topic}"

        # A redelivered final snapshot (same seq) and an old pending snapshot of another request (older seq).
        old = dict(finals[1], status="pending")
        again = [
            ("usage", str(finals[0]["id"]).encode(), usage_event(finals[0], 2)),
            ("usage", str(finals[1]["id"]).encode(), usage_event(old, 1)),
        ]
        await produce(s, again)
        # Skips are counted when their batch committed, after it was counted as consumed: wait for both.
        await scrape_until(url, P + "events_skipped_total", 1, proc, topic=usage, reason="duplicate")
        second = await scrape_until(url, P + "events_skipped_total", 1, proc, topic=usage, reason="stale")
        assert value(second, P + "events_consumed_total", topic=usage) == 2 * len(finals) + 3
        assert value(second, P + "events_skipped_total", topic=usage, reason="duplicate") == 1
        assert value(second, P + "events_skipped_total", topic=usage, reason="stale") == 1
        assert value(second, P + "events_applied_total", topic=usage) == applied, "nothing new was applied"
        assert value(second, P + "batch_size_count") > value(first, P + "batch_size_count")
        assert_every_message_accounted(second, usage)
        assert await pg.fetchval("SELECT status FROM usage_records WHERE id = $1", finals[1]["id"]) == "completed"
        assert "k-bad" not in second and "not json" not in second, "no message content in a label"
    finally:
        stop_worker(proc)
    assert proc.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]


class Gauges:
    """prepare = read the lag gauge (it was just set for this fetch); apply = keep the batch."""

    def __init__(self, metrics: WorkerMetrics, topic: str) -> None:
        self.metrics, self.topic = metrics, topic
        self.lags: list[float] = []
        self.applied: list[Consumed] = []

    def prepare(self, batch: list[Consumed]) -> list[Consumed]:
        self.lags.append(self.metrics.lag_messages.value(topic=self.topic, partition=0))
        return batch

    async def apply(self, batch: list[Consumed]) -> None:
        self.applied.extend(batch)


async def _until(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_lag_per_partition_falls_batch_by_batch_and_leaves_with_the_partition(
    topics: Settings, consumers: list[BatchConsumer[list[Consumed]]]
) -> None:
    s = replace(topics, batch_size=5)
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap)
    await producer.start()
    try:
        for i in range(20):
            await producer.send(s.topic_usage, value=b"%d" % i, key=b"k", partition=0)
        await producer.flush()
    finally:
        await producer.stop()
    metrics = WorkerMetrics()
    gauges = Gauges(metrics, s.topic_usage)
    a = BatchConsumer(s, [s.topic_usage], gauges.prepare, gauges.apply, metrics=metrics)
    consumers.append(a)
    await a.start()
    await _until(lambda: len(gauges.applied) == 20, "20 messages applied")
    # 20 messages in partition 0, read 5 per fetch: highwater 20 - position 5, 10, 15, 20.
    assert gauges.lags == [15, 10, 5, 0]

    def owned() -> set[int]:
        return {
            int(dict(labels)["partition"])
            for (n, labels), _ in samples(metrics.registry.expose()).items()
            if n == P + "consumer_lag"
        }

    await _until(lambda: owned() == set(range(s.partitions)), "a lag gauge for every partition")
    b = BatchConsumer(s, [s.topic_usage], lambda batch: batch, gauges.apply)
    consumers.append(b)
    await b.start()  # the group rebalances: `a` keeps some partitions, `b` takes the others
    await _until(
        lambda: len(b.assignment()) > 0 and len(a.assignment()) + len(b.assignment()) == s.partitions,
        "partitions shared by the two consumers",
    )
    mine = {tp.partition for tp in a.assignment()}
    await _until(lambda: owned() == mine, f"lag gauges only for a's partitions {mine}: {owned()}")
