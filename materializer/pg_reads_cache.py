"""Cache-affinity analyses over the completed requests of the last `hours`: TTL analysis, interval timeline.

Both read `usage_records` through the partial indexes on completed rows; intervals are the gaps between a
group's consecutive requests (window functions in SQL), so only the per-group results leave the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from usagestream.materializer.pg_reads_entities import entity_maps
from usagestream.materializer.pg_reads_sql import iso

BANDS = ("within_5min", "within_15min", "within_30min", "within_60min", "over_60min")
_BAND_SQL = ("m <= 5", "m > 5 AND m <= 15", "m > 15 AND m <= 30", "m > 30 AND m <= 60", "m > 60")
_MINUTES = "EXTRACT(EPOCH FROM created_at - lag(created_at) OVER w)::float8 / 60"


def ttl_query(group: str, filters: list[str]) -> str:
    bands = ", ".join(f"count(*) FILTER (WHERE {c}) AS {b}" for b, c in zip(BANDS, _BAND_SQL, strict=True))
    pcts = ", ".join(
        f"percentile_cont({q}) WITHIN GROUP (ORDER BY m) AS p{int(q * 100)}" for q in (0.5, 0.75, 0.9)
    )
    where = " AND ".join([f"status = 'completed' AND created_at > $1 AND {group} IS NOT NULL", *filters])
    return (
        f"WITH iv AS (SELECT {group} AS g, {_MINUTES} AS m FROM usage_records WHERE {where}"  # noqa: S608
        f" WINDOW w AS (PARTITION BY {group} ORDER BY created_at, id))"
        f" SELECT g, count(*) AS n, {bands}, {pcts}, avg(m) AS avg_m, min(m) AS min_m, max(m) AS max_m"
        ' FROM iv WHERE m IS NOT NULL GROUP BY g HAVING count(*) >= 2 ORDER BY n DESC, g COLLATE "C"'
    )


async def ttl_groups(
    conn: asyncpg.Connection, user_id: str | None, api_key_id: str | None, since: datetime
) -> list[asyncpg.Record]:
    """Per-group interval statistics; with both ids, that user's rows grouped by API key."""
    group = "api_key_id" if api_key_id is not None else "user_id"
    filters, args = [], []
    for column, value in (("user_id", user_id), ("api_key_id", api_key_id)):
        if value is not None:
            args.append(value)
            filters.append(f"{column} = ${len(args) + 1}")
    return list(await conn.fetch(ttl_query(group, filters), since, *args))


def _r2(x: float | None) -> float | None:
    return round(x, 2) if x else None


def recommend(p75: float | None, p90: float | None) -> tuple[int, str]:
    if p75 is None or p90 is None:
        return 5, "数据不足，使用默认值"
    if p90 <= 5:
        return 5, f"高频用户：90% 的请求间隔在 {p90:.1f} 分钟内"
    if p75 <= 15:
        return 15, f"中高频用户：75% 的请求间隔在 {p75:.1f} 分钟内"
    if p75 <= 30:
        return 30, f"中频用户：75% 的请求间隔在 {p75:.1f} 分钟内"
    return 60, f"低频用户：75% 的请求间隔为 {p75:.1f} 分钟，建议使用长 TTL"


def ttl_user(g: Mapping[str, Any], user: Mapping[str, Any] | None, by_user: bool) -> dict[str, Any]:
    n = g["n"]
    ttl, reason = recommend(g["p75"], g["p90"])
    return {
        "group_id": g["g"],
        "username": user.get("username") if by_user and user else None,
        "email": (user.get("email") or "") if by_user and user else None,
        "request_count": n,
        "interval_distribution": {b: g[b] for b in BANDS},
        "interval_percentages": {b: round(g[b] / n * 100, 1) for b in BANDS},
        "percentiles": {p: _r2(g[p]) for p in ("p50", "p75", "p90")},
        "avg_interval_minutes": _r2(g["avg_m"]),
        "min_interval_minutes": _r2(g["min_m"]),
        "max_interval_minutes": _r2(g["max_m"]),
        "recommended_ttl_minutes": ttl,
        "recommendation_reason": reason,
    }


