"""Replays every request of Aether's front end (the early-2026 and today's generation, tests/e2e/aether_frontend.json)
against the e2e deployment: the status, each parameter declared in our OpenAPI document, every field the views read
present with its type, and, where the e2e oracle recounts the answer, its values (docs/frontend-compat.md)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import e2e_world as W
import frontend_catalog as C
import pytest
from e2e_check import diff
from e2e_env import Api, Deployment
from e2e_world import World

CATALOG = C.load()
ENTRIES = {e["id"]: e for e in CATALOG["entries"]}
# The browser sits in a zone that is not the deployment's (Asia/Shanghai) and not a whole hour from UTC.
BROWSER_TZ = "Asia/Kolkata"
USER = "u-alice"  # the signed-in user of the user pages
KINDS = {"int", "number", "string", "bool", "object", "list", "json", "date", "datetime", "null", "absent"}


def history_values(world: World) -> dict[str, Any]:
    """The values the catalog's placeholders stand for, taken from the e2e history."""
    mine = sorted(i for i in world.active_ids() if world.row(i)["user_id"] == USER)
    return {
        "user_id": USER,
        "model": "claude-sonnet",
        "provider": "OpenAI",
        "api_format": "claude:chat",
        "client_family": "claude_code",
        "search": "sonnet",
        "user_search": "sonnet",
        "active_ids": ",".join(sorted(world.active_ids())),
        "user_active_ids": ",".join(mine),
        "usage_id": world.named["gpt"],
    }


@pytest.fixture(scope="module")
def openapi(deployment: Deployment) -> dict[str, Any]:
    with urllib.request.urlopen(deployment.base_url + "/api/openapi.json", timeout=10) as resp:
        document: dict[str, Any] = json.load(resp)
    return document


