"""ReadStore record answers (records, user records, detail, active rows) and the cache-affinity analyses,
against a plain-Python recount of the seeded rows."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from test_pg_reads_seed import NOW, TIERS, CountingPool, Ctx, World, ctx_fixture, seeded_fixture  # noqa: F401 (fixtures)

from usagestream.http.shape.reads import ShapedReads
from usagestream.materializer.read.records import ESTIMATE, ONLY, RecordQuery
from usagestream.materializer.read.sql import search_patterns

pytestmark = pytest.mark.integration

Row = dict[str, Any]
DELETED = "已删除用户"


# --- plain recount helpers --------------------------------------------------------------------------------
def keyword_text(kw: str) -> str:
    """What a keyword matches after the reference's escape and 100-character cut, unescaped again."""
    esc = kw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if len(esc) > 100:
        esc = esc[:100]
        if (len(esc) - len(esc.rstrip("\\"))) % 2:
            esc = esc[:-1]
    out, i = [], 0
    while i < len(esc):
        if esc[i] == "\\" and i + 1 < len(esc):
            i += 1
        out.append(esc[i])
        i += 1
    return "".join(out)


def names_of(w: World, u: Row, admin: bool) -> list[str]:
    key = w.keys.get(u["api_key_id"] or "")
    names = [u["model"], key["name"] if key and key["name"] is not None else None]
    if admin:
        user = w.users.get(u["user_id"] or "")
        names += [user["username"] if user else None, w.providers.get(u["provider_id"] or "")]
    return [n.lower() for n in names if n is not None]


def matches_search(w: World, u: Row, search: str | None, admin: bool) -> bool:
    if not search:
        return True
    names = names_of(w, u, admin)
    return all(any(keyword_text(kw).lower() in n for n in names) for kw in search.strip().split()[:10])


def is_error(u: Row) -> bool:
    return (u["status_code"] is not None and u["status_code"] >= 400) or u["error_message"] is not None


STATUS = {
    "stream": lambda u: u["is_stream"],
    "standard": lambda u: not u["is_stream"],
    "error": is_error,
    "pending": lambda u: u["status"] == "pending",
    "streaming": lambda u: u["status"] == "streaming",
    "completed": lambda u: u["status"] == "completed",
    "cancelled": lambda u: u["status"] == "cancelled",
    "failed": lambda u: u["status"] == "failed" or is_error(u),
    "active": lambda u: u["status"] in ("pending", "streaming"),
}
ATTEMPT_STATUSES = ("has_fallback", "has_retry")  # today's Aether's: by the record's attempt flags


def newest_first(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda u: (u["created_at"], u["id"]), reverse=True)


def flags(w: World, usage_id: str) -> Row:
    done = [c for c in w.candidates if c["usage_id"] == usage_id and c["status"] in ("success", "failed")]
    per_index = Counter(c["candidate_index"] for c in done)
    return {
        "has_fallback": len(per_index) > 1,
        "has_retry": any(n > 1 for n in per_index.values()) or any(c["retry_index"] > 0 for c in done),
        "has_rectified": any((c["extra_data"] or {}).get("rectified") is True for c in done),
    }


def formats(w: World, u: Row) -> tuple[Any, Any]:
    ep = w.endpoints.get(u["provider_endpoint_id"] or "")
    return u["api_format"] or ep, u["endpoint_api_format"] or ep


def conversion(u: Row, api_format: Any, ep_format: Any) -> bool | None:
    """The one has_format_conversion of every surface (docs/contract-notes.md), recounted for the seed's formats."""
    if u["has_format_conversion"] is not None:
        return bool(u["has_format_conversion"])
    if not api_format or not ep_format:
        return None
    if ":" in api_format and ":" in ep_format:
        data = {"claude:chat": "c", "claude:cli": "c", "openai:chat": "oc", "openai:cli": "or"}
        a, b = api_format.lower(), ep_format.lower()
        return not (a == b or data.get(a, 1) == data.get(b, 2))
    return bool(api_format.upper() != ep_format.upper())


