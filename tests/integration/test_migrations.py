"""Alembic migrations on a fresh, empty PostgreSQL database: the schema they build, a downgrade/upgrade round trip,
the data migrations of 0003, 0006 and 0007, and `usagestream db upgrade` twice being harmless.

The revisions are frozen (their SQL inside them, no import of live code), so the schema a fresh upgrade builds is
compared with `schema_head.txt`, a normalized catalog listing taken from the migrations before they were frozen.
A new migration that changes the schema on purpose updates that file in the same commit (the failure message says
where the listing it got was written)."""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from pg_admin import run_admin_sql

from usagestream.day_ranges import DayRange
from usagestream.materializer import pg_provider_days
from usagestream.materializer.ops import migrate
from usagestream.materializer.ops.verify import (
    differences,
    expected_attempts_sql,
    expected_usage_sql,
    homes_difference_sql,
)
from usagestream.materializer.pg_day_times import KEPT_SQL, MISMATCH_SQL
from usagestream.settings import Settings
from usagestream.stats import DIMENSIONS, GRAIN_15M, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH, USAGE_COUNTERS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TABLES = {
    "usage_records",
    "candidate_records",
    "entities",
    "usage_agg",
    "attempt_agg",
    "dead_letter_counts",
    "meta",
    "usage_record_homes",
    "candidate_record_homes",
}
GOLDEN = Path(__file__).with_name("schema_head.txt")
# Month partitions are created relative to today (0002 and the writer make them ahead of time): their names
# change with the calendar, so the listing leaves them out.
MONTH_PARTITION = re.compile(r"_p\d{6}$")


async def _admin(sql: str) -> None:
    head = Settings.from_env().asyncpg_dsn.rpartition("/")[0]
    await run_admin_sql(f"{head}/postgres", sql)


async def _schema(dsn: str) -> tuple[set[str], list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {r["tablename"] for r in rows}
        versions = [r["version_num"] for r in await conn.fetch("SELECT version_num FROM alembic_version")]
        return tables, versions
    finally:
        await conn.close()


# One query per kind of schema object, each row rendered as one line of the listing.
CATALOG = {
    "extension": "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
    "relation": """
        SELECT c.relname, c.relkind::text, coalesce(array_to_string(c.reloptions, ','), ''),
               coalesce(pg_get_partkeydef(c.oid), ''), coalesce(pg_get_expr(c.relpartbound, c.oid), '')
        FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')""",
    "column": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
               coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)::text
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0
          AND NOT a.attisdropped""",
    "index": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'""",
    "constraint": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace""",
    "function": """
        SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')""",
}


def _listed(kind: str, fields: list[str]) -> bool:
    # A month partition, and its columns, indexes and constraints, are left out (see MONTH_PARTITION).
    return kind in ("extension", "function") or not MONTH_PARTITION.search(fields[0])


async def _catalog(dsn: str) -> str:
    """The schema as sorted text lines: extensions, tables, columns, indexes, constraints, functions."""
    conn = await asyncpg.connect(dsn)
    try:
        lines = []
        for kind, sql in CATALOG.items():
            for row in await conn.fetch(sql):
                fields = [str(v) for v in row.values()]
                if _listed(kind, fields):
                    lines.append(kind + " | " + " | ".join(fields))
        return "\n".join(sorted(lines)) + "\n"
    finally:
        await conn.close()


@pytest.fixture
def empty_db() -> Iterator[Settings]:
    """Settings pointing at a brand-new empty database, dropped afterwards."""
    name = f"usagestream_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = Settings.from_env()
    yield replace(base, postgres_dsn=base.asyncpg_dsn.rpartition("/")[0] + "/" + name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _head(settings: Settings) -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config(settings)).get_current_head()
    assert head is not None
    return head


def _revisions(settings: Settings) -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config(settings))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _assert_same_schema(got: str, expected: str, what: str) -> None:
    if got != expected:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as out:
            out.write(got)
        diff = "".join(difflib.unified_diff(expected.splitlines(True), got.splitlines(True), "expected", "got"))
        pytest.fail(f"{what} differs (listing written to {out.name}):\n{diff}")


def test_migrations_apply_to_an_empty_database(empty_db: Settings) -> None:
    migrate.upgrade(empty_db)
    tables, versions = asyncio.run(_schema(empty_db.asyncpg_dsn))
    assert TABLES <= tables
    assert versions == [_head(empty_db)]


def test_fresh_upgrade_builds_the_recorded_schema(empty_db: Settings) -> None:
    migrate.upgrade(empty_db)
    _assert_same_schema(asyncio.run(_catalog(empty_db.asyncpg_dsn)), GOLDEN.read_text(), "the schema at head")


