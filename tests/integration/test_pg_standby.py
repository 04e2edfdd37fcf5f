"""The API on a PostgreSQL streaming replica (`USAGESTREAM_POSTGRES_READ_DSN`), the standby made by the stack's own
code (`pg_basebackup -R`, stack/postgres_standby.py): while the standby's replay is paused, an API reading it keeps
answering the standby's (older) numbers as an API on the primary moves on, which shows where it reads; its
websocket feed (Redis) still sees every new request at once; once replay resumes, both answer alike."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from eventgen import generate, usage_event, usage_record
from test_pipeline import wait_caught_up
from testsupport import free_port
from workerproc import produce, start_worker, stop_worker

from usagestream.settings import Settings
from usagestream.stack import postgres_access, postgres_cluster
from usagestream.stack.postgres_cluster import Target
from usagestream.stack.postgres_standby import SOCKETS, Standby

E2E = Path(__file__).resolve().parent.parent / "e2e"
if str(E2E) not in sys.path:
    sys.path.append(str(E2E))

from e2e_env import start_api, wait_http  # noqa: E402
from e2e_world import entity_message  # noqa: E402

pytestmark = pytest.mark.integration

STATS = "/api/admin/usage/stats"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def standby(settings: Settings) -> Iterator[Standby]:
    primary = postgres_cluster.find(Target.from_dsn(settings.asyncpg_dsn).port)
    if primary is None:
        pytest.fail("the primary is not a local Debian cluster: the stack cannot make a standby of it")
    replica = Standby(primary, free_port())
    try:
        replica.create()
        replica.start(120)
        yield replica
    finally:
        replica.remove()


def _standby_sql(replica: Standby, sql: str) -> str:
    """As the postgres superuser (pausing replay needs it), over the standby's Unix socket."""
    argv = [*postgres_access.as_postgres(), "psql", "-X", "-At", "-h", SOCKETS, "-p", str(replica.port)]
    done = subprocess.run([*argv, "-d", "postgres", "-c", sql], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _token(settings: Settings) -> str:
    claims = {"user_id": "u-admin", "role": "admin", "type": "access", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def _stats(session: aiohttp.ClientSession, base: str, token: str) -> tuple[int, Any]:
    async with session.get(base + STATS, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, json.loads(await resp.text(), parse_float=Decimal)


async def _until_alike(session: aiohttp.ClientSession, primary: str, replica: str, token: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        a, b = await _stats(session, primary, token), await _stats(session, replica, token)
        if a[0] == 200 and a == b:
            return a[1]
        assert time.monotonic() < deadline, (a, b)
        await asyncio.sleep(0.2)


async def test_the_api_reads_the_standby_and_its_feed_does_not_wait_for_it(
    settings: Settings, topics: Settings, pg: asyncpg.Connection, standby: Standby, tmp_path: Path
) -> None:
    s = replace(
        topics,
        active_timeout_s=10**9,
        batch_within_s=0.05,
        sweep_interval_s=0.5,
        jwt_secret="standby-" + uuid.uuid4().hex + uuid.uuid4().hex,
    )
    head, _, db = s.asyncpg_dsn.rpartition("/")
    on_standby = replace(s, postgres_read_dsn=f"postgresql://127.0.0.1:{standby.port}/{db}")
    first = generate(41, 200, NOW - timedelta(days=2), timedelta(days=1))
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
    apis, urls = [], []
    try:
        for i, api_settings in enumerate((s, on_standby)):
            api_settings = replace(api_settings, http_port=free_port())
            apis.append(start_api(api_settings, tmp_path / f"api{i}.log"))
            urls.append(f"http://127.0.0.1:{api_settings.http_port}")
        for url, proc in zip(urls, apis, strict=True):
            wait_http(url + "/health", proc)
        token = _token(s)
        await produce(s, [admin, *first.messages])
        await wait_caught_up(pg, first)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            before = await _until_alike(session, urls[0], urls[1], token)
            assert before["total_requests"] == len(first.latest_usage)

            assert _standby_sql(standby, "SELECT pg_is_in_recovery()") == "t"
            _standby_sql(standby, "SELECT pg_wal_replay_pause()")
            ws = await session.ws_connect(
                urls[1].replace("http://", "ws://") + "/api/admin/usage/active/ws", params={"access_token": token}
            )
            try:
                assert json.loads((await ws.receive(timeout=10)).data)["type"] == "snapshot"
                second = generate(42, 150, NOW - timedelta(hours=20), timedelta(hours=10))
                live = [usage_record(str(uuid.uuid4()), datetime.now(UTC), model="standby-live") for _ in range(5)]
                started = [("usage", r["id"].encode(), usage_event(r, 1)) for r in live]
                await produce(s, [*second.messages, *started])
                await wait_caught_up(pg, SimpleNamespace(messages=[*first.messages, *second.messages, *started]))
                seen: set[str] = set()
                deadline = time.monotonic() + 30
                while not {r["id"] for r in live} <= seen:  # the feed, from Redis, does not wait for the standby
                    msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
                    body = json.loads(msg.data)
                    if body.get("type") == "upsert":
                        seen.add(body["request"]["id"])
                on_primary, on_replica = await _stats(session, urls[0], token), await _stats(session, urls[1], token)
                assert on_primary[1]["total_requests"] > before["total_requests"]
                assert on_replica == (200, before)  # replay is paused: the standby's API still sees the old data
            finally:
                await ws.close()
                _standby_sql(standby, "SELECT pg_wal_replay_resume()")
            after = await _until_alike(session, urls[0], urls[1], token)
            assert after["total_requests"] == before["total_requests"] + len(second.latest_usage) + len(live)
    finally:
        for proc in apis:
            stop_worker(proc)
        stop_worker(worker)