def effective_input(u: Row, api_format: Any, ep_format: Any) -> int:
    """Today's Aether's effective input, recounted: OpenAI and Gemini formats (the endpoint's first) hold the
    cache reads inside input_tokens, so they come off (floored at 0); other formats keep the input."""
    family = str(ep_format or api_format or "").split(":")[0].strip().lower()
    inside = family in ("openai", "gemini", "google")
    return max(u["input_tokens"] - u["cache_read_input_tokens"], 0) if inside else u["input_tokens"]


UNKNOWN_SPLIT = dict.fromkeys(("cache_creation_ephemeral_5m_input_tokens", "cache_creation_ephemeral_1h_input_tokens"))
UNKNOWN_STREAM = dict.fromkeys(("upstream_is_stream", "client_requested_stream", "client_is_stream"))


def key_obj(w: World, key_id: str | None) -> Row | None:
    k = w.keys.get(key_id or "")
    return {"id": key_id, "name": k["name"], "display": k["display"]} if k else None


PRICES = (
    "input_price_per_1m",
    "output_price_per_1m",
    "cache_creation_price_per_1m",
    "cache_read_price_per_1m",
)


def expected_record(w: World, u: Row) -> Row:
    user = w.users.get(u["user_id"] or "")
    api_format, ep_format = formats(w, u)
    return {
        "id": u["id"],
        "user_id": u["user_id"] if user else None,
        "user_email": user["email"] if user else DELETED,
        "username": user["username"] if user else DELETED,
        "api_key": key_obj(w, u["api_key_id"]),
        "provider": w.providers.get(u["provider_id"] or "", u["provider_name"]),
        "model": u["model"],
        "target_model": u["target_model"],
        **{
            k: u[k]
            for k in (
                "input_tokens",
                "output_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "total_tokens",
            )
        },
        "cost": u["total_cost_usd"],
        "actual_cost": u["actual_total_cost_usd"],
        "rate_multiplier": u["rate_multiplier"] if u["rate_multiplier"] is not None else Decimal(1),
        "response_time_ms": u["response_time_ms"],
        "first_byte_time_ms": u["first_byte_time_ms"],
        "created_at": u["created_at"].isoformat(),
        "is_stream": u["is_stream"],
        **{k: u[k] for k in PRICES},
        "status_code": u["status_code"],
        "error_message": u["error_message"],
        "status": u["status"],
        **flags(w, u["id"]),
        "api_format": api_format,
        "endpoint_api_format": ep_format,
        "has_format_conversion": conversion(u, api_format, ep_format),
        "api_key_name": w.upstream.get(u["provider_api_key_id"] or ""),
        "request_metadata": u["request_metadata"],
        "effective_input_tokens": effective_input(u, api_format, ep_format),
        **UNKNOWN_SPLIT,
        **UNKNOWN_STREAM,
        "provider_key_name": w.upstream.get(u["provider_api_key_id"] or ""),
        "model_version": None,
    }


def select(w: World, start: datetime | None, end: datetime | None, **f: Any) -> list[Row]:
    out = []
    for u in w.usage:
        user = w.users.get(u["user_id"] or "")
        if (start and u["created_at"] < start) or (end and u["created_at"] > end):
            continue
        if not matches_search(w, u, f.get("search"), admin=True):
            continue
        if f.get("user_id") and u["user_id"] != f["user_id"]:
            continue
        if f.get("username") is not None and not (user and f["username"].lower() in user["username"].lower()):
            continue
        if f.get("model") and u["model"] != f["model"]:
            continue
        if f.get("provider") and w.providers.get(u["provider_id"] or "") != f["provider"]:
            continue
        if f.get("status") in ATTEMPT_STATUSES and not flags(w, u["id"])[f["status"]]:
            continue
        if f.get("status") in STATUS and not STATUS[f["status"]](u):
            continue
        if f.get("api_format") is not None and u["api_format"] != f["api_format"]:
            continue
        placeholders = ("unknown", "unknow")
        known = (u["model"] or "").strip().lower() not in placeholders
        known = known and (u["provider_name"] or "").strip().lower() not in placeholders
        if f.get("hide_unknown") and not known:
            continue
        out.append(u)
    return newest_first(out)


