"""The pipeline's accounting, retries and dead letters against the in-memory stores (store_fakes.py): every
consumed message is applied, skipped (duplicate, stale, superseded) or dead-lettered, once; a store outage is
retried until it passes, losing and double-counting nothing; offsets are committed only after the stores took
the batch. The same stores on the real servers pass the same contract (store_contract.py)."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from store_contract import expected_aggregates, usage_message_of
from store_fakes import DeadLetterBox, MemoryLive, MemoryViews, state_of

from usagestream.contract import InvalidEvent, UsageEvent, parse_usage
from usagestream.live import live_item
from usagestream.publisher.events import Message
from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings
from usagestream.streams.batch_consumer import BatchConsumer
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import Pipeline, Prepared, merge, prepare
from usagestream.streams.worker_metrics import WorkerMetrics

SETTINGS = Settings.from_env({})
TOPICS = {"usage": SETTINGS.topic_usage, "candidates": SETTINGS.topic_candidates, "entities": SETTINGS.topic_entities}
PARTITIONS = 4
SKIPS = ("duplicate", "stale", "superseded")


@dataclass
class World:
    """A pipeline on in-memory stores; `waits` holds the backoff delays it asked for (none is waited)."""

    views: MemoryViews = field(default_factory=lambda: MemoryViews(SETTINGS))
    live: MemoryLive = field(default_factory=MemoryLive)
    box: DeadLetterBox = field(default_factory=DeadLetterBox)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    waits: list[float] = field(default_factory=list)
    pipeline: Pipeline = field(init=False)

    def __post_init__(self) -> None:
        self.pipeline = Pipeline(SETTINGS, self.views, self.live, self.box.send, self.metrics, sleep=self._sleep)

    async def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def feed(self, messages: Sequence[Consumed], batch: int = 64) -> None:
        for i in range(0, len(messages), batch):
            await self.pipeline.process(messages[i : i + batch])

    def counted(self, topic: str) -> dict[str, int]:
        """This topic's counters in the worker's metrics."""
        m = self.metrics
        out = {"consumed": int(m.consumed_total.value(topic=topic)), "applied": int(m.applied_total.value(topic=topic))}
        for reason in SKIPS:
            out[reason] = int(m.skipped_total.value(topic=topic, reason=reason))
        out["dead"] = sum(int(v) for _, labels, v in m.dead_lettered_total.samples() if ("topic", topic) in labels)
        return out

    def assert_every_message_accounted_once(self, messages: Sequence[Consumed]) -> None:
        for topic in {*TOPICS.values(), *(m.topic for m in messages)}:
            c = self.counted(topic)
            assert c["consumed"] == sum(1 for m in messages if m.topic == topic), topic
            assert c["consumed"] == c["applied"] + sum(c[r] for r in SKIPS) + c["dead"], (topic, c)
        assert self.pipeline.stats.consumed == len(messages)
        assert self.pipeline.stats.dead_lettered == len(self.box.sent)

    def assert_views_equal_a_recount(self, messages: Sequence[Consumed]) -> None:
        """The aggregates are a recount of each request's latest snapshot; the live set holds the active ones."""
        latest = _latest_usage(messages, skip={(t, p, o) for t, p, o, _ in self.box.sent})
        assert self.views.aggregates() == expected_aggregates(SETTINGS, latest.values())
        assert {uid: seq for uid, (seq, _p, _r) in self.views.records.items()} == {
            uid: ev.seq for uid, ev in latest.items()
        }
        active = {uid: live_item(state_of(*self.views.records[uid])) for uid in latest}
        assert self.live.items == {uid: item for uid, item in active.items() if item is not None}


def _traffic(requests: int = 120, seed: int = 5, dup: float = 0.08, reorder: float = 0.08) -> list[Consumed]:
    """Simulated gateway traffic with duplicates and reordering, as consumed from PARTITIONS partitions."""
    return _consumed(generate(requests, seed=seed, dup_ratio=dup, reorder_ratio=reorder))


def _consumed(messages: Sequence[Message], first_offset: int = 0) -> list[Consumed]:
    return [
        Consumed(TOPICS[m.kind], zlib.crc32(m.key) % PARTITIONS, first_offset + i, m.key, m.value)
        for i, m in enumerate(messages)
    ]


def _latest_usage(messages: Sequence[Consumed], skip: set[tuple[str, int, int]]) -> dict[str, UsageEvent]:
    """Per usage id, the snapshot with the highest seq among the messages not dead-lettered (test's own fold)."""
    latest: dict[str, UsageEvent] = {}
    for m in messages:
        if m.topic != SETTINGS.topic_usage or (m.topic, m.partition, m.offset) in skip:
            continue
        try:
            ev = parse_usage(m.key, m.value)
        except InvalidEvent:
            continue
        if ev.usage_id not in latest or ev.seq > latest[ev.usage_id].seq:
            latest[ev.usage_id] = ev
    return latest


