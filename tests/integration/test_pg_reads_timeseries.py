"""Time series (materializer/read/timeseries.py) against a plain recount of the seeded records.

Property-style: many random ranges, granularities, zones, groupings and scopes (a fixed seed, so a failure
replays), each bucket of each series compared with a recount over the seeded rows in plain Python; the bucket
of every record is checked against its local wall-clock time. No project aggregation code gives an expectation.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_pg_reads_seed import NOW, Ctx, World, ctx_fixture, seeded_fixture  # noqa: F401 (fixtures)

from usagestream.http.shape.timeseries import series_body
from usagestream.materializer.read.timeseries import SeriesQuery, read
from usagestream.timeseries import PlanError

pytestmark = pytest.mark.integration

Row = dict[str, Any]
TICK = timedelta(microseconds=1)
ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe", "Europe/Berlin"]
GROUP_KEY = {
    "model": "model",
    "provider": "provider_id",
    "api_format": "api_format",
    "user": "user_id",
    "api_key": "api_key_id",
}
SPAN = {
    "15m": timedelta(days=3),
    "hour": timedelta(days=12),
    "day": timedelta(days=40),
    "week": timedelta(days=60),
    "month": timedelta(days=80),
}


# --- the plain recount --------------------------------------------------------------------------------------
def point(rows: list[Row]) -> Row:
    rts = [u["response_time_ms"] for u in rows if u["response_time_ms"] is not None]
    return {
        "requests": len(rows),
        "input_tokens": sum(u["input_tokens"] for u in rows),
        "output_tokens": sum(u["output_tokens"] for u in rows),
        "cache_creation_tokens": sum(u["cache_creation_input_tokens"] for u in rows),
        "cache_read_tokens": sum(u["cache_read_input_tokens"] for u in rows),
        "total_tokens": sum(u["total_tokens"] for u in rows),
        "cost": sum((u["total_cost_usd"] for u in rows), Decimal(0)),
        "actual_cost": sum((u["actual_total_cost_usd"] for u in rows), Decimal(0)),
        "errors": sum(
            (u["status_code"] is not None and u["status_code"] >= 400) or u["error_message"] is not None for u in rows
        ),
        "avg_response_time": round(sum(rts) / len(rts) / 1000, 2) if rts else None,
    }


def expected_series(
    w: World, rows: list[Row], starts: list[datetime], group_by: str | None, limit: int, user: str | None
) -> list[tuple[Any, str, list[Row]]]:
    """(key, label, points without bucket and partial) per series, in the answer's order."""

    def points(subset: list[Row]) -> list[Row]:
        ends = starts[1:] + [datetime.max.replace(tzinfo=UTC)]
        return [point([u for u in subset if lo <= u["created_at"] < hi]) for lo, hi in zip(starts, ends, strict=True)]

    if group_by is None:
        return [(None, "all", points(rows))]
    col = GROUP_KEY[group_by]
    keys: dict[str, list[Row]] = {}
    for u in rows:
        if u[col] is not None and (group_by != "user" or u[col] in w.users):
            keys.setdefault(u[col], []).append(u)
    top = sorted(keys, key=lambda k: (-len(keys[k]), k))[:limit]
    out = [(k, label(w, group_by, k), points(keys[k])) for k in top]
    rest = [u for u in rows if u[col] not in top]
    if rest:
        out.append(("__other__", "other", points(rest)))
    return out


def label(w: World, group_by: str, key: str) -> str:
    if group_by == "api_format":
        return key or "unknown"
    if group_by == "user":
        return w.users[key]["username"]
    if group_by == "provider":
        return w.providers.get(key, "Unknown")
    if group_by == "api_key":
        return (w.keys.get(key) or {}).get("name") or "Unknown"
    return key