async def records(
    ctx: Ctx,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
    **f: Any,
) -> Row:
    return await ctx.store.records(RecordQuery(start=start, end=end, **f), limit, offset)


def expected_page(w: World, rows: list[Row], limit: int, offset: int) -> Row:
    return {
        "records": [expected_record(w, u) for u in rows[offset : offset + limit]],
        "total": len(rows),
        "limit": limit,
        "offset": offset,
        "total_is_estimated": False,
    }


# --- records ------------------------------------------------------------------------------------------------
SEARCHES = [
    "a",
    "ALICE",
    "%",
    "_",
    "50%",
    "car%l",
    "b_x",
    "\\",
    "gpt 4o",
    "gpt-4o anthropic",
    "anthropic_x",
    "old-name",
    "old-",
    "Deleted",
    "gone",
    "orphan",
    "  key   main ",
    "x" * 120,
    "%" * 60 + "z",
    "\\" * 70,
    " ".join(["a"] * 10 + ["nomatch"]),
    "nomatch",
    "openai gpt-4o",
    "1.5%",
]


@pytest.mark.parametrize("search", SEARCHES)
async def test_records_search(ctx: Ctx, search: str) -> None:
    got = await records(ctx, search=search)
    assert got == expected_page(ctx.world, select(ctx.world, None, None, search=search), 500, 0)


@pytest.mark.parametrize("branches", [0, 24], ids=["scan", "merged"])
@pytest.mark.parametrize("search", ["a", "gpt", "alice", "key main", "nomatch"])
@pytest.mark.parametrize(("limit", "offset"), [(5, 0), (7, 9)])
@pytest.mark.parametrize("bounds", [(None, None), (NOW - timedelta(days=2, seconds=7), NOW - timedelta(minutes=3))])
async def test_records_search_pages_and_totals(
    ctx: Ctx,
    monkeypatch: pytest.MonkeyPatch,
    branches: int,
    search: str,
    limit: int,
    offset: int,
    bounds: tuple[datetime | None, datetime | None],
) -> None:
    """A search page merged from per-value branches or read in time order, and its total from the aggregates
    (one matched column) or counted over the records, are the same as a plain recount."""
    from usagestream.materializer.read import records as pg_reads_records

    monkeypatch.setattr(pg_reads_records, "MAX_BRANCHES", branches)
    start, end = bounds
    got = await records(ctx, start, end, limit=limit, offset=offset, search=search)
    assert got == expected_page(ctx.world, select(ctx.world, start, end, search=search), limit, offset)


FILTERS: list[dict[str, Any]] = [
    {"user_id": "u0"},
    {"user_id": "u6"},
    {"username": "a"},
    {"username": "%"},
    {"username": "B_X"},
    {"model": "gpt-4o"},
    {"model": "gpt"},
    {"provider": "Anthropic_X"},
    {"provider": "old-Anthropic_X"},
    {"provider": "Deleted Prov"},
    *({"status": s} for s in STATUS),
    *({"status": s} for s in ATTEMPT_STATUSES),
    {"status": "has_fallback", "user_id": "u0"},
    {"status": "has_retry", "model": "gpt-4o"},
    {"status": "failed", "model": "claude-3"},
    {"search": "a", "status": "completed", "provider": "OpenAI-Main"},
    {"api_format": "claude:chat"},
    {"api_format": "CLAUDE"},
    {"api_format": "claude"},  # exact, as Aether compares: no record
    {"api_format": "openai:chat", "model": "gpt-4o"},
    {"api_format": "openai:cli", "search": "a"},
    {"api_format": "claude:chat", "user_id": "u0"},
    {"hide_unknown": True},
    {"hide_unknown": True, "model": "gpt-4o", "search": "a"},
]


