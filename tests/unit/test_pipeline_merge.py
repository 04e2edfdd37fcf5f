"""Batches gathered from several fetches: merge(prepare(chunk) for each chunk) must equal prepare(all of them)."""

from __future__ import annotations

import zlib

import pytest

from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import Prepared, merge, prepare

SETTINGS = Settings.from_env({})


def _messages() -> list[Consumed]:
    topics = {
        "usage": SETTINGS.topic_usage,
        "candidates": SETTINGS.topic_candidates,
        "entities": SETTINGS.topic_entities,
    }
    out = []
    for i, m in enumerate(generate(120, seed=3, dup_ratio=0.05, reorder_ratio=0.05)):
        out.append(Consumed(topics[m.kind], zlib.crc32(m.key) % 4, i, m.key, m.value))
        if i % 97 == 0:  # a few messages that break the contract, spread over the chunks
            out.append(Consumed(SETTINGS.topic_usage, 0, i, m.key, b'{"v": 1, "kind": "usage"}'))
    return out


def _view(p: Prepared) -> tuple[object, ...]:
    return (
        p.size,
        [(m.offset, reason) for m, reason in p.bad],
        [m.offset for m, _ in p.parsed],
        [(part, ev.usage_id, ev.seq) for part, ev in p.usage],
        [(part, ev.candidate_id, ev.seq) for part, ev in p.candidates],
        [(ev.entity, ev.id, ev.seq) for ev in p.entities],
        p.superseded,
        p.consumed,
        {topic: same + older for topic, (same, older) in p.dropped.items()},
    )


@pytest.mark.parametrize("chunk", [1, 7, 50, 333, 10_000])
def test_merged_chunks_equal_one_batch(chunk: int) -> None:
    messages = _messages()
    whole = prepare(SETTINGS, messages)
    parts = [prepare(SETTINGS, messages[i : i + chunk]) for i in range(0, len(messages), chunk)]
    assert whole.superseded > 0 and whole.bad, "the sample must exercise collapse and dead letters"
    merged = merge(SETTINGS, parts)
    assert _view(merged) == _view(whole)
    # Only the split of the dropped snapshots may differ: two copies of a seq that a later fetch supersedes are
    # one duplicate and one older snapshot when gathered, two older ones when they arrive in one fetch.
    for topic, (same, _older) in merged.dropped.items():
        assert same >= whole.dropped[topic][0]
