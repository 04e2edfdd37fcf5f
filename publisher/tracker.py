"""RequestTracker: the per-request state a gateway keeps to publish whole snapshots with a growing seq.

Pure and synchronous: each call validates, updates the remembered record and returns the message to publish;
nothing is sent here (`recorder.py` joins it to the Publisher). Memory is bounded: a request is forgotten
`billing_window_s` after its terminal status (or sooner, once `max_settled` finished requests are remembered),
and at most `max_active` unfinished requests are kept (the oldest is dropped first).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from usagestream.publisher import events
from usagestream.publisher.events import Message
from usagestream.publisher.records import (
    ACTUAL_COSTS,
    CANDIDATE_CONVERTERS,
    LIST_COSTS,
    MONEY_FIELDS,
    TERMINAL_STATUSES,
    USAGE_CONVERTERS,
    CandidateRecord,
    Converter,
    UsageRecord,
    count,
    utc,
)

Clock = Callable[[], datetime]
_FINISHED_CANDIDATE = frozenset({"success", "failed", "cancelled", "skipped"})
# Fields a change never touches: the id is the key; created_at is "the same in every event of a request".
_CHANGE = {k: v for k, v in USAGE_CONVERTERS.items() if k not in ("id", "created_at")}
_START = {k: v for k, v in _CHANGE.items() if k != "status"}
_BILLING = {k: v for k, v in _CHANGE.items() if k in MONEY_FIELDS or k == "request_metadata"}
_PLAN = {k: v for k, v in CANDIDATE_CONVERTERS.items() if k not in ("candidate_index", "retry_index", "status")}
_CANDIDATE_CHANGE = {k: v for k, v in CANDIDATE_CONVERTERS.items() if k != "created_at"}
_TOKEN_PARTS = frozenset({"input_tokens", "output_tokens"})
_COST_PARTS = frozenset(LIST_COSTS)
_ACTUAL_PARTS = frozenset(ACTUAL_COSTS)


def _now() -> datetime:
    return datetime.now(UTC)


def _uuid4() -> str:
    return str(uuid.uuid4())


class UnknownRequest(KeyError):
    """The tracker has no state for this usage id: never started, or forgotten after its billing window."""


@dataclass(slots=True)
class _Candidate:
    record: CandidateRecord
    seq: int = 1


@dataclass(slots=True)
class _Request:
    record: UsageRecord
    seq: int = 1
    candidates: dict[str, _Candidate] = field(default_factory=dict)
    settled_at: float | None = None


def _clean(changes: Mapping[str, Any], allowed: Mapping[str, Converter | None]) -> dict[str, Any]:
    """Validate field names and bring values to their wire form (Decimal money, UTC times, counts >= 0)."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            convert = allowed[name]
        except KeyError:
            raise ValueError(f"unknown field, or one this call may not change: {name!r}") from None
        out[name] = value if convert is None else convert(value)
    return out


def _with_totals(record: UsageRecord, changed: Mapping[str, Any]) -> UsageRecord:
    """Derive total_tokens and the two total costs from their parts unless the caller set them."""
    keys = changed.keys()
    totals: dict[str, Any] = {}
    if "total_tokens" not in changed and not _TOKEN_PARTS.isdisjoint(keys):
        totals["total_tokens"] = record.input_tokens + record.output_tokens
    if "total_cost_usd" not in changed and not _COST_PARTS.isdisjoint(keys):
        totals["total_cost_usd"] = sum([getattr(record, p) for p in LIST_COSTS])
    if "actual_total_cost_usd" not in changed and not _ACTUAL_PARTS.isdisjoint(keys):
        totals["actual_total_cost_usd"] = sum([getattr(record, p) for p in ACTUAL_COSTS])
    return msgspec.structs.replace(record, **totals) if totals else record