@pytest.mark.parametrize("f", FILTERS)
@pytest.mark.parametrize(
    "bounds",
    [
        (None, None),
        (NOW - timedelta(days=2, seconds=7), NOW),
        (NOW - timedelta(days=20), NOW - timedelta(days=1)),
    ],
)
async def test_records_filters(ctx: Ctx, f: dict[str, Any], bounds: tuple[datetime | None, datetime | None]) -> None:
    start, end = bounds
    got = await records(ctx, start, end, **f)
    assert got == expected_page(ctx.world, select(ctx.world, start, end, **f), 500, 0)


def test_the_seed_has_records_with_and_without_each_attempt_flag(ctx: Ctx) -> None:
    for status in ATTEMPT_STATUSES:
        assert 0 < len(select(ctx.world, None, None, status=status)) < len(ctx.world.usage), status


@pytest.mark.parametrize("f", [{}, {"api_format": "claude:chat"}, {"user_id": "u0", "status": "completed"}])
@pytest.mark.parametrize(("limit", "offset"), [(7, 0), (7, 7), (500, 0), (5, 10000)])
async def test_records_total_only_and_estimated(ctx: Ctx, f: dict[str, Any], limit: int, offset: int) -> None:
    """total_only: the exact total and no record; include_total=false: the page, and a total of offset + its
    rows (+ 1 when the page is full), marked estimated, as Aether answers."""
    rows = select(ctx.world, None, None, **f)
    only = await ctx.store.records(RecordQuery(**f), limit, offset, ONLY)
    assert only == {"records": [], "total": len(rows), "limit": limit, "offset": offset, "total_is_estimated": False}
    est = await ctx.store.records(RecordQuery(**f), limit, offset, ESTIMATE)
    exact = expected_page(ctx.world, rows, limit, offset)
    assert est["records"] == exact["records"] and est["total_is_estimated"] is True
    page = len(exact["records"])
    assert est["total"] == offset + page + (1 if page == limit else 0)


async def test_records_unknown_status_is_rejected(ctx: Ctx) -> None:
    with pytest.raises(ValueError):
        await records(ctx, status="bogus")


@pytest.mark.parametrize(("limit", "offset"), [(7, 0), (7, 7), (13, 290), (100, 300), (5, 1000)])
async def test_records_pagination(ctx: Ctx, limit: int, offset: int) -> None:
    got = await records(ctx, limit=limit, offset=offset)
    assert got == expected_page(ctx.world, select(ctx.world, None, None), limit, offset)


async def test_records_ties_broken_by_id(ctx: Ctx) -> None:
    got = await records(ctx)
    keys = [(r["created_at"], r["id"]) for r in got["records"]]
    assert keys == sorted(keys, reverse=True)
    assert len({r["created_at"] for r in got["records"]}) < len(keys)  # the seed has equal timestamps


# --- user records -------------------------------------------------------------------------------------------
def expected_user_record(w: World, u: Row) -> Row:
    api_format, ep_format = formats(w, u)
    return {
        "id": u["id"],
        "model": u["model"],
        "target_model": None,
        "api_format": api_format,
        "endpoint_api_format": ep_format,
        "has_format_conversion": bool(conversion(u, api_format, ep_format)),
        "input_tokens": u["input_tokens"],
        "output_tokens": u["output_tokens"],
        "total_tokens": u["total_tokens"],
        "cost": u["total_cost_usd"],
        "response_time_ms": u["response_time_ms"],
        "first_byte_time_ms": u["first_byte_time_ms"],
        "is_stream": u["is_stream"],
        "status": u["status"],
        "created_at": u["created_at"].isoformat(),
        "cache_creation_input_tokens": u["cache_creation_input_tokens"],
        "cache_read_input_tokens": u["cache_read_input_tokens"],
        "status_code": u["status_code"],
        "error_message": u["error_message"],
        **{k: u[k] for k in PRICES},
        "api_key": key_obj(w, u["api_key_id"]),
        "effective_input_tokens": effective_input(u, api_format, ep_format),
        **UNKNOWN_SPLIT,
        **UNKNOWN_STREAM,
        **dict.fromkeys(("client_family", "client_ip", "user_agent")),
        "has_fallback": flags(w, u["id"])["has_fallback"],
    }


