"""The contract every implementation of the pipeline's ports passes (usagestream/ports.py): one set of cases, run
against the in-memory fakes (tests/unit/test_memory_stores.py) and against PostgreSQL and Redis
(tests/integration/test_store_contract.py), as eventsourcing runs one suite against every backend.

A case sees an implementation through its port and a small harness that reads back what the store holds (the
aggregates, the stored seqs, the live items, the published changes); a subclass provides the `views` or `live`
fixture. Events are built by the publisher's encoders and read by the contract's parser, as the worker reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from usagestream.contract import CandidateEvent, EntityEvent, UsageEvent, parse_candidate, parse_entity, parse_usage
from usagestream.live import live_item, remove_message
from usagestream.ports import LiveSet, Views
from usagestream.publisher.events import Message, candidate_message, entity_message, entity_tombstone, usage_message
from usagestream.publisher.records import CandidateRecord, UsageRecord
from usagestream.settings import Settings
from usagestream.stats import TIMEOUT_MESSAGE, CandidateFacts, Deltas, UsageFacts, recount

T0 = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)  # when the requests of a case were created (unless it says)
AggRows = dict[Any, tuple[int | Decimal, ...]]


def usage_message_of(rid: str, seq: int, status: str = "pending", created: datetime = T0, **fields: Any) -> Message:
    """The Kafka message of a usage snapshot of request `rid`; a finished one has tokens and costs."""
    if status not in ("pending", "streaming"):
        fields = {
            "status_code": 200,
            "provider_name": "P",
            "provider_id": "p-1",
            "input_tokens": 3,
            "output_tokens": 4,
            "total_tokens": 7,
            "total_cost_usd": Decimal("0.000125"),
            "actual_total_cost_usd": Decimal("0.25"),
            "finalized_at": created,
            **fields,
        }
    record = UsageRecord(id=rid, request_id=f"q-{rid}", model="m", created_at=created, status=status, **fields)
    return usage_message(record, seq=seq, emitted_at=created, event_id=f"e-{rid}-{seq}")


def usage_event(rid: str, seq: int, status: str = "pending", created: datetime = T0, **fields: Any) -> UsageEvent:
    """That snapshot as the worker parses it."""
    msg = usage_message_of(rid, seq, status, created, **fields)
    return parse_usage(msg.key, msg.value)


def candidate_event(cid: str, seq: int, status: str = "pending", created: datetime = T0) -> CandidateEvent:
    """An attempt slot of request r-1 at provider p-1; a finished one has its latency."""
    done = status in ("success", "failed")
    record = CandidateRecord(
        candidate_index=0,
        created_at=created,
        status=status,
        provider_id="p-1",
        latency_ms=800 if done else None,
        status_code=200 if done else None,
    )
    msg = candidate_message(
        record,
        candidate_id=cid,
        usage_id="r-1",
        request_id="q-r-1",
        seq=seq,
        emitted_at=created,
        event_id=f"e-{cid}-{seq}",
    )
    return parse_candidate(msg.key, msg.value)


def provider_event(ident: str, seq: int | None, name: str = "P") -> EntityEvent:
    """A provider upsert at `seq`, or (seq None) the Kafka tombstone that deletes it."""
    if seq is None:
        msg = entity_tombstone("provider", ident)
    else:
        msg = entity_message("provider", ident, {"name": name, "billing_type": "usage"}, seq=seq, emitted_at=T0)
    return parse_entity(msg.key, msg.value)


def state(ev: UsageEvent, partition: int = 0, **changes: Any) -> dict[str, Any]:
    """The state the views hold for `ev` (what the live set is synced to)."""
    return {**vars(replace(ev.usage, **changes)), "seq": ev.seq, "kafka_partition": partition}


def expected_aggregates(settings: Settings, facts: Iterable[UsageFacts | UsageEvent]) -> AggRows:
    """The aggregates as a recount of the requests' latest states."""
    return recount([f if isinstance(f, UsageFacts) else UsageFacts.of(f.usage) for f in facts], settings.tz)