def undeclared(document: dict[str, Any], entry: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """The parameters the front end sends that our OpenAPI document does not declare for the path (an
    undeclared parameter is ignored by the API, so the view would get an answer to another question), except
    those Aether's own backend ignores as well."""
    operation = document["paths"].get(entry["path"], {}).get(entry["method"].lower())
    if operation is None:
        return [f"path {entry['method']} {entry['path']} not in OpenAPI"]
    names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    missing = sorted(set(params) - names - set(entry.get("aether_ignores", [])))
    return [f"parameter not in OpenAPI: {', '.join(missing)}"] if missing else []


def project(value: Any, keys: set[str]) -> Any:
    """An answer cut down to these fields."""
    if isinstance(value, list):
        return [project(v, keys) for v in value]
    return {k: v for k, v in value.items() if k in keys}


def same(got: Any, expected: Any, keys: set[str], path: str = "$") -> list[str]:
    """The differences in the fields the view reads that the oracle recounts (a field the oracle does not
    compute, such as the newer token breakdowns, is checked by type only)."""
    items = expected if isinstance(expected, list) else [expected]
    recounted = keys & {k for item in items for k in item}
    return diff(project(got, recounted), project(expected, recounted), path)


def top_keys(fields: dict[str, str], prefix: str = "") -> set[str]:
    """The names of the fields directly under `prefix` ('' for an object answer, '[].' for a list answer)."""
    return {p[len(prefix) :].split(".")[0] for p in fields if p.startswith(prefix) and "[]" not in p[len(prefix) :]}


def limit_of(params: dict[str, Any], default: int) -> int:
    return int(params.get("limit", default))


def expect_stats(
    world: World, rng: tuple[Any, Any], params: dict[str, Any], fields: dict[str, str], got: Any
) -> list[str]:
    return same(got, W.stats(world, *rng), top_keys(fields))


def expect_aggregation(
    world: World, rng: tuple[Any, Any], params: dict[str, Any], fields: dict[str, str], got: Any
) -> list[str]:
    expected = W.aggregation(world, params["group_by"], *rng, limit_of(params, 20))
    return same(got, expected, top_keys(fields, "[]."))


def expect_records(
    world: World, rng: tuple[Any, Any], params: dict[str, Any], fields: dict[str, str], got: Any
) -> list[str]:
    filters = {k: params.get(k) for k in ("search", "user_id", "model", "provider", "status")}
    rows = W.records(world, start=rng[0], end=rng[1], **filters)
    offset = int(params.get("offset", 0))
    if got.get("total_is_estimated") is True:  # today's Aether may estimate it unless include_total is set
        out = [] if got["total"] >= offset + len(got["records"]) else [f"$.total: estimate {got['total']} too low"]
    else:
        out = diff(got.get("total"), len(rows), "$.total")
    if "records" in got and params.get("total_only") is not True:  # total_only answers no records
        page = [W.record_item(world, r) for r in rows[offset : offset + limit_of(params, 100)]]
        out += same(got["records"], page, top_keys(fields, "records[]."), "$.records")
    return out


def expect_user_usage(
    world: World, rng: tuple[Any, Any], params: dict[str, Any], fields: dict[str, str], got: Any
) -> list[str]:
    expected = W.user_usage(world, USER, *rng)
    skip = {"avg_response_time", "records", "pagination", "summary_by_model", "summary_by_api_format"}
    out = same(got, expected, top_keys(fields) - skip)
    models = top_keys(fields, "summary_by_model[].")
    out += same(got["summary_by_model"], expected["summary_by_model"], models, "$.summary_by_model")
    if formats := top_keys(fields, "summary_by_api_format[]."):  # today's front end reads it
        out += same(got["summary_by_api_format"], expected["summary_by_api_format"], formats, "$.summary_by_api_format")
    search = params.get("search")
    rows = W.order(
        [
            r
            for r in world.rows()
            if r["user_id"] == USER and W.in_range(r, *rng) and W.search_match(world, r, search, False)
        ]
    )
    out += diff(got["pagination"]["total"], len(rows), "$.pagination.total")
    offset, limit = got["pagination"]["offset"], got["pagination"]["limit"]
    out += diff([r["id"] for r in got["records"]], [r["id"] for r in rows[offset : offset + limit]], "$.records[].id")
    return out


def expect_heatmap(
    world: World, rng: tuple[Any, Any], params: dict[str, Any], fields: dict[str, str], got: Any
) -> list[str]:
    admin = "days[].actual_total_cost" in fields
    expected = W.heatmap(world, datetime.now(UTC), None if admin else USER, actual=admin)
    return same(got["days"], expected["days"], top_keys(fields, "days[]."), "$.days") + diff(
        got["max_requests"], expected["max_requests"], "$.max_requests"
    )


ORACLES = {
    "stats": expect_stats,
    "aggregation": expect_aggregation,
    "records": expect_records,
    "user_usage": expect_user_usage,
    "heatmap": expect_heatmap,
}


def default_range(entry: dict[str, Any], params: dict[str, Any], world: World) -> tuple[Any, Any]:
    """No range sent: the admin reads default to the last USAGESTREAM_ADMIN_DEFAULT_DAYS (30) days."""
    if entry["path"].startswith("/api/admin/") and "start_date" not in params and "end_date" not in params:
        return world.now - timedelta(days=30), None
    return None, None


@pytest.mark.parametrize("entry_id", list(ENTRIES))
async def test_frontend_request(
    api: Api, world: World, deployment: Deployment, openapi: dict[str, Any], entry_id: str
) -> None:
    entry = ENTRIES[entry_id]
    browser = C.Browser(ZoneInfo(BROWSER_TZ), BROWSER_TZ, datetime.now(UTC))
    path, params = C.request_of(entry, history_values(world), browser)
    token = api.admin_token if entry["as"] == "admin" else deployment.token(USER)
    answer = await api.get(path, params, token=token)
    problems = undeclared(openapi, entry, params)
    if answer.status != entry["status"]:
        problems.append(f"HTTP {answer.status} (expected {entry['status']}): {answer.text[:300]}")
    else:
        fields = C.fields_of(entry, CATALOG)
        shape = C.field_problems(answer.body, fields) + C.item_count_problems(answer.body, entry.get("min_items", {}))
        problems += shape
        if "oracle" in entry and not shape:  # values are recounted once every field is there
            rng = C.oracle_range(entry, params, browser)
            if rng == (None, None):
                rng = default_range(entry, params, world)
            problems += [f"value {p}" for p in ORACLES[entry["oracle"]](world, rng, params, fields, answer.body)][:20]
    assert not problems, f"{entry['method']} {path} {params}\n" + "\n".join(problems)


def test_every_entry_names_its_source() -> None:
    """Each entry says which Aether revision and front-end file it came from, and what it asks for."""
    generations = CATALOG["generations"]
    for entry in CATALOG["entries"]:
        assert entry["generation"] in generations and len(generations[entry["generation"]]["revision"]) == 40, entry[
            "id"
        ]
        assert entry["sent_by"].startswith("frontend/src/api/") and entry["called_from"].startswith("frontend/src/"), (
            entry["id"]
        )
        assert entry["id"].startswith(entry["generation"] + "/"), entry["id"]
        kinds = {k for spec in C.fields_of(entry, CATALOG).values() for k in spec.split("|")}
        assert kinds and kinds <= KINDS, (entry["id"], kinds - KINDS)
        assert entry.get("oracle") in (None, *ORACLES), entry["id"]
        assert set(entry.get("aether_ignores", [])) <= set(entry["params"]), entry["id"]


def test_the_field_checks_flag_missing_fields_and_wrong_types() -> None:
    fields = {
        "total": "int",
        "records[].id": "string",
        "records[].cost": "number",
        "records[].tier": "string|absent",
        "records[].ended_at": "datetime|null",
        "[].x": "int",
    }
    good = {
        "total": 2,
        "records": [
            {"id": "a", "cost": 1, "ended_at": None},
            {"id": "b", "cost": Decimal("0.5"), "tier": "x", "ended_at": "2026-02-03T00:00:00+00:00"},
        ],
    }
    assert C.field_problems(good, {k: v for k, v in fields.items() if not k.startswith("[]")}) == []
    bad = {"total": "2", "records": [{"id": "a", "cost": 1.5, "tier": None, "ended_at": "2026-02-03"}, {"cost": True}]}
    assert C.field_problems(bad, {k: v for k, v in fields.items() if not k.startswith("[]")}) == [
        "field records[].cost: expected number, got bool True, float 1.5",
        "field records[].ended_at: expected datetime|null, got str '2026-02-03'",
        "field records[].tier: expected string|absent, got NoneType None",
        "field total: expected int, got str '2'",
        "missing field records[].ended_at",
        "missing field records[].id",
    ]
    assert C.field_problems([{"x": 1}, {}], {"[].x": "int"}) == ["missing field $[].x"]
    assert C.item_count_problems({"records": []}, {"records": 1}) == [
        "records: 0 items, the e2e history has at least 1"
    ]
