"""/api/dashboard/stats and /api/dashboard/daily-stats over HTTP against seeded PostgreSQL: every number checked
against a plain-Python recount of the seeded records (local days of zones other than the stored one included),
the scope (an admin sees everyone, a user only their own), auth, and Aether's 400s for bad ranges."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from http_support import ADMIN_ID, FakeReads, bearer, long_secret, mint, start, user
from test_pg_reads_seed import NOW, World, seed_database

from usagestream.http.keys import SETTINGS
from usagestream.http.views import dashboard_stats
from usagestream.settings import Settings

pytestmark = pytest.mark.integration
STATS, DAILY = "/api/dashboard/stats", "/api/dashboard/daily-stats"
STORED = "Asia/Kathmandu"  # the zone the day buckets are built in
Row = dict[str, Any]


@pytest.fixture(name="world", scope="module")
def world_fixture(database_dsn: str) -> World:
    return asyncio.run(seed_database(database_dsn, ZoneInfo(STORED)))


@pytest.fixture
async def client(
    settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TestClient[Any, Any]]:
    monkeypatch.setattr(dashboard_stats, "_now", lambda: NOW)  # the seeded history ends at NOW
    store = FakeReads()
    store.users = {ADMIN_ID: user(ADMIN_ID, "admin"), "u0": user("u0")}
    c = await start(replace(long_secret(settings), timezone=STORED), store)
    yield c
    await c.close()


async def get(c: TestClient[Any, Any], path: str, who: str | None, role: str = "user", **query: str) -> tuple[int, Any]:
    headers = bearer(mint(c.server.app[SETTINGS], who, role)) if who else {}
    resp = await c.get(path, params=query, headers=headers)
    return resp.status, json.loads(await resp.text(), parse_float=Decimal)


# --- the recount ------------------------------------------------------------------------------------------
def money4(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def rows_in(world: World, lo: datetime, hi: datetime, user_id: str | None) -> list[Row]:
    return [u for u in world.usage if lo <= u["created_at"] <= hi and user_id in (None, u["user_id"])]


def tokens(rows: Iterable[Row]) -> int:
    keys = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(u[k] for u in rows for k in keys)


def cost(rows: Iterable[Row], field: str = "total_cost_usd") -> Decimal:
    return money4(sum((u[field] for u in rows), Decimal(0)))


def avg_seconds(rows: list[Row]) -> float:
    times = [u["response_time_ms"] for u in rows if u["response_time_ms"] is not None]
    return round(sum(times) / len(times) / 1000, 4) if times else 0.0


def local_day(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    lo = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    return lo, datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC) - timedelta.resolution


def amounts(rows: list[Row]) -> Row:
    return {"requests": len(rows), "tokens": tokens(rows), "cost": cost(rows)}


def grouped(rows: list[Row], key: str) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for u in rows:
        if u[key] is not None:
            out.setdefault(u[key], []).append(u)
    return out


def expected_day(world: World, day: date, zone: tzinfo, user_id: str | None) -> Row:
    rows = rows_in(world, *local_day(day, zone), user_id)
    models = grouped(rows, "model")
    item = {"date": day.isoformat(), **amounts(rows), "avg_response_time": Decimal(str(avg_seconds(rows)))}
    item["unique_models"] = len(models)
    item["model_breakdown"] = sorted(
        ({"model": m, **amounts(r)} for m, r in models.items()), key=lambda x: (-x["cost"], x["model"].encode())
    )
    if user_id is None:
        item["unique_providers"] = len(grouped(rows, "provider_id"))
    return item


ZONES = {
    "stored zone": ({"timezone": STORED}, ZoneInfo(STORED)),
    "another IANA zone": ({"timezone": "America/St_Johns"}, ZoneInfo("America/St_Johns")),
    "a fixed offset": ({"tz_offset_minutes": "330"}, timezone(timedelta(minutes=330))),
}


@pytest.mark.parametrize("zone_name", list(ZONES))
@pytest.mark.parametrize("who", ["admin", "u0"])
async def test_daily_stats_match_a_recount(
    client: TestClient[Any, Any], world: World, zone_name: str, who: str
) -> None:
    query, zone = ZONES[zone_name]
    last = NOW.astimezone(zone).date()
    first = last - timedelta(days=9)
    caller, role, scope = (ADMIN_ID, "admin", None) if who == "admin" else ("u0", "user", "u0")
    q = {**query, "start_date": first.isoformat(), "end_date": last.isoformat()}
    status, body = await get(client, DAILY, caller, role, **q)
    assert status == 200, body
    days = [first + timedelta(days=i) for i in range(10)]
    assert body["daily_stats"] == [expected_day(world, d, zone, scope) for d in days]
    assert body["period"] == {"start_date": first.isoformat(), "end_date": last.isoformat(), "days": 10}
    rows = rows_in(world, local_day(first, zone)[0], local_day(last, zone)[1], scope)
    summary = {m["model"]: (m["requests"], m["tokens"], m["cost"]) for m in body["model_summary"]}
    assert summary == {m: (len(r), tokens(r), cost(r)) for m, r in grouped(rows, "model").items()}
    assert sum(d["requests"] for d in body["daily_stats"]) == len(rows) > 0
    if who == "admin":
        names = {p: world.providers.get(p, p) for p in grouped(rows, "provider_id")}
        expected = {names[p]: (len(r), tokens(r), cost(r)) for p, r in grouped(rows, "provider_id").items()}
        assert {p["provider"]: (p["requests"], p["tokens"], p["cost"]) for p in body["provider_summary"]} == expected
    else:
        assert "provider_summary" not in body  # a user sees no providers


def errors(rows: list[Row]) -> int:
    return sum(1 for u in rows if (u["status_code"] or 0) >= 400 or u["error_message"] is not None)


def cache_stats(rows: list[Row]) -> Row:
    cc = sum(u["cache_creation_input_tokens"] for u in rows)
    cr = sum(u["cache_read_input_tokens"] for u in rows)
    inp = sum(u["input_tokens"] for u in rows)
    return {
        "cache_creation_tokens": cc,
        "cache_read_tokens": cr,
        "cache_creation_cost": cost(rows, "cache_creation_cost_usd"),
        "cache_read_cost": cost(rows, "cache_read_cost_usd"),
        "cache_hit_rate": Decimal(str(round(cr / (inp + cr) * 100, 1))),
        "total_cache_tokens": cc + cr,
    }


def breakdown(rows: list[Row]) -> Row:
    names = {"input": "input_tokens", "output": "output_tokens"}
    names |= {"cache_creation": "cache_creation_input_tokens", "cache_read": "cache_read_input_tokens"}
    return {k: sum(u[c] for u in rows) for k, c in names.items()}


async def test_admin_stats_match_a_recount(client: TestClient[Any, Any], world: World) -> None:
    zone = ZoneInfo("America/St_Johns")
    today = NOW.astimezone(zone).date()
    first = today - timedelta(days=20)
    q = {"timezone": "America/St_Johns", "start_date": first.isoformat(), "end_date": today.isoformat()}
    status, body = await get(client, STATS, ADMIN_ID, "admin", **q)
    assert status == 200, body
    period = rows_in(world, local_day(first, zone)[0], local_day(today, zone)[1], None)
    todays = rows_in(world, *local_day(today, zone), None)
    assert body["today"] == {
        "requests": len(todays),
        "tokens": tokens(todays),
        "cost": cost(todays),
        "actual_cost": cost(todays, "actual_total_cost_usd"),
        "cache_creation_tokens": sum(u["cache_creation_input_tokens"] for u in todays),
        "cache_read_tokens": sum(u["cache_read_input_tokens"] for u in todays),
    }
    assert body["tokens"] == {"month": tokens(period)}
    assert body["token_breakdown"] == breakdown(period)
    assert body["cache_stats"] == cache_stats(period)
    n_err = errors(period)
    assert body["system_health"] == {
        "avg_response_time": Decimal(str(avg_seconds(period))),
        "error_rate": Decimal(str(round(n_err / len(period) * 100, 4))),
        "error_requests": n_err,
        "fallback_count": 0,
        "total_requests": len(period),
    }
    total, actual = cost(period), cost(period, "actual_total_cost_usd")
    savings = money4(sum((u["total_cost_usd"] - u["actual_total_cost_usd"] for u in period), Decimal(0)))
    assert body["cost_stats"] == {"total_cost": total, "total_actual_cost": actual, "cost_savings": savings}
    online = {u["user_id"] for u in rows_in(world, NOW - timedelta(minutes=5), NOW, None) if u["user_id"]}
    assert body["users"] == {"total": len(world.users), "active": len(world.users), "online": len(online)}
    assert body["api_keys"] == {"total": len(world.keys), "active": len(world.keys)}
    minute = rows_in(world, NOW - timedelta(seconds=60), NOW, None)
    cards = {c["name"]: c for c in body["stats"]}
    assert set(cards) == {"今日请求 / 费用", "今日 Token", "全站 RPM / TPM", "在线 / 启用用户"}
    assert cards["今日请求 / 费用"]["value"] == f"{len(todays):,} / ${money4(cost(todays)).quantize(Decimal('0.01'))}"
    assert cards["全站 RPM / TPM"]["value"].startswith(f"{len(minute):,} / ")
    assert cards["在线 / 启用用户"]["value"] == f"{len(online)} / {len(world.users)}"


async def test_a_user_sees_only_their_own_numbers(client: TestClient[Any, Any], world: World) -> None:
    status, body = await get(client, STATS, "u0", "user", start_date="2026-11-01", end_date="2026-11-27")
    assert status == 200, body
    zone = ZoneInfo(STORED)  # no zone asked: the configured one
    period = rows_in(world, local_day(date(2026, 11, 1), zone)[0], local_day(date(2026, 11, 27), zone)[1], "u0")
    todays = rows_in(world, *local_day(NOW.astimezone(zone).date(), zone), "u0")
    assert set(body) == {"stats", "today", "api_keys", "cache_stats", "token_breakdown", "monthly_cost"}
    assert body["monthly_cost"] == cost(period) and body["token_breakdown"] == breakdown(period)
    assert body["today"]["requests"] == len(todays) and "actual_cost" not in body["today"]
    own_keys = sum(1 for k in world.keys.values() if k["user_id"] == "u0")
    assert body["api_keys"] == {"total": own_keys, "active": own_keys}
    cards = {c["name"]: c["value"] for c in body["stats"]}
    assert cards["本月请求"] == f"{len(period):,}" and cards["配额使用"] == "$10"
    assert len(period) < len(rows_in(world, period[0]["created_at"], NOW, None))  # others' requests exist


async def test_the_default_ranges(client: TestClient[Any, Any], world: World) -> None:
    zone = ZoneInfo(STORED)
    today = NOW.astimezone(zone).date()
    status, daily = await get(client, DAILY, ADMIN_ID, "admin")
    assert status == 200 and [d["date"] for d in daily["daily_stats"]][-1] == today.isoformat()
    assert len(daily["daily_stats"]) == 7
    status, daily = await get(client, DAILY, ADMIN_ID, "admin", days="3", preset="")
    assert status == 200 and len(daily["daily_stats"]) == 3
    status, body = await get(client, STATS, ADMIN_ID, "admin")  # this month
    month = rows_in(world, local_day(today.replace(day=1), zone)[0], local_day(today, zone)[1], None)
    assert status == 200 and body["system_health"]["total_requests"] == len(month)
    status, body = await get(client, STATS, ADMIN_ID, "admin", preset="last7days", timezone=STORED)
    week = rows_in(world, local_day(today - timedelta(days=6), zone)[0], local_day(today, zone)[1], None)
    assert status == 200 and body["system_health"]["total_requests"] == len(week)


@pytest.mark.parametrize("path", [STATS, DAILY])
async def test_anonymous_is_401(client: TestClient[Any, Any], path: str) -> None:
    status, _ = await get(client, path, None)
    assert status == 401


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        (DAILY, {"days": "0"}, "days must be between 1 and 30"),
        (DAILY, {"days": "31"}, "days must be between 1 and 30"),
        (DAILY, {"days": "x"}, "days must be between 1 and 30"),
        (STATS, {"days": "366"}, "days must be between 1 and 365"),
        (STATS, {"start_date": "2026-11-01"}, "start_date and end_date must be provided together"),
        (DAILY, {"end_date": "2026-11-01"}, "start_date and end_date must be provided together"),
        (
            DAILY,
            {"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-11-02"},
            "start_date must be a valid date in YYYY-MM-DD format",
        ),
        (STATS, {"start_date": "2026-11-02", "end_date": "2026-11-01"}, "start_date must be <= end_date"),
        (STATS, {"start_date": "2026-02-30", "end_date": "2026-03-01"}, "start_date must be a valid date"),
        (DAILY, {"preset": "last7days", "start_date": "2026-11-01"}, "preset cannot be combined"),
        (DAILY, {"preset": "fortnight"}, "Invalid preset"),
        (DAILY, {"start_date": "2025-01-01", "end_date": "2026-11-01"}, "Query range cannot exceed 365 days"),
        (STATS, {"tz_offset_minutes": "east"}, "tz_offset_minutes must be a valid integer"),
        (STATS, {"timezone": "Mars/Base"}, "unknown time zone"),
    ],
)
async def test_bad_ranges_are_400(client: TestClient[Any, Any], path: str, query: dict[str, str], message: str) -> None:
    status, body = await get(client, path, ADMIN_ID, "admin", **query)
    assert status == 400, body
    assert message in body["error"]["message"]
