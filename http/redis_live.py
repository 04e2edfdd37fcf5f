"""Read-only access to the worker's Redis live set (keys: materializer/redis_layout.py; docs/design.md)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from usagestream.materializer.redis_layout import LiveKeys
from usagestream.settings import Settings

log = logging.getLogger(__name__)
Raw = dict[str, Any]
_CHUNK = 500


class LiveSet:
    """The active requests as the worker last wrote them. Never writes."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        keys = LiveKeys.of(settings)
        self.hash_key = keys.items
        self.zset_key = keys.by_created
        self.channel = keys.channel

    async def by_ids(self, ids: Sequence[str]) -> dict[str, Raw]:
        """The live items of those ids that are in the set (others are absent from the result)."""
        found: dict[str, Raw] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            values = await self.client.hmget(self.hash_key, chunk)
            for usage_id, value in zip(chunk, values, strict=True):
                item = _decode(value)
                if item is not None:
                    found[usage_id] = item
        return found

    async def newest(self, limit: int | None, user_id: str | None = None) -> list[Raw]:
        """Up to `limit` (None = all) active items, newest `created_at` first, optionally one user's only."""
        items: list[Raw] = []
        offset = 0
        while limit is None or len(items) < limit:
            ids = await self.client.zrevrange(self.zset_key, offset, offset + _CHUNK - 1)
            if not ids:
                break
            offset += len(ids)
            names = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
            chunk = await self.by_ids(names)
            items.extend(
                chunk[n] for n in names if n in chunk and (user_id is None or chunk[n].get("user_id") == user_id)
            )
        return items if limit is None else items[:limit]


def _decode(value: object) -> Raw | None:
    if value is None:
        return None
    try:
        item = json.loads(value, parse_float=Decimal)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        log.warning("unreadable live item skipped")
        return None
    return item if isinstance(item, dict) else None
