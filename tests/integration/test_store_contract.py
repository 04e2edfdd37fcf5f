"""The ports' contract (tests/unit/store_contract.py) run against the real adapters: PgViews on PostgreSQL and
RedisLive on Redis. The in-memory fakes the pipeline's unit tests use pass the same cases (tests/unit)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from usagestream.materializer import pg_tables as t
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews
from usagestream.materializer.write.redis_live import RedisLive
from usagestream.settings import Settings

# The shared cases live beside the fakes in tests/unit, put on sys.path by their absolute path (never the
# repository root: its http/ folder would shadow the standard library's).
UNIT = Path(__file__).resolve().parent.parent / "unit"
if str(UNIT) not in sys.path:
    sys.path.append(str(UNIT))

from store_contract import AggRows, LiveContract, ViewsContract  # noqa: E402

pytestmark = pytest.mark.integration


def _nonzero(rows: list[asyncpg.Record], key_width: int) -> AggRows:
    return {tuple(r[:key_width]): tuple(r[key_width:]) for r in rows if any(r[key_width:])}


class PgViewsHarness:
    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self.store = PgViews(pool, settings)

    async def aggregates(self) -> AggRows:
        rows = await self.pool.fetch(f"SELECT {', '.join(t.USAGE_AGG_COLUMNS)} FROM usage_agg")
        return _nonzero(rows, len(t.USAGE_AGG_KEY))

    async def attempts(self) -> AggRows:
        rows = await self.pool.fetch(f"SELECT {', '.join(t.ATTEMPT_AGG_COLUMNS)} FROM attempt_agg")
        return _nonzero(rows, len(t.ATTEMPT_AGG_KEY))

    async def stored_seqs(self) -> dict[str, int]:
        return {r["id"]: r["seq"] for r in await self.pool.fetch("SELECT id, seq FROM usage_records")}

    async def entities(self) -> dict[tuple[str, str], tuple[int, bool, Mapping[str, Any] | None]]:
        rows = await self.pool.fetch("SELECT entity, id, seq, deleted, data FROM entities")
        return {(r["entity"], r["id"]): (r["seq"], r["deleted"], r["data"]) for r in rows}

    async def dead_letters(self) -> dict[str, tuple[int, str]]:
        rows = await self.pool.fetch("SELECT topic, count, last_reason FROM dead_letter_counts")
        return {r["topic"]: (r["count"], r["last_reason"]) for r in rows}

    async def set_records_cutoff(self, when: datetime) -> None:
        await self.pool.execute(
            "INSERT INTO meta (key, value) VALUES ('records_cutoff', $1) ON CONFLICT (key) DO UPDATE SET value = $1",
            when.isoformat(),
        )


class RedisLiveHarness:
    def __init__(self, settings: Settings, client: aioredis.Redis) -> None:
        self.settings = settings
        self.client = client
        self.store = RedisLive(client, settings)
        self.pubsub = client.pubsub()

    async def items(self) -> dict[str, dict[str, Any]]:
        stored = await self.client.hgetall(self.store.hash_key)
        return {k.decode(): json.loads(v) for k, v in stored.items()}

    async def published(self) -> list[dict[str, Any]]:
        out = []  # until nothing came for 0.2 s (the subscription's confirmation is not a change)
        while (msg := await self.pubsub.get_message(timeout=0.2)) is not None:
            if msg["type"] == "message":
                out.append(json.loads(msg["data"]))
        return out

    async def wipe(self) -> None:
        keys = [k async for k in self.client.scan_iter(match=self.settings.redis_prefix + "*")]
        if keys:
            await self.client.delete(*keys)


class TestPgViews(ViewsContract):
    @pytest.fixture
    async def views(self, settings: Settings, pg: asyncpg.Connection) -> AsyncIterator[PgViewsHarness]:
        pool = await create_pool(settings)
        try:
            yield PgViewsHarness(settings, pool)
        finally:
            await pool.close()


class TestRedisLive(LiveContract):
    @pytest.fixture
    async def live(self, settings: Settings, redis_client: aioredis.Redis) -> AsyncIterator[RedisLiveHarness]:
        harness = RedisLiveHarness(settings, redis_client)
        await harness.pubsub.subscribe(harness.store.channel)
        try:
            yield harness
        finally:
            await harness.pubsub.aclose()
