"""In-memory implementations of the pipeline's ports (usagestream/ports.py): the views (PgViews) and the live set
(RedisLive), with failures a test can schedule, and a dead-letter sink that keeps what it was sent.

They follow the real adapters rule for rule (the seq fences, the stale counts, the retention cut-off, the time-out,
the tombstone) and pass the same contract cases (store_contract.py); the aggregates are summed with the core's
own Deltas, as PgViews spreads them in SQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import asyncpg

from usagestream.contract import ACTIVE_STATUSES, CandidateEvent, EntityEvent, UsageEvent
from usagestream.contract import UsageSnapshot as Snapshot
from usagestream.live import live_item, remove_message
from usagestream.ports import Applied, State
from usagestream.settings import Settings
from usagestream.stats import EXACT, TIMEOUT_MESSAGE, CandidateFacts, Deltas, UsageFacts, timed_out
from usagestream.streams.kafka_io import Record

Vector = list[int | Decimal]


@dataclass(frozen=True)
class Fault:
    error: BaseException
    after_commit: bool  # raised once the call's effect is in place (the answer lost after the commit)


class Faults:
    """Failures scheduled on a fake's calls: `fail("apply", times=2)` makes the next two `apply` calls raise."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()  # every call, by operation
        self.raised: Counter[str] = Counter()
        self.on_raise: Callable[[str], None] | None = None  # observes the world at the instant of a failure
        self._plan: dict[str, deque[Fault]] = defaultdict(deque)

    def fail(self, op: str, times: int = 1, error: BaseException | None = None, after_commit: bool = False) -> None:
        fault = Fault(error if error is not None else ConnectionRefusedError(f"{op}: connection refused"), after_commit)
        self._plan[op].extend([fault] * times)

    def before(self, op: str) -> None:
        self.calls[op] += 1
        self._raise_if(op, after_commit=False)

    def after(self, op: str) -> None:
        self._raise_if(op, after_commit=True)

    def _raise_if(self, op: str, after_commit: bool) -> None:
        plan = self._plan[op]
        if plan and plan[0].after_commit == after_commit:
            self.raised[op] += 1
            if self.on_raise is not None:
                self.on_raise(op)
            raise plan.popleft().error


def state_of(seq: int, partition: int, snapshot: Snapshot) -> dict[str, Any]:
    """A request's state as the views return it: its record's fields, its seq and source partition."""
    return {**vars(snapshot), "seq": seq, "kafka_partition": partition}


