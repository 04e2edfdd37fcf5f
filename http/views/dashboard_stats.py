"""Handlers of Aether's home page paths `/api/dashboard/stats` and `/api/dashboard/daily-stats`
(docs/reference-api.md §11): any signed-in user; an admin sees everyone's numbers, anyone else only their own.

(Not to be confused with http/views/dashboard.py, which serves usagestream's own browser page.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from usagestream.http.auth import Principal
from usagestream.http.jsonio import json_answer, json_response
from usagestream.http.keys import POOL, SETTINGS
from usagestream.http.shape.dashboard import stats_body
from usagestream.http.shape.dashboard_daily import daily_body
from usagestream.http.views.dashboard_params import dashboard_days
from usagestream.materializer.read import dashboard as reads


def _now() -> datetime:
    return datetime.now(UTC)


def _scope(who: Principal) -> reads.Scope:
    return reads.Scope(None if who.is_admin else who.user_id)


async def stats(request: web.Request, who: Principal) -> web.StreamResponse:
    """The home page's cards and panels: over the range (default this month), today, and for an admin the
    last minute's rate, the online and registered users."""
    settings, now = request.app[SETTINGS], _now()
    days = dashboard_days(request.query, settings.tz, now, daily=False)
    period, today = days.span(days.first, days.last), days.span(days.today, days.today)
    sums = await reads.stats(request.app[POOL], _scope(who), period, today, now, settings.timezone)
    return json_response(stats_body(sums))


async def daily_stats(request: web.Request, who: Principal) -> web.StreamResponse:
    """One item per local day of the range (default the last 7), with its models and, for an admin, providers."""
    settings = request.app[SETTINGS]
    days = dashboard_days(request.query, settings.tz, _now(), daily=True)
    dates = days.dates()
    spans = [days.span(d, d) for d in dates]
    sums = await reads.daily(request.app[POOL], _scope(who), spans, settings.timezone)
    return await json_answer(daily_body(dates, sums, who.is_admin))