def _bad(offset: int) -> list[Consumed]:
    """Messages that break the contract, and one from a topic the worker does not read."""
    return [
        Consumed(SETTINGS.topic_usage, 0, offset, b"r-x", b"{not json"),
        Consumed(SETTINGS.topic_usage, 1, offset + 1, None, b'{"v": 1, "kind": "usage"}'),
        Consumed(SETTINGS.topic_candidates, 2, offset + 2, b"r-y", b'{"v": 9}'),
        Consumed("somebody.elses.topic", 0, offset + 3, b"k", b"{}"),
    ]


async def test_every_consumed_message_is_applied_skipped_or_dead_lettered_once() -> None:
    w = World()
    messages = _traffic()
    messages[40:40] = _bad(10_000)
    await w.feed(messages)
    assert len(w.box.sent) == 4 and w.views.dead_letters[SETTINGS.topic_usage][0] == 2
    c = w.counted(SETTINGS.topic_usage)
    assert c["applied"] > 0 and c["duplicate"] > 0 and c["superseded"] > 0, c  # the traffic exercises them
    w.assert_every_message_accounted_once(messages)
    w.assert_views_equal_a_recount(messages)


async def test_each_skip_is_counted_under_its_reason() -> None:
    """Same seq again: duplicate; older than the stored seq: stale; older than another of its batch: superseded."""
    w = World()
    v1, v2, v3 = (
        usage_message_of("r-1", seq, status) for seq, status in ((1, "pending"), (2, "streaming"), (3, "completed"))
    )
    batches = [[v2], [v2], [v1], [v1, v3, v3]]  # applied; duplicate; stale; superseded + applied + duplicate
    offsets = iter(range(100))
    consumed = [[Consumed(TOPICS["usage"], 0, next(offsets), m.key, m.value) for m in b] for b in batches]
    for batch in consumed:
        await w.pipeline.process(batch)
    assert w.counted(TOPICS["usage"]) == {
        "consumed": 6,
        "applied": 2,
        "duplicate": 2,
        "stale": 1,
        "superseded": 1,
        "dead": 0,
    }
    w.assert_every_message_accounted_once([m for b in consumed for m in b])


async def test_a_redelivery_of_everything_changes_nothing_and_is_counted_as_skipped() -> None:
    w = World()
    messages = _traffic(seed=6)
    await w.feed(messages, batch=50)
    before = (w.views.aggregates(), dict(w.live.items), w.counted(SETTINGS.topic_usage)["applied"])
    await w.feed(messages[::-1], batch=37)  # again, newest first, in other batches
    assert (w.views.aggregates(), w.live.items, w.counted(SETTINGS.topic_usage)["applied"]) == before
    w.assert_every_message_accounted_once(messages + messages)
    w.assert_views_equal_a_recount(messages)


@pytest.mark.parametrize(("store", "op"), [("views", "apply"), ("live", "sync"), ("views", "count_dead_letter")])
async def test_a_store_outage_is_retried_with_backoff_until_it_passes(store: str, op: str) -> None:
    w = World()
    messages = _traffic(seed=7)
    messages[3:3] = _bad(10_000)[:1]
    faults = getattr(w, store).faults
    faults.fail(op, times=4)
    await w.feed(messages)
    assert faults.raised[op] == 4 and w.pipeline.stats.store_retries == 4
    assert w.waits == [0.2, 0.4, 0.8, 1.6]
    assert w.metrics.store_retries_total.value(store="network") == 4
    w.assert_every_message_accounted_once(messages)
    w.assert_views_equal_a_recount(messages)


@pytest.mark.parametrize(("store", "op"), [("views", "apply"), ("live", "sync")])
async def test_an_answer_lost_after_the_commit_is_not_counted_twice(store: str, op: str) -> None:
    w = World()
    messages = _traffic(seed=8)
    getattr(w, store).faults.fail(op, times=2, after_commit=True)
    await w.feed(messages)
    assert w.pipeline.stats.store_retries == 2
    w.assert_every_message_accounted_once(messages)
    w.assert_views_equal_a_recount(messages)


async def test_a_message_postgresql_refuses_is_isolated_and_only_it_is_dead_lettered() -> None:
    w = World()
    messages = _traffic(seed=9)
    last_usage = next(m for m in reversed(messages) if m.topic == TOPICS["usage"])
    refused = parse_usage(last_usage.key, last_usage.value).usage_id
    w.views.refused.add(refused)
    await w.feed(messages, batch=len(messages))
    of_refused = [m for m in messages if m.topic == TOPICS["usage"] and m.key == refused.encode()]
    assert sorted(offset for _, _, offset, _ in w.box.sent) == sorted(m.offset for m in of_refused)
    assert all(reason.startswith("rejected by PostgreSQL: DataError: ") for *_, reason in w.box.sent)
    assert refused not in w.views.records and len(w.views.records) > 1
    w.assert_every_message_accounted_once(messages)
    w.assert_views_equal_a_recount(messages)


