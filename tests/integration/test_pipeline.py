"""The worker end to end on the real stack: Kafka -> faust -> PostgreSQL + Redis, compared with recounts written
here from the generated snapshots (never with the project's own aggregation code)."""

from __future__ import annotations

import io
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import redis.asyncio as aioredis
from eventgen import generate
from workerproc import no_timeout, produce, start_worker, stop_worker, wait_for

from usagestream.materializer.ops.verify import rebuild, verify
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 30, 21, 7, 13, tzinfo=UTC)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_by_dimension(latest: dict[str, dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(dim, key) -> (requests, finished&reached, errors, total tokens, total cost, actual cost, completed hits)."""
    acc: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, Decimal(0), Decimal(0), 0])
    for u in latest.values():
        finished = u["status"] not in ("pending", "streaming")
        reached = u["provider_name"] not in ("pending", "unknown")
        error = (u["status_code"] is not None and u["status_code"] >= 400) or u["error_message"] is not None
        hit = u["status"] == "completed" and u["cache_read_input_tokens"] > 0
        keys = [("all", ""), ("model", u["model"])]
        if u["user_id"] is not None:
            keys += [("user", u["user_id"]), ("user_model", f"{u['user_id']}\x1f{u['model']}")]
        if u["provider_id"] is not None:
            keys += [("provider", u["provider_id"]), ("provider_model", f"{u['provider_id']}\x1f{u['model']}")]
        if u["api_format"] is not None:
            keys.append(("api_format", u["api_format"]))
            if u["user_id"] is not None:
                keys.append(("user_api_format", f"{u['user_id']}\x1f{u['api_format']}"))
        if u["api_key_id"] is not None:
            keys.append(("api_key", u["api_key_id"]))
        for k in keys:
            a = acc[k]
            a[0] += 1
            a[1] += int(finished and reached)
            a[2] += int(error)
            a[3] += u["total_tokens"]
            a[4] += Decimal(u["total_cost_usd"])
            a[5] += Decimal(u["actual_total_cost_usd"])
            a[6] += int(hit)
    return {k: tuple(v) for k, v in acc.items()}


async def stored_by_dimension(conn: asyncpg.Connection, grain: int) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = await conn.fetch(
        "SELECT dim, key, sum(n_all), sum(n_fr), sum(n_error), sum(tot_tok), sum(cost), sum(actual_cost), sum(n_hit)"
        " FROM usage_agg WHERE grain = $1 GROUP BY dim, key HAVING sum(n_all) <> 0",
        grain,
    )
    return {(r[0], r[1]): tuple(int(x) if i < 4 or i == 6 else x for i, x in enumerate(r[2:])) for r in rows}


def expected_attempts(latest: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int, int, int, int]]:
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for c in latest.values():
        if c["provider_id"] is None or c["status"] not in ("success", "failed"):
            continue
        a = acc[c["provider_id"]]
        a[0] += 1
        a[1] += c["status"] == "success"
        a[2] += c["status"] == "failed"
        a[3] += c["latency_ms"] or 0
        a[4] += c["latency_ms"] is not None
    return {k: (v[0], v[1], v[2], v[3], v[4]) for k, v in acc.items()}


def expected_buckets_15m(latest: dict[str, dict[str, Any]]) -> dict[datetime, int]:
    out: dict[datetime, int] = defaultdict(int)
    for u in latest.values():
        t = _dt(u["created_at"])
        out[t.replace(minute=t.minute // 15 * 15, second=0, microsecond=0)] += 1
    return dict(out)


def expected_days(latest: dict[str, dict[str, Any]], tz: ZoneInfo) -> dict[datetime, int]:
    out: dict[datetime, int] = defaultdict(int)
    for u in latest.values():
        local = _dt(u["created_at"]).astimezone(tz)
        out[local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)] += 1
    return dict(out)


async def assert_exact(conn: asyncpg.Connection, traffic: Any, settings: Settings) -> None:
    assert await stored_by_dimension(conn, 1) == expected_by_dimension(traffic.latest_usage)
    assert await stored_by_dimension(conn, 0) == expected_by_dimension(traffic.latest_usage)
    rows = await conn.fetch("SELECT bucket, n_all FROM usage_agg WHERE dim = 'all' AND grain = 0 AND n_all <> 0")
    assert {r[0]: r[1] for r in rows} == expected_buckets_15m(traffic.latest_usage)
    rows = await conn.fetch("SELECT bucket, n_all FROM usage_agg WHERE dim = 'all' AND grain = 1 AND n_all <> 0")
    assert {r[0]: r[1] for r in rows} == expected_days(traffic.latest_usage, settings.tz)
    rows = await conn.fetch(
        "SELECT provider_id, sum(attempts), sum(successes), sum(failures), sum(lat_sum), sum(lat_n)"
        " FROM attempt_agg WHERE grain = 1 GROUP BY provider_id HAVING sum(attempts) <> 0"
    )
    assert {r[0]: tuple(int(x) for x in r[1:]) for r in rows} == expected_attempts(traffic.latest_candidates)


async def wait_caught_up(conn: asyncpg.Connection, traffic: Any) -> None:
    usage_seq = sum(_max_seq(traffic, "usage").values())
    cand_seq = sum(_max_seq(traffic, "candidate").values())
    await wait_for(conn, "SELECT coalesce(sum(seq), 0)::bigint FROM usage_records", usage_seq)
    await wait_for(conn, "SELECT coalesce(sum(seq), 0)::bigint FROM candidate_records", cand_seq)


def _max_seq(traffic: Any, kind: str) -> dict[str, int]:
    best: dict[str, int] = {}
    ident = "usage_id" if kind == "usage" else "candidate_id"
    for k, _key, value in traffic.messages:
        if k != kind:
            continue
        env = json.loads(value)
        best[env[ident]] = max(best.get(env[ident], 0), env["seq"])
    return best


@pytest.fixture
def worker_settings(topics: Settings) -> Settings:
    from dataclasses import replace

    return replace(no_timeout(topics), timezone="Asia/Shanghai", batch_within_s=0.1, sweep_interval_s=0.5)


async def test_duplicates_and_reordering_fold_to_an_exact_recount(
    worker_settings: Settings, pg: asyncpg.Connection, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    traffic = generate(7, 1500, START, timedelta(days=3))
    proc = start_worker(worker_settings, tmp_path / "worker.log")
    try:
        await produce(worker_settings, traffic.messages)
        await wait_caught_up(pg, traffic)
        await assert_exact(pg, traffic, worker_settings)
        # the live set holds exactly the requests whose latest state is active
        active = {k for k, u in traffic.latest_usage.items() if u["status"] in ("pending", "streaming")}
        await wait_for_live(redis_client, worker_settings, active)
        # replaying everything again changes nothing
        await produce(worker_settings, random.Random(3).sample(traffic.messages, len(traffic.messages)))
        await wait_for(pg, "SELECT count(*) FROM usage_records", len(traffic.latest_usage))
        await assert_exact(pg, traffic, worker_settings)
        assert await verify(worker_settings, out=(out := io.StringIO())) == 0, out.getvalue()
    finally:
        stop_worker(proc)
    assert proc.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]


async def wait_for_live(client: aioredis.Redis, settings: Settings, expected: set[str], timeout: float = 30) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    got: set[str] = set()
    while time.monotonic() < deadline:
        got = {k.decode() for k in await client.hkeys(settings.key("live"))}
        if got == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"live set differs: missing {len(expected - got)}, extra {len(got - expected)}")


async def test_verify_finds_a_wrong_number_and_rebuild_repairs_it(
    worker_settings: Settings, pg: asyncpg.Connection, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    traffic = generate(11, 300, START, timedelta(hours=30))
    proc = start_worker(worker_settings, tmp_path / "worker.log")
    try:
        await produce(worker_settings, traffic.messages)
        await wait_caught_up(pg, traffic)
    finally:
        stop_worker(proc)
    await pg.execute("UPDATE usage_agg SET cost = cost + 0.000001 WHERE dim = 'model' AND grain = 1")
    await pg.execute("DELETE FROM attempt_agg WHERE grain = 0")
    report = io.StringIO()
    assert await verify(worker_settings, out=report) == 1
    assert "usage model grain 1" in report.getvalue() and "attempts grain 0" in report.getvalue()
    await rebuild(worker_settings, out=io.StringIO())
    assert await verify(worker_settings, out=(out := io.StringIO())) == 0, out.getvalue()
    await assert_exact(pg, traffic, worker_settings)
