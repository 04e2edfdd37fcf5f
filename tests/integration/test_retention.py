"""Retention on the real stack: a history spanning the records cut-off, processed by the real worker, then
`retention.run` drops the old months and clears old bodies. The aggregates of the whole range must not change,
neither through retention nor through a redelivery of the whole history (plus a newer snapshot of a dropped
request) afterwards; `verify` stays clean; the read API answers the old range from the roll-ups."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import prom_support
import pytest
from aiokafka import AIOKafkaProducer
from eventgen import candidate_event, candidate_record, dumps, generate, usage_event, usage_record
from workerproc import free_port, read_dead_letters, start_worker, stop_worker, wait_for

from usagestream.http.shape.reads import ShapedReads
from usagestream.materializer.ops import retention
from usagestream.materializer.ops.verify import verify
from usagestream.materializer.pg_pool import create_pool
from usagestream.materializer.read.records import RecordQuery
from usagestream.settings import Settings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
BODY = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def worker_settings(topics: Settings) -> Settings:
    # Everything generated is days old: the worker times out its still-active requests at once (1 day), so the
    # history is final before the first snapshot of the aggregates. The test runs the retention passes itself.
    return replace(
        topics,
        active_timeout_s=86400,
        batch_within_s=0.05,
        sweep_interval_s=0.5,
        retention_records_days=60,
        retention_bodies_days=20,
        retention_interval_s=0,
    )


def _with_bodies(messages: list[tuple[str, bytes, bytes]]) -> list[tuple[str, bytes, bytes]]:
    out = []
    for kind, key, value in messages:
        if kind == "usage":
            env = json.loads(value, parse_float=Decimal)
            env["usage"].update(request_body=BODY, response_headers={"x-id": env["usage_id"]})
            value = dumps(env)
        out.append((kind, key, value))
    return out


async def _produce_to(settings: Settings, partition: int, messages: list[tuple[str, bytes, bytes]]) -> None:
    """Publish in this order to one partition of each topic (so a final marker is read after the rest)."""
    topics = {"usage": settings.topic_usage, "candidate": settings.topic_candidates}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for kind, key, value in messages:
            await producer.send(topics[kind], value=value, key=key, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def _aggregates(conn: asyncpg.Connection) -> tuple[list[Any], list[Any]]:
    usage = await conn.fetch("SELECT * FROM usage_agg WHERE n_all <> 0 ORDER BY dim, key, grain, bucket")
    attempts = await conn.fetch("SELECT * FROM attempt_agg WHERE attempts <> 0 ORDER BY provider_id, grain, bucket")
    return [tuple(r) for r in usage], [tuple(r) for r in attempts]


async def _settled(conn: asyncpg.Connection, settings: Settings, proc: Any, expected_seq: int) -> None:
    await wait_for(conn, "SELECT coalesce(sum(seq), 0)::bigint FROM usage_records", expected_seq, proc=proc)
    await wait_for(conn, "SELECT count(*) FROM usage_records WHERE status IN ('pending', 'streaming')", 0, proc=proc)


def _max_seq(messages: list[tuple[str, bytes, bytes]], kind: str, ident: str) -> dict[str, int]:
    best: dict[str, int] = {}
    for k, _key, value in messages:
        if k == kind:
            env = json.loads(value)
            best[env[ident]] = max(best.get(env[ident], 0), env["seq"])
    return best


async def test_retention_keeps_every_aggregate_and_refuses_dropped_requests(
    worker_settings: Settings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    s = worker_settings
    cut = retention.targets(NOW, s)
    assert cut.records is not None and cut.bodies is not None
    start = cut.records - timedelta(days=45)  # a history from 45 days before the cut-off to 3 days ago
    traffic = generate(17, 900, start, NOW - timedelta(days=3) - start, dup=0.3, swap=0.3)
    messages = _with_bodies(traffic.messages)
    usage_seq = _max_seq(messages, "usage", "usage_id")
    pool = await create_pool(s)
    reads = ShapedReads(pool, s)
    proc = start_worker(s, tmp_path / "worker.log")
    try:
        await _produce_to(s, 0, messages)
        await _settled(pg, s, proc, sum(usage_seq.values()))
        # The session database's months start now: the old history sits in the default partitions until a
        # maintenance pass (no retention) gives its months their own partitions.
        keep = await retention.run(pool, replace(s, retention_records_days=0, retention_bodies_days=0), now=NOW)
        assert f"usage_records_p{start:%Y%m}" in keep.created and not keep.dropped
        assert await pg.fetchval("SELECT count(*) FROM usage_records_default") == 0
        before = await _aggregates(pg)
        assert await verify(s, out=(out := io.StringIO())) == 0, out.getvalue()
        old_range = (start.replace(minute=0, second=0), cut.records - timedelta(days=2, minutes=7))
        # Once its records are gone, a range ending before the cut-off ends with the 15-minute bucket holding its
        # end (read.cutoff.widen_before_cutoff): the answer it must keep is the one of that widened range. (The
        # unwidened one differs whenever a request falls in those minutes: 2 of 12 values of NOW tried.)
        widened = (old_range[0], cut.records - timedelta(days=2, microseconds=1))
        whole = (start.replace(minute=0, second=0), NOW)
        stats_before = [await reads.stats(*r) for r in (widened, whole)]
        agg_before = await reads.aggregation("model", *whole, limit=20)
        dropped_ids = {
            r["id"] for r in await pg.fetch("SELECT id FROM usage_records WHERE created_at < $1", cut.records)
        }
        assert dropped_ids and await pg.fetchval(
            "SELECT count(*) FROM usage_records WHERE created_at >= $1", cut.records
        )

        dry = await retention.run(pool, s, now=NOW, dry_run=True)
        assert dry.dropped and await pg.fetchval("SELECT count(*) FROM usage_records") == len(traffic.latest_usage)
        report = await retention.run(pool, s, now=NOW)
        assert {name for name, _ in report.dropped} >= {f"usage_records_p{start:%Y%m}"}
        assert report.records_cutoff == cut.records and report.bodies_cleared > 0

        # records before the cut-off are gone, with their month partitions; bodies cleared before the bodies cut-off
        assert await pg.fetchval("SELECT min(created_at) FROM usage_records") >= cut.records
        assert await pg.fetchval("SELECT min(created_at) FROM candidate_records") >= cut.records
        assert await pg.fetchval("SELECT to_regclass($1)", f"usage_records_p{start:%Y%m}") is None
        assert (
            await pg.fetchval(
                "SELECT count(*) FROM usage_records WHERE created_at < $1 AND (request_body IS NOT NULL"
                " OR response_headers IS NOT NULL)",
                cut.bodies,
            )
            == 0
        )
        assert (
            await pg.fetchval(
                "SELECT count(*) FROM usage_records WHERE created_at >= $1 AND request_body IS NULL", cut.bodies
            )
            == 0
        )
        # ... and every aggregate is unchanged; verify recounts what is left and agrees
        assert await _aggregates(pg) == before
        assert await verify(s, out=(out := io.StringIO())) == 0, out.getvalue()
        assert [await reads.stats(*r) for r in (old_range, whole)] == stats_before
        assert await reads.aggregation("model", *whole, limit=20) == agg_before
        page = await reads.records(RecordQuery(start=whole[0], end=whole[1]), 5, 0)
        kept = await pg.fetchval("SELECT count(*) FROM usage_records")
        assert page["total"] == kept < len(traffic.latest_usage)

        # Redeliver the whole history, plus a newer snapshot of a dropped request (a late billing fix), plus a
        # new request between the two cut-offs with a body; a marker request last tells us all was read.
        victim = sorted(dropped_ids)[0]
        fix = dict(traffic.latest_usage[victim], total_cost_usd=Decimal("123.456"), status="completed", status_code=200)
        mid = usage_record(
            str(uuid.uuid4()),
            cut.records + timedelta(days=1),
            request_body=BODY,
            status="completed",
            status_code=200,
            provider_name="p",
            provider_id="p",
        )
        marker = usage_record(str(uuid.uuid4()), NOW - timedelta(hours=1), status="completed", status_code=200)
        late = [
            ("usage", victim.encode(), usage_event(fix, usage_seq[victim] + 1)),
            ("usage", mid["id"].encode(), usage_event(mid, 1)),
        ]
        await _produce_to(s, 0, [*messages, *late, ("usage", marker["id"].encode(), usage_event(marker, 1))])
        await _wait_ids(pg, [mid["id"], marker["id"]], proc)
        assert await pg.fetchval("SELECT count(*) FROM usage_records WHERE id = $1", victim) == 0
        assert await pg.fetchval("SELECT request_body FROM usage_records WHERE id = $1", mid["id"]) is None
        after_usage, after_attempts = await _aggregates(pg)
        assert after_attempts == before[1]
        # exactly the two new requests were added: remove their rows' contribution by recounting them
        assert await verify(s, out=(out := io.StringIO())) == 0, out.getvalue()
        assert _without(after_usage, {mid["created_at"], marker["created_at"]}) == _without(
            before[0], {mid["created_at"], marker["created_at"]}
        )
        old = await reads.stats(*old_range)
        assert old == stats_before[0]
    finally:
        stop_worker(proc)
        await pool.close()
    assert proc.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]


async def _wait_ids(conn: asyncpg.Connection, ids: list[str], proc: Any) -> None:
    await wait_for(
        conn,
        f"SELECT count(*) FROM usage_records WHERE id IN ({', '.join(repr(i) for i in ids)})",
        len(ids),
        proc=proc,
    )


def _without(rows: list[Any], created: set[str]) -> list[Any]:
    """Aggregate rows minus every bucket that holds one of these instants (the buckets the new requests
    touched); everything else must be identical to the snapshot."""
    instants = [datetime.fromisoformat(c.replace("Z", "+00:00")) for c in created]

    def touched(row: Any) -> bool:
        grain, bucket = row[2], row[3]
        span = {0: timedelta(minutes=15), 2: timedelta(hours=1), 1: timedelta(days=2), 3: timedelta(days=32)}
        return any(bucket <= t < bucket + span.get(grain, timedelta(days=32)) for t in instants)

    return [r for r in rows if not touched(r)]


async def test_passes_take_turns(topics: Settings, pg: asyncpg.Connection) -> None:
    """A pass running elsewhere (its lock held here) makes `run(wait=False)` skip and `run()` wait for it."""
    pool = await create_pool(topics)
    try:
        await pg.execute("SELECT pg_advisory_lock($1, $2)", *retention.PASS_LOCK)
        skipped = await retention.run(pool, topics, wait=False)
        assert skipped.skipped and skipped.records_cutoff is None and not skipped.created
        waiting = asyncio.create_task(retention.run(pool, topics))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "a second pass waits for the running one"
        await pg.execute("SELECT pg_advisory_unlock($1, $2)", *retention.PASS_LOCK)
        assert not (await asyncio.wait_for(waiting, 30)).skipped
        # two at once, as two workers' upkeep would: one does the pass, the other skips or runs after it
        both = await asyncio.gather(retention.run(pool, topics, wait=False), retention.run(pool, topics, wait=False))
        assert all(not r.created for r in both if not r.skipped)
        held = await pg.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        )
        assert held == 0, "every pass released its lock"
    finally:
        await pool.close()


REFUSE_MODEL = """
CREATE OR REPLACE FUNCTION refuse_model() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.model = 'refused-model' THEN
        RAISE EXCEPTION 'model out of range' USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER refuse_model BEFORE INSERT OR UPDATE ON usage_records
    FOR EACH ROW EXECUTE FUNCTION refuse_model();