def expected_attempts(settings: Settings, events: Iterable[CandidateEvent]) -> AggRows:
    deltas = Deltas(settings.tz)
    for ev in events:
        deltas.apply_candidate(None, CandidateFacts.of(ev.candidate))
    return dict(deltas.attempt_rows())


class ViewsHarness(Protocol):
    """A Views implementation with the means to read back what it holds."""

    settings: Settings
    store: Views

    async def aggregates(self) -> AggRows: ...  # usage_agg's non-zero rows
    async def attempts(self) -> AggRows: ...  # attempt_agg's non-zero rows
    async def stored_seqs(self) -> dict[str, int]: ...  # usage id -> seq of its record
    async def entities(self) -> dict[tuple[str, str], tuple[int, bool, Mapping[str, Any] | None]]: ...
    async def dead_letters(self) -> dict[str, tuple[int, str]]: ...  # topic -> (count, last reason)
    async def set_records_cutoff(self, when: datetime) -> None: ...  # as retention records it


class LiveHarness(Protocol):
    """A LiveSet implementation with the means to read back what it holds."""

    store: LiveSet

    async def items(self) -> dict[str, dict[str, Any]]: ...  # usage id -> live item
    async def published(self) -> list[dict[str, Any]]: ...  # the changes published since the last call
    async def wipe(self) -> None: ...  # forget everything, as a restart without persistence does


