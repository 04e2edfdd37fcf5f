"""Every range path takes Aether's range parameters the same way (http/params.py `time_range`): the bounds the
store is asked for, the zone of the heatmap, the records' api_format and total modes, and the 400 with Aether's
message for a range it refuses. The store is a stand-in that records its calls (http_support.FakeReads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from http_support import ADMIN_ID, USER_ID, FakeReads, bearer, long_secret, mint, standard_store, start

from usagestream.http.keys import SETTINGS, STORE
from usagestream.materializer.read.records import ESTIMATE, EXACT, ONLY, RecordQuery
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

ADMIN, USER = "/api/admin/usage", "/api/users/me/usage"
KOLKATA = ZoneInfo("Asia/Kolkata")
TICK = timedelta(microseconds=1)
RANGE_PATHS = [
    (f"{ADMIN}/stats", {}, ADMIN_ID, "admin"),
    (f"{ADMIN}/aggregation/stats", {"group_by": "model"}, ADMIN_ID, "admin"),
    (f"{ADMIN}/records", {}, ADMIN_ID, "admin"),
    (f"{ADMIN}/export/records", {}, ADMIN_ID, "admin"),
    (f"{ADMIN}/export/aggregation", {"group_by": "user"}, ADMIN_ID, "admin"),
    (f"{ADMIN}/timeseries", {}, ADMIN_ID, "admin"),
    (f"{ADMIN}/export/timeseries", {}, ADMIN_ID, "admin"),
    (USER, {}, USER_ID, "user"),
    (f"{USER}/export/records", {}, USER_ID, "user"),
    (f"{USER}/timeseries", {}, USER_ID, "user"),
    (f"{USER}/export/timeseries", {}, USER_ID, "user"),
]


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    c = await start(replace(long_secret(settings), timezone="Asia/Kolkata"), standard_store())
    yield c
    await c.close()


def store_of(c: TestClient[Any, Any]) -> FakeReads:
    store = c.server.app[STORE]
    assert isinstance(store, FakeReads)
    return store


async def get(c: TestClient[Any, Any], path: str, who: str, role: str, **query: str) -> tuple[int, Any]:
    resp = await c.get(path, params=query, headers=bearer(mint(c.server.app[SETTINGS], who, role)))
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body


@pytest.mark.parametrize(("path", "extra", "who", "role"), RANGE_PATHS)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"preset": "today", "start_date": "2026-01-01"}, "preset cannot be combined with start_date or end_date"),
        ({"preset": "next_week"}, "Invalid preset"),
        ({"start_date": "2026-01-02", "end_date": "2026-01-01"}, "start_date must be <= end_date"),
        ({"preset": "today", "tz_offset_minutes": "abc"}, "tz_offset_minutes must be a valid integer"),
        ({"preset": "today", "timezone": "Mars/Base"}, "timezone: unknown time zone 'Mars/Base'"),
    ],
)
async def test_a_refused_range_is_400_on_every_range_path(
    client: TestClient[Any, Any],
    path: str,
    extra: dict[str, str],
    who: str,
    role: str,
    query: dict[str, str],
    message: str,
) -> None:
    status, body = await get(client, path, who, role, **extra, **query)
    assert status == 400, body
    assert body["error"]["type"] == "http_error" and body["error"]["message"].startswith(message)


@pytest.mark.parametrize("path", [f"{ADMIN}/stats", f"{ADMIN}/records", USER])
async def test_the_day_limit_holds_where_aether_has_it(client: TestClient[Any, Any], path: str) -> None:
    who, role = (USER_ID, "user") if path == USER else (ADMIN_ID, "admin")
    status, body = await get(client, path, who, role, start_date="2025-01-01", end_date="2026-01-02")
    assert (status, body["error"]["message"]) == (400, "Query range cannot exceed 365 days")
    status, _ = await get(client, path, who, role, start_date="2025-01-01", end_date="2026-01-01")
    assert status == 200


async def test_dates_are_days_of_the_request_zone_else_the_configured_one(client: TestClient[Any, Any]) -> None:
    store = store_of(client)
    day = {"start_date": "2026-02-03", "end_date": "2026-02-03"}
    assert (await get(client, f"{ADMIN}/stats", ADMIN_ID, "admin", **day))[0] == 200
    assert store.calls[-1] == (
        "stats",
        (datetime(2026, 2, 2, 18, 30, tzinfo=UTC), datetime(2026, 2, 3, 18, 30, tzinfo=UTC) - TICK),
    )
    assert (await get(client, f"{ADMIN}/stats", ADMIN_ID, "admin", **day, timezone="America/New_York"))[0] == 200
    assert store.calls[-1][1] == (datetime(2026, 2, 3, 5, tzinfo=UTC), datetime(2026, 2, 4, 5, tzinfo=UTC) - TICK)
    assert (await get(client, USER, USER_ID, "user", **day, tz_offset_minutes="345"))[0] == 200
    name, args = store.calls[-1]
    assert name == "user_usage" and args[1:3] == (
        datetime(2026, 2, 2, 18, 15, tzinfo=UTC),
        datetime(2026, 2, 3, 18, 15, tzinfo=UTC) - TICK,
    )


async def test_a_preset_counts_from_now_in_the_zone(client: TestClient[Any, Any]) -> None:
    store = store_of(client)
    before = datetime.now(UTC)
    assert (await get(client, f"{ADMIN}/aggregation/stats", ADMIN_ID, "admin", group_by="model", preset="last7days"))[
        0
    ] == 200
    after = datetime.now(UTC)
    _, (_, start, end, _) = store.calls[-1]
    expected = []
    for now in (before, after):
        today = now.astimezone(KOLKATA).date()
        first = datetime.combine(today - timedelta(days=6), datetime.min.time(), tzinfo=KOLKATA).astimezone(UTC)
        last = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=KOLKATA).astimezone(UTC)
        expected.append((first, last - TICK))
    assert (start, end) in expected


async def test_records_take_api_format_and_the_total_modes(client: TestClient[Any, Any]) -> None:
    store = store_of(client)
    cases = [
        ({"api_format": "claude:chat"}, RecordQuery(api_format="claude:chat"), EXACT),
        ({"api_format": ""}, RecordQuery(), EXACT),  # empty: no filter, as Aether reads it
        ({"include_total": "false"}, RecordQuery(), ESTIMATE),
        ({"total_only": "true", "include_total": "false"}, RecordQuery(), ONLY),
        ({"total_only": "1"}, RecordQuery(), ONLY),
    ]
    for query, expected, total in cases:
        status, body = await get(
            client, f"{ADMIN}/records", ADMIN_ID, "admin", start_date="2026-01-01T00:00:00Z", **query
        )
        assert status == 200, body
        q, limit, offset, mode = store.calls[-1][1]
        assert (q, limit, offset, mode) == (
            replace(expected, start=datetime(2026, 1, 1, tzinfo=UTC)),
            100,
            0,
            total,
        )
    status, body = await get(client, f"{ADMIN}/records", ADMIN_ID, "admin", include_total="perhaps")
    assert status == 422 and "'include_total'" in body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "who", "role"), [(f"{ADMIN}/heatmap", ADMIN_ID, "admin"), (f"{USER}/heatmap", USER_ID, "user")]
)
async def test_the_heatmap_takes_the_zone(client: TestClient[Any, Any], path: str, who: str, role: str) -> None:
    store = store_of(client)
    for query, zone in [
        ({}, KOLKATA),
        ({"timezone": "America/New_York", "tz_offset_minutes": "60"}, ZoneInfo("America/New_York")),
        ({"tz_offset_minutes": "-210"}, timezone(timedelta(minutes=-210))),
    ]:
        status, body = await get(client, path, who, role, **query)
        assert status == 200, body
        assert store.calls[-1][1][-1] == zone
    status, body = await get(client, path, who, role, tz_offset_minutes="2000")
    assert (status, body["error"]["message"]) == (400, "tz_offset_minutes must be between -1439 and 1439")
