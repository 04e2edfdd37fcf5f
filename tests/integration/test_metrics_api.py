"""`GET /metrics` on the API: who may scrape, and that the counters, histograms and gauges move with traffic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from http_support import ADMIN_ID, USER_ID, FakeReads, bearer, long_secret, mint, standard_store, start
from prom_support import samples, value

from usagestream.metrics import CONTENT_TYPE
from usagestream.settings import Settings

pytestmark = pytest.mark.integration
REQUESTS, LATENCY = "usagestream_http_requests_total", "usagestream_http_request_duration_seconds"
CLIENTS, STORE_ERRORS = "usagestream_http_websocket_clients", "usagestream_http_store_errors_total"


class DownStore(FakeReads):
    """PostgreSQL refusing connections on /stats: the API answers 503 and counts a postgres error."""

    async def stats(self, start: Any, end: Any) -> dict[str, Any]:
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return long_secret(settings)


@pytest.fixture
async def client(
    settings: Settings, redis_client: aioredis.Redis
) -> AsyncIterator[TestClient[Any, Any]]:  # redis_client: the feed's keys are removed afterwards
    store = DownStore(users=standard_store().users)
    c = await start(settings, store)
    yield c
    await c.close()


async def scrape(client: TestClient[Any, Any], **headers: str) -> str:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == CONTENT_TYPE
    return await resp.text()


async def test_requests_are_counted_and_timed_per_route_template(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    admin = bearer(mint(settings, ADMIN_ID, "admin"))
    assert (await client.get("/api/admin/usage/aggregation/stats?group_by=model", headers=admin)).status == 200
    for usage_id in ("req-aaa", "req-bbb", "req-ccc"):
        assert (await client.get(f"/api/admin/usage/{usage_id}", headers=admin)).status == 404
    assert (await client.get("/api/admin/usage/stats", headers=admin)).status == 503
    assert (await client.get("/api/admin/usage/stats")).status == 401
    assert (await client.get("/no/such/path-123")).status == 404
    assert (await client.request("PROPFIND", "/health")).status == 405
    text = await scrape(client)
    assert value(text, REQUESTS, method="GET", route="/api/admin/usage/aggregation/stats", status=200) == 1
    assert value(text, REQUESTS, method="GET", route="/api/admin/usage/{usage_id}", status=404) == 3
    assert value(text, REQUESTS, method="GET", route="/api/admin/usage/stats", status=503) == 1
    assert value(text, REQUESTS, method="GET", route="/api/admin/usage/stats", status=401) == 1
    assert value(text, REQUESTS, method="GET", route="unmatched", status=404) == 1
    assert value(text, REQUESTS, method="other", route="unmatched", status=405) == 1
    assert value(text, LATENCY + "_count", method="GET", route="/api/admin/usage/{usage_id}") == 3
    assert value(text, LATENCY + "_bucket", method="GET", route="/api/admin/usage/{usage_id}", le="+Inf") == 3
    assert value(text, STORE_ERRORS, store="postgres") == 1
    for raw in ("req-aaa", "path-123", "PROPFIND"):
        assert raw not in text, "raw paths and methods never become labels"
    # the scrape itself is counted on the next one
    assert value(await scrape(client), REQUESTS, method="GET", route="/metrics", status=200) == 1


async def _eventually(client: TestClient[Any, Any], want: float, name: str, **labels: object) -> None:
    """Wait (bounded) for a sample to reach `want`: the server finishes a websocket after the client closed it."""
    for _ in range(100):
        if value(await scrape(client), name, **labels) == want:
            return
        await asyncio.sleep(0.05)
    assert value(await scrape(client), name, **labels) == want


async def test_websocket_clients_gauge(client: TestClient[Any, Any], settings: Settings) -> None:
    admin_ws = await client.ws_connect("/api/admin/usage/active/ws", headers=bearer(mint(settings, ADMIN_ID, "admin")))
    user_ws = await client.ws_connect("/api/users/me/usage/active/ws", headers=bearer(mint(settings, USER_ID)))
    second = await client.ws_connect("/api/users/me/usage/active/ws", headers=bearer(mint(settings, USER_ID)))
    await _eventually(client, 1, CLIENTS, feed="admin")
    await _eventually(client, 2, CLIENTS, feed="user")
    await second.close()
    await _eventually(client, 1, CLIENTS, feed="user")
    await admin_ws.close()
    await user_ws.close()
    await _eventually(client, 0, CLIENTS, feed="admin")
    await _eventually(client, 0, CLIENTS, feed="user")
    await _eventually(client, 2, REQUESTS, method="GET", route="/api/users/me/usage/active/ws", status=101)
    text = await scrape(client)
    assert not [
        k for k in samples(text) if k[0].startswith(LATENCY) and ("route", "/api/users/me/usage/active/ws") in k[1]
    ], "a websocket session is not a request latency"


async def test_metrics_token_is_required_when_configured(settings: Settings, redis_client: aioredis.Redis) -> None:
    c = await start(replace(settings, metrics_token="scrape-Tok3n"), standard_store())
    try:
        assert (await c.get("/metrics")).status == 401, "loopback is not enough once a token is set"
        assert (await c.get("/metrics", headers=bearer("wrong"))).status == 401
        refused = await c.get("/metrics", headers=bearer(mint(settings, ADMIN_ID, "admin")))
        assert refused.status == 401, "an admin API token is not the metrics token"
        assert (await refused.json())["error"]["type"] == "http_error"
        text = await scrape(c, Authorization="Bearer scrape-Tok3n")
        assert value(text, REQUESTS, method="GET", route="/metrics", status=401) == 3
    finally:
        await c.close()
