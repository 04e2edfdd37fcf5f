"""The API holds at most `api_redis_max_connections` Redis connections, and the feed still works at the cap
(issue 13, item 8: a burst of websocket connects used to leave one connection open per concurrent snapshot)."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from http_support import ADMIN_ID, USER_ID, FakeReads, long_secret, mint, standard_store, start

from usagestream.settings import Settings

pytestmark = pytest.mark.integration
CAP = 3
FEEDS = 60
POLLS = 20


def item(usage_id: str, seq: int = 1) -> dict[str, Any]:
    return {
        "id": usage_id,
        "seq": seq,
        "user_id": USER_ID,
        "status": "streaming",
        "model": "m",
        "created_at": datetime.now(UTC).isoformat(),
        "input_tokens": seq,
        "output_tokens": 0,
        "total_cost_usd": "0",
        "provider_name": "p",
        "provider_api_key_id": None,
    }


async def api_connections(redis_client: aioredis.Redis, settings: Settings) -> int:
    name = "usagestream-api-" + re.sub(r"[^A-Za-z0-9_.:-]", "_", settings.redis_prefix)
    return sum(1 for c in await redis_client.client_list() if c.get("name") == name)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(long_secret(settings), api_redis_max_connections=CAP)


async def test_the_feed_works_at_the_redis_connection_cap(settings: Settings, redis_client: aioredis.Redis) -> None:
    store: FakeReads = standard_store()
    first = item("r1")
    await redis_client.hset(settings.key("live"), "r1", json.dumps(first))
    await redis_client.zadd(settings.key("live", "by_created"), {"r1": 1.0})
    client = await start(settings, store)
    try:
        tokens = [mint(settings, ADMIN_ID, "admin"), mint(settings, USER_ID)]
        paths = ["/api/admin/usage/active/ws", "/api/users/me/usage/active/ws"]
        feeds = await asyncio.gather(
            *(client.ws_connect(paths[i % 2], params={"access_token": tokens[i % 2]}) for i in range(FEEDS))
        )
        polls = await asyncio.gather(
            *(
                client.get(path, headers={"Authorization": f"Bearer {tokens[i % 2]}"})
                for i, path in enumerate(["/api/admin/usage/active", "/api/users/me/usage/active"] * (POLLS // 2))
            )
        )
        assert [p.status for p in polls] == [200] * POLLS
        for ws in feeds:
            snapshot = await ws.receive_json(timeout=10)
            assert snapshot["type"] == "snapshot" and [r["id"] for r in snapshot["requests"]] == ["r1"]
        await redis_client.publish(
            settings.key("live", "events"), json.dumps({"type": "upsert", "item": item("r1", seq=2)})
        )
        for ws in feeds:
            change = await ws.receive_json(timeout=10)
            assert change["type"] == "upsert" and change["request"]["input_tokens"] == 2
        assert 1 <= await api_connections(redis_client, settings) <= CAP
        for ws in feeds:
            await ws.close()
    finally:
        await client.close()