async def ttl_analysis(
    conn: asyncpg.Connection, user_id: str | None, api_key_id: str | None, hours: int, now: datetime
) -> dict[str, Any]:
    groups = await ttl_groups(conn, user_id, api_key_id, now - timedelta(hours=hours))
    by_user = api_key_id is None
    users = (await entity_maps(conn, {"user": [g["g"] for g in groups] if by_user else []}))["user"]
    items = [ttl_user(g, users.get(g["g"]), by_user) for g in groups]
    dist = {"5min": 0, "15min": 0, "30min": 0, "60min": 0}
    for item in items:
        dist[f"{item['recommended_ttl_minutes']}min"] += 1
    return {
        "analysis_period_hours": hours,
        "total_users_analyzed": len(items),
        "ttl_distribution": dist,
        "users": items,
    }


# --- interval timeline ------------------------------------------------------------------------------------
def _intervals(user_filter: bool) -> str:
    """Completed requests since $1 (of user $3) with their gap to the user's previous request, in minutes."""
    where = "status = 'completed' AND created_at > $1 AND user_id IS NOT NULL"
    if user_filter:
        where += " AND user_id = $3"
    return (
        f"SELECT id, user_id, created_at, model, {_MINUTES} AS m FROM usage_records WHERE {where}"  # noqa: S608
        " WINDOW w AS (PARTITION BY user_id ORDER BY created_at, id)"
    )


def simple_timeline(user_filter: bool) -> str:
    """The newest `limit` ($2) points (gap <= 120 min), shown oldest first."""
    return (
        f"SELECT * FROM (SELECT * FROM ({_intervals(user_filter)}) b WHERE m IS NOT NULL AND m <= 120"
        " ORDER BY created_at DESC, id DESC LIMIT $2) newest ORDER BY created_at, id"
    )


# Each user keeps all points when the total fits `limit` ($2), else its newest
# ceil(user_count * limit / total) (at least 1); shown oldest first.
MULTI_TIMELINE = (
    f"WITH pts AS (SELECT * FROM ({_intervals(False)}) b WHERE m IS NOT NULL AND m <= 120),"
    " ranked AS (SELECT *, count(*) OVER (PARTITION BY user_id) AS user_cnt, count(*) OVER () AS total,"
    " row_number() OVER (PARTITION BY user_id ORDER BY created_at DESC, id DESC) AS rn FROM pts)"
    " SELECT user_id, created_at, model, m FROM ranked WHERE rn <= CASE WHEN total <= $2 THEN user_cnt"
    " ELSE GREATEST(ceil(user_cnt::numeric * $2 / total), 1) END ORDER BY created_at, id"
)


def point(r: Mapping[str, Any], with_user: bool) -> dict[str, Any]:
    p: dict[str, Any] = {"x": iso(r["created_at"]), "y": round(r["m"], 2)}
    if with_user:
        p["user_id"] = r["user_id"]
    if r["model"]:
        p["model"] = r["model"]
    return p


async def interval_timeline(
    conn: asyncpg.Connection,
    hours: int,
    limit: int,
    user_id: str | None,
    include_user_info: bool,
    now: datetime,
) -> dict[str, Any]:
    since = now - timedelta(hours=hours)
    multi = include_user_info and user_id is None
    if multi:
        rows = await conn.fetch(MULTI_TIMELINE, since, limit)
    elif user_id is None:
        rows = await conn.fetch(simple_timeline(False), since, limit)
    else:
        rows = await conn.fetch(simple_timeline(True), since, limit, user_id)
    points = [point(r, multi) for r in rows]
    out: dict[str, Any] = {"analysis_period_hours": hours, "total_points": len(points), "points": points}
    if multi:
        users = (await entity_maps(conn, {"user": [r["user_id"] for r in rows]}))["user"]
        out["users"] = {
            uid: d["username"] for uid, d in sorted(users.items()) if d.get("username") is not None
        }
    models = sorted({r["model"] for r in rows if r["model"]})
    if models:
        out["models"] = models
    return out