@pytest.mark.parametrize("search", [None, "key", "TEST_", "gpt", "main gpt", "%", "alice"])
@pytest.mark.parametrize(("limit", "offset"), [(5, 0), (200, 0), (4, 8)])
async def test_user_records(ctx: Ctx, search: str | None, limit: int, offset: int) -> None:
    start, end = NOW - timedelta(days=25, seconds=3), NOW
    got = await ctx.store.user_usage("u0", start, end, search, limit, offset)
    mine = newest_first(
        [
            u
            for u in ctx.world.usage
            if u["user_id"] == "u0"
            and start <= u["created_at"] <= end
            and matches_search(ctx.world, u, search, admin=False)
        ]
    )
    assert got["pagination"] == {
        "total": len(mine),
        "limit": limit,
        "offset": offset,
        "has_more": offset + limit < len(mine),
    }
    assert got["records"] == [expected_user_record(ctx.world, u) for u in mine[offset : offset + limit]]


# --- detail and active --------------------------------------------------------------------------------------
def expected_detail(w: World, u: Row) -> Row:
    api_format, ep_format = formats(w, u)
    user = w.users.get(u["user_id"] or "")
    key = w.keys.get(u["api_key_id"] or "")
    pricing: tuple[Any, str] | None = None
    if u["provider_id"] == "p0" and u["model"] == "gpt-4o":
        pricing = (TIERS, "provider")
    elif u["provider_id"] is not None and u["model"] == "claude-3":
        pricing = (TIERS, "global")
    tiered = None
    if pricing:
        ctx_tokens = u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
        index = 0 if ctx_tokens <= 1000 else 1
        tiered = {
            "total_input_context": ctx_tokens,
            "tier_index": index,
            "tier_count": 2,
            "current_tier": TIERS["tiers"][index],
            "tiers": TIERS["tiers"],
            "source": pricing[1],
        }
    video = None
    if u["request_type"] == "video":
        video = {
            "task_type": "video",
            "rule_name": "r",
            "expression": None,
            "status": None,
            "cost": 1.5,
            "duration_seconds": 4,
        }
    return {
        "id": u["id"],
        "request_id": u["request_id"],
        "user": {
            "id": u["user_id"] if user else None,
            "username": user["username"] if user else "Unknown",
            "email": user["email"] if user else None,
        },
        "api_key": {
            "id": u["api_key_id"] if key else None,
            "name": key["name"] if key else None,
            "display": key["display"] if key else None,
        },
        "provider": u["provider_name"],
        "api_format": u["api_format"],
        "model": u["model"],
        "target_model": u["target_model"],
        "tokens": {"input": u["input_tokens"], "output": u["output_tokens"], "total": u["total_tokens"]},
        "cost": {"input": u["input_cost_usd"], "output": u["output_cost_usd"], "total": u["total_cost_usd"]},
        "cache_creation_input_tokens": u["cache_creation_input_tokens"],
        "cache_read_input_tokens": u["cache_read_input_tokens"],
        "cache_creation_cost": u["cache_creation_cost_usd"],
        "cache_read_cost": u["cache_read_cost_usd"],
        "request_cost": u["request_cost_usd"],
        **{k: u[k] for k in PRICES},
        "price_per_request": u["price_per_request"],
        "request_type": u["request_type"],
        "is_stream": u["is_stream"],
        "status_code": u["status_code"],
        "error_message": u["error_message"],
        "response_time_ms": u["response_time_ms"],
        "first_byte_time_ms": u["first_byte_time_ms"],
        "created_at": u["created_at"].isoformat(),
        "request_headers": {"x": "1"},
        "request_body": {"messages": []},
        "provider_request_headers": None,
        "response_headers": None,
        "client_response_headers": None,
        "response_body": None,
        "metadata": u["request_metadata"],
        "tiered_pricing": tiered,
        "video_billing": video,
        "status": u["status"],
        "input_tokens": u["input_tokens"],
        "output_tokens": u["output_tokens"],
        "endpoint_api_format": ep_format,
        "effective_input_tokens": effective_input(u, api_format, ep_format),
        **UNKNOWN_SPLIT,
        **UNKNOWN_STREAM,
        **dict.fromkeys(("provider_request_body", "client_response_body")),
        **dict.fromkeys(("routing", "body_capture", "settlement", "trace")),
        "has_request_body": True,
        "has_provider_request_body": False,
        "has_response_body": False,
        "has_client_response_body": False,
    }


