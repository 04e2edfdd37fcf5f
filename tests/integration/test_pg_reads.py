"""ReadStore range answers (stats, aggregations, heatmap, hit analysis, user summary) against a plain recount.

The expected values are computed here, in plain Python over the seeded rows, with the reference's formulas
(docs/reference-api.md §3); the project's aggregation code is never used for an expected value.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_pg_reads_seed import NOW, CountingPool, Ctx, World, ctx_fixture, seed_database  # noqa: F401 (fixtures)

from usagestream.http.params import EARLIEST, LATEST
from usagestream.http.shape.reads import ShapedReads
from usagestream.materializer.pg_counters import USAGE_COUNTER_SQL
from usagestream.settings import Settings
from usagestream.stats import USAGE_COUNTERS, UsageFacts, usage_contribution

pytestmark = pytest.mark.integration

Row = dict[str, Any]
D0 = Decimal(0)
S = timedelta(seconds=1)
RANGES: list[tuple[datetime | None, datetime | None]] = [
    (None, None),
    (NOW - timedelta(days=3, seconds=17), NOW),  # end exactly on a record
    (NOW - timedelta(days=29, minutes=-7, seconds=-30), NOW - timedelta(days=1, microseconds=1)),
    (
        NOW.replace(minute=0, second=0, microsecond=0) - timedelta(days=5),
        NOW.replace(minute=0, second=0, microsecond=0),
    ),
    (NOW - timedelta(seconds=40), NOW + timedelta(seconds=3)),
    (NOW, NOW),
    (None, NOW - timedelta(days=2, seconds=3)),
    (NOW - timedelta(days=11, seconds=1234), None),
    (NOW + timedelta(days=1), NOW + timedelta(days=2)),
    (EARLIEST, LATEST),  # 0001-01-01 .. 9999-12-31 as the API clamps them
]


@pytest.fixture(name="seeded", scope="module", params=["Asia/Kathmandu", "America/St_Johns", "America/Havana far"])
def seeded_fixture(request: pytest.FixtureRequest, database_dsn: str) -> tuple[World, str]:
    """The session database seeded once per module and zone; `far`: with records dated 0002 and 9998 too."""
    zone, _, far = request.param.partition(" ")
    return asyncio.run(seed_database(database_dsn, ZoneInfo(zone), far=bool(far))), zone


# --- the plain recount --------------------------------------------------------------------------------------
def within(ts: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or ts >= start) and (end is None or ts <= end)


def rows_in(w: World, start: datetime | None, end: datetime | None) -> list[Row]:
    return [u for u in w.usage if within(u["created_at"], start, end)]


def is_error(u: Row) -> bool:
    return (u["status_code"] is not None and u["status_code"] >= 400) or u["error_message"] is not None


def finished(u: Row) -> bool:
    return u["status"] not in ("pending", "streaming")


def reached(u: Row) -> bool:
    return u["provider_name"] not in ("unknown", "pending")


def avg(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def money(rows: list[Row], field: str) -> Decimal:
    return sum((r[field] for r in rows), D0)


def expected_stats(rows: list[Row]) -> Row:
    errors = sum(is_error(u) for u in rows)
    return {
        "total_requests": len(rows),
        "total_tokens": sum(u["total_tokens"] for u in rows),
        "total_cost": money(rows, "total_cost_usd"),
        "total_actual_cost": money(rows, "actual_total_cost_usd"),
        "avg_response_time": round(
            avg([u["response_time_ms"] for u in rows if u["response_time_ms"] is not None]) / 1000, 2
        ),
        "error_count": errors,
        "error_rate": round(errors / len(rows) * 100, 2) if rows else 0,
        "cache_stats": {
            "cache_creation_tokens": sum(u["cache_creation_input_tokens"] for u in rows),
            "cache_read_tokens": sum(u["cache_read_input_tokens"] for u in rows),
            "cache_creation_cost": money(rows, "cache_creation_cost_usd"),
            "cache_read_cost": money(rows, "cache_read_cost_usd"),
        },
    }


def round2(x: float) -> float:
    """Aether's round_to(x, 2) for x >= 0: half away from zero."""
    return math.floor(x * 100 + 0.5) / 100


