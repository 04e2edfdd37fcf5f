"""`/active` and the websocket feeds against a real Redis live set, seeded as the worker does."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from http_support import (
    ADMIN_ID,
    OTHER_ID,
    USER_ID,
    FakeReads,
    bearer,
    long_secret,
    mint,
    standard_store,
    start,
)

from usagestream.http.keys import ApiOptions
from usagestream.settings import Settings

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ADMIN_FEED, USER_FEED = "/api/admin/usage/active/ws", "/api/users/me/usage/active/ws"


def live_item(usage_id: str, user_id: str = USER_ID, minute: int = 0, **over: Any) -> dict[str, Any]:
    item = {
        "id": usage_id,
        "seq": 1,
        "user_id": user_id,
        "api_key_id": "k-" + user_id,
        "status": "streaming",
        "status_code": None,
        "error_message": None,
        "is_stream": True,
        "model": "claude-x",
        "created_at": (T0 + timedelta(minutes=minute)).isoformat(),
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2,
        "total_cost_usd": "0.00123400",
        "actual_total_cost_usd": "0.00100000",
        "rate_multiplier": "1.5",
        "response_time_ms": None,
        "first_byte_time_ms": 120,
        "api_format": "claude:chat",
        "endpoint_api_format": "openai:chat",
        "has_format_conversion": True,
        "provider_name": "acme",
        "provider_api_key_id": "pk-1",
        "kafka_partition": 0,
    }
    item.update(over)
    return item


class Live:
    """Writes the live set and channel exactly as the worker's RedisLive does."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client, self.settings = client, settings

    async def put(self, *items: dict[str, Any]) -> None:
        for item in items:
            await self.client.hset(self.settings.key("live"), item["id"], json.dumps(item))
            score = datetime.fromisoformat(item["created_at"]).timestamp()
            await self.client.zadd(self.settings.key("live", "by_created"), {item["id"]: score})

    async def upsert(self, item: dict[str, Any]) -> None:
        await self.put(item)
        await self.client.publish(self.settings.key("live", "events"), json.dumps({"type": "upsert", "item": item}))

    async def remove(self, item: dict[str, Any], status: str = "completed") -> None:
        await self.client.hdel(self.settings.key("live"), item["id"])
        await self.client.zrem(self.settings.key("live", "by_created"), item["id"])
        message = {"type": "remove", "id": item["id"], "status": status, "user_id": item["user_id"]}
        await self.client.publish(self.settings.key("live", "events"), json.dumps(message))

    async def dump(self) -> tuple[Any, Any]:
        return (
            await self.client.hgetall(self.settings.key("live")),
            await self.client.zrange(self.settings.key("live", "by_created"), 0, -1, withscores=True),
        )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return long_secret(settings)


@pytest.fixture
def store() -> FakeReads:
    s = standard_store()
    s.key_names = {"pk-1": "upstream key one"}
    return s


@pytest.fixture
def live(redis_client: aioredis.Redis, settings: Settings) -> Live:
    return Live(redis_client, settings)


@pytest.fixture
async def client(settings: Settings, store: FakeReads) -> AsyncIterator[TestClient[Any, Any]]:
    c = await start(settings, store)
    yield c
    await c.close()


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    return bearer(mint(settings, ADMIN_ID, "admin"))


@pytest.fixture
def alice(settings: Settings) -> dict[str, str]:
    return bearer(mint(settings, USER_ID))


async def get_json(client: TestClient[Any, Any], path: str, headers: dict[str, str], **params: str) -> Any:
    resp = await client.get(path, headers=headers, params=params)
    assert resp.status == 200, await resp.text()
    return await resp.json()


UNKNOWN = dict.fromkeys(
    (
        "cache_creation_ephemeral_5m_input_tokens",
        "cache_creation_ephemeral_1h_input_tokens",
        "updated_at",
        "response_time_updated_at",
        "upstream_is_stream",
        "client_requested_stream",
        "client_is_stream",
        "client_family",
        "client_ip",
        "user_agent",
    )
)


