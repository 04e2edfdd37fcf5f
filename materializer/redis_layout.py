"""The Redis key layout of the live set, in one place: the worker writes it, the API reads it, `rebuild` resets it.

Every key lies under USAGESTREAM_REDIS_PREFIX (`Settings.key`); what each holds is in docs/design.md "Redis
layout". The worker's Lua script, the API's reads and the feed's subscription must name the same keys, so they
all take them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from usagestream.settings import Settings


@dataclass(frozen=True)
class LiveKeys:
    """The live set's keys under one prefix."""

    items: str  # hash: usage id -> JSON live item of an active request
    by_created: str  # zset: usage id scored by created_at (newest first for /active)
    channel: str  # pub/sub: the changes the websocket feed fans out
    ready_prefix: str  # `<ready_prefix><partition>` is set once a partition's live items are loaded

    @classmethod
    def of(cls, settings: Settings) -> LiveKeys:
        return cls(
            items=settings.key("live"),
            by_created=settings.key("live", "by_created"),
            channel=settings.key("live", "events"),
            ready_prefix=settings.key("live", "ready", ""),
        )

    def ready(self, partition: int) -> str:
        """The flag that partition `partition`'s live items are in Redis (absent after Redis lost its memory)."""
        return f"{self.ready_prefix}{partition}"

    @property
    def every_ready(self) -> str:
        """A SCAN pattern matching every partition's ready flag."""
        return self.ready_prefix + "*"
