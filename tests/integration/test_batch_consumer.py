"""streams.batch_consumer on the real broker: offsets are committed only after `apply` returned, a failing batch
commits nothing, and a second worker joining the group takes partitions without losing a message."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from workerproc import produce

from usagestream.settings import Settings
from usagestream.streams.batch_consumer import BatchConsumer
from usagestream.streams.kafka_io import Consumed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def committed(settings: Settings, topic: str) -> dict[int, int | None]:
    """The group's committed offset per partition of `topic` (None: nothing committed)."""
    probe = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.consumer_group, enable_auto_commit=False
    )
    await probe.start()
    try:
        return {p: await probe.committed(TopicPartition(topic, p)) for p in range(settings.partitions)}
    finally:
        await probe.stop()


class Recorder:
    """prepare = keep the batch; apply = record it, or block / fail on demand."""

    def __init__(self) -> None:
        self.applied: list[Consumed] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False
        self.entered = asyncio.Event()

    def prepare(self, batch: list[Consumed]) -> list[Consumed]:
        return batch

    async def apply(self, batch: list[Consumed]) -> None:
        self.entered.set()
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("store refused the batch")
        self.applied.extend(batch)


def _messages(n: int, start: int = 0) -> list[tuple[str, bytes, bytes | None]]:
    return [("usage", f"req-{i % 17}".encode(), f"m{i}".encode()) for i in range(start, start + n)]


async def _until(predicate: object, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_offsets_are_committed_after_apply_and_never_for_a_failed_batch(
    topics: Settings, consumers: list[BatchConsumer[list[Consumed]]]
) -> None:
    settings = topics
    rec = Recorder()
    consumer = BatchConsumer(settings, [settings.topic_usage], rec.prepare, rec.apply)
    consumers.append(consumer)
    await produce(settings, _messages(300))
    await consumer.start()
    await _until(lambda: {m.value for m in rec.applied} == {v for _, _, v in _messages(300)})
    # Every partition's committed offset is its end: all of it was applied, then committed.
    ends: dict[int, int] = {}
    for m in rec.applied:
        ends[m.partition] = max(ends.get(m.partition, 0), m.offset + 1)
    got = await committed(settings, settings.topic_usage)
    for _ in range(50):
        if all(got[p] == end for p, end in ends.items()):
            break
        await asyncio.sleep(0.1)
        got = await committed(settings, settings.topic_usage)
    assert {p: got[p] for p in ends} == ends

    # A batch whose apply fails: the consumer's task ends with the error and nothing of it is committed.
    rec.fail = True
    rec.entered.clear()
    await produce(settings, _messages(50, start=300))
    await rec.entered.wait()
    with pytest.raises(RuntimeError, match="store refused"):
        await consumer.task
    assert await committed(settings, settings.topic_usage) == got


async def test_a_second_member_takes_partitions_and_every_message_is_applied(
    topics: Settings, consumers: list[BatchConsumer[list[Consumed]]]
) -> None:
    settings = topics
    first, second = Recorder(), Recorder()
    a = BatchConsumer(settings, [settings.topic_usage], first.prepare, first.apply)
    consumers.append(a)
    await produce(settings, _messages(200))  # first: the topic's partitions and leaders are known when `a` joins
    await a.start()
    await _until(lambda: {m.value for m in first.applied} == {v for _, _, v in _messages(200)})
    first.gate.clear()  # the next batch of `a` is in flight while `b` joins: the rebalance waits for it
    first.entered.clear()
    await produce(settings, _messages(200, start=200))
    await first.entered.wait()
    b = BatchConsumer(settings, [settings.topic_usage], second.prepare, second.apply)
    consumers.append(b)
    await b.start()
    await asyncio.sleep(1)
    first.gate.set()
    await _until(lambda: len(a.assignment()) + len(b.assignment()) == settings.partitions and b.assignment())
    await produce(settings, _messages(200, start=400))
    want = {v for _, _, v in _messages(600)}
    await _until(lambda: {m.value for m in first.applied} | {m.value for m in second.applied} == want)
    # The batch in flight at the hand-over was applied once: it was committed before the partitions moved.
    handed_over = {v for _, _, v in _messages(200, start=200)}
    both = [m.value for m in first.applied + second.applied if m.value in handed_over]
    assert len(both) == len(handed_over)
    assert {tp.partition for tp in a.assignment()}.isdisjoint({tp.partition for tp in b.assignment()})


async def test_fetches_arriving_during_a_slow_batch_are_gathered_into_the_next(
    topics: Settings, consumers: list[BatchConsumer[list[Consumed]]]
) -> None:
    settings = topics
    rec = Recorder()
    batches: list[int] = []

    async def apply(batch: list[Consumed]) -> None:
        batches.append(len(batch))
        await rec.apply(batch)

    def merge(parts: list[list[Consumed]]) -> list[Consumed]:
        return [m for part in parts for m in part]

    consumer = BatchConsumer(settings, [settings.topic_usage], rec.prepare, apply, merge=merge)
    consumers.append(consumer)
    rec.gate.clear()  # the first batch stays in the stores while the rest is published, in many small sends
    await consumer.start()
    await produce(settings, _messages(1))
    await _until(lambda: rec.entered.is_set())
    for start in range(1, 401, 20):
        await produce(settings, _messages(20, start))
    await asyncio.sleep(1.0)  # let the consumer fetch (and prepare) them while the first batch is held
    rec.gate.set()
    await _until(lambda: len(rec.applied) == 401)
    assert sorted(int(m.value[1:]) for m in rec.applied) == list(range(401)), "each message applied once"
    assert batches[0] == 1 and len(batches) <= 3, f"gathered into the next batch, not one per fetch: {batches}"
    per_partition: dict[int, int] = {}
    for m in rec.applied:
        per_partition[m.partition] = max(per_partition.get(m.partition, -1), m.offset + 1)
    async with asyncio.timeout(30):  # the last batch commits just after its apply returned
        while {p: o for p, o in (await committed(settings, settings.topic_usage)).items() if o} != per_partition:
            await asyncio.sleep(0.2)
