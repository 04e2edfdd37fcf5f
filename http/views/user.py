"""Handlers of the caller's own paths `/api/users/me/usage*` (docs/reference-api.md §3.10): always
scoped to the authenticated user; no provider or upstream-key fields."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from usagestream.http import params
from usagestream.http.auth import Principal
from usagestream.http.jsonio import json_answer, json_response
from usagestream.http.keys import REDIS, SETTINGS, STORE
from usagestream.http.redis_live import LiveSet
from usagestream.http.views import timeseries as timeseries_view
from usagestream.http.views.active import active as active_answer


async def usage(request: web.Request, who: Principal) -> web.StreamResponse:
    q = request.query
    start, end = params.date_range(q, zone=request.app[SETTINGS].tz, now=datetime.now(UTC))
    search = params.text(q, "search")
    limit = params.integer(q, "limit", 100, 1, 200)
    offset = params.integer(q, "offset", 0, 0, 2000)
    return await json_answer(await request.app[STORE].user_usage(who.user_id, start, end, search, limit, offset))


async def active(request: web.Request, who: Principal) -> web.StreamResponse:
    ids = params.ids(request.query)
    live = LiveSet(request.app[REDIS], request.app[SETTINGS])
    return json_response(await active_answer(live, request.app[STORE], ids, user_id=who.user_id, admin=False))


async def heatmap(request: web.Request, who: Principal) -> web.StreamResponse:
    # The reference meant admins to see actual cost here (its role check never matched, docs/reference-api.md §5 Q2).
    zone = params.request_zone(request.query, request.app[SETTINGS].tz)
    answer = await request.app[STORE].heatmap(who.user_id, who.is_admin, datetime.now(UTC), zone)
    return json_response(answer)


async def interval_timeline(request: web.Request, who: Principal) -> web.StreamResponse:
    hours = params.integer(request.query, "hours", 24, 1, 720)
    limit = params.integer(request.query, "limit", 5000, 100, 20000)
    answer = await request.app[STORE].interval_timeline(hours, limit, who.user_id, False, datetime.now(UTC))
    return await json_answer(answer)


async def timeseries(request: web.Request, who: Principal) -> web.StreamResponse:
    """The caller's usage over time (docs/api.md "Time series")."""
    return await timeseries_view.answer(request, who.user_id)