def test_each_downgrade_and_upgrade_round_trips(empty_db: Settings) -> None:
    """Step down one revision at a time to an empty database, then back up: every downgrade runs, each revision's
    schema is the same on the way up as on the way down, and the schema at head is as before."""
    revisions = _revisions(empty_db)
    migrate.upgrade(empty_db)
    at_head = asyncio.run(_catalog(empty_db.asyncpg_dsn))
    seen = {}
    for revision in reversed(["base", *revisions[:-1]]):
        migrate.downgrade(empty_db, revision)
        seen[revision] = asyncio.run(_catalog(empty_db.asyncpg_dsn))
    assert set(asyncio.run(_schema_tables(empty_db.asyncpg_dsn))) == {"alembic_version"}
    for revision in revisions[:-1]:
        migrate.upgrade(empty_db, revision)
        _assert_same_schema(asyncio.run(_catalog(empty_db.asyncpg_dsn)), seen[revision], f"the schema at {revision}")
    migrate.upgrade(empty_db)
    _assert_same_schema(asyncio.run(_catalog(empty_db.asyncpg_dsn)), at_head, "the schema at head after a round trip")


async def _schema_tables(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    finally:
        await conn.close()


# Records of every status class, with and without a provider, cache reads, HTTP 200s and errors, spread over
# three months so that local months and UTC hours differ; API formats of every family (spaced and upper-cased
# as well), some with an endpoint format, cache reads above and below the input.
SEED_USAGE = """
INSERT INTO usage_records (id, seq, kafka_partition, request_id, user_id, api_key_id, provider_name, provider_id,
    model, api_format, endpoint_api_format, is_stream, status, status_code, error_message, input_tokens, output_tokens,
    cache_creation_input_tokens, cache_read_input_tokens, total_tokens, input_cost_usd, output_cost_usd,
    cache_creation_cost_usd, cache_read_cost_usd, request_cost_usd, total_cost_usd, actual_input_cost_usd,
    actual_output_cost_usd, actual_cache_creation_cost_usd, actual_cache_read_cost_usd, actual_request_cost_usd,
    actual_total_cost_usd, response_time_ms, created_at)
SELECT 'u' || i, 1, 0, 'r' || i,
    CASE WHEN i % 7 = 0 THEN NULL ELSE 'user' || (i % 3) END, 'key' || (i % 4),
    (ARRAY['pending', 'unknown', 'p1', 'p2'])[1 + i % 4], CASE WHEN i % 4 >= 2 THEN 'pid' || (i % 4) END,
    'model' || (i % 5),
    (ARRAY[NULL, 'claude:chat', 'openai:chat', ' Gemini:x', 'OPENAI:responses', 'anthropic:x'])[1 + i % 6],
    CASE WHEN i % 11 = 0 THEN 'openai:chat' WHEN i % 13 = 0 THEN '' WHEN i % 17 = 0 THEN 'claude:chat' END, i % 2 = 0,
    (ARRAY['pending', 'streaming', 'completed', 'failed', 'cancelled', 'completed'])[1 + i % 6],
    (ARRAY[NULL, 200, 500, 499, 200]::int[])[1 + i % 5], CASE WHEN i % 9 = 0 THEN 'boom' END,
    i, 2 * i, i % 3, i % 4 * 10, 3 * i, 0.001 * i, 0.002 * i, 0.0001, 0.00001 * i, 0, 0.003 * i + 0.0001,
    0.0005 * i, 0.001 * i, 0, 0, 0, 0.0015 * i, CASE WHEN i % 5 <> 0 THEN 100 + i END,
    timestamptz '2026-01-31 17:50:00+00' + i * interval '97 minutes'
FROM generate_series(1, 1500) AS i
"""
SEED_CANDIDATES = """
INSERT INTO candidate_records (id, seq, kafka_partition, usage_id, request_id, candidate_index, retry_index,
    provider_id, status, is_cached, latency_ms, created_at)
SELECT 'c' || i, 1, 0, 'u' || i, 'r' || i, i % 2, 0, CASE WHEN i % 8 <> 0 THEN 'pid' || (i % 3) END,
    (ARRAY['success', 'failed', 'skipped', 'available'])[1 + i % 4], false, CASE WHEN i % 3 <> 0 THEN i END,
    timestamptz '2026-01-31 17:50:00+00' + i * interval '97 minutes'
FROM generate_series(1, 1500) AS i
"""
ZONE = "Asia/Kathmandu"  # +05:45: local months start off the UTC hour grid


async def _seed_and_set_zone(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SEED_USAGE)
        await conn.execute(SEED_CANDIDATES)
        await conn.execute("INSERT INTO meta (key, value) VALUES ('timezone', $1)", ZONE)
    finally:
        await conn.close()


async def _recount_differences(dsn: str) -> dict[str, tuple[int, int]]:
    """Per (dimension, grain): (stored rows, rows that differ from today's `verify` recount either way)."""
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for grain in (GRAIN_HOUR, GRAIN_MONTH):
            steps = [
                (
                    f"{dim} {grain}",
                    "usage_agg",
                    f"dim = '{dim}' AND grain = {grain}",
                    expected_usage_sql(dim, grain, ZONE),
                )
                for dim in DIMENSIONS
            ]
            steps.append((f"attempts {grain}", "attempt_agg", f"grain = {grain}", expected_attempts_sql(grain, ZONE)))
            for label, table, where, expected in steps:
                stored = f"SELECT * FROM {table} WHERE {where}"
                stored_n = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}")
                diff = await conn.fetchval(
                    f"SELECT count(*) FROM (({stored}) EXCEPT ({expected})"
                    f" UNION ALL (({expected}) EXCEPT ({stored}))) d"
                )
                out[label] = (stored_n, diff)
        return out
    finally:
        await conn.close()


