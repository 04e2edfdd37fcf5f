"""Handlers of the admin paths `/api/admin/usage/*` (docs/reference-api.md §3.1 to §3.9).

Each one parses its parameters (usagestream.http.params), asks the read store, returns its answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from usagestream.http import params
from usagestream.http.auth import Principal
from usagestream.http.errors import http_error
from usagestream.http.jsonio import json_answer, json_response
from usagestream.http.keys import REDIS, SETTINGS, STORE
from usagestream.http.redis_live import LiveSet
from usagestream.http.views import timeseries as timeseries_view
from usagestream.http.views.active import active as active_answer
from usagestream.http.views.export import admin_record_query

NOT_FOUND = "Usage record not found"
NO_CURL = (
    "No curl command: usagestream cannot build one, as the usage contract carries no upstream URL and the "
    "request's headers and body only as the gateway masked them (docs/reference-api.md §9.3)"
)


def _now() -> datetime:
    return datetime.now(UTC)


def _range(request: web.Request) -> tuple[datetime | None, datetime | None]:
    """The admin range (docs/reference-api.md §2.2 and §2.5): dates and presets in the request's zone."""
    settings = request.app[SETTINGS]
    return params.admin_range(request.query, settings.admin_default_days, _now(), zone=settings.tz)


async def stats(request: web.Request, _who: Principal) -> web.StreamResponse:
    start, end = _range(request)
    # Empty means no filter, as Aether reads them (docs/reference-api.md §3.1); only the filters given are passed.
    only = {name: value for name in ("user_id", "model", "provider") if (value := params.text(request.query, name))}
    return json_response(await request.app[STORE].stats(start, end, **only))


async def aggregation(request: web.Request, _who: Principal) -> web.StreamResponse:
    start, end = _range(request)
    limit = params.integer(request.query, "limit", 20, 1, 100)
    group_by = params.group_by(request.query)
    return json_response(await request.app[STORE].aggregation(group_by, start, end, limit))


async def heatmap(request: web.Request, _who: Principal) -> web.StreamResponse:
    zone = params.request_zone(request.query, request.app[SETTINGS].tz)
    return json_response(await request.app[STORE].heatmap(None, True, _now(), zone))


async def records(request: web.Request, _who: Principal) -> web.StreamResponse:
    q, settings = request.query, request.app[SETTINGS]
    rq = admin_record_query(q, settings, _now())
    limit, offset = params.integer(q, "limit", 100, 1, 500), params.integer(q, "offset", 0, 0)
    family = (params.text(q, "client_family") or "").strip()
    if family:  # no record's client family is known, so none is this one (docs/reference-api.md §9.3)
        return json_response({"records": [], "total": 0, "limit": limit, "offset": offset, "total_is_estimated": False})
    return await json_answer(await request.app[STORE].records(rq, limit, offset, params.record_total(q)))


async def active(request: web.Request, _who: Principal) -> web.StreamResponse:
    ids = params.ids(request.query)
    live = LiveSet(request.app[REDIS], request.app[SETTINGS])
    return json_response(await active_answer(live, request.app[STORE], ids, user_id=None, admin=True))


async def detail(request: web.Request, _who: Principal) -> web.StreamResponse:
    usage_id = params.path_id(request.match_info, "usage_id")
    include_bodies = params.boolean(request.query, "include_bodies", True)  # today's Aether's, default true
    found = await request.app[STORE].detail(usage_id, include_bodies) if usage_id is not None else None
    if found is None:
        raise http_error(404, NOT_FOUND)
    return json_response(found)


async def curl(_request: web.Request, _who: Principal) -> web.StreamResponse:
    """Today's Aether's `/{usage_id}/curl`: 404 for every id, with the reason (docs/reference-api.md §3.6)."""
    raise http_error(404, NO_CURL)


async def ttl_analysis(request: web.Request, _who: Principal) -> web.StreamResponse:
    q = request.query
    user_id, key_id = params.text(q, "user_id"), params.text(q, "api_key_id")
    hours = params.integer(q, "hours", 168, 1, 720)
    return await json_answer(await request.app[STORE].ttl_analysis(user_id, key_id, hours, _now()))


async def hit_analysis(request: web.Request, _who: Principal) -> web.StreamResponse:
    q = request.query
    user_id, key_id = params.text(q, "user_id"), params.text(q, "api_key_id")
    hours = params.integer(q, "hours", 168, 1, 720)
    return json_response(await request.app[STORE].hit_analysis(user_id, key_id, hours, _now()))


async def interval_timeline(request: web.Request, _who: Principal) -> web.StreamResponse:
    q = request.query
    hours = params.integer(q, "hours", 24, 1, 720)
    limit = params.integer(q, "limit", 10000, 100, 50000)
    user_id = params.text(q, "user_id")
    include = params.boolean(q, "include_user_info", False)
    return await json_answer(await request.app[STORE].interval_timeline(hours, limit, user_id, include, _now()))


async def timeseries(request: web.Request, _who: Principal) -> web.StreamResponse:
    """Usage over time, all requests (docs/api.md "Time series")."""
    return await timeseries_view.answer(request, None)
