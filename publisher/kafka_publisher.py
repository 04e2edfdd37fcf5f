"""Publisher: sends contract messages to Kafka from a bounded buffer, never blocking a gateway's requests.

`publish()` only appends to an in-memory buffer and returns; a background task fills one record batch per
partition and hands it to an idempotent aiokafka producer (acks=all). When the buffer is full the message is
dropped and counted, with a rate-limited warning that never contains the message. `close()` flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from usagestream.errors import StoreUnavailable
from usagestream.publisher.events import Message
from usagestream.publisher.partitioning import Partitioner
from usagestream.settings import Settings

log = logging.getLogger("usagestream.publisher")
_DRAIN_MAX = 50_000  # messages taken from the buffer per send round (bounds one round's memory and latency)


@dataclass(frozen=True, slots=True)
class Topics:
    """The three contract topics a gateway writes, by message kind."""

    usage: str = "gateway.usage.v1"
    candidates: str = "gateway.candidates.v1"
    entities: str = "gateway.entities.v1"

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(settings.topic_usage, settings.topic_candidates, settings.topic_entities)


class _Throttle:
    """Lets a warning through at most once per interval per kind (a full buffer can drop 100k events/s)."""

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._last: dict[str, float] = {}

    def __call__(self, kind: str, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -self._interval) >= self._interval:
            self._last[kind] = now
            log.warning(text, *args)


class Publisher:
    """An asyncio Kafka publisher for a gateway; see docs/publisher.md.

    Counters: `sent` (acknowledged by Kafka), `dropped` (refused because the buffer was full or the publisher
    closed), `failed` (accepted but not delivered: Kafka unreachable until the delivery timeout, or closed
    before it could deliver).
    """

    def __init__(
        self,
        bootstrap: str | None = None,
        *,
        settings: Settings | None = None,
        topics: Topics | None = None,
        buffer_size: int = 10_000,
        linger_ms: int = 20,
        max_batch_bytes: int = 512 * 1024,
        compression: str | None = None,
        warn_interval_s: float = 10.0,
        producer_options: dict[str, Any] | None = None,
    ) -> None:
        settings = settings or Settings.from_env()
        self._bootstrap = bootstrap or settings.kafka_bootstrap
        topics = topics or Topics.from_settings(settings)
        self._topic_of = {"usage": topics.usage, "candidates": topics.candidates, "entities": topics.entities}
        self._capacity = buffer_size
        self._linger_s = linger_ms / 1000
        self._options: dict[str, Any] = {
            "max_batch_size": max_batch_bytes,
            "compression_type": compression,
            **(producer_options or {}),
        }
        self._warn = _Throttle(warn_interval_s)
        self._buffer: deque[Message] = deque()
        self._partitioner = Partitioner()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._ready = asyncio.Event()
        self._closing = False
        self._finished = False
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._in_flight = 0

    # --- the gateway's side --------------------------------------------------------------------------------

    def publish(self, message: Message) -> bool:
        """Queue `message` for sending; never blocks or raises. False if dropped (buffer full, or closed)."""
        if self._closing or len(self._buffer) >= self._capacity:
            self.dropped += 1
            self._warn("drop", "usagestream publisher: buffer full or closed, %d events dropped so far", self.dropped)
            return False
        self._buffer.append(message)
        if not self._wake.is_set():
            self._wake.set()
        return True

    async def put(self, message: Message) -> None:
        """Queue `message`, waiting for room instead of dropping (for batch tools like the load generator)."""
        while len(self._buffer) >= self._capacity and not self._closing:
            self._room.clear()
            await self._room.wait()
        if not self.publish(message):
            raise StoreUnavailable("the publisher is closed")

    @property
    def pending(self) -> int:
        """Messages accepted but not yet acknowledged or failed."""
        return len(self._buffer) + self._in_flight

    def stats(self) -> dict[str, int]:
        return {"sent": self.sent, "dropped": self.dropped, "failed": self.failed, "pending": self.pending}

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self, *, wait_s: float | None = None) -> None:
        """Start the background sender. It connects (and reconnects) by itself; publish() works at once.

        With `wait_s`, wait that long for the first connection; StoreUnavailable if Kafka did not answer.
        """
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="usagestream-publisher")
        if wait_s is not None:
            try:
                await asyncio.wait_for(self._ready.wait(), wait_s)
            except TimeoutError:
                raise StoreUnavailable(f"Kafka at {self._bootstrap} did not answer within {wait_s} s") from None

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, send what is buffered (up to `timeout_s`), then stop; the rest count as failed."""
        self._closing = True
        self._wake.set()
        self._room.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), max(timeout_s, 1.0))
            self._producer = None
            await asyncio.sleep(0)  # let delivery callbacks scheduled by stop() count their batches
        self._finished = True  # from here on, late delivery callbacks must not count twice
        self.failed += len(self._buffer) + self._in_flight
        self._buffer.clear()
        self._in_flight = 0

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the background sender -----------------------------------------------------------------------------

    async def _run(self) -> None:
        producer = await self._connect()
        if producer is None:
            return
        while self._buffer or not self._closing:
            if not self._buffer:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._linger_s and len(self._buffer) < 1000 and not self._closing:
                await asyncio.sleep(self._linger_s)  # gather a batch: one request's events come in bursts
            batch = [self._buffer.popleft() for _ in range(min(len(self._buffer), _DRAIN_MAX))]
            self._room.set()
            await self._send(producer, batch)
        await producer.flush()

    async def _connect(self) -> AIOKafkaProducer | None:
        delay = 0.5
        while not self._closing:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                enable_idempotence=True,
                acks="all",
                linger_ms=int(self._linger_s * 1000),
                client_id="usagestream-publisher",
                **self._options,
            )
            try:
                await producer.start()
            except Exception as exc:  # any failure to connect: retry, the gateway must keep serving meanwhile
                self._warn(
                    "connect",
                    "usagestream publisher: Kafka at %s unreachable (%s), retrying",
                    self._bootstrap,
                    exc,
                )
                with contextlib.suppress(Exception):
                    await producer.stop()
                await self._sleep_unless_closing(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._producer = producer
            self._ready.set()
            return producer
        return None

    async def _sleep_unless_closing(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake_on_close(), delay)

    async def _wake_on_close(self) -> None:
        while not self._closing:
            self._wake.clear()
            await self._wake.wait()

    async def _send(self, producer: AIOKafkaProducer, batch: list[Message]) -> None:
        self._in_flight += len(batch)
        groups: dict[tuple[str, int], list[Message]] = {}
        try:
            counts = {kind: len(await producer.partitions_for(topic)) for kind, topic in self._topic_of.items()}
            for message in batch:
                topic = self._topic_of[message.kind]
                partition = self._partitioner(message.key, counts[message.kind])
                groups.setdefault((topic, partition), []).append(message)
        except Exception as exc:  # metadata unavailable: these messages cannot be placed
            self._settle(len(batch), exc)
            return
        for (topic, partition), messages in groups.items():
            await self._send_partition(producer, topic, partition, messages)

    async def _send_partition(
        self, producer: AIOKafkaProducer, topic: str, partition: int, messages: list[Message]
    ) -> None:
        start = 0
        while start < len(messages):
            builder = producer.create_batch()
            end = start
            while end < len(messages) and builder.append(
                key=messages[end].key, value=messages[end].value, timestamp=None
            ):
                end += 1
            if end == start:  # one message larger than a whole batch: Kafka would refuse it anyway
                self._settle(1, ValueError("message larger than max_batch_bytes"))
                start += 1
                continue
            await self._submit(producer, builder, topic, partition, end - start)
            start = end

    async def _submit(self, producer: AIOKafkaProducer, builder: Any, topic: str, partition: int, n: int) -> None:
        try:
            future = await producer.send_batch(builder, topic, partition=partition)
        except Exception as exc:  # the producer refused the batch (closed, or timed out waiting for room)
            self._settle(n, exc)
            return
        future.add_done_callback(self._delivered(n))

    def _delivered(self, n: int) -> Callable[[asyncio.Future[Any]], None]:
        def done(future: asyncio.Future[Any]) -> None:
            self._settle(n, asyncio.CancelledError() if future.cancelled() else future.exception())

        return done

    def _settle(self, n: int, exc: BaseException | None) -> None:
        if self._finished:
            return
        self._in_flight -= n
        if exc is None:
            self.sent += n
            return
        self.failed += n
        self._warn("fail", "usagestream publisher: %d events not delivered (%s), %d so far", n, exc, self.failed)
