"""UsageRecorder: a RequestTracker joined to a Publisher, the one object a gateway's handlers call.

Each call builds the next snapshot and queues it; none waits for Kafka, and none raises into the gateway: a
call the tracker refuses (an unknown request, a bad value) is counted in `rejected` and logged, rate-limited.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from usagestream.publisher.events import Message
from usagestream.publisher.kafka_publisher import Publisher
from usagestream.publisher.tracker import RequestTracker

log = logging.getLogger("usagestream.publisher")


class UsageRecorder:
    """Plain lifecycle calls -> whole-snapshot events on Kafka; names and arguments mirror RequestTracker."""

    def __init__(self, publisher: Publisher, tracker: RequestTracker | None = None) -> None:
        self.publisher = publisher
        self.tracker = tracker or RequestTracker()
        self.rejected = 0

    def started(self, *, request_id: str, model: str, usage_id: str | None = None, **fields: Any) -> str:
        """Record a new pending request; returns its usage id (a new UUID unless given)."""
        usage_id = usage_id or str(uuid.uuid4())
        self._emit(self.tracker.started, usage_id, request_id=request_id, model=model, **fields)
        return usage_id

    def streaming(self, usage_id: str, *, provider_name: str, **fields: Any) -> bool:
        return self._emit(self.tracker.streaming, usage_id, provider_name=provider_name, **fields)

    def finished(self, usage_id: str, *, status: str = "completed", **fields: Any) -> bool:
        return self._emit(self.tracker.finished, usage_id, status=status, **fields)

    def billing_corrected(self, usage_id: str, **costs: Any) -> bool:
        return self._emit(self.tracker.billing_corrected, usage_id, **costs)

    def update(self, usage_id: str, **fields: Any) -> bool:
        return self._emit(self.tracker.update, usage_id, **fields)

    def candidate_planned(self, usage_id: str, *, candidate_id: str | None = None, **fields: Any) -> str:
        """Record a planned candidate slot; returns its candidate id (a new UUID unless given)."""
        candidate_id = candidate_id or str(uuid.uuid4())
        self._emit(self.tracker.candidate_planned, usage_id, candidate_id, **fields)
        return candidate_id

    def candidate_started(self, usage_id: str, candidate_id: str, **fields: Any) -> bool:
        return self._emit(self.tracker.candidate_started, usage_id, candidate_id, **fields)

    def candidate_streaming(self, usage_id: str, candidate_id: str, **fields: Any) -> bool:
        return self._emit(self.tracker.candidate_streaming, usage_id, candidate_id, **fields)

    def candidate_finished(self, usage_id: str, candidate_id: str, *, status: str, **fields: Any) -> bool:
        return self._emit(self.tracker.candidate_finished, usage_id, candidate_id, status=status, **fields)

    def entity_upserted(self, entity: str, entity_id: str, data: dict[str, Any], **fields: Any) -> bool:
        return self._emit(self.tracker.entity_upserted, entity, entity_id, data, **fields)

    def entity_deleted(self, entity: str, entity_id: str, **fields: Any) -> bool:
        return self._emit(self.tracker.entity_deleted, entity, entity_id, **fields)

    def _emit(self, build: Callable[..., Message], *args: Any, **kwargs: Any) -> bool:
        try:
            message = build(*args, **kwargs)
        except (
            ValueError,
            KeyError,
            TypeError,
        ) as exc:  # a gateway bug must not become a failed client request
            self.rejected += 1
            if self.rejected & (self.rejected - 1) == 0:  # log the 1st, 2nd, 4th, 8th... so a loop cannot flood
                log.warning(
                    "usagestream recorder: %s refused (%s); %d refused so far",
                    build.__name__,
                    exc,
                    self.rejected,
                )
            return False
        return self.publisher.publish(message)
