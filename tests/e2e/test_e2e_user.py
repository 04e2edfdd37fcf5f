"""The user's own views (/api/users/me/usage, heatmap, interval timeline) and the admin cache-affinity
analyses, against recounts of the published events."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import e2e_world as W
import pytest
from e2e_check import assert_same, close
from e2e_env import Api, Deployment
from e2e_world import World

ME = "/api/users/me/usage"


def user_records(world: World, uid: str, start: datetime | None, end: datetime | None, search: str | None) -> list[Any]:
    rows = [r for r in world.rows() if r["user_id"] == uid and W.in_range(r, start, end)]
    return W.order([r for r in rows if W.search_match(world, r, search, admin=False)])


CASES = [
    ("u-alice", None, None, None),
    ("u-alice", timedelta(days=6, seconds=-0.25), timedelta(hours=20, seconds=13.5), None),
    ("u-alice", None, None, "laptop"),
    ("u-alice", None, None, "sonnet"),
    ("u-alice", None, None, "anthropic"),  # the user search does not look at providers
    ("u-bob", None, None, "x%y"),
    ("u-carol", None, None, None),
]


@pytest.mark.parametrize(("uid", "ago_start", "ago_end", "search"), CASES)
async def test_user_usage(
    api: Api,
    world: World,
    deployment: Deployment,
    uid: str,
    ago_start: timedelta | None,
    ago_end: timedelta | None,
    search: str | None,
) -> None:
    start = world.now - ago_start if ago_start else None
    end = world.now - ago_end if ago_end else None
    token = deployment.token(uid)
    got = await api.ok(ME, {"start_date": start, "end_date": end, "search": search, "limit": 200}, token=token)
    expected = W.user_usage(world, uid, start, end)
    avg = expected.pop("avg_response_time")
    assert math.isclose(float(got.pop("avg_response_time")), avg, rel_tol=1e-9), uid
    rows = user_records(world, uid, start, end, search)
    expected["pagination"] = {"total": len(rows), "limit": 200, "offset": 0, "has_more": False}
    expected["records"] = [W.user_record_item(world, r) for r in rows]
    assert_same(got, expected, f"{ME} {uid} {search}")
    if search == "anthropic":
        assert not rows


async def test_user_paging(api: Api, world: World, deployment: Deployment) -> None:
    token = deployment.token("u-alice")
    expected = [r["id"] for r in user_records(world, "u-alice", None, None, None)]
    seen: list[str] = []
    for offset in range(0, len(expected), 30):
        page = await api.ok(ME, {"limit": 30, "offset": offset}, token=token)
        assert page["pagination"]["has_more"] == (offset + 30 < len(expected))
        seen += [r["id"] for r in page["records"]]
    assert seen == expected
    for params in ({"limit": 201}, {"offset": 2001}, {"limit": 0}):
        assert (await api.get(ME, params, token=token)).status == 422


async def test_user_heatmap(api: Api, world: World, deployment: Deployment) -> None:
    got = await api.ok(ME + "/heatmap", token=deployment.token("u-alice"))
    expected = W.heatmap(world, datetime.now(UTC), "u-alice", actual=False)
    assert_same(got["days"], expected["days"], "user heatmap")
    assert got["max_requests"] == expected["max_requests"]


async def test_user_interval_timeline(api: Api, world: World, deployment: Deployment) -> None:
    got = await api.ok(ME + "/interval-timeline", {"hours": 24, "limit": 100}, token=deployment.token("u-bob"))
    expected = W.interval_timeline(world, 24, 100, datetime.now(UTC), user_id="u-bob")
    compare_timeline(got, expected)


def compare_timeline(got: dict[str, Any], expected: dict[str, Any]) -> None:
    points, want = got.pop("points"), expected.pop("points")
    assert len(points) == len(want) and points, (len(points), len(want))
    for p, e in zip(points, want, strict=True):
        assert close(p.pop("y"), e.pop("y")), (p, e)
    assert_same(points, want, "timeline points")
    assert_same(got, expected, "timeline")


# --- cache affinity (admin) ---------------------------------------------------------------------------------
HIT_CASES = [
    (24, None, None),
    (168, None, None),
    (168, "u-alice", None),
    (168, None, "k-alice2"),
    (720, "u-alice", "k-alice1"),
    (720, "u-bob", "k-alice1"),
]


@pytest.mark.parametrize(("hours", "user_id", "key_id"), HIT_CASES)
async def test_hit_analysis(api: Api, world: World, hours: int, user_id: str | None, key_id: str | None) -> None:
    got = await api.ok(
        "/api/admin/usage/cache-affinity/hit-analysis",
        {"hours": hours, "user_id": user_id, "api_key_id": key_id},
    )
    assert_same(
        got,
        W.hit_analysis(world, hours, datetime.now(UTC), user_id, key_id),
        f"hit {hours} {user_id} {key_id}",
    )


TTL_CASES = [
    (24, None, None),
    (168, None, None),
    (168, "u-alice", None),
    (168, None, "k-alice1"),
    (168, "u-alice", "k-alice2"),
    (24, "u-bob", "k-alice2"),
]


@pytest.mark.parametrize(("hours", "user_id", "key_id"), TTL_CASES)
async def test_ttl_analysis(api: Api, world: World, hours: int, user_id: str | None, key_id: str | None) -> None:
    got = await api.ok(
        "/api/admin/usage/cache-affinity/ttl-analysis",
        {"hours": hours, "user_id": user_id, "api_key_id": key_id},
    )
    expected = W.ttl_analysis(world, hours, datetime.now(UTC), user_id, key_id)
    got_users, want_users = got.pop("users"), expected.pop("users")
    assert_same(got, expected, "ttl summary")
    assert [u["group_id"] for u in got_users] == [u["group_id"] for u in want_users]
    if user_id == "u-bob" and key_id == "k-alice2":
        assert not want_users
    for g, e in zip(got_users, want_users, strict=True):
        for name in ("avg_interval_minutes", "min_interval_minutes", "max_interval_minutes"):
            assert close(g.pop(name), e.pop(name)), (name, g, e)
        gp, ep = g.pop("percentiles"), e.pop("percentiles")
        assert all(close(gp[k], ep[k]) for k in ("p50", "p75", "p90")), (gp, ep)
        assert_same(g, e, f"ttl group {e['group_id']}")


@pytest.mark.parametrize(
    ("user_id", "include", "limit"),
    [
        (None, True, 10000),
        (None, False, 10000),
        (None, True, 100),
        (None, False, 100),
        ("u-alice", True, 100),
    ],
)
async def test_interval_timeline(api: Api, world: World, user_id: str | None, include: bool, limit: int) -> None:
    got = await api.ok(
        "/api/admin/usage/cache-affinity/interval-timeline",
        {"hours": 24, "limit": limit, "user_id": user_id, "include_user_info": include},
    )
    expected = W.interval_timeline(world, 24, limit, datetime.now(UTC), user_id, include)
    compare_timeline(got, expected)
