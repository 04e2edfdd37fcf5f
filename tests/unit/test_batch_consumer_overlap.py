"""streams.batch_consumer's overlap of preparing and applying: while a batch is in the stores, the next one is
prepared in small fetches with the event loop handed to the batch in flight between them (so its next statement
is not held up by a whole batch's parsing), and yet batches are applied one at a time in fetch order, every
message once, and an offset is committed only after the batch holding it was applied."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiokafka import TopicPartition

from usagestream.settings import Settings
from usagestream.streams.batch_consumer import PREPARE_CHUNK, BatchConsumer
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.worker_metrics import WorkerMetrics

SETTINGS = replace(Settings.from_env({}), batch_size=PREPARE_CHUNK * 5)
PARTITIONS = 3
STATEMENTS = 6  # round trips of one simulated apply (PostgreSQL's statements of a batch)


def _take(queues: dict[TopicPartition, list[Consumed]], max_records: int) -> dict[TopicPartition, list[Consumed]]:
    """What a `getmany` returns: up to `max_records` from the queues' heads, partition by partition."""
    out: dict[TopicPartition, list[Consumed]] = {}
    for tp, queue in queues.items():
        if max_records and queue:
            out[tp], queues[tp] = queue[:max_records], queue[max_records:]
            max_records -= len(out[tp])
    return out


class BufferedKafka:
    """aiokafka's consumer as the batch consumer drives it, with every record already fetched (a drain): getmany
    hands out up to `max_records` at once, partition by partition, as aiokafka's fetcher does."""

    def __init__(self, records: Sequence[Consumed]) -> None:
        self.queues: dict[TopicPartition, list[Consumed]] = {}
        for r in records:
            self.queues.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        self.commits: list[dict[TopicPartition, int]] = []

    def __call__(self, **options: Any) -> BufferedKafka:
        return self

    async def start(self) -> None:
        pass

    def subscribe(self, topics: Sequence[str], listener: Any) -> None:
        pass

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Consumed]]:
        out = _take(self.queues, max_records)
        if not out:
            await asyncio.sleep(0.001)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def assignment(self) -> set[TopicPartition]:
        return set(self.queues)

    async def stop(self) -> None:
        pass


class Stores:
    """prepare and apply of a pipeline, logging what happens in which order; apply takes STATEMENTS round trips."""

    def __init__(self, kafka: BufferedKafka) -> None:
        self.kafka = kafka
        self.log: list[tuple[str, int]] = []  # ("prepare", messages), ("start" / "statement" / "applied", n)
        self.batches: list[list[Consumed]] = []
        self.commits_before_apply: list[int] = []  # commits already made when each batch started

    def prepare(self, fetched: list[Consumed]) -> list[Consumed]:
        self.log.append(("prepare", len(fetched)))
        return fetched

    def merge(self, parts: list[list[Consumed]]) -> list[Consumed]:
        return [m for part in parts for m in part]

    async def apply(self, batch: list[Consumed]) -> None:
        self.commits_before_apply.append(len(self.kafka.commits))
        self.log.append(("start", len(self.batches)))
        for n in range(STATEMENTS):
            await asyncio.sleep(0)  # a statement's round trip: the loop is free meanwhile
            self.log.append(("statement", n))
        self.batches.append(batch)
        self.log.append(("applied", len(self.batches)))


def _records(n: int) -> list[Consumed]:
    offsets = [0] * PARTITIONS
    out = []
    for i in range(n):
        p = i % PARTITIONS
        out.append(Consumed(SETTINGS.topic_usage, p, offsets[p], f"req-{i}".encode(), f"m{i}".encode()))
        offsets[p] += 1
    return out


async def _drain(records: list[Consumed]) -> tuple[BufferedKafka, Stores]:
    kafka = BufferedKafka(records)
    stores = Stores(kafka)
    consumer = BatchConsumer(
        SETTINGS, [SETTINGS.topic_usage], stores.prepare, stores.apply, merge=stores.merge, make_consumer=kafka
    )
    await consumer.start()
    try:
        async with asyncio.timeout(10):
            while sum(len(b) for b in stores.batches) < len(records) or len(kafka.commits) < len(stores.batches):
                await asyncio.sleep(0.001)
    finally:
        await consumer.stop()
    return kafka, stores


async def test_the_next_batch_is_prepared_in_small_fetches_between_the_statements_of_the_batch_in_flight() -> None:
    kafka, stores = await _drain(_records(SETTINGS.batch_size * 8))
    in_flight = False
    prepares_in_a_row = checked = 0
    for what, n in stores.log:
        if what != "prepare":
            in_flight = what != "applied"
            prepares_in_a_row = 0
        elif in_flight:
            assert n <= PREPARE_CHUNK  # a small fetch, not the whole next batch
            prepares_in_a_row += 1
            assert prepares_in_a_row <= 2  # the batch in flight got the loop back between fetches
            checked += 1
    assert checked >= 8
    assert any(len(b) > PREPARE_CHUNK for b in stores.batches[1:])  # the small fetches are still gathered


