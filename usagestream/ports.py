"""The stores the worker's pipeline writes to, stated as the pipeline uses them: the views (PostgreSQL) and the
live set (Redis).

streams/pipeline.py depends on these protocols only. materializer/write/pg_views.py (`PgViews`) and
materializer/write/redis_live.py (`RedisLive`) implement them on the real servers; tests/unit/store_fakes.py implements
them in memory, so the pipeline's accounting, retries and dead letters are tested in milliseconds. Both kinds pass
the same contract cases (tests/unit/store_contract.py; the real side in tests/integration/test_store_contract.py).

Errors are part of the contract: an outage raises one of `usagestream.streams.pipeline.TRANSIENT` (OSError,
timeouts, the drivers' connection errors), and the pipeline retries the same call with backoff; data PostgreSQL
refuses raises `asyncpg.exceptions.DataError`, and the pipeline isolates the message that causes it. A call that
raises has changed nothing, or else (the answer lost after a commit) its retry is absorbed by the seq fence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from usagestream.contract import CandidateEvent, EntityEvent, UsageEvent


class State(Protocol):
    """A request's current state: its record's fields (at least usage_records' state columns: id, seq,
    kafka_partition, created_at, status, the tokens and costs, ...) as the views hold them, read by name: a dict,
    or the asyncpg Record PostgreSQL returned (which is no Mapping: it iterates its values, not its names)."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass
class Applied:
    """What a committed batch changed, for the live set: the final state of every usage id the batch touched."""

    usage_states: dict[str, State] = field(default_factory=dict)
    usage_applied: int = 0
    usage_stale: int = 0
    candidates_applied: int = 0
    candidates_stale: int = 0
    entities_applied: int = 0
    # Events of requests (or candidates) created before the records cut-off of retention: not applied, to be
    # dead-lettered with reason `beyond_retention` (their records are gone, so their seq fence is too).
    beyond_retention: list[tuple[int, UsageEvent | CandidateEvent]] = field(default_factory=list)


class Views(Protocol):
    """The records, aggregates, entities and dead-letter counts, each write fenced by seq (PgViews)."""

    async def apply(
        self,
        usage: Sequence[tuple[int, UsageEvent]],
        candidates: Sequence[tuple[int, CandidateEvent]],
        entities: Sequence[EntityEvent] = (),
    ) -> Applied:
        """Apply one batch of (source partition, event) atomically: per id, only a seq above the stored one
        changes anything (an equal or older one counts as stale); events of requests created before the records
        cut-off are returned in `beyond_retention`, not applied."""
        ...

    async def time_out(self, partitions: Sequence[int]) -> Applied:
        """Mark the requests of these partitions still active `active_timeout_s` after created_at as failed
        (504, seq unchanged, so a newer gateway event still wins); returns their new states."""
        ...

    async def active_states(self, partitions: Sequence[int]) -> list[State]:
        """The current state of every active (pending, streaming) request of these partitions."""
        ...

    async def count_dead_letter(self, topic: str, count: int, last_reason: str) -> None:
        """Add `count` dead letters of `topic` to its counter, keeping the last reason."""
        ...


class LiveSet(Protocol):
    """The active requests and the change channel of the websocket feed (RedisLive)."""

    async def sync(self, states: Iterable[State]) -> int:
        """Bring each request's live item in line with its state (in order; an item stored at a higher seq is
        kept; an inactive state removes the item); returns how many items changed (each change is published)."""
        ...

    async def missing_partitions(self, partitions: Sequence[int]) -> list[int]:
        """The partitions whose live items the store no longer holds (never rebuilt, or wiped)."""
        ...

    async def rebuild(self, partitions: Sequence[int], states: Sequence[State]) -> None:
        """Reload the live items of these partitions from `states` (others of theirs removed), mark them held."""
        ...
