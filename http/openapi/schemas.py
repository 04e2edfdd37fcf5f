"""The response schemas of the OpenAPI document, as docs/reference-api.md §3 and §4 give them."""

from __future__ import annotations

from usagestream.http.openapi.builders import ANY, B, I, N, S, Schema, all_of, arr, forbid, null, obj, ref

NS, NI, NN, NB = null(S), null(I), null(N), null(B)
TOKENS = {k: I for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}
PRICES = {f"{k}_price_per_1m": NN for k in ("input", "output", "cache_creation", "cache_read")}
API_KEY = obj({"id": NS, "name": NS, "display": NS})
NOT_FOR_USERS = ("provider", "provider_id", "api_key_name", "provider_key_name", "user_email", "username")
# Today's Aether's fields (docs/reference-api.md §9.3): the effective input, and null where the contract has nothing.
NEWER_TOKENS = {
    "effective_input_tokens": I,
    "cache_creation_ephemeral_5m_input_tokens": NI,
    "cache_creation_ephemeral_1h_input_tokens": NI,
}
STREAM_FLAGS = {k: NB for k in ("upstream_is_stream", "client_requested_stream", "client_is_stream")}
CLIENT = {k: NS for k in ("client_family", "client_ip", "user_agent")}
INTERVALS = ("within_5min", "within_15min", "within_30min", "within_60min", "over_60min")