"""


async def test_the_worker_runs_retention_and_dead_letters_events_beyond_it(
    topics: Settings, pg: asyncpg.Connection, tmp_path: Path
) -> None:
    s = replace(
        topics,
        active_timeout_s=86400,
        batch_within_s=0.05,
        retention_records_days=60,
        retention_interval_s=2,
        worker_metrics_port=free_port(),
    )
    log = tmp_path / "worker.log"
    proc = start_worker(s, log)
    try:
        # the worker's upkeep runs a pass at start: it sets the records cut-off
        cut = retention.targets(datetime.now(UTC), s).records
        assert cut is not None
        await wait_for(pg, "SELECT value FROM meta WHERE key = 'records_cutoff'", cut.isoformat(), proc=proc)

        def request(created: datetime, **over: Any) -> dict[str, Any]:
            return usage_record(str(uuid.uuid4()), created, provider_name="p", provider_id="p", **over)

        before = cut - timedelta(days=3)
        old, new = request(before), request(NOW - timedelta(hours=1), status="completed")
        done = dict(old, status="completed", status_code=200)
        cand = candidate_record(before, provider_id="p", status="success", status_code=200, latency_ms=5)
        # Batch path: a request before the cut-off (two snapshots and a candidate) with one after it.
        await _produce_to(
            s,
            0,
            [
                ("usage", old["id"].encode(), usage_event(old, 1)),
                ("usage", old["id"].encode(), usage_event(done, 2)),
                ("candidate", old["id"].encode(), candidate_event("c-old", old["id"], 1, cand)),
                ("usage", new["id"].encode(), usage_event(new, 1)),
            ],
        )
        await _wait_ids(pg, [new["id"]], proc)
        # One-by-one path: a record PostgreSQL refuses (the contract lets no such data through, so a trigger of
        # this test plays the part) in the same batch as another request before the cut-off.
        await pg.execute(REFUSE_MODEL)
        old2, huge, new2 = request(cut - timedelta(days=1)), request(NOW, model="refused-model"), request(NOW)
        await _produce_to(
            s,
            1,
            [
                ("usage", old2["id"].encode(), usage_event(old2, 1)),
                ("usage", huge["id"].encode(), usage_event(huge, 1)),
                ("usage", new2["id"].encode(), usage_event(new2, 1)),
            ],
        )
        await _wait_ids(pg, [new["id"], new2["id"]], proc)
        await wait_for(pg, "SELECT coalesce(sum(count), 0)::int FROM dead_letter_counts", 5, proc=proc)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{s.worker_metrics_port}/metrics") as r:
            scraped = await r.text()
    finally:
        stop_worker(proc)
        await pg.execute("DROP TRIGGER IF EXISTS refuse_model ON usage_records")
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert "applying it one event at a time" in log.read_text(), "the refused record took the one-by-one path"
    letters = await read_dead_letters(s, 5)
    late = sorted((x["topic"], x["offset"]) for x in letters if str(x["reason"]).startswith("beyond_retention"))
    assert late == [(s.topic_candidates, 0), (s.topic_usage, 0), (s.topic_usage, 0), (s.topic_usage, 1)], late
    assert {x["offset"] for x in letters if x["topic"] == s.topic_usage and x["partition"] == 0} == {0, 1}
    assert sum(str(x["reason"]).startswith("rejected by PostgreSQL") for x in letters) == 1
    assert await pg.fetchval("SELECT count(*) FROM usage_records WHERE created_at < $1", cut) == 0
    assert await pg.fetchval("SELECT count(*) FROM candidate_records") == 0
    assert await pg.fetchval("SELECT count(*) FROM usage_agg WHERE bucket < $1 AND n_all <> 0", cut) == 0
    value, dead = prom_support.value, "usagestream_worker_dead_lettered_total"
    assert value(scraped, dead, topic=s.topic_usage, reason="beyond_retention") == 3
    assert value(scraped, dead, topic=s.topic_candidates, reason="beyond_retention") == 1
    assert value(scraped, dead, topic=s.topic_usage, reason="refused_by_postgres") == 1
    assert value(scraped, "usagestream_worker_events_skipped_total", topic=s.topic_usage, reason="superseded") == 0
