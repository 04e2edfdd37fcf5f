"""The worker's batch pipeline: raw Kafka messages -> parsed events -> PostgreSQL (one transaction) -> Redis.

Bad messages go to the dead-letter topic and are counted; store outages are retried with backoff and never
dead-letter a good event; a message whose data the database refuses (for example a number too large for its column)
is isolated by applying the batch one event at a time, and only that message is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar

import asyncpg
import redis.exceptions

from usagestream.batching import collapse
from usagestream.contract import (
    CandidateEvent,
    EntityEvent,
    InvalidEvent,
    UsageEvent,
    parse_candidate,
    parse_entity,
    parse_usage,
)
from usagestream.materializer.pg_views import Applied, PgViews
from usagestream.materializer.redis_views import RedisLive
from usagestream.settings import Settings
from usagestream.streams.kafka_io import Record

log = logging.getLogger(__name__)

# Infrastructure failures: wait and retry. Anything else raised by PostgreSQL for one batch is data it refuses.
TRANSIENT = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.TooManyConnectionsError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


# A consumed message: the Kafka adapter's Consumed, or aiokafka's ConsumerRecord (same fields).
RawMessage: TypeAlias = Record


@dataclass
class PipelineStats:
    """The pipeline's counting points (plain integers, updated in place; metrics exporters read them)."""

    consumed: int = 0  # messages handed to `process`
    applied: int = 0  # snapshots that changed PostgreSQL (usage, candidates, entities)
    superseded: int = 0  # older snapshots and duplicates dropped inside a batch before PostgreSQL
    stale: int = 0  # snapshots PostgreSQL already had at the same or a newer seq (redeliveries, reordering)
    dead_lettered: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)  # dead letters by the reason's first words
    store_retries: int = 0  # retries after a transient PostgreSQL / Redis error
    batches: int = 0
    last_batch_size: int = 0
    apply_ns_total: int = 0  # time in the PostgreSQL transaction + Redis sync of every batch
    apply_ns_last: int = 0


@dataclass
class Prepared:
    """A batch parsed and collapsed, before any store is touched (CPU only: it overlaps the previous batch's I/O)."""

    size: int  # messages in the batch
    bad: list[tuple[RawMessage, str]]  # messages that break the contract, with the reason
    parsed: list[tuple[RawMessage, object]]  # every good message with its event (for one-by-one isolation)
    usage: list[tuple[int, UsageEvent]]  # newest snapshot per usage id, with its source partition
    candidates: list[tuple[int, CandidateEvent]]  # newest snapshot per candidate id
    entities: list[EntityEvent]
    superseded: int  # usage and candidate snapshots dropped for a newer one (or a duplicate) in the batch


def prepare(settings: Settings, messages: Sequence[RawMessage]) -> Prepared:
    """Validate and parse every message, then keep the highest seq per usage id and per candidate id.

    Every message is parsed, superseded ones too, so that a bad message is dead-lettered whatever batch it
    happens to share with a newer snapshot."""
    usage: list[tuple[int, UsageEvent]] = []
    candidates: list[tuple[int, CandidateEvent]] = []
    entities: list[EntityEvent] = []
    parsed: list[tuple[RawMessage, object]] = []
    bad: list[tuple[RawMessage, str]] = []
    topics = {settings.topic_usage: parse_usage, settings.topic_candidates: parse_candidate,
              settings.topic_entities: parse_entity}  # fmt: skip
    for msg in messages:
        parse = topics.get(msg.topic)
        try:
            if parse is None:
                raise InvalidEvent(f"unexpected topic {msg.topic!r}")
            ev = parse(msg.key, msg.value)
        except InvalidEvent as exc:
            bad.append((msg, exc.reason))
            continue
        parsed.append((msg, ev))
        if type(ev) is UsageEvent:
            usage.append((msg.partition, ev))
        elif type(ev) is CandidateEvent:
            candidates.append((msg.partition, ev))
        else:
            assert isinstance(ev, EntityEvent)
            entities.append(ev)
    usage, dropped_usage = collapse(usage, _usage_id, _seq)
    candidates, dropped_candidates = collapse(candidates, _candidate_id, _seq)
    return Prepared(len(messages), bad, parsed, usage, candidates, entities, dropped_usage + dropped_candidates)


T = TypeVar("T")
DeadLetterSink = Callable[[RawMessage, str], Awaitable[None]]


