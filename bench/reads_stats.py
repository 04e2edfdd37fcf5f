"""The `/api/admin/stats/*` group of bench/reads.py: each endpoint beside the reference's GROUP BY over its `usage`
table (Aether's raw path: `summarize_usage_*_raw`, one GROUP BY over the range's rows), and the part of both
answers they are compared on. Days are UTC days (the bench runs with USAGESTREAM_TIMEZONE=UTC).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

Ref = Callable[[asyncpg.Connection], Awaitable[Any]]
STATS = "/api/admin/stats"
FR = "u.status NOT IN ('pending', 'streaming') AND u.provider_name NOT IN ('unknown', 'pending')"
IN_RANGE = "u.created_at >= $1 AND u.created_at < $2"
TOP = 10


def _bounds(first: date, last: date) -> tuple[datetime, datetime]:
    return datetime.combine(first, time(), UTC), datetime.combine(last + timedelta(days=1), time(), UTC)


def _rows(sql: str, first: date, last: date, *extra: Any) -> Ref:
    lo, hi = _bounds(first, last)

    async def run(conn: asyncpg.Connection) -> Any:
        return [tuple(r) for r in await conn.fetch(sql, lo, hi, *extra)]

    return run


def _series(first: date, last: date, unit: str, model: str | None) -> Ref:
    where = IN_RANGE + (" AND u.model = $3" if model else "")
    sql = (
        f"SELECT date_trunc('{unit}', u.created_at AT TIME ZONE 'UTC') AS b, count(*), sum(u.input_tokens),"
        " sum(u.output_tokens), sum(u.cache_creation_input_tokens), sum(u.cache_read_input_tokens),"
        f" sum(u.total_cost_usd), avg(u.response_time_ms) FROM usage u WHERE {where} GROUP BY 1"
    )
    fmt = "%Y-%m-%dT%H:00:00+00:00" if unit == "hour" else "%Y-%m-%d"
    inner = _rows(sql, first, last, *([model] if model else []))

    async def run(conn: asyncpg.Connection) -> Any:
        return sorted((r[0].strftime(fmt), r[1]) for r in await inner(conn))

    return run


def _board(first: date, last: date, key: str, join: str, *extra: Any) -> Ref:
    sql = (
        f"SELECT u.{key} AS k, count(*) AS n FROM usage u {join} WHERE {IN_RANGE} AND {FR} AND u.{key} IS NOT NULL"
        f' GROUP BY 1 ORDER BY n DESC, u.{key} COLLATE "C"'
    )
    inner = _rows(sql, first, last, *extra)

    async def run(conn: asyncpg.Connection) -> Any:
        return [(r[0], r[1]) for r in (await inner(conn))[:TOP]]

    return run


USERS = "JOIN users ON users.id = u.user_id AND users.is_active AND NOT users.is_deleted"
KEYS = "JOIN api_keys k ON k.id = u.api_key_id JOIN users o ON o.id = k.user_id AND NOT o.is_deleted"


def _comparison(first: date, last: date) -> Ref:
    days = (last - first).days + 1
    sql = "SELECT count(*), sum(u.total_tokens), sum(u.total_cost_usd), avg(u.response_time_ms) FROM usage u"
    sql += f" WHERE {IN_RANGE}"
    cur, prev = _rows(sql, first, last), _rows(sql, first - timedelta(days=days), first - timedelta(days=1))

    async def run(conn: asyncpg.Connection) -> Any:
        return ((await cur(conn))[0][0], (await prev(conn))[0][0])

    return run


def _forecast(first: date, last: date) -> Ref:
    sql = (
        "SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AS d, sum(u.total_cost_usd) AS c FROM usage u"
        f" WHERE {IN_RANGE} GROUP BY 1"
    )
    inner = _rows(sql, first, last)

    async def run(conn: asyncpg.Connection) -> Any:
        return sorted(r[0].strftime("%Y-%m-%d") for r in await inner(conn) if r[1])

    return run


def _savings(first: date, last: date) -> Ref:
    sql = (
        "SELECT sum(u.cache_read_input_tokens), sum(u.cache_read_cost_usd), sum(u.cache_creation_cost_usd),"
        f" sum(u.input_price_per_1m * u.cache_read_input_tokens / 1e6) FROM usage u WHERE {IN_RANGE}"
    )
    inner = _rows(sql, first, last)

    async def run(conn: asyncpg.Connection) -> Any:
        return (await inner(conn))[0][0] or 0

    return run


def _percentiles(first: date, last: date) -> Ref:
    sql = (
        "SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AS d, count(u.response_time_ms),"
        " percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms),"
        " percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms)"
        f" FROM usage u WHERE {IN_RANGE} AND u.status = 'completed' GROUP BY 1"
    )
    inner = _rows(sql, first, last)

    async def run(conn: asyncpg.Connection) -> Any:
        found = {r[0].strftime("%Y-%m-%d"): r for r in await inner(conn)}
        out = []
        for i in range((last - first).days + 1):
            d = (first + timedelta(days=i)).isoformat()
            r = found.get(d)
            ok = r is not None and r[1] >= 10 and r[2] is not None
            out.append((d, int(r[2][0]) if ok else None, int(r[2][2]) if ok else None))
        return out

    return run


def _providers(first: date, last: date) -> Ref:
    sql = (
        "SELECT btrim(u.provider_id) AS k, count(*) AS n, count(*) FILTER (WHERE u.status = 'completed'),"
        " sum(u.output_tokens), avg(u.response_time_ms), avg(u.first_byte_time_ms),"
        " percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) FROM usage u"
        f" WHERE {IN_RANGE} AND u.status NOT IN ('pending', 'streaming') AND u.provider_id IS NOT NULL"
        " AND lower(u.provider_name) NOT IN ('unknown', 'unknow', 'pending') GROUP BY 1"
    )
    inner = _rows(sql, first, last)

    async def run(conn: asyncpg.Connection) -> Any:
        return sorted(((r[0], r[1]) for r in await inner(conn)), key=lambda p: (-p[1], p[0]))[:8]

    return run


def cases(now: datetime, model: str, provider: str) -> list[tuple[str, str, str, dict[str, str], Ref]]:
    """(label, kind, path, params, reference) of each stats question: 30-day ranges, a day, a week."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=29)
    rng = {"start_date": first.isoformat(), "end_date": today.isoformat(), "timezone": "UTC"}
    day = {"start_date": today.isoformat(), "end_date": today.isoformat(), "timezone": "UTC"}
    board = {**rng, "metric": "requests", "limit": str(TOP)}
    return [
        ("time-series 30 days daily", "stats-series", "/time-series", rng, _series(first, today, "day", None)),
        (
            f"time-series 30 days daily, model={model}",
            "stats-series",
            "/time-series",
            {**rng, "model": model},
            _series(first, today, "day", model),
        ),
        (
            "time-series today hourly",
            "stats-series",
            "/time-series",
            {**day, "granularity": "hour"},
            _series(today, today, "hour", None),
        ),
        (
            "leaderboard/users 30 days",
            "stats-board",
            "/leaderboard/users",
            board,
            _board(first, today, "user_id", USERS),
        ),
        (
            "leaderboard/api-keys 30 days",
            "stats-board",
            "/leaderboard/api-keys",
            board,
            _board(first, today, "api_key_id", KEYS),
        ),
        ("leaderboard/models 30 days", "stats-board", "/leaderboard/models", board, _board(first, today, "model", "")),
        (
            f"leaderboard/models 30 days, provider_name={provider}",
            "stats-board",
            "/leaderboard/models",
            {**board, "provider_name": provider},
            _board(first, today, "model", "JOIN providers p ON p.id = u.provider_id AND p.name = $3", provider),
        ),
        (
            "comparison 30 days vs the 30 before",
            "stats-comparison",
            "/comparison",
            {"current_start": first.isoformat(), "current_end": today.isoformat(), "timezone": "UTC"},
            _comparison(first, today),
        ),
        (
            "cost/forecast 30 days",
            "stats-forecast",
            "/cost/forecast",
            {"days": "30", "timezone": "UTC"},
            _forecast(first, today),
        ),
        ("cost/savings 30 days", "stats-savings", "/cost/savings", rng, _savings(first, today)),
        (
            "performance/percentiles 7 days (kept days; today too when unchanged)",
            "stats-percentiles",
            "/performance/percentiles",
            {**rng, "start_date": (today - timedelta(days=6)).isoformat()},
            _percentiles(today - timedelta(days=6), today),
        ),
        (
            "performance/percentiles 30 days (kept days; today too when unchanged)",
            "stats-percentiles",
            "/performance/percentiles",
            rng,
            _percentiles(first, today),
        ),
        (
            "performance/providers 30 days (kept days and hours; the rest from the records)",
            "stats-providers",
            "/performance/providers",
            rng,
            _providers(first, today),
        ),
    ]


def ours_key(kind: str, body: Any) -> Any:
    if kind == "stats-series":
        return sorted((p["date"], p["total_requests"]) for p in body if p["total_requests"])
    if kind == "stats-board":
        return [(i["id"], i["requests"]) for i in body["items"]]
    if kind == "stats-comparison":
        return (body["current"]["total_requests"], body["comparison"]["total_requests"])
    if kind == "stats-forecast":
        return sorted(h["date"] for h in body["history"] if h["total_cost"])
    if kind == "stats-savings":
        return body["cache_read_tokens"]
    if kind == "stats-percentiles":
        return [(p["date"], p["p50_response_time_ms"], p["p99_response_time_ms"]) for p in body]
    if kind == "stats-providers":
        return [(p["provider_id"], p["request_count"]) for p in body["providers"]]
    raise ValueError(kind)