class MemoryViews:
    """The Views port in memory (materializer/write/pg_views.py's PgViews, rule for rule)."""

    def __init__(self, settings: Settings, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.now = now
        self.records: dict[str, tuple[int, int, Snapshot]] = {}  # usage id -> (seq, partition, record)
        self.candidates: dict[str, tuple[int, CandidateFacts]] = {}
        self.entities: dict[tuple[str, str], tuple[int, bool, Mapping[str, Any] | None]] = {}
        self.usage_agg: dict[tuple[str, str, int, datetime], Vector] = {}
        self.attempt_agg: dict[tuple[str, int, datetime], Vector] = {}
        self.dead_letters: dict[str, tuple[int, str]] = {}  # topic -> (count, last reason)
        self.records_cutoff: datetime | None = None  # retention's cut-off (meta.records_cutoff)
        # Usage ids whose batch PostgreSQL refuses as a whole (a DataError, as for a number too large for its column)
        self.refused: set[str] = set()
        self.faults = Faults()

    async def apply(
        self,
        usage: Sequence[tuple[int, UsageEvent]],
        candidates: Sequence[tuple[int, CandidateEvent]],
        entities: Sequence[EntityEvent] = (),
    ) -> Applied:
        self.faults.before("apply")
        refused = sorted(self.refused & {ev.usage_id for _, ev in usage})
        if refused:
            raise asyncpg.exceptions.DataError(f"numeric field overflow (usage id {refused[0]})")
        out = Applied()
        usage, late_usage = self._split(usage, lambda ev: ev.usage.created_at)
        candidates, late_candidates = self._split(candidates, lambda ev: ev.candidate.created_at)
        out.beyond_retention = [*late_usage, *late_candidates]
        deltas = Deltas(self.settings.tz)
        self._usage(usage, deltas, out)
        self._candidates(candidates, deltas, out)
        self._add(deltas)
        out.entities_applied = self._entities(entities)
        self.faults.after("apply")
        return out

    def _split(
        self, events: Sequence[tuple[int, Any]], created_at: Callable[[Any], datetime]
    ) -> tuple[list[tuple[int, Any]], list[tuple[int, Any]]]:
        """(events at or after the records cut-off, events before it)."""
        cut = self.records_cutoff
        kept = [item for item in events if cut is None or created_at(item[1]) >= cut]
        return kept, [item for item in events if cut is not None and created_at(item[1]) < cut]

    def _usage(self, events: Sequence[tuple[int, UsageEvent]], deltas: Deltas, out: Applied) -> None:
        latest = _latest(events, lambda ev: ev.usage_id)
        for usage_id, (partition, ev) in latest.items():
            old = self.records.get(usage_id)
            if old is not None and old[0] >= ev.seq:
                out.usage_stale += 1
                out.usage_states[usage_id] = state_of(*old)
                continue
            deltas.apply_usage(UsageFacts.of(old[2]) if old else None, UsageFacts.of(ev.usage))
            self.records[usage_id] = (ev.seq, partition, ev.usage)
            out.usage_states[usage_id] = state_of(ev.seq, partition, ev.usage)
            out.usage_applied += 1
        out.usage_stale += len(events) - len(latest)

    def _candidates(self, events: Sequence[tuple[int, CandidateEvent]], deltas: Deltas, out: Applied) -> None:
        applied = 0
        for cid, (_partition, ev) in _latest(events, lambda ev: ev.candidate_id).items():
            old = self.candidates.get(cid)
            if old is not None and old[0] >= ev.seq:
                continue
            new = CandidateFacts.of(ev.candidate)
            deltas.apply_candidate(old[1] if old else None, new)
            self.candidates[cid] = (ev.seq, new)
            applied += 1
        out.candidates_applied += applied
        out.candidates_stale += len(events) - applied

    def _entities(self, events: Sequence[EntityEvent]) -> int:
        latest: dict[tuple[str, str], EntityEvent] = {}
        for ev in events:  # a tombstone (seq None) is the newest word on its key within the batch
            cur = latest.get((ev.entity, ev.id))
            if cur is None or ev.seq is None or (cur.seq is not None and ev.seq > cur.seq):
                latest[(ev.entity, ev.id)] = ev
        applied = 0
        for key, ev in sorted(latest.items()):
            old = self.entities.get(key)
            if ev.seq is None:
                self.entities[key] = (old[0], True, old[2]) if old else (0, True, None)
            elif old is None or ev.seq > old[0]:
                data = ev.data if ev.data is not None else (old[2] if old else None)
                self.entities[key] = (ev.seq, ev.deleted, data)
            else:
                continue
            applied += 1
        return applied

    def _add(self, deltas: Deltas) -> None:
        with localcontext(EXACT):
            for key, vec in deltas.usage.items():
                self.usage_agg[key] = [a + b for a, b in zip(self.usage_agg.get(key, [0] * len(vec)), vec, strict=True)]
            for akey, vec in deltas.attempts.items():
                was = self.attempt_agg.get(akey, [0] * len(vec))
                self.attempt_agg[akey] = [a + b for a, b in zip(was, vec, strict=True)]

    async def time_out(self, partitions: Sequence[int]) -> Applied:
        out = Applied()
        if not partitions:
            return out
        self.faults.before("time_out")
        timeout = timedelta(seconds=self.settings.active_timeout_s)
        due = sorted(
            usage_id
            for usage_id, (_seq, partition, rec) in self.records.items()
            if partition in partitions and rec.status in ACTIVE_STATUSES and rec.created_at < self.now() - timeout
        )[:10000]
        deltas = Deltas(self.settings.tz)
        for usage_id in due:
            seq, partition, rec = self.records[usage_id]
            deltas.apply_usage(UsageFacts.of(rec), timed_out(UsageFacts.of(rec)))
            rec = replace(
                rec,
                status="failed",
                status_code=504,
                error_message=TIMEOUT_MESSAGE,
                finalized_at=rec.created_at + timeout,
            )
            self.records[usage_id] = (seq, partition, rec)
            out.usage_states[usage_id] = state_of(seq, partition, rec)
        self._add(deltas)
        out.usage_applied = len(due)
        self.faults.after("time_out")
        return out

    async def active_states(self, partitions: Sequence[int]) -> list[State]:
        self.faults.before("active_states")
        return [
            state_of(*stored)
            for stored in self.records.values()
            if stored[1] in partitions and stored[2].status in ACTIVE_STATUSES
        ]

    async def count_dead_letter(self, topic: str, count: int, last_reason: str) -> None:
        self.faults.before("count_dead_letter")
        self.dead_letters[topic] = (self.dead_letters.get(topic, (0, ""))[0] + count, last_reason[:1000])
        self.faults.after("count_dead_letter")

    def aggregates(self) -> dict[tuple[str, str, int, datetime], tuple[int | Decimal, ...]]:
        """The usage aggregates' non-zero rows, as usage_agg holds them."""
        return {key: tuple(vec) for key, vec in self.usage_agg.items() if any(vec)}

    def attempts(self) -> dict[tuple[str, int, datetime], tuple[int | Decimal, ...]]:
        return {key: tuple(vec) for key, vec in self.attempt_agg.items() if any(vec)}


def _latest(events: Iterable[tuple[int, Any]], ident: Callable[[Any], str]) -> dict[str, tuple[int, Any]]:
    """Per id, the (partition, event) with the highest seq; the first one wins a tie."""
    best: dict[str, tuple[int, Any]] = {}
    for partition, ev in events:
        cur = best.get(ident(ev))
        if cur is None or ev.seq > cur[1].seq:
            best[ident(ev)] = (partition, ev)
    return best


class MemoryLive:
    """The LiveSet port in memory (materializer/write/redis_live.py's RedisLive and its Lua script, rule for rule)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}  # usage id -> live item (JSON-ready)
        self.held: set[int] = set()  # partitions whose items are loaded (Redis's live:ready:<p> flags)
        self.published: list[dict[str, Any]] = []  # the change channel's messages, in order
        self.faults = Faults()

    async def sync(self, states: Iterable[State]) -> int:
        self.faults.before("sync")
        changed = self._sync(states)
        self.faults.after("sync")
        return changed

    def _sync(self, states: Iterable[State]) -> int:
        changed = 0
        for state in states:
            usage_id, item = state["id"], live_item(state)
            cur = self.items.get(usage_id)
            if cur is not None and cur["seq"] > state["seq"]:
                continue
            if item is not None and cur != item:
                self.items[usage_id] = item
                self.published.append({"type": "upsert", "item": item})
            elif item is None and cur is not None:
                del self.items[usage_id]
                self.published.append(remove_message(state))
            else:
                continue
            changed += 1
        return changed

    async def missing_partitions(self, partitions: Sequence[int]) -> list[int]:
        self.faults.before("missing_partitions")
        return [p for p in partitions if p not in self.held]

    async def rebuild(self, partitions: Sequence[int], states: Sequence[State]) -> None:
        self.faults.before("rebuild")
        wanted = {s["id"] for s in states}
        stale = [uid for uid, item in self.items.items() if uid not in wanted and item["kafka_partition"] in partitions]
        self._sync(states)
        for uid in stale:
            del self.items[uid]
        self.held.update(partitions)

    def wipe(self) -> None:
        """Forget everything, as a Redis restart without persistence (or FLUSHALL) does."""
        self.items.clear()
        self.held.clear()


class DeadLetterBox:
    """The dead-letter sink: keeps (topic, partition, offset, reason) of every message it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, int, str]] = []

    async def send(self, msg: Record, reason: str) -> None:
        self.sent.append((msg.topic, msg.partition, msg.offset, reason))
