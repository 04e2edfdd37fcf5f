"""The Redis live set: active requests (hash + zset by created_at) and the change channel the websocket feed reads.

Every write is a sync to a request's current PostgreSQL state through one Lua script that compares seq, so a
replay, a crash between the PostgreSQL commit and this write, or two workers during a rebalance cannot leave an
older state behind; a change is published only when the stored item really changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence

import msgspec
import redis.asyncio as aioredis

from usagestream.live import created_score, live_item, remove_message
from usagestream.materializer.redis_layout import LiveKeys
from usagestream.ports import State
from usagestream.settings import Settings

log = logging.getLogger(__name__)

# KEYS: live hash, by_created zset, channel. ARGV[1]: a JSON array of [id, seq, item json ('' = not active),
# score, remove message json], one per request, in commit order. One call per batch: the per-command cost of
# redis-py (arguments packed one by one) was most of the sync's CPU; cjson decodes the batch in Redis instead.
_SYNC = """
local entries = cjson.decode(ARGV[1])
local changed = 0
for i = 1, #entries do
  local e = entries[i]
  local id, item = e[1], e[3]
  local cur = redis.call('HGET', KEYS[1], id)
  local older = false
  if cur then
    local ok, decoded = pcall(cjson.decode, cur)
    if ok and tonumber(decoded['seq']) > tonumber(e[2]) then older = true end
  end
  if not older then
    if item ~= '' then
      if cur ~= item then
        redis.call('HSET', KEYS[1], id, item)
        redis.call('ZADD', KEYS[2], e[4], id)
        redis.call('PUBLISH', KEYS[3], '{"type":"upsert","item":' .. item .. '}')
        changed = changed + 1
      end
    elseif cur then
      redis.call('HDEL', KEYS[1], id)
      redis.call('ZREM', KEYS[2], id)
      redis.call('PUBLISH', KEYS[3], e[5])
      changed = changed + 1
    end
  end
end
return changed
"""
# A batch is sent in chunks of this many requests, so that one script call never holds Redis for long.
SYNC_CHUNK = 2000
_encode = msgspec.json.Encoder().encode


class RedisLive:
    """Keeps the live set equal to the active requests in PostgreSQL."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.keys = LiveKeys.of(settings)
        self.hash_key = self.keys.items
        self.zset_key = self.keys.by_created
        self.channel = self.keys.channel
        self._script = client.register_script(_SYNC)

    async def sync(self, states: Iterable[State]) -> int:
        """Bring each request's live item in line with its state; returns how many items changed."""
        entries = []
        for state in states:
            item = live_item(state)
            entries.append(
                (
                    state["id"],
                    state["seq"],
                    _encode(item).decode() if item is not None else "",
                    created_score(state),
                    _encode(remove_message(state)).decode(),
                )
            )
        if not entries:
            return 0
        keys = [self.hash_key, self.zset_key, self.channel]
        changed = 0
        for i in range(0, len(entries), SYNC_CHUNK):
            changed += int(await self._script(keys=keys, args=[_encode(entries[i : i + SYNC_CHUNK])]))
        return changed

    def ready_key(self, partition: int) -> str:
        return self.keys.ready(partition)

    async def missing_partitions(self, partitions: Sequence[int]) -> list[int]:
        """Partitions whose live items Redis no longer holds (it restarted or was flushed)."""
        if not partitions:
            return []
        flags = await self.client.mget([self.ready_key(p) for p in partitions])
        return [p for p, flag in zip(partitions, flags, strict=True) if flag is None]

    async def rebuild(self, partitions: Sequence[int], states: Sequence[State]) -> None:
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