ERROR = obj({"error": obj({"type": S, "message": S})})
STATS = obj(
    {
        "total_requests": I,
        "total_tokens": I,
        "total_cost": N,
        "total_actual_cost": N,
        "avg_response_time": N,
        "error_count": I,
        "error_rate": N,
        "cache_stats": obj(
            {"cache_creation_tokens": I, "cache_read_tokens": I, "cache_creation_cost": N, "cache_read_cost": N}
        ),
    }
)
# Today's Aether's token breakdown of an aggregation item or a user summary row (docs/reference-api.md §9.3).
AGG_TOKENS = {
    "output_tokens": I,
    "cache_creation_tokens": I,
    "cache_read_tokens": I,
    "effective_input_tokens": I,
    "total_input_context": I,
    "cache_hit_rate": N,
}
AGG_MODEL = obj({"model": S, "request_count": I, "total_tokens": I, "total_cost": N, "actual_cost": N, **AGG_TOKENS})
AGG_USER = obj({"user_id": S, "email": NS, "username": NS, "request_count": I, "total_tokens": I, "total_cost": N})
AGG_PROVIDER = obj(
    {
        "provider_id": S,
        "provider": S,
        "request_count": I,
        "total_tokens": I,
        "total_cost": N,
        "actual_cost": N,
        "avg_response_time_ms": N,
        "success_rate": N,
        "error_count": I,
        **AGG_TOKENS,
    }
)
AGG_FORMAT = obj(
    {
        "api_format": S,
        "request_count": I,
        "total_tokens": I,
        "total_cost": N,
        "actual_cost": N,
        "avg_response_time_ms": N,
        **AGG_TOKENS,
    }
)
AGGREGATION = arr(
    {
        "anyOf": [
            ref("AggregationByModel"),
            ref("AggregationByUser"),
            ref("AggregationByProvider"),
            ref("AggregationByApiFormat"),
        ]
    }
)
DAY = obj(
    {"date": S, "requests": I, "total_tokens": I, "total_cost": N, "actual_total_cost": N},
    optional=("actual_total_cost",),
)
HEATMAP = obj({"start_date": S, "end_date": S, "total_days": I, "active_days": I, "max_requests": I, "days": arr(DAY)})
RECORD = obj(
    {
        "id": S,
        "user_id": NS,
        "user_email": NS,
        "username": NS,
        "api_key": null(API_KEY),
        "provider": NS,
        "model": S,
        "target_model": NS,
        **TOKENS,
        "total_tokens": I,
        "cost": N,
        "actual_cost": N,
        "rate_multiplier": N,
        "response_time_ms": NI,
        "first_byte_time_ms": NI,
        "created_at": S,
        "is_stream": B,
        **PRICES,
        "status_code": NI,
        "error_message": NS,
        "status": S,
        "has_fallback": B,
        "has_retry": B,
        "has_rectified": B,
        "api_format": NS,
        "endpoint_api_format": NS,
        "has_format_conversion": NB,
        "api_key_name": NS,
        "request_metadata": ANY,
        **NEWER_TOKENS,
        **STREAM_FLAGS,
        "provider_key_name": NS,
        "model_version": NS,
    }
)
RECORDS = obj({"records": arr(ref("Record")), "total": I, "limit": I, "offset": I})
ACTIVE_ITEM = obj(
    {
        "id": S,
        "status": S,
        **TOKENS,
        "cost": N,
        "actual_cost": NN,
        "rate_multiplier": NN,
        "response_time_ms": NI,
        "first_byte_time_ms": NI,
        "api_format": S,
        "endpoint_api_format": S,
        "has_format_conversion": NB,
        **NEWER_TOKENS,
        "updated_at": NS,
        "response_time_updated_at": NS,
        "status_code": NI,
        "error_message": NS,
        "is_stream": NB,
        **STREAM_FLAGS,
        **CLIENT,
        "has_fallback": NB,
    },
    optional=("api_format", "endpoint_api_format"),
)
ADMIN_ACTIVE_ITEM = all_of(ACTIVE_ITEM, obj({"provider": NS, "api_key_name": NS, "provider_key_name": NS}))
USER_ACTIVE_ITEM = all_of(ACTIVE_ITEM, forbid(*NOT_FOR_USERS))
DETAIL = obj(
    {
        "id": S,
        "request_id": S,
        "user": obj({"id": NS, "username": S, "email": NS}),
        "api_key": API_KEY,
        "provider": NS,
        "api_format": NS,
        "model": S,
        "target_model": NS,
        "tokens": obj({"input": I, "output": I, "total": I}),
        "cost": obj({"input": N, "output": N, "total": N}),
        "cache_creation_input_tokens": I,
        "cache_read_input_tokens": I,
        "cache_creation_cost": N,
        "cache_read_cost": N,
        "request_cost": N,
        **PRICES,
        "price_per_request": NN,
        "request_type": NS,
        "is_stream": B,
        "status_code": NI,
        "error_message": NS,
        "response_time_ms": NI,
        "first_byte_time_ms": NI,
        "created_at": NS,
        "request_headers": ANY,
        "request_body": ANY,
        "provider_request_headers": ANY,
        "response_headers": ANY,
        "client_response_headers": ANY,
        "response_body": ANY,
        "metadata": ANY,
        "tiered_pricing": null({"type": "object"}),
        "video_billing": null({"type": "object"}),
        "status": S,
        "input_tokens": I,
        "output_tokens": I,
        "endpoint_api_format": NS,
        **NEWER_TOKENS,
        **STREAM_FLAGS,
        "provider_request_body": ANY,
        "client_response_body": ANY,
        **{f"has_{k}_body": B for k in ("request", "provider_request", "response", "client_response")},
        **{k: null({"type": "object"}) for k in ("routing", "body_capture", "settlement", "trace")},
    }
)
TTL_USER = obj(
    {
        "group_id": S,
        "username": NS,
        "email": NS,
        "request_count": I,
        "interval_distribution": obj({k: I for k in INTERVALS}),
        "interval_percentages": obj({k: N for k in INTERVALS}),
        "percentiles": obj({"p50": NN, "p75": NN, "p90": NN}),
        "avg_interval_minutes": NN,
        "min_interval_minutes": NN,
        "max_interval_minutes": NN,
        "recommended_ttl_minutes": {"enum": [5, 15, 30, 60]},
        "recommendation_reason": S,
    }
)
TTL = obj(
    {
        "analysis_period_hours": I,
        "total_users_analyzed": I,
        "ttl_distribution": obj({k: I for k in ("5min", "15min", "30min", "60min")}),
        "users": arr(TTL_USER),
    }
)
HIT = obj(
    {
        "analysis_period_hours": I,
        "total_requests": I,
        "requests_with_cache_hit": I,
        "request_cache_hit_rate": N,
        "total_input_tokens": I,
        "total_cache_read_tokens": I,
        "total_cache_creation_tokens": I,
        "token_cache_hit_rate": N,
        "total_cache_read_cost_usd": N,
        "total_cache_creation_cost_usd": N,
        "estimated_savings_usd": N,
    }
)
POINT = obj({"x": S, "y": N, "user_id": S, "model": S}, optional=("user_id", "model"))
TIMELINE = obj(
    {
        "analysis_period_hours": I,
        "total_points": I,
        "points": arr(POINT),
        "users": {"type": "object", "additionalProperties": S},
        "models": arr(S),
    },
    optional=("users", "models"),
)
USER_RECORD = all_of(
    obj(
        {
            "id": S,
            "model": S,
            "target_model": NS,
            "api_format": NS,
            "endpoint_api_format": NS,
            "has_format_conversion": NB,
            "input_tokens": I,
            "output_tokens": I,
            "total_tokens": I,
            "cost": N,
            "response_time_ms": NI,
            "first_byte_time_ms": NI,
            "is_stream": B,
            "status": S,
            "created_at": S,
            "cache_creation_input_tokens": I,
            "cache_read_input_tokens": I,
            "status_code": NI,
            "error_message": NS,
            **PRICES,
            "api_key": null(API_KEY),
            **NEWER_TOKENS,
            **STREAM_FLAGS,
            **CLIENT,
            "has_fallback": B,
            "actual_cost": N,
            "rate_multiplier": N,
        },
        optional=("actual_cost", "rate_multiplier"),
    ),
    forbid(*NOT_FOR_USERS, "user_id"),
)
MODEL_SUMMARY = obj(
    {
        "model": S,
        "requests": I,
        "input_tokens": I,
        "output_tokens": I,
        "total_tokens": I,
        "total_cost_usd": N,
        "actual_total_cost_usd": N,
        **AGG_TOKENS,
    },
    optional=("actual_total_cost_usd",),
)
FORMAT_SUMMARY = obj(
    {
        "api_format": S,
        "request_count": I,
        "total_tokens": I,
        "total_cost_usd": N,
        "avg_response_time_ms": N,
        **AGG_TOKENS,
    }
)
USER_USAGE = obj(
    {
        "total_requests": I,
        "total_input_tokens": I,
        "total_output_tokens": I,
        "total_tokens": I,
        "total_cost": N,
        "avg_response_time": N,
        "quota_usd": NN,
        "used_usd": NN,
        "summary_by_model": arr(MODEL_SUMMARY),
        "summary_by_api_format": arr(FORMAT_SUMMARY),
        "pagination": obj({"total": I, "limit": I, "offset": I, "has_more": B}),
        "records": arr(ref("UserRecord")),
        "total_actual_cost": N,
    },
    optional=("total_actual_cost",),
)
TS_POINT = obj(
    {
        "bucket": S,
        "requests": I,
        "input_tokens": I,
        "output_tokens": I,
        "cache_creation_tokens": I,
        "cache_read_tokens": I,
        "total_tokens": I,
        "cost": N,
        "actual_cost": N,
        "errors": I,
        "avg_response_time": NN,
        "partial": B,
    }
)
TS_SERIES = obj({"key": NS, "label": S, "points": arr(TS_POINT)})
TIMESERIES = obj(
    {
        "granularity": {"enum": ["15m", "hour", "day", "week", "month"]},
        "timezone": S,
        "start_date": S,
        "end_date": S,
        "series": arr(TS_SERIES),
    }
)
READY = obj({"status": {"enum": ["ready", "unavailable"]}, "kafka": B, "redis": B, "postgres": B})
HEALTH = obj({"status": S})

SCHEMAS: dict[str, Schema] = {
    "Error": ERROR,
    "Stats": STATS,
    "AggregationByModel": AGG_MODEL,
    "AggregationByUser": AGG_USER,
    "AggregationByProvider": AGG_PROVIDER,
    "AggregationByApiFormat": AGG_FORMAT,
    "Aggregation": AGGREGATION,
    "Heatmap": HEATMAP,
    "Record": RECORD,
    "Records": RECORDS,
    "AdminActive": obj({"requests": arr(ADMIN_ACTIVE_ITEM)}),
    "UserActive": obj({"requests": arr(USER_ACTIVE_ITEM)}),
    "Detail": DETAIL,
    "TtlAnalysis": TTL,
    "HitAnalysis": HIT,
    "IntervalTimeline": TIMELINE,
    "UserRecord": USER_RECORD,
    "UserUsage": USER_USAGE,
    "Ready": READY,
    "Health": HEALTH,
}
SCHEMAS["Timeseries"] = TIMESERIES
