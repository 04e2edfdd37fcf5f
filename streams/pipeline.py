"""The worker's batch pipeline: raw Kafka messages -> parsed events -> PostgreSQL (one transaction) -> Redis.

Bad messages go to the dead-letter topic and are counted; store outages are retried with backoff and never
dead-letter a good event; a message whose data the database refuses (for example a number too large for its column)
is isolated by applying the batch one event at a time, and only that message is dead-lettered. Events of requests
created before retention's records cut-off are dead-lettered too (`beyond_retention`: their records are gone).

Every message is accounted for once in the worker's metrics, per topic: consumed = applied + skipped (duplicate,
stale, superseded) + dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter
from typing import Any, TypeAlias, TypeVar

import asyncpg
import redis.exceptions

from usagestream.batching import collapse
from usagestream.contract import (
    CandidateEvent,
    EntityEvent,
    UsageEvent,
    parse_candidate,
    parse_entity,
    parse_usage,
)
from usagestream.errors import InvalidEvent
from usagestream.metrics import store_of
from usagestream.ports import Applied, LiveSet, Views
from usagestream.settings import Settings
from usagestream.streams.kafka_io import Record
from usagestream.streams.worker_metrics import WorkerMetrics

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


# Backoff of a store call that failed on an outage: the first wait, doubled after each failure up to the last.
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0

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
    consumed: dict[str, int] = field(default_factory=dict)  # messages per topic, good or bad
    # Per topic, the snapshots the collapse dropped: (same seq as the kept one, an older seq).
    dropped: dict[str, tuple[int, int]] = field(default_factory=dict)


def prepare(settings: Settings, messages: Sequence[RawMessage]) -> Prepared:
    """Validate and parse every message, then keep the highest seq per usage id and per candidate id.

    Every message is parsed, superseded ones too, so that a bad message is dead-lettered whatever batch it
    happens to share with a newer snapshot."""
    usage: list[tuple[int, UsageEvent]] = []
    candidates: list[tuple[int, CandidateEvent]] = []
    entities: list[EntityEvent] = []
    parsed: list[tuple[RawMessage, object]] = []
    bad: list[tuple[RawMessage, str]] = []
    topics = {
        settings.topic_usage: parse_usage,
        settings.topic_candidates: parse_candidate,
        settings.topic_entities: parse_entity,
    }
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
    consumed = {
        t: n
        for t, n in (
            (settings.topic_usage, len(usage)),
            (settings.topic_candidates, len(candidates)),
            (settings.topic_entities, len(entities)),
        )
        if n
    }
    for msg, _reason in bad:
        consumed[msg.topic] = consumed.get(msg.topic, 0) + 1
    dropped: dict[str, tuple[int, int]] = {}
    kept_usage, dropped_usage = collapse(usage, _usage_id, _seq)
    if dropped_usage:
        dropped[settings.topic_usage] = _split_dropped(usage, kept_usage, "usage_id", dropped_usage)
    kept_candidates, dropped_candidates = collapse(candidates, _candidate_id, _seq)
    if dropped_candidates:
        dropped[settings.topic_candidates] = _split_dropped(
            candidates, kept_candidates, "candidate_id", dropped_candidates
        )
    return Prepared(
        len(messages),
        bad,
        parsed,
        kept_usage,
        candidates=kept_candidates,
        entities=entities,
        superseded=dropped_usage + dropped_candidates,
        consumed=consumed,
        dropped=dropped,
    )


def merge(settings: Settings, parts: Sequence[Prepared]) -> Prepared:
    """One batch from batches prepared in fetch order (the batch consumer parses each fetch as it arrives and
    applies what gathered meanwhile at once): as `prepare` of all their messages would have made it."""
    if len(parts) == 1:
        return parts[0]
    usage = [item for part in parts for item in part.usage]
    candidates = [item for part in parts for item in part.candidates]
    consumed: dict[str, int] = {}
    dropped: dict[str, tuple[int, int]] = {}
    for part in parts:
        for topic, n in part.consumed.items():
            consumed[topic] = consumed.get(topic, 0) + n
        for topic, (same, older) in part.dropped.items():
            was = dropped.get(topic, (0, 0))
            dropped[topic] = (was[0] + same, was[1] + older)
    kept_usage, dropped_usage = collapse(usage, _usage_id, _seq)
    kept_candidates, dropped_candidates = collapse(candidates, _candidate_id, _seq)
    for topic, items, kept, ident, n in (
        (settings.topic_usage, usage, kept_usage, "usage_id", dropped_usage),
        (settings.topic_candidates, candidates, kept_candidates, "candidate_id", dropped_candidates),
    ):
        if n:
            same, older = _split_dropped(items, kept, ident, n)
            was = dropped.get(topic, (0, 0))
            dropped[topic] = (was[0] + same, was[1] + older)
    return Prepared(
        sum(part.size for part in parts),
        [bad for part in parts for bad in part.bad],
        [item for part in parts for item in part.parsed],
        kept_usage,
        candidates=kept_candidates,
        entities=[ev for part in parts for ev in part.entities],
        superseded=sum(part.superseded for part in parts) + dropped_usage + dropped_candidates,
        consumed=consumed,
        dropped=dropped,
    )


def _split_dropped(
    items: Sequence[tuple[int, Any]], kept: Sequence[tuple[int, Any]], ident: str, dropped: int
) -> tuple[int, int]:
    """(duplicates, older snapshots) among the `dropped` items: a duplicate has the seq of its id's kept item."""
    get = attrgetter(ident)
    kept_seq = {get(ev): ev.seq for _, ev in kept}
    same = sum(1 for _, ev in items if ev.seq == kept_seq[get(ev)]) - len(kept)
    return same, dropped - same