async def test_item_shape(
    client: TestClient[Any, Any], live: Live, admin: dict[str, str], alice: dict[str, str], store: FakeReads
) -> None:
    await live.put(
        live_item("a"),
        live_item(
            "b",
            minute=1,
            total_cost_usd="0.00000000",
            rate_multiplier=None,
            api_format=None,
            endpoint_api_format="",
            has_format_conversion=None,
            provider_name="pending",
            provider_api_key_id=None,
        ),
    )
    store.flags = {"a": {"has_fallback": True, "has_retry": False, "has_rectified": False}}
    body = await get_json(client, "/api/admin/usage/active", admin)
    common = {
        "status": "streaming",
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2,
        "actual_cost": 0.001,
        "response_time_ms": None,
        "first_byte_time_ms": 120,
        **UNKNOWN,
        "status_code": None,
        "error_message": None,
        "is_stream": True,
    }
    assert body == {
        "requests": [
            {
                "id": "b",
                **common,
                "cost": 0,
                "rate_multiplier": None,
                "has_format_conversion": None,
                "effective_input_tokens": 10,  # no format known: the input
                "has_fallback": False,
                "provider": "pending",
                "api_key_name": None,
                "provider_key_name": None,
            },
            {
                "id": "a",
                **common,
                "cost": 0.001234,
                "rate_multiplier": 1.5,
                "api_format": "claude:chat",
                "endpoint_api_format": "openai:chat",
                "has_format_conversion": True,
                "effective_input_tokens": 8,  # the OpenAI endpoint counted the 2 cache reads in the input
                "has_fallback": True,
                "provider": "acme",
                "api_key_name": "upstream key one",
                "provider_key_name": "upstream key one",
            },
        ]
    }
    raw = await (await client.get("/api/admin/usage/active", headers=admin)).text()
    assert '"cost":0.00123400' in raw  # exact decimal text, not a float rendering
    mine = await get_json(client, "/api/users/me/usage/active", alice)
    assert [r["id"] for r in mine["requests"]] == ["b", "a"]
    assert all(not {"provider", "api_key_name", "provider_key_name"} & set(r) for r in mine["requests"])
    assert [r["has_fallback"] for r in mine["requests"]] == [False, True]


async def test_newest_50_and_user_scope(
    client: TestClient[Any, Any], live: Live, admin: dict[str, str], alice: dict[str, str], store: FakeReads
) -> None:
    items = [live_item(f"r{i:03}", OTHER_ID if i % 3 else USER_ID, minute=i) for i in range(120)]
    await live.put(*items)
    body = await get_json(client, "/api/admin/usage/active", admin)
    assert [r["id"] for r in body["requests"]] == [f"r{i:03}" for i in range(119, 69, -1)]
    mine = await get_json(client, "/api/users/me/usage/active", alice)
    assert [r["id"] for r in mine["requests"]] == [f"r{i:03}" for i in range(119, -1, -1) if i % 3 == 0][:50][:40]
    assert not [c for c in store.calls if c[0] == "active_records"]


async def test_active_with_ids(
    client: TestClient[Any, Any], live: Live, admin: dict[str, str], alice: dict[str, str], store: FakeReads
) -> None:
    await live.put(live_item("live-1"), live_item("live-bob", OTHER_ID))
    done = live_item("done-1", status="completed", total_cost_usd=None, actual_total_cost_usd=None)
    store.rows = {"done-1": done, "done-bob": live_item("done-bob", OTHER_ID, status="failed")}
    body = await get_json(client, "/api/admin/usage/active", admin, ids=" done-1, nope ,live-1,done-bob,live-1")
    assert [(r["id"], r["status"]) for r in body["requests"]] == [
        ("done-1", "completed"),
        ("live-1", "streaming"),
        ("done-bob", "failed"),
    ]
    assert body["requests"][0]["cost"] == 0 and body["requests"][0]["actual_cost"] is None
    assert ("active_records", (["done-1", "nope", "done-bob"], None)) in store.calls
    mine = await get_json(client, "/api/users/me/usage/active", alice, ids="live-1,live-bob,done-1,done-bob")
    assert [r["id"] for r in mine["requests"]] == ["live-1", "done-1"]
    store.calls.clear()
    for blank in ("", " , ,"):
        assert await get_json(client, "/api/admin/usage/active", admin, ids=blank) == {"requests": []}
        assert await get_json(client, "/api/users/me/usage/active", alice, ids=blank) == {"requests": []}
    assert store.calls == []


