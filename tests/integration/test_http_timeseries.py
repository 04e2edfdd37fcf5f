"""The time series paths over HTTP: scope (admin: everyone, user: only the caller), parameter validation with
clear 4xx answers, the zone's offsets in the bucket stamps. Counting itself: test_pg_reads_timeseries.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from http_support import ADMIN_ID, FakeReads, bearer, long_secret, mint, start, user
from test_pg_reads_seed import NOW, World, seed_database

from usagestream.http.keys import SETTINGS
from usagestream.settings import Settings

pytestmark = pytest.mark.integration
ADMIN_PATH = "/api/admin/usage/timeseries"
USER_PATH = "/api/users/me/usage/timeseries"
RANGE = {"start_date": (NOW - timedelta(days=10)).isoformat(), "end_date": NOW.isoformat()}


@pytest.fixture(name="world", scope="module")
def world_fixture(database_dsn: str) -> World:
    return asyncio.run(seed_database(database_dsn, ZoneInfo("UTC")))


@pytest.fixture
async def client(settings: Settings, world: World) -> AsyncIterator[TestClient[Any, Any]]:
    store = FakeReads()
    store.users = {ADMIN_ID: user(ADMIN_ID, "admin"), "u0": user("u0")}
    c = await start(replace(long_secret(settings), timezone="UTC"), store)
    yield c
    await c.close()


def _settings_of(c: TestClient[Any, Any]) -> Settings:
    return c.server.app[SETTINGS]


async def get(c: TestClient[Any, Any], path: str, who: str, role: str, **query: str) -> tuple[int, Any]:
    resp = await c.get(path, params=query, headers=bearer(mint(_settings_of(c), who, role)))
    return resp.status, await resp.json()


def in_range(world: World, user_id: str | None) -> int:
    lo, hi = NOW - timedelta(days=10), NOW
    return sum(lo <= u["created_at"] <= hi and user_id in (None, u["user_id"]) for u in world.usage)


async def test_admin_sees_every_request_and_the_user_only_theirs(client: TestClient[Any, Any], world: World) -> None:
    status, body = await get(client, ADMIN_PATH, ADMIN_ID, "admin", granularity="day", **RANGE)
    assert status == 200, body
    assert set(body) == {"granularity", "timezone", "start_date", "end_date", "series"}
    assert body["timezone"] == "UTC" and body["series"][0]["key"] is None
    assert sum(p["requests"] for p in body["series"][0]["points"]) == in_range(world, None)
    # api_key counts every request (model and api_format count what /aggregation/stats counts: finished ones)
    status, mine = await get(client, USER_PATH, "u0", "user", granularity="day", group_by="api_key", **RANGE)
    assert status == 200, mine
    assert sum(p["requests"] for s in mine["series"] for p in s["points"]) == in_range(world, "u0") > 0


async def test_buckets_are_stamped_in_the_zone(client: TestClient[Any, Any]) -> None:
    status, body = await get(client, USER_PATH, "u0", "user", granularity="hour", tz="Asia/Kolkata", **RANGE)
    assert status == 200, body
    stamps = [p["bucket"] for p in body["series"][0]["points"]]
    assert all(s.endswith(":00:00+05:30") for s in stamps) and len(stamps) == 241
    assert body["start_date"].endswith("+05:30") and body["timezone"] == "Asia/Kolkata"


@pytest.mark.parametrize("group_by", ["user", "provider"])
@pytest.mark.parametrize("role", ["user", "admin"])
async def test_user_path_refuses_admin_groupings(client: TestClient[Any, Any], group_by: str, role: str) -> None:
    who = "u0" if role == "user" else ADMIN_ID
    status, body = await get(client, USER_PATH, who, role, group_by=group_by)
    assert status == 403
    assert body["error"]["message"] == f"group_by={group_by} needs the admin role: use /api/admin/usage/timeseries"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"granularity": "minute"}, "'granularity': Input should be one of: 15m, hour, day, week, month"),
        ({"group_by": "status"}, "'group_by': Input should be one of: none, model, provider, api_format, user"),
        ({"tz": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
        ({"tz": "../../etc/passwd"}, "unknown time zone"),
        ({"tz": "America"}, "unknown time zone"),
        ({"tz": "zone.tab"}, "unknown time zone"),
        ({"tz": "UTC\x00"}, "must not contain the NUL character"),
        ({"limit": "0"}, "'limit': Input should be greater than or equal to 1"),
        ({"limit": "101"}, "'limit': Input should be less than or equal to 100"),
        (
            {"start_date": "2026-01-02T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
            "start_date must not be after end_date",
        ),
        ({"start_date": "2025-01-01", "end_date": "2026-01-01", "granularity": "15m"}, "more than 10000 buckets"),
        (
            {
                "start_date": "2025-01-01",
                "end_date": "2025-03-02",
                "granularity": "hour",
                "group_by": "model",
                "limit": "100",
            },
            "1464 buckets x 101 series is more than 100000 points",
        ),
        ({"start_date": "1971-01-01", "end_date": "1971-01-02", "tz": "Africa/Monrovia"}, "UTC-00:44:30"),
        ({"start_date": "9999-01-01", "end_date": "9999-12-31", "granularity": "month"}, "beyond the years 1 to"),
    ],
)
async def test_invalid_parameters_are_422(client: TestClient[Any, Any], query: dict[str, str], message: str) -> None:
    status, body = await get(client, ADMIN_PATH, ADMIN_ID, "admin", **query)
    assert status == 422, body
    assert body["error"]["type"] == "validation_error" and message in body["error"]["message"]


async def test_anonymous_is_401_before_validation(client: TestClient[Any, Any]) -> None:
    for path in (ADMIN_PATH, USER_PATH):
        resp = await client.get(path, params={"granularity": "minute"})
        assert resp.status == 401
    status, _ = await get(client, ADMIN_PATH, "u0", "user")
    assert status == 403


async def test_an_open_end_before_the_start_is_the_start(client: TestClient[Any, Any]) -> None:
    """Only a start in the future: the range is that instant (one empty bucket), not a 422."""
    status, body = await get(client, USER_PATH, "u0", "user", start_date="2099-03-04T05:06:07Z", granularity="day")
    assert status == 200, body
    assert body["start_date"] == body["end_date"] == "2099-03-04T05:06:07+00:00"
    assert [(p["bucket"], p["requests"], p["partial"]) for p in body["series"][0]["points"]] == [
        ("2099-03-04T00:00:00+00:00", 0, True)
    ]
