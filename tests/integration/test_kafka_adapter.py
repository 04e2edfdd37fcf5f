"""The Kafka adapter on the real broker: produce and read back, dead letters, idempotent topic creation."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiokafka.admin import NewTopic

from usagestream.settings import Settings
from usagestream.streams import kafka_topics
from usagestream.streams.kafka_io import Consumed, KafkaWriter, dead_letter, read_all

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def cleanup(settings: Settings) -> AsyncIterator[Settings]:
    """Delete this test's topics afterwards, whoever created them."""
    yield settings
    async with kafka_topics.admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        mine = [t.name for t in kafka_topics.topic_specs(settings) if t.name in existing]
        if mine:
            await admin.delete_topics(mine)


async def test_produce_and_read_back_in_order(topics: Settings) -> None:
    sent = [(f"usage-{i % 4}".encode(), f'{{"n": {i}}}'.encode()) for i in range(40)]
    async with KafkaWriter(topics) as writer:
        for key, value in sent:
            await writer.send(topics.topic_usage, key, value)
        await writer.send(topics.topic_entities, b"user:1", None)  # a tombstone
    got = await read_all(topics, topics.topic_usage, at_least=len(sent))
    assert sorted((m.key, m.value) for m in got) == sorted(sent)
    for key in {k for k, _ in sent}:  # one key, one partition, in the order sent
        assert [m.value for m in got if m.key == key] == [v for k, v in sent if k == key]
    tombstones = await read_all(topics, topics.topic_entities, at_least=1)
    assert [(m.key, m.value) for m in tombstones] == [(b"user:1", None)]


async def test_dead_letter_writes_the_contract_record(topics: Settings) -> None:
    bad = Consumed(topics.topic_usage, 2, 41, b"k\xff", b"\xfe" + b"x" * 70_000)
    async with KafkaWriter(topics) as writer:
        await dead_letter(writer, topics.topic_dlq, "not valid JSON", bad)
        await dead_letter(writer, topics.topic_dlq, "tombstone on usage", replace(bad, offset=42, value=None))
    got = await read_all(topics, topics.topic_dlq, at_least=2)
    first, second = (json.loads(m.value or b"") for m in got)
    assert got[0].key == b"k\xff"
    assert set(first) == {"reason", "topic", "partition", "offset", "key", "value"}
    assert (first["reason"], first["topic"], first["partition"], first["offset"]) == (
        "not valid JSON",
        topics.topic_usage,
        2,
        41,
    )
    assert first["key"] == "k\ufffd"
    assert first["value"] == "\ufffd" + "x" * (64 * 1024 - 1)
    assert (second["offset"], second["value"]) == (42, None)


async def test_ensure_topics_is_idempotent_and_compacts_entities(cleanup: Settings) -> None:
    settings = cleanup
    await kafka_topics.ensure_topics(settings)
    await kafka_topics.ensure_topics(settings)
    async with kafka_topics.admin_client(settings) as admin:
        names = [settings.topic_usage, settings.topic_candidates, settings.topic_entities, settings.topic_dlq]
        counts = await kafka_topics.partition_counts(admin, names)
        policies = {t: await kafka_topics.topic_config(admin, t, "cleanup.policy") for t in counts}
    n = settings.partitions
    assert counts == {
        settings.topic_usage: n,
        settings.topic_candidates: n,
        settings.topic_entities: n,
        settings.topic_dlq: 1,
    }
    assert policies[settings.topic_entities] == "compact"
    assert policies[settings.topic_usage] == policies[settings.topic_dlq] == "delete"


async def test_ensure_topics_warns_on_mismatched_partitions(
    cleanup: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = cleanup
    async with kafka_topics.admin_client(settings) as admin:
        await admin.create_topics([NewTopic(settings.topic_candidates, settings.partitions + 1, 1)])
    with caplog.at_level(logging.WARNING, logger=kafka_topics.__name__):
        await kafka_topics.ensure_topics(settings)
    assert "different partition counts" in caplog.text