def wall_label(t: datetime, tz: ZoneInfo, granularity: str) -> tuple[int, ...]:
    """The bucket a record belongs to, read off the local wall clock."""
    local = t.astimezone(tz)
    if granularity in ("15m", "hour"):
        step = 15 if granularity == "15m" else 60
        return (local.year, local.month, local.day, local.hour, local.minute // step * step)
    if granularity == "week":
        monday = local.date() - timedelta(days=local.weekday())
        return (monday.year, monday.month, monday.day)
    if granularity == "month":
        return (local.year, local.month)
    return (local.year, local.month, local.day)


# --- the check ----------------------------------------------------------------------------------------------
async def check(ctx: Ctx, q: SeriesQuery) -> dict[str, Any]:
    body = await series_body(await read(ctx.store.pool, q, ctx.tz.key), q)
    start, end = datetime.fromisoformat(body["start_date"]), datetime.fromisoformat(body["end_date"])
    assert body["timezone"] == q.tz.key and body["granularity"] == q.granularity
    if q.start is not None:
        assert start == q.start
    if q.end is not None:
        assert end == q.end
    starts = [datetime.fromisoformat(p["bucket"]) for p in body["series"][0]["points"]] if body["series"] else []
    rows = [u for u in ctx.world.usage if start <= u["created_at"] <= end and q.user_id in (None, u["user_id"])]
    want = expected_series(ctx.world, rows, starts, q.group_by, q.limit, q.user_id)
    got = [(s["key"], s["label"], [_strip(p) for p in s["points"]]) for s in body["series"]]
    if q.group_by is not None and not rows:
        assert got == []
        return body
    assert got == want
    assert starts == sorted(set(starts)) and starts[0] <= start and starts[-1] <= end
    assert all(
        s["points"][i]["bucket"] == body["series"][0]["points"][i]["bucket"]
        for s in body["series"]
        for i in range(len(starts))
    )
    for p, lo, hi in zip(body["series"][0]["points"], starts, starts[1:], strict=False):  # the last: below
        assert p["partial"] == (lo < start or hi > end + TICK or hi > q.now)
    assert body["series"][0]["points"][-1]["partial"] or end + TICK == _next_start(starts[-1], q)
    by_start = {s.astimezone(UTC): i for i, s in enumerate(starts)}
    for u in rows:  # each record lies in the bucket its local wall clock names
        i = max(j for s, j in by_start.items() if s <= u["created_at"])
        assert wall_label(starts[i], q.tz, q.granularity) == wall_label(u["created_at"], q.tz, q.granularity)
    return body


def _next_start(lo: datetime, q: SeriesQuery) -> datetime:
    """The start of the bucket after `lo` (only used where no DST change is near: a regular unit)."""
    local = lo.astimezone(q.tz)
    if q.granularity == "month":
        nxt = local.replace(year=local.year + local.month // 12, month=local.month % 12 + 1)
        return nxt.astimezone(UTC)
    size = {"15m": timedelta(minutes=15), "hour": timedelta(hours=1), "day": timedelta(days=1)}
    return (local + size.get(q.granularity, timedelta(days=7))).astimezone(UTC)


def _strip(p: Row) -> Row:
    return {k: v for k, v in p.items() if k not in ("bucket", "partial")}


def random_query(rng: random.Random) -> SeriesQuery:
    granularity = rng.choice(list(SPAN))
    start = NOW - timedelta(seconds=rng.randint(0, 32 * 86400), microseconds=rng.randint(0, 999999))
    if rng.random() < 0.2:
        start = start.replace(minute=0, second=0, microsecond=0)
    end = start + SPAN[granularity] * rng.random()
    if rng.random() < 0.15:
        end = NOW + timedelta(seconds=rng.randint(0, 3600))  # past the newest record
    user = rng.choice([None, None, "u0", "u1", "u7"])
    groups = [None, "model", "api_format", "api_key"] + (["provider", "user"] if user is None else [])
    return SeriesQuery(
        start=start,
        end=end,
        granularity=granularity,
        tz=ZoneInfo(rng.choice(ZONES)),
        group_by=rng.choice(groups),
        limit=rng.choice([1, 2, 3, 100]),
        now=NOW + timedelta(seconds=rng.randint(-86400, 86400)),
        user_id=user,
    )


async def test_random_series_equal_a_recount(ctx: Ctx) -> None:
    rng = random.Random(20261205)
    for _ in range(60):
        q = random_query(rng)
        await check(ctx, q)


@pytest.mark.parametrize("granularity", ["15m", "hour", "day", "week", "month"])
async def test_the_configured_zone_over_the_whole_history(ctx: Ctx, granularity: str) -> None:
    """Open bounds: from the oldest record to now (the whole seeded history; 15m over 30 days is refused)."""
    q = SeriesQuery(None, None, granularity, ctx.tz, None, 10, NOW)
    body = await check(ctx, q)
    total = sum(p["requests"] for p in body["series"][0]["points"])
    assert total == len(ctx.world.usage)


@pytest.mark.parametrize("group_by", [None, "model", "api_format", "user", "provider", "api_key"])
async def test_series_sum_to_stats(ctx: Ctx, group_by: str | None) -> None:
    """Over the same range, the ungrouped series (and the groups plus __other__) add up to /stats."""
    start, end = NOW - timedelta(days=9, minutes=7, seconds=3), NOW - timedelta(hours=5, microseconds=17)
    q = SeriesQuery(start, end, "day", ctx.tz, group_by, 3, NOW)
    body = await check(ctx, q)
    stats = await ctx.store.stats(start, end)
    points = [p for s in body["series"] for p in s["points"]]
    assert sum(p["requests"] for p in points) == stats["total_requests"]
    assert sum(p["total_tokens"] for p in points) == stats["total_tokens"]
    assert sum((p["cost"] for p in points), Decimal(0)) == stats["total_cost"]
    assert sum((p["actual_cost"] for p in points), Decimal(0)) == stats["total_actual_cost"]
    assert sum(p["errors"] for p in points) == stats["error_count"]


async def test_user_groups_count_as_the_user_aggregation(ctx: Ctx) -> None:
    start, end = NOW - timedelta(days=20, seconds=11), NOW
    body = await check(ctx, SeriesQuery(start, end, "week", ctx.tz, "user", 4, NOW))
    agg = await ctx.store.aggregation("user", start, end, 4)
    got = [
        (
            s["key"],
            sum(p["requests"] for p in s["points"]),
            sum(p["total_tokens"] for p in s["points"]),
            sum((p["cost"] for p in s["points"]), Decimal(0)),
        )
        for s in body["series"]
        if s["key"] != "__other__"
    ]
    assert got == [(a["user_id"], a["request_count"], a["total_tokens"], a["total_cost"]) for a in agg]


async def test_empty_buckets_are_zeros_and_the_current_one_is_partial(ctx: Ctx) -> None:
    start, end = NOW + timedelta(days=1), NOW + timedelta(days=1, hours=3)
    body = await check(
        ctx, SeriesQuery(start, end, "hour", ZoneInfo("UTC"), None, 10, NOW + timedelta(days=1, hours=2))
    )
    points = body["series"][0]["points"]
    assert len(points) == 4 and all(p["requests"] == 0 and p["avg_response_time"] is None for p in points)
    assert [p["partial"] for p in points] == [True, False, True, True]
    assert (await check(ctx, SeriesQuery(start, end, "hour", ZoneInfo("UTC"), "model", 10, NOW)))["series"] == []


async def test_too_many_points_are_refused_before_reading(ctx: Ctx) -> None:
    q = SeriesQuery(NOW - timedelta(days=200), NOW, "hour", ZoneInfo("UTC"), "model", 100, NOW)
    with pytest.raises(PlanError, match="4801 buckets x 101 series is more than 100000 points"):
        await read(ctx.store.pool, q, ctx.tz.key)
    with pytest.raises(PlanError, match="more than 10000 buckets"):
        await read(
            ctx.store.pool, SeriesQuery(NOW - timedelta(days=120), NOW, "15m", ctx.tz, None, 1, NOW, "u0"), ctx.tz.key
        )
