"""No user reads another user's models: the `user_model` aggregate key is `<user_id> U+001F <model>`, and a user
id holding U+001F ('a<U+001F>b') once put its rows under the prefix of user 'a'. Through the real worker the
id is now dead-lettered; rows stored before that rule (written here through the writer, past the parser) stay
with their own user in /api/users/me/usage's `summary_by_model`."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from eventgen import usage_event, usage_record
from workerproc import produce, read_dead_letters, start_worker, stop_worker, wait_for

from usagestream.contract import UsageEvent, parse_usage
from usagestream.http.shape.reads import ShapedReads
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.write.pg_views import PgViews
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
MINE, FOREIGN = "a", "a\x1fb"


def completed(rid: str, user_id: str, model: str, cost: str) -> dict[str, Any]:
    return usage_record(
        rid,
        NOW,
        user_id=user_id,
        model=model,
        status="completed",
        status_code=200,
        provider_name="P",
        provider_id="p1",
        input_tokens=10,
        output_tokens=5,
        total_tokens=15,
        total_cost_usd=Decimal(cost),
        response_time_ms=100,
    )


async def summary(settings: Settings, user_id: str) -> dict[str, Any]:
    pool = await create_pool(settings)
    try:
        body = await ShapedReads(pool, settings).user_usage(user_id, None, None, None, 100, 0)
    finally:
        await pool.close()
    models = {m["model"]: m["total_cost_usd"] for m in body["summary_by_model"]}
    return {"models": models, "cost": body["total_cost"], "records": [r["id"] for r in body["records"]]}


async def test_a_user_id_with_the_separator_is_dead_lettered_by_the_worker(
    topics: Settings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = replace(topics, active_timeout_s=10**9, batch_within_s=0.05)
    mine = completed("10000000-0000-0000-0000-000000000001", MINE, "m-mine", "1.5")
    foreign = completed("10000000-0000-0000-0000-000000000002", FOREIGN, "m-foreign", "123.45")
    proc = start_worker(settings, tmp_path / "worker.log")
    try:
        await produce(settings, [("usage", r["id"].encode(), usage_event(r, 1)) for r in (foreign, mine)])
        await wait_for(pg, "SELECT coalesce(sum(count), 0)::int FROM dead_letter_counts", 1, proc=proc)
        await wait_for(pg, "SELECT count(*)::int FROM usage_records", 1, proc=proc)
    finally:
        stop_worker(proc)
    [letter] = await read_dead_letters(settings, 1)
    assert letter["reason"].startswith("usage.user_id must not contain a control character"), letter
    assert await summary(settings, MINE) == {
        "models": {"m-mine": Decimal("1.5")},
        "cost": Decimal("1.5"),
        "records": [mine["id"]],
    }
    assert await summary(settings, FOREIGN) == {"models": {}, "cost": 0, "records": []}


def _event(record: dict[str, Any], user_id: str) -> UsageEvent:
    """A parsed event whose user id is then set past the parser, as rows stored before the rule hold it."""
    event = parse_usage(record["id"].encode(), usage_event(record, 1))
    return msgspec.structs.replace(event, usage=dataclasses.replace(event.usage, user_id=user_id))


async def test_rows_stored_before_the_rule_stay_with_their_user(settings: Settings, pg: asyncpg.Connection) -> None:
    mine = completed("20000000-0000-0000-0000-000000000001", MINE, "m-mine", "1.5")
    foreign = completed("20000000-0000-0000-0000-000000000002", MINE, "m-foreign", "123.45")
    pool = await create_pool(settings)
    try:
        await PgViews(pool, settings).apply([(0, _event(mine, MINE)), (0, _event(foreign, FOREIGN))], [])
    finally:
        await pool.close()
    stored = {r["key"] for r in await pg.fetch("SELECT DISTINCT key FROM usage_agg WHERE dim = 'user_model'")}
    assert stored == {"a\x1fm-mine", "a\x1fb\x1fm-foreign"}  # the foreign row is under user a's prefix
    assert await summary(settings, MINE) == {
        "models": {"m-mine": Decimal("1.5")},
        "cost": Decimal("1.5"),
        "records": [mine["id"]],
    }
    theirs = await summary(settings, FOREIGN)
    assert theirs == {"models": {"m-foreign": Decimal("123.45")}, "cost": Decimal("123.45"), "records": [foreign["id"]]}