def test_hour_and_month_grains_are_recounted_as_verify_counts(empty_db: Settings) -> None:
    """0003 fills the hour and month grains from the records already stored, in the day grain's zone: the rows it
    writes are exactly the ones `usagestream verify` expects today."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db)
    found = asyncio.run(_recount_differences(empty_db.asyncpg_dsn))
    assert all(stored > 0 for stored, _ in found.values()), found
    assert {label: diff for label, (_, diff) in found.items() if diff} == {}


# The counters 0006 adds (the others existed at 0005).
SUBSET_COUNTERS = ("fr_in", "fr_out", "fr_cc", "fr_cr", "fr_err", "fin_in", "fin_out", "fin_cc", "fin_cr")


# The counters 0008 adds.
CONTEXT_COUNTERS = ("fr_eff", "fr_ctx", "fin_eff", "fin_ctx", "r_cc", "r_cr", "r_eff", "r_ctx")


async def _aggregate_at_0005(dsn: str) -> None:
    await _aggregate_without(dsn, (*SUBSET_COUNTERS, *CONTEXT_COUNTERS))


# The dimensions 0009 and 0010 add.
NEW_DIMENSIONS = ("user_api_format", "provider_model")


async def _aggregate_without(dsn: str, missing: tuple[str, ...]) -> None:
    """The 15-minute and day rows a worker at an older revision would have written (0003 recounted the hour and
    month ones): today's recount, without the `missing` counters and the dimensions that revision did not have."""
    old = [c for c in USAGE_COUNTERS if c not in missing]
    cols = ", ".join(("dim", "key", "grain", "bucket", *old))
    conn = await asyncpg.connect(dsn)
    try:
        for grain in (GRAIN_15M, GRAIN_DAY):
            for dim in (d for d in DIMENSIONS if d not in NEW_DIMENSIONS):
                await conn.execute(
                    f"INSERT INTO usage_agg ({cols}) SELECT {cols} FROM ({expected_usage_sql(dim, grain, ZONE)}) e"
                )
            await conn.execute(f"INSERT INTO attempt_agg SELECT * FROM ({expected_attempts_sql(grain, ZONE)}) e")
    finally:
        await conn.close()


async def _verify_and_sums(dsn: str, counters: tuple[str, ...] = SUBSET_COUNTERS) -> tuple[int, list[int]]:
    conn = await asyncpg.connect(dsn)
    try:
        count, _ = await differences(conn, ZONE)
        row = await conn.fetchrow(f"SELECT {', '.join(f'sum({c})::bigint' for c in counters)} FROM usage_agg")
        assert row is not None
        return count, list(row.values())
    finally:
        await conn.close()


