"""The time series paths against their own recount of the published events: bucket lists computed here by
local wall-clock arithmetic (zones without DST in the dataset's years: Asia/Shanghai, the deployment's zone;
Asia/Kolkata at +05:30; UTC), every point recounted from the records, groups ranked and `__other__` summed here.
A grouping counts what /aggregation/stats counts for its groups (docs/api.md "Time series"): finished requests
that reached a provider for model and api_format; for provider its executed attempts (requests, errors = failed
ones, response time = latency) and the tokens and cost of the finished requests it served."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import e2e_world as W
import pytest
from e2e_check import assert_same
from e2e_env import Api, Deployment
from e2e_world import Rec, World, parse_ts

ADMIN, USER = "/api/admin/usage/timeseries", "/api/users/me/usage/timeseries"
TICK = timedelta(microseconds=1)
COLUMN = {
    "model": "model",
    "provider": "provider_id",
    "api_format": "api_format",
    "user": "user_id",
    "api_key": "api_key_id",
}


def floor_local(t: datetime, tz: ZoneInfo, granularity: str) -> datetime:
    """The bucket start holding `t`, by wall-clock arithmetic at the zone's (constant) offset."""
    offset = tz.utcoffset(t)
    assert offset is not None
    local = (t.astimezone(UTC) + offset).replace(tzinfo=None)
    if granularity in ("15m", "hour"):
        step = 15 if granularity == "15m" else 60
        local = local.replace(minute=local.minute // step * step, second=0, microsecond=0)
    else:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if granularity == "week":
            local -= timedelta(days=local.weekday())
        if granularity == "month":
            local = local.replace(day=1)
    return (local - offset).replace(tzinfo=UTC)


def next_start(lo: datetime, tz: ZoneInfo, granularity: str) -> datetime:
    if granularity == "month":
        return floor_local(lo + timedelta(days=32), tz, "month")
    size = {"15m": timedelta(minutes=15), "hour": timedelta(hours=1), "day": timedelta(days=1)}
    return lo + size.get(granularity, timedelta(days=7))


def bucket_list(start: datetime, end: datetime, tz: ZoneInfo, granularity: str) -> list[datetime]:
    out = [floor_local(start, tz, granularity)]
    while next_start(out[-1], tz, granularity) <= end:
        out.append(next_start(out[-1], tz, granularity))
    return out


def point(
    rows: list[Rec], lo: datetime, hi: datetime, start: datetime, end: datetime, tries: list[Rec] | None = None
) -> dict[str, Any]:
    """One bucket's point; with `tries` (group_by=provider) requests, errors and the response time are the
    executed attempts'."""
    rts = [r["response_time_ms"] for r in rows if r["response_time_ms"] is not None]
    requests, errors = len(rows), sum(1 for r in rows if W.is_error(r))
    if tries is not None:
        rts = [c["latency_ms"] for c in tries if c["latency_ms"] is not None]
        requests, errors = len(tries), sum(1 for c in tries if c["status"] == "failed")
    return {
        "bucket": lo,
        "requests": requests,
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cache_creation_tokens": sum(r["cache_creation_input_tokens"] for r in rows),
        "cache_read_tokens": sum(r["cache_read_input_tokens"] for r in rows),
        "total_tokens": sum(r["total_tokens"] for r in rows),
        "cost": sum((W.d(r["total_cost_usd"]) for r in rows), Decimal(0)),
        "actual_cost": sum((W.d(r["actual_total_cost_usd"]) for r in rows), Decimal(0)),
        "errors": errors,
        # the exact mean in seconds rounded half up to 2 places (docs/api.md "Time series")
        "avg_response_time": (Decimal(sum(rts)) / len(rts) / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if rts
        else None,
        "partial": lo < start or hi > end + TICK,  # every range here ends in the past
    }


def points(
    rows: list[Rec], starts: list[datetime], tz: ZoneInfo, q: dict[str, Any], tries: list[Rec] | None = None
) -> list[dict[str, Any]]:
    ends = starts[1:] + [next_start(starts[-1], tz, q["granularity"])]

    def within(xs: list[Rec], lo: datetime, hi: datetime) -> list[Rec]:
        return [x for x in xs if lo <= parse_ts(x["created_at"]) < hi]

    return [
        point(
            within(rows, lo, hi),
            lo,
            hi,
            q["start_date"],
            q["end_date"],
            None if tries is None else within(tries, lo, hi),
        )
        for lo, hi in zip(starts, ends, strict=True)
    ]


def counts_anything(p: dict[str, Any]) -> bool:
    numbers = ("requests", "errors", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
    return any(p[k] for k in (*numbers, "total_tokens", "cost", "actual_cost")) or p["avg_response_time"] is not None


def counted(group_by: str, rows: list[Rec]) -> list[Rec]:
    """The requests a grouping counts, as /aggregation/stats (docs/reference-api.md §3.2)."""
    if group_by in ("model", "api_format"):
        return [r for r in rows if W.finished(r) and W.reached(r)]
    if group_by == "provider":
        return [r for r in rows if W.finished(r)]
    return rows


def label(w: World, group_by: str, key: str) -> str:
    if group_by == "api_format":
        return key or "unknown"
    kind, field = {"user": ("user", "username"), "provider": ("provider", "name"), "api_key": ("api_key", "name")}.get(
        group_by, ("", "")
    )
    if not kind:
        return key
    found = w.ent(kind, key) or {}
    return found.get(field) or "Unknown"


def expected(w: World, q: dict[str, Any], user_id: str | None) -> dict[str, Any]:
    tz = ZoneInfo(q["tz"])
    start, end, group_by = q["start_date"], q["end_date"], q.get("group_by")
    rows = [r for r in w.rows() if W.in_range(r, start, end) and user_id in (None, r["user_id"])]
    starts = bucket_list(start, end, tz, q["granularity"])
    series: list[dict[str, Any]] = []
    if group_by is None:
        series.append({"key": None, "label": "all", "points": points(rows, starts, tz, q)})
    else:
        col, rows = COLUMN[group_by], counted(group_by, rows)
        tries = None
        if group_by == "provider":
            tries = [c for c in w.executed() if c["provider_id"] is not None and W.in_range(c, start, end)]
        ranked: dict[str, int] = {}
        for r in rows if tries is None else tries:  # what `requests` counts ranks the groups
            if r[col] is not None and (group_by != "user" or w.ent("user", r[col]) is not None):
                ranked[r[col]] = ranked.get(r[col], 0) + 1
        top = sorted(ranked, key=lambda k: (-ranked[k], k))[: q["limit"]]

        def of(xs: list[Rec] | None, keep: Any) -> list[Rec] | None:
            return None if xs is None else [x for x in xs if keep(x[col])]

        for k in top:
            mine = points(of(rows, lambda v, k=k: v == k) or [], starts, tz, q, of(tries, lambda v, k=k: v == k))
            series.append({"key": k, "label": label(w, group_by, k), "points": mine})
        rest = points(of(rows, lambda v: v not in top) or [], starts, tz, q, of(tries, lambda v: v not in top))
        if any(counts_anything(p) for p in rest):
            series.append({"key": "__other__", "label": "other", "points": rest})
    return {
        "granularity": q["granularity"],
        "timezone": q["tz"],
        "start_date": start,
        "end_date": end,
        "series": series,
    }


def queries(w: World) -> list[dict[str, Any]]:
    now = w.now
    days = (now - timedelta(days=7, seconds=-433.5), now - timedelta(days=1, seconds=182.25))
    year = (now - timedelta(days=365, seconds=-1.5), now - timedelta(seconds=7.25))
    hours = (now - timedelta(hours=30, seconds=-17.25), now - timedelta(hours=2, seconds=1.5))
    out = []
    for tz in ("Asia/Shanghai", "Asia/Kolkata", "UTC"):
        out += [
            {"granularity": "day", "tz": tz, "range": days, "group_by": None},
            {"granularity": "hour", "tz": tz, "range": hours, "group_by": "model", "limit": 2},
            {"granularity": "15m", "tz": tz, "range": hours, "group_by": None},
            {"granularity": "week", "tz": tz, "range": year, "group_by": "provider", "limit": 2},
            {"granularity": "month", "tz": tz, "range": year, "group_by": "user", "limit": 3},
            {"granularity": "day", "tz": tz, "range": days, "group_by": "api_format", "limit": 100},
            {"granularity": "month", "tz": tz, "range": year, "group_by": "api_key", "limit": 2},
        ]
    for q in out:
        q["start_date"], q["end_date"] = q.pop("range")
        q.setdefault("limit", 10)
    return out


def names(q: dict[str, Any]) -> str:
    return f"{q['granularity']}-{q['tz']}-{q['group_by']}"


@pytest.mark.parametrize("index", range(21))
async def test_admin_series_equal_the_recount(api: Api, world: World, index: int) -> None:
    q = queries(world)[index]
    params = {k: v for k, v in q.items() if v is not None}
    got = await api.ok(ADMIN, params)
    want = expected(world, q, None)
    assert_same(got, want, f"{ADMIN} {names(q)}")
    assert any(p["requests"] for s in got["series"] for p in s["points"]), names(q)


@pytest.mark.parametrize("group_by", [None, "model", "api_format", "api_key"])
async def test_user_series_equal_the_recount(api: Api, world: World, deployment: Deployment, group_by: Any) -> None:
    q = queries(world)[5 if group_by is None else 6] | {"group_by": group_by, "limit": 2}
    params = {k: v for k, v in q.items() if v is not None}
    got = await api.ok(USER, params, token=deployment.token("u-alice"))
    assert_same(got, expected(world, q, "u-alice"), f"{USER} {names(q)}")
    assert (await api.get(USER, {"group_by": "provider"}, token=deployment.token("u-alice"))).status == 403