class RequestTracker:
    """Turns a gateway's plain lifecycle calls into contract messages (docs/publisher.md: the seq rules)."""

    def __init__(
        self,
        *,
        clock: Clock = _now,
        new_id: Callable[[], str] = _uuid4,
        billing_window_s: float = 3600.0,
        max_settled: int = 10_000,
        max_active: int = 100_000,
        max_entities: int = 100_000,
    ) -> None:
        self._clock = clock
        self._new_id = new_id
        self._window = billing_window_s
        self._max_settled = max_settled
        self._max_active = max_active
        self._max_entities = max_entities
        self._active: OrderedDict[str, _Request] = OrderedDict()
        self._settled: OrderedDict[str, _Request] = OrderedDict()
        self._entity_seq: OrderedDict[bytes, int] = OrderedDict()
        self.evicted_active = 0

    # --- usage ---------------------------------------------------------------------------------------------

    def started(
        self, usage_id: str, *, request_id: str, model: str, created_at: datetime | None = None, **fields: Any
    ) -> Message:
        """The request entered the gateway: status pending, provider 'pending', tokens and costs 0."""
        if usage_id in self._active or usage_id in self._settled:
            raise ValueError(f"request {usage_id} was already started")
        clean = _clean(fields, _START)
        start = utc(created_at) if created_at is not None else self._clock()
        record = UsageRecord(id=usage_id, request_id=request_id, model=model, created_at=start, **clean)
        if len(self._active) >= self._max_active:
            self._active.popitem(last=False)
            self.evicted_active += 1
        self._active[usage_id] = state = _Request(record)
        return self._usage_message(state)

    def streaming(self, usage_id: str, *, provider_name: str, **fields: Any) -> Message:
        """A provider was chosen and the upstream stream started."""
        if self._state(usage_id).record.status in TERMINAL_STATUSES:
            raise ValueError(f"request {usage_id} already finished: a streaming snapshot would reopen it")
        return self._change(usage_id, {**fields, "provider_name": provider_name, "status": "streaming"})

    def finished(
        self,
        usage_id: str,
        *,
        status: str = "completed",
        status_code: int | None = None,
        error_message: str | None = None,
        **fields: Any,
    ) -> Message:
        """The request ended (completed, failed or cancelled) with its tokens, costs and timings."""
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"finished() needs a terminal status, got {status!r}")
        changes = {**fields, "status": status, "status_code": status_code, "error_message": error_message}
        changes.setdefault("finalized_at", self._clock())
        message = self._change(usage_id, changes)
        self._settle(usage_id)
        return message

    def billing_corrected(self, usage_id: str, **costs: Any) -> Message:
        """Costs changed after the fact (async tasks, re-pricing); the status stays as it is."""
        return self._change(usage_id, _clean(costs, _BILLING))

    def update(self, usage_id: str, **fields: Any) -> Message:
        """Any other change to the record (the escape hatch: every field but id and created_at)."""
        return self._change(usage_id, fields)

    def resume(self, record: UsageRecord, *, seq: int) -> None:
        """Adopt a request this process did not start (after a restart) whose last published seq was `seq`."""
        state = _Request(record, seq=seq)
        target = self._settled if record.status in TERMINAL_STATUSES else self._active
        target[record.id] = state
        if target is self._settled:
            state.settled_at = self._clock().timestamp()

    def current(self, usage_id: str) -> tuple[UsageRecord, int]:
        """The remembered record and the seq it was last published with."""
        state = self._state(usage_id)
        return state.record, state.seq

    def _state(self, usage_id: str) -> _Request:
        state = self._active.get(usage_id) or self._settled.get(usage_id)
        if state is None:
            raise UnknownRequest(usage_id)
        return state

    def _change(self, usage_id: str, changes: Mapping[str, Any]) -> Message:
        state = self._state(usage_id)
        clean = _clean(changes, _CHANGE)
        state.record = _with_totals(msgspec.structs.replace(state.record, **clean), clean)
        state.seq += 1
        return self._usage_message(state)

    def _usage_message(self, state: _Request) -> Message:
        return events.usage_message(state.record, seq=state.seq, emitted_at=self._clock(), event_id=self._new_id())

    def _settle(self, usage_id: str) -> None:
        state = self._active.pop(usage_id, None) or self._settled.pop(usage_id)
        now = self._clock().timestamp()
        state.settled_at = now
        self._settled[usage_id] = state
        while self._settled:
            oldest = next(iter(self._settled.values()))
            if len(self._settled) <= self._max_settled and (oldest.settled_at or now) >= now - self._window:
                break
            self._settled.popitem(last=False)

    # --- candidates ----------------------------------------------------------------------------------------

    def candidate_planned(
        self,
        usage_id: str,
        candidate_id: str,
        *,
        candidate_index: int,
        retry_index: int = 0,
        status: str = "available",
        **fields: Any,
    ) -> Message:
        """A candidate slot was planned: `available` (may be tried) or `skipped` (with a skip_reason)."""
        if status not in ("available", "skipped"):
            raise ValueError(f"a planned candidate is 'available' or 'skipped', got {status!r}")
        request = self._state(usage_id)
        if candidate_id in request.candidates:
            raise ValueError(f"candidate {candidate_id} was already planned")
        base = {"user_id": request.record.user_id, "api_key_id": request.record.api_key_id}
        clean = _clean({**base, **fields}, _PLAN)
        clean.setdefault("created_at", self._clock())
        index, retry = count("candidate_index", candidate_index), count("retry_index", retry_index)
        record = CandidateRecord(candidate_index=index, retry_index=retry, status=status, **clean)
        request.candidates[candidate_id] = state = _Candidate(record)
        return self._candidate_message(request, candidate_id, state)

    def candidate_started(self, usage_id: str, candidate_id: str, *, started_at: datetime | None = None) -> Message:
        """The attempt began (available -> pending)."""
        when = started_at if started_at is not None else self._clock()
        return self._candidate_change(usage_id, candidate_id, {"status": "pending", "started_at": when})

    def candidate_streaming(self, usage_id: str, candidate_id: str, *, status_code: int = 200) -> Message:
        """The upstream connection for this attempt succeeded and the stream started."""
        return self._candidate_change(usage_id, candidate_id, {"status": "streaming", "status_code": status_code})

    def candidate_finished(
        self,
        usage_id: str,
        candidate_id: str,
        *,
        status: str,
        finished_at: datetime | None = None,
        **fields: Any,
    ) -> Message:
        """The attempt ended: success, failed, cancelled (or skipped on a concurrency limit) with details."""
        if status not in _FINISHED_CANDIDATE:
            raise ValueError(f"a finished candidate is one of {sorted(_FINISHED_CANDIDATE)}, got {status!r}")
        when = finished_at if finished_at is not None else self._clock()
        return self._candidate_change(usage_id, candidate_id, {**fields, "status": status, "finished_at": when})

    def _candidate_change(self, usage_id: str, candidate_id: str, changes: Mapping[str, Any]) -> Message:
        request = self._state(usage_id)
        state = request.candidates.get(candidate_id)
        if state is None:
            raise UnknownRequest(f"candidate {candidate_id} of request {usage_id}")
        clean = _clean(changes, _CANDIDATE_CHANGE)
        state.record = msgspec.structs.replace(state.record, **clean)
        state.seq += 1
        return self._candidate_message(request, candidate_id, state)

    def _candidate_message(self, request: _Request, candidate_id: str, state: _Candidate) -> Message:
        return events.candidate_message(
            state.record,
            candidate_id=candidate_id,
            usage_id=request.record.id,
            request_id=request.record.request_id,
            seq=state.seq,
            emitted_at=self._clock(),
            event_id=self._new_id(),
        )

    # --- entities ------------------------------------------------------------------------------------------

    def entity_upserted(
        self, entity: str, entity_id: str, data: Mapping[str, Any], *, seq: int | None = None
    ) -> Message:
        """An entity was created or changed; `data` holds every field of its kind (docs/contract.md §4.2)."""
        seq = self._next_entity_seq(events.entity_key(entity, entity_id), seq)
        return events.entity_message(entity, entity_id, data, seq=seq, emitted_at=self._clock())

    def entity_deleted(self, entity: str, entity_id: str, *, seq: int | None = None) -> Message:
        """An entity was deleted: an event with deleted=true, which fences older upserts.

        Publish `events.entity_tombstone` after it to let compaction forget the key.
        """
        seq = self._next_entity_seq(events.entity_key(entity, entity_id), seq)
        return events.entity_message(entity, entity_id, None, seq=seq, emitted_at=self._clock(), deleted=True)

    def _next_entity_seq(self, key: bytes, explicit: int | None) -> int:
        # Entities outlive the process (compacted topic), so the default seq is the clock in microseconds:
        # a restarted gateway still writes a higher seq than before. Within a process it also grows strictly.
        now_us = int(self._clock().timestamp() * 1_000_000)
        seq = explicit if explicit is not None else max(now_us, self._entity_seq.get(key, 0) + 1)
        self._entity_seq[key] = seq
        self._entity_seq.move_to_end(key)
        if len(self._entity_seq) > self._max_entities:
            self._entity_seq.popitem(last=False)
        return seq