class ViewsContract:
    """The Views cases (a subclass provides the `views` fixture)."""

    async def test_the_same_snapshot_twice_equals_once(self, views: ViewsHarness) -> None:
        ev = usage_event("r-1", 1, "completed")
        first = await views.store.apply([(0, ev)], [])
        again = await views.store.apply([(0, ev)], [])
        assert (first.usage_applied, first.usage_stale) == (1, 0)
        assert (again.usage_applied, again.usage_stale) == (0, 1)
        assert (again.usage_states["r-1"]["seq"], again.usage_states["r-1"]["status"]) == (1, "completed")
        assert await views.stored_seqs() == {"r-1": 1}
        assert await views.aggregates() == expected_aggregates(views.settings, [ev])

    async def test_a_duplicate_within_one_batch_counts_once(self, views: ViewsHarness) -> None:
        ev = usage_event("r-1", 1, "completed")
        applied = await views.store.apply([(0, ev), (0, ev)], [])
        assert (applied.usage_applied, applied.usage_stale) == (1, 1)
        assert await views.aggregates() == expected_aggregates(views.settings, [ev])

    async def test_an_older_seq_after_a_newer_one_is_ignored(self, views: ViewsHarness) -> None:
        newer, older = usage_event("r-1", 3, "completed"), usage_event("r-1", 2, "streaming")
        await views.store.apply([(0, newer)], [])
        applied = await views.store.apply([(0, older)], [])
        assert (applied.usage_applied, applied.usage_stale) == (0, 1)
        assert (applied.usage_states["r-1"]["seq"], applied.usage_states["r-1"]["status"]) == (3, "completed")
        assert await views.stored_seqs() == {"r-1": 3}
        assert await views.aggregates() == expected_aggregates(views.settings, [newer])

    async def test_a_newer_snapshot_takes_back_the_older_contribution(self, views: ViewsHarness) -> None:
        pending = usage_event("r-1", 1, user_id="u-1", created=T0)
        moved = usage_event("r-1", 2, "completed", user_id="u-2", api_key_id="k-2", created=T0 + timedelta(days=40))
        other = usage_event("r-2", 1, "completed", user_id="u-1")
        await views.store.apply([(0, pending), (1, other)], [])
        applied = await views.store.apply([(0, moved)], [])
        assert applied.usage_applied == 1
        assert await views.stored_seqs() == {"r-1": 2, "r-2": 1}
        assert await views.aggregates() == expected_aggregates(views.settings, [moved, other])

    async def test_candidates_are_fenced_by_seq(self, views: ViewsHarness) -> None:
        done, earlier = candidate_event("c-1", 2, "success"), candidate_event("c-1", 1, "pending")
        first = await views.store.apply([], [(0, done)])
        again = await views.store.apply([], [(0, done), (0, earlier)])
        assert (first.candidates_applied, first.candidates_stale) == (1, 0)
        assert (again.candidates_applied, again.candidates_stale) == (0, 2)
        assert await views.attempts() == expected_attempts(views.settings, [done])

    async def test_entities_are_fenced_by_seq_and_a_tombstone_deletes_whatever_seq(self, views: ViewsHarness) -> None:
        await views.store.apply([], [], [provider_event("p-1", 2, "Two")])
        older = await views.store.apply([], [], [provider_event("p-1", 1, "One")])
        assert older.entities_applied == 0
        assert await views.entities() == {("provider", "p-1"): (2, False, {"name": "Two", "billing_type": "usage"})}
        deleted = await views.store.apply([], [], [provider_event("p-1", None)])
        assert deleted.entities_applied == 1
        assert (await views.entities())[("provider", "p-1")][:2] == (2, True)
        newer = await views.store.apply([], [], [provider_event("p-1", 3, "Three")])
        assert newer.entities_applied == 1
        assert await views.entities() == {("provider", "p-1"): (3, False, {"name": "Three", "billing_type": "usage"})}

    async def test_a_request_active_past_the_timeout_fails_with_504_and_a_newer_event_wins(
        self, views: ViewsHarness
    ) -> None:
        now = datetime.now(UTC)
        stale = usage_event(
            "r-old", 4, "streaming", created=now - timedelta(seconds=views.settings.active_timeout_s + 600)
        )
        fresh = usage_event("r-new", 1, "pending", created=now - timedelta(seconds=60))
        elsewhere = usage_event("r-other", 1, "pending", created=stale.usage.created_at)
        await views.store.apply([(1, stale), (1, fresh), (2, elsewhere)], [])
        timed = await views.store.time_out([1])
        assert timed.usage_applied == 1 and list(timed.usage_states) == ["r-old"]
        st = timed.usage_states["r-old"]
        assert (st["seq"], st["status"], st["status_code"], st["error_message"]) == (4, "failed", 504, TIMEOUT_MESSAGE)
        assert {s["id"] for s in await views.store.active_states([1, 2])} == {"r-new", "r-other"}
        assert (await views.store.time_out([1])).usage_applied == 0
        failed = UsageFacts.of(replace(stale.usage, status="failed", status_code=504, error_message=TIMEOUT_MESSAGE))
        assert await views.aggregates() == expected_aggregates(views.settings, [failed, fresh, elsewhere])
        finished = usage_event("r-old", 5, "completed", created=stale.usage.created_at)
        assert (await views.store.apply([(1, finished)], [])).usage_applied == 1
        assert await views.aggregates() == expected_aggregates(views.settings, [finished, fresh, elsewhere])

    async def test_events_before_the_records_cutoff_are_returned_not_applied(self, views: ViewsHarness) -> None:
        await views.set_records_cutoff(T0 + timedelta(days=1))
        late, kept = usage_event("r-1", 1, "completed"), usage_event("r-2", 1, created=T0 + timedelta(days=2))
        cand = candidate_event("c-1", 1, "success")
        applied = await views.store.apply([(0, late), (0, kept)], [(0, cand)])
        assert [ev for _, ev in applied.beyond_retention] == [late, cand]
        assert (applied.usage_applied, applied.usage_stale, applied.candidates_applied) == (1, 0, 0)
        assert await views.stored_seqs() == {"r-2": 1}
        assert await views.aggregates() == expected_aggregates(views.settings, [kept])
        assert await views.attempts() == {}

    async def test_active_states_are_those_of_the_given_partitions(self, views: ViewsHarness) -> None:
        events = [
            (0, usage_event("a", 1)),
            (0, usage_event("b", 1, "completed")),
            (1, usage_event("c", 2, "streaming")),
        ]
        await views.store.apply(events, [])
        assert {(s["id"], s["seq"], s["kafka_partition"]) for s in await views.store.active_states([0])} == {
            ("a", 1, 0)
        }
        assert {s["id"] for s in await views.store.active_states([0, 1])} == {"a", "c"}

    async def test_dead_letter_counts_add_up_and_keep_the_last_reason(self, views: ViewsHarness) -> None:
        await views.store.count_dead_letter("usage", 1, "first")
        await views.store.count_dead_letter("usage", 3, "second")
        await views.store.count_dead_letter("entities", 1, "x" * 1200)
        assert await views.dead_letters() == {"usage": (4, "second"), "entities": (1, "x" * 1000)}


