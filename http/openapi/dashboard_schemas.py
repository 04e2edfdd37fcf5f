"""The response schemas of `/api/dashboard/stats` and `/api/dashboard/daily-stats` (docs/reference-api.md §11)."""

from __future__ import annotations

from usagestream.http.openapi.builders import I, N, S, Schema, arr, forbid, obj, ref

CARD = obj({"name": S, "value": S, "subValue": S, "icon": S})
TODAY = obj(
    {"requests": I, "tokens": I, "cost": N, "actual_cost": N, "cache_creation_tokens": I, "cache_read_tokens": I},
    optional=("actual_cost",),
)
CACHE = obj(
    {
        "cache_creation_tokens": I,
        "cache_read_tokens": I,
        "cache_creation_cost": N,
        "cache_read_cost": N,
        "cache_hit_rate": N,
        "total_cache_tokens": I,
    }
)
COMMON = {
    "stats": arr(ref("DashboardCard")),
    "api_keys": obj({"total": I, "active": I}),
    "cache_stats": CACHE,
    "token_breakdown": obj({"input": I, "output": I, "cache_creation": I, "cache_read": I}),
}
ADMIN_STATS = obj(
    COMMON
    | {
        "today": TODAY,
        "tokens": obj({"month": I}),
        "system_health": obj(
            {"avg_response_time": N, "error_rate": N, "error_requests": I, "fallback_count": I, "total_requests": I}
        ),
        "cost_stats": obj({"total_cost": N, "total_actual_cost": N, "cost_savings": N}),
        "users": obj({"total": I, "active": I, "online": I}),
    }
)
USER_STATS = obj(COMMON | {"today": {"allOf": [TODAY, forbid("actual_cost")]}, "monthly_cost": N})
AMOUNTS = {"requests": I, "tokens": I, "cost": N}
DAY = obj(
    {
        "date": {"type": "string", "format": "date"},
        **AMOUNTS,
        "avg_response_time": N,
        "unique_models": I,
        "model_breakdown": arr(obj({"model": S, **AMOUNTS})),
        "unique_providers": I,
    },
    optional=("unique_providers",),
)
MODEL = obj({"model": S, **AMOUNTS, "avg_response_time": N, "cost_per_request": N, "tokens_per_request": N})
DAILY = obj(
    {
        "daily_stats": arr(DAY),
        "model_summary": arr(MODEL),
        "period": obj({"start_date": S, "end_date": S, "days": I}),
        "provider_summary": arr(obj({"provider": S, **AMOUNTS})),
    },
    optional=("provider_summary",),
)

DASHBOARD_SCHEMAS: dict[str, Schema] = {
    "DashboardCard": CARD,
    "DashboardStats": {"anyOf": [ADMIN_STATS, USER_STATS]},
    "DashboardDailyStats": DAILY,
}
