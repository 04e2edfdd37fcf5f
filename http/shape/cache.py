"""The JSON bodies of the cache-affinity analyses (TTL analysis, interval timeline): field names, rounding, the
recommended TTL and its (Chinese, as the reference words it) reason, shaped from what `ReadStore` read
(materializer/read/cache.py), in slices of the event loop (usagestream/slices.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from usagestream.materializer.read.cache import BANDS
from usagestream.materializer.read.sql import iso
from usagestream.slices import map_sliced

Body = dict[str, Any]
TTL_SLICE = 200  # groups shaped per slice of the event loop


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


def ttl_user(g: asyncpg.Record | Mapping[str, Any], user: Mapping[str, Any] | None, by_user: bool) -> dict[str, Any]:
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


async def ttl_body(groups: Sequence[asyncpg.Record], users: Mapping[str, Body], hours: int, by_user: bool) -> Body:
    """`by_user`: the groups are users (no API key asked for), so their names are shown."""
    items = await map_sliced(lambda g: ttl_user(g, users.get(g["g"]), by_user), groups, TTL_SLICE)
    dist = {"5min": 0, "15min": 0, "30min": 0, "60min": 0}
    for item in items:
        dist[f"{item['recommended_ttl_minutes']}min"] += 1
    return {
        "analysis_period_hours": hours,
        "total_users_analyzed": len(items),
        "ttl_distribution": dist,
        "users": items,
    }


def point(r: asyncpg.Record | Mapping[str, Any], with_user: bool) -> dict[str, Any]:
    p: dict[str, Any] = {"x": iso(r["created_at"]), "y": round(r["m"], 2)}
    if with_user:
        p["user_id"] = r["user_id"]
    if r["model"]:
        p["model"] = r["model"]
    return p


async def timeline_body(rows: Sequence[asyncpg.Record], users: Mapping[str, Body], hours: int, multi: bool) -> Body:
    """`multi`: every user's points, each with its user id, and the users' names beside them."""
    models: set[str] = set()

    def shape(r: asyncpg.Record) -> dict[str, Any]:  # one pass over up to 50,000 rows, in slices
        if r["model"]:
            models.add(r["model"])
        return point(r, multi)

    points = await map_sliced(shape, rows)
    out: dict[str, Any] = {"analysis_period_hours": hours, "total_points": len(points), "points": points}
    if multi:
        out["users"] = {uid: d["username"] for uid, d in sorted(users.items()) if d.get("username") is not None}
    if models:
        out["models"] = sorted(models)
    return out
