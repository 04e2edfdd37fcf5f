"""The OpenAPI 3.1 document of every endpoint, served at `/api/openapi.json` (and checked by schemathesis)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from usagestream.http.jsonio import json_response
from usagestream.http.openapi.builders import Schema, ref
from usagestream.http.openapi.dashboard_schemas import DASHBOARD_SCHEMAS
from usagestream.http.openapi.schemas import SCHEMAS
from usagestream.http.openapi.stats_paths import STATS_SCHEMAS, stats_paths
from usagestream.http.params import GROUP_BY, MAX_OFFSET, RECORD_STATUSES
from usagestream.local_days import PRESETS
from usagestream.materializer.read.timeseries import ADMIN_GROUPS, USER_GROUPS
from usagestream.timeseries import GRANULARITIES

ADMIN, USER = "/api/admin/usage", "/api/users/me/usage"
TEXT: Schema = {"type": "string", "pattern": "^[^\\x00]*$"}  # NUL is refused (422)
DATETIME_DOC = (
    "ISO 8601 datetime, inclusive (without an offset it is taken as UTC); or a date YYYY-MM-DD: that whole"
    " local day of `timezone` / `tz_offset_minutes` (default USAGESTREAM_TIMEZONE). With two dates: start <="
    " end, at most 365 days apart (400)."
)


def q(name: str, schema: Schema, doc: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": doc}


def num(name: str, default: int, lo: int, hi: int | None = None) -> dict[str, Any]:
    schema: Schema = {"type": "integer", "default": default, "minimum": lo}
    if hi is not None:
        schema["maximum"] = hi
    return q(name, schema, f"default {default}, {lo}..{hi if hi is not None else ''}")


DATE_OR_TIME: Schema = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}
ZONE = [
    q(
        "timezone",
        {"type": "string", "examples": ["Asia/Kolkata", "America/New_York"]},
        "IANA zone of the local days (wins over tz_offset_minutes; unknown: tz_offset_minutes, else 400)",
    ),
    q(
        "tz_offset_minutes",
        {"type": "integer", "minimum": -MAX_OFFSET, "maximum": MAX_OFFSET},
        "minutes east of UTC (the browser's -getTimezoneOffset()), when `timezone` is absent",
    ),
]
RANGE = [
    q("start_date", DATE_OR_TIME, DATETIME_DOC),
    q("end_date", DATE_OR_TIME, DATETIME_DOC),
    q(
        "preset",
        {"type": "string", "enum": list(PRESETS)},
        "whole local days ending today (this_week: from Monday); not with start_date or end_date (400)",
    ),
    *ZONE,
]
RANGE_400 = (
    "a range Aether refuses: preset with a date, an unknown preset, start after end, more than 365 days, a bad"
    " date, timezone or tz_offset_minutes (docs/reference-api.md §2.5)"
)
ADMIN_RANGE_DOC = " When both dates are omitted the range is the last USAGESTREAM_ADMIN_DEFAULT_DAYS days."
HOURS_168 = num("hours", 168, 1, 720)
ANALYSIS = [q("user_id", TEXT, "only this user"), q("api_key_id", TEXT, "only this API key"), HOURS_168]
IDS = q("ids", TEXT, "comma-separated usage ids (any status); blank after trimming -> no requests")
WS_TOKEN = q("access_token", TEXT, "the bearer token, for clients that cannot set headers")
WS_DOC = (
    'Websocket. First `{"type":"snapshot","requests":[...]}` (items as in /active), then '
    '`{"type":"upsert","request":{...}}` and `{"type":"remove","id":...,"status":...}`. '
    "A client that cannot keep up is closed with code 1013 and should reconnect. The feed is closed with code "
    "1008 (reason: the message REST would answer) once its credential would be refused: at the token's expiry, "
    "or within USAGESTREAM_FEED_RECHECK_S of the user's deactivation, deletion or loss of the admin role, or of "
    "the management token's revocation."
)
RECORDS_PARAMS = [
    *RANGE,
    q("search", TEXT, "whitespace-separated keywords (at most 10), all must match"),
    q("user_id", TEXT, "exact user id"),
    q("username", TEXT, "username substring"),
    q("model", TEXT, "exact model"),
    q("provider", TEXT, "exact current provider name"),
    q("status", {"type": "string", "enum": list(RECORD_STATUSES)}, "request class or status"),
    q("api_format", TEXT, "exact client API format (e.g. openai:chat); empty: no filter"),
    q("hide_unknown", {"type": "boolean", "default": False}, "true: no record whose model or provider is unknown"),
    q("hide_unknown_records", {"type": "boolean", "default": False}, "the same as hide_unknown"),
    num("limit", 100, 1, 500),
    num("offset", 0, 0),
    q("include_total", {"type": "boolean", "default": True}, "false: `total` estimated from the page"),
    q("total_only", {"type": "boolean", "default": False}, "true: no records, only the exact `total`"),
]


# Today's Aether's client filter: the contract carries no client family, so a non-blank value matches no record.
CLIENT_FAMILY = q("client_family", TEXT, "the calling client's family: unknown for every record, so no record")


TS_DOC = (
    "Usage over time: per bucket of `granularity` in the zone `tz`, the /stats counters (every request, active"
    " ones included) for the whole scope; grouped, what /aggregation/stats counts for each of the top `limit`"
    " groups (finished requests that reached a provider for model and api_format; executed attempts and served"
    " requests' tokens for provider; every request for user and api_key), ranked as it ranks them, plus"
    " `__other__` (the rest the grouping counts). Buckets are exact: aligned parts from the aggregates, the range's cut"
    " ends recounted from the records. 422 when the answer would exceed 10,000 buckets or 100,000 points,"
    " or a bucket would start off the UTC 15-minute grid (historical offsets). See docs/api.md."
)


def timeseries_params(groups: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        *RANGE,
        q("granularity", {"type": "string", "enum": list(GRANULARITIES), "default": "hour"}, "bucket size"),
        q("group_by", {"type": "string", "enum": ["none", *groups]}, "one series per group (default none)"),
        num("limit", 10, 1, 100),
        q(
            "tz",
            {"type": "string", "examples": ["UTC", "Asia/Kolkata"]},
            "IANA time zone of the buckets (default USAGESTREAM_TIMEZONE)",
        ),
    ]


def timeseries_op(summary: str, groups: tuple[str, ...]) -> Schema:
    operation = op(summary, "Timeseries", timeseries_params(groups), s400=RANGE_400)
    operation["description"] = TS_DOC
    return operation


EXPORT_DOC = (
    "A download (Content-Disposition: attachment) of the same rows the JSON path gives, for the same parameters:"
    " `format=csv` (RFC 4180, a header row, CRLF; nested objects as `parent.field` columns; a text cell starting"
    " with = + - @ tab or CR prefixed with a single quote) or `format=jsonl` (one JSON object per line). Records"
    ' stream from a server-side cursor, every matching record (no limit or offset). See docs/api.md "Exports".'
)
EXPORTS_BUSY = "too many record exports running in this API process; retry later"
EXPORT_FORMAT = q("format", {"type": "string", "enum": ["csv", "jsonl"], "default": "csv"}, "csv or jsonl")


def export_op(summary: str, params: list[dict[str, Any]], **errors: str) -> Schema:
    """An export: the parameters of its JSON path (no paging) plus `format`; the body is text, not JSON."""
    paging = ("limit", "offset", "include_total", "total_only")
    kept = [p for p in params if p["name"] not in paging] if "records" in summary else params
    operation = op(summary, "Error", [*kept, EXPORT_FORMAT])
    for code, doc in errors.items():
        operation["responses"][code.removeprefix("s")] = _error(doc)
    text = {"schema": {"type": "string"}}
    operation["responses"]["200"] = {
        "description": "the rows",
        "content": {"text/csv": text, "application/x-ndjson": text},
    }
    operation["description"] = EXPORT_DOC
    return operation


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def op(summary: str, schema: str, params: list[dict[str, Any]], *, auth: bool = True, **errors: str) -> Schema:
    """One GET operation. `errors` maps extra status codes ("s400", ...) to their descriptions."""
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": ref(schema)}}}}
    if auth:
        responses["401"] = _error("missing, malformed, expired or unknown token")
        responses["403"] = _error("user inactive or deleted, role not allowed, or IP not allowed")
    if params:
        responses["422"] = _error("a parameter is out of bounds or unparseable")
    for code, text in errors.items():
        responses[code.removeprefix("s")] = _error(text)
    responses["503"] = _error("PostgreSQL or Redis is unavailable")
    out: Schema = {"summary": summary, "parameters": params, "responses": responses}
    out["security"] = [{"bearerAuth": []}] if auth else []
    return out


def websocket(summary: str) -> Schema:
    operation = op(summary, "Error", [WS_TOKEN], s400="not a websocket upgrade request")
    operation["description"] = WS_DOC
    operation["responses"]["101"] = {"description": "switching to the websocket protocol"}
    del operation["responses"]["200"]
    return operation


DASH_DATE: Schema = {"type": "string", "format": "date"}
DASH_400 = (
    "a range Aether's dashboard refuses: only one of start_date / end_date, a bound that is not a date, days out"
    " of bounds, or " + RANGE_400
)


def dashboard_params(max_days: int) -> list[dict[str, Any]]:
    """The dashboard's range (docs/reference-api.md §11.3): a preset, two dates, or the last `days` days."""
    dates = "a local date YYYY-MM-DD; with the other one, both required (400)"
    return [
        q("start_date", DASH_DATE, dates),
        q("end_date", DASH_DATE, dates),
        *RANGE[2:],
        q("days", {"type": "integer", "minimum": 1, "maximum": max_days}, "the last N local days ending today"),
    ]


