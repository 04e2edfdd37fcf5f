"""The live feed: one Redis subscription per process, fanned out to every websocket through bounded queues.

A client whose queue is full is dropped with close code 1013 (try again later) so that it reconnects and
gets a fresh snapshot; the fan-out itself never awaits a client. Every (re)subscription confirmed by Redis
queues a new snapshot for every client, so an outage cannot silently lose events; a client registers (and so
starts queueing events) before it reads its first snapshot, so nothing falls between snapshot and stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import Any

from aiohttp import web

from usagestream.http.active import shape_all
from usagestream.http.feed_names import KeyNames
from usagestream.http.jsonio import dumps
from usagestream.http.keys import ApiOptions
from usagestream.http.live_items import shape, visible
from usagestream.http.redis_live import LiveSet
from usagestream.http.store import Reads

log = logging.getLogger(__name__)
SNAPSHOT = object()  # queued marker: read the live set and send a snapshot now
TRY_AGAIN_LATER = 1013


class Subscriber:
    """One websocket client: who it is for (user_id None = admin, all users) and its bounded queue."""

    def __init__(self, ws: web.WebSocketResponse, user_id: str | None, admin: bool, size: int) -> None:
        self.ws = ws
        self.user_id = user_id
        self.admin = admin
        self.queue: asyncio.Queue[object] = asyncio.Queue(size)
        self.snapshot_pending = False


class LiveFeed:
    """The process's subscription to `{prefix}live:events` and its clients."""

    def __init__(self, live: LiveSet, store: Reads, options: ApiOptions) -> None:
        self.live = live
        self.store = store
        self.options = options
        self.subscribers: set[Subscriber] = set()
        self.connected = asyncio.Event()
        self.names = KeyNames(store)
        self._closing: set[asyncio.Task[None]] = set()
        self._delay = 0.5
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="usagestream-live-feed")

    async def stop(self) -> None:
        """Cancel the subscription task; cancel again until it ends (redis-py can swallow a cancellation that
        lands while it is still reading the subscribe confirmation)."""
        task, self._task = self._task, None
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)

    def register(self, ws: web.WebSocketResponse, *, user_id: str | None, admin: bool) -> Subscriber:
        sub = Subscriber(ws, user_id, admin, self.options.feed_queue_size)
        self.subscribers.add(sub)
        self._want_snapshot(sub)
        return sub

    def unregister(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def offer(self, sub: Subscriber, message: object) -> None:
        """Queue without waiting; a full queue drops the client."""
        if sub not in self.subscribers:
            return
        try:
            sub.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("dropping a slow websocket client (queue of %d full)", sub.queue.maxsize)
            self.unregister(sub)
            task = asyncio.create_task(self.close(sub.ws, TRY_AGAIN_LATER, b"too slow, reconnect"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self, ws: web.WebSocketResponse, code: int, message: bytes) -> None:
        """Close with a close frame; a client that cannot take it in time is cut off."""
        try:
            await asyncio.wait_for(ws.close(code=code, message=message), self.options.ws_close_timeout_s)
        except (TimeoutError, ConnectionError, RuntimeError):
            log.debug("websocket close did not complete", exc_info=True)

    async def close_all(self, code: int, message: bytes) -> None:
        subs, self.subscribers = list(self.subscribers), set()
        await asyncio.gather(*(self.close(s.ws, code, message) for s in subs), *list(self._closing))

    async def snapshot(self, sub: Subscriber) -> str:
        """`{"type": "snapshot", "requests": [...]}`: every active request it may see, newest first."""
        sub.snapshot_pending = False
        raws = await self.live.newest(None, sub.user_id)
        return dumps({"type": "snapshot", "requests": await shape_all(self.store, raws, admin=sub.admin)})

    def _want_snapshot(self, sub: Subscriber) -> None:
        if not sub.snapshot_pending:
            sub.snapshot_pending = True
            self.offer(sub, SNAPSHOT)

    async def run(self) -> None:
        """Stay subscribed for the life of the process, reconnecting with backoff."""
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "live feed lost its Redis subscription; retrying in %.1fs", self._delay, exc_info=True
                )
            self.connected.clear()
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, 10.0)

    async def _listen(self) -> None:
        pubsub = self.live.client.pubsub()
        try:
            await pubsub.subscribe(self.live.channel)
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":  # also after redis-py reconnected on its own
                    self._subscribed()
                elif message["type"] == "message":
                    await self.dispatch(message["data"])
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _subscribed(self) -> None:
        self._delay = 0.5
        self.connected.set()
        for sub in list(self.subscribers):
            self._want_snapshot(sub)

    async def dispatch(self, data: bytes | str) -> None:
        """Fan one channel message out as upsert/remove to the clients allowed to see it."""
        try:
            event = json.loads(data, parse_float=Decimal)
        except ValueError:
            log.warning("unreadable live event skipped")
            return
        if not isinstance(event, dict):
            return
        if event.get("type") == "upsert" and isinstance(event.get("item"), dict):
            await self._upsert(event["item"])
        elif event.get("type") == "remove":
            text = dumps({"type": "remove", "id": event.get("id"), "status": event.get("status")})
            for sub in [s for s in self.subscribers if visible(event, s.user_id)]:
                self.offer(sub, text)

    async def _upsert(self, item: dict[str, Any]) -> None:
        targets = [s for s in self.subscribers if visible(item, s.user_id)]
        texts: dict[bool, str] = {}
        if any(s.admin for s in targets):
            names = await self.names.lookup(item.get("provider_api_key_id"))
            texts[True] = dumps({"type": "upsert", "request": shape(item, admin=True, key_names=names)})
        if not all(s.admin for s in targets):
            texts[False] = dumps({"type": "upsert", "request": shape(item, admin=False, key_names={})})
        for sub in targets:
            self.offer(sub, texts[sub.admin])
