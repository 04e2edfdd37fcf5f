"""`/api/admin/stats/*` over HTTP against a plain recount of the seeded records (stats_oracle.py): every filter
combination of the time series in zones that are and are not the stored one, leaderboards with dense ranks and
the entity rules, comparison, forecast, savings, percentiles; Aether's 400s; admin only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import stats_oracle as oracle
from aiohttp.test_utils import TestClient
from http_support import ADMIN_ID, FakeReads, bearer, long_secret, mint, start, user
from test_pg_reads_seed import NOW, World, seed_database

from usagestream.http.keys import SETTINGS
from usagestream.http.views import admin_stats
from usagestream.settings import Settings

pytestmark = pytest.mark.integration
STATS = "/api/admin/stats"
ZONE = "Asia/Kathmandu"  # the stored zone (+05:45)
TODAY = NOW.astimezone(ZoneInfo(ZONE)).date()
TEN = {"start_date": (TODAY - timedelta(days=9)).isoformat(), "end_date": TODAY.isoformat()}


@pytest.fixture(name="world", scope="module")
def world_fixture(database_dsn: str) -> World:
    """The seeded world with u3 inactive, u5 an admin (the leaderboards' entity rules) and p3 a second provider
    named OpenAI-Main, as p0 is (a name filter then stands for two providers, whose sums add up)."""

    async def seed() -> World:
        w = await seed_database(database_dsn, ZoneInfo(ZONE))
        conn = await asyncpg.connect(database_dsn)
        try:
            for uid, change in (("u3", {"is_active": False}), ("u5", {"role": "admin"})):
                await conn.execute(
                    "UPDATE entities SET data = data || $2::jsonb WHERE entity = 'user' AND id = $1",
                    uid,
                    json.dumps(change),
                )
            await conn.execute(
                "INSERT INTO entities (entity, id, seq, data) VALUES ('provider', 'p3', 1, $1::jsonb)",
                json.dumps({"name": "OpenAI-Main", "billing_type": "pay"}),
            )
            w.providers["p3"] = "OpenAI-Main"
        finally:
            await conn.close()
        return w

    return asyncio.run(seed())


@pytest.fixture
async def client(
    settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TestClient[Any, Any]]:
    monkeypatch.setattr(admin_stats, "_now", lambda: NOW)
    store = FakeReads()
    store.users = {ADMIN_ID: user(ADMIN_ID, "admin"), "u0": user("u0")}
    c = await start(replace(long_secret(settings), timezone=ZONE, admin_default_days=30), store)
    yield c
    await c.close()


async def get(c: TestClient[Any, Any], path: str, role: str = "admin", **query: str) -> tuple[int, Any]:
    who = ADMIN_ID if role == "admin" else "u0"
    resp = await c.get(STATS + path, params=query, headers=bearer(mint(c.server.app[SETTINGS], who, role)))
    return resp.status, json.loads(await resp.text(), parse_float=Decimal)


# --- time series ---------------------------------------------------------------------------------------------
FILTERS = [
    {},
    {"user_id": "u0"},
    {"model": "gpt-4o"},
    {"provider_name": "OpenAI-Main"},
    {"user_id": "u1", "model": "claude-3"},
    {"provider_name": "Anthropic_X", "model": "gpt-4o"},
    {"provider_name": "OpenAI-Main", "model": "gpt-4o"},  # two providers of that name
    {"provider_name": "old-OpenAI-Main"},  # a former name: no live provider has it
]
ZONES = [
    {"timezone": ZONE},
    {"timezone": "Asia/Kolkata", "tz_offset_minutes": "330"},
    {"tz_offset_minutes": "-210"},
    {"timezone": "America/New_York"},
]


def _expected_series(w: World, q: dict[str, str], granularity: str, first: date, last: date) -> dict[str, Any]:
    tz = ZoneInfo(q["timezone"]) if "timezone" in q else oracle_offset(int(q.get("tz_offset_minutes", "0")))
    rows = [
        u
        for u in oracle.in_days(w, first, last, tz)
        if oracle.passes(u, w, q.get("user_id"), q.get("model"), q.get("provider_name"))
    ]
    return oracle.series(rows, granularity, tz, first)


def oracle_offset(minutes: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(minutes=minutes))


def _check_points(body: list[dict[str, Any]], expected: dict[str, Any], granularity: str) -> None:
    names = [p["date"] for p in body]
    assert len(names) == len(set(names)) or granularity == "hour"
    assert set(expected) <= set(names)
    for p in body:
        want = expected.get(p["date"]) or oracle.bucket_sums([])
        if granularity == "hour":
            want = {k: v for k, v in want.items() if k != "avg_response_time_ms"}
        assert p == {"date": p["date"], **want}, p["date"]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("zone", ZONES)
async def test_daily_series_equals_the_recount(
    client: TestClient[Any, Any], world: World, filters: Any, zone: Any
) -> None:
    status, body = await get(client, "/time-series", granularity="day", **TEN, **filters, **zone)
    assert status == 200, body
    assert len(body) == 10
    _check_points(body, _expected_series(world, {**filters, **zone}, "day", TODAY - timedelta(days=9), TODAY), "day")


@pytest.mark.parametrize("granularity", ["week", "month"])
@pytest.mark.parametrize("zone", ZONES[:2])
async def test_weeks_and_months_are_named_as_aether_names_them(
    client: TestClient[Any, Any], world: World, granularity: str, zone: Any
) -> None:
    first = TODAY - timedelta(days=40)
    q = {"start_date": first.isoformat(), "end_date": TODAY.isoformat(), "user_id": "u0"}
    status, body = await get(client, "/time-series", granularity=granularity, **q, **zone)
    assert status == 200, body
    assert body[0]["date"] == (first.isoformat() if granularity == "week" else first.replace(day=1).isoformat())
    _check_points(body, _expected_series(world, {**q, **zone}, granularity, first, TODAY), granularity)


@pytest.mark.parametrize("zone", ZONES)
async def test_hours_of_one_day(client: TestClient[Any, Any], world: World, zone: Any) -> None:
    day = TODAY - timedelta(days=1)
    q = {"start_date": day.isoformat(), "end_date": day.isoformat()}
    status, body = await get(client, "/time-series", granularity="hour", **q, **zone)
    assert status == 200, body
    assert len(body) in (23, 24, 25) and sum(p["total_requests"] for p in body) > 0
    _check_points(body, _expected_series(world, {**q, **zone}, "hour", day, day), "hour")


async def test_default_range_is_the_configured_days(client: TestClient[Any, Any], world: World) -> None:
    status, body = await get(client, "/time-series")
    assert status == 200, body
    assert len(body) == 30 and body[-1]["date"] == TODAY.isoformat()
    assert sum(p["total_requests"] for p in body) == len(
        oracle.in_days(world, TODAY - timedelta(days=29), TODAY, ZoneInfo(ZONE))
    )


# --- leaderboards --------------------------------------------------------------------------------------------
BOARDS = {"users": "user_id", "api-keys": "api_key_id", "models": "model"}


def _eligible(w: World, board: str, key: str, include_inactive: bool, exclude_admin: bool) -> str | None:
    """The name an entry ranks under, or None if it may not rank (the entity rules of docs/reference-api.md §10.3)."""
    if board == "models":
        return key
    if board == "api-keys":
        if key not in w.keys:
            return None
        owner = w.keys[key]["user_id"]
        if owner == "u6" or (exclude_admin and owner == "u5"):
            return None
        return w.keys[key]["name"] or key
    if key == "u6" or (exclude_admin and key in ("u5", "u7")) or (key == "u3" and not include_inactive):
        return None
    return w.users[key]["username"] if key in w.users else key


def _expected_board(w: World, board: str, metric: str, q: dict[str, Any]) -> list[tuple[str, str, Any]]:
    rows = [
        u
        for u in oracle.in_days(w, TODAY - timedelta(days=9), TODAY, ZoneInfo(ZONE))
        if oracle.passes(u, w, q.get("user_id"), q.get("model"), q.get("provider_name"))
    ]
    sums = oracle.leader_sums(rows, BOARDS[board])
    kept = []
    for key, s in sums.items():
        name = _eligible(w, board, key, q.get("include_inactive") == "true", q.get("exclude_admin") == "true")
        if name is not None:
            kept.append((key, name, s))
    kept.sort(key=lambda e: (-e[2][metric], e[0]))
    return kept


@pytest.mark.parametrize("board", list(BOARDS))
@pytest.mark.parametrize("metric", ["requests", "tokens", "cost"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"include_inactive": "true"},
        {"exclude_admin": "1"},
        {"user_id": "u0"},
        {"model": "gpt-4o"},
        {"provider_name": "Anthropic_X"},
        {"provider_name": "OpenAI-Main"},
        {"provider_name": "OpenAI-Main", "model": "gpt-4o"},
        {"provider_name": "OpenAI-Main", "user_id": "u1"},
        {"user_id": "u0", "model": "claude-3"},
        {"model": "claude-3", "exclude_admin": "yes", "include_inactive": "on"},
    ],
)
async def test_leaderboard_equals_the_recount(
    client: TestClient[Any, Any], world: World, board: str, metric: str, filters: dict[str, str]
) -> None:
    status, body = await get(client, f"/leaderboard/{board}", metric=metric, limit="100", **TEN, **filters)
    assert status == 200, body
    q = {
        **filters,
        "exclude_admin": "true" if filters.get("exclude_admin") else None,
        "include_inactive": "true" if filters.get("include_inactive") else None,
    }
    expected = _expected_board(world, board, metric, q)
    assert body["total"] == len(expected) and body["metric"] == metric
    assert (body["start_date"], body["end_date"]) == (TEN["start_date"], TEN["end_date"])
    ranks = oracle.dense([s[metric] for _, _, s in expected])
    assert body["items"] == [
        {
            "rank": r,
            "id": k,
            "name": n,
            "value": s[metric],
            "requests": s["requests"],
            "tokens": s["tokens"],
            "cost": s["cost"],
        }
        for r, (k, n, s) in zip(ranks, expected, strict=True)
    ]


async def _tied(c: TestClient[Any, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """The first single day (of the last ten) and board whose request counts tie (the seed is fixed)."""
    for back in range(10):
        day = (TODAY - timedelta(days=back)).isoformat()
        for board in BOARDS:
            q = {"start_date": day, "end_date": day, "limit": "100"}
            status, body = await get(c, f"/leaderboard/{board}", **q)
            values = [i["value"] for i in body["items"]]
            if len(set(values)) < len(values):
                return {**q, "board": board}, body
    raise AssertionError("no tie in the seed: the test needs one")


async def test_leaderboard_ties_share_a_dense_rank_and_pages_keep_it(client: TestClient[Any, Any]) -> None:
    q, full = await _tied(client)
    path = f"/leaderboard/{q.pop('board')}"
    values = [i["value"] for i in full["items"]]
    assert [i["rank"] for i in full["items"]] == oracle.dense(values)
    for a, b in zip(full["items"], full["items"][1:], strict=False):
        assert a["value"] > b["value"] or (a["value"] == b["value"] and a["id"] < b["id"] and a["rank"] == b["rank"])
    status, page = await get(client, path, **{**q, "limit": "2", "offset": "1"})
    assert status == 200 and page["items"] == full["items"][1:3] and page["total"] == full["total"]
    status, asc = await get(client, path, **{**q, "order": "asc"})
    assert [i["value"] for i in asc["items"]] == sorted(values)


async def test_user_groups_are_honestly_empty(client: TestClient[Any, Any]) -> None:
    status, body = await get(client, "/leaderboard/user-groups", **TEN)
    assert status == 200 and body["items"] == [] and body["total"] == 0
    status, body = await get(client, "/leaderboard/user-groups", user_group_id="g1", **TEN)
    assert status == 404


# --- comparison, forecast, savings, percentiles --------------------------------------------------------------
def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rts = [u["response_time_ms"] for u in rows if u["response_time_ms"] is not None]
    return {
        "total_requests": len(rows),
        "total_tokens": sum(u["total_tokens"] for u in rows),
        "total_cost": sum((u["total_cost_usd"] for u in rows), oracle.D0),
        "actual_total_cost": sum((u["actual_total_cost_usd"] for u in rows), oracle.D0),
        "avg_response_time_ms": oracle.as_json_float(round(sum(rts) / len(rts), 2) if rts else 0.0),
        "error_requests": sum(
            (u["status_code"] is not None and u["status_code"] >= 400) or u["error_message"] is not None for u in rows
        ),
    }


@pytest.mark.parametrize("kind", ["period", "year"])
async def test_comparison(client: TestClient[Any, Any], world: World, kind: str) -> None:
    first, last = TODAY - timedelta(days=6), TODAY - timedelta(days=2)
    q = {"current_start": first.isoformat(), "current_end": last.isoformat(), "comparison_type": kind}
    status, body = await get(client, "/comparison", timezone="Asia/Kolkata", **q)
    assert status == 200, body
    tz = ZoneInfo("Asia/Kolkata")
    prev = (first - timedelta(days=5), first - timedelta(days=1))
    if kind == "year":
        prev = (first.replace(year=first.year - 1), last.replace(year=last.year - 1))
    assert (body["comparison_start"], body["comparison_end"]) == (prev[0].isoformat(), prev[1].isoformat())
    current = _totals(oracle.in_days(world, first, last, tz))
    previous = _totals(oracle.in_days(world, prev[0], prev[1], tz))
    assert body["current"] == current and body["comparison"] == previous
    for k, v in current.items():
        b = previous[k]
        want = (0.0 if v == 0 else None) if b == 0 else round(float((Decimal(v) - Decimal(b)) / Decimal(b) * 100), 2)
        got = body["change_percent"][k]
        assert (got if got is None else float(got)) == (None if want is None else pytest.approx(want, abs=0.005)), k


async def test_forecast(client: TestClient[Any, Any], world: World) -> None:
    status, body = await get(client, "/cost/forecast", days="14", forecast_days="3", tz_offset_minutes="345")
    assert status == 200, body
    tz = ZoneInfo(ZONE)  # +05:45 all year
    days = [TODAY - timedelta(days=13 - i) for i in range(14)]
    costs = [sum((u["total_cost_usd"] for u in oracle.in_days(world, d, d, tz)), oracle.D0) for d in days]
    assert body["history"] == [{"date": d.isoformat(), "total_cost": c} for d, c in zip(days, costs, strict=True)]
    slope, intercept = oracle.least_squares(costs)
    assert float(body["slope"]) == pytest.approx(slope, abs=1e-6)
    assert float(body["intercept"]) == pytest.approx(intercept, abs=1e-6)
    assert [f["date"] for f in body["forecast"]] == [(TODAY + timedelta(days=i)).isoformat() for i in (1, 2, 3)]
    for i, f in enumerate(body["forecast"]):
        assert float(f["total_cost"]) == pytest.approx(max(slope * (14 + i) + intercept, 0.0), abs=1e-4)


@pytest.mark.parametrize(
    "filters",
    [{}, {"model": "gpt-4o"}, {"provider_name": "OpenAI-Main"}, {"provider_name": "OpenAI-Main", "model": "claude-3"}],
)
async def test_savings(client: TestClient[Any, Any], world: World, filters: dict[str, str]) -> None:
    status, body = await get(client, "/cost/savings", **TEN, **filters)
    assert status == 200, body
    rows = [
        u
        for u in oracle.in_days(world, TODAY - timedelta(days=9), TODAY, ZoneInfo(ZONE))
        if oracle.passes(u, world, None, filters.get("model"), filters.get("provider_name"))
    ]
    read = sum((u["cache_read_cost_usd"] for u in rows), oracle.D0)
    assert body == {
        "cache_read_tokens": sum(u["cache_read_input_tokens"] for u in rows),
        "cache_read_cost": read,
        "cache_creation_cost": sum((u["cache_creation_cost_usd"] for u in rows), oracle.D0),
        "estimated_full_cost": read * 10,
        "cache_savings": read * 9,
    }


async def test_percentiles(client: TestClient[Any, Any], world: World) -> None:
    status, body = await get(client, "/performance/percentiles", preset="last7days", timezone="Asia/Kolkata")
    assert status == 200, body
    tz = ZoneInfo("Asia/Kolkata")
    today = NOW.astimezone(tz).date()
    assert [p["date"] for p in body] == [(today - timedelta(days=6 - i)).isoformat() for i in range(7)]
    filled = 0
    for p in body:
        d = date.fromisoformat(p["date"])
        done = [u for u in oracle.in_days(world, d, d, tz) if u["status"] == "completed"]
        for field, name in (("response_time_ms", "response_time_ms"), ("first_byte_time_ms", "first_byte_time_ms")):
            values = [u[field] for u in done if u[field] is not None]
            for q, label in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
                want = oracle.percentile(values, q) if len(values) >= 10 else None
                assert p[f"{label}_{name}"] == want, (p["date"], label, name)
                filled += want is not None
    assert filled > 0


def _perf_fields(b: dict[str, Any]) -> dict[str, Any]:
    rate = round(b["ok"] / b["n"] * 100, 2) if b["n"] else 0.0
    return {
        "avg_output_tps": b["avg_output_tps"],
        "avg_first_byte_time_ms": b["avg_first_byte_time_ms"],
        "avg_response_time_ms": b["avg_response_time_ms"],
        "slow_request_count": b["slow"],
        "success_rate": rate,
    }


def _perf_detail(b: dict[str, Any]) -> dict[str, Any]:
    return {
        **_perf_fields(b),
        "p90_response_time_ms": b["p_rt"][0],
        "p99_response_time_ms": b["p_rt"][1],
        "p90_first_byte_time_ms": b["p_fb"][0],
        "p99_first_byte_time_ms": b["p_fb"][1],
        "tps_sample_count": b["tps_n"],
        "response_time_sample_count": b["rt_n"],
        "first_byte_sample_count": b["fb_n"],
    }


def _floats(value: Any) -> Any:
    """The answer with its numbers as floats (read back as Decimals)."""
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return float(value) if isinstance(value, Decimal) else value


@pytest.mark.parametrize(
    ("granularity", "query"),
    [
        ("day", {"limit": "2"}),
        ("hour", {"slow_threshold_ms": "30000", "model": "gpt-4o"}),
        ("day", {"is_stream": "true", "provider_id": "p1"}),
    ],
)
async def test_provider_performance(
    client: TestClient[Any, Any], world: World, granularity: str, query: dict[str, str]
) -> None:
    zone = "Asia/Kolkata"
    status, body = await get(client, "/performance/providers", granularity=granularity, timezone=zone, **TEN, **query)
    assert status == 200, body
    tz, slow, limit = ZoneInfo(zone), int(query.get("slow_threshold_ms", "10000")), int(query.get("limit", "8"))
    rows = [
        u
        for u in oracle.in_days(world, TODAY - timedelta(days=9), TODAY, tz)
        if u["status"] not in ("pending", "streaming")
        and oracle.provider_of(u) is not None
        and u["model"] == query.get("model", u["model"])
        and u["provider_id"] == query.get("provider_id", u["provider_id"])
        and ("is_stream" not in query or u["is_stream"])
    ]
    summary = oracle.perf_bucket(rows, slow)
    assert _floats(body["summary"]) == {"request_count": summary["n"], **_perf_detail(summary)}
    by: dict[str, list[dict[str, Any]]] = {}
    for u in rows:
        by.setdefault(u["provider_id"], []).append(u)
    top = sorted(by, key=lambda k: (-len(by[k]), k))[:limit]
    expected = []
    for pid in top:
        b = oracle.perf_bucket(by[pid], slow)
        expected.append(
            {
                "provider_id": pid,
                "provider": max(oracle.provider_of(u)[1] for u in by[pid]),  # type: ignore[index]
                "request_count": b["n"],
                "success_count": b["ok"],
                "error_count": b["n"] - b["ok"],
                "output_tokens": b["out"],
                **_perf_detail(b),
            }
        )
    assert _floats(body["providers"]) == expected
    timeline: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for u in rows:
        if u["provider_id"] in top:
            name = oracle.local_label(u, granularity, tz, TODAY - timedelta(days=9))
            timeline.setdefault((name, u["provider_id"]), []).append(u)
    want = []
    for (name, pid), us in sorted(timeline.items()):
        b = oracle.perf_bucket(us, slow)
        fields = _perf_fields(b)
        want.append(
            {
                "date": name,
                "provider_id": pid,
                "provider": max(oracle.provider_of(u)[1] for u in us),  # type: ignore[index]
                "request_count": b["n"],
                "output_tokens": b["out"],
                **fields,
            }
        )
    assert _floats(body["timeline"]) == want
    assert body["usage_counter"] is None


async def test_provider_performance_refuses_endpoint_kind(client: TestClient[Any, Any]) -> None:
    status, body = await get(client, "/performance/providers", endpoint_kind="chat")
    assert status == 400
    assert (
        body["error"]["message"]
        == "endpoint_kind is not available: the contract's usage records carry no endpoint kind"
    )


async def test_what_the_contract_cannot_fill(client: TestClient[Any, Any]) -> None:
    assert await get(client, "/errors/distribution", **TEN) == (200, {"distribution": [], "trend": []})
    assert await get(client, "/providers/quota-usage") == (200, {"providers": [], "data_source_available": False})


# --- parameters and access ----------------------------------------------------------------------------------
LONG_SERIES = (
    "Time series query range cannot exceed 90 days (requested 120 days). For longer ranges, use aggregated"
    " statistics instead."
)
BAD = [
    ("/time-series", {"granularity": "minute"}, "granularity must be one of: hour, day, week, month"),
    ("/time-series", {"granularity": "hour", **TEN}, "Hour granularity only supports single day query"),
    (
        "/time-series",
        {"start_date": "2026-01-01", "end_date": "2026-04-30"},
        LONG_SERIES,
    ),
    ("/time-series", {"start_date": "2026-01-01"}, "Either preset or both start_date and end_date must be provided"),
    (
        "/time-series",
        {"preset": "today", "end_date": "2026-01-01"},
        "preset cannot be combined with start_date or end_date",
    ),
    ("/time-series", {"preset": "fortnight"}, "Invalid preset"),
    (
        "/time-series",
        {"start_date": "2026-02-30", "end_date": "2026-03-01"},
        "start_date must be a valid date in YYYY-MM-DD format",
    ),
    ("/time-series", {"start_date": "2026-03-02", "end_date": "2026-03-01"}, "start_date must be <= end_date"),
    ("/time-series", {"tz_offset_minutes": "east"}, "tz_offset_minutes must be a valid integer"),
    ("/time-series", {"tz_offset_minutes": "7"}, None),  # UTC+00:07: buckets off the 15-minute grid
    (
        "/leaderboard/users",
        {"start_date": "2025-01-01", "end_date": "2026-01-02"},
        "Query range cannot exceed 365 days",
    ),
    ("/leaderboard/users", {"metric": "latency"}, "metric must be one of: requests, tokens, cost"),
    ("/leaderboard/api-keys", {"order": "up"}, "order must be one of: asc, desc"),
    ("/leaderboard/models", {"limit": "0"}, "limit must be between 1 and 100"),
    ("/leaderboard/models", {"limit": "ten"}, "limit must be a valid integer"),
    ("/leaderboard/models", {"offset": "-1"}, "offset must be a valid integer"),
    ("/comparison", {"current_end": "2026-01-01"}, "current_start is required"),
    (
        "/comparison",
        {"current_start": "2026-01-02", "current_end": "2026-01-01"},
        "current_start must be <= current_end",
    ),
    (
        "/comparison",
        {"current_start": "2026-01-01", "current_end": "2026-01-02", "comparison_type": "decade"},
        "comparison_type must be 'period' or 'year'",
    ),
    ("/comparison", {"current_start": "0150-05-06", "current_end": "9314-05-13"}, "comparison range underflow"),
    ("/cost/forecast", {"forecast_days": "91"}, "forecast_days must be between 1 and 90"),
    ("/cost/forecast", {"days": "6"}, "days must be between 7 and 365"),
    (
        "/cost/forecast",
        {"days": "120"},
        LONG_SERIES,
    ),
    ("/performance/percentiles", {"timezone": "Mars/Olympus"}, None),
    ("/performance/providers", {"granularity": "week"}, "granularity must be one of: day, hour"),
    ("/performance/providers", {"limit": "21"}, "limit must be between 1 and 20"),
    ("/performance/providers", {"slow_threshold_ms": "0"}, "slow_threshold_ms must be between 1 and 600000"),
]


@pytest.mark.parametrize(("path", "query", "message"), BAD)
async def test_bad_parameters_are_aethers_400(
    client: TestClient[Any, Any], path: str, query: dict[str, str], message: str | None
) -> None:
    status, body = await get(client, path, **query)
    assert status == 400, body
    if message is not None:
        assert body["error"]["message"] == message


PATHS = [
    "/time-series",
    "/leaderboard/users",
    "/leaderboard/api-keys",
    "/leaderboard/models",
    "/leaderboard/user-groups",
    "/cost/forecast",
    "/cost/savings",
    "/comparison?current_start=2026-01-01&current_end=2026-01-02",
    "/errors/distribution",
    "/performance/percentiles",
    "/providers/quota-usage",
    "/performance/providers",
]


@pytest.mark.parametrize("path", PATHS)
async def test_admin_only(client: TestClient[Any, Any], path: str) -> None:
    assert (await client.get(STATS + path)).status == 401
    status, _ = await get(client, path, role="user")
    assert status == 403
    status, body = await get(client, path)
    assert status == 200, body