class LiveContract:
    """The LiveSet cases (a subclass provides the `live` fixture)."""

    async def test_the_same_state_twice_changes_once(self, live: LiveHarness) -> None:
        s = state(usage_event("r-1", 1, "streaming"))
        assert await live.store.sync([s]) == 1
        assert await live.store.sync([s]) == 0
        assert await live.items() == {"r-1": live_item(s)}
        assert await live.published() == [{"type": "upsert", "item": live_item(s)}]

    async def test_an_older_seq_after_a_newer_one_is_ignored(self, live: LiveHarness) -> None:
        newer, older = state(usage_event("r-1", 2, "streaming")), state(usage_event("r-1", 1, "pending"))
        assert await live.store.sync([newer]) == 1
        assert await live.store.sync([older]) == 0
        assert await live.items() == {"r-1": live_item(newer)}

    async def test_states_of_one_sync_apply_in_order(self, live: LiveHarness) -> None:
        first, second = state(usage_event("r-1", 1, "pending")), state(usage_event("r-1", 2, "streaming"))
        assert await live.store.sync([second, first]) == 1
        assert await live.store.sync([first, second]) == 0
        assert await live.items() == {"r-1": live_item(second)}

    async def test_a_finished_state_removes_the_item_and_says_so(self, live: LiveHarness) -> None:
        active, done = usage_event("r-1", 1, "streaming"), usage_event("r-1", 2, "completed")
        await live.store.sync([state(active)])
        assert await live.store.sync([state(done)]) == 1
        assert await live.store.sync([state(done)]) == 0
        assert await live.items() == {}
        assert (await live.published())[-1] == remove_message(state(done))

    async def test_the_time_out_at_the_same_seq_removes_the_item(self, live: LiveHarness) -> None:
        active = usage_event("r-1", 4, "streaming")
        await live.store.sync([state(active)])
        assert await live.store.sync([state(active, status="failed", status_code=504)]) == 1
        assert await live.items() == {}

    async def test_after_a_wipe_a_rebuild_equals_the_state_before(self, live: LiveHarness) -> None:
        states = [state(usage_event(f"r-{i}", 1, "pending"), partition=i % 2) for i in range(5)]
        await live.store.sync(states)
        await live.store.rebuild([0, 1], states)
        before = await live.items()
        assert await live.store.missing_partitions([0, 1]) == []
        await live.wipe()
        assert await live.store.missing_partitions([0, 1]) == [0, 1]
        await live.store.rebuild([0, 1], states)
        assert await live.items() == before and len(before) == 5
        assert await live.store.missing_partitions([0, 1]) == []

    async def test_a_rebuild_drops_the_items_of_its_partitions_that_are_no_longer_active(
        self, live: LiveHarness
    ) -> None:
        a, b = state(usage_event("a", 1), partition=0), state(usage_event("b", 1), partition=0)
        c = state(usage_event("c", 1), partition=1)
        await live.store.sync([a, b, c])
        await live.store.rebuild([0], [a])
        assert set(await live.items()) == {"a", "c"}
        assert await live.store.missing_partitions([0, 1]) == [1]