class FlagsDown(FakeReads):
    """PostgreSQL does not answer the attempt-flags look-up."""

    async def attempt_flags(self, ids: list[str]) -> dict[str, dict[str, bool]]:
        raise OSError("PostgreSQL is down (a test's stand-in)")


async def test_active_answers_without_flags_when_postgres_is_down(
    settings: Settings, live: Live, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    store = FlagsDown(**vars(standard_store()))
    c = await start(settings, store)
    try:
        await live.put(live_item("a"))
        body = await get_json(c, "/api/admin/usage/active", admin)
    finally:
        await c.close()
    assert [(r["id"], r["has_fallback"]) for r in body["requests"]] == [("a", None)]
    assert "attempt flags unavailable" in caplog.text


async def test_active_is_read_only(
    client: TestClient[Any, Any], live: Live, admin: dict[str, str], alice: dict[str, str]
) -> None:
    old = live_item("old", created_at=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    await live.put(old, live_item("x"))
    before = await live.dump()
    await get_json(client, "/api/admin/usage/active", admin)
    await get_json(client, "/api/admin/usage/active", admin, ids="old,x,missing")
    await get_json(client, "/api/users/me/usage/active", alice)
    assert await live.dump() == before


async def next_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 1.0) -> Any:
    return await ws.receive_json(timeout=timeout)


async def test_feed_snapshot_upsert_remove(client: TestClient[Any, Any], live: Live, settings: Settings) -> None:
    await live.put(live_item("a1"), live_item("b1", OTHER_ID, minute=1))
    admin_ws = await client.ws_connect(ADMIN_FEED, params={"access_token": mint(settings, ADMIN_ID, "admin")})
    alice_ws = await client.ws_connect(USER_FEED, headers=bearer(mint(settings, USER_ID)))
    snap = await next_json(admin_ws, 5)
    assert snap["type"] == "snapshot" and [r["id"] for r in snap["requests"]] == ["b1", "a1"]
    assert snap["requests"][1]["api_key_name"] == snap["requests"][1]["provider_key_name"] == "upstream key one"
    assert [r["has_fallback"] for r in snap["requests"]] == [False, False]  # snapshots look the flags up
    snap = await next_json(alice_ws, 5)
    assert [r["id"] for r in snap["requests"]] == ["a1"] and "provider" not in snap["requests"][0]

    changed = live_item("a1", seq=2, output_tokens=50)
    started = time.monotonic()
    await live.upsert(changed)
    for ws in (admin_ws, alice_ws):
        message = await next_json(ws)
        assert message["type"] == "upsert" and message["request"]["output_tokens"] == 50
        assert message["request"]["has_fallback"] is None  # an upsert does not ask PostgreSQL: unknown
    assert time.monotonic() - started < 1.0
    await live.upsert(live_item("b2", OTHER_ID, minute=2))  # bob's: admin only
    assert (await next_json(admin_ws))["request"]["id"] == "b2"
    await live.remove(changed, "completed")
    for ws in (admin_ws, alice_ws):
        assert await next_json(ws) == {"type": "remove", "id": "a1", "status": "completed"}
    await live.remove(live_item("b2", OTHER_ID), "failed")
    assert await next_json(admin_ws) == {"type": "remove", "id": "b2", "status": "failed"}
    with pytest.raises(asyncio.TimeoutError):
        await alice_ws.receive_json(timeout=0.3)  # bob's removal never reaches alice
    await admin_ws.close()
    await alice_ws.close()


def stalled_websocket(client: TestClient[Any, Any], path: str, token: str) -> socket.socket:
    """A websocket client that completes the handshake and then never reads (tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((client.host, client.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path}?access_token={token} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_until_eof(sock: socket.socket, limit_s: float) -> bytes:
    sock.settimeout(limit_s)
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def close_code(stream: bytes) -> int | None:
    """The code of the first close frame in a server-to-client frame stream (unmasked, uncompressed)."""
    at = 0
    while at + 2 <= len(stream):
        opcode, length = stream[at] & 0x0F, stream[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(stream[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(stream[at : at + 8], "big"), at + 8
        if opcode == 8:
            return int.from_bytes(stream[at : at + 2], "big")
        at += length
    return None


async def test_slow_client_dropped_without_delaying_others(
    settings: Settings, store: FakeReads, live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="usagestream.http.feed.fanout")
    client = await start(settings, store, ApiOptions(feed_queue_size=8, ws_close_timeout_s=10.0))
    try:
        token = mint(settings, ADMIN_ID, "admin")
        slow = await asyncio.to_thread(stalled_websocket, client, ADMIN_FEED, token)
        fast = await client.ws_connect(ADMIN_FEED, params={"access_token": token})
        await next_json(fast, 5)
        big, n, received = "m" * 20_000, 600, 0  # ~12 MB: far more than the stalled socket can buffer

        async def read_fast() -> None:
            nonlocal received
            while received < n:
                if (await next_json(fast, 5))["type"] == "upsert":
                    received += 1

        reader = asyncio.create_task(read_fast())
        started = time.monotonic()
        for i in range(n):
            await live.upsert(live_item(f"u{i}", api_format=big, seq=i + 1))
        await asyncio.wait_for(reader, 20)
        assert received == n and time.monotonic() - started < 15
        stream = await asyncio.to_thread(read_until_eof, slow, 20)
        assert "dropping a slow websocket client" in caplog.text
        assert len(stream) < n * len(big)  # it did not get everything
        assert close_code(stream) == 1013  # and was told to come back
        slow.close()
        await fast.close()
    finally:
        await client.close()


async def test_resnapshot_after_redis_reconnect(
    client: TestClient[Any, Any], live: Live, settings: Settings, redis_client: aioredis.Redis
) -> None:
    await live.put(live_item("a1"))
    ws = await client.ws_connect(ADMIN_FEED, params={"access_token": mint(settings, ADMIN_ID, "admin")})
    assert (await next_json(ws, 5))["type"] == "snapshot"
    await live.put(live_item("a2", minute=1))  # written while "disconnected": no event
    name = "usagestream-api-" + settings.redis_prefix
    killed = 0
    for entry in await redis_client.client_list(_type="pubsub"):
        if entry.get("name") == name:
            await redis_client.client_kill_filter(_id=entry["id"])
            killed += 1
    assert killed == 1
    message = await next_json(ws, 10)
    assert message["type"] == "snapshot" and [r["id"] for r in message["requests"]] == ["a2", "a1"]
    await live.upsert(live_item("a3", minute=2))
    assert (await next_json(ws, 2))["request"]["id"] == "a3"
    await ws.close()


async def test_shutdown_sends_close_frame(settings: Settings, store: FakeReads) -> None:
    client = await start(settings, store)
    async with aiohttp.ClientSession() as session:  # not the TestClient's: it would close the socket itself
        token = mint(settings, ADMIN_ID, "admin")
        ws = await session.ws_connect(client.make_url(ADMIN_FEED), params={"access_token": token})
        assert (await next_json(ws, 5))["type"] == "snapshot"
        closing = asyncio.create_task(client.server.close())
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1001
        await closing
    await client.close()


async def test_plain_get_on_feed_is_400(client: TestClient[Any, Any], admin: dict[str, str]) -> None:
    resp = await client.get(ADMIN_FEED, headers=admin)
    assert resp.status == 400 and (await resp.json())["error"]["type"] == "http_error"


async def test_changes_arriving_together_keep_their_order_and_scope(
    client: TestClient[Any, Any], live: Live, settings: Settings, redis_client: aioredis.Redis
) -> None:
    """A burst (as the worker publishes a batch) is fanned out in one write per client: still one message per
    change, in publish order, each client getting only what it may see."""
    admin_ws = await client.ws_connect(ADMIN_FEED, params={"access_token": mint(settings, ADMIN_ID, "admin")})
    alice_ws = await client.ws_connect(USER_FEED, headers=bearer(mint(settings, USER_ID)))
    for ws in (admin_ws, alice_ws):
        assert (await next_json(ws, 5))["type"] == "snapshot"
    items = [live_item(f"burst{i}", USER_ID if i % 3 else OTHER_ID, seq=i + 1) for i in range(60)]
    channel = settings.key("live", "events")
    async with redis_client.pipeline(transaction=False) as pipe:  # one write: they reach the API together
        for item in items:
            pipe.publish(channel, json.dumps({"type": "upsert", "item": item}))
        pipe.publish(channel, json.dumps({"type": "remove", "id": "burst1", "status": "failed", "user_id": USER_ID}))
        pipe.publish(channel, json.dumps({"type": "remove", "id": "burst0", "status": "failed", "user_id": OTHER_ID}))
        await pipe.execute()

    async def read(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[tuple[str, Any]]:
        got = []
        for _ in range(n):
            m = await next_json(ws, 5)
            got.append((m["type"], m["request"]["id"] if m["type"] == "upsert" else m["id"]))
        return got

    everything = [("upsert", i["id"]) for i in items] + [("remove", "burst1"), ("remove", "burst0")]
    assert await read(admin_ws, len(everything)) == everything
    alices = [("upsert", i["id"]) for i in items if i["user_id"] == USER_ID] + [("remove", "burst1")]
    assert await read(alice_ws, len(alices)) == alices
    with pytest.raises(asyncio.TimeoutError):
        await alice_ws.receive_json(timeout=0.3)  # nothing of bob's
    await admin_ws.close()
    await alice_ws.close()


class GatedReads(FakeReads):
    """Key names for snapshots wait for `release`, so that changes arrive while a snapshot is being read."""

    def __init__(self) -> None:
        super().__init__(**vars(standard_store()))
        self.reading, self.release = asyncio.Event(), asyncio.Event()

    async def provider_key_names(self, ids: list[str]) -> dict[str, str]:
        if "pk-gate" in ids:
            self.reading.set()
            await self.release.wait()
        return await super().provider_key_names(ids)


@pytest.mark.parametrize("bound", [1000, 4])
async def test_changes_during_a_snapshot_follow_it_or_drop_the_client(
    settings: Settings, live: Live, bound: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Changes published while a client's snapshot is read are sent after it, in order; more than
    `feed_queue_size` of them drop the client with 1013 (it reconnects for a fresh snapshot)."""
    caplog.set_level(logging.INFO, logger="usagestream.http.feed.fanout")
    store = GatedReads()
    client = await start(settings, store, ApiOptions(feed_queue_size=bound))
    try:
        await live.put(live_item("a0", provider_api_key_id="pk-gate"))
        ws = await client.ws_connect(ADMIN_FEED, params={"access_token": mint(settings, ADMIN_ID, "admin")})
        await asyncio.wait_for(store.reading.wait(), 5)
        for i in range(6):
            await live.upsert(live_item(f"during{i}", minute=i + 1, provider_api_key_id=None, seq=i + 1))
        await asyncio.sleep(0.3)  # let the feed take them while the snapshot is still held
        store.release.set()
        if bound > 6:
            snap = await next_json(ws, 5)
            assert snap["type"] == "snapshot" and "a0" in [r["id"] for r in snap["requests"]]
            assert [(await next_json(ws, 5))["request"]["id"] for _ in range(6)] == [f"during{i}" for i in range(6)]
        else:
            message = await ws.receive(timeout=10)
            assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1013
            assert "changes waiting for its snapshot" in caplog.text
        await ws.close()
    finally:
        await client.close()
