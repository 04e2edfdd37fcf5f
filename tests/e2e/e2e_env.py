"""The e2e deployment: the session's own database, topics, consumer group and Redis prefix, the real
`usagestream worker` and `usagestream api` processes, and an HTTP client that parses money exactly."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from e2e_world import World
from pg_admin import run_admin_sql
from testsupport import free_port
from workerproc import wait_for

from usagestream.settings import Settings


def db_dsn(dsn: str, database: str) -> str:
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{database}"


def deployment_settings(
    base: Settings, kind: str, tag: str, dbname: str, state_dir: Path, timezone: str, active_timeout_s: int
) -> Settings:
    """Settings of one test deployment: its own database, group, Redis prefix and topics, fast batches and sweeps."""
    return replace(
        base,
        postgres_dsn=db_dsn(base.asyncpg_dsn, dbname),
        consumer_group=f"usagestream-{kind}-{tag}",
        redis_prefix=f"usagestream-{kind}-{tag}:",
        topic_usage=f"{kind}.{tag}.usage",
        topic_candidates=f"{kind}.{tag}.candidates",
        topic_entities=f"{kind}.{tag}.entities",
        topic_dlq=f"{kind}.{tag}.dlq",
        partitions=3,
        jwt_secret=f"{kind}-secret-{tag}-{uuid.uuid4().hex}",
        timezone=timezone,
        active_timeout_s=active_timeout_s,
        admin_default_days=30,
        batch_within_s=0.05,
        sweep_interval_s=0.5,
        http_port=free_port(),
        state_dir=str(state_dir),
    )


async def admin_sql(base: Settings, sql: str) -> None:
    await run_admin_sql(db_dsn(base.asyncpg_dsn, "postgres"), sql)


async def topics(settings: Settings, create: bool) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    names = [settings.topic_usage, settings.topic_candidates, settings.topic_entities, settings.topic_dlq]
    try:
        if create:
            await admin.create_topics(
                [
                    NewTopic(settings.topic_usage, settings.partitions, 1),
                    NewTopic(settings.topic_candidates, settings.partitions, 1),
                    NewTopic(
                        settings.topic_entities,
                        settings.partitions,
                        1,
                        topic_configs={"cleanup.policy": "compact"},
                    ),
                    NewTopic(settings.topic_dlq, 1, 1),
                ]
            )
        else:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def forget_redis(settings: Settings) -> None:
    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=settings.redis_prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def start_api(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.to_env(), "PYTHONSAFEPATH": "1"}
    exe = Path(sys.executable).parent / "usagestream"
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(exe), "api"], env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"usagestream api exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout}s")


@dataclass
class Deployment:
    settings: Settings
    base_url: str
    world: World
    worker: subprocess.Popen[bytes]
    api: subprocess.Popen[bytes]
    logs: Path

    def token(self, user_id: str, role: str = "user", ttl: int = 3600, **extra: Any) -> str:
        claims = {"user_id": user_id, "role": role, "type": "access", "exp": int(time.time()) + ttl, **extra}
        return jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")

    async def wait_caught_up(self, timeout: float = 120) -> None:
        """PostgreSQL holds the latest snapshot of everything published, timeouts applied; Redis the live
        set."""
        w = self.world
        conn = await asyncpg.connect(self.settings.asyncpg_dsn)
        try:
            await wait_for(
                conn,
                "SELECT coalesce(sum(seq), 0)::bigint FROM usage_records",
                sum(w.usage_seq.values()),
                timeout=timeout,
                proc=self.worker,
            )
            await wait_for(
                conn,
                "SELECT coalesce(sum(seq), 0)::bigint FROM candidate_records",
                sum(c["seq"] for c in w.cands.values()),
                timeout=timeout,
                proc=self.worker,
            )
            await wait_for(
                conn,
                "SELECT count(*) FILTER (WHERE deleted) || '/' || coalesce(sum(seq) FILTER"
                " (WHERE NOT deleted), 0) FROM entities",
                w.expected_entity_state(),
                timeout=timeout,
                proc=self.worker,
            )
            await wait_for(
                conn,
                "SELECT count(*) FROM usage_records WHERE timed_out",
                len(w.timed_out_ids()),
                timeout=timeout,
                proc=self.worker,
            )
        finally:
            await conn.close()
        client = aioredis.from_url(self.settings.redis_url)
        try:
            deadline = time.monotonic() + timeout
            while {k.decode() for k in await client.hkeys(self.settings.key("live"))} != w.active_ids():
                assert time.monotonic() < deadline, "the Redis live set never matched the active requests"
                await asyncio.sleep(0.2)
        finally:
            await client.aclose()


@dataclass
class Answer:
    status: int
    body: Any
    text: str


class Api:
    """A client of the running API; bodies are parsed with Decimal for every JSON number with a fraction."""

    def __init__(self, session: aiohttp.ClientSession, dep: Deployment) -> None:
        self.session = session
        self.dep = dep
        self.admin_token = dep.token("u-admin", "admin")

    async def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        token: str | None = "admin",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        hdrs = dict(headers or {})
        if token == "admin":
            token = self.admin_token
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        async with self.session.get(self.dep.base_url + path, params=query, headers=hdrs) as resp:
            text = await resp.text()
        try:
            body = json.loads(text, parse_float=Decimal)
        except ValueError:
            body = None
        return Answer(resp.status, body, text)

    async def ok(self, path: str, params: dict[str, Any] | None = None, token: str | None = "admin") -> Any:
        answer = await self.get(path, params, token)
        assert answer.status == 200, (path, params, answer.status, answer.text[:500])
        return answer.body


def _param(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
