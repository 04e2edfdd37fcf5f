"""One simulated request's lifecycle, written as a generator of simulated delays (the loadgen's script).

pending -> (candidates planned) -> attempts -> streaming -> completed | failed | cancelled, with fallbacks to
another candidate, retries on a cached one, requests that reach no provider ('unknown'), Aether's synchronous
failures stored as completed with a status code >= 400 (quirk Q1, docs/reference-api.md §5), cache tokens and
later billing corrections.
Records are kept here and encoded by `events.py` directly (not through RequestTracker, whose per-call checks
would cost the generator half its speed); the tests parse every generated message with the contract parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from msgspec.structs import replace

from usagestream.publisher.events import Message, candidate_message, usage_message
from usagestream.publisher.loadgen import costs
from usagestream.publisher.loadgen.population import Model, Provider, ProviderKey, User, user_data
from usagestream.publisher.records import CandidateRecord, UsageRecord

if TYPE_CHECKING:
    from usagestream.publisher.loadgen.traffic import Traffic

OUTCOME_WEIGHTS = {
    "success": 0.82,
    "fallback": 0.04,
    "retry": 0.03,
    "stream_failed": 0.03,
    "failed": 0.03,
    "cancelled": 0.03,
    "unknown": 0.02,
}
BILLING_RATIO = 0.03  # share of served, completed requests whose cost is corrected later
_ERRORS = (
    ("upstream_error", 502, "upstream returned 502 Bad Gateway"),
    ("rate_limited", 429, "upstream rate limit exceeded"),
    ("timeout", 504, "upstream timed out"),
    ("overloaded", 529, "upstream overloaded"),
)
_SKIPS = ("circuit breaker open", "concurrency limit reached", "key quota exhausted")
_END = {"success": ("success", 200), "stream_failed": ("failed", 502), "cancelled": ("cancelled", 499)}


@dataclass(frozen=True, slots=True)
class Slot:
    candidate_id: str
    index: int
    retry: int
    provider: Provider
    key: ProviderKey
    endpoint_format: str


@dataclass(slots=True)
class Request:
    record: UsageRecord
    model: Model
    outcome: str
    reorder: bool
    seq: int = 0
    held: Message | None = None
    started_at: float = 0.0
    served: Slot | None = None
    candidates: dict[str, tuple[CandidateRecord, int]] = field(default_factory=dict)


def request(sim: Traffic) -> Iterator[float]:
    """The whole life of one request; each `yield` waits that many simulated seconds."""
    r = _open(sim)
    _maybe_rename(sim)
    yield sim.rng.uniform(0.002, 0.02)
    if r.outcome == "unknown":
        _no_provider(sim, r)
        return
    slots = _plan(sim, r)
    plan = _attempt_plan(r, slots)
    for number, (slot, result) in enumerate(plan):
        yield from _attempt(sim, r, slot, result, last=number == len(plan) - 1)
    if r.served is not None and r.record.status_code == 200 and sim.rng.random() < BILLING_RATIO:
        yield min(sim.rng.uniform(30, 300), 2000 * sim.config.gap_s)
        factor = Decimal(sim.rng.choice(("0.9", "0.8", "1.1")))
        _change(sim, r, **costs.of(r.model, r.served.provider, r.served.key, _tokens_of(r.record), factor=factor))


# --- emitting snapshots ------------------------------------------------------------------------------------


def _change(sim: Traffic, r: Request, **changes: Any) -> None:
    r.record = replace(r.record, **changes)
    r.seq += 1
    _usage(sim, r, usage_message(r.record, seq=r.seq, emitted_at=sim.now, event_id=sim.new_id()))


def _usage(sim: Traffic, r: Request, message: Message) -> None:
    """Send a usage snapshot; a reordered request holds its first one back until after the next one."""
    if r.reorder:
        r.reorder, r.held = False, message
        return
    sim.emit(message)
    if r.held is not None:
        sim.emit(r.held)
        r.held = None
        sim.reordered += 1


def _candidate(sim: Traffic, r: Request, candidate_id: str, record: CandidateRecord) -> None:
    seq = r.candidates[candidate_id][1] + 1 if candidate_id in r.candidates else 1
    r.candidates[candidate_id] = (record, seq)
    message = candidate_message(
        record,
        candidate_id=candidate_id,
        usage_id=r.record.id,
        request_id=r.record.request_id,
        seq=seq,
        emitted_at=sim.now,
        event_id=sim.new_id(),
    )
    sim.emit(message)


def _candidate_change(sim: Traffic, r: Request, slot: Slot, **changes: Any) -> None:
    _candidate(sim, r, slot.candidate_id, replace(r.candidates[slot.candidate_id][0], **changes))


# --- the steps ---------------------------------------------------------------------------------------------


def _open(sim: Traffic) -> Request:
    rng, world = sim.rng, sim.world
    user: User = world.user_zipf.pick(rng)
    model: Model = world.model_zipf.pick(rng)
    outcome = rng.choices(sim.outcomes, cum_weights=sim.outcome_cum)[0]
    is_stream = rng.random() < 0.7 or outcome in ("stream_failed", "cancelled")
    record = UsageRecord(
        id=sim.new_id(),
        request_id=f"req_{rng.getrandbits(64):016x}",
        model=model.name,
        created_at=sim.now,
        user_id=user.id,
        api_key_id=user.api_key_ids[int(rng.random() * len(user.api_key_ids))],
        api_format=_client_format(rng.random(), model),
        request_type="endpoint_test" if rng.random() < 0.005 else "chat",
        is_stream=is_stream,
        request_metadata={"stream": is_stream, "content_length": 200 + int(rng.random() * 20_000)},
    )
    r = Request(record, model, outcome, reorder=rng.random() < sim.config.reorder_ratio, started_at=sim.now_s)
    r.seq = 1
    _usage(sim, r, usage_message(record, seq=1, emitted_at=sim.now, event_id=sim.new_id()))
    return r


def _client_format(draw: float, model: Model) -> str:
    if draw < 0.8 or model.api_format == "gemini:chat":
        return model.api_format
    if draw < 0.9:
        return model.api_format.replace(":chat", ":cli")
    return "openai:chat" if model.api_format.startswith("claude") else "claude:chat"


def _maybe_rename(sim: Traffic) -> None:
    rng = sim.rng
    if rng.random() >= sim.config.rename_ratio:
        return
    sim.renames += 1
    if rng.random() < 0.5:
        p = rng.choice(sim.world.providers)
        data = {"name": f"{p.name}-v{sim.renames}", "billing_type": p.billing_type}
        sim.emit(sim.tracker.entity_upserted("provider", p.id, data))
    else:
        u = rng.choice(sim.world.users)
        sim.emit(sim.tracker.entity_upserted("user", u.id, user_data(u, f"{u.username}-v{sim.renames}")))


def _no_provider(sim: Traffic, r: Request) -> None:
    """No usable candidate: every planned slot is skipped and the request fails with provider 'unknown'."""
    for index, provider in enumerate(r.model.providers[:2]):
        record = CandidateRecord(
            candidate_index=index,
            user_id=r.record.user_id,
            api_key_id=r.record.api_key_id,
            provider_id=provider.id,
            key_id=provider.keys[0].id,
            status="skipped",
            skip_reason=_SKIPS[index % 3],
            created_at=sim.now,
        )
        _candidate(sim, r, sim.new_id(), record)
    _change(
        sim,
        r,
        status="failed",
        status_code=503,
        error_message="no available provider for this model",
        provider_name="unknown",
        response_time_ms=_elapsed_ms(sim, r),
        finalized_at=sim.now,
    )


def _plan(sim: Traffic, r: Request) -> list[Slot]:
    """Plan up to three candidates (a cached first one gets two retry slots); returns the available slots."""
    rng, rec = sim.rng, r.record
    providers = rng.sample(r.model.providers, min(3, len(r.model.providers)))
    cached = r.outcome == "retry" or rng.random() < 0.2
    slots: list[Slot] = []
    for index, provider in enumerate(providers):
        skipped = index > 0 and r.outcome != "fallback" and rng.random() < 0.05
        key = provider.keys[int(rng.random() * len(provider.keys))]
        endpoint = rec.api_format if rec.api_format in provider.endpoints else r.model.api_format
        for retry in range(2 if cached and index == 0 else 1):
            slot = Slot(sim.new_id(), index, retry, provider, key, endpoint)
            record = CandidateRecord(
                candidate_index=index,
                retry_index=retry,
                user_id=rec.user_id,
                api_key_id=rec.api_key_id,
                provider_id=provider.id,
                endpoint_id=provider.endpoints[endpoint],
                key_id=key.id,
                status="skipped" if skipped else "available",
                skip_reason=rng.choice(_SKIPS) if skipped else None,
                is_cached=cached and index == 0,
                created_at=sim.now,
            )
            _candidate(sim, r, slot.candidate_id, record)
            if not skipped:
                slots.append(slot)
    return slots


def _attempt_plan(r: Request, slots: list[Slot]) -> list[tuple[Slot, str]]:
    first = slots[0]
    if r.outcome == "retry" and len(slots) > 1 and slots[1].index == first.index:
        return [(first, "failed"), (slots[1], "success")]
    if r.outcome == "fallback":
        other = next((s for s in slots if s.index != first.index), None)
        if other is not None:
            return [(first, "failed"), (other, "success")]
    if r.outcome in ("stream_failed", "failed", "cancelled"):
        return [(first, r.outcome)]
    return [(first, "success")]


def _attempt(sim: Traffic, r: Request, slot: Slot, result: str, *, last: bool) -> Iterator[float]:
    rng = sim.rng
    attempt_start = sim.now_s
    _candidate_change(sim, r, slot, status="pending", started_at=sim.now)
    if result == "failed":
        yield rng.uniform(0.05, 3.0)
        error_type, code, text = rng.choice(_ERRORS)
        latency = int((sim.now_s - attempt_start) * 1000)
        fields = {"status_code": code, "error_type": error_type, "error_message": text, "latency_ms": latency}
        _candidate_change(sim, r, slot, status="failed", finished_at=sim.now, **fields)
        if last:  # a stream failure goes through Aether's queue (failed); a synchronous one is Q1 (completed)
            _finish(sim, r, slot, "failed" if r.record.is_stream else "completed", code, text)
        return
    yield rng.uniform(0.2, 1.5)
    if r.record.is_stream:
        _candidate_change(sim, r, slot, status="streaming", status_code=200)
        _change(sim, r, status="streaming", first_byte_time_ms=_elapsed_ms(sim, r), **_served_by(r, slot))
    yield rng.lognormvariate(1.0, 0.8) if result == "success" else rng.uniform(0.5, 5.0)
    _end_attempt(sim, r, slot, result, attempt_start)


def _end_attempt(sim: Traffic, r: Request, slot: Slot, result: str, attempt_start: float) -> None:
    rng = sim.rng
    status, code = _END[result]
    if r.record.is_stream:
        extra: dict[str, Any] = {
            "stream_completed": result == "success",
            "data_count": int(rng.random() * 400),
        }
    else:
        extra = {"is_cached_user": False, "model_name": r.model.name, "api_format": r.record.api_format}
    if rng.random() < 0.02:
        extra["rectified"] = True
    fields: dict[str, Any] = {"status_code": code, "latency_ms": int((sim.now_s - attempt_start) * 1000)}
    if result == "stream_failed":
        fields |= {"error_type": "stream_error", "error_message": "upstream stream interrupted"}
    _candidate_change(sim, r, slot, status=status, extra_data=extra, finished_at=sim.now, **fields)
    usage_status = {"success": "completed", "cancelled": "cancelled"}.get(result, "failed")
    error = {"success": None, "cancelled": "client disconnected"}.get(result, "upstream stream interrupted")
    _finish(sim, r, slot, usage_status, code, error)


def _served_by(r: Request, slot: Slot) -> dict[str, Any]:
    return {
        "provider_name": slot.provider.name,
        "provider_id": slot.provider.id,
        "provider_endpoint_id": slot.provider.endpoints[slot.endpoint_format],
        "provider_api_key_id": slot.key.id,
        "target_model": r.model.name if slot.provider.name != "aws-bedrock" else f"bedrock/{r.model.name}",
        "endpoint_api_format": slot.endpoint_format,
        "has_format_conversion": slot.endpoint_format != r.record.api_format,
        "rate_multiplier": slot.key.rate_multiplier,
    }


def _finish(sim: Traffic, r: Request, slot: Slot, status: str, code: int, error: str | None) -> None:
    r.served = slot
    tokens = costs.tokens(sim.rng, r.model, code)
    priced = costs.of(r.model, slot.provider, slot.key, tokens, failed=code >= 400)
    timing = {"response_time_ms": _elapsed_ms(sim, r), "finalized_at": sim.now}
    fields = {**_served_by(r, slot), **tokens, **priced, **timing}
    _change(sim, r, status=status, status_code=code, error_message=error, **fields)


def _tokens_of(record: UsageRecord) -> dict[str, int]:
    return {
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cache_creation_input_tokens": record.cache_creation_input_tokens,
        "cache_read_input_tokens": record.cache_read_input_tokens,
    }


def _elapsed_ms(sim: Traffic, r: Request) -> int:
    return int((sim.now_s - r.started_at) * 1000)
