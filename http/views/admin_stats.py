"""Handlers of `/api/admin/stats/*`, the statistics family today's Aether front end calls
(docs/reference-api.md §10): Aether's parameters, status codes and response shapes, answered from the aggregates.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from usagestream.day_ranges import DayRange, DayRangeError, check_series, comparison, last_days, required, zone_of
from usagestream.http.auth import Principal
from usagestream.http.errors import http_error
from usagestream.http.jsonio import json_answer, json_response
from usagestream.http.keys import PLANNED, POOL, SETTINGS
from usagestream.http.params import Query
from usagestream.http.shape import admin_stats as shape
from usagestream.http.shape import provider_performance as perf_shape
from usagestream.http.views import admin_stats_params as p
from usagestream.materializer.read import leaderboards, provider_performance, stats_series, stats_totals
from usagestream.materializer.read.stats_series import Counts
from usagestream.timeseries import Bucket, PlanError, boundaries

GRANULARITIES = ("day", "hour", "week", "month")
METRICS = ("requests", "tokens", "cost")


def _now() -> datetime:
    return datetime.now(UTC)


Filters = tuple[str | None, str | None, str | None]  # user_id, model, provider_name


async def _series(
    request: web.Request, r: DayRange, granularity: str, filters: Filters = (None, None, None)
) -> list[tuple[Bucket, Counts]]:
    start, end = r.bounds()
    ask = stats_series.Ask(start, end, granularity, r.tz, _now(), *filters)
    try:
        return await stats_series.read(request.app[POOL], ask, request.app[SETTINGS].timezone)
    except PlanError as exc:  # a zone whose boundaries are off the 15-minute grid
        raise p.bad(str(exc)) from None


def _checked_series(r: DayRange, granularity: str) -> None:
    try:
        check_series(r, granularity)
    except DayRangeError as exc:
        raise p.bad(str(exc)) from None


async def time_series(request: web.Request, _who: Principal) -> web.StreamResponse:
    granularity = p.choice(
        request.query, "granularity", GRANULARITIES, "granularity must be one of: hour, day, week, month"
    )
    r = p.day_range(request.query, request.app[SETTINGS], _now())
    _checked_series(r, granularity)
    q = request.query
    filters = (p.value(q, "user_id"), p.value(q, "model"), p.value(q, "provider_name"))
    return await json_answer(shape.series_body(await _series(request, r, granularity, filters), granularity, r))


async def _leaderboard(request: web.Request, group: str) -> web.StreamResponse:
    q = request.query
    r = p.day_range(q, request.app[SETTINGS], _now())
    metric = p.choice(q, "metric", METRICS, "metric must be one of: requests, tokens, cost")
    desc = p.choice(q, "order", ("desc", "asc"), "order must be one of: asc, desc") == "desc"
    limit, offset = p.bounded(q, "limit", 10, 1, 100), p.offset(q)
    ask = leaderboards.Ask(
        group,
        p.value(q, "user_id"),
        p.value(q, "model"),
        p.value(q, "provider_name"),
        p.flag(q, "include_inactive"),
        p.flag(q, "exclude_admin"),
    )
    entries = await leaderboards.read(request.app[POOL], ask, r.bounds(), request.app[SETTINGS].timezone)
    return json_response(shape.leaderboard_body(entries, metric, desc, offset, limit, r))


async def leaderboard_users(request: web.Request, _who: Principal) -> web.StreamResponse:
    return await _leaderboard(request, "user")


async def leaderboard_api_keys(request: web.Request, _who: Principal) -> web.StreamResponse:
    return await _leaderboard(request, "api_key")


async def leaderboard_models(request: web.Request, _who: Principal) -> web.StreamResponse:
    return await _leaderboard(request, "model")


async def leaderboard_user_groups(request: web.Request, _who: Principal) -> web.StreamResponse:
    """The contract carries no user groups (docs/reference-api.md §10.9): no group exists, so a named one is
    404 and the board is empty."""
    q = request.query
    r = p.day_range(q, request.app[SETTINGS], _now())
    metric = p.choice(q, "metric", METRICS, "metric must be one of: requests, tokens, cost")
    p.choice(q, "order", ("desc", "asc"), "order must be one of: asc, desc")
    p.bounded(q, "limit", 10, 1, 100)
    p.offset(q)
    if p.value(q, "user_group_id") is not None:
        raise http_error(404, "User group not found")
    return json_response(shape.empty_leaderboard(metric, r))


async def cost_forecast(request: web.Request, _who: Principal) -> web.StreamResponse:
    q = request.query
    days = p.bounded(q, "forecast_days", 7, 1, 90)
    settings = request.app[SETTINGS]
    if any(p.value(q, n) is not None for n in ("start_date", "end_date", "preset")):
        r = p.day_range(q, settings, _now())
    else:
        history = p.bounded(q, "days", 30, 7, 365)
        try:
            r = last_days(
                history, zone_of(p.value(q, "timezone"), p.value(q, "tz_offset_minutes"), settings.tz), _now()
            )
        except DayRangeError as exc:
            raise p.bad(str(exc)) from None
    _checked_series(r, "day")
    return json_response(shape.forecast_body(await _series(request, r, "day"), r, days))


async def cost_savings(request: web.Request, _who: Principal) -> web.StreamResponse:
    q = request.query
    r = p.day_range(q, request.app[SETTINGS], _now())
    model, provider = p.value(q, "model"), p.value(q, "provider_name")
    settings = request.app[SETTINGS]
    [row] = await stats_totals.totals(
        request.app[POOL], [r.bounds()], stats_totals.SAVINGS_COUNTERS, settings.timezone, model, provider
    )
    return json_response(shape.savings_body(row))


async def comparison_view(request: web.Request, _who: Principal) -> web.StreamResponse:
    q = request.query
    settings = request.app[SETTINGS]
    try:
        tz = zone_of(p.value(q, "timezone"), p.value(q, "tz_offset_minutes"), settings.tz)
        current = required(p.value(q, "current_start"), p.value(q, "current_end"), tz, ("current_start", "current_end"))
        kind = p.value(q, "comparison_type") or "period"
        previous = comparison(current, kind)
    except DayRangeError as exc:
        raise p.bad(str(exc)) from None
    spans = [current.bounds(), previous.bounds()]
    cur, prev = await stats_totals.totals(request.app[POOL], spans, stats_totals.COMPARISON_COUNTERS, settings.timezone)
    return json_response(shape.comparison_body(cur, prev, current, previous))


async def error_distribution(request: web.Request, _who: Principal) -> web.StreamResponse:
    """The contract's records carry no error category (docs/reference-api.md §10.7): nothing to distribute."""
    p.day_range(request.query, request.app[SETTINGS], _now())
    return json_response(shape.ERROR_DISTRIBUTION)


