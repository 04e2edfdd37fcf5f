"""The worker's collector threshold (streams/worker.py `gc_young_threshold`) lies above what the batches it holds
keep alive: a collection then runs over cyclic garbage only, not over every live batch (docs/design.md, "GC")."""

from __future__ import annotations

import gc
import zlib
from dataclasses import replace

import pytest

from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings
from usagestream.streams.batch_consumer import PREPARE_CHUNK
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import Prepared, merge, prepare, ripen
from usagestream.streams.worker import gc_young_threshold


def _messages(settings: Settings, n: int) -> list[Consumed]:
    topics = {"usage": settings.topic_usage, "candidates": settings.topic_candidates}
    topics["entities"] = settings.topic_entities
    out = [
        Consumed(topics[m.kind], zlib.crc32(m.key) % 6, i, m.key, m.value)
        for i, m in enumerate(generate(n // 8 + 50, seed=5, dup_ratio=0.01, reorder_ratio=0.01))
    ]
    return out[:n]


def _gathered(settings: Settings, messages: list[Consumed]) -> Prepared:
    """A full batch as the consumer gathers it in a drain: fetches merged as they arrive, then worked ahead."""
    batch = prepare(settings, messages[:PREPARE_CHUNK])
    for start in range(PREPARE_CHUNK, len(messages), PREPARE_CHUNK):
        batch = merge(settings, [batch, prepare(settings, messages[start : start + PREPARE_CHUNK])])
    while ripen(batch):
        pass
    return batch


@pytest.mark.parametrize("batch_size", [2_000, 10_000])
def test_two_full_batches_and_their_rows_stay_below_the_young_threshold(batch_size: int) -> None:
    settings = replace(Settings.from_env({}), batch_size=batch_size)
    messages = _messages(settings, batch_size)
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        batch = _gathered(settings, messages)
        held = gc.get_count()[0] - before  # tracked objects the prepared batch keeps alive
    finally:
        gc.enable()
    assert len(batch.parsed) == batch_size
    # The gathered batch, the one in the stores, and the latter's rows and states (fewer than its events).
    assert gc_young_threshold(batch_size) > 3 * held