T = TypeVar("T")
DeadLetterSink = Callable[[RawMessage, str], Awaitable[None]]


class Pipeline:
    """Owns the stores of one worker; `process` is called by the agents with each batch.

    The stores are ports (usagestream/ports.py): PgViews and RedisLive in the worker, in-memory fakes in unit
    tests, which also pass a `sleep` that does not wait for the retries' backoff."""

    def __init__(
        self,
        settings: Settings,
        pg: Views,
        live: LiveSet,
        dead_letter: DeadLetterSink,
        metrics: WorkerMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.pg = pg
        self.live = live
        self.dead_letter = dead_letter
        self.metrics = metrics if metrics is not None else WorkerMetrics()
        self.sleep = sleep
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
        for topic, n in batch.consumed.items():
            self.metrics.consumed(topic, n)
        self._heartbeat()
        for msg, reason in batch.bad:
            await self._reject(msg, reason)
        if not batch.parsed:
            return
        async with self.lock:
            started = time.perf_counter_ns()
            try:
                await self._apply(batch.usage, batch.candidates, batch.entities, batch.parsed, batch.dropped)
            except asyncpg.exceptions.DataError as exc:
                log.warning("batch refused by PostgreSQL (%s); applying it one event at a time", type(exc).__name__)
                await self._apply_one_by_one(batch.parsed)
            st.apply_ns_last = time.perf_counter_ns() - started
            st.apply_ns_total += st.apply_ns_last
        self.metrics.batch(batch.size, st.apply_ns_last / 1e9)

    def _heartbeat(self) -> None:
        """One log line every 10 s: the worker is alive, and how fast it goes."""
        now = time.monotonic()
        elapsed = now - self._last_beat[0]
        if elapsed < 10:
            return
        c = self.stats
        rate = (c.consumed - self._last_beat[1]) / elapsed
        log.info(
            "heartbeat: consumed=%d applied=%d superseded=%d stale=%d dead_lettered=%d batches=%d retries=%d"
            " rate=%.0f/s avg_batch=%.0f avg_apply_ms=%.1f",
            c.consumed,
            c.applied,
            c.superseded,
            c.stale,
            c.dead_lettered,
            c.batches,
            c.store_retries,
            rate,
            c.consumed / max(c.batches, 1),
            c.apply_ns_total / 1e6 / max(c.batches, 1),
        )
        self._last_beat = (now, c.consumed)

    async def _apply(
        self,
        usage: Sequence[tuple[int, UsageEvent]],
        candidates: Sequence[tuple[int, CandidateEvent]],
        entities: Sequence[EntityEvent],
        parsed: Sequence[tuple[RawMessage, object]],
        dropped: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        """Apply, sync Redis, count; then dead-letter the messages of requests beyond retention (`parsed` holds
        every message the events came from; `dropped` what the batch's collapse dropped, per topic)."""
        applied = await self._retry(lambda: self.pg.apply(usage, candidates, entities))
        await self._retry(lambda: self.live.sync(applied.usage_states.values()))
        skipped = {topic: list(pair) for topic, pair in (dropped or {}).items()}
        late = _late_messages(applied.beyond_retention, parsed, skipped) if applied.beyond_retention else []
        self._count(applied, usage, len(entities), skipped)
        if late:
            await self._reject_many(late)

    async def _apply_one_by_one(self, parsed: Sequence[tuple[RawMessage, object]]) -> None:
        for msg, ev in parsed:
            u = [(msg.partition, ev)] if isinstance(ev, UsageEvent) else []
            c = [(msg.partition, ev)] if isinstance(ev, CandidateEvent) else []
            e = [ev] if isinstance(ev, EntityEvent) else []
            try:
                await self._apply(u, c, e, [(msg, ev)])
            except asyncpg.exceptions.DataError as exc:
                await self._reject(msg, f"rejected by PostgreSQL: {type(exc).__name__}: {exc}"[:500])

    async def _retry(self, op: Callable[[], Awaitable[T]]) -> T:
        delay = RETRY_FIRST_S
        while True:
            try:
                return await op()
            except TRANSIENT as exc:
                self.stats.store_retries += 1
                self.metrics.store_error(exc)
                self.metrics.store_retry(store_of(exc))
                log.warning("store unavailable (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                await self.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _dead_lettered(self, msg: RawMessage, reason: str) -> None:
        self.stats.dead_lettered += 1
        kind = reason.split(":")[0][:60]
        self.stats.by_reason[kind] = self.stats.by_reason.get(kind, 0) + 1
        self.metrics.dead_lettered(msg.topic, reason)

    async def _reject(self, msg: RawMessage, reason: str) -> None:
        self._dead_lettered(msg, reason)
        log.warning("dead-lettered %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, reason)
        await self.dead_letter(msg, reason)
        await self._retry(lambda: self._count_dead_letter(msg.topic, reason))

    async def _reject_many(self, rejected: Sequence[tuple[RawMessage, str]]) -> None:
        """Dead-letter many messages at once (a redelivered old history can hold thousands): sent concurrently,
        counted in PostgreSQL once per topic, one log line."""
        by_topic: dict[str, tuple[int, str]] = {}
        for msg, reason in rejected:
            self._dead_lettered(msg, reason)
            by_topic[msg.topic] = (by_topic.get(msg.topic, (0, ""))[0] + 1, reason)
        first, reason = rejected[0]
        log.warning(
            "dead-lettered %d messages, first %s[%d]@%d: %s",
            len(rejected),
            first.topic,
            first.partition,
            first.offset,
            reason,
        )
        await asyncio.gather(*(self.dead_letter(msg, reason) for msg, reason in rejected))
        for topic, (n, last) in by_topic.items():
            await self._retry(partial(self.pg.count_dead_letter, topic, n, last))

    async def _count_dead_letter(self, topic: str, reason: str) -> None:
        await self.pg.count_dead_letter(topic, 1, reason)

    def _count(
        self,
        applied: Applied,
        usage: Sequence[tuple[int, UsageEvent]],
        entities: int,
        skipped: dict[str, list[int]],
    ) -> None:
        """Stats and metrics of a committed batch. `skipped` holds, per topic, [duplicates, older snapshots]
        dropped before PostgreSQL; the fence's skips are added here (a usage skip is a duplicate when the stored
        seq equals the event's; PostgreSQL's counts do not tell that apart for candidates and entities, whose
        fence skips are all counted stale)."""
        self.stats.applied += applied.usage_applied + applied.candidates_applied + applied.entities_applied
        self.stats.stale += applied.usage_stale + applied.candidates_stale
        s, m = self.settings, self.metrics
        duplicates = 0
        if applied.usage_stale:  # stored seq == event seq: applied now, or a duplicate
            states = applied.usage_states
            same = sum(1 for _, ev in usage if (st := states.get(ev.usage_id)) is not None and st["seq"] == ev.seq)
            duplicates = min(max(same - applied.usage_applied, 0), applied.usage_stale)
        outcome = (
            (s.topic_usage, applied.usage_applied, duplicates, applied.usage_stale - duplicates),
            (s.topic_candidates, applied.candidates_applied, 0, applied.candidates_stale),
            (s.topic_entities, applied.entities_applied, 0, entities - applied.entities_applied),
        )
        for topic, n_applied, n_duplicate, n_stale in outcome:
            before = skipped.get(topic, (0, 0))
            for reason, n in (("duplicate", n_duplicate + before[0]), ("stale", n_stale), ("superseded", before[1])):
                if n:
                    m.skipped(topic, reason, n)
            if n_applied:
                m.applied(topic, n_applied)

    async def sweep(self, partitions: Sequence[int]) -> None:
        """Periodic upkeep: rebuild the live set of partitions Redis forgot, then enforce the active timeout."""
        if not partitions:
            return
        async with self.lock:
            missing = await self._retry(lambda: self.live.missing_partitions(partitions))
            if missing:
                states = await self._retry(lambda: self.pg.active_states(missing))
                await self._retry(lambda: self.live.rebuild(missing, states))
                self.metrics.redis_rebuilt(len(missing))
            applied = await self._retry(lambda: self.pg.time_out(partitions))
            if applied.usage_states:
                await self._retry(lambda: self.live.sync(applied.usage_states.values()))


def _late_messages(
    late: Sequence[tuple[int, UsageEvent | CandidateEvent]],
    parsed: Sequence[tuple[RawMessage, object]],
    skipped: dict[str, list[int]],
) -> list[tuple[RawMessage, str]]:
    """Every message of the batch whose request (or candidate) PostgreSQL refused as beyond retention, with its
    dead-letter reason. Those the collapse had dropped are taken off `skipped` (they are dead letters now): per
    id, the first message with the kept seq is the one that reached PostgreSQL (the collapse keeps the first)."""
    kept_seq = {_ident(ev): ev.seq for _, ev in late}
    reached: set[tuple[str, str]] = set()
    out = []
    for msg, ev in parsed:
        if not isinstance(ev, UsageEvent | CandidateEvent):
            continue
        key = _ident(ev)
        seq = kept_seq.get(key)
        if seq is None:
            continue
        created = ev.usage.created_at if isinstance(ev, UsageEvent) else ev.candidate.created_at
        reason = f"beyond_retention: {key[0]} {key[1]} created at {created.isoformat()}, before the records"
        out.append((msg, reason + " cut-off of retention (its records are dropped: it can no longer be applied)"))
        if ev.seq == seq and key not in reached:
            reached.add(key)
        elif msg.topic in skipped:
            skipped[msg.topic][0 if ev.seq == seq else 1] -= 1
    return out


def _ident(ev: UsageEvent | CandidateEvent) -> tuple[str, str]:
    return ("usage", ev.usage_id) if isinstance(ev, UsageEvent) else ("candidate", ev.candidate_id)


def _usage_id(item: tuple[int, UsageEvent]) -> str:
    return item[1].usage_id


def _candidate_id(item: tuple[int, CandidateEvent]) -> str:
    return item[1].candidate_id


def _seq(item: tuple[int, UsageEvent | CandidateEvent]) -> int:
    return item[1].seq
