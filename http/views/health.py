"""`GET /health` (the process is up) and `GET /ready` (Kafka, Redis and PostgreSQL each answer, or 503)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from usagestream.http.jsonio import json_response
from usagestream.http.keys import OPTIONS, POOL, REDIS, SETTINGS

log = logging.getLogger(__name__)


async def health(_request: web.Request) -> web.StreamResponse:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.StreamResponse:
    """`{"status": "ready"|"unavailable", "kafka": bool, "redis": bool, "postgres": bool}`, 503 unless all."""
    timeout = request.app[OPTIONS].ready_timeout_s
    kafka, redis_ok, postgres = await asyncio.gather(
        _within(kafka_reachable(request.app[SETTINGS].kafka_bootstrap, timeout), timeout),
        _within(_redis(request.app[REDIS]), timeout),
        _within(_postgres(request.app[POOL], timeout), timeout),
    )
    ok = kafka and redis_ok and postgres
    body = {
        "status": "ready" if ok else "unavailable",
        "kafka": kafka,
        "redis": redis_ok,
        "postgres": postgres,
    }
    return json_response(body, status=200 if ok else 503)


async def _within(check: Awaitable[bool], timeout: float) -> bool:
    try:
        return await asyncio.wait_for(check, timeout)
    except Exception:  # any failure of a probe just means "not reachable"
        log.debug("readiness probe failed", exc_info=True)
        return False


async def kafka_reachable(bootstrap: str, timeout: float) -> bool:
    """True if a TCP connection opens to any bootstrap server (`host:port[,host:port]`, IPv6 in brackets)."""
    for server in filter(None, (s.strip() for s in bootstrap.split(","))):
        host, _, port = server.rpartition(":")
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout)
        except (OSError, ValueError, TimeoutError):
            continue
        writer.close()
        return True
    return False


async def _redis(client: aioredis.Redis) -> bool:
    return bool(await client.ping())


async def _postgres(pool: asyncpg.Pool, timeout: float) -> bool:
    async with pool.acquire(timeout=timeout) as conn:
        return bool(await conn.fetchval("SELECT 1", timeout=timeout) == 1)
