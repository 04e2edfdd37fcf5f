"""The consumer of the two high-volume topics (usage, candidates): one aiokafka consumer, batches by `getmany`.

faust wraps every message in an Event and runs it through its conductor, stream and per-event ack; that capped the
worker far below what PostgreSQL takes (docs/benchmarks.md), and faust resumes fetching before it seeks to the
committed offsets (faust-streaming issues 216/217), which can skip a message at startup. This loop reads raw
records in batches and commits a batch's offsets only after `handle` returned, i.e. after the PostgreSQL commit
and the Redis sync (at least once; exactness comes from the seq fences in PostgreSQL and Redis, so a
redelivery changes nothing).

Rebalances: before partitions are revoked, the listener waits for the batch in flight to finish and commit (it is
bounded by `drain_timeout_s`); a batch that finishes after its partitions were revoked is not committed - the new
owner reads it again from the last committed offset and the fences make that harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from usagestream.settings import Settings
from usagestream.streams.kafka_io import Record
from usagestream.streams.worker_metrics import WorkerMetrics

log = logging.getLogger(__name__)

P = TypeVar("P")

# Fetch sizes: a batch of 5,000 ~1.1 KB messages is ~5.5 MB; let one fetch carry it (per partition 4 MB).
FETCH_MAX_BYTES = 64 * 1024 * 1024
MAX_PARTITION_FETCH_BYTES = 4 * 1024 * 1024
# A dead worker's partitions move after the session timeout; heartbeats run in aiokafka's background task.
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
# A batch stuck in a store outage keeps the consumer out of getmany; past this it leaves the group so that
# another worker can take its partitions (it rejoins when the batch is done).
MAX_POLL_INTERVAL_MS = 300_000
REBALANCE_TIMEOUT_MS = 30_000
# How long one poll waits while a batch is in the stores (or fetches are gathered): short, so that the next
# batch starts as soon as the previous one committed.
GATHER_POLL_MS = 5
# Messages prepared at a time while a batch is in the stores. Preparing holds the event loop; the batch in flight
# sends its next statement only when it gets the loop back, so a whole batch's fetch prepared in one go left
# PostgreSQL idle that long and the worker's thread idle afterwards. Small pieces, with the loop handed back
# after each, let the two alternate (docs/design.md "Gathering").
PREPARE_CHUNK = 200


def consumer_options(settings: Settings) -> dict[str, Any]:
    """The aiokafka consumer settings of the hot-topic consumer (one group shared by every worker)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": settings.consumer_group,
        "client_id": f"usagestream-{settings.consumer_group}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_bytes": FETCH_MAX_BYTES,
        "max_partition_fetch_bytes": MAX_PARTITION_FETCH_BYTES,
        "fetch_max_wait_ms": max(10, int(settings.batch_within_s * 1000)),
        "max_poll_records": settings.batch_size,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
        "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
        "rebalance_timeout_ms": REBALANCE_TIMEOUT_MS,
        # A subscribed topic created (or grown) after the worker started is seen within 30 s, not 5 minutes.
        "metadata_max_age_ms": 30_000,
    }


