"""The API's composition root gives its read store two pools: the range questions' sessions plan each statement
once (`ReadStore.planned`, pg_pool `generic_plans`), every other read keeps PostgreSQL's default."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from http_support import long_secret, serve

from usagestream.http.keys import POOL, STORE
from usagestream.http.server import create_app
from usagestream.materializer.read.store import ReadStore
from usagestream.settings import Settings

pytestmark = pytest.mark.integration


async def _mode(pool: Any) -> str:
    async with pool.acquire() as conn:
        return str(await conn.fetchval("SHOW plan_cache_mode"))


async def test_the_api_reads_range_questions_on_sessions_that_plan_once(settings: Settings) -> None:
    client: TestClient[Any, Any] = await serve(create_app(long_secret(settings)))
    try:
        app = client.server.app
        store = app[STORE]
        assert isinstance(store, ReadStore)
        assert store.planned is not store.pool and store.pool is app[POOL]
        assert await _mode(store.planned) == "force_generic_plan"
        assert await _mode(store.pool) == "auto"
    finally:
        await client.close()
