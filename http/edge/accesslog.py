"""An access log without query strings or headers: `?access_token=` and `Authorization` never reach a log line.

One line per request: `<remote> "<METHOD> <path>" <status> <bytes> <ms>ms route=<template>`; with JSON logs the
same facts are also fields (method, route, path, status, bytes, latency_ms, remote) of the line.
"""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from usagestream.http.metrics import route_of


class SafeAccessLogger(AbstractAccessLogger):
    """The path only (never the query, a header or the body), and the route template the metrics use."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        route = route_of(request)
        latency_ms = round(time * 1000, 1)
        fields = {
            "method": request.method,
            "route": route,
            "path": request.path,
            "status": response.status,
            "bytes": response.body_length,
            "latency_ms": latency_ms,
            "remote": request.remote,
        }
        self.logger.info(
            '%s "%s %s" %s %s %.1fms route=%s',
            request.remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            latency_ms,
            route,
            extra={"fields": fields},
        )
