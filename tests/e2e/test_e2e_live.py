"""/active (admin and user, with and without ids), the requests the worker timed out, and the websocket feed
end to end: snapshot, an upsert soon after a pending request is published to Kafka, a remove when it ends,
and user scoping."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import e2e_world as W
from e2e_check import assert_same
from e2e_env import Api, Deployment
from e2e_world import World
from eventgen import usage_record
from workerproc import produce

FEED_DEADLINE_S = 2.5  # "within a second or two" on a busy 2-core machine


def active_rows(world: World, user_id: str | None = None) -> list[dict[str, Any]]:
    rows = [r for r in world.rows() if r["status"] in ("pending", "streaming")]
    return W.order([r for r in rows if user_id is None or r["user_id"] == user_id])


async def test_admin_active_newest_50(api: Api, world: World) -> None:
    got = await api.ok("/api/admin/usage/active")
    expected = [W.active_item(world, r, admin=True) for r in active_rows(world)[:50]]
    assert len(active_rows(world)) > 50
    assert_same(got["requests"], expected, "/active")


async def test_admin_active_by_ids(api: Api, world: World) -> None:
    live = [r["id"] for r in active_rows(world)[:3]]
    done = [world.named["tiered"], world.named["unknown"], world.named["dave"]]
    stale = [world.named["stale_pending"], world.named["stale_streaming"]]
    ids = [*live, *done, *stale, "no-such-id"]
    got = await api.ok("/api/admin/usage/active", {"ids": " , ".join(ids) + ", ,"})
    by_id = {i["id"]: i for i in got["requests"]}
    assert set(by_id) == set(ids) - {"no-such-id"}
    for rid in by_id:
        assert_same(by_id[rid], W.active_item(world, world.row(rid), admin=True), f"/active?ids {rid}")
    # finished requests are read from PostgreSQL: their upstream key names are resolved there too
    named = [rid for rid in [*done, *stale] if W.active_item(world, world.row(rid), admin=True)["api_key_name"]]
    assert named, "the dataset has a finished request whose upstream key entity exists"
    assert (await api.ok("/api/admin/usage/active", {"ids": " , ,"})) == {"requests": []}


async def test_user_active_is_scoped(api: Api, world: World, deployment: Deployment) -> None:
    alice = deployment.token("u-alice")
    got = await api.ok("/api/users/me/usage/active", token=alice)
    expected = [W.active_item(world, r, admin=False) for r in active_rows(world, "u-alice")[:50]]
    assert expected
    assert_same(got["requests"], expected, "user /active")
    bobs = [r["id"] for r in active_rows(world, "u-bob")[:2]]
    mine = [r["id"] for r in active_rows(world, "u-alice")[:2]] + [world.named["stale_pending"]]
    got = await api.ok("/api/users/me/usage/active", {"ids": ",".join(bobs + mine)}, token=alice)
    assert {i["id"] for i in got["requests"]} == set(mine)
    for item in got["requests"]:
        assert "provider" not in item and "api_key_name" not in item
        assert_same(item, W.active_item(world, world.row(item["id"]), admin=False), "user /active?ids")


async def pages(api: Api, path: str, params: dict[str, Any], key: str, token: str = "admin") -> list[Any]:
    """Every item of a paginated endpoint."""
    items: list[Any] = []
    while True:
        body = await api.ok(path, {**params, "offset": len(items)}, token=token)
        items += body[key]
        total = body["total"] if "total" in body else body["pagination"]["total"]
        if len(items) >= total or not body[key]:
            return items


async def test_one_conversion_flag_per_request_on_every_surface(api: Api, world: World, deployment: Deployment) -> None:
    """A request whose gateway left has_format_conversion null reads the same on /active (admin and user),
    the admin feed's snapshot, the admin records and the user's records (docs/contract-notes.md)."""
    owners = ("u-alice", "u-bob", "u-carol")
    inferred = {
        r["id"]: r
        for r in world.rows()
        if r["has_format_conversion"] is None and r["api_format"] and r["endpoint_api_format"]
    }
    pairs = {(r["api_format"], r["endpoint_api_format"]) for r in inferred.values()}
    assert ("claude:cli", "claude:chat") in pairs  # one data format: passed through, though the names differ
    assert ("CLAUDE", "claude:chat") in pairs  # a legacy value: compared ignoring case
    seen: dict[str, dict[str, Any]] = {rid: {} for rid in inferred}
    everything = {"start_date": "2000-01-01T00:00:00Z", "limit": 500}
    for item in await pages(api, "/api/admin/usage/records", everything, "records"):
        if item["id"] in seen:
            seen[item["id"]]["admin records"] = item["has_format_conversion"]
    for uid in owners:
        token = deployment.token(uid)
        for item in await pages(api, "/api/users/me/usage", {"limit": 200}, "records", token):
            if item["id"] in seen:
                seen[item["id"]]["user records"] = item["has_format_conversion"]
        mine = [rid for rid, r in inferred.items() if r["user_id"] == uid]
        for item in (await api.ok("/api/users/me/usage/active", {"ids": ",".join(mine)}, token=token))["requests"]:
            seen[item["id"]]["user /active"] = item.get("has_format_conversion", "absent")
    for item in (await api.ok("/api/admin/usage/active", {"ids": ",".join(inferred)}))["requests"]:
        seen[item["id"]]["admin /active"] = item.get("has_format_conversion", "absent")
    ws = await connect(api, "/api/admin/usage/active/ws", deployment.token("u-admin", "admin"), via_query=False)
    try:
        snap = await receive(ws, 10)
    finally:
        await ws.close()
    for item in snap["requests"]:
        if item["id"] in seen:
            seen[item["id"]]["feed snapshot"] = item.get("has_format_conversion", "absent")
    for rid, answers in seen.items():
        r = inferred[rid]
        expected = W.conversion(None, r["api_format"], r["endpoint_api_format"])
        assert len(answers) >= (4 if r["user_id"] in owners else 2), (rid, answers)
        assert set(answers.values()) == {expected}, (rid, r["api_format"], r["endpoint_api_format"], answers)


async def test_timed_out_requests_read_failed_504_everywhere(api: Api, world: World, deployment: Deployment) -> None:
    stale = [world.named["stale_pending"], world.named["stale_streaming"]]
    for rid in stale:
        assert world.usage[rid]["status"] in ("pending", "streaming")  # what the gateway last said
        detail = await api.ok(f"/api/admin/usage/{rid}")
        assert (detail["status_code"], detail["error_message"]) == (504, W.TIMEOUT_MESSAGE)
    records = await api.ok("/api/admin/usage/records", {"status": "failed", "start_date": "2000-01-01T00:00:00Z"})
    by_id = {r["id"]: r for r in (records["records"])}
    for rid in stale:
        assert (by_id[rid]["status"], by_id[rid]["status_code"], by_id[rid]["error_message"]) == (
            "failed",
            504,
            W.TIMEOUT_MESSAGE,
        )
    active = await api.ok(
        "/api/admin/usage/records", {"status": "active", "start_date": "2000-01-01T00:00:00Z", "limit": 500}
    )
    assert not set(stale) & {r["id"] for r in active["records"]}
    polled = await api.ok("/api/admin/usage/active", {"ids": ",".join(stale)})
    assert {(i["id"], i["status"]) for i in polled["requests"]} == {(rid, "failed") for rid in stale}
    assert not set(stale) & {i["id"] for i in (await api.ok("/api/admin/usage/active"))["requests"]}
    mine = await api.ok("/api/users/me/usage", {"limit": 200}, token=deployment.token("u-alice"))
    item = next(r for r in mine["records"] if r["id"] == world.named["stale_pending"])
    assert (item["status"], item["status_code"], item["error_message"]) == ("failed", 504, W.TIMEOUT_MESSAGE)


# --- websocket feed -----------------------------------------------------------------------------------------
async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    body: dict[str, Any] = json.loads(msg.data, parse_float=Decimal)
    return body


async def wait_message(
    ws: aiohttp.ClientWebSocketResponse, kind: str, rid: str, since: float
) -> tuple[dict[str, Any], float]:
    """The next message of this kind about this request (others, e.g. earlier upserts, are skipped)."""
    while True:
        left = since + FEED_DEADLINE_S - time.monotonic()
        assert left > 0, f"no {kind} for {rid} within {FEED_DEADLINE_S}s"
        try:
            body = await receive(ws, left)
        except TimeoutError:
            raise AssertionError(f"no {kind} for {rid} within {FEED_DEADLINE_S}s") from None
        about = body.get("id") if kind == "remove" else (body.get("request") or {}).get("id")
        if body["type"] == kind and about == rid:
            return body, time.monotonic() - since


async def no_message(ws: aiohttp.ClientWebSocketResponse, wait: float = 0.5) -> None:
    try:
        body = await receive(ws, wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected feed message {body}")


async def connect(api: Api, path: str, token: str, via_query: bool) -> aiohttp.ClientWebSocketResponse:
    url = api.dep.base_url.replace("http://", "ws://") + path
    if via_query:
        return await api.session.ws_connect(url, params={"access_token": token})
    return await api.session.ws_connect(url, headers={"Authorization": f"Bearer {token}"})


async def publish(deployment: Deployment, versions: list[dict[str, Any]]) -> float:
    await produce(deployment.settings, deployment.world.request(versions))
    return time.monotonic()


async def test_websocket_feed_end_to_end(api: Api, world: World, deployment: Deployment) -> None:
    admin = await connect(api, "/api/admin/usage/active/ws", deployment.token("u-admin", "admin"), via_query=True)
    alice = await connect(api, "/api/users/me/usage/active/ws", deployment.token("u-alice"), via_query=False)
    bob = await connect(api, "/api/users/me/usage/active/ws", deployment.token("u-bob"), via_query=True)
    try:
        snap = await receive(admin, 10)
        assert snap["type"] == "snapshot"
        assert_same(
            {i["id"]: i for i in snap["requests"]},
            {r["id"]: W.active_item(world, r, admin=True) for r in active_rows(world)},
            "admin snapshot",
        )
        for ws, uid in ((alice, "u-alice"), (bob, "u-bob")):
            snap = await receive(ws, 10)
            assert snap["type"] == "snapshot"
            assert_same(
                {i["id"]: i for i in snap["requests"]},
                {r["id"]: W.active_item(world, r, admin=False) for r in active_rows(world, uid)},
                uid,
            )

        now = datetime.now(UTC)
        rid = str(uuid.uuid4())
        pending = usage_record(
            rid,
            now,
            user_id="u-alice",
            api_key_id="k-alice1",
            model="ws-model",
            api_format="claude:chat",
            request_id="ws-" + rid[:8],
        )
        t0 = await publish(deployment, [pending])
        up, latency = await wait_message(admin, "upsert", rid, t0)
        assert_same(up["request"], W.active_item(world, world.row(rid), True, flags_known=False), "admin upsert")
        up, _ = await wait_message(alice, "upsert", rid, t0)
        assert_same(up["request"], W.active_item(world, world.row(rid), False, flags_known=False), "user upsert")
        streaming = dict(
            pending,
            status="streaming",
            provider_name="OpenAI",
            provider_id="p-oai",
            provider_api_key_id="pk-oai",
            rate_multiplier=Decimal("0.8"),
            first_byte_time_ms=120,
        )
        t1 = await publish(deployment, [streaming])
        up, _ = await wait_message(admin, "upsert", rid, t1)
        assert up["request"]["status"] == "streaming" and up["request"]["api_key_name"] == "pk-oai-upstream"
        await wait_message(alice, "upsert", rid, t1)
        done = dict(
            streaming,
            status="completed",
            status_code=200,
            input_tokens=10,
            output_tokens=5,
            total_tokens=15,
            total_cost_usd=Decimal("0.000123"),
            actual_total_cost_usd=Decimal("0.0000984"),
            response_time_ms=900,
        )
        t2 = await publish(deployment, [done])
        rm, remove_latency = await wait_message(admin, "remove", rid, t2)
        assert rm == {"type": "remove", "id": rid, "status": "completed"}
        rm, _ = await wait_message(alice, "remove", rid, t2)
        assert rm == {"type": "remove", "id": rid, "status": "completed"}
        # bob's feed carried none of it; alice's carries none of bob's request
        await no_message(bob, 0.2)
        bid = str(uuid.uuid4())
        bobs = usage_record(bid, datetime.now(UTC), user_id="u-bob", api_key_id="k-bob", model="ws-model")
        t3 = await publish(deployment, [bobs])
        await wait_message(bob, "upsert", bid, t3)
        await wait_message(admin, "upsert", bid, t3)
        t4 = await publish(deployment, [dict(bobs, status="cancelled", status_code=499, provider_name="unknown")])
        assert (await wait_message(bob, "remove", bid, t4))[0]["status"] == "cancelled"
        await wait_message(admin, "remove", bid, t4)
        await no_message(alice)
        print(f"feed latency: upsert {latency:.3f}s, remove {remove_latency:.3f}s")
    finally:
        for ws in (admin, alice, bob):
            await ws.close()
    await deployment.wait_caught_up(30)  # the new requests are part of every later recount