class BatchConsumer(Generic[P]):
    """Reads `topics` in the worker's consumer group; each fetch goes through `prepare` (CPU only: parsing) as it
    arrives, the fetches gathered while the previous batch was in the stores are merged into one batch
    (`merge`), then `apply` (the stores), then its offsets are committed.

    Batch n+1 is fetched and prepared while batch n waits on PostgreSQL and Redis; batches are applied and
    committed strictly one after the other, in fetch order.
    """

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        prepare: Callable[[list[Record]], P],
        apply: Callable[[P], Awaitable[None]],
        drain_timeout_s: float = 20.0,
        metrics: WorkerMetrics | None = None,
        merge: Callable[[list[P]], P] | None = None,
        make_consumer: Callable[..., AIOKafkaConsumer] = AIOKafkaConsumer,
    ) -> None:
        self.settings = settings
        self.topics = list(topics)
        self.prepare = prepare
        # How several prepared fetches become one batch; without it, each fetch is applied on its own.
        self.merge = merge
        self.apply = apply
        self.drain_timeout_s = drain_timeout_s
        self.metrics = metrics
        self.make_consumer = make_consumer  # the client, from consumer_options (a fake Kafka in unit tests)
        self._positions: dict[TopicPartition, int] = {}  # next offset to fetch, per partition (for the lag)
        self.consumer: AIOKafkaConsumer | None = None
        self.generation = 0  # bumped at every revocation: a batch fetched before it is not committed
        self._in_flight = asyncio.Lock()
        self._stopping = False
        self.task: asyncio.Task[None]

    def assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment()) if self.consumer is not None else set()

    async def start(self) -> None:
        """Join the group and start the fetch-handle-commit loop as a task (`stop` ends both)."""
        self.consumer = self.make_consumer(**consumer_options(self.settings))
        await self.consumer.start()
        self.consumer.subscribe(self.topics, listener=_Listener(self))
        self.task = asyncio.create_task(self._run(), name="usagestream-batch-consumer")

    async def stop(self) -> None:
        """Let the batch in flight finish (bounded), then leave the group so that the partitions move at once."""
        self._stopping = True
        drained = False
        try:
            await asyncio.wait_for(self._in_flight.acquire(), self.drain_timeout_s)
            drained = True
        except TimeoutError:
            log.warning("stopping with a batch still in flight; it is redelivered to the next owner")
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if drained:
            self._in_flight.release()
        if self.consumer is not None:
            await self.consumer.stop()

    async def _run(self) -> None:
        assert self.consumer is not None
        consumer = self.consumer
        pending: asyncio.Task[None] | None = None
        parts: list[P] = []  # fetches prepared while the batch before them was being applied
        offsets: dict[TopicPartition, int] = {}
        gathered = 0
        oldest: float | None = None  # the Kafka timestamp (s) of the gathered messages' oldest
        generation = self.generation
        try:
            while not self._stopping:
                # While a batch is in the stores, keep gathering: the next batch is whatever arrived meanwhile (up
                # to batch_size), so batches grow with the load and their fixed cost per transaction is shared by
                # more events; an idle worker applies each fetch at once. Once something is gathered, polls are
                # brief, so that the next batch starts soon after the one in flight is done; until then a poll
                # may wait long (it returns as soon as records come, and without them there is nothing to start).
                busy = pending is not None and not pending.done()
                records = await consumer.getmany(
                    timeout_ms=GATHER_POLL_MS if parts else 1000,
                    max_records=max(1, self.settings.batch_size - gathered),
                )
                if self.metrics is not None:
                    await self._report_lag(records)
                if records:
                    if parts and generation != self.generation:
                        # Fetched before a revocation: the partitions' owner reads those again. Keep only what
                        # was fetched after it (its positions start from the committed offsets).
                        parts, offsets, gathered, oldest = [], {}, 0, None
                    generation = self.generation
                    # aiokafka's records as they are (they have Record's fields): no copy per message.
                    fetched = [r for rs in records.values() for r in rs]
                    oldest = self._fetched_age(fetched, oldest)
                    chunked = busy and self.merge is not None
                    step = PREPARE_CHUNK if chunked else len(fetched)
                    for start in range(0, len(fetched), step):
                        parts.append(self.prepare(fetched[start : start + step]))
                        if chunked:
                            await asyncio.sleep(0)  # the batch in flight takes its turn (see PREPARE_CHUNK)
                    gathered += len(fetched)
                    offsets.update((tp, rs[-1].offset + 1) for tp, rs in records.items() if rs)
                full = gathered >= self.settings.batch_size or self.merge is None
                # Nothing gathered yet is no reason to wait for the batch in flight: aiokafka fetches a partition
                # again only once its fetched records were taken, so a consumer that stopped polling for a whole
                # apply left what arrived meanwhile at the broker, one more batch behind (docs/design.md
                # "Gathering").
                if pending is not None and (pending.done() or full):
                    await pending  # re-raises what `apply` raised
                    pending = None
                if parts and pending is None:
                    batch_parts, batch_offsets, batch_oldest = parts, offsets, oldest
                    parts, offsets, gathered, oldest = [], {}, 0, None
                    batch = batch_parts[0] if self.merge is None else self.merge(batch_parts)
                    pending = asyncio.create_task(
                        self._apply_and_commit(batch, batch_offsets, generation, batch_oldest)
                    )
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    def _fetched_age(self, fetched: Sequence[Record], oldest: float | None) -> float | None:
        """Report the age of a fetch's oldest message; returns the oldest timestamp (s) of the batch so far."""
        stamp = min(r.timestamp for r in fetched)
        if stamp < 0 or self.metrics is None:
            return oldest  # messages without a timestamp (or no metrics): nothing to report
        at = stamp / 1000
        self.metrics.event_age("fetched", time.time() - at)
        return at if oldest is None else min(oldest, at)

    def _age(self, stage: str, oldest: float | None) -> None:
        if oldest is not None and self.metrics is not None:
            self.metrics.event_age(stage, time.time() - oldest)

    async def _apply_and_commit(
        self, prepared: P, offsets: dict[TopicPartition, int], generation: int, oldest: float | None = None
    ) -> None:
        async with self._in_flight:
            if generation != self.generation or self._stopping:
                return  # fetched before a revocation (or a stop): the partitions' owner reads it again
            self._age("began", oldest)
            await self.apply(prepared)
            if generation == self.generation:
                await self._commit(offsets)
                self._age("committed", oldest)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self.consumer is not None
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced meanwhile: the applied batch is redelivered to the new owner and fenced there.
            log.warning("offsets not committed (%s); the batch will be redelivered", exc)
        except KafkaError as exc:
            log.warning("offset commit failed (%s: %s); the batch will be redelivered", type(exc).__name__, exc)

    async def _report_lag(self, records: dict[TopicPartition, list[Record]]) -> None:
        """Lag of every owned partition: highwater (from the last fetch) - position. The position comes from the
        records just returned, else from the last one seen; aiokafka's `position()` (a coroutine) is asked only
        for a partition fetched but not yet returned from (it does not wait: a fetched partition has one)."""
        assert self.consumer is not None and self.metrics is not None
        for tp, rs in records.items():
            if rs:
                self._positions[tp] = rs[-1].offset + 1
        generation = self.generation
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                continue
            position = self._positions.get(tp)
            if position is None:
                try:
                    position = await self.consumer.position(tp)
                except IllegalStateError:
                    return
                if generation != self.generation:
                    return  # revoked meanwhile: no gauge for a partition that is not ours any more
                self._positions[tp] = position
            self.metrics.lag(tp.topic, tp.partition, high - position)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        if self.metrics is not None:
            self.metrics.forget_partitions((tp.topic, tp.partition) for tp in revoked)
        self._positions.clear()  # the new assignment starts from the committed offsets: positions are re-read
        if not revoked:
            return
        try:
            # Waits for the batch in flight, which commits its own offsets while we are still a member.
            await asyncio.wait_for(self._in_flight.acquire(), self.drain_timeout_s)
        except TimeoutError:
            log.warning(
                "rebalance: the batch in flight did not finish in %.0fs; it will not be committed", self.drain_timeout_s
            )
            self.generation += 1
            return
        try:
            self.generation += 1
        finally:
            self._in_flight.release()
        log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BatchConsumer[Any]) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted((tp.topic, tp.partition) for tp in assigned))