def token_fields(g: list[Row]) -> Row:
    """Today's Aether's token breakdown of a group (docs/reference-api.md §9.3), recounted record by record:
    OpenAI and Gemini formats (the endpoint's first) count cache reads inside the input."""
    eff = ctx = 0
    for u in g:
        fmt = u["endpoint_api_format"] or u["api_format"] or ""
        inside = fmt.split(":")[0].strip().lower() in ("openai", "gemini", "google")
        inp, cc, cr = u["input_tokens"], u["cache_creation_input_tokens"], u["cache_read_input_tokens"]
        eff += max(inp - cr, 0) if inside else inp
        ctx += max(inp, cr) if inside else inp + cc + cr
    cr_sum = sum(u["cache_read_input_tokens"] for u in g)
    return {
        "output_tokens": sum(u["output_tokens"] for u in g),
        "cache_creation_tokens": sum(u["cache_creation_input_tokens"] for u in g),
        "cache_read_tokens": cr_sum,
        "effective_input_tokens": eff,
        "total_input_context": ctx,
        "cache_hit_rate": round2(cr_sum / ctx * 100) if ctx else 0.0,
    }


def grouped(rows: list[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    out: dict[Any, list[Row]] = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return out


def top(groups: dict[Any, list[Row]], limit: int) -> list[tuple[Any, list[Row]]]:
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]


def expected_model(rows: list[Row], limit: int) -> list[Row]:
    kept = [u for u in rows if finished(u) and reached(u)]
    return [
        {
            "model": m,
            "request_count": len(g),
            "total_tokens": sum(u["total_tokens"] for u in g),
            "total_cost": money(g, "total_cost_usd"),
            "actual_cost": money(g, "actual_total_cost_usd"),
            **token_fields(g),
        }
        for m, g in top(grouped(kept, lambda u: u["model"]), limit)
    ]


def expected_api_format(rows: list[Row], limit: int) -> list[Row]:
    kept = [u for u in rows if finished(u) and reached(u) and u["api_format"] is not None]
    return [
        {
            "api_format": f or "unknown",
            "request_count": len(g),
            "total_tokens": sum(u["total_tokens"] for u in g),
            "total_cost": money(g, "total_cost_usd"),
            "actual_cost": money(g, "actual_total_cost_usd"),
            "avg_response_time_ms": avg([u["response_time_ms"] for u in g if u["response_time_ms"] is not None]),
            **token_fields(g),
        }
        for f, g in top(grouped(kept, lambda u: u["api_format"]), limit)
    ]


def expected_user(w: World, rows: list[Row], limit: int) -> list[Row]:
    kept = [u for u in rows if u["user_id"] in w.users]
    return [
        {
            "user_id": uid,
            "email": w.users[uid]["email"],
            "username": w.users[uid]["username"],
            "request_count": len(g),
            "total_tokens": sum(u["total_tokens"] for u in g),
            "total_cost": money(g, "total_cost_usd"),
        }
        for uid, g in top(grouped(kept, lambda u: u["user_id"]), limit)
    ]


def expected_provider(w: World, start: datetime | None, end: datetime | None, limit: int) -> list[Row]:
    attempts = [
        c
        for c in w.candidates
        if c["provider_id"] is not None and c["status"] in ("success", "failed") and within(c["created_at"], start, end)
    ]
    usage = grouped(
        [u for u in rows_in(w, start, end) if u["provider_id"] is not None and finished(u)],
        lambda u: u["provider_id"],
    )
    out = []
    for pid, g in top(grouped(attempts, lambda c: c["provider_id"]), limit):
        ok = sum(c["status"] == "success" for c in g)
        u = usage.get(pid, [])
        out.append(
            {
                "provider_id": pid,
                "provider": w.providers.get(pid, "Unknown"),
                "request_count": len(g),
                "total_tokens": sum(x["total_tokens"] for x in u),
                "total_cost": money(u, "total_cost_usd"),
                "actual_cost": money(u, "actual_total_cost_usd"),
                "avg_response_time_ms": avg([c["latency_ms"] for c in g if c["latency_ms"] is not None]),
                "success_rate": round(ok / len(g) * 100, 2),
                "error_count": sum(c["status"] == "failed" for c in g),
                **token_fields(u),
            }
        )
    return out


# --- tests --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bounds", RANGES)
async def test_stats(ctx: Ctx, bounds: tuple[datetime | None, datetime | None]) -> None:
    start, end = bounds
    assert await ctx.store.stats(start, end) == expected_stats(rows_in(ctx.world, start, end))


@pytest.mark.parametrize("bounds", RANGES)
@pytest.mark.parametrize("limit", [3, 100])
async def test_aggregations(ctx: Ctx, bounds: tuple[datetime | None, datetime | None], limit: int) -> None:
    start, end = bounds
    rows = rows_in(ctx.world, start, end)
    assert await ctx.store.aggregation("model", start, end, limit) == expected_model(rows, limit)
    assert await ctx.store.aggregation("api_format", start, end, limit) == expected_api_format(rows, limit)
    assert await ctx.store.aggregation("user", start, end, limit) == expected_user(ctx.world, rows, limit)
    assert await ctx.store.aggregation("provider", start, end, limit) == expected_provider(ctx.world, start, end, limit)


async def test_the_provider_aggregation_reads_in_three_statements(ctx: Ctx) -> None:
    """The two tables' extents (usage and candidate records), then the top providers with their usage sums and
    names in one statement; once the store knows the extents, that one statement alone."""
    counting = CountingPool(ctx.store.pool)
    store = ShapedReads(counting, ctx.store.settings)  # type: ignore[arg-type]
    got = await store.aggregation("provider", None, None, 100)
    assert got and got == expected_provider(ctx.world, None, None, 100)
    assert counting.sent == 3
    assert await store.aggregation("provider", None, None, 100) == got
    assert counting.sent == 3 + 1


async def test_aggregation_rejects_unknown_group() -> None:
    store = ShapedReads(None, Settings())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.aggregation("nope", None, None, 5)


def expected_heatmap(w: World, tz: ZoneInfo, user_id: str | None, actual: bool) -> Row:
    today = NOW.astimezone(tz).date()
    rows = [u for u in w.usage if user_id is None or u["user_id"] == user_id]
    by_day = grouped(rows, lambda u: u["created_at"].astimezone(tz).date())
    days = []
    for i in range(365):
        day = today - timedelta(days=364 - i)
        g = by_day.get(day, [])
        item = {
            "date": day.isoformat(),
            "requests": len(g),
            "total_tokens": sum(
                u["input_tokens"] + u["output_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
                for u in g
            ),
            "total_cost": money(g, "total_cost_usd"),
        }
        if actual:
            item["actual_total_cost"] = money(g, "actual_total_cost_usd")
        days.append(item)
    active = sum(1 for d in days if d["requests"])
    return {"total_days": 365, "active_days": active, "max_requests": max(d["requests"] for d in days), "days": days}


@pytest.mark.parametrize(("user_id", "actual"), [(None, True), ("u0", False), ("u6", True), ("zz", False)])
async def test_heatmap_local_days(ctx: Ctx, user_id: str | None, actual: bool) -> None:
    got = await ctx.store.heatmap(user_id, actual, NOW)
    start = datetime.fromisoformat(got.pop("start_date"))
    end = datetime.fromisoformat(got.pop("end_date"))
    assert got == expected_heatmap(ctx.world, ctx.tz, user_id, actual)
    assert start.astimezone(ctx.tz).time().isoformat() == "00:00:00" and start.utcoffset() == timedelta(0)
    assert (end + timedelta(microseconds=1)).astimezone(ctx.tz).date() == NOW.astimezone(ctx.tz).date() + timedelta(1)


def expected_hit(w: World, user_id: str | None, key_id: str | None, hours: int) -> Row:
    since = NOW - timedelta(hours=hours)
    rows = [
        u
        for u in w.usage
        if u["status"] == "completed"
        and u["created_at"] >= since
        and (user_id is None or u["user_id"] == user_id)
        and (key_id is None or u["api_key_id"] == key_id)
    ]
    total, hits = len(rows), sum(u["cache_read_input_tokens"] > 0 for u in rows)
    tin, cr = sum(u["input_tokens"] for u in rows), sum(u["cache_read_input_tokens"] for u in rows)
    cr_cost = money(rows, "cache_read_cost_usd")
    return {
        "analysis_period_hours": hours,
        "total_requests": total,
        "requests_with_cache_hit": hits,
        "request_cache_hit_rate": round(hits / total * 100, 2) if total else 0,
        "total_input_tokens": tin,
        "total_cache_read_tokens": cr,
        "total_cache_creation_tokens": sum(u["cache_creation_input_tokens"] for u in rows),
        "token_cache_hit_rate": round(cr / (tin + cr) * 100, 2) if tin + cr else 0.0,
        "total_cache_read_cost_usd": round(cr_cost, 4),
        "total_cache_creation_cost_usd": round(money(rows, "cache_creation_cost_usd"), 4),
        "estimated_savings_usd": round(cr_cost * 9, 4),
    }


@pytest.mark.parametrize("hours", [1, 5, 48, 720])
@pytest.mark.parametrize(("user_id", "key_id"), [(None, None), ("u0", None), (None, "k1"), ("u0", "k0"), ("u1", "k0")])
async def test_hit_analysis(ctx: Ctx, hours: int, user_id: str | None, key_id: str | None) -> None:
    assert await ctx.store.hit_analysis(user_id, key_id, hours, NOW) == expected_hit(ctx.world, user_id, key_id, hours)


def expected_summary(w: World, user_id: str, start: datetime | None, end: datetime | None) -> Row:
    mine = [u for u in rows_in(w, start, end) if u["user_id"] == user_id]
    kept = [u for u in mine if reached(u)]
    models = [
        {
            "model": m,
            "requests": len(g),
            "input_tokens": sum(u["input_tokens"] for u in g),
            "output_tokens": sum(u["output_tokens"] for u in g),
            "total_tokens": sum(u["total_tokens"] for u in g),
            "total_cost_usd": money(g, "total_cost_usd"),
            **{k: v for k, v in token_fields(g).items() if k != "output_tokens"},
        }
        for m, g in top(grouped(kept, lambda u: u["model"]), 1000)
    ]
    # today's Aether's summary_by_api_format: finished requests that reached a provider, with a format
    fr = [u for u in mine if finished(u) and reached(u) and u["api_format"] is not None]
    formats = [
        {
            "api_format": f,
            "request_count": len(g),
            "total_tokens": sum(u["total_tokens"] for u in g),
            "total_cost_usd": money(g, "total_cost_usd"),
            "avg_response_time_ms": round2(
                avg([u["response_time_ms"] for u in g if u["response_time_ms"] is not None])
            ),
            **token_fields(g),
        }
        for f, g in top(grouped(fr, lambda u: u["api_format"]), 1000)
    ]
    rt = [u["response_time_ms"] for u in mine if u["status_code"] == 200 and u["response_time_ms"] is not None]
    return {
        "total_requests": len(kept),
        "total_input_tokens": sum(u["input_tokens"] for u in kept),
        "total_output_tokens": sum(u["output_tokens"] for u in kept),
        "total_tokens": sum(u["total_tokens"] for u in kept),
        "total_cost": money(kept, "total_cost_usd"),
        "avg_response_time": avg(rt) / 1000,
        "quota_usd": Decimal("10.5"),
        "used_usd": Decimal("1.25"),
        "summary_by_model": models,
        "summary_by_api_format": formats,
    }


@pytest.mark.parametrize("bounds", [*RANGES[:5], RANGES[-1]])
@pytest.mark.parametrize("user_id", ["u0", "u3"])
async def test_user_summary(ctx: Ctx, bounds: tuple[datetime | None, datetime | None], user_id: str) -> None:
    start, end = bounds
    got = await ctx.store.user_usage(user_id, start, end, None, 5, 0)
    got.pop("pagination")
    got.pop("records")
    assert got == expected_summary(ctx.world, user_id, start, end)


async def test_counter_sql_matches_contribution(ctx: Ctx) -> None:
    """The edge recount's SQL equals stats.usage_contribution summed over the same rows."""
    exprs = ", ".join(f"{USAGE_COUNTER_SQL[c]} AS {c}" for c in USAGE_COUNTERS)
    for model in [None, "gpt-4o", "claude-3"]:
        rows = [u for u in ctx.world.usage if model is None or u["model"] == model]
        got = await ctx.conn.fetchrow(f"SELECT {exprs} FROM usage_records WHERE $1::text IS NULL OR model = $1", model)
        names = [f for f in UsageFacts.__dataclass_fields__ if f != "has_error_message"]
        totals = [0] * len(USAGE_COUNTERS)
        for u in rows:
            vec = usage_contribution(
                UsageFacts(**{k: u[k] for k in names}, has_error_message=u["error_message"] is not None)
            )
            totals = [a + b for a, b in zip(totals, vec, strict=True)]
        assert list(got.values()) == totals
