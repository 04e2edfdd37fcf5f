"""PostgreSQL going away under a running statement (a stop, a crash, a dropped connection) is an outage the caller
should retry: 503 `service_unavailable`, never a 500 that reads as a bug (http/edge/middleware.py)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from http_support import ADMIN_ID, FakeReads, bearer, long_secret, mint, standard_store, start

from usagestream.settings import Settings

pytestmark = pytest.mark.integration

GONE = [
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another server process"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
]


class GoneStore(FakeReads):
    error: Exception

    async def stats(self, start: Any, end: Any) -> dict[str, Any]:
        raise self.error


@pytest.mark.parametrize("error", GONE, ids=lambda e: type(e).__name__)
async def test_postgres_going_away_is_a_503(settings: Settings, error: Exception) -> None:
    settings = long_secret(settings)
    store = GoneStore(users=standard_store().users)
    store.error = error
    client = await start(settings, store)
    try:
        resp = await client.get("/api/admin/usage/stats", headers=bearer(mint(settings, ADMIN_ID, "admin")))
        assert resp.status == 503
        assert (await resp.json())["error"]["type"] == "service_unavailable"
    finally:
        await client.close()
