"""The API's Prometheus metrics (`ApiMetrics`, one per app) and `GET /metrics`.

Routes are labelled by their template (`/api/admin/usage/{usage_id}`), never by the raw path: a label per usage id
would grow without bound. Who may scrape: see usagestream.metrics.scrape_refusal (README "Metrics").
"""

from __future__ import annotations

from aiohttp import web

from usagestream.http.errors import http_error
from usagestream.http.keys import SETTINGS
from usagestream.metrics import CONTENT_TYPE, Registry, scrape_refusal, store_of

UNMATCHED = "unmatched"  # 404s and 405s: any path a client invents lands in this one series
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REFUSALS = {401: "A valid metrics token is required", 403: "Metrics are served to loopback peers only"}


class ApiMetrics:
    """The metric objects of one API app; the middleware and the websocket view update them."""

    def __init__(self) -> None:
        self.registry = reg = Registry()
        self.requests = reg.counter(
            "usagestream_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
        )
        self.latency = reg.histogram(
            "usagestream_http_request_duration_seconds",
            "Time from receiving a request to its response, by method and route template (websockets excluded).",
            ("method", "route"),
        )
        self.loop_lag = reg.histogram(
            "usagestream_http_event_loop_lag_seconds",
            "How late the event loop ran a 0.1 s wake-up: a stall that no request latency shows"
            " (http/edge/loop_lag.py).",
        )
        self.ws_clients = reg.gauge(
            "usagestream_http_websocket_clients", "Open live-feed websockets, by feed (admin or user).", ("feed",)
        )
        self.store_errors = reg.counter(
            "usagestream_http_store_errors_total",
            "Requests answered 503 because a store did not answer, by store (postgres, redis, network).",
            ("store",),
        )

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        method = request.method if request.method in _METHODS else "other"
        route = route_of(request)
        self.requests.labels(method, route, status).inc()
        if status != 101:  # a websocket's duration is its session's, not a latency
            self.latency.labels(method, route).observe(seconds)

    def store_error(self, exc: BaseException) -> None:
        self.store_errors.labels(store=store_of(exc)).inc()


METRICS = web.AppKey("metrics", ApiMetrics)


def route_of(request: web.BaseRequest) -> str:
    """The matched route's template (`/api/admin/usage/{usage_id}`), or `unmatched`."""
    try:
        match_info = getattr(request, "match_info", None)
    except AssertionError:  # a request refused while parsing (400) never reached the router
        match_info = None
    resource = match_info.route.resource if match_info is not None else None
    return resource.canonical if resource is not None else UNMATCHED


async def serve(request: web.Request) -> web.StreamResponse:
    refusal = scrape_refusal(request.app[SETTINGS].metrics_token, request.headers.get("Authorization"), request.remote)
    if refusal is not None:
        raise http_error(refusal, _REFUSALS[refusal])
    body = request.app[METRICS].registry.expose().encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
