"""The project's small Kafka adapter: an idempotent producer, a read-everything consumer, and dead letters."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from usagestream.errors import StoreUnavailable
from usagestream.settings import Settings

DLQ_VALUE_LIMIT = 64 * 1024  # docs/contract.md §5.2: the raw value is cut to 64 KiB


class Record(Protocol):
    """What the pipeline reads of a consumed message: Consumed, or aiokafka's ConsumerRecord as fetched."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Consumed:
    """One Kafka message as read: where it came from, and its raw key and value (None for a tombstone)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = -1  # Kafka's timestamp in ms (the producer's create time), -1 when unknown


class KafkaWriter:
    """An idempotent producer (acks=all): `send` queues, `flush` waits until Kafka acknowledged all of it.

    Use it as `async with KafkaWriter(settings) as writer:` inside the running loop.
    """

    def __init__(self, settings: Settings, **producer_options: Any) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            **producer_options,
        )
        self._pending: list[asyncio.Future[Any]] = []

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise StoreUnavailable(f"Kafka producer could not start: {exc!r}") from exc

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> KafkaWriter:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                await self.flush()
        finally:
            await self.stop()

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Queue one message (value None is a tombstone); it is only durable after `flush`."""
        try:
            self._pending.append(await self._producer.send(topic, value=value, key=key))
        except KafkaError as exc:
            raise StoreUnavailable(f"Kafka refused a message for {topic}: {exc!r}") from exc

    async def flush(self) -> None:
        """Wait until every queued message is acknowledged; StoreUnavailable if any was not."""
        pending, self._pending = self._pending, []
        await self._producer.flush()
        results = await asyncio.gather(*pending, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise StoreUnavailable(f"{len(failed)} of {len(results)} messages not written: {failed[0]!r}")


def dead_letter_record(reason: str, message: Record) -> bytes:
    """The DLQ value of docs/contract.md §5.2; key and value as UTF-8 text (bad bytes replaced), value cut."""
    record = {
        "reason": reason,
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": _text(message.key),
        "value": _text(None if message.value is None else message.value[:DLQ_VALUE_LIMIT]),
    }
    return json.dumps(record, ensure_ascii=False).encode()


async def dead_letter(writer: KafkaWriter, dlq_topic: str, reason: str, message: Record) -> None:
    """Queue `message` for the dead-letter topic, keyed as received; `writer.flush()` makes it durable."""
    await writer.send(dlq_topic, message.key, dead_letter_record(reason, message))


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


async def read_all(settings: Settings, topic: str, *, at_least: int = 0, timeout: float = 10.0) -> list[Consumed]:
    """Every message of `topic` from the beginning, without a consumer group (for tests and tools).

    Reads up to the end offsets seen once partitions are assigned, and on until `at_least` messages came, or
    until `timeout` passed; sorted by partition and offset.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.subscribe([topic])  # without a group every partition is assigned to us
        return await _drain(consumer, at_least, time.monotonic() + timeout)
    finally:
        await consumer.stop()


async def _drain(consumer: AIOKafkaConsumer, at_least: int, deadline: float) -> list[Consumed]:
    out: list[Consumed] = []
    ends: dict[TopicPartition, int] = {}
    while time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=200)
        for records in batches.values():
            out.extend(Consumed(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp) for r in records)
        if not ends and consumer.assignment():
            ends = await consumer.end_offsets(list(consumer.assignment()))
        if ends and len(out) >= at_least and await _caught_up(consumer, ends):
            break
    return sorted(out, key=lambda m: (m.partition, m.offset))


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