def test_subset_counters_are_filled_as_verify_counts(empty_db: Settings) -> None:
    """`db upgrade` from 0005 fills the counters 0006 adds in every stored row, as `usagestream verify` recounts
    them: after the upgrade, verify finds no difference at all (without the fill every row with finished
    requests would differ)."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db, "0005")
    asyncio.run(_aggregate_at_0005(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db)
    count, sums = asyncio.run(_verify_and_sums(empty_db.asyncpg_dsn))
    assert count == 0
    assert all(s > 0 for s in sums), sums


def test_input_context_counters_are_filled_as_verify_counts(empty_db: Settings) -> None:
    """`db upgrade` from 0007 fills the counters 0008 adds (effective input, total input context, the reached
    rows' cache tokens) in every stored row, as `usagestream verify` recounts them: after the upgrade, verify
    finds no difference at all (without the fill every row with finished or reached requests would differ)."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db, "0007")
    asyncio.run(_aggregate_without(empty_db.asyncpg_dsn, CONTEXT_COUNTERS))
    migrate.upgrade(empty_db)
    count, sums = asyncio.run(_verify_and_sums(empty_db.asyncpg_dsn, CONTEXT_COUNTERS))
    assert count == 0
    assert all(s > 0 for s in sums), sums


async def _verify_and_rows(dsn: str, dim: str) -> tuple[int, int, int]:
    """(verify's differences, the dimension's stored rows, of them in the hour and month grains)."""
    conn = await asyncpg.connect(dsn)
    try:
        count, _ = await differences(conn, ZONE)
        rows = await conn.fetchval("SELECT count(*) FROM usage_agg WHERE dim = $1", dim)
        coarse = await conn.fetchval("SELECT count(*) FROM usage_agg WHERE dim = $1 AND grain IN (2, 3)", dim)
        return count, rows, coarse
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("before", "dim"),
    [("0008", "user_api_format"), ("0009", "provider_model")],
    ids=["0009-user_api_format", "0010-provider_model"],
)
def test_a_new_dimension_s_rows_are_inserted_as_verify_counts(empty_db: Settings, before: str, dim: str) -> None:
    """`db upgrade` from `before` inserts the rows of the dimension the next revision adds for every grain, as
    `usagestream verify` recounts them: afterwards verify finds no difference (without them every bucket of the
    new dimension would be missing)."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db, before)
    asyncio.run(_aggregate_without(empty_db.asyncpg_dsn, ()))
    migrate.upgrade(empty_db)
    count, rows, coarse = asyncio.run(_verify_and_rows(empty_db.asyncpg_dsn, dim))
    assert count == 0
    assert rows > coarse > 0


async def _homes(dsn: str) -> dict[str, tuple[int, int, int]]:
    """Per record table: (records, homes, verify's differences between the two)."""
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for table, homes in (("usage_records", "usage_record_homes"), ("candidate_records", "candidate_record_homes")):
            diff = await conn.fetch(homes_difference_sql(table))
            out[table] = (
                await conn.fetchval(f"SELECT count(*) FROM {table}"),
                await conn.fetchval(f"SELECT count(*) FROM {homes}"),
                len(diff),
            )
        return out
    finally:
        await conn.close()


def test_record_homes_are_filled_from_the_stored_records(empty_db: Settings) -> None:
    """`db upgrade` from 0006 gives every stored record its home (id -> created_at): the writer's look-up by id goes
    through them, so a record without one would be counted again as new."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db, "0006")
    migrate.upgrade(empty_db)
    found = asyncio.run(_homes(empty_db.asyncpg_dsn))
    assert found == {"usage_records": (1500, 1500, 0), "candidate_records": (1500, 1500, 0)}


def test_db_upgrade_command_twice_is_harmless(empty_db: Settings) -> None:
    env = {**os.environ, "PYTHONSAFEPATH": "1", "USAGESTREAM_POSTGRES_DSN": empty_db.postgres_dsn}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "usagestream.cli", "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    tables, versions = asyncio.run(_schema(empty_db.asyncpg_dsn))
    assert TABLES <= tables and len(versions) == 1


async def _kept_days(dsn: str) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]], int, int]:
    """(the kept days, the configured zone's days that have completed records, how many kept days have a current
    revision, how many of those verify finds different from their records)."""
    conn = await asyncpg.connect(dsn)
    try:
        kept = [(r["lo"], r["hi"]) for r in await conn.fetch("SELECT lo, hi FROM completed_times_days ORDER BY lo")]
        dates = await conn.fetch(
            "SELECT DISTINCT (created_at AT TIME ZONE $1)::date AS d FROM usage_records WHERE status = 'completed'"
            " ORDER BY 1",
            ZONE,
        )
        zone = ZoneInfo(ZONE)
        days = [DayRange(r["d"], r["d"], zone).day_spans()[0] for r in dates]
        current = await conn.fetch(KEPT_SQL, [k[0] for k in kept], [k[1] for k in kept])
        return kept, days, len(current), len(await conn.fetch(MISMATCH_SQL))
    finally:
        await conn.close()


def test_the_daily_percentiles_are_kept_for_every_day_as_the_reader_asks(empty_db: Settings) -> None:
    """`db upgrade` from 0010 keeps the exact daily percentiles of every local day of `meta.timezone` that has
    records, with the bounds the reader asks for and a revision that is current, and verify's recount of them
    agrees (without the backfill every day would be read from the records until the worker's filler came by)."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db, "0010")
    migrate.upgrade(empty_db)
    kept, days, current, count = asyncio.run(_kept_days(empty_db.asyncpg_dsn))
    assert kept == days and len(kept) > 1
    assert current == len(kept) and count == 0


async def _provider_days(dsn: str) -> tuple[list[Any], list[Any], int, int, int]:
    """(the kept provider days, the configured zone's days that have records, how many kept days are current,
    how many rows they hold, how many kept days verify finds different from their records)."""
    conn = await asyncpg.connect(dsn)
    try:
        spans = [(r["lo"], r["hi"]) for r in await conn.fetch("SELECT lo, hi FROM provider_days ORDER BY lo, hi")]
        kept = [k for k in spans if k[1] - k[0] < timedelta(days=2)]  # the days (the others are weeks)
        weeks = [k for k in spans if k not in kept]
        assert weeks and all(w[0].astimezone(ZoneInfo(ZONE)).weekday() == 0 for w in weeks)
        dates = await conn.fetch(
            "SELECT DISTINCT (created_at AT TIME ZONE $1)::date AS d FROM usage_records ORDER BY 1", ZONE
        )
        days = [DayRange(r["d"], r["d"], ZoneInfo(ZONE)).day_spans()[0] for r in dates]
        los, his = [k[0] for k in spans], [k[1] for k in spans]
        current = await conn.fetch(pg_provider_days.KEPT_SQL, los, his, None, len(los), 0)
        rows = await conn.fetchval("SELECT count(*) FROM provider_day_rows")
        mismatches = len(await conn.fetch(pg_provider_days.MISMATCH_SQL))
        return kept, days, len({r["i"] for r in current}) - len(weeks), rows, mismatches
    finally:
        await conn.close()


def test_the_provider_days_are_kept_for_every_day_as_the_reader_asks(empty_db: Settings) -> None:
    """`db upgrade` from 0011 keeps every local day of `meta.timezone` that has records, with the bounds the reader
    asks for and a current revision, and verify's recount of its rows agrees."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db, "0011")
    migrate.upgrade(empty_db)
    kept, days, current, rows, count = asyncio.run(_provider_days(empty_db.asyncpg_dsn))
    assert kept == days and len(kept) > 1
    assert current == len(kept) and rows > len(kept) and count == 0


async def _slow_days(dsn: str) -> tuple[int, int, int]:
    """(rows with a slow count, rows whose `slow_n` differs from a count of their span's records, kept spans
    verify finds different from their records)."""
    conn = await asyncpg.connect(dsn)
    try:
        counted = (
            "SELECT count(*) FROM usage_records u WHERE u.created_at >= r.lo AND u.created_at < r.hi"
            f" AND {pg_provider_days.FINISHED} AND u.response_time_ms >= {pg_provider_days.KEPT_SLOW_MS}"
            " AND (r.provider_id = '' OR u.provider_id = r.provider_id)"
        )
        slow = await conn.fetchval("SELECT count(*) FROM provider_day_rows WHERE slow_n > 0")
        wrong = await conn.fetchval(f"SELECT count(*) FROM provider_day_rows r WHERE r.slow_n <> ({counted})")
        return slow, wrong, len(await conn.fetch(pg_provider_days.MISMATCH_SQL))
    finally:
        await conn.close()


def test_the_kept_provider_rows_get_their_default_slow_count(empty_db: Settings) -> None:
    """`db upgrade` from 0012 gives every kept row (days and weeks, per provider and over all) the count of its
    span's finished requests at or above the default slow threshold, as the filler would: verify agrees."""
    migrate.upgrade(empty_db, "0002")
    asyncio.run(_seed_and_set_zone(empty_db.asyncpg_dsn))
    asyncio.run(_slow_seed(empty_db.asyncpg_dsn))
    migrate.upgrade(empty_db, "0012")
    migrate.upgrade(empty_db)
    slow, wrong, mismatches = asyncio.run(_slow_days(empty_db.asyncpg_dsn))
    assert slow > 0 and wrong == 0 and mismatches == 0


async def _slow_seed(dsn: str) -> None:
    """A third of the seeded requests take 10 s or more (the seed's own times are 100 to 1,600 ms)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE usage_records SET response_time_ms = response_time_ms * 9")
    finally:
        await conn.close()