async def test_detail_by_id_and_request_id(ctx: Ctx) -> None:
    w = ctx.world
    for u in w.usage:
        assert await ctx.store.detail(u["id"]) == expected_detail(w, u)
    by_request: dict[str, list[Row]] = defaultdict(list)
    for u in w.usage:
        by_request[u["request_id"]].append(u)
    assert any(len(v) > 1 for v in by_request.values())
    for request_id, rows in by_request.items():
        assert await ctx.store.detail(request_id) == expected_detail(w, newest_first(rows)[0])
    assert await ctx.store.detail("no-such-id") is None


async def test_detail_without_bodies(ctx: Ctx) -> None:
    """include_bodies=false: the bodies null, their has_*_body flags as with them, everything else the same."""
    for u in ctx.world.usage[:20]:
        want = {**expected_detail(ctx.world, u), "request_body": None, "response_body": None}
        assert await ctx.store.detail(u["id"], include_bodies=False) == want


async def test_effective_input_differs_from_input_in_the_seed(ctx: Ctx) -> None:
    """The oracle's effective input is tested on records where it is not the input (OpenAI with cache reads)."""
    w = ctx.world
    assert any(effective_input(u, *formats(w, u)) != u["input_tokens"] > 0 for u in w.usage)
    assert any(
        effective_input(u, *formats(w, u)) == u["input_tokens"] > 0 < u["cache_read_input_tokens"] for u in w.usage
    )


async def test_attempt_flags(ctx: Ctx) -> None:
    """The flags of the /active items and the user's records: those of the records' flags, by executed attempts."""
    w = ctx.world
    ids = [u["id"] for u in w.usage]
    got = await ctx.store.attempt_flags(ids + ["unknown-id"])
    executed = {c["usage_id"] for c in w.candidates if c["status"] in ("success", "failed")}
    assert got == {i: flags(w, i) for i in ids if i in executed}
    assert any(f["has_fallback"] for f in got.values()) and not all(f["has_fallback"] for f in got.values())


async def test_active_records(ctx: Ctx) -> None:
    w = ctx.world
    ids = [u["id"] for u in w.usage[:40]] + ["unknown-id"]
    for user_id in (None, "u0"):
        got = {r["id"]: r for r in await ctx.store.active_records(ids, user_id)}
        want = [u for u in w.usage[:40] if user_id is None or u["user_id"] == user_id]
        assert set(got) == {u["id"] for u in want}
        for u in want:
            r = got[u["id"]]
            assert r["status"] == u["status"] and r["total_cost_usd"] == u["total_cost_usd"]
            assert r["provider_name"] == u["provider_name"]
            assert r["api_key_name"] == w.upstream.get(u["provider_api_key_id"] or "")
            assert r["created_at"] == u["created_at"].isoformat()
    assert await ctx.store.active_records([], None) == []


# --- cache affinity -----------------------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    if lo + 1 >= len(sorted_values):
        return sorted_values[lo]
    return sorted_values[lo] + (pos - lo) * (sorted_values[lo + 1] - sorted_values[lo])


def intervals(rows: list[Row]) -> list[tuple[Row, float]]:
    rows = sorted(rows, key=lambda u: (u["created_at"], u["id"]))
    return [(b, (b["created_at"] - a["created_at"]).total_seconds() / 60) for a, b in zip(rows, rows[1:], strict=False)]


def r2(x: float) -> float | None:
    return round(x, 2) if x else None


