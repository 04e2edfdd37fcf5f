"""The publisher's builders and tracker produce exactly what the contract parser accepts: exact money, whole
snapshots, strictly growing seqs, and refusals (never a bad message) for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from usagestream.contract import parse_candidate, parse_entity, parse_usage
from usagestream.errors import InvalidEvent
from usagestream.publisher import events
from usagestream.publisher.records import CandidateRecord, UsageRecord, money
from usagestream.publisher.tracker import RequestTracker, UnknownRequest

T0 = datetime(2026, 11, 28, 1, 2, 3, 456000, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracker(clock: FakeClock) -> RequestTracker:
    return RequestTracker(clock=clock)


def _lifecycle(tracker: RequestTracker, clock: FakeClock) -> list[events.Message]:
    out = [tracker.started("u1", request_id="r1", model="claude-sonnet-4-5", user_id="user-1", is_stream=True)]
    out.append(tracker.candidate_planned("u1", "c1", candidate_index=0, provider_id="p1", is_cached=True))
    out.append(tracker.candidate_planned("u1", "c2", candidate_index=0, retry_index=1, provider_id="p1"))
    out.append(tracker.candidate_started("u1", "c1"))
    clock.advance(0.4)
    out.append(tracker.candidate_streaming("u1", "c1"))
    out.append(tracker.streaming("u1", provider_name="anthropic", provider_id="p1", rate_multiplier="0.8"))
    clock.advance(3)
    out.append(tracker.candidate_finished("u1", "c1", status="success", status_code=200, latency_ms=3400))
    out.append(
        tracker.finished(
            "u1",
            status_code=200,
            input_tokens=1000,
            output_tokens=250,
            cache_read_input_tokens=4000,
            input_cost_usd=Decimal("0.003"),
            output_cost_usd="0.00375",
            cache_read_cost_usd=Decimal("0.0012"),
            actual_input_cost_usd=Decimal("0.0024"),
            response_time_ms=3400,
        )
    )
    clock.advance(60)
    out.append(tracker.billing_corrected("u1", input_cost_usd="0.0027", output_cost_usd="0.003375"))
    return out


def _parse(message: events.Message) -> object:
    parser = {"usage": parse_usage, "candidates": parse_candidate, "entities": parse_entity}[message.kind]
    return parser(message.key, message.value)


def test_every_lifecycle_message_parses(tracker: RequestTracker, clock: FakeClock) -> None:
    for message in _lifecycle(tracker, clock):
        _parse(message)


def test_usage_snapshots_are_whole_with_growing_seq(tracker: RequestTracker, clock: FakeClock) -> None:
    usage = [parse_usage(m.key, m.value) for m in _lifecycle(tracker, clock) if m.kind == "usage"]
    assert [e.seq for e in usage] == [1, 2, 3, 4]
    assert [e.usage.status for e in usage] == ["pending", "streaming", "completed", "completed"]
    assert usage[0].usage.provider_name == "pending" and usage[0].usage.total_cost_usd == 0
    assert {e.usage.created_at for e in usage} == {T0}
    last = usage[-1].usage
    # the correction changes costs only; everything set earlier is still in the snapshot
    assert last.provider_name == "anthropic" and last.user_id == "user-1" and last.cache_read_input_tokens == 4000
    assert last.total_tokens == 1250
    assert last.total_cost_usd == Decimal("0.0027") + Decimal("0.003375") + Decimal("0.0012")
    assert last.actual_total_cost_usd == Decimal("0.0024")
    assert last.rate_multiplier == Decimal("0.8")


def test_candidate_seq_grows_per_candidate(tracker: RequestTracker, clock: FakeClock) -> None:
    seqs: dict[str, list[int]] = {}
    for m in _lifecycle(tracker, clock):
        if m.kind == "candidates":
            event = parse_candidate(m.key, m.value)
            seqs.setdefault(event.candidate_id, []).append(event.seq)
            assert event.usage_id == "u1" and event.request_id == "r1" and event.candidate.user_id == "user-1"
    assert seqs == {"c1": [1, 2, 3, 4], "c2": [1]}


def test_money_is_written_as_the_exact_decimal() -> None:
    record = UsageRecord(
        id="u", request_id="r", model="m", created_at=T0, total_cost_usd=money("0.1000000000000000055")
    )
    message = events.usage_message(record, seq=1, emitted_at=T0, event_id="e")
    assert b'"total_cost_usd":0.1000000000000000055' in (message.value or b"")
    assert parse_usage(message.key, message.value).usage.total_cost_usd == Decimal("0.1000000000000000055")


@pytest.mark.parametrize(
    ("given", "expected"), [(Decimal("1.5"), "1.5"), (3, "3"), ("0.000001", "0.000001"), (0.1, "0.1")]
)
def test_money_accepts_decimal_int_str_and_float_repr(given: object, expected: str) -> None:
    assert money(given) == Decimal(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, "NaN", "abc", True, Decimal("Infinity")])
def test_money_refuses_what_the_contract_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        money(bad)  # type: ignore[arg-type]


def test_timestamps_carry_an_offset_and_naive_ones_are_refused(tracker: RequestTracker) -> None:
    plus8 = timezone(timedelta(hours=8))
    message = tracker.started("u", request_id="r", model="m", created_at=datetime(2026, 1, 1, 8, tzinfo=plus8))
    body = json.loads(message.value or b"")
    assert body["usage"]["created_at"] == "2026-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        tracker.started("u2", request_id="r", model="m", created_at=datetime(2026, 1, 1))
    record = UsageRecord(id="u", request_id="r", model="m", created_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        events.usage_message(record, seq=1, emitted_at=T0, event_id="e")


def test_keys_follow_the_contract(tracker: RequestTracker) -> None:
    started = tracker.started("u-key", request_id="r", model="m")
    planned = tracker.candidate_planned("u-key", "c", candidate_index=0)
    entity = tracker.entity_upserted("provider", "p1", {"name": "x", "billing_type": "free_tier"})
    assert (started.key, planned.key, entity.key) == (b"u-key", b"u-key", b"provider:p1")
    assert events.entity_tombstone("user", "x") == events.Message("entities", b"user:x", None)


def test_refusals_leave_the_state_unchanged(tracker: RequestTracker) -> None:
    tracker.started("u", request_id="r", model="m")
    with pytest.raises(ValueError):
        tracker.finished("u", input_tokens=-1)
    with pytest.raises(ValueError):
        tracker.update("u", created_at=T0)  # created_at never changes
    with pytest.raises(ValueError):
        tracker.update("u", no_such_field=1)
    with pytest.raises(ValueError):
        tracker.finished("u", status="streaming")
    with pytest.raises(UnknownRequest):
        tracker.streaming("nope", provider_name="x")
    assert tracker.current("u")[1] == 1
    message = tracker.finished("u", status="failed", status_code=502, error_message="boom")
    assert parse_usage(message.key, message.value).seq == 2
    with pytest.raises(ValueError):
        tracker.streaming("u", provider_name="late")  # would reopen a finished request


def test_q1_synchronous_failure_is_completed_with_an_error_code(tracker: RequestTracker) -> None:
    tracker.started("u", request_id="r", model="m")
    message = tracker.finished("u", status="completed", status_code=502, error_message="upstream 502")
    usage = parse_usage(message.key, message.value).usage
    assert (usage.status, usage.status_code, usage.error_message) == ("completed", 502, "upstream 502")


def test_settled_requests_are_forgotten_after_the_billing_window(clock: FakeClock) -> None:
    tracker = RequestTracker(clock=clock, billing_window_s=60, max_settled=2)
    for uid in ("a", "b", "c"):
        tracker.started(uid, request_id=uid, model="m")
        tracker.finished(uid)
    with pytest.raises(UnknownRequest):
        tracker.billing_corrected("a", input_cost_usd=1)  # beyond max_settled
    tracker.billing_corrected("c", input_cost_usd=1)
    clock.advance(61)
    tracker.started("d", request_id="d", model="m")
    tracker.finished("d")
    with pytest.raises(UnknownRequest):
        tracker.billing_corrected("c", input_cost_usd=2)  # beyond the window


def test_active_requests_are_capped(clock: FakeClock) -> None:
    tracker = RequestTracker(clock=clock, max_active=2)
    for uid in ("a", "b", "c"):
        tracker.started(uid, request_id=uid, model="m")
    assert tracker.evicted_active == 1
    with pytest.raises(UnknownRequest):
        tracker.streaming("a", provider_name="x")


def test_entity_events_parse_and_their_seq_survives_a_restart(clock: FakeClock) -> None:
    user = {"username": "ann", "email": None, "role": "user", "is_active": True, "is_deleted": False}
    user |= {"quota_usd": "12.5", "used_usd": 0}
    first = RequestTracker(clock=clock).entity_upserted("user", "u1", user)
    again = RequestTracker(clock=clock).entity_upserted("user", "u1", user)  # a restarted gateway, same instant
    parsed, reparsed = parse_entity(first.key, first.value), parse_entity(again.key, again.value)
    assert parsed.data is not None and parsed.data["quota_usd"] == Decimal("12.5")
    assert parsed.seq is not None and reparsed.seq is not None and reparsed.seq >= parsed.seq
    clock.advance(0.001)
    later = RequestTracker(clock=clock).entity_upserted("user", "u1", user)
    assert parse_entity(later.key, later.value).seq > parsed.seq  # type: ignore[operator]


def test_entity_seq_grows_strictly_within_one_instant(tracker: RequestTracker) -> None:
    data = {"name": "p", "billing_type": "free_tier"}
    seqs = [
        parse_entity(m.key, m.value).seq for m in (tracker.entity_upserted("provider", "p", data) for _ in range(3))
    ]
    assert seqs == sorted(set(seqs))  # type: ignore[type-var]
    deleted = tracker.entity_deleted("provider", "p")
    event = parse_entity(deleted.key, deleted.value)
    assert event.deleted and event.seq > seqs[-1]  # type: ignore[operator]
    tombstone = events.entity_tombstone("provider", "p")
    assert parse_entity(tombstone.key, tombstone.value).deleted


def test_entity_data_must_be_complete(tracker: RequestTracker) -> None:
    with pytest.raises(ValueError):
        tracker.entity_upserted("provider", "p", {"name": "p"})
    with pytest.raises(ValueError):
        tracker.entity_upserted("no_such_entity", "p", {"name": "p"})


def test_a_builder_message_the_parser_refuses_is_impossible_for_bad_seq() -> None:
    record = CandidateRecord(candidate_index=0, created_at=T0)
    with pytest.raises(ValueError):
        events.candidate_message(
            record, candidate_id="c", usage_id="u", request_id="r", seq=0, emitted_at=T0, event_id="e"
        )
    good = events.candidate_message(
        record, candidate_id="c", usage_id="u", request_id="r", seq=1, emitted_at=T0, event_id="e"
    )
    assert parse_candidate(good.key, good.value).candidate.status == "available"
    with pytest.raises(InvalidEvent):
        parse_candidate(b"other", good.value)  # the key is the usage id