def dashboard_paths() -> dict[str, Schema]:
    who = " An admin sees every request; anyone else only their own."
    return {
        "/api/dashboard/stats": op(
            "Aether's home page cards: the range (default this month), today, and for an admin the last"
            " minute's rate and the users." + who,
            "DashboardStats",
            dashboard_params(365),
            s400=DASH_400,
        ),
        "/api/dashboard/daily-stats": op(
            "Per local day of the range (default the last 7 days): totals, models, and for an admin providers." + who,
            "DashboardDailyStats",
            dashboard_params(30),
            s400=DASH_400,
        ),
    }


def paths() -> dict[str, Any]:
    group = q("group_by", {"type": "string", "enum": list(GROUP_BY)}, "dimension", required=True)
    table = {
        f"{ADMIN}/stats": op(
            "Overall totals." + ADMIN_RANGE_DOC,
            "Stats",
            [
                *RANGE,
                q("user_id", TEXT, "only this user (empty: no filter)"),
                q("model", TEXT, "only this exact model (empty: no filter)"),
                q("provider", TEXT, "only this exact current provider name (empty: no filter)"),
            ],
            s400=RANGE_400,
        ),
        f"{ADMIN}/aggregation/stats": op(
            "Top groups by request count." + ADMIN_RANGE_DOC,
            "Aggregation",
            [group, *RANGE, num("limit", 20, 1, 100)],
            s400="invalid group_by, or " + RANGE_400,
        ),
        f"{ADMIN}/heatmap": op("365 local days of activity, all users", "Heatmap", ZONE, s400=RANGE_400),
        f"{ADMIN}/timeseries": timeseries_op("Usage over time, every user's requests." + ADMIN_RANGE_DOC, ADMIN_GROUPS),
        f"{ADMIN}/records": op(
            "Paged request log." + ADMIN_RANGE_DOC,
            "Records",
            [*RECORDS_PARAMS, CLIENT_FAMILY],
            s400=RANGE_400,
        ),
        f"{ADMIN}/export/records": export_op(
            "Every matching record (the /records filters) as a download." + ADMIN_RANGE_DOC,
            RECORDS_PARAMS,
            s400=RANGE_400,
            s429=EXPORTS_BUSY,
        ),
        f"{ADMIN}/export/aggregation": export_op(
            "An aggregation as a download." + ADMIN_RANGE_DOC,
            [group, *RANGE, num("limit", 20, 1, 100)],
            s400="invalid group_by, or " + RANGE_400,
        ),
        f"{ADMIN}/export/timeseries": export_op(
            "A time series as a download, one row per series and bucket." + ADMIN_RANGE_DOC,
            timeseries_params(ADMIN_GROUPS),
            s400=RANGE_400,
        ),
        f"{ADMIN}/active": op("Status of the given or the 50 newest active requests", "AdminActive", [IDS]),
        f"{ADMIN}/active/ws": websocket("Live feed of active requests, all users"),
        f"{ADMIN}/cache-affinity/ttl-analysis": op("Request intervals, recommended TTL", "TtlAnalysis", ANALYSIS),
        f"{ADMIN}/cache-affinity/hit-analysis": op("Prompt-cache hit rates", "HitAnalysis", ANALYSIS),
        f"{ADMIN}/cache-affinity/interval-timeline": op(
            "Intervals between a user's completed requests",
            "IntervalTimeline",
            [
                num("hours", 24, 1, 720),
                num("limit", 10000, 100, 50000),
                q("user_id", TEXT, "only this user"),
                q("include_user_info", {"type": "boolean", "default": False}, "multi-user view"),
            ],
        ),
        f"{ADMIN}/{{usage_id}}": op(
            "One request in full, by usage id or request id",
            "Detail",
            [
                {"name": "usage_id", "in": "path", "required": True, "schema": {"type": "string"}},
                q("include_bodies", {"type": "boolean", "default": True}, "false: the bodies are null"),
            ],
            s404="Usage record not found",
        ),
        f"{ADMIN}/{{usage_id}}/curl": op(
            "Today's Aether's curl command of a request: never served (the contract carries no upstream URL)",
            "Error",
            [{"name": "usage_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            s404="always: no curl command can be built from what the contract carries",
        ),
        USER: op(
            "The caller's usage summary and records",
            "UserUsage",
            [
                *RANGE,
                q("search", TEXT, "keywords over key name and model"),
                num("limit", 100, 1, 200),
                num("offset", 0, 0, 2000),
            ],
            s400=RANGE_400,
        ),
        f"{USER}/active": op("The caller's given or newest 50 active requests", "UserActive", [IDS]),
        f"{USER}/active/ws": websocket("Live feed of the caller's active requests"),
        f"{USER}/timeseries": timeseries_op(
            "The caller's usage over time (group_by user or provider: 403)", USER_GROUPS
        ),
        f"{USER}/export/records": export_op(
            "The caller's records (the /api/users/me/usage filters) as a download",
            [*RANGE, q("search", TEXT, "keywords over key name and model")],
            s400=RANGE_400,
            s429=EXPORTS_BUSY,
        ),
        f"{USER}/export/timeseries": export_op(
            "The caller's time series as a download (group_by user or provider: 403)",
            timeseries_params(USER_GROUPS),
            s400=RANGE_400,
        ),
        f"{USER}/heatmap": op("365 local days of the caller's activity", "Heatmap", ZONE, s400=RANGE_400),
        f"{USER}/interval-timeline": op(
            "The caller's request intervals",
            "IntervalTimeline",
            [num("hours", 24, 1, 720), num("limit", 5000, 100, 20000)],
        ),
        **dashboard_paths(),
        "/health": op("The process is up", "Health", [], auth=False),
        "/ready": op("Kafka, Redis and PostgreSQL are reachable (503 if not)", "Ready", [], auth=False),
    }
    del table[f"{ADMIN}/{{usage_id}}/curl"]["responses"]["200"]  # never answered
    table["/ready"]["responses"]["503"] = {
        "description": "a dependency is down",
        "content": {"application/json": {"schema": ref("Ready")}},
    }
    return {**{path: {"get": operation} for path, operation in table.items()}, **stats_paths()}


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "usagestream read API",
            "version": "1",
            "description": "Errors: {error: {type, message}}; money is an exact JSON number.",
        },
        "paths": paths(),
        "components": {
            "schemas": {**SCHEMAS, **STATS_SCHEMAS, **DASHBOARD_SCHEMAS},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "HS256 JWT or `ae_` management token"}
            },
        },
    }


async def serve(_request: web.Request) -> web.StreamResponse:
    return json_response(document())