async def percentiles(request: web.Request, _who: Principal) -> web.StreamResponse:
    r = p.day_range(request.query, request.app[SETTINGS], _now())
    rows = await stats_totals.percentiles(request.app[POOL], r.day_spans())
    return json_response(shape.percentiles_body(rows, r, stats_totals.MIN_SAMPLES))


async def quota_usage(_request: web.Request, _who: Principal) -> web.StreamResponse:
    """Provider quotas are not in the contract's provider entity (docs/reference-api.md §10.8)."""
    return json_response(shape.QUOTA_USAGE)


def _optional_flag(q: Query, name: str) -> bool | None:
    """Aether's query_param_optional_bool: true / false words, absent (or anything else) for no filter."""
    raw = p.value(q, name)
    if raw is None or raw.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return None
    return raw.lower() in ("1", "true", "yes", "on")


async def provider_performance_view(request: web.Request, _who: Principal) -> web.StreamResponse:
    """Per provider, from the range's finished records (docs/reference-api.md §10.8)."""
    q = request.query
    r = p.day_range(q, request.app[SETTINGS], _now())
    granularity = p.choice(q, "granularity", ("day", "hour"), "granularity must be one of: day, hour")
    limit = p.bounded(q, "limit", 8, 1, 20)
    slow_ms = p.bounded(q, "slow_threshold_ms", 10_000, 1, 600_000)
    if p.value(q, "endpoint_kind") is not None:
        raise p.bad("endpoint_kind is not available: the contract's usage records carry no endpoint kind")
    start, end = r.bounds()
    try:
        bounds = boundaries(start, end, granularity, r.tz)
    except PlanError as exc:
        raise p.bad(str(exc)) from None
    ask = provider_performance.Ask(
        bounds,
        limit,
        slow_ms,
        p.value(q, "provider_id"),
        p.value(q, "model"),
        p.value(q, "api_format"),
        _optional_flag(q, "is_stream"),
        _optional_flag(q, "has_format_conversion"),
    )
    rows = await provider_performance.read(request.app[POOL], ask, request.app[PLANNED])
    names = [shape.label(Bucket(b, b, False), granularity, r) for b in bounds]
    return json_response(perf_shape.body(rows, lambda b: names[b - 1]))
