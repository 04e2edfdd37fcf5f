"""The websocket endpoints `/api/admin/usage/active/ws` and `/api/users/me/usage/active/ws` (docs/contract.md §7.2).

Authentication happens before the upgrade (`Authorization: Bearer` or `?access_token=`), so a refused client
gets an ordinary 401/403 answer; afterwards http/feed/guard.py closes the feed (1008) once its credential would
be refused. Client messages are read (pings, the close handshake) and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from usagestream.http.auth import authenticate
from usagestream.http.errors import http_error
from usagestream.http.feed.fanout import TRY_AGAIN_LATER, LiveFeed, Subscriber
from usagestream.http.keys import FEED, GUARD, OPTIONS
from usagestream.http.metrics import METRICS

log = logging.getLogger(__name__)


async def admin_feed(request: web.Request) -> web.StreamResponse:
    return await _serve(request, admin=True)


async def user_feed(request: web.Request) -> web.StreamResponse:
    return await _serve(request, admin=False)


async def _serve(request: web.Request, *, admin: bool) -> web.StreamResponse:
    principal = await authenticate(request, admin=admin, allow_query=True)
    options = request.app[OPTIONS]
    ws = web.WebSocketResponse(  # compress=False: the feed writes one shared uncompressed frame to every client
        heartbeat=options.ws_heartbeat_s, timeout=options.ws_close_timeout_s, max_msg_size=64 * 1024, compress=False
    )
    if not ws.can_prepare(request).ok:
        raise http_error(400, "This endpoint expects a websocket upgrade")
    await ws.prepare(request)
    feed = request.app[FEED]
    with contextlib.suppress(TimeoutError):  # just started or reconnecting: avoid a second snapshot
        await asyncio.wait_for(feed.connected.wait(), options.ws_close_timeout_s)
    transport = request.transport
    if transport is None:  # the client left during the handshake
        return ws
    sub = feed.register(ws, transport, user_id=None if admin else principal.user_id, admin=admin)
    guard = request.app[GUARD]
    guard.watch(sub, principal, admin=admin, remote=request.remote)
    clients = request.app[METRICS].ws_clients.labels(feed="admin" if admin else "user")
    clients.inc()
    sender = asyncio.create_task(pump(feed, sub))
    try:
        async for _message in ws:
            pass
    finally:
        clients.dec()
        guard.forget(sub)
        feed.unregister(sub)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return ws


async def pump(feed: LiveFeed, sub: Subscriber) -> None:
    """The client's snapshots (changes are written by the feed itself); on failure let the client reconnect."""
    try:
        await feed.pump(sub)
    except asyncio.CancelledError:
        raise
    except Exception:  # Redis or PostgreSQL gone mid-snapshot: let the client reconnect
        log.info("websocket feed stopped for one client", exc_info=True)
        feed.unregister(sub)
        await feed.close(sub.ws, TRY_AGAIN_LATER, b"feed unavailable, reconnect")