class Pipeline:
    """Owns the stores of one worker; `process` is called by the agents with each batch."""

    def __init__(self, settings: Settings, pg: PgViews, live: RedisLive, dead_letter: DeadLetterSink) -> None:
        self.settings = settings
        self.pg = pg
        self.live = live
        self.dead_letter = dead_letter
        self.stats = PipelineStats()
        # One batch, sweep or rebuild at a time in this process, so Redis syncs follow PostgreSQL commit order.
        self.lock = asyncio.Lock()
        self._last_beat = (time.monotonic(), 0)

    async def process(self, messages: Sequence[RawMessage]) -> None:
        """Prepare and apply one batch (the entities agent and tests; the batch consumer calls the two steps)."""
        await self.apply(prepare(self.settings, messages))

    async def apply(self, batch: Prepared) -> None:
        """Dead-letter the batch's bad messages, apply the rest in one PostgreSQL transaction, then sync Redis.

        Returns once both stores have the batch: only then may its offsets be committed."""
        st = self.stats
        st.consumed += batch.size
        st.batches += 1
        st.last_batch_size = batch.size
        st.superseded += batch.superseded
        self._heartbeat()
        for msg, reason in batch.bad:
            await self._reject(msg, reason)
        if not batch.parsed:
            return
        async with self.lock:
            started = time.perf_counter_ns()
            try:
                await self._apply(batch.usage, batch.candidates, batch.entities)
            except asyncpg.exceptions.DataError as exc:
                log.warning(
                    "batch refused by PostgreSQL (%s); applying it one event at a time", type(exc).__name__
                )
                await self._apply_one_by_one(batch.parsed)
            st.apply_ns_last = time.perf_counter_ns() - started
            st.apply_ns_total += st.apply_ns_last

    def _heartbeat(self) -> None:
        """One log line every 10 s: the worker is alive, and how fast it goes."""
        now = time.monotonic()
        elapsed = now - self._last_beat[0]
        if elapsed < 10:
            return
        c = self.stats
        rate = (c.consumed - self._last_beat[1]) / elapsed
        log.info("heartbeat: consumed=%d applied=%d superseded=%d stale=%d dead_lettered=%d batches=%d retries=%d"
                 " rate=%.0f/s avg_batch=%.0f avg_apply_ms=%.1f", c.consumed, c.applied, c.superseded, c.stale,
                 c.dead_lettered, c.batches, c.store_retries, rate, c.consumed / max(c.batches, 1),
                 c.apply_ns_total / 1e6 / max(c.batches, 1))  # fmt: skip
        self._last_beat = (now, c.consumed)

    async def _apply(
        self,
        usage: Sequence[tuple[int, UsageEvent]],
        candidates: Sequence[tuple[int, CandidateEvent]],
        entities: Sequence[EntityEvent],
    ) -> None:
        applied = await self._retry(lambda: self.pg.apply(usage, candidates, entities))
        await self._retry(lambda: self.live.sync(applied.usage_states.values()))
        self._count(applied)

    async def _apply_one_by_one(self, parsed: Sequence[tuple[RawMessage, object]]) -> None:
        for msg, ev in parsed:
            u = [(msg.partition, ev)] if isinstance(ev, UsageEvent) else []
            c = [(msg.partition, ev)] if isinstance(ev, CandidateEvent) else []
            e = [ev] if isinstance(ev, EntityEvent) else []
            try:
                await self._apply(u, c, e)
            except asyncpg.exceptions.DataError as exc:
                await self._reject(msg, f"rejected by PostgreSQL: {type(exc).__name__}: {exc}"[:500])

    async def _retry(self, op: Callable[[], Awaitable[T]]) -> T:
        delay = 0.2
        while True:
            try:
                return await op()
            except TRANSIENT as exc:
                self.stats.store_retries += 1
                log.warning("store unavailable (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _reject(self, msg: RawMessage, reason: str) -> None:
        self.stats.dead_lettered += 1
        kind = reason.split(":")[0][:60]
        self.stats.by_reason[kind] = self.stats.by_reason.get(kind, 0) + 1
        log.warning("dead-lettered %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, reason)
        await self.dead_letter(msg, reason)
        await self._retry(lambda: self._count_dead_letter(msg.topic, reason))

    async def _count_dead_letter(self, topic: str, reason: str) -> None:
        await self.pg.count_dead_letter(topic, 1, reason)

    def _count(self, applied: Applied) -> None:
        self.stats.applied += applied.usage_applied + applied.candidates_applied + applied.entities_applied
        self.stats.stale += applied.usage_stale + applied.candidates_stale

    async def sweep(self, partitions: Sequence[int]) -> None:
        """Periodic upkeep: rebuild the live set of partitions Redis forgot, then enforce the active timeout."""
        if not partitions:
            return
        async with self.lock:
            missing = await self._retry(lambda: self.live.missing_partitions(partitions))
            if missing:
                states = await self._retry(lambda: self.pg.active_states(missing))
                await self._retry(lambda: self.live.rebuild(missing, states))
            applied = await self._retry(lambda: self.pg.time_out(partitions))
            if applied.usage_states:
                await self._retry(lambda: self.live.sync(applied.usage_states.values()))


def _usage_id(item: tuple[int, UsageEvent]) -> str:
    return item[1].usage_id


def _candidate_id(item: tuple[int, CandidateEvent]) -> str:
    return item[1].candidate_id


def _seq(item: tuple[int, UsageEvent | CandidateEvent]) -> int:
    return item[1].seq
