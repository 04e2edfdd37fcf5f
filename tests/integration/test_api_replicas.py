"""Two `usagestream api` processes on the same PostgreSQL and Redis (as behind a load balancer): they answer a
set of endpoints identically, and each replica's websocket feed receives every change published after its
clients connected (the worker publishes once to the Redis channel; every replica subscribes to it)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from eventgen import generate, usage_event, usage_record
from test_pipeline import wait_caught_up
from workerproc import produce, start_worker, stop_worker

from usagestream.settings import Settings

E2E = Path(__file__).resolve().parent.parent / "e2e"
if str(E2E) not in sys.path:
    sys.path.append(str(E2E))

from e2e_env import free_port, start_api, wait_http  # noqa: E402
from e2e_world import entity_message  # noqa: E402

pytestmark = pytest.mark.integration

ADMIN = "/api/admin/usage"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def api_settings(topics: Settings) -> Settings:
    return replace(
        topics,
        active_timeout_s=10**9,
        batch_within_s=0.05,
        sweep_interval_s=0.5,
        jwt_secret="replicas-" + uuid.uuid4().hex + uuid.uuid4().hex,
    )


@pytest.fixture
def replicas(api_settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    procs, urls = [], []
    try:
        for i in range(2):
            s = replace(api_settings, http_port=free_port())
            procs.append(start_api(s, tmp_path / f"api{i}.log"))
            urls.append(f"http://127.0.0.1:{s.http_port}")
        for url, proc in zip(urls, procs, strict=True):
            wait_http(url + "/health", proc)
        yield urls
    finally:
        for proc in procs:
            stop_worker(proc)


def _token(settings: Settings) -> str:
    claims = {"user_id": "u-admin", "role": "admin", "type": "access", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def _get(session: aiohttp.ClientSession, url: str, token: str, params: dict[str, str]) -> tuple[int, Any]:
    async with session.get(url, params=params, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, json.loads(await resp.text(), parse_float=Decimal)


async def _next_about(ws: aiohttp.ClientWebSocketResponse, wanted: set[str], deadline: float) -> set[str]:
    """Read feed messages until every id of `wanted` was seen in an upsert (returns the ids seen)."""
    seen: set[str] = set()
    while not wanted <= seen:
        left = deadline - time.monotonic()
        assert left > 0, f"feed missed {sorted(wanted - seen)[:5]}"
        msg = await ws.receive(timeout=left)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        body = json.loads(msg.data)
        if body.get("type") == "upsert":
            seen.add((body.get("request") or {}).get("id"))
    return seen


async def test_two_replicas_answer_alike_and_both_feeds_see_every_change(
    api_settings: Settings, pg: asyncpg.Connection, redis_client: object, replicas: list[str], tmp_path: Path
) -> None:
    s = api_settings
    traffic = generate(29, 400, NOW - timedelta(days=3), timedelta(days=3) - timedelta(hours=1))
    admin = entity_message(
        "user",
        "u-admin",
        1,
        {
            "username": "admin",
            "email": None,
            "role": "admin",
            "is_active": True,
            "is_deleted": False,
            "quota_usd": None,
            "used_usd": Decimal(0),
        },
    )
    worker = start_worker(s, tmp_path / "worker.log")
    token = _token(s)
    try:
        await produce(s, [admin, *traffic.messages])
        await wait_caught_up(pg, traffic)
        start, end = (NOW - timedelta(days=2, minutes=13)).isoformat(), (NOW - timedelta(minutes=7)).isoformat()
        rng = {"start_date": start, "end_date": end}
        some_id = sorted(traffic.latest_usage)[0]
        asks: list[tuple[str, dict[str, str]]] = [
            (f"{ADMIN}/stats", rng),
            (f"{ADMIN}/stats", {}),
            (f"{ADMIN}/aggregation/stats", {**rng, "group_by": "model"}),
            (f"{ADMIN}/aggregation/stats", {**rng, "group_by": "provider"}),
            (f"{ADMIN}/aggregation/stats", {**rng, "group_by": "api_format"}),
            (f"{ADMIN}/records", {**rng, "limit": "50", "offset": "10"}),
            (f"{ADMIN}/records", {**rng, "status": "completed", "limit": "20"}),
            (f"{ADMIN}/active", {}),
            (f"{ADMIN}/{some_id}", {}),
            (f"{ADMIN}/cache-affinity/hit-analysis", {"hours": "72"}),
        ]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            # the admin user entity must be visible before the first authenticated request
            for _ in range(100):
                if (await _get(session, replicas[0] + f"{ADMIN}/stats", token, {}))[0] == 200:
                    break
                await asyncio.sleep(0.2)
            for path, params in asks:
                answers = [await _get(session, base + path, token, params) for base in replicas]
                assert answers[0][0] == 200, (path, answers[0])
                assert answers[0] == answers[1], path

            feeds = [
                await session.ws_connect(
                    base.replace("http://", "ws://") + f"{ADMIN}/active/ws", params={"access_token": token}
                )
                for base in replicas
            ]
            try:
                for ws in feeds:
                    first = json.loads((await ws.receive(timeout=10)).data)
                    assert first["type"] == "snapshot"
                fresh = [usage_record(str(uuid.uuid4()), datetime.now(UTC), model="replica-model") for _ in range(30)]
                await produce(s, [("usage", r["id"].encode(), usage_event(r, 1)) for r in fresh])
                wanted = {r["id"] for r in fresh}
                deadline = time.monotonic() + 60
                for ws in feeds:
                    assert wanted <= await _next_about(ws, wanted, deadline)
            finally:
                for ws in feeds:
                    await ws.close()
            # and after the change both still answer alike
            for path, params in asks[:3] + [(f"{ADMIN}/active", {})]:
                answers = [await _get(session, base + path, token, params) for base in replicas]
                assert answers[0] == answers[1], path
    finally:
        stop_worker(worker)
