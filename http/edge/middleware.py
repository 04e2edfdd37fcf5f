"""The error middleware: every failure leaves as the envelope `{"error": {"type", "message"}}`.

ApiError keeps its status; aiohttp's own HTTP errors (404 unknown path, 405) become `http_error`;
PostgreSQL or Redis not answering is 503 `service_unavailable`; anything else is a bug, logged with its
traceback and answered with a bare 500 (no detail leaks to the client).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import redis.exceptions
from aiohttp import web
from aiohttp.typedefs import Handler

from usagestream.http.edge.protocol import EdgeProtocol
from usagestream.http.errors import HTTP, INTERNAL, UNAVAILABLE, ApiError, error_response
from usagestream.http.metrics import METRICS

log = logging.getLogger(__name__)

_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,  # PostgreSQL stopping or crashing under a running statement
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.kind, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, HTTP, exc.reason)
        if "Allow" in exc.headers:  # 405 must say which methods are allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except asyncio.CancelledError:
        raise
    except _UNAVAILABLE as exc:
        log.warning("%s %s: a store did not answer", request.method, request.path, exc_info=True)
        if METRICS in request.app:
            request.app[METRICS].store_error(exc)
        return error_response(503, UNAVAILABLE, "A backing store is unavailable, try again later")
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, INTERNAL, "Internal server error")


@web.middleware
async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request (outermost, so it sees the status the error middleware chose), from when its
    head was read off the socket (EdgeProtocol), so time spent queued behind a busy loop is counted."""
    loop = asyncio.get_running_loop()
    started = _arrival(request) or loop.time()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects and the like, which `errors` lets through
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 0  # shutdown or a dropped client: no answer was given, nothing to count
        raise
    finally:
        if status and METRICS in request.app:
            request.app[METRICS].observe(request, status, loop.time() - started)


def _arrival(request: web.Request) -> float | None:
    protocol = request.protocol
    return protocol.arrival(request) if isinstance(protocol, EdgeProtocol) else None
