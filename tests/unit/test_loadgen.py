"""The load generator: deterministic under a seed, valid per the contract parser, with the mix it promises."""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from usagestream.contract import CandidateEvent, UsageEvent, parse_candidate, parse_entity, parse_usage
from usagestream.errors import ConfigError
from usagestream.publisher.events import Message
from usagestream.publisher.loadgen import command
from usagestream.publisher.loadgen.traffic import Traffic, TrafficConfig, generate

REQUESTS = 3000


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    return generate(REQUESTS, seed=7, dup_ratio=0.02, reorder_ratio=0.05)


@pytest.fixture(scope="module")
def parsed(messages: list[Message]) -> list[object]:
    parsers = {"usage": parse_usage, "candidates": parse_candidate, "entities": parse_entity}
    return [parsers[m.kind](m.key, m.value) for m in messages]  # raises InvalidEvent on any bad message


def _latest_usage(parsed: list[object]) -> dict[str, UsageEvent]:
    latest: dict[str, UsageEvent] = {}
    for event in parsed:
        if isinstance(event, UsageEvent) and (event.usage_id not in latest or event.seq > latest[event.usage_id].seq):
            latest[event.usage_id] = event
    return latest


def test_same_seed_same_bytes(messages: list[Message]) -> None:
    assert generate(300, seed=7) == generate(300, seed=7)
    assert generate(300, seed=7) != generate(300, seed=8)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    assert generate(50, seed=7, start=start) != generate(50, seed=7)  # another run: other request ids


def test_entities_come_first_and_parse(messages: list[Message], parsed: list[object]) -> None:
    kinds = [m.kind for m in messages[:100]]
    assert set(kinds) == {"entities"}
    entities = Counter(e.entity for e in parsed if hasattr(e, "entity"))
    assert entities["user"] >= 200 and entities["provider"] >= 6 and entities["model_pricing"] > 0


def test_every_request_ends_terminal_with_the_expected_mix(parsed: list[object]) -> None:
    latest = _latest_usage(parsed)
    assert len(latest) == REQUESTS
    statuses = Counter(e.usage.status for e in latest.values())
    assert set(statuses) == {"completed", "failed", "cancelled"}
    unknown = sum(e.usage.provider_name == "unknown" for e in latest.values())
    q1 = sum(e.usage.status == "completed" and (e.usage.status_code or 0) >= 400 for e in latest.values())
    cancelled = [e.usage for e in latest.values() if e.usage.status == "cancelled"]
    assert 0.01 * REQUESTS < unknown < 0.04 * REQUESTS
    assert q1 > 0 and cancelled and all(u.status_code == 499 for u in cancelled)
    cached = sum(e.usage.cache_read_input_tokens > 0 for e in latest.values())
    assert cached > 0.1 * REQUESTS


def test_snapshots_are_consistent(parsed: list[object]) -> None:
    for event in _latest_usage(parsed).values():
        u = event.usage
        assert u.total_tokens == u.input_tokens + u.output_tokens
        parts = (u.input_cost_usd, u.output_cost_usd, u.cache_creation_cost_usd, u.cache_read_cost_usd)
        assert u.total_cost_usd == sum(parts) + u.request_cost_usd
        assert u.finalized_at is not None and u.finalized_at >= u.created_at


def test_fallbacks_and_retries_are_present(parsed: list[object]) -> None:
    executed: dict[str, list[tuple[int, int]]] = defaultdict(list)
    latest: dict[str, CandidateEvent] = {}
    for event in parsed:
        if isinstance(event, CandidateEvent) and (
            event.candidate_id not in latest or event.seq > latest[event.candidate_id].seq
        ):
            latest[event.candidate_id] = event
    for event in latest.values():
        if event.candidate.status in ("success", "failed"):
            executed[event.usage_id].append((event.candidate.candidate_index, event.candidate.retry_index))
    fallbacks = sum(len({index for index, _ in slots}) > 1 for slots in executed.values())
    retries = sum(any(retry > 0 for _, retry in slots) for slots in executed.values())
    assert fallbacks > 0.01 * REQUESTS and retries > 0.01 * REQUESTS


def test_seq_grows_per_request_in_emission_order_except_reordered(parsed: list[object]) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    for event in parsed:
        if isinstance(event, UsageEvent):
            seen[event.usage_id].append(event.seq)
    out_of_order = sum(any(b < a for a, b in zip(seqs, seqs[1:], strict=False)) for seqs in seen.values())
    # reordering (5 %) plus duplicates of older snapshots sent after newer ones
    assert 0.03 * REQUESTS < out_of_order < 0.12 * REQUESTS


def test_duplicates_and_reorderings_are_counted_and_roughly_at_ratio() -> None:
    traffic = Traffic(TrafficConfig(seed=3, dup_ratio=0.02, reorder_ratio=0.05))
    sent = list(traffic.messages(2000))
    exact_copies = len(sent) - len(set(sent))
    assert exact_copies == traffic.duplicates
    assert 0.01 < traffic.duplicates / len(sent) < 0.03
    assert 0.03 < traffic.reordered / 2000 < 0.07


def test_no_duplicates_or_reordering_when_disabled() -> None:
    sent = generate(300, seed=5, dup_ratio=0, reorder_ratio=0)
    assert len(sent) == len(set(sent))
    seqs: dict[bytes, list[int]] = defaultdict(list)
    for m in sent:
        if m.kind == "usage":
            seqs[m.key].append(parse_usage(m.key, m.value).seq)
    assert all(s == sorted(s) for s in seqs.values())


def test_admin_token_is_opt_in() -> None:
    plain = [m for m in generate(1, seed=1) if m.key.startswith(b"management_token:")]
    with_token = [m for m in generate(1, seed=1, admin_token="ae_demo") if m.key.startswith(b"management_token:")]
    assert plain == [] and len(with_token) == 1


def _args(**given: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args([])
    for name, value in given.items():
        setattr(args, name, value)
    return args


def test_cli_spreads_history_over_days() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    config = command.config_from(_args(days=10.0, requests=864_000), now)
    assert config.start == datetime(2026, 2, 19, tzinfo=UTC)
    assert config.gap_s == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        command.config_from(_args(days=1.0), now)
    live = command.config_from(_args(rate=860.0), now)
    assert live.start == now and live.gap_s == pytest.approx(0.01)


def test_requests_start_at_the_configured_mean_gap() -> None:
    """2,000 requests with a mean gap of 300 s span about 2,000 x 300 s (a drift here once put a 7-day backfill
    35 days long, mostly in the future)."""
    import json as _json
    from datetime import UTC as _UTC
    from datetime import datetime as _dt

    from usagestream.publisher.loadgen.traffic import generate as _generate

    start = _dt(2026, 1, 1, tzinfo=_UTC)
    msgs = _generate(2000, seed=5, start=start, gap_s=300.0)
    created = sorted(
        _dt.fromisoformat(_json.loads(m.value)["usage"]["created_at"].replace("Z", "+00:00"))
        for m in msgs
        if m.kind == "usage" and m.value
    )
    span = (created[-1] - start).total_seconds()
    assert 0.85 * 2000 * 300 < span < 1.15 * 2000 * 300
