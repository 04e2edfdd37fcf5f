"""Keeps an open websocket feed to the checks of its upgrade: one whose credential REST would now refuse is closed.

Authentication runs once, at the upgrade (http/auth.py). Afterwards a feed is closed with 1008 (policy violation),
its close reason being the message REST would answer:
- at its JWT's `exp`, or its management token's `expires_at`, by a timer (to the event loop's precision);
- when a re-check finds its user deleted (entity or `is_deleted`), inactive or, on the admin feed, no longer an
  admin; or its management token deleted, inactive, expired, given to another user or no longer allowing the
  peer's address. Entity changes reach the API only through PostgreSQL's `entities` table (the worker writes
  it; nothing is published), so every `Settings.feed_recheck_s` one statement reads the current users and
  management tokens of all open feeds of the process and `check_user` / `check_management_token` run again.
A change the worker has applied therefore ends the stream within `feed_recheck_s` plus one query. The client is
unregistered from the fan-out before its close frame is sent, so not one more change reaches it.

If the re-check fails (PostgreSQL unreachable), the feeds keep streaming for `UNCONFIRMED_ROUNDS` rounds (a
revocation cannot have been stored meanwhile: the worker writes to the same database), then every feed is closed
with 1013 (try again later): reconnecting authenticates afresh, and REST answers 503 until PostgreSQL is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from usagestream.http.auth import (
    EXPIRED_TOKEN,
    INVALID_TOKEN,
    Principal,
    check_management_token,
    check_user,
)
from usagestream.http.errors import ApiError
from usagestream.http.feed.fanout import TRY_AGAIN_LATER, LiveFeed, Subscriber
from usagestream.http.store import Reads

log = logging.getLogger(__name__)
POLICY_VIOLATION = 1008
UNCONFIRMED_ROUNDS = 3
SLICE = 256  # feeds checked between two yields to the event loop
MAX_TIMER_S = 86400.0  # later expiries are left to the re-check, which also compares them with the clock


@dataclass(slots=True)
class Watched:
    """What a feed was admitted with: the principal, which feed (admin or user) and the peer's address."""

    principal: Principal
    admin: bool
    remote: str | None
    timer: asyncio.TimerHandle | None = None


class FeedGuard:
    """The open feeds' credentials of one API process, re-checked every `interval_s` and at their expiry."""

    def __init__(self, feed: LiveFeed, store: Reads, interval_s: float) -> None:
        self.feed = feed
        self.store = store
        self.interval_s = interval_s
        self.watched: dict[Subscriber, Watched] = {}
        self.failed_rounds = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="usagestream-feed-guard")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for watched in self.watched.values():
            if watched.timer is not None:
                watched.timer.cancel()

    def watch(self, sub: Subscriber, principal: Principal, *, admin: bool, remote: str | None) -> None:
        """Keep `sub` to its credential from now on (call right after registering it with the feed)."""
        watched = Watched(principal, admin, remote)
        if principal.expires_at is not None:
            delay = max(0.0, principal.expires_at - time.time())
            if delay <= MAX_TIMER_S:
                watched.timer = asyncio.get_running_loop().call_later(delay, self._expired, sub)
        self.watched[sub] = watched

    def forget(self, sub: Subscriber) -> None:
        watched = self.watched.pop(sub, None)
        if watched is not None and watched.timer is not None:
            watched.timer.cancel()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.recheck()

    async def recheck(self) -> None:
        """One statement for every open feed's user and management token, then close those now refused."""
        watched = list(self.watched.items())
        if not watched:
            self.failed_rounds = 0
            return
        user_ids = sorted({w.principal.user_id for _, w in watched})
        digests = sorted({w.principal.token_sha256 for _, w in watched if w.principal.token_sha256})
        try:
            users, tokens = await self.store.credentials(user_ids, digests)
        except Exception:  # PostgreSQL unreachable (or a bug): bounded patience, then every feed reconnects
            self._unconfirmed()
            return
        self.failed_rounds = 0
        now = time.time()
        verdicts: dict[tuple[Principal, bool, str | None], str | None] = {}  # feeds sharing a credential: once
        for n, (sub, w) in enumerate(watched, 1):
            if n % SLICE == 0:  # many distinct credentials: let other work run between slices
                await asyncio.sleep(0)
            if sub not in self.watched:  # it left meanwhile
                continue
            key = (w.principal, w.admin, w.remote)
            if key not in verdicts:
                token = tokens.get(w.principal.token_sha256) if w.principal.token_sha256 else None
                verdicts[key] = refusal(w, users.get(w.principal.user_id), token, now)
            reason = verdicts[key]
            if reason is not None:
                self.revoke(sub, reason)

    def revoke(self, sub: Subscriber, reason: str) -> None:
        """Close the feed with 1008 and the reason REST would give; no change is written to it any more."""
        self.forget(sub)
        log.info("closing a websocket feed: its credential is no longer accepted (%s)", reason)
        self.feed.evict(sub, POLICY_VIOLATION, reason.encode()[:123].decode(errors="ignore").encode())  # RFC 6455

    def _expired(self, sub: Subscriber) -> None:
        watched = self.watched.get(sub)
        if watched is not None:
            self.revoke(sub, INVALID_TOKEN if watched.principal.token_sha256 else EXPIRED_TOKEN)

    def _unconfirmed(self) -> None:
        self.failed_rounds += 1
        log.warning(
            "could not re-check the websocket feeds' credentials (%d/%d)",
            self.failed_rounds,
            UNCONFIRMED_ROUNDS,
            exc_info=True,
        )
        if self.failed_rounds < UNCONFIRMED_ROUNDS:
            return
        for sub in list(self.watched):
            self.forget(sub)
            self.feed.evict(sub, TRY_AGAIN_LATER, b"credentials cannot be checked, reconnect")
        self.failed_rounds = 0


def refusal(
    watched: Watched, user: dict[str, object] | None, token: dict[str, object] | None, now: float
) -> str | None:
    """Why REST would now refuse this feed's credential (the error message), or None if it still holds."""
    p = watched.principal
    try:
        if p.token_sha256 is not None:
            if check_management_token(token, watched.remote) != p.user_id:
                return INVALID_TOKEN  # the token now belongs to another user: not the feed this one opened
        elif p.expires_at is not None and p.expires_at <= now:
            return EXPIRED_TOKEN
        check_user(user, admin=watched.admin, claimed_role=p.claimed_role)
    except ApiError as refused:
        return refused.message
    return None
