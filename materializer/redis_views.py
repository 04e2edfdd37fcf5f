"""The Redis live set: active requests (hash + zset by created_at) and the change channel the websocket feed reads.

Every write is a sync to a request's current PostgreSQL state through one Lua script that compares seq, so a
replay, a crash between the PostgreSQL commit and this write, or two workers during a rebalance cannot leave an
older state behind; a change is published only when the stored item really changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from usagestream.live import created_score, live_item, remove_message
from usagestream.settings import Settings

log = logging.getLogger(__name__)

# KEYS: live hash, by_created zset, channel. ARGV: id, seq, item json ('' = not active), score, remove message.
_SYNC = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, decoded = pcall(cjson.decode, cur)
  if ok and tonumber(decoded['seq']) > tonumber(ARGV[2]) then return 0 end
end
if ARGV[3] ~= '' then
  if cur == ARGV[3] then return 0 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  redis.call('PUBLISH', KEYS[3], '{"type":"upsert","item":' .. ARGV[3] .. '}')
  return 1
end
if not cur then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[5])
return 1
"""


class RedisLive:
    """Keeps the live set equal to the active requests in PostgreSQL."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.hash_key = settings.key("live")
        self.zset_key = settings.key("live", "by_created")
        self.channel = settings.key("live", "events")
        self._script = client.register_script(_SYNC)

    async def sync(self, states: Iterable[Mapping[str, Any]]) -> int:
        """Bring each request's live item in line with its state; returns how many items changed."""
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for state in states:
            item = live_item(state)
            payload = json.dumps(item, separators=(",", ":")) if item is not None else ""
            args = [
                state["id"],
                state["seq"],
                payload,
                created_score(state),
                json.dumps(remove_message(state)),
            ]
            await self._script(keys=[self.hash_key, self.zset_key, self.channel], args=args, client=pipe)
            n += 1
        if n == 0:
            return 0
        results = await pipe.execute()
        return sum(int(r) for r in results)

    def ready_key(self, partition: int) -> str:
        return self.settings.key("live", "ready", str(partition))

    async def missing_partitions(self, partitions: Sequence[int]) -> list[int]:
        """Partitions whose live items Redis no longer holds (it restarted or was flushed)."""
        if not partitions:
            return []
        flags = await self.client.mget([self.ready_key(p) for p in partitions])
        return [p for p, flag in zip(partitions, flags, strict=True) if flag is None]

    async def rebuild(self, partitions: Sequence[int], states: Sequence[Mapping[str, Any]]) -> None:
        """Reload the live items of these partitions, then mark them ready.

        Items of finished requests that Redis still holds for these partitions are removed as well.
        """
        wanted = {s["id"] for s in states}
        stale = []
        async for usage_id, raw in self.client.hscan_iter(self.hash_key):
            uid = usage_id.decode() if isinstance(usage_id, bytes) else usage_id
            if uid in wanted:
                continue
            item = json.loads(raw)
            if item.get("kafka_partition", -1) in partitions:
                stale.append(uid)
        await self.sync(states)
        if stale:
            await self.client.hdel(self.hash_key, *stale)
            await self.client.zrem(self.zset_key, *stale)
        await self.client.mset({self.ready_key(p): "1" for p in partitions})
        log.info("live set rebuilt for partitions %s: %d active requests", list(partitions), len(states))
