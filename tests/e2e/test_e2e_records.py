"""/records (every filter, search, paging order, deleted users, renamed providers) and /{usage_id} detail,
against recounts of the published events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import e2e_world as W
import pytest
from e2e_check import assert_same
from e2e_env import Api
from e2e_world import LONG_KEY_NAME, LONG_MODEL, World, parse_ts

ALL = {"start_date": datetime(2000, 1, 1, tzinfo=UTC), "end_date": datetime(2100, 1, 1, tzinfo=UTC)}
RECORDS = "/api/admin/usage/records"


async def check_records(api: Api, world: World, params: dict[str, Any], what: str, **filters: Any) -> int:
    got = await api.ok(RECORDS, {**params, "limit": 500})
    expected = W.records(world, **filters)
    assert got["total"] == len(expected), (what, got["total"], len(expected))
    assert [r["id"] for r in got["records"]] == [r["id"] for r in expected], what
    assert_same(got["records"], [W.record_item(world, r) for r in expected], what)
    return len(expected)


async def test_every_record_field_over_all_time(api: Api, world: World) -> None:
    n = await check_records(api, world, ALL, "all records", start=ALL["start_date"], end=ALL["end_date"])
    assert n == len(world.usage)


async def test_implicit_30_days_and_odd_edges(api: Api, world: World) -> None:
    await check_records(api, world, {}, "default 30 days", start=world.now - timedelta(days=30))
    tie = parse_ts(world.usage[world.named["tie_a"]]["created_at"])
    dave = parse_ts(world.usage[world.named["dave"]]["created_at"])
    await check_records(api, world, {"start_date": tie, "end_date": dave}, "inclusive edges", start=tie, end=dave)
    odd_start, odd_end = tie + timedelta(microseconds=1), dave - timedelta(microseconds=1)
    n = await check_records(
        api,
        world,
        {"start_date": odd_start, "end_date": odd_end},
        "exclusive by 1 µs",
        start=odd_start,
        end=odd_end,
    )
    assert n == len(W.records(world, start=tie, end=dave)) - 3  # both tie records and dave's fall out


async def test_paging_is_created_at_desc_then_id_desc(api: Api, world: World) -> None:
    expected = [r["id"] for r in W.records(world, **{"start": ALL["start_date"], "end": ALL["end_date"]})]
    seen: list[str] = []
    for offset in range(0, len(expected) + 40, 40):
        page = await api.ok(RECORDS, {**ALL, "limit": 40, "offset": offset})
        assert page["limit"] == 40 and page["offset"] == offset and page["total"] == len(expected)
        seen += [r["id"] for r in page["records"]]
    assert seen == expected
    a, b = world.named["tie_a"], world.named["tie_b"]
    assert seen.index(b) == seen.index(a) - 1  # same created_at: the larger id first


@pytest.mark.parametrize("status", list(W.STATUS))
async def test_status_filters(api: Api, world: World, status: str) -> None:
    n = await check_records(api, world, {**ALL, "status": status}, f"status={status}", status=status)
    assert n > 0, status


async def test_unknown_status_is_422(api: Api) -> None:
    answer = await api.get(RECORDS, {"status": "bogus"})
    assert answer.status == 422 and answer.body["error"]["type"]


async def test_user_username_model_provider_filters(api: Api, world: World) -> None:
    cases: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
        ({"user_id": "u-alice"}, {"user_id": "u-alice"}, True),
        (
            {"user_id": "u-dave"},
            {"user_id": "u-dave"},
            True,
        ),  # a deleted user's requests stay, shown as deleted
        ({"username": "ALICE"}, {"username": "ALICE"}, True),
        ({"username": "b%p"}, {"username": "b%p"}, True),  # % is literal
        ({"username": "b_p"}, {"username": "b_p"}, False),  # _ is literal too
        ({"username": "dave"}, {"username": "dave"}, False),
        ({"model": "claude-sonnet"}, {"model": "claude-sonnet"}, True),
        ({"model": "claude"}, {"model": "claude"}, False),  # exact
        ({"provider": "Anthropic"}, {"provider": "Anthropic"}, True),  # current name
        ({"provider": "Anthropic Old"}, {"provider": "Anthropic Old"}, False),
        ({"provider": "Vanished"}, {"provider": "Vanished"}, False),  # no provider entity
        (
            {"provider": "OpenAI", "status": "failed", "user_id": "u-bob"},
            {"provider": "OpenAI", "status": "failed", "user_id": "u-bob"},
            True,
        ),
    ]
    for params, filters, nonempty in cases:
        n = await check_records(api, world, {**ALL, **params}, str(params), start=ALL["start_date"], **filters)
        assert (n > 0) == nonempty, (params, n)


SEARCHES = [
    ("alice", True),
    ("ALICE_W", True),
    ("laptop", True),
    ("ci_bot", True),
    ("sonnet", True),
    ("anthropic", True),
    ("old", False),
    ("anthropic old", False),
    ("gemini_100%", True),
    ("100%", True),
    ("%", True),
    ("_", True),
    ("x%y", True),
    ("x_y", False),
    ("bob%", True),
    ("alice sonnet", True),
    ("  alice   laptop  ", True),
    ("a a a a a a a a a a nomatch", True),  # at most 10 keywords: the 11th is ignored
    ("nomatch a a a a a a a a a", False),
    (LONG_MODEL[:100] + "zzzz", True),  # keywords are cut to 100
    ("a" * 99 + "%", True),  # the escape pair cut at 100 characters drops its backslash: 99 a's remain
    ("vanished", False),
    ("dave", True),
    ("已删除用户", False),
    ("\\", False),
]


@pytest.mark.parametrize(("search", "nonempty"), SEARCHES)
async def test_search(api: Api, world: World, search: str, nonempty: bool) -> None:
    n = await check_records(
        api, world, {**ALL, "search": search}, f"search={search!r}", start=ALL["start_date"], search=search
    )
    assert (n > 0) == nonempty, (search, n)


async def test_deleted_user_key_and_renamed_provider(api: Api, world: World) -> None:
    got = {r["id"]: r for r in (await api.ok(RECORDS, {**ALL, "limit": 500}))["records"]}
    dave = got[world.named["dave"]]
    assert (dave["user_id"], dave["username"], dave["user_email"]) == (None, "已删除用户", "已删除用户")
    assert got[world.named["old_key"]]["api_key"] is None
    assert got[world.named["tiered"]]["provider"] == "Anthropic"
    assert got[world.named["long_key"]]["api_key"]["name"] == LONG_KEY_NAME
    assert got[world.named["no_format"]]["api_format"] == "claude:chat"  # from the endpoint


async def test_detail_by_id_and_request_id(api: Api, world: World) -> None:
    names = [
        "dave",
        "old_key",
        "tiered",
        "global_priced",
        "gpt",
        "unknown",
        "no_format",
        "video",
        "tie_a",
        "tie_b",
        "edge",
        "edge_fallback",
        "stale_pending",
        "stale_streaming",
        "odd_model",
        "long_model",
    ]
    ids = [world.named[n] for n in names] + sorted(world.usage)[:20]
    for rid in ids:
        expected = W.detail(world, world.row(rid))
        assert_same(await api.ok(f"/api/admin/usage/{rid}"), expected, f"detail {rid}")
    for name in ("tiered", "stale_pending"):
        row = world.row(world.named[name])
        assert_same(await api.ok(f"/api/admin/usage/{row['request_id']}"), W.detail(world, row), "by request_id")
    answer = await api.get("/api/admin/usage/no-such-usage-id")
    assert answer.status == 404
    assert answer.body == {"error": {"type": "http_error", "message": "Usage record not found"}}


async def test_detail_pricing_and_names(api: Api, world: World) -> None:
    tiered = await api.ok(f"/api/admin/usage/{world.named['tiered']}")
    assert tiered["provider"] == "Anthropic Old"  # raw provider_name, not re-resolved
    tp = tiered["tiered_pricing"]
    assert (tp["source"], tp["tier_index"], tp["tier_count"], tp["total_input_context"]) == (
        "provider",
        1,
        2,
        2200,
    )
    glob = await api.ok(f"/api/admin/usage/{world.named['global_priced']}")
    assert glob["tiered_pricing"]["source"] == "global"
    assert (await api.ok(f"/api/admin/usage/{world.named['unknown']}"))["tiered_pricing"] is None
    dave = await api.ok(f"/api/admin/usage/{world.named['dave']}")
    assert dave["user"] == {"id": None, "username": "Unknown", "email": None}
