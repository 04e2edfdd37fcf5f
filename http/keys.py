"""The typed application keys (aiohttp AppKey) shared by the API's modules, and the API's tunables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from usagestream.http.store import Reads
from usagestream.settings import Settings

if TYPE_CHECKING:
    from usagestream.http.feed.fanout import LiveFeed
    from usagestream.http.feed.guard import FeedGuard


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """Knobs of the API process that are not part of the contract's environment (tests shrink them)."""

    feed_queue_size: int = 1000  # writes held per websocket client while its snapshot is read; more: close 1013
    feed_buffer_bytes: int = 512 * 1024  # unsent bytes a live websocket client may have; more: close 1013
    ws_heartbeat_s: float = 20.0  # ping interval; a client that does not answer within half of it is closed
    ws_close_timeout_s: float = 5.0  # how long closing a dropped or shut-down client may take before abort
    ready_timeout_s: float = 1.0  # per dependency, for /ready
    pg_pool_max: int = 10
    pg_planned_max: int = 5  # connections of the range questions' pool (ReadStore.planned), beside pg_pool_max
    exports_max: int = 3  # record exports streaming at once (each holds a pooled connection); more: 429
    redis_pool_wait_s: float = 5.0  # a command waits this long for a free Redis connection (the pool is bounded)


SETTINGS = web.AppKey("settings", Settings)
OPTIONS = web.AppKey("options", ApiOptions)
STORE = web.AppKey("store", Reads)
REDIS = web.AppKey("redis", aioredis.Redis)
FEED: web.AppKey[LiveFeed] = web.AppKey("feed")
GUARD: web.AppKey[FeedGuard] = web.AppKey("feed_guard")
POOL = web.AppKey("pg_pool", asyncpg.Pool)
# The pool whose sessions plan each statement once (pg_pool.create_pool `generic_plans`; ReadStore.planned).
PLANNED = web.AppKey("pg_planned", asyncpg.Pool)
