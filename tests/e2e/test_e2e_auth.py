"""Every way authentication fails against the running API, with users that exist only as entity events the
worker stored (inactive, flagged deleted, deleted entity, tombstoned), and the ways it succeeds."""

from __future__ import annotations

import aiohttp
import jwt
import pytest
from e2e_env import Api, Deployment
from e2e_world import MGMT_TOKEN

ADMIN_PATHS = [
    "/api/admin/usage/stats",
    "/api/admin/usage/aggregation/stats?group_by=model",
    "/api/admin/usage/heatmap",
    "/api/admin/usage/records",
    "/api/admin/usage/active",
    "/api/admin/usage/some-id",
    "/api/admin/usage/cache-affinity/ttl-analysis",
    "/api/admin/usage/cache-affinity/hit-analysis",
    "/api/admin/usage/cache-affinity/interval-timeline",
]
USER_PATHS = [
    "/api/users/me/usage",
    "/api/users/me/usage/active",
    "/api/users/me/usage/heatmap",
    "/api/users/me/usage/interval-timeline",
]


async def status_of(api: Api, path: str, token: str | None) -> tuple[int, object]:
    answer = await api.get(path, token=token)
    return answer.status, answer.body


async def test_no_token(api: Api) -> None:
    for path in ADMIN_PATHS:
        assert await status_of(api, path, None) == (
            401,
            {"error": {"type": "http_error", "message": "缺少管理员凭证"}},
        )
    for path in USER_PATHS:
        assert (await status_of(api, path, None))[0] == 401


async def test_bad_tokens(api: Api, deployment: Deployment) -> None:
    forged = jwt.encode(
        {"user_id": "u-admin", "role": "admin", "type": "access", "exp": 2**40},
        "another-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    expired = deployment.token("u-admin", "admin", ttl=-30)
    refresh = deployment.token("u-admin", "admin", type="refresh")
    for token in ("garbage", forged, expired, refresh, "ae_not_a_known_management_token"):
        for path in (ADMIN_PATHS[0], USER_PATHS[0]):
            status, body = await status_of(api, path, token)
            assert status == 401 and body["error"]["type"] == "http_error", (token[:20], path)


async def test_non_admin_on_admin_paths(api: Api, deployment: Deployment) -> None:
    for token in (deployment.token("u-alice"), deployment.token("u-alice", "admin")):
        for path in ADMIN_PATHS:
            assert await status_of(api, path, token) == (
                403,
                {"error": {"type": "http_error", "message": "需要管理员权限"}},
            )
        assert (await status_of(api, USER_PATHS[0], token))[0] == 200


@pytest.mark.parametrize("user_id", ["u-eve", "u-frank"])
async def test_inactive_or_flagged_deleted_user(api: Api, deployment: Deployment, user_id: str) -> None:
    token = deployment.token(user_id, "admin")
    for path in (ADMIN_PATHS[0], USER_PATHS[0]):
        assert (await status_of(api, path, token))[0] == 403, (user_id, path)


@pytest.mark.parametrize("user_id", ["u-dave", "u-gina", "u-nobody"])
async def test_deleted_or_unknown_user(api: Api, deployment: Deployment, user_id: str) -> None:
    for path in (ADMIN_PATHS[0], USER_PATHS[0]):
        assert (await status_of(api, path, deployment.token(user_id, "admin")))[0] in (401, 403), (
            user_id,
            path,
        )


async def test_management_token_and_admin_jwt(api: Api, deployment: Deployment) -> None:
    assert (await status_of(api, ADMIN_PATHS[0], MGMT_TOKEN))[0] == 200
    assert (await status_of(api, ADMIN_PATHS[0], deployment.token("u-admin", "admin")))[0] == 200
    assert (await status_of(api, USER_PATHS[0], deployment.token("u-admin", "admin")))[0] == 200


async def test_websocket_refusals(api: Api, deployment: Deployment) -> None:
    base = api.dep.base_url.replace("http://", "ws://")
    cases = [
        ("/api/admin/usage/active/ws", None, 401),
        ("/api/admin/usage/active/ws", "garbage", 401),
        ("/api/admin/usage/active/ws", deployment.token("u-alice"), 403),
        ("/api/users/me/usage/active/ws", None, 401),
        ("/api/users/me/usage/active/ws", deployment.token("u-eve"), 403),
    ]
    for path, token, status in cases:
        params = {"access_token": token} if token else None
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await api.session.ws_connect(base + path, params=params)
        assert refused.value.status == status, (path, token and token[:10])
