"""Time series (materializer/read/timeseries.py) against a plain recount of the seeded records.

Property-style: many random ranges, granularities, zones, groupings and scopes (a fixed seed, so a failure
replays), each bucket of each series compared with a recount over the seeded rows in plain Python; the bucket
of every record is checked against its local wall-clock time. No project aggregation code gives an expectation.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
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
def point(rows: list[Row], attempts: list[Row] | None = None) -> Row:
    """A bucket's point over usage rows; with `attempts` (group_by=provider) requests, errors and the response
    time are the executed attempts' (count, failed ones, latency), as /aggregation/stats counts a provider."""
    rts = [u["response_time_ms"] for u in rows if u["response_time_ms"] is not None]
    errors = sum(
        (u["status_code"] is not None and u["status_code"] >= 400) or u["error_message"] is not None for u in rows
    )
    requests = len(rows)
    if attempts is not None:
        rts = [c["latency_ms"] for c in attempts if c["latency_ms"] is not None]
        requests, errors = len(attempts), sum(c["status"] == "failed" for c in attempts)
    return {
        "requests": requests,
        "input_tokens": sum(u["input_tokens"] for u in rows),
        "output_tokens": sum(u["output_tokens"] for u in rows),
        "cache_creation_tokens": sum(u["cache_creation_input_tokens"] for u in rows),
        "cache_read_tokens": sum(u["cache_read_input_tokens"] for u in rows),
        "total_tokens": sum(u["total_tokens"] for u in rows),
        "cost": sum((u["total_cost_usd"] for u in rows), Decimal(0)),
        "actual_cost": sum((u["actual_total_cost_usd"] for u in rows), Decimal(0)),
        "errors": errors,
        "avg_response_time": seconds(rts),
    }


def seconds(ms: list[int]) -> float | None:
    """The exact mean in seconds, rounded half up to 2 places (docs/api.md "Time series")."""
    if not ms:
        return None
    return float((Decimal(sum(ms)) / len(ms) / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP))


def finished(u: Row) -> bool:
    return u["status"] not in ("pending", "streaming")


def counted(group_by: str | None, rows: list[Row]) -> list[Row]:
    """The usage rows a grouping counts, as /aggregation/stats (docs/reference-api.md §3.2): finished and reached
    a provider (model, api_format), finished (provider's tokens), all (none, user, api_key)."""
    if group_by in ("model", "api_format"):
        return [u for u in rows if finished(u) and u["provider_name"] not in ("unknown", "pending")]
    if group_by == "provider":
        return [u for u in rows if finished(u)]
    return rows


def expected_series(
    w: World,
    rows: list[Row],
    starts: list[datetime],
    q: SeriesQuery,
    attempts: list[Row],
) -> list[tuple[Any, str, list[Row]]]:
    """(key, label, points without bucket and partial) per series, in the answer's order. `attempts`: the
    executed attempts in the range (used by group_by=provider)."""
    ends = starts[1:] + [datetime.max.replace(tzinfo=UTC)]

    def points(subset: list[Row], tries: list[Row] | None = None) -> list[Row]:
        def within(xs: list[Row], lo: datetime, hi: datetime) -> list[Row]:
            return [x for x in xs if lo <= x["created_at"] < hi]

        return [
            point(within(subset, lo, hi), None if tries is None else within(tries, lo, hi))
            for lo, hi in zip(starts, ends, strict=True)
        ]

    group_by = q.group_by
    if group_by is None:
        return [(None, "all", points(rows))]
    col = GROUP_KEY[group_by]
    rows = counted(group_by, rows)
    ranked_rows = attempts if group_by == "provider" else rows  # what `requests` counts, so what ranks
    keys: dict[str, int] = {}
    for u in ranked_rows:
        if u[col] is not None and (group_by != "user" or u[col] in w.users):
            keys[u[col]] = keys.get(u[col], 0) + 1
    top = sorted(keys, key=lambda k: (-keys[k], k))[: q.limit]

    def of(xs: list[Row], pick: Any) -> list[Row]:
        return [x for x in xs if pick(x[col])]

    tries = attempts if group_by == "provider" else None
    out = []
    for k in top:
        mine = None if tries is None else of(tries, lambda v, k=k: v == k)
        out.append((k, label(w, group_by, k), points(of(rows, lambda v, k=k: v == k), mine)))
    rest = points(of(rows, lambda v: v not in top), None if tries is None else of(tries, lambda v: v not in top))
    if any(p != point([], None if tries is None else []) for p in rest):  # present if it counts anything
        out.append(("__other__", "other", rest))
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
    attempts = [
        c
        for c in ctx.world.candidates
        if start <= c["created_at"] <= end and c["provider_id"] is not None and c["status"] in ("success", "failed")
    ]
    got = [(s["key"], s["label"], [_strip(p) for p in s["points"]]) for s in body["series"]]
    if q.group_by is not None and not body["series"]:
        assert expected_series(ctx.world, rows, [start], q, attempts) == []
        return body
    want = expected_series(ctx.world, rows, starts, q, attempts)
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
    for u in rows + attempts:  # each record lies in the bucket its local wall clock names
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