async def test_events_of_requests_beyond_retention_are_dead_lettered_and_counted_once() -> None:
    w = World()
    messages = _traffic(seed=10, dup=0.2, reorder=0.2)
    created = sorted(parse_usage(m.key, m.value).usage.created_at for m in messages if m.topic == TOPICS["usage"])
    w.views.records_cutoff = created[len(created) // 2]  # half of the requests are older than the cut-off
    await w.feed(messages, batch=200)
    assert w.box.sent and all(reason.startswith("beyond_retention: ") for *_, reason in w.box.sent)
    assert min(rec.created_at for _, _, rec in w.views.records.values()) >= w.views.records_cutoff
    w.assert_every_message_accounted_once(messages)
    w.assert_views_equal_a_recount(messages)


async def test_the_sweep_reloads_a_wiped_live_set_and_times_out_forgotten_requests() -> None:
    w = World()
    everything = _traffic(seed=11)
    usage_at = [i for i, m in enumerate(everything) if m.topic == TOPICS["usage"]]
    messages = everything[: usage_at[len(usage_at) // 2]]  # cut mid-stream: requests still active
    await w.feed(messages)
    newest = max(rec.created_at for *_, rec in w.views.records.values())
    w.views.now = lambda: newest  # the simulated present: no request has reached its timeout yet
    before = dict(w.live.items)
    assert before, "the traffic must leave active requests"
    w.live.wipe()
    w.live.faults.fail("missing_partitions")
    await w.pipeline.sweep(list(range(PARTITIONS)))
    assert w.live.items == before and w.metrics.redis_rebuilds_total.value() == 1
    w.views.now = lambda: newest + timedelta(seconds=SETTINGS.active_timeout_s + 1)  # every one is past it now
    await w.pipeline.sweep(list(range(PARTITIONS)))
    assert w.live.items == {} and not any(r.status in ("pending", "streaming") for *_, r in w.views.records.values())


class FakeKafka:
    """The consumer BatchConsumer drives (aiokafka's AIOKafkaConsumer, as far as it is used): hands out the
    queued records in fetches and keeps the committed offsets."""

    def __init__(self, records: Sequence[Consumed], fetch: int) -> None:
        self.fetches = [records[i : i + fetch] for i in range(0, len(records), fetch)]
        self.commits: list[dict[TopicPartition, int]] = []

    def __call__(self, **options: Any) -> FakeKafka:
        return self

    async def start(self) -> None:
        pass

    def subscribe(self, topics: Sequence[str], listener: Any) -> None:
        pass

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Consumed]]:
        if not self.fetches:
            await asyncio.sleep(0.001)
            return {}
        out: dict[TopicPartition, list[Consumed]] = {}
        for r in self.fetches.pop(0):
            out.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def assignment(self) -> set[TopicPartition]:
        return set()

    async def stop(self) -> None:
        pass


def _consumer(w: World, kafka: FakeKafka) -> BatchConsumer[Prepared]:
    return BatchConsumer(
        SETTINGS,
        [SETTINGS.topic_usage, SETTINGS.topic_candidates],
        lambda batch: prepare(SETTINGS, batch),
        w.pipeline.apply,
        merge=lambda parts: merge(SETTINGS, parts),
        make_consumer=kafka,
    )


async def _until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.001)


async def test_offsets_are_committed_only_after_the_stores_took_the_batch() -> None:
    w = World()
    messages = [m for m in _traffic(seed=12) if m.topic != TOPICS["entities"]]
    kafka = FakeKafka(messages, fetch=len(messages))
    commits_at_failure: list[int] = []
    for store, op in ((w.views, "apply"), (w.live, "sync")):
        store.faults.fail(op, times=3)
        store.faults.on_raise = lambda _op: commits_at_failure.append(len(kafka.commits))
    consumer = _consumer(w, kafka)
    await consumer.start()
    try:
        await _until(lambda: kafka.commits)
    finally:
        await consumer.stop()
    assert commits_at_failure == [0] * 6  # no offset was committed while a store was failing
    last = {}
    for m in messages:
        last[TopicPartition(m.topic, m.partition)] = m.offset + 1
    assert kafka.commits == [last]  # then once, past every message of the batch
    w.assert_every_message_accounted_once(messages)
    w.assert_views_equal_a_recount(messages)


async def test_a_batch_the_pipeline_cannot_apply_is_never_committed() -> None:
    w = World()
    messages = [m for m in _traffic(seed=13) if m.topic == TOPICS["usage"]]
    kafka = FakeKafka(messages, fetch=len(messages))
    w.views.faults.fail("apply", error=RuntimeError("a bug, not an outage"))
    consumer = _consumer(w, kafka)
    await consumer.start()
    await asyncio.wait_for(asyncio.gather(consumer.task, return_exceptions=True), 5)
    assert isinstance(consumer.task.exception(), RuntimeError)
    await consumer.stop()
    assert kafka.commits == [] and w.views.records == {}
