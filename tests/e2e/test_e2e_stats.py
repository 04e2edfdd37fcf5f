"""/stats, /aggregation/stats (every group_by) and /heatmap against recounts of the published events, over
ranges whose edges fall inside 15-minute buckets and local (Asia/Shanghai) days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import e2e_world as W
import pytest
from e2e_check import assert_same
from e2e_env import Api
from e2e_world import World, parse_ts

GROUPS = ("model", "user", "provider", "api_format")


def ranges(w: World) -> dict[str, tuple[datetime | None, datetime | None]]:
    now = w.now
    dave = parse_ts(w.usage[w.named["dave"]]["created_at"])
    quarter = dave.replace(minute=dave.minute // 15 * 15, second=0, microsecond=0)
    tie = parse_ts(w.usage[w.named["tie_a"]]["created_at"])
    edge = parse_ts(w.usage[w.named["edge"]]["created_at"])
    return {
        "everything": (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)),
        "odd days": (now - timedelta(days=7, seconds=-433.5), now - timedelta(days=1, seconds=182.25)),
        "inside one quarter": (quarter + timedelta(seconds=0.5), quarter + timedelta(seconds=899.5)),
        "start only": (now - timedelta(days=3, seconds=-17.77), None),
        "end only": (None, now - timedelta(days=2, seconds=3.3)),
        "record edges": (tie, dave),
        "attempt after end": (now - timedelta(days=9), edge + timedelta(seconds=1)),
        "a year, odd": (now - timedelta(days=365, seconds=-1.5), now - timedelta(seconds=7.25)),
        "empty": (datetime(2099, 1, 1, tzinfo=UTC), datetime(2099, 1, 2, tzinfo=UTC)),
    }


RANGE_NAMES = [
    "everything",
    "odd days",
    "inside one quarter",
    "start only",
    "end only",
    "record edges",
    "attempt after end",
    "a year, odd",
    "empty",
]


@pytest.mark.parametrize("name", RANGE_NAMES)
async def test_stats_and_every_aggregation_over_odd_ranges(api: Api, world: World, name: str) -> None:
    start, end = ranges(world)[name]
    params = {"start_date": start, "end_date": end}
    assert (W.stats(world, start, end)["total_requests"] > 0) == (name != "empty")
    assert_same(await api.ok("/api/admin/usage/stats", params), W.stats(world, start, end), f"/stats {name}")
    for group_by in GROUPS:
        got = await api.ok("/api/admin/usage/aggregation/stats", {**params, "group_by": group_by, "limit": 100})
        assert_same(got, W.aggregation(world, group_by, start, end, 100), f"group_by={group_by} {name}")


async def test_the_edge_range_separates_request_and_attempt_times(world: World) -> None:
    """The dataset really exercises attempt semantics: the edge request is in range, its attempt is not."""
    start, end = ranges(world)["attempt after end"]
    rid = world.named["edge"]
    assert W.in_range(world.usage[rid], start, end)
    assert not W.in_range(world.cands[world.named["edge_candidate"]], start, end)


async def test_implicit_30_days_and_limits(api: Api, world: World) -> None:
    since = world.now - timedelta(days=30)
    assert_same(await api.ok("/api/admin/usage/stats"), W.stats(world, since, None), "/stats default range")
    for group_by in GROUPS:
        got = await api.ok("/api/admin/usage/aggregation/stats", {"group_by": group_by})
        assert_same(got, W.aggregation(world, group_by, since, None, 20), f"default {group_by}")
        got = await api.ok("/api/admin/usage/aggregation/stats", {"group_by": group_by, "limit": 2})
        assert_same(got, W.aggregation(world, group_by, since, None, 2), f"limit 2 {group_by}")
    # one bound only: no default range is added
    start = world.now - timedelta(days=500)
    assert_same(await api.ok("/api/admin/usage/stats", {"start_date": start}), W.stats(world, start, None), "open end")


async def test_provider_names_deleted_renamed_unknown(api: Api, world: World) -> None:
    got = await api.ok(
        "/api/admin/usage/aggregation/stats",
        {"group_by": "provider", "start_date": datetime(2000, 1, 1, tzinfo=UTC)},
    )
    names = {i["provider_id"]: i["provider"] for i in got}
    assert names.get("p-anth") == "Anthropic"  # the current name after the rename
    assert names.get("p-gone") == "Unknown"  # no provider entity


async def test_user_aggregation_hides_deleted_users(api: Api, world: World) -> None:
    got = await api.ok(
        "/api/admin/usage/aggregation/stats",
        {"group_by": "user", "start_date": datetime(2000, 1, 1, tzinfo=UTC)},
    )
    ids = {i["user_id"] for i in got}
    assert "u-dave" not in ids and "u-gina" not in ids and "u-alice" in ids


async def test_aggregation_errors(api: Api) -> None:
    bad = await api.get("/api/admin/usage/aggregation/stats", {"group_by": "day"})
    assert bad.status == 400
    assert bad.body == {
        "error": {
            "type": "http_error",
            "message": "Invalid group_by value: day. Must be one of: model, user, provider, api_format",
        }
    }
    for params in (
        {"group_by": "model", "limit": 0},
        {"group_by": "model", "limit": 101},
        {"group_by": "model", "start_date": "yesterday"},
    ):
        answer = await api.get("/api/admin/usage/aggregation/stats", params)
        assert answer.status == 422 and "error" in answer.body, (params, answer.text)
    assert (await api.get("/api/admin/usage/stats", {"end_date": "2026-13-45T00:00:00Z"})).status == 422


async def test_admin_heatmap_in_local_days(api: Api, world: World) -> None:
    got = await api.ok("/api/admin/usage/heatmap")
    now = datetime.now(UTC)
    expected = W.heatmap(world, now, None, actual=True)
    assert got["total_days"] == 365 and len(got["days"]) == 365
    assert got["days"][-1]["date"] == now.astimezone(world.tz).date().isoformat()  # today in Asia/Shanghai
    assert_same(got["days"], expected["days"], "heatmap days")
    assert got["max_requests"] == expected["max_requests"]
