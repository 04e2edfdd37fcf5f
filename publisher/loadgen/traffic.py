"""Simulated gateway traffic: request lifecycles in simulated time, turned into contract messages.

Each request is a generator (lifecycle.py) that emits messages and yields the simulated seconds until its next
step; a heap interleaves the requests in time order, so `emitted_at` (and every other byte) follows from the
seed and the start time alone. On top, deliberate duplicates (an earlier message sent again) and reorderings
(one request's first usage snapshot held back until after its next one) test the pipeline's idempotence.
"""

from __future__ import annotations

import gc
import heapq
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate, count
from typing import Any

from usagestream.publisher.events import Message
from usagestream.publisher.loadgen import lifecycle, population
from usagestream.publisher.tracker import RequestTracker

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS_PER_REQUEST = 8.6  # measured average (usage + candidate events): turns events/s into requests/s
_RECENT = 256  # duplicates re-send one of the last this-many messages


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """What to simulate. `gap_s` is the mean simulated time between two request starts (Poisson arrivals)."""

    seed: int = 1
    start: datetime = DEFAULT_START
    gap_s: float = 0.05
    users: int = 200
    dup_ratio: float = 0.01  # extra copies per message sent
    reorder_ratio: float = 0.01  # share of requests whose first usage snapshot arrives after the second
    rename_ratio: float = 0.0005  # share of requests after which a provider or user is renamed
    entities: bool = True  # begin with the population's entity events
    admin_token: str | None = None
    weights: dict[str, float] = field(default_factory=lambda: dict(lifecycle.OUTCOME_WEIGHTS))


class Traffic:
    """An iterator of messages for `requests` requests (None: without end)."""

    def __init__(self, config: TrafficConfig) -> None:
        self.config = config
        self.rng = random.Random(f"traffic:{config.seed}:{config.start.isoformat()}")  # noqa: S311 - test data
        self.world = population.build(config.seed, config.users)
        self.now_s = config.start.timestamp()
        self.now = config.start
        # Entities go through the publisher's own tracker (their seq is the simulated clock in microseconds).
        self.tracker = RequestTracker(clock=lambda: self.now, new_id=self.new_id)
        self.out: deque[Message] = deque()
        self._recent: deque[Message] = deque(maxlen=_RECENT)
        # Ids are a per-run random prefix plus a counter: unique, deterministic, and cheap.
        self._id_prefix = population.new_uuid(self.rng)[:24]
        self._ids = count(1)
        self.requests_started = 0
        self.duplicates = 0
        self.reordered = 0
        self.renames = 0
        self.stopped = False
        self.outcomes = list(config.weights)
        self.outcome_cum = list(accumulate(config.weights.values()))

    def stop(self) -> None:
        """Start no new request; the iterator still finishes the ones in flight."""
        self.stopped = True

    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):012x}"

    def emit(self, message: Message) -> None:
        """Queue a message, and now and then also an earlier one again (a deliberate duplicate)."""
        self.out.append(message)
        self._recent.append(message)
        if self.config.dup_ratio and self.rng.random() < self.config.dup_ratio:
            self.out.append(self._recent[int(self.rng.random() * len(self._recent))])
            self.duplicates += 1

    def messages(self, requests: int | None) -> Iterator[Message]:
        """Entity events first, then the requests' events in simulated time order, as they are sent."""
        if self.config.entities:
            for message in population.entity_messages(self.world, self.tracker, self.config.admin_token):
                self.emit(message)
        heap: list[tuple[float, int, Iterator[float]]] = []
        order = count()
        rate, out = 1.0 / self.config.gap_s if self.config.gap_s > 0 else 0.0, self.out
        # The next request's start: drawn once per started request (not per step), so the mean gap holds.
        arrival = self.now_s + (self.rng.expovariate(rate) if rate else 0.0)
        while self._more(requests) or heap:
            if not self._more(requests):
                arrival = float("inf")  # every request has started: only finish the ones in flight
            if heap and heap[0][0] <= arrival:
                when, _, steps = heapq.heappop(heap)
                self._set_time(when)
                delay = next(steps, None)
                if delay is not None:
                    heapq.heappush(heap, (when + delay, next(order), steps))
            else:
                self._set_time(arrival)
                heapq.heappush(heap, (arrival, next(order), lifecycle.request(self)))
                self.requests_started += 1
                arrival += self.rng.expovariate(rate) if rate else 0.0
            while out:
                yield out.popleft()

    def _more(self, requests: int | None) -> bool:
        return not self.stopped and (requests is None or self.requests_started < requests)

    def _set_time(self, when: float) -> None:
        if when != self.now_s:
            self.now_s = when
            self.now = datetime.fromtimestamp(when, UTC)


def generate(requests: int, config: TrafficConfig | None = None, **overrides: Any) -> list[Message]:
    """All messages of `requests` simulated requests, in send order (no Kafka). Same arguments, same bytes."""
    config = config or TrafficConfig(**overrides)
    enabled = gc.isenabled()
    gc.disable()  # a growing list makes every collection slower, and nothing here forms cycles to free
    try:
        return list(Traffic(config).messages(requests))
    finally:
        if enabled:
            gc.enable()