def expected_ttl_group(w: World, gid: str, ms: list[float], by_user: bool) -> Row:
    ms_sorted = sorted(ms)
    n = len(ms)
    bands = {
        "within_5min": sum(m <= 5 for m in ms),
        "within_15min": sum(5 < m <= 15 for m in ms),
        "within_30min": sum(15 < m <= 30 for m in ms),
        "within_60min": sum(30 < m <= 60 for m in ms),
        "over_60min": sum(m > 60 for m in ms),
    }
    p50, p75, p90 = (percentile(ms_sorted, q) for q in (0.5, 0.75, 0.9))
    if p90 <= 5:
        ttl, reason = 5, f"高频用户：90% 的请求间隔在 {p90:.1f} 分钟内"
    elif p75 <= 15:
        ttl, reason = 15, f"中高频用户：75% 的请求间隔在 {p75:.1f} 分钟内"
    elif p75 <= 30:
        ttl, reason = 30, f"中频用户：75% 的请求间隔在 {p75:.1f} 分钟内"
    else:
        ttl, reason = 60, f"低频用户：75% 的请求间隔为 {p75:.1f} 分钟，建议使用长 TTL"
    user = w.users.get(gid) if by_user else None
    return {
        "group_id": gid,
        "username": user["username"] if user else None,
        "email": (user["email"] or "") if user else None,
        "request_count": n,
        "interval_distribution": bands,
        "interval_percentages": {k: round(v / n * 100, 1) for k, v in bands.items()},
        "percentiles": {"p50": r2(p50), "p75": r2(p75), "p90": r2(p90)},
        "avg_interval_minutes": r2(sum(ms) / n),
        "min_interval_minutes": r2(min(ms)),
        "max_interval_minutes": r2(max(ms)),
        "recommended_ttl_minutes": ttl,
        "recommendation_reason": reason,
    }


def expected_ttl(w: World, user_id: str | None, key_id: str | None, hours: int) -> Row:
    field = "api_key_id" if key_id is not None else "user_id"
    since = NOW - timedelta(hours=hours)
    rows = [
        u
        for u in w.usage
        if u["status"] == "completed"
        and u["created_at"] > since
        and u[field] is not None
        and (user_id is None or u["user_id"] == user_id)
        and (key_id is None or u["api_key_id"] == key_id)
    ]
    groups: dict[str, list[Row]] = defaultdict(list)
    for u in rows:
        groups[u[field]].append(u)
    items = [
        expected_ttl_group(w, g, [m for _, m in intervals(v)], key_id is None) for g, v in groups.items() if len(v) >= 3
    ]
    items.sort(key=lambda i: (-i["request_count"], i["group_id"]))
    dist = {"5min": 0, "15min": 0, "30min": 0, "60min": 0}
    for i in items:
        dist[f"{i['recommended_ttl_minutes']}min"] += 1
    return {
        "analysis_period_hours": hours,
        "total_users_analyzed": len(items),
        "ttl_distribution": dist,
        "users": items,
    }


@pytest.mark.parametrize("hours", [2, 48, 720])
@pytest.mark.parametrize(("user_id", "key_id"), [(None, None), ("u0", None), (None, "k0"), ("u0", "k0"), ("u1", "k0")])
async def test_ttl_analysis(ctx: Ctx, hours: int, user_id: str | None, key_id: str | None) -> None:
    got = await ctx.store.ttl_analysis(user_id, key_id, hours, NOW)
    assert got == expected_ttl(ctx.world, user_id, key_id, hours)


