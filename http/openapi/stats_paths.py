"""The OpenAPI operations and response schemas of `/api/admin/stats/*` (docs/reference-api.md §10), merged into
the document by http/openapi/document.py."""

from __future__ import annotations

from typing import Any

from usagestream.day_ranges import OFFSET_BOUNDS, PRESETS
from usagestream.http.openapi.builders import B, I, N, S, Schema, arr, null, obj, ref

STATS = "/api/admin/stats"
TEXT: Schema = {"type": "string", "pattern": "^[^\\x00]*$"}
DATE_DOC = "a local date (YYYY-MM-DD) of the zone; both dates or neither"
ZONE = [
    {"name": "timezone", "in": "query", "schema": {"type": "string"}, "description": "IANA zone of the days"},
    {
        "name": "tz_offset_minutes",
        "in": "query",
        "schema": {"type": "integer", "minimum": OFFSET_BOUNDS[0], "maximum": OFFSET_BOUNDS[1]},
        "description": "a fixed UTC offset, when no timezone is given (default: USAGESTREAM_TIMEZONE)",
    },
]


def q(name: str, schema: Schema, doc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": doc}


def num(name: str, default: int, lo: int, hi: int) -> dict[str, Any]:
    return q(name, {"type": "integer", "default": default, "minimum": lo, "maximum": hi}, f"{lo}..{hi}")


RANGE = [
    q("start_date", {"type": "string", "format": "date"}, DATE_DOC),
    q("end_date", {"type": "string", "format": "date"}, DATE_DOC),
    q("preset", {"type": "string", "enum": list(PRESETS)}, "instead of the dates"),
    *ZONE,
]
FILTERS = [q("user_id", TEXT, "only this user"), q("model", TEXT, "only this model"), q("provider_name", TEXT, "")]
BOARD = [
    *RANGE,
    q("metric", {"type": "string", "enum": ["requests", "tokens", "cost"]}, "default requests"),
    q("order", {"type": "string", "enum": ["desc", "asc"]}, "default desc"),
    num("limit", 10, 1, 100),
    q("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}, "default 0"),
    *FILTERS,
]
FLAGS = [q("include_inactive", {"type": "boolean"}, ""), q("exclude_admin", {"type": "boolean"}, "")]


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def op(summary: str, schema: str, params: list[dict[str, Any]], **errors: str) -> Schema:
    """A GET of the family: admin only, Aether's 400 for a refused parameter."""
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": ref(schema)}}},
        "400": _error("a parameter Aether refuses (its message)"),
        "401": _error("missing, malformed, expired or unknown token"),
        "403": _error("not an admin, or the user is inactive or deleted"),
        "503": _error("PostgreSQL is unavailable"),
    }
    responses.update({code.removeprefix("s"): _error(text) for code, text in errors.items()})
    return {"summary": summary, "parameters": params, "responses": responses, "security": [{"bearerAuth": []}]}


def stats_paths() -> dict[str, Schema]:
    series = [q("granularity", {"type": "string", "enum": ["day", "hour", "week", "month"]}, "default day")]
    table = {
        "time-series": op(
            "Buckets of one filtered scope (at most 90 days)", "StatsTimeSeries", [*RANGE, *series, *FILTERS]
        ),
        "leaderboard/users": op("Users ranked (dense rank)", "StatsLeaderboard", [*BOARD, *FLAGS]),
        "leaderboard/api-keys": op("API keys ranked (dense rank)", "StatsLeaderboard", [*BOARD, *FLAGS]),
        "leaderboard/models": op("Models ranked (dense rank)", "StatsLeaderboard", BOARD),
        "leaderboard/user-groups": op(
            "User groups ranked: none exist in the contract",
            "StatsLeaderboard",
            [*BOARD, q("user_group_id", TEXT, "")],
            s404="User group not found",
        ),
        "cost/forecast": op(
            "Daily cost and a least-squares forecast",
            "StatsForecast",
            [*RANGE, num("days", 30, 7, 365), num("forecast_days", 7, 1, 90)],
        ),
        "cost/savings": op("Prompt-cache savings", "StatsSavings", [*RANGE, *FILTERS[1:]]),
        "comparison": op(
            "Totals of a range and of the period or year before",
            "StatsComparison",
            [
                {**q("current_start", {"type": "string", "format": "date"}, "required"), "required": True},
                {**q("current_end", {"type": "string", "format": "date"}, "required"), "required": True},
                q("comparison_type", {"type": "string", "enum": ["period", "year"]}, "default period"),
                *ZONE,
            ],
        ),
        "errors/distribution": op("Errors by category (none in the contract)", "StatsErrorDistribution", RANGE),
        "performance/percentiles": op("Daily response-time percentiles", "StatsPercentiles", RANGE),
        "providers/quota-usage": op("Provider quotas (none in the contract)", "StatsQuotaUsage", []),
        "performance/providers": op(
            "Per provider: requests, success rate, output speed, first-byte and response times (from the records)",
            "StatsProviderPerformance",
            [
                *RANGE,
                q("granularity", {"type": "string", "enum": ["day", "hour"]}, "default day"),
                num("limit", 8, 1, 20),
                num("slow_threshold_ms", 10_000, 1, 600_000),
                q("provider_id", TEXT, ""),
                q("model", TEXT, ""),
                q("api_format", TEXT, ""),
                q("is_stream", {"type": "boolean"}, ""),
                q("has_format_conversion", {"type": "boolean"}, ""),
            ],
        ),
    }
    return {f"{STATS}/{path}": {"get": operation} for path, operation in table.items()}


MONEY_POINT = {"date": S, "total_cost": N}
POINT = obj(
    {
        "date": S,
        "total_requests": I,
        "input_tokens": I,
        "output_tokens": I,
        "cache_creation_tokens": I,
        "cache_read_tokens": I,
        "total_cost": N,
        "avg_response_time_ms": N,
    },
    optional=("avg_response_time_ms",),
)
BOARD_ITEM = obj({"rank": I, "id": S, "name": S, "value": N, "requests": I, "tokens": I, "cost": N})
TOTALS = {
    k: N
    for k in (
        "total_requests",
        "total_tokens",
        "total_cost",
        "actual_total_cost",
        "avg_response_time_ms",
        "error_requests",
    )
}
PERCENTILE_FIELDS = [f"p{p}_{what}_time_ms" for what in ("response", "first_byte") for p in (50, 90, 99)]
PERF_COMMON = {
    "avg_output_tps": null(N),
    "avg_first_byte_time_ms": null(N),
    "avg_response_time_ms": null(N),
    "slow_request_count": I,
    "success_rate": N,
}
PERF_DETAIL = {
    **PERF_COMMON,
    **{f"p{p}_{what}_time_ms": null(I) for what in ("response", "first_byte") for p in (90, 99)},
    **{f"{what}_sample_count": I for what in ("tps", "response_time", "first_byte")},
}
PROVIDER_PERFORMANCE = obj(
    {
        "summary": obj({"request_count": I, **PERF_DETAIL}),
        "providers": arr(
            obj(
                {
                    "provider_id": S,
                    "provider": S,
                    "request_count": I,
                    "success_count": I,
                    "error_count": I,
                    "output_tokens": I,
                    **PERF_DETAIL,
                }
            )
        ),
        "timeline": arr(
            obj({"date": S, "provider_id": S, "provider": S, "request_count": I, "output_tokens": I, **PERF_COMMON})
        ),
        "usage_counter": {"type": "null"},
    }
)
STATS_SCHEMAS: dict[str, Schema] = {
    "StatsProviderPerformance": PROVIDER_PERFORMANCE,
    "StatsTimeSeries": arr(POINT),
    "StatsLeaderboard": obj(
        {"items": arr(BOARD_ITEM), "total": I, "metric": S, "start_date": null(S), "end_date": null(S)}
    ),
    "StatsForecast": obj(
        {
            "history": arr(obj(MONEY_POINT)),
            "forecast": arr(obj(MONEY_POINT)),
            "slope": N,
            "intercept": N,
            "start_date": S,
            "end_date": S,
        }
    ),
    "StatsSavings": obj(
        {
            k: N
            for k in (
                "cache_read_tokens",
                "cache_read_cost",
                "cache_creation_cost",
                "estimated_full_cost",
                "cache_savings",
            )
        }
    ),
    "StatsComparison": obj(
        {
            "current": obj(TOTALS),
            "comparison": obj(TOTALS),
            "change_percent": obj({k: null(N) for k in TOTALS}),
            **{k: S for k in ("current_start", "current_end", "comparison_start", "comparison_end")},
        }
    ),
    "StatsErrorDistribution": obj(
        {
            "distribution": arr(obj({"category": S, "count": I})),
            "trend": arr(obj({"date": S, "total": I, "categories": {"type": "object", "additionalProperties": I}})),
        }
    ),
    "StatsPercentiles": arr(obj({"date": S, **{f: null(I) for f in PERCENTILE_FIELDS}})),
    "StatsQuotaUsage": obj({"providers": arr({"type": "object"}), "data_source_available": B}),
}