@pytest.mark.parametrize("group_by", [None, "user", "api_key"])
async def test_series_sum_to_stats(ctx: Ctx, group_by: str | None) -> None:
    """Over the same range, the ungrouped series (and, for groupings that count every request, the groups plus
    __other__) add up to /stats."""
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


def _summed(series: Row) -> Row:
    points = series["points"]
    return {
        "requests": sum(p["requests"] for p in points),
        "errors": sum(p["errors"] for p in points),
        "total_tokens": sum(p["total_tokens"] for p in points),
        "cost": sum((p["cost"] for p in points), Decimal(0)),
        "actual_cost": sum((p["actual_cost"] for p in points), Decimal(0)),
    }


def _aggregated(group_by: str, a: Row) -> tuple[Any, Row]:
    """An /aggregation/stats item as (key, the sums a series of that group must add up to)."""
    key = {"model": "model", "api_format": "api_format", "provider": "provider_id", "user": "user_id"}[group_by]
    want = {
        "requests": a["request_count"],
        "total_tokens": a["total_tokens"],
        "cost": a["total_cost"],
        "actual_cost": a.get("actual_cost"),
        "errors": a.get("error_count"),
    }
    value = a[key]
    if group_by == "api_format" and value == "unknown":
        value = ""  # the empty format's label (the seeded world has no format named "unknown")
    return value, want


@pytest.mark.parametrize("group_by", ["model", "api_format", "provider", "user"])
async def test_random_grouped_series_sum_to_the_aggregation(ctx: Ctx, group_by: str) -> None:
    """For random ranges, granularities, zones and limits, each listed group's buckets add up to what
    /aggregation/stats answers for that group over the same range (requests, total tokens, cost, actual cost;
    provider: attempts and failed attempts), in the same order; `__other__` adds up to the groups past the
    limit."""
    rng = random.Random(f"aggregation {group_by}")
    for _ in range(12):
        q = random_query(rng)
        q = replace(q, group_by=group_by, user_id=None, limit=rng.choice([1, 2, 3]))
        body = await check(ctx, q)
        start, end = datetime.fromisoformat(body["start_date"]), datetime.fromisoformat(body["end_date"])
        every = [_aggregated(group_by, a) for a in await ctx.store.aggregation(group_by, start, end, 100)]
        listed = [(s["key"], _summed(s)) for s in body["series"] if s["key"] != "__other__"]
        assert [k for k, _ in listed] == [k for k, _ in every[: q.limit]]
        for (_, got), (_, want) in zip(listed, every, strict=False):
            assert {k: v for k, v in got.items() if want[k] is not None} == {
                k: v for k, v in want.items() if v is not None
            }
        other = [_summed(s) for s in body["series"] if s["key"] == "__other__"]
        rest = every[q.limit :]
        past = sum(w["requests"] for _, w in rest)
        if group_by == "model" and rest:  # every request it counts has a model: __other__ is the groups past it
            assert other and other[0]["requests"] == past
        elif group_by == "api_format" and rest:  # ... and the counted requests without a format
            assert other and other[0]["requests"] >= past


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
