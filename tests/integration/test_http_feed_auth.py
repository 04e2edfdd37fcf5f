"""An open websocket feed is closed (1008) within 5 s once REST would refuse its credential (issue 13, item 2).

The API runs with its default re-check interval (`feed_recheck_s`), so these tests also show that the default
keeps the bound. Entities change in the stand-in store, as the worker's writes change PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from http_support import (
    ADMIN_ID,
    OTHER_ID,
    USER_ID,
    FakeReads,
    add_management_token,
    bearer,
    long_secret,
    mint,
    standard_store,
    start,
)

from usagestream.settings import Settings

pytestmark = pytest.mark.integration
ADMIN_FEED, USER_FEED = "/api/admin/usage/active/ws", "/api/users/me/usage/active/ws"
BOUND_S = 5.0  # the bound, from the change to the close frame
MGMT = "ae_" + "m" * 40
DIGEST = hashlib.sha256(MGMT.encode()).hexdigest()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return long_secret(settings)


@pytest.fixture
def store() -> FakeReads:
    s = standard_store()
    add_management_token(s, MGMT, ADMIN_ID)
    return s


@pytest.fixture
async def client(settings: Settings, store: FakeReads) -> AsyncIterator[TestClient[Any, Any]]:
    assert settings.feed_recheck_s == Settings().feed_recheck_s  # the default interval is what is tested
    c = await start(settings, store)
    yield c
    await c.close()


async def open_feed(client: TestClient[Any, Any], path: str, token: str) -> aiohttp.ClientWebSocketResponse:
    """A feed past its snapshot (so it is registered and watched)."""
    ws = await client.ws_connect(path, params={"access_token": token})
    first = await ws.receive_json(timeout=5)
    assert first["type"] == "snapshot"
    return ws


async def close_of(ws: aiohttp.ClientWebSocketResponse, within: float = BOUND_S) -> tuple[int, str, float]:
    """(close code, reason, seconds waited) of the next close frame; fails if none comes `within` seconds."""
    started = time.monotonic()
    while True:
        left = within - (time.monotonic() - started)
        msg = await ws.receive(timeout=max(left, 0.01))
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code or 0, str(msg.extra or ""), time.monotonic() - started
        assert msg.type == aiohttp.WSMsgType.TEXT, msg


async def still_open(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> None:
    with pytest.raises(asyncio.TimeoutError):
        msg = await ws.receive(timeout=seconds)
        pytest.fail(f"the feed got {msg.type!r} {msg.data!r}")
    assert not ws.closed


async def test_a_jwt_feed_closes_at_its_expiry(client: TestClient[Any, Any], settings: Settings) -> None:
    exp = int(time.time()) + 3
    user_ws = await open_feed(client, USER_FEED, mint(settings, USER_ID, ttl=exp - int(time.time())))
    admin_ws = await open_feed(client, ADMIN_FEED, mint(settings, ADMIN_ID, "admin", ttl=exp - int(time.time())))
    for ws in (user_ws, admin_ws):
        code, reason, _ = await close_of(ws, within=BOUND_S + 3)
        closed_at = time.time()
        assert (code, reason) == (1008, "Token已过期")
        assert exp - 0.5 <= closed_at <= exp + BOUND_S


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda u: u.update(is_active=False), "用户已被禁用或删除"),
        (lambda u: u.update(is_deleted=True), "用户已被禁用或删除"),
        (None, "用户不存在"),  # the entity deleted (deleted: true or a tombstone): the user is absent
    ],
    ids=["deactivated", "flagged-deleted", "entity-deleted"],
)
async def test_every_feed_of_a_deactivated_or_deleted_user_closes(
    client: TestClient[Any, Any], settings: Settings, store: FakeReads, change: Any, reason: str
) -> None:
    user_ws = await open_feed(client, USER_FEED, mint(settings, USER_ID))
    admin_ws = await open_feed(client, ADMIN_FEED, mint(settings, ADMIN_ID, "admin"))
    mgmt_ws = await open_feed(client, ADMIN_FEED, MGMT)  # the admin's management token
    bob_ws = await open_feed(client, USER_FEED, mint(settings, OTHER_ID))
    for user_id in (USER_ID, ADMIN_ID):
        if change is None:
            del store.users[user_id]
        else:
            change(store.users[user_id])
    for ws in (user_ws, admin_ws, mgmt_ws):
        code, got, waited = await close_of(ws)
        assert (code, got) == (1008, reason) and waited <= BOUND_S
    await still_open(bob_ws, 0.5)  # the others' feeds are untouched
    resp = await client.get("/api/users/me/usage", headers=bearer(mint(settings, USER_ID)))
    assert resp.status in (401, 403)  # REST refuses the same credential


async def test_the_admin_feed_closes_when_the_admin_role_is_lost(
    client: TestClient[Any, Any], settings: Settings, store: FakeReads
) -> None:
    token = mint(settings, ADMIN_ID, "admin")
    admin_ws = await open_feed(client, ADMIN_FEED, token)
    mgmt_ws = await open_feed(client, ADMIN_FEED, MGMT)
    own_ws = await open_feed(client, USER_FEED, token)  # the same user's own feed needs no admin role
    store.users[ADMIN_ID]["role"] = "user"
    for ws in (admin_ws, mgmt_ws):
        code, reason, waited = await close_of(ws)
        assert (code, reason) == (1008, "需要管理员权限") and waited <= BOUND_S
    await still_open(own_ws, 0.5)


@pytest.mark.parametrize(
    "change",
    [
        lambda store: store.tokens[DIGEST].update(is_active=False),
        lambda store: store.tokens.pop(DIGEST),
        lambda store: store.tokens[DIGEST].update(expires_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()),
        lambda store: store.tokens[DIGEST].update(user_id=OTHER_ID),
    ],
    ids=["revoked", "entity-deleted", "expiry-moved-to-the-past", "given-to-another-user"],
)
async def test_a_management_token_feed_closes_when_the_token_is_revoked(
    client: TestClient[Any, Any], settings: Settings, store: FakeReads, change: Any
) -> None:
    store.users[OTHER_ID]["role"] = "admin"
    mgmt_ws = await open_feed(client, ADMIN_FEED, MGMT)
    jwt_ws = await open_feed(client, ADMIN_FEED, mint(settings, ADMIN_ID, "admin"))
    change(store)
    code, reason, waited = await close_of(mgmt_ws)
    assert (code, reason) == (1008, "无效的Token") and waited <= BOUND_S
    await still_open(jwt_ws, 0.5)  # the same admin's JWT feed does not depend on the token
    if store.tokens.get(DIGEST, {}).get("user_id") == ADMIN_ID:  # re-pointed: REST now answers as the other user
        assert (await client.get("/api/admin/usage/stats", headers=bearer(MGMT))).status == 401


async def test_a_management_token_feed_closes_when_its_address_is_no_longer_allowed(
    client: TestClient[Any, Any], store: FakeReads
) -> None:
    store.tokens[DIGEST]["allowed_ips"] = ["127.0.0.0/8"]
    mgmt_ws = await open_feed(client, ADMIN_FEED, MGMT)
    store.tokens[DIGEST]["allowed_ips"] = ["10.0.0.0/8"]
    code, reason, waited = await close_of(mgmt_ws)
    assert (code, reason) == (1008, "IP 地址不在管理令牌的允许列表中") and waited <= BOUND_S


async def test_a_management_token_feed_closes_at_the_token_expiry(
    client: TestClient[Any, Any], store: FakeReads
) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=3)
    store.tokens[DIGEST]["expires_at"] = expires.isoformat()
    mgmt_ws = await open_feed(client, ADMIN_FEED, MGMT)
    code, reason, _ = await close_of(mgmt_ws, within=BOUND_S + 3)
    assert (code, reason) == (1008, "无效的Token")
    assert expires.timestamp() - 0.5 <= time.time() <= expires.timestamp() + BOUND_S


async def test_valid_feeds_stay_open_and_one_statement_checks_them_all(
    client: TestClient[Any, Any], settings: Settings, store: FakeReads
) -> None:
    feeds = [await open_feed(client, USER_FEED, mint(settings, USER_ID)) for _ in range(3)]
    feeds += [await open_feed(client, ADMIN_FEED, MGMT), await open_feed(client, USER_FEED, mint(settings, OTHER_ID))]
    store.calls.clear()
    rounds = 2
    await asyncio.sleep(rounds * settings.feed_recheck_s + 0.5)
    checks = [args for name, args in store.calls if name == "credentials"]
    assert checks and len(checks) <= rounds + 1  # one statement per round, whatever the number of feeds
    assert checks[0] == (sorted([ADMIN_ID, OTHER_ID, USER_ID]), [DIGEST])
    for ws in feeds:
        assert not ws.closed
        await ws.close()


async def test_feeds_reconnect_when_credentials_cannot_be_checked(settings: Settings, store: FakeReads) -> None:
    fast = replace(settings, feed_recheck_s=0.2)
    client = await start(fast, store)
    try:
        ws = await open_feed(client, USER_FEED, mint(fast, USER_ID))
        store.fail_credentials = True
        code, _, waited = await close_of(ws, within=3)
        assert code == 1013 and waited >= 2 * fast.feed_recheck_s  # a few failed rounds are tolerated first
    finally:
        await client.close()
