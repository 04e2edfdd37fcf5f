"""Parameters and paths of today's Aether that the HTTP layer decides (docs/reference-api.md §9.3): the detail's
`include_bodies` (default true), the `/curl` path answered 404 with its reason, and `/records?client_family=`
(no record's client family is known), through the real app on a stand-in store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from http_support import ADMIN_ID, USER_ID, FakeReads, bearer, long_secret, mint, standard_store, start

from usagestream.settings import Settings

pytestmark = pytest.mark.integration
DETAIL = "/api/admin/usage/u-1"


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


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("true", True), ("false", False), ("0", False)])
async def test_include_bodies_reaches_the_store(
    client: TestClient[Any, Any], settings: Settings, store: FakeReads, raw: str | None, expected: bool
) -> None:
    params = {} if raw is None else {"include_bodies": raw}
    resp = await client.get(DETAIL, params=params, headers=bearer(mint(settings, ADMIN_ID, "admin")))
    assert resp.status == 404  # the stand-in store knows no record
    assert ("detail", ("u-1", expected)) in store.calls


async def test_include_bodies_must_be_a_boolean(client: TestClient[Any, Any], settings: Settings) -> None:
    resp = await client.get(
        DETAIL, params={"include_bodies": "maybe"}, headers=bearer(mint(settings, ADMIN_ID, "admin"))
    )
    body = await resp.json()
    assert resp.status == 422 and "include_bodies" in body["error"]["message"]


async def test_curl_is_404_with_the_reason(client: TestClient[Any, Any], settings: Settings, store: FakeReads) -> None:
    resp = await client.get(DETAIL + "/curl", headers=bearer(mint(settings, ADMIN_ID, "admin")))
    body = await resp.json()
    assert resp.status == 404 and body["error"]["type"] == "http_error"
    assert body["error"]["message"].startswith("No curl command") and "upstream URL" in body["error"]["message"]
    assert not [c for c in store.calls if c[0] == "detail"]  # no record is read for it


async def test_curl_is_admin_only(client: TestClient[Any, Any], settings: Settings) -> None:
    assert (await client.get(DETAIL + "/curl")).status == 401
    assert (await client.get(DETAIL + "/curl", headers=bearer(mint(settings, USER_ID)))).status == 403


async def test_client_family_matches_no_record(
    client: TestClient[Any, Any], settings: Settings, store: FakeReads
) -> None:
    headers = bearer(mint(settings, ADMIN_ID, "admin"))
    params = {"client_family": "claude_code", "limit": "20", "offset": "40"}
    resp = await client.get("/api/admin/usage/records", params=params, headers=headers)
    assert resp.status == 200
    assert await resp.json() == {"records": [], "total": 0, "limit": 20, "offset": 40, "total_is_estimated": False}
    assert not [c for c in store.calls if c[0] == "records"]
    for blank in ("", "  "):  # no filter, as Aether reads a blank value
        resp = await client.get("/api/admin/usage/records", params={"client_family": blank}, headers=headers)
        assert resp.status == 200
    assert len([c for c in store.calls if c[0] == "records"]) == 2
    bad = await client.get("/api/admin/usage/records", params={"client_family": "x", "limit": "0"}, headers=headers)
    assert bad.status == 422  # the other parameters are still checked
