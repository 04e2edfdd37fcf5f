"""Every path of the API on one screen, with the guard each one runs behind.

Order matters for the admin usage paths: `/{usage_id}` comes last so that the literal paths win.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from usagestream.http import metrics
from usagestream.http.auth import Principal, authenticate
from usagestream.http.feed import ws
from usagestream.http.openapi import document
from usagestream.http.views import admin as views_admin
from usagestream.http.views import admin_stats as views_stats
from usagestream.http.views import dashboard, dashboard_stats, health
from usagestream.http.views import export as views_export
from usagestream.http.views import user as views_user

Guarded = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]
Plain = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN = "/api/admin/usage"
STATS = "/api/admin/stats"
USER = "/api/users/me/usage"


def admin(view: Guarded) -> Plain:
    """Admin role required: 401 without a valid token, 403 for a non-admin."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        return await view(request, await authenticate(request, admin=True))

    return guarded


def user(view: Guarded) -> Plain:
    """Any active user; the view answers for that user only."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        return await view(request, await authenticate(request, admin=False))

    return guarded


def setup_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get(f"{ADMIN}/stats", admin(views_admin.stats)),
            web.get(f"{ADMIN}/aggregation/stats", admin(views_admin.aggregation)),
            web.get(f"{ADMIN}/heatmap", admin(views_admin.heatmap)),
            web.get(f"{ADMIN}/timeseries", admin(views_admin.timeseries)),
            web.get(f"{ADMIN}/records", admin(views_admin.records)),
            web.get(f"{ADMIN}/active", admin(views_admin.active)),
            web.get(f"{ADMIN}/export/records", admin(views_export.admin_records)),
            web.get(f"{ADMIN}/export/aggregation", admin(views_export.admin_aggregation)),
            web.get(f"{ADMIN}/export/timeseries", admin(views_export.admin_timeseries)),
            web.get(f"{ADMIN}/active/ws", ws.admin_feed),  # authenticates itself (?access_token=)
            web.get(f"{ADMIN}/cache-affinity/ttl-analysis", admin(views_admin.ttl_analysis)),
            web.get(f"{ADMIN}/cache-affinity/hit-analysis", admin(views_admin.hit_analysis)),
            web.get(f"{ADMIN}/cache-affinity/interval-timeline", admin(views_admin.interval_timeline)),
            web.get(f"{ADMIN}/{{usage_id}}", admin(views_admin.detail)),
            web.get(f"{STATS}/time-series", admin(views_stats.time_series)),
            web.get(f"{STATS}/leaderboard/users", admin(views_stats.leaderboard_users)),
            web.get(f"{STATS}/leaderboard/api-keys", admin(views_stats.leaderboard_api_keys)),
            web.get(f"{STATS}/leaderboard/models", admin(views_stats.leaderboard_models)),
            web.get(f"{STATS}/leaderboard/user-groups", admin(views_stats.leaderboard_user_groups)),
            web.get(f"{STATS}/cost/forecast", admin(views_stats.cost_forecast)),
            web.get(f"{STATS}/cost/savings", admin(views_stats.cost_savings)),
            web.get(f"{STATS}/comparison", admin(views_stats.comparison_view)),
            web.get(f"{STATS}/errors/distribution", admin(views_stats.error_distribution)),
            web.get(f"{STATS}/performance/percentiles", admin(views_stats.percentiles)),
            web.get(f"{STATS}/providers/quota-usage", admin(views_stats.quota_usage)),
            web.get(f"{STATS}/performance/providers", admin(views_stats.provider_performance_view)),
            web.get(f"{ADMIN}/{{usage_id}}/curl", admin(views_admin.curl)),  # 404: nothing to build it from
            web.get(USER, user(views_user.usage)),
            web.get(f"{USER}/active", user(views_user.active)),
            web.get(f"{USER}/active/ws", ws.user_feed),  # authenticates itself (?access_token=)
            web.get(f"{USER}/heatmap", user(views_user.heatmap)),
            web.get(f"{USER}/timeseries", user(views_user.timeseries)),
            web.get(f"{USER}/interval-timeline", user(views_user.interval_timeline)),
            web.get(f"{USER}/export/records", user(views_export.user_records)),
            web.get(f"{USER}/export/timeseries", user(views_export.user_timeseries)),
            web.get("/api/dashboard/stats", user(dashboard_stats.stats)),  # admin: everyone; else own
            web.get("/api/dashboard/daily-stats", user(dashboard_stats.daily_stats)),
            web.get("/health", health.health),
            web.get("/ready", health.ready),
            web.get("/api/openapi.json", document.serve),
            web.get("/metrics", metrics.serve),  # token or loopback only (README "Metrics")
        ]
    )
    views_export.setup(app)  # the running exports' count (http/views/export.py)
    dashboard.setup(app)  # the browser dashboard at / and /static/ (http/static/)
