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
from typing import TypeVar

import asyncpg
import redis.exceptions

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
from usagestream.streams.kafka_io import Consumed

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


# A consumed message: the same shape the Kafka adapter reads.
RawMessage = Consumed


@dataclass
class Counters:
    consumed: int = 0
    applied: int = 0
    stale: int = 0
    dead_lettered: int = 0
    store_retries: int = 0
    batches: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


T = TypeVar("T")
DeadLetterSink = Callable[[RawMessage, str], Awaitable[None]]


class Pipeline:
    """Owns the stores of one worker; `process` is called by the agents with each batch."""

    def __init__(self, settings: Settings, pg: PgViews, live: RedisLive, dead_letter: DeadLetterSink) -> None:
        self.settings = settings
        self.pg = pg
        self.live = live
        self.dead_letter = dead_letter
        self.counters = Counters()
        # One batch, sweep or rebuild at a time in this process, so Redis syncs follow PostgreSQL commit order.
        self.lock = asyncio.Lock()
        self._last_beat = (time.monotonic(), 0)

    async def process(self, messages: Sequence[RawMessage]) -> None:
        self.counters.consumed += len(messages)
        self.counters.batches += 1
        self._heartbeat()
        usage: list[tuple[int, UsageEvent]] = []
        candidates: list[tuple[int, CandidateEvent]] = []
        entities: list[EntityEvent] = []
        parsed: list[tuple[RawMessage, object]] = []
        for msg in messages:
            try:
                ev = self._parse(msg)
            except InvalidEvent as exc:
                await self._reject(msg, exc.reason)
                continue
            parsed.append((msg, ev))
            if isinstance(ev, UsageEvent):
                usage.append((msg.partition, ev))
            elif isinstance(ev, CandidateEvent):
                candidates.append((msg.partition, ev))
            else:
                assert isinstance(ev, EntityEvent)
                entities.append(ev)
        if not parsed:
            return
        async with self.lock:
            try:
                await self._apply(usage, candidates, entities)
            except asyncpg.exceptions.DataError as exc:
                log.warning(
                    "batch refused by PostgreSQL (%s); applying it one event at a time", type(exc).__name__
                )
                await self._apply_one_by_one(parsed)

    def _heartbeat(self) -> None:
        """One log line every 10 s: the worker is alive, and how fast it goes."""
        now = time.monotonic()
        elapsed = now - self._last_beat[0]
        if elapsed < 10:
            return
        c = self.counters
        rate = (c.consumed - self._last_beat[1]) / elapsed
        log.info("heartbeat: consumed=%d applied=%d stale=%d dead_lettered=%d batches=%d retries=%d rate=%.0f/s"
                 " avg_batch=%.0f", c.consumed, c.applied, c.stale, c.dead_lettered, c.batches, c.store_retries,
                 rate, c.consumed / max(c.batches, 1))  # fmt: skip
        self._last_beat = (now, c.consumed)

    def _parse(self, msg: RawMessage) -> UsageEvent | CandidateEvent | EntityEvent:
        s = self.settings
        if msg.topic == s.topic_usage:
            return parse_usage(msg.key, msg.value)
        if msg.topic == s.topic_candidates:
            return parse_candidate(msg.key, msg.value)
        if msg.topic == s.topic_entities:
            return parse_entity(msg.key, msg.value)
        raise InvalidEvent(f"unexpected topic {msg.topic!r}")

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
                self.counters.store_retries += 1
                log.warning("store unavailable (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _reject(self, msg: RawMessage, reason: str) -> None:
        self.counters.dead_lettered += 1
        kind = reason.split(":")[0][:60]
        self.counters.by_reason[kind] = self.counters.by_reason.get(kind, 0) + 1
        log.warning("dead-lettered %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, reason)
        await self.dead_letter(msg, reason)
        await self._retry(lambda: self._count_dead_letter(msg.topic, reason))

    async def _count_dead_letter(self, topic: str, reason: str) -> None:
        await self.pg.count_dead_letter(topic, 1, reason)

    def _count(self, applied: Applied) -> None:
        self.counters.applied += applied.usage_applied + applied.candidates_applied + applied.entities_applied
        self.counters.stale += applied.usage_stale + applied.candidates_stale

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