def expected_timeline(w: World, hours: int, limit: int, user_id: str | None, info: bool) -> Row:
    since = NOW - timedelta(hours=hours)
    multi = info and user_id is None
    rows = [
        u
        for u in w.usage
        if u["status"] == "completed"
        and u["created_at"] > since
        and u["user_id"] is not None
        and (user_id is None or u["user_id"] == user_id)
    ]
    per_user: dict[str, list[Row]] = defaultdict(list)
    for u in rows:
        per_user[u["user_id"]].append(u)
    pts = [(u, m) for v in per_user.values() for u, m in intervals(v) if m <= 120]
    order = lambda p: (p[0]["created_at"], p[0]["id"])  # noqa: E731
    if multi:
        total, kept = len(pts), []
        for uid in per_user:
            mine = sorted((p for p in pts if p[0]["user_id"] == uid), key=order)
            keep = len(mine) if total <= limit else max(-(-len(mine) * limit // total), 1)
            kept += mine[len(mine) - keep :]
    else:
        kept = sorted(pts, key=order)[-limit:]
    kept.sort(key=order)
    points = []
    for u, m in kept:
        p: Row = {"x": u["created_at"].isoformat(), "y": round(m, 2)}
        if multi:
            p["user_id"] = u["user_id"]
        p["model"] = u["model"]
        points.append(p)
    out: Row = {"analysis_period_hours": hours, "total_points": len(points), "points": points}
    if multi:
        out["users"] = {u["user_id"]: w.users[u["user_id"]]["username"] for u, _ in kept if u["user_id"] in w.users}
    if points:
        out["models"] = sorted({p["model"] for p in points})
    return out


@pytest.mark.parametrize(("hours", "limit"), [(24, 10000), (48, 3), (720, 10), (720, 100000), (1, 100)])
@pytest.mark.parametrize(("user_id", "info"), [(None, True), (None, False), ("u0", True), ("u3", False)])
async def test_interval_timeline(ctx: Ctx, hours: int, limit: int, user_id: str | None, info: bool) -> None:
    got = await ctx.store.interval_timeline(hours, limit, user_id, info, NOW)
    want = expected_timeline(ctx.world, hours, limit, user_id, info)
    if "users" in got:
        assert list(got["users"]) == sorted(got["users"])
        got["users"] = dict(got["users"])
    assert got == want


async def test_entities(ctx: Ctx) -> None:
    assert (await ctx.store.user_by_id("u0") or {})["used_usd"] == Decimal("1.25")
    assert await ctx.store.user_by_id("u6") is None and await ctx.store.user_by_id("u7") is None
    assert await ctx.store.provider_key_names(["pk0", "pk1", "pk9"]) == {"pk0": "upA", "pk1": "upB"}
    assert await ctx.store.management_token("ab" * 32) is None


def test_search_patterns() -> None:
    assert search_patterns("  a%b   c_d  e\\f ") == ["%a\\%b%", "%c\\_d%", "%e\\\\f%"]
    assert search_patterns(" ".join(str(i) for i in range(12))) == [f"%{i}%" for i in range(10)]
    assert search_patterns("\\" * 70) == ["%" + "\\" * 100 + "%"]
    assert search_patterns("a" + "%" * 60) == ["%a" + "\\%" * 49 + "%"]  # never ends inside an escape pair
    assert search_patterns("") == [] and search_patterns(None) == []


# --- round trips ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", [{}, {"model": "gpt-4o"}, {"user_id": "u0", "status": "completed"}])
async def test_a_records_page_is_read_in_two_statements(ctx: Ctx, f: dict[str, Any]) -> None:
    """A page with its total, entity names and attempt flags, outside a transaction (round trips are much of a
    first page's time at 10 M: docs/benchmarks.md): with its total from the aggregates, the range's extent (read
    once per store), then the page with its names, total and flags in one statement; with its total counted over
    the records, the page with its names and total, then the flags, again in a transaction (plan context, page,
    flags) only if another session's transaction ended between the two."""
    counting = CountingPool(ctx.store.pool)
    store = ShapedReads(counting, ctx.store.settings)  # type: ignore[arg-type]
    got = await store.records(RecordQuery(**f), 7, 3)
    assert got == expected_page(ctx.world, select(ctx.world, None, None, **f), 7, 3)
    if "status" not in f:
        assert got["records"] and counting.sent == 2
    else:  # counted over the records: no plan, no extent
        assert got["records"] and counting.sent == (2 if counting.one_snapshot() else 2 + 2)
