"""The Publisher against the real broker: everything published arrives, on the default partitioner's choice;
a full buffer drops and counts without blocking; close() flushes what is buffered."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2

from usagestream.publisher import Publisher, Topics
from usagestream.publisher.events import Message
from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings

pytestmark = pytest.mark.integration


async def _read_all(settings: Settings, topic: str, expected: int, timeout_s: float = 30.0) -> list[tuple[int, bytes]]:
    """(partition, key) of every message in `topic`, read until `expected` arrived or the timeout."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    got: list[tuple[int, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(got) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                got.extend((tp.partition, r.key) for r in records)
    finally:
        await consumer.stop()
    return got


async def _end_offsets(settings: Settings, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()
    return sum(ends.values())


async def test_published_events_arrive_on_the_default_partition(topics: Settings) -> None:
    messages = generate(200, seed=11, dup_ratio=0, reorder_ratio=0)
    publisher = Publisher(settings=topics)
    await publisher.start(wait_s=30)
    for message in messages:
        assert publisher.publish(message)
    await publisher.close(timeout_s=30)
    assert (publisher.sent, publisher.dropped, publisher.failed) == (len(messages), 0, 0)
    per_kind = Counter(m.kind for m in messages)
    usage = await _read_all(topics, topics.topic_usage, per_kind["usage"])
    assert len(usage) == per_kind["usage"]
    for partition, key in usage:  # the same partition the Java client / aiokafka would choose for the key
        assert partition == (murmur2(key) & 0x7FFFFFFF) % topics.partitions
    assert await _end_offsets(topics, topics.topic_candidates, topics.partitions) == per_kind["candidates"]
    assert await _end_offsets(topics, topics.topic_entities, topics.partitions) == per_kind["entities"]


async def test_a_full_buffer_drops_and_counts_without_blocking() -> None:
    # Nothing listens on this port: the sender never connects, so the buffer fills and stays full.
    publisher = Publisher("127.0.0.1:1", settings=Settings(), buffer_size=100, warn_interval_s=60)
    await publisher.start()
    message = Message("usage", b"k", b"{}")
    began = time.perf_counter()
    accepted = [publisher.publish(message) for _ in range(10_000)]
    elapsed = time.perf_counter() - began
    assert sum(accepted) == 100 and publisher.dropped == 9_900
    assert elapsed < 0.5  # 10,000 calls never waited for Kafka
    await publisher.close(timeout_s=1)
    assert publisher.failed == 100 and publisher.sent == 0
    assert not publisher.publish(message) and publisher.dropped == 9_901  # closed: dropped, never raised


async def test_close_flushes_what_is_buffered(topics: Settings) -> None:
    publisher = Publisher(settings=topics, buffer_size=50_000, linger_ms=200)
    await publisher.start(wait_s=30)
    keys = [str(uuid.uuid4()).encode() for _ in range(5_000)]
    for key in keys:
        publisher.publish(Message("entities", b"user:" + key, None))
    assert publisher.pending == len(keys)  # nothing sent yet: the sender is lingering
    await publisher.close(timeout_s=30)
    assert publisher.sent == len(keys) and publisher.pending == 0
    assert await _end_offsets(topics, topics.topic_entities, topics.partitions) == len(keys)


async def test_start_with_wait_reports_an_unreachable_broker() -> None:
    publisher = Publisher("127.0.0.1:1", topics=Topics())
    with pytest.raises(Exception, match="did not answer"):
        await publisher.start(wait_s=0.5)
    await publisher.close(timeout_s=1)


async def test_put_waits_for_room_instead_of_dropping(topics: Settings) -> None:
    publisher = Publisher(settings=topics, buffer_size=10)
    await publisher.start(wait_s=30)
    for i in range(1_000):
        await publisher.put(Message("usage", f"u{i}".encode(), b"{}"))
    await asyncio.wait_for(publisher.close(timeout_s=30), 40)
    assert (publisher.sent, publisher.dropped, publisher.failed) == (1_000, 0, 0)