async def test_under_overlap_every_message_is_applied_once_in_fetch_order_and_committed_after_its_batch() -> None:
    records = _records(SETTINGS.batch_size * 8 + 7)
    kafka, stores = await _drain(records)
    applied = [m for batch in stores.batches for m in batch]
    assert sorted((m.partition, m.offset) for m in applied) == sorted((m.partition, m.offset) for m in records)
    for p in range(PARTITIONS):
        offsets = [m.offset for m in applied if m.partition == p]
        assert offsets == sorted(offsets) == list(range(len(offsets)))  # batch after batch, in fetch order
    # The k-th commit comes after the k-th batch was applied, and covers exactly the batches applied so far.
    assert stores.commits_before_apply == list(range(len(stores.batches)))
    for k, commit in enumerate(kafka.commits):
        done: dict[TopicPartition, int] = {}
        for m in (m for batch in stores.batches[: k + 1] for m in batch):
            done[TopicPartition(m.topic, m.partition)] = m.offset + 1
        assert commit == {tp: done[tp] for tp in commit}


class ArrivingKafka(BufferedKafka):
    """Records arrive while the consumer runs (`arrive`); a poll with nothing fetched returns empty after one turn
    of the loop, as aiokafka's getmany returns empty at its timeout. `taken` records every message handed out."""

    def __init__(self) -> None:
        super().__init__([])
        self.taken: list[Consumed] = []
        self.empty_polls = 0

    def highwater(self, tp: TopicPartition) -> int | None:
        return None  # the lag gauge is not what these tests look at

    def arrive(self, records: Sequence[Consumed]) -> None:
        for r in records:
            self.queues.setdefault(TopicPartition(r.topic, r.partition), []).append(r)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Consumed]]:
        out = _take(self.queues, max_records)
        if not out:
            self.empty_polls += 1
            await asyncio.sleep(0)
        self.taken += [m for ms in out.values() for m in ms]
        return out


def _ids(records: Sequence[Consumed]) -> list[tuple[int, int]]:
    return sorted((r.partition, r.offset) for r in records)


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_what_arrives_during_an_apply_after_an_empty_poll_is_fetched_before_that_apply_ends() -> None:
    """aiokafka fetches a partition again only after its fetched records were taken: a consumer that waits out
    the batch in flight because its first poll found nothing leaves whatever arrives during that apply at the
    broker, and those messages miss the next batch."""
    kafka = ArrivingKafka()
    release = asyncio.Event()
    batches: list[list[Consumed]] = []

    async def apply(batch: list[Consumed]) -> None:
        if not batches:
            await release.wait()  # the first batch is a long apply
        batches.append(batch)

    stores = Stores(kafka)
    consumer = BatchConsumer(
        SETTINGS, [SETTINGS.topic_usage], stores.prepare, apply, merge=stores.merge, make_consumer=kafka
    )
    first, during = _records(10), _records(20)[10:]
    kafka.arrive(first)
    await consumer.start()
    try:
        await _turns(50)
        assert _ids(kafka.taken) == _ids(first) and not batches  # the first batch is in flight
        polls = kafka.empty_polls
        await _turns(50)
        assert kafka.empty_polls > polls  # it found nothing to gather, and keeps polling
        kafka.arrive(during)
        await _turns(50)
        assert _ids(kafka.taken) == _ids(first + during)  # fetched while the first batch is still in the stores
        release.set()
        async with asyncio.timeout(10):
            while len(batches) < 2 or len(kafka.commits) < 2:
                await asyncio.sleep(0.001)
    finally:
        await consumer.stop()
    assert [_ids(b) for b in batches] == [_ids(first), _ids(during)]  # the second gathered whole during the first
    assert kafka.commits[0] == {TopicPartition(SETTINGS.topic_usage, p): 4 if p == 0 else 3 for p in range(3)}


async def _metrics_of_first_commit(kafka: ArrivingKafka) -> WorkerMetrics:
    """Runs a consumer with metrics over what has arrived until its first offsets commit."""
    stores = Stores(kafka)
    metrics = WorkerMetrics()
    consumer = BatchConsumer(
        SETTINGS,
        [SETTINGS.topic_usage],
        stores.prepare,
        stores.apply,
        metrics=metrics,
        merge=stores.merge,
        make_consumer=kafka,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(10):
            while not kafka.commits:
                await asyncio.sleep(0.001)
    finally:
        await consumer.stop()
    return metrics


async def test_each_batch_reports_its_oldest_messages_age_when_fetched_when_its_apply_began_and_once_committed() -> (
    None
):
    """usagestream_worker_event_age_seconds: how stale what the stores show is (the Kafka timestamp is the
    producer's create time); a message without one (-1) is not reported."""
    now_ms = int(time.time() * 1000)
    aged = [replace(r, timestamp=now_ms - 60_000 + r.offset) for r in _records(6)]  # a minute old
    kafka = ArrivingKafka()
    kafka.arrive([*aged, *(replace(r, timestamp=now_ms) for r in _records(9)[6:])])
    metrics = await _metrics_of_first_commit(kafka)
    text = metrics.registry.expose()
    for stage in ("fetched", "began", "committed"):
        count = re.search(rf'^usagestream_worker_event_age_seconds_count{{stage="{stage}"}} (\S+)$', text, re.M)
        total = re.search(rf'^usagestream_worker_event_age_seconds_sum{{stage="{stage}"}} (\S+)$', text, re.M)
        assert count is not None and total is not None, stage
        assert float(count.group(1)) == 1  # one fetch, one batch
        assert 59 < float(total.group(1)) < 600  # the oldest message's age, not the newest's (0)


async def test_messages_without_a_timestamp_report_no_age() -> None:
    kafka = ArrivingKafka()
    kafka.arrive(_records(6))
    metrics = await _metrics_of_first_commit(kafka)
    assert "usagestream_worker_event_age_seconds_count" not in metrics.registry.expose()
