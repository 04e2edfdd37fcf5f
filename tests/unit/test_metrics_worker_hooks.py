"""streams.worker_metrics without a server: the hooks move the right series, dead-letter reasons stay bounded."""

from __future__ import annotations

import json

import asyncpg
import pytest
import redis.exceptions

from usagestream.contract import InvalidEvent, UsageEvent, parse_entity, parse_usage
from usagestream.settings import Settings
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import _late_messages, prepare
from usagestream.streams.worker_metrics import WorkerMetrics, dead_letter_kind


def _reason(key: bytes | None, raw: bytes | None, entity: bool = False) -> str:
    with pytest.raises(InvalidEvent) as caught:
        (parse_entity if entity else parse_usage)(key, raw)
    return str(caught.value)


@pytest.mark.parametrize(
    ("key", "raw", "entity", "kind"),
    [
        (b"k", None, False, "tombstone"),
        (b"k", b"{x", False, "json"),
        (b"k", b"[1]", False, "json"),
        (b"k", b'{"kind": "usage"}', False, "version"),
        (b"k", b'{"v": 2}', False, "version"),
        (b"k", b'{"v": 1}', False, "kind"),
        (b"k", b'{"v": 1, "kind": "zzz"}', False, "kind"),
        (b"k", b'{"v": 1, "kind": "usage"}', False, "schema"),
        (b"nope", b'{"v": 1, "kind": "entity"}', True, "key"),
        (None, b'{"v": 1, "kind": "entity"}', True, "key"),
    ],
)
def test_contract_reasons_fold_into_fixed_kinds(key: bytes | None, raw: bytes | None, entity: bool, kind: str) -> None:
    assert dead_letter_kind(_reason(key, raw, entity)) == kind


def test_other_reasons() -> None:
    assert dead_letter_kind("rejected by PostgreSQL: NumericValueOutOfRangeError: x") == "refused_by_postgres"
    assert dead_letter_kind("usage.api_key_id must be a string, got int") == "schema", "a field named *key* is schema"
    assert dead_letter_kind("usage_id disagrees with the message key") == "key"
    assert dead_letter_kind("unexpected topic 'x'") == "topic"
    assert dead_letter_kind("beyond_retention: usage u1 created at 2020-01-01T00:00:00+00:00, before") == (
        "beyond_retention"
    )


def test_hooks_move_their_series() -> None:
    m = WorkerMetrics()
    m.consumed("gateway.usage.v1", 5)
    m.applied("gateway.usage.v1", 3)
    m.skipped("gateway.usage.v1", "duplicate", 1)
    m.skipped("gateway.usage.v1", "stale", 1)
    m.skipped("gateway.usage.v1", "superseded", 4)
    m.dead_lettered("gateway.usage.v1", "not valid JSON: at byte 3 {secret-ish payload}")
    m.batch(5, 0.02)
    m.lag("gateway.usage.v1", 0, 12)
    m.lag("gateway.usage.v1", 1, -3)  # position past a stale highwater: never a negative lag
    m.forget_partitions([("gateway.usage.v1", 0)])
    m.store_error(asyncpg.exceptions.CannotConnectNowError("x"))
    m.store_error(redis.exceptions.ConnectionError("x"))
    m.store_retry("postgres")
    m.redis_rebuilt(2)
    assert m.consumed_total.value(topic="gateway.usage.v1") == 5
    assert m.applied_total.value(topic="gateway.usage.v1") == 3
    assert m.skipped_total.value("gateway.usage.v1", "duplicate") == 1
    assert m.skipped_total.value("gateway.usage.v1", "stale") == 1
    assert m.skipped_total.value("gateway.usage.v1", "superseded") == 4
    assert m.dead_lettered_total.value(topic="gateway.usage.v1", reason="json") == 1
    assert m.batch_size.count() == 1 and m.apply_seconds.value() == 0.02
    assert m.lag_messages.value(topic="gateway.usage.v1", partition=0) == 0, "forgotten"
    assert 'partition="0"' not in m.registry.expose() and m.lag_messages.value("gateway.usage.v1", 1) == 0
    assert m.store_errors_total.value(store="postgres") == 1 == m.store_errors_total.value(store="redis")
    assert m.store_retries_total.value(store="postgres") == 1
    assert m.redis_rebuilds_total.value() == 1 and m.redis_rebuilt_partitions_total.value() == 2
    assert "secret-ish" not in m.registry.expose(), "a reason's text never becomes a label"
    with pytest.raises(ValueError):
        m.skipped("t", "other", 1)


def _usage(usage_id: str, seq: int, offset: int, topic: str = "gateway.usage.v1") -> Consumed:
    usage = {
        "id": usage_id,
        "request_id": "r",
        "provider_name": "p",
        "model": "m",
        "is_stream": False,
        "status": "completed",
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "total_tokens": 3,
        "created_at": "2020-01-02T03:04:05Z",
    }
    for name in ("input", "output", "cache_creation", "cache_read", "request", "total"):
        usage[f"{name}_cost_usd"] = usage[f"actual_{name}_cost_usd"] = 0
    event = {
        "v": 1,
        "kind": "usage",
        "event_id": f"e{offset}",
        "usage_id": usage_id,
        "seq": seq,
        "emitted_at": "2020-01-02T03:04:06Z",
        "usage": usage,
    }
    return Consumed(topic, 0, offset, usage_id.encode(), json.dumps(event).encode())


def test_the_batch_tells_duplicates_from_older_snapshots_and_late_requests_leave_both() -> None:
    topic = "gateway.usage.v1"
    batch = [
        _usage("a", 1, 0),
        _usage("a", 2, 1),
        _usage("a", 2, 2),
        _usage("b", 1, 3),
        _usage("c", 3, 4),
        _usage("c", 1, 5),
        Consumed(topic, 0, 6, b"x", b"{"),
    ]
    prepared = prepare(Settings.from_env({}), batch)
    assert prepared.consumed == {topic: 7}
    assert prepared.dropped == {topic: (1, 2)}, "a@2 again is a duplicate; a@1 and c@1 are older snapshots"
    assert [ev.usage_id for _, ev in prepared.usage] == ["a", "b", "c"]
    # PostgreSQL refused request a as beyond retention: all three of its messages go, and leave the skip counts.
    late = [(p, ev) for p, ev in prepared.usage if ev.usage_id == "a"]
    skipped = {t: list(pair) for t, pair in prepared.dropped.items()}
    rejected = _late_messages(late, prepared.parsed, skipped)
    assert [msg.offset for msg, _ in rejected] == [0, 1, 2]
    assert all(reason.startswith("beyond_retention: usage a created at 2020-01-02T03:04:05") for _, reason in rejected)
    assert skipped == {topic: [0, 1]}, "left: c@1, superseded by c@3"
    assert all(isinstance(ev, UsageEvent) for _, ev in late)
