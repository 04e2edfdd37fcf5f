"""Every way authentication can fail on the API, and the ways it succeeds."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestClient
from http_support import (
    ADMIN_ID,
    USER_ID,
    FakeReads,
    add_management_token,
    bearer,
    long_secret,
    mint,
    standard_store,
    start,
    user,
)

from usagestream.settings import Settings

pytestmark = pytest.mark.integration
ADMIN_PATH = "/api/admin/usage/stats"
USER_PATH = "/api/users/me/usage"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return long_secret(settings)


@pytest.fixture
def store() -> FakeReads:
    return standard_store()


@pytest.fixture
async def client(settings: Settings, store: FakeReads) -> AsyncIterator[TestClient[Any, Any]]:
    c = await start(settings, store)
    yield c
    await c.close()


async def error_of(resp: aiohttp.ClientResponse) -> tuple[int, str, str]:
    body = await resp.json()
    return resp.status, body["error"]["type"], body["error"]["message"]


async def test_missing_token_admin_and_user(client: TestClient[Any, Any]) -> None:
    assert await error_of(await client.get(ADMIN_PATH)) == (401, "http_error", "缺少管理员凭证")
    assert await error_of(await client.get(USER_PATH)) == (401, "http_error", "缺少用户凭证")
    # another scheme is not a bearer token
    resp = await client.get(ADMIN_PATH, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert resp.status == 401


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer", "x" * 5000, "é.é.é"])
async def test_malformed_token(client: TestClient[Any, Any], token: str) -> None:
    status, kind, _ = await error_of(await client.get(ADMIN_PATH, headers=bearer(token)))
    assert (status, kind) == (401, "http_error")


async def test_bad_signature(client: TestClient[Any, Any]) -> None:
    forged = jwt.encode({"user_id": ADMIN_ID, "role": "admin", "type": "access", "exp": 2**40}, "wrong-key" * 8)
    assert (await client.get(ADMIN_PATH, headers=bearer(forged))).status == 401


async def test_other_algorithms_refused(client: TestClient[Any, Any], settings: Settings) -> None:
    claims = {"user_id": ADMIN_ID, "role": "admin", "type": "access", "exp": 2**40}
    none_alg = jwt.encode(claims, None, algorithm="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hs512 = jwt.encode(claims, settings.jwt_secret, algorithm="HS512")
    for token in (none_alg, hs512):
        assert (await client.get(ADMIN_PATH, headers=bearer(token))).status == 401


async def test_expired(client: TestClient[Any, Any], settings: Settings) -> None:
    token = mint(settings, ADMIN_ID, "admin", ttl=-10)
    assert await error_of(await client.get(ADMIN_PATH, headers=bearer(token))) == (
        401,
        "http_error",
        "Token已过期",
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"type": "refresh"},
        {"type": None},
        {"user_id": None},
        {"user_id": ["x"]},
        {"role": None},
    ],
)
async def test_wrong_claims(client: TestClient[Any, Any], settings: Settings, claims: dict[str, Any]) -> None:
    base = {"user_id": ADMIN_ID, "role": "admin", "type": "access", "exp": 2**40}
    body = {k: v for k, v in {**base, **claims}.items() if v is not None}
    token = jwt.encode(body, settings.jwt_secret, algorithm="HS256")
    assert (await client.get(ADMIN_PATH, headers=bearer(token))).status == 401


async def test_no_exp_refused(client: TestClient[Any, Any], settings: Settings) -> None:
    token = jwt.encode({"user_id": ADMIN_ID, "role": "admin", "type": "access"}, settings.jwt_secret)
    assert (await client.get(ADMIN_PATH, headers=bearer(token))).status == 401


async def test_unknown_inactive_deleted_user(
    client: TestClient[Any, Any], settings: Settings, store: FakeReads
) -> None:
    assert (await client.get(USER_PATH, headers=bearer(mint(settings, "nobody")))).status == 401
    store.users["off"] = user("off", "admin", active=False)
    store.users["gone"] = user("gone", "admin", deleted=True)
    for who in ("off", "gone"):
        for path in (USER_PATH, ADMIN_PATH):
            resp = await client.get(path, headers=bearer(mint(settings, who, "admin")))
            assert resp.status == 403, (who, path)


async def test_admin_role_rules(client: TestClient[Any, Any], settings: Settings, store: FakeReads) -> None:
    not_admin = (403, "http_error", "需要管理员权限")
    assert await error_of(await client.get(ADMIN_PATH, headers=bearer(mint(settings, USER_ID)))) == not_admin
    # a user's token claiming admin is not enough: the user entity decides
    claimed = mint(settings, USER_ID, "admin")
    assert await error_of(await client.get(ADMIN_PATH, headers=bearer(claimed))) == not_admin
    # a token minted before a promotion is not enough either
    assert (await client.get(ADMIN_PATH, headers=bearer(mint(settings, ADMIN_ID, "user")))).status == 403
    ok = await client.get(ADMIN_PATH, headers=bearer(mint(settings, ADMIN_ID, "admin")))
    assert ok.status == 200
    # user paths take any active user, admins included
    for who, role in ((USER_ID, "user"), (ADMIN_ID, "admin")):
        assert (await client.get(USER_PATH, headers=bearer(mint(settings, who, role)))).status == 200
    store.users[ADMIN_ID]["role"] = "user"  # demoted: the same token stops working at once
    assert (await client.get(ADMIN_PATH, headers=bearer(mint(settings, ADMIN_ID, "admin")))).status == 403


async def test_management_tokens(client: TestClient[Any, Any], store: FakeReads) -> None:
    now = datetime.now(UTC)
    add_management_token(store, "ae_valid", ADMIN_ID)
    add_management_token(store, "ae_future", ADMIN_ID, expires_at=(now + timedelta(hours=1)).isoformat())
    add_management_token(store, "ae_inactive", ADMIN_ID, is_active=False)
    add_management_token(store, "ae_expired", ADMIN_ID, expires_at=(now - timedelta(seconds=1)).isoformat())
    add_management_token(store, "ae_ip_ok", ADMIN_ID, allowed_ips=["10.0.0.1", "127.0.0.0/8"])
    add_management_token(store, "ae_ip_bad", ADMIN_ID, allowed_ips=["10.0.0.1"])
    add_management_token(store, "ae_ip_empty", ADMIN_ID, allowed_ips=[])
    add_management_token(store, "ae_user", USER_ID)
    for token in ("ae_valid", "ae_future", "ae_ip_ok"):
        assert (await client.get(ADMIN_PATH, headers=bearer(token))).status == 200, token
    for token in ("ae_inactive", "ae_expired", "ae_unknown"):
        assert (await client.get(ADMIN_PATH, headers=bearer(token))).status == 401, token
    for token in ("ae_ip_bad", "ae_ip_empty"):
        assert (await client.get(ADMIN_PATH, headers=bearer(token))).status == 403, token
    assert (await client.get(ADMIN_PATH, headers=bearer("ae_user"))).status == 403
    assert (await client.get(USER_PATH, headers=bearer("ae_user"))).status == 200
    store.users[ADMIN_ID]["is_active"] = False
    assert (await client.get(ADMIN_PATH, headers=bearer("ae_valid"))).status == 403


async def test_query_token_only_for_websockets(client: TestClient[Any, Any], settings: Settings) -> None:
    token = mint(settings, ADMIN_ID, "admin")
    assert (await client.get(ADMIN_PATH, params={"access_token": token})).status == 401


async def test_websocket_auth(client: TestClient[Any, Any], settings: Settings) -> None:
    admin_token, user_token = mint(settings, ADMIN_ID, "admin"), mint(settings, USER_ID)
    for path, token in (
        ("/api/admin/usage/active/ws", admin_token),
        ("/api/users/me/usage/active/ws", user_token),
    ):
        for kwargs in ({"params": {"access_token": token}}, {"headers": bearer(token)}):
            ws = await client.ws_connect(path, **kwargs)  # type: ignore[arg-type]
            first = await ws.receive_json(timeout=5)
            assert first["type"] == "snapshot"
            await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as missing:
            await client.ws_connect(path)
        assert missing.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as bad:
            await client.ws_connect(path, params={"access_token": "nope"})
        assert bad.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as forbidden:
        await client.ws_connect("/api/admin/usage/active/ws", params={"access_token": user_token})
    assert forbidden.value.status == 403


async def test_no_token_in_logs(
    client: TestClient[Any, Any], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = mint(settings, ADMIN_ID, "admin")
    ws = await client.ws_connect("/api/admin/usage/active/ws", params={"access_token": token})
    await ws.receive_json(timeout=5)
    await ws.close()
    await client.get(ADMIN_PATH, headers=bearer("not-a-valid-token"))
    await client.get(ADMIN_PATH, params={"access_token": token})
    await client.get(ADMIN_PATH, headers=bearer(token))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/api/admin/usage/active/ws" in logged  # the access log did run
    for secret in (token, "not-a-valid-token", settings.jwt_secret, "access_token"):
        assert secret not in logged
