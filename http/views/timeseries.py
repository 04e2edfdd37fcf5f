"""The time series answer shared by the admin and the user path: parse, plan and read, shape."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from usagestream.http.errors import invalid
from usagestream.http.keys import POOL, SETTINGS
from usagestream.http.shape.timeseries import series_json
from usagestream.http.views.timeseries_params import series_query
from usagestream.materializer.read import timeseries
from usagestream.timeseries import PlanError


async def answer(request: web.Request, user_id: str | None) -> web.StreamResponse:
    """`user_id` None: every request (admin path); else only that user's."""
    settings = request.app[SETTINGS]
    q = series_query(request.query, settings, datetime.now(UTC), user_id)
    try:
        found = await timeseries.read(request.app[POOL], q, settings.timezone)
    except PlanError as exc:  # too many points, or buckets the stored grains cannot count exactly
        raise invalid(str(exc)) from None
    return web.Response(body=series_json(found, q), content_type="application/json")
