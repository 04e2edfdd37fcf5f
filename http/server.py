"""The API's composition root: `create_app(settings)` wires PostgreSQL, Redis, the live feed and the routes;
`cli` runs it as `usagestream api`. Nothing connects at import time: clients are made in cleanup contexts."""

from __future__ import annotations

import argparse
import gc
import logging
import re
from collections.abc import AsyncIterator, Callable

import asyncpg
import redis.asyncio as aioredis
from aiohttp import WSCloseCode, web

from usagestream.errors import ConfigError
from usagestream.http.edge.accesslog import SafeAccessLogger
from usagestream.http.edge.hardening import on_prepare
from usagestream.http.edge.loop_lag import watch as watch_loop_lag
from usagestream.http.edge.middleware import errors, measure
from usagestream.http.edge.serving import serve
from usagestream.http.feed.fanout import LiveFeed
from usagestream.http.feed.guard import FeedGuard
from usagestream.http.keys import FEED, GUARD, OPTIONS, PLANNED, POOL, REDIS, SETTINGS, STORE, ApiOptions
from usagestream.http.metrics import METRICS, ApiMetrics
from usagestream.http.redis_live import LiveSet
from usagestream.http.routes import setup_routes
from usagestream.http.store import Reads
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read import series_cache
from usagestream.settings import Settings

log = logging.getLogger(__name__)
StoreFactory = Callable[[asyncpg.Pool, Settings], Reads]
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def create_app(
    settings: Settings, *, options: ApiOptions | None = None, store_factory: StoreFactory | None = None
) -> web.Application:
    """The aiohttp application. `store_factory` replaces the PostgreSQL read store (tests only)."""
    if not settings.jwt_secret:
        raise ConfigError("USAGESTREAM_JWT_SECRET is required by the API: set it to the gateway's HS256 JWT key")
    if len(settings.jwt_secret.encode()) < 32:
        log.warning("USAGESTREAM_JWT_SECRET is shorter than 32 bytes (RFC 7518 recommends at least 32)")
    # The access log never shows query strings (`?access_token=`), whatever runner serves the app.
    app = web.Application(middlewares=[measure, errors], handler_args={"access_log_class": SafeAccessLogger})
    app[SETTINGS] = settings
    app[METRICS] = ApiMetrics()
    app[OPTIONS] = options or ApiOptions()
    app.on_response_prepare.append(on_prepare)  # hardening headers on every response (http/edge/hardening.py)
    app.cleanup_ctx.append(_postgres(store_factory))
    app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(_feed)
    app.cleanup_ctx.append(watch_loop_lag)
    app.on_shutdown.append(_close_websockets)
    setup_routes(app)
    return app


def _read_store(pool: asyncpg.Pool, planned: asyncpg.Pool, settings: Settings) -> Reads:
    from usagestream.http.shape.reads import ShapedReads

    store: Reads = ShapedReads(pool, settings, planned)
    return store


def _postgres(factory: StoreFactory | None) -> CleanupCtx:
    async def postgres(app: web.Application) -> AsyncIterator[None]:
        # min_size=0: the API starts (and /ready says so) while PostgreSQL is still down.
        pool = await create_pool(
            app[SETTINGS], min_size=0, max_size=app[OPTIONS].pg_pool_max, stateless=True, read_only=True
        )
        # The range questions' own sessions, which plan each statement once (ReadStore.planned).
        planned = await create_pool(
            app[SETTINGS],
            min_size=0,
            max_size=app[OPTIONS].pg_planned_max,
            stateless=True,
            read_only=True,
            generic_plans=True,
        )
        app[POOL] = pool
        app[PLANNED] = planned
        series_cache.CACHE.resize(app[SETTINGS].series_cache_mb << 20)
        app[STORE] = factory(pool, app[SETTINGS]) if factory is not None else _read_store(pool, planned, app[SETTINGS])
        try:
            yield
        finally:
            await planned.close()
            await pool.close()

    return postgres


async def _redis(app: web.Application) -> AsyncIterator[None]:
    """One bounded pool for the process: a burst of websocket snapshots or polls waits for a free connection
    (up to `ApiOptions.redis_pool_wait_s`, then 503 / close 1013) instead of opening one connection each."""
    settings = app[SETTINGS]
    name = "usagestream-api-" + re.sub(r"[^A-Za-z0-9_.:-]", "_", settings.redis_prefix)
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.api_redis_max_connections,
        timeout=app[OPTIONS].redis_pool_wait_s,
        health_check_interval=15,
        client_name=name,
    )
    client = aioredis.Redis.from_pool(pool)
    app[REDIS] = client
    try:
        yield
    finally:
        await client.aclose()


async def _feed(app: web.Application) -> AsyncIterator[None]:
    feed = LiveFeed(LiveSet(app[REDIS], app[SETTINGS]), app[STORE], app[OPTIONS])
    guard = FeedGuard(feed, app[STORE], app[SETTINGS].feed_recheck_s)
    app[FEED] = feed
    app[GUARD] = guard
    feed.start()
    guard.start()
    try:
        yield
    finally:
        await guard.stop()
        await feed.stop()


async def _close_websockets(app: web.Application) -> None:
    """Graceful shutdown: every websocket gets a close frame (1001 going away) before the loop stops."""
    await app[FEED].close_all(WSCloseCode.GOING_AWAY, b"server shutdown")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default USAGESTREAM_HTTP_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default USAGESTREAM_HTTP_PORT)")


def cli(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM, then close websockets, pools and clients."""
    app = create_app(settings)
    host = getattr(args, "host", None) or settings.http_host
    port = getattr(args, "port", None) or settings.http_port
    log.info("usagestream api listening on http://%s:%s", host, port)
    # What exists now (modules, the app) lives as long as the process. Frozen, it is left out of every garbage
    # collection: a full one would walk all of it, a stall of the event loop that grows with the heap, whenever
    # the allocations of one large answer (a timeline of 50,000 points) happen to trigger it.
    gc.freeze()
    # handler_cancellation: a client that goes away cancels its handler, and with it the PostgreSQL query it
    # awaits (asyncpg sends the server a cancel request), instead of the work running on for nobody.
    # web.run_app, with the edge protocol (http/edge/serving.py)
    serve(app, host, port, shutdown_timeout=10, handler_cancellation=True)
    return 0
