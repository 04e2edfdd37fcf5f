"""Entity deletions whatever their `data` holds (issue 13, item 9), through the worker's pipeline into PostgreSQL
and Redis, then read on REST and on open websocket feeds of the real API.

docs/contract.md §4.1: an entity is removed by `deleted: true` or by a tombstone. Each of user, api_key,
provider and management_token is deleted by `deleted: true` with an empty, a partial and a null `data`, and by a
tombstone; none may be dead-lettered, and every surface must then answer as for an absent entity.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from eventgen import candidate_event, candidate_record, dumps, usage_event, usage_record

from usagestream.http.server import create_app
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews
from usagestream.materializer.write.redis_live import RedisLive
from usagestream.settings import Settings
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import Pipeline

pytestmark = pytest.mark.integration
ADMIN_FEED, USER_FEED = "/api/admin/usage/active/ws", "/api/users/me/usage/active/ws"
MGMT = "ae_" + "d" * 40
BOUND_S = 5.0
CREATED = datetime.now(UTC) - timedelta(minutes=5)

# The entities of the world; `u-ann` (an admin) owns the requests, `u-root` watches through the admin feed.
ENTITIES: dict[tuple[str, str], dict[str, Any]] = {
    ("user", "u-root"): {
        "username": "root",
        "email": None,
        "role": "admin",
        "is_active": True,
        "is_deleted": False,
        "quota_usd": None,
        "used_usd": Decimal(0),
    },
    ("user", "u-ann"): {
        "username": "ann",
        "email": "ann@example.com",
        "role": "admin",
        "is_active": True,
        "is_deleted": False,
        "quota_usd": None,
        "used_usd": Decimal(0),
    },
    ("api_key", "k-ann"): {"user_id": "u-ann", "name": "ann's key", "display": "sk-...ann"},
    ("provider", "p-1"): {"name": "Entity Provider", "billing_type": "pay_as_you_go"},
    ("provider_api_key", "pk-1"): {"provider_id": "p-1", "name": "upstream one"},
    ("management_token", "t-1"): {
        "token_sha256": hashlib.sha256(MGMT.encode()).hexdigest(),
        "user_id": "u-root",
        "is_active": True,
        "expires_at": None,
        "allowed_ips": None,
    },
}
# What each deletion names, and a partial `data` for it (fields an upsert would refuse as incomplete).
DELETED = {"user": "u-ann", "api_key": "k-ann", "provider": "p-1", "management_token": "t-1"}
PARTIAL = {
    "user": {"username": "ann"},
    "api_key": {"user_id": "u-ann"},
    "provider": {"name": "x"},
    "management_token": {"is_active": True},
}
WAYS = ["deleted-empty-data", "deleted-partial-data", "deleted-null-data", "tombstone"]


def entity_value(kind: str, eid: str, seq: int, data: dict[str, Any] | None, deleted: bool = False) -> bytes:
    env = {
        "v": 1,
        "kind": "entity",
        "entity": kind,
        "id": eid,
        "seq": seq,
        "emitted_at": datetime.now(UTC).isoformat(),
        "deleted": deleted,
        "data": data,
    }
    return dumps(env)


def deletion(kind: str, way: str) -> bytes | None:
    eid = DELETED[kind]
    data = {"deleted-empty-data": {}, "deleted-partial-data": PARTIAL[kind], "deleted-null-data": None}
    return None if way == "tombstone" else entity_value(kind, eid, 2, data.get(way), deleted=True)


def request(rid: str, status: str) -> dict[str, Any]:
    done = status == "completed"
    return usage_record(
        rid,
        CREATED,
        user_id="u-ann",
        api_key_id="k-ann",
        provider_id="p-1",
        provider_name="snapshot name",
        provider_api_key_id="pk-1",
        model="claude-x",
        status=status,
        status_code=200 if done else None,
        input_tokens=10,
        total_tokens=10,
        total_cost_usd=Decimal("0.5"),
        response_time_ms=900 if done else None,
    )


@dataclass
class World:
    settings: Settings
    pipeline: Pipeline
    dead: list[tuple[str, str]]
    client: TestClient[Any, Any]
    offset: int = 0

    async def send(self, topic: str, key: str, value: bytes | None) -> None:
        self.offset += 1
        await self.pipeline.process([Consumed(topic, 0, self.offset, key.encode(), value)])

    async def entity(self, key: str, value: bytes | None) -> None:
        await self.send(self.settings.topic_entities, key, value)

    async def usage(self, rec: dict[str, Any], seq: int) -> None:
        await self.send(self.settings.topic_usage, rec["id"], usage_event(rec, seq))

    def token(self, user_id: str, role: str) -> str:
        claims = {"user_id": user_id, "role": role, "type": "access", "exp": int(time.time()) + 600}
        return jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")

    async def get(self, path: str, token: str, **params: str) -> tuple[int, Any]:
        resp = await self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        return resp.status, await resp.json()

    async def feed(self, path: str, token: str) -> aiohttp.ClientWebSocketResponse:
        ws = await self.client.ws_connect(path, params={"access_token": token})
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot" and [r["id"] for r in snapshot["requests"]] == ["r-live"]
        return ws


@pytest.fixture
async def world(settings: Settings, pg: asyncpg.Connection, redis_client: aioredis.Redis) -> AsyncIterator[World]:
    settings = replace(settings, jwt_secret=settings.jwt_secret + "-" + "k" * 32, feed_recheck_s=0.5)
    pool = await create_pool(settings)
    dead: list[tuple[str, str]] = []

    async def dead_letter(msg: Any, reason: str) -> None:
        dead.append((msg.key.decode() if msg.key else "", reason))

    pipeline = Pipeline(settings, PgViews(pool, settings), RedisLive(redis_client, settings), dead_letter)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    w = World(settings, pipeline, dead, client)
    for (kind, eid), data in ENTITIES.items():
        await w.entity(f"{kind}:{eid}", entity_value(kind, eid, 1, data))
    done = request("r-done", "completed")
    await w.usage(done, 1)
    cand = candidate_record(
        CREATED,
        user_id="u-ann",
        api_key_id="k-ann",
        provider_id="p-1",
        key_id="pk-1",
        status="success",
        status_code=200,
        latency_ms=800,
        started_at=CREATED.isoformat(),
        finished_at=(CREATED + timedelta(seconds=1)).isoformat(),
    )
    await w.send(settings.topic_candidates, "r-done", candidate_event("c-1", "r-done", 1, cand))
    await w.usage(request("r-live", "streaming"), 1)
    assert dead == []
    await client.start_server()
    try:
        yield w
    finally:
        await client.close()
        await pool.close()


async def rest_view(w: World) -> dict[str, Any]:
    """What REST says about the entities the deletions name (as root, an admin who is never deleted)."""
    root = w.token("u-root", "admin")
    _, records = await w.get("/api/admin/usage/records", root)
    [record] = [r for r in records["records"] if r["id"] == "r-done"]
    _, detail = await w.get("/api/admin/usage/r-done", root)
    _, by_user = await w.get("/api/admin/usage/aggregation/stats", root, group_by="user")
    _, by_provider = await w.get("/api/admin/usage/aggregation/stats", root, group_by="provider")
    return {
        "record_user": (record["user_id"], record["username"], record["user_email"]),
        "detail_user": detail["user"],
        "group_by_user": sorted((r["user_id"], r["username"]) for r in by_user),
        "record_key": record["api_key"],
        "detail_key": detail["api_key"],
        "record_provider": record["provider"],
        "group_by_provider": [(r["provider_id"], r["provider"]) for r in by_provider],
        "ann_jwt": (await w.get("/api/users/me/usage", w.token("u-ann", "admin")))[0],
        "management_token": (await w.get("/api/admin/usage/stats", MGMT))[0],
    }


BEFORE = {
    "record_user": ("u-ann", "ann", "ann@example.com"),
    "detail_user": {"id": "u-ann", "username": "ann", "email": "ann@example.com"},
    "group_by_user": [("u-ann", "ann")],
    "record_key": {"id": "k-ann", "name": "ann's key", "display": "sk-...ann"},
    "detail_key": {"id": "k-ann", "name": "ann's key", "display": "sk-...ann"},
    "record_provider": "Entity Provider",
    "group_by_provider": [("p-1", "Entity Provider")],
    "ann_jwt": 200,
    "management_token": 200,
}
# After each deletion: what changes from BEFORE (everything else must stay as it was).
AFTER: dict[str, dict[str, Any]] = {
    "user": {
        "record_user": (None, "已删除用户", "已删除用户"),
        "detail_user": {"id": None, "username": "Unknown", "email": None},
        "group_by_user": [],
        "ann_jwt": 401,
    },
    "api_key": {"record_key": None, "detail_key": {"id": None, "name": None, "display": None}},
    "provider": {"record_provider": "snapshot name", "group_by_provider": [("p-1", "Unknown")]},
    "management_token": {"management_token": 401},
}
# Which open feeds the deletion closes (1008): a (feed, credential) pair per name.
CLOSES = {"user": {"ann-admin", "ann-own"}, "management_token": {"root-token"}, "api_key": set(), "provider": set()}


async def close_of(ws: aiohttp.ClientWebSocketResponse) -> int:
    started = time.monotonic()
    while (left := BOUND_S - (time.monotonic() - started)) > 0:
        msg = await ws.receive(timeout=left)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            return ws.close_code or 0
    pytest.fail(f"the feed was not closed within {BOUND_S}s")


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("kind", sorted(DELETED))
async def test_a_deletion_removes_the_entity_from_rest_and_open_feeds(
    world: World, pg: asyncpg.Connection, kind: str, way: str
) -> None:
    assert await rest_view(world) == BEFORE
    feeds = {
        "root-jwt": await world.feed(ADMIN_FEED, world.token("u-root", "admin")),
        "root-token": await world.feed(ADMIN_FEED, MGMT),
        "ann-admin": await world.feed(ADMIN_FEED, world.token("u-ann", "admin")),
        "ann-own": await world.feed(USER_FEED, world.token("u-ann", "admin")),
    }
    await world.entity(f"{kind}:{DELETED[kind]}", deletion(kind, way))
    assert world.dead == []
    assert await pg.fetchval("SELECT deleted FROM entities WHERE entity = $1 AND id = $2", kind, DELETED[kind])
    assert await rest_view(world) == {**BEFORE, **AFTER[kind]}

    for name in sorted(CLOSES[kind]):
        assert await close_of(feeds.pop(name)) == 1008, name
    await world.usage(request("r-live", "streaming") | {"output_tokens": 7, "total_tokens": 17}, 2)
    for name, ws in feeds.items():  # the others stay open and keep streaming the deleted entity's requests
        change = await ws.receive_json(timeout=5)
        assert change["type"] == "upsert" and change["request"]["output_tokens"] == 7, name
        if name != "ann-own":
            assert change["request"]["provider"] == "snapshot name", name  # the snapshot's, as records after
        await ws.close()
