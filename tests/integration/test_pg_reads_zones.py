"""Local days of any zone against the real read path: the single days of a range add up to the range, and both
equal a plain recount (stats, model aggregation, the user summary); the heatmap's cells in zones other than the
configured one (+05:30, DST, a fixed offset off the 15-minute grid) equal a recount of the records by local day.

The days are built in Asia/Kathmandu (+05:45), so every other zone is answered from finer buckets and recounts.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as hs
from multidict import MultiDict
from test_pg_reads import expected_heatmap, expected_model, expected_stats, rows_in
from test_pg_reads_seed import NOW, World, seed_database

from usagestream import local_days
from usagestream.http import params
from usagestream.http.shape.reads import ShapedReads
from usagestream.materializer.pg_pool import create_pool
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

CONFIGURED = "Asia/Kathmandu"
ZONES = [
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/New_York",
    "America/Santiago",
    "Pacific/Chatham",  # +12:45 / +13:45
    "UTC",
]
OFFSETS = ["330", "-210", "7", "-1439"]  # tz_offset_minutes: 7 and -1439 put every midnight off the quarter grid
TICK = timedelta(microseconds=1)
SUMMED = ("total_requests", "total_tokens", "total_cost", "total_actual_cost", "error_count")


def zone_of(zone: str) -> tzinfo:
    if zone in OFFSETS:
        minutes = int(zone)
        return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))
    return ZoneInfo(zone)


def edge_instants() -> list[datetime]:
    """Local midnights of every zone tested over the days the tests ask about, the microsecond before each,
    and an instant inside the quarter a midnight off the grid splits: where a wrong day boundary shows."""
    out = []
    for zone in ZONES + OFFSETS:
        for i in range(-36, 9):
            midnight = local_days.day_start(NOW.date() + timedelta(days=i), zone_of(zone))
            out += [midnight, midnight - TICK, midnight + timedelta(minutes=3)]
    return sorted(set(out))


@pytest.fixture(name="world", scope="module")
def world_fixture(database_dsn: str) -> World:
    """The seeded records, and one more at each edge instant: every day boundary tested has records at it."""
    at = edge_instants()
    return asyncio.run(seed_database(database_dsn, ZoneInfo(CONFIGURED), n=len(at) + 320, at=at))


def zone_query(zone: str) -> dict[str, str]:
    return {"tz_offset_minutes": zone} if zone in OFFSETS else {"timezone": zone}


def day_bounds(zone: str, first: date, last: date) -> tuple[datetime | None, datetime | None]:
    q = MultiDict({"start_date": first.isoformat(), "end_date": last.isoformat(), **zone_query(zone)})
    return params.date_range(q, zone=ZoneInfo(CONFIGURED), now=NOW)


def summed(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: sum(b[k] for b in bodies) for k in SUMMED}
    for k in ("cache_creation_tokens", "cache_read_tokens", "cache_creation_cost", "cache_read_cost"):
        out[k] = sum(b["cache_stats"][k] for b in bodies)
    return out


async def check_days_add_up(s: Settings, w: World, zone: str, first: date, last: date) -> None:
    store = ShapedReads(await create_pool(s, min_size=1, max_size=2), s)
    try:
        start, end = day_bounds(zone, first, last)
        whole = await store.stats(start, end)
        assert whole == expected_stats(rows_in(w, start, end))
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        single = [day_bounds(zone, d, d) for d in days]
        assert summed([await store.stats(*b) for b in single]) == summed([whole])
        per_day = [await store.aggregation("model", *b, 100) for b in single]
        counts: dict[str, int] = {}
        for items in per_day:
            for item in items:
                counts[item["model"]] = counts.get(item["model"], 0) + item["request_count"]
        got = {i["model"]: i["request_count"] for i in await store.aggregation("model", start, end, 100)}
        assert counts == got == {i["model"]: i["request_count"] for i in expected_model(rows_in(w, start, end), 100)}
        user = [await store.user_usage("u0", *b, None, 1, 0) for b in single]
        total = await store.user_usage("u0", start, end, None, 1, 0)
        assert sum(u["total_requests"] for u in user) == total["total_requests"]
        assert sum(u["total_cost"] for u in user) == total["total_cost"]
    finally:
        await store.pool.close()


@given(
    zone=hs.sampled_from(ZONES + OFFSETS),
    first=hs.dates(min_value=(NOW - timedelta(days=34)).date(), max_value=(NOW + timedelta(days=1)).date()),
    length=hs.integers(min_value=1, max_value=6),
)
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_single_days_add_up_to_the_range(world: World, settings: Settings, zone: str, first: date, length: int) -> None:
    s = replace(settings, timezone=CONFIGURED)
    asyncio.run(check_days_add_up(s, world, zone, first, first + timedelta(days=length - 1)))


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York", "Asia/Kathmandu", "UTC", "7", "-210"])
@pytest.mark.parametrize("user_id", [None, "u0"])
async def test_heatmap_in_any_zone(world: World, settings: Settings, zone: str, user_id: str | None) -> None:
    s = replace(settings, timezone=CONFIGURED)
    tz = zone_of(zone)
    store = ShapedReads(await create_pool(s, min_size=1, max_size=2), s)
    try:
        got = await store.heatmap(user_id, True, NOW, tz)
    finally:
        await store.pool.close()
    start = datetime.fromisoformat(got.pop("start_date"))
    got.pop("end_date")
    assert got == expected_heatmap(world, tz, user_id, True)  # type: ignore[arg-type]
    assert start.astimezone(tz).time().isoformat() == "00:00:00"
