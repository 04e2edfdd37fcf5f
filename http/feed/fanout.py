"""The live feed: one Redis subscription per process, fanned out to every websocket without awaiting any client.

Each change is shaped and JSON-encoded once per audience (admins; each subscribed user) and framed once
(`feed.frames`); the same bytes are then written straight to every live client's transport. Changes that arrive
together (the worker publishes a whole batch at once, or they piled up while the previous fan-out ran) go out as
one write per client carrying one frame per change: the messages are the documented ones, only the system calls
are shared. Nothing in the fan-out awaits a client, so a slow client never delays the others.

Slow clients: a live client's unsent bytes (what its transport could not hand to the kernel) are bounded by
`ApiOptions.feed_buffer_bytes` (plus the size of its last snapshot); a client over the bound when a change
arrives is dropped with close code 1013 (try again later) so that it reconnects and gets a fresh snapshot.

Snapshots: a client registers (and so starts collecting changes in a backlog of at most
`ApiOptions.feed_queue_size` writes) before its snapshot is read; its pump task sends the snapshot, then the
backlog, then the client goes live. Every (re)subscription confirmed by Redis restarts that for every client,
so an outage cannot silently lose events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import Any

from aiohttp import web

from usagestream.http.feed.frames import text_frame
from usagestream.http.feed.names import KeyNames
from usagestream.http.jsonio import dumps
from usagestream.http.keys import ApiOptions
from usagestream.http.redis_live import LiveSet
from usagestream.http.shape.live_items import shape
from usagestream.http.store import Reads
from usagestream.http.views.active import shape_all

log = logging.getLogger(__name__)
TRY_AGAIN_LATER = 1013
MAX_ROUND = 1000  # channel messages fanned out together at most (bounds one write's size)


class Subscriber:
    """One websocket client: who it is for (user_id None = admin, all users), its socket and its state.

    `backlog` is None once the client is live (changes are written straight to `transport`); a list while a
    snapshot is wanted or being read (changes wait there). `wake` tells the client's pump a snapshot is wanted.
    """

    __slots__ = ("ws", "transport", "user_id", "admin", "backlog", "wake", "limit")

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport, user_id: str | None, admin: bool
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.user_id = user_id
        self.admin = admin
        self.backlog: list[bytes] | None = None
        self.wake = asyncio.Event()
        self.limit = 0


class Change:
    """One channel message as frames: the admin frame, the user frame and whose request it is."""

    __slots__ = ("user_id", "admin", "user")

    def __init__(self, user_id: object, admin: bytes | None, user: bytes | None) -> None:
        self.user_id = user_id
        self.admin = admin
        self.user = user


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

    def register(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport, *, user_id: str | None, admin: bool
    ) -> Subscriber:
        if ws.compress:  # the shared frames are uncompressed; a deflate session would need per-client frames
            raise RuntimeError("the live feed's websockets must not negotiate permessage-deflate")
        sub = Subscriber(ws, transport, user_id, admin)
        self.subscribers.add(sub)
        self.want_snapshot(sub)
        return sub

    def unregister(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def want_snapshot(self, sub: Subscriber) -> None:
        """Collect changes from now on and have the pump send a snapshot read after this instant; changes
        collected for an earlier snapshot are dropped: the new one is read later, so it covers them."""
        sub.backlog = []
        sub.wake.set()

    def offer(self, sub: Subscriber, data: bytes) -> None:
        """Write to a live client, or add to its backlog while its snapshot is pending; never waits."""
        if sub.backlog is None:
            self.write(sub, data)
        elif len(sub.backlog) < self.options.feed_queue_size:
            sub.backlog.append(data)
        else:
            self.drop(sub, f"{len(sub.backlog)} changes waiting for its snapshot")

    def write(self, sub: Subscriber, data: bytes, *, snapshot: bool = False) -> None:
        """Hand the bytes to the client's transport (the kernel takes what it can, asyncio buffers the rest)."""
        if sub not in self.subscribers:
            return
        transport = sub.transport
        if sub.ws.closed or transport.is_closing():  # its handler unregisters it as it ends
            self.unregister(sub)
            return
        unsent = transport.get_write_buffer_size()
        if unsent > sub.limit and not snapshot:
            self.drop(sub, f"{unsent} bytes unsent")
            return
        try:
            transport.write(data)
        except (RuntimeError, ConnectionError):  # closed under us: its handler ends on its own
            self.unregister(sub)
            return
        if snapshot:  # a large snapshot must not get a client dropped by the change that follows it
            sub.limit = self.options.feed_buffer_bytes + len(data)

    def drop(self, sub: Subscriber, why: str) -> None:
        log.info("dropping a slow websocket client (%s)", why)
        self.evict(sub, TRY_AGAIN_LATER, b"too slow, reconnect")

    def evict(self, sub: Subscriber, code: int, message: bytes) -> None:
        """Stop writing to the client at once (no later change reaches it), then close it in the background."""
        self.unregister(sub)
        task = asyncio.create_task(self.close(sub.ws, code, message))
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

    async def snapshot(self, sub: Subscriber) -> bytes:
        """`{"type": "snapshot", "requests": [...]}`: every active request it may see, newest first."""
        raws = await self.live.newest(None, sub.user_id)
        frame: bytes = text_frame(
            dumps({"type": "snapshot", "requests": await shape_all(self.store, raws, admin=sub.admin)})
        )
        return frame

    async def pump(self, sub: Subscriber) -> None:
        """Send a snapshot each time one is wanted, then the changes collected meanwhile; then go live."""
        while sub in self.subscribers:
            await sub.wake.wait()
            sub.wake.clear()
            frame = await self.snapshot(sub)
            self.write(sub, frame, snapshot=True)
            if not sub.wake.is_set():  # no newer snapshot wanted while this one was read
                backlog, sub.backlog = sub.backlog or [], None
                if backlog:
                    self.write(sub, b"".join(backlog))

    async def run(self) -> None:
        """Stay subscribed for the life of the process, reconnecting with backoff."""
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live feed lost its Redis subscription; retrying in %.1fs", self._delay, exc_info=True)
            self.connected.clear()
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, 10.0)

    async def _listen(self) -> None:
        pubsub = self.live.client.pubsub()
        try:
            await pubsub.subscribe(self.live.channel)
            while True:
                message = await pubsub.get_message(timeout=5.0)
                pending: list[bytes | str] = []
                while message is not None:
                    if message["type"] == "subscribe":  # also after redis-py reconnected on its own
                        await self.dispatch(pending)
                        pending = []
                        self._subscribed()
                    elif message["type"] == "message":
                        pending.append(message["data"])
                    if len(pending) >= MAX_ROUND:
                        break
                    message = await pubsub.get_message(timeout=0)  # already received: same round
                await self.dispatch(pending)
        finally:
            await pubsub.aclose()

    def _subscribed(self) -> None:
        self._delay = 0.5
        self.connected.set()
        for sub in list(self.subscribers):
            self.want_snapshot(sub)

    async def dispatch(self, messages: list[bytes | str]) -> None:
        """Fan channel messages out as upsert/remove frames to the clients allowed to see them, in order."""
        subs = list(self.subscribers)
        if not subs or not messages:
            return
        admins = any(s.admin for s in subs)
        users = {s.user_id for s in subs if not s.admin}
        changes = [c for c in [await self._change(m, admins, users) for m in messages] if c is not None]
        if not changes:
            return
        admin_data = b"".join(c.admin for c in changes if c.admin is not None)
        per_user: dict[object, list[bytes]] = {}
        for c in changes:
            if c.user is not None:
                per_user.setdefault(c.user_id, []).append(c.user)
        user_data = {user_id: b"".join(frames) for user_id, frames in per_user.items()}
        for sub in subs:
            data = admin_data if sub.admin else user_data.get(sub.user_id)
            if data:
                self.offer(sub, data)

    async def _change(self, data: bytes | str, admins: bool, users: set[str | None]) -> Change | None:
        """The frames of one channel message, only for the audiences that have clients now."""
        try:
            event = json.loads(data, parse_float=Decimal)
        except ValueError:
            log.warning("unreadable live event skipped")
            return None
        if not isinstance(event, dict):
            return None
        if event.get("type") == "upsert" and isinstance(event.get("item"), dict):
            item: dict[str, Any] = event["item"]
            user_id = item.get("user_id")
            admin = user = None
            if admins:
                names = await self.names.lookup(item.get("provider_api_key_id"))
                admin = text_frame(dumps({"type": "upsert", "request": shape(item, admin=True, key_names=names)}))
            if isinstance(user_id, str) and user_id in users:
                user = text_frame(dumps({"type": "upsert", "request": shape(item, admin=False, key_names={})}))
            return Change(user_id, admin, user)
        if event.get("type") == "remove":
            frame = text_frame(dumps({"type": "remove", "id": event.get("id"), "status": event.get("status")}))
            user_id = event.get("user_id")
            mine = isinstance(user_id, str) and user_id in users
            return Change(user_id, frame if admins else None, frame if mine else None)
        return None
