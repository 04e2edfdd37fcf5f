"""Reads-at-scale benchmark: the read API over a large history, side by side with the reference's approach.

It creates a fresh database, bulk-loads N requests spread over 400 days (final snapshots only: rows cloned from a
pool of requests simulated by the load generator, re-dated and re-identified, written with COPY), recounts every
aggregate with `verify.rebuild`, loads the live set, and copies the rows into the reference's own `usage` /
`request_candidates` tables with the reference's indexes (docs/reference-api.md §1.1, §1.2). Then it starts
`usagestream api`, times each endpoint over 1-day, 30-day and 365-day ranges (p50 / p99 of sequential requests),
times the same questions asked as the reference asks them (section 3, SQL through asyncpg), checks that both give
the same answer, and writes the tables into docs/benchmarks.md (section "Reads at scale").
Usage: PYTHONSAFEPATH=1 .venv/bin/python bench/reads.py [--requests 1000000] [--repeat 200] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import re
import shlex
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import jwt
import redis.asyncio as aioredis

from usagestream.contract import parse_candidate, parse_entity, parse_usage
from usagestream.fields import ACTIVE_STATUSES
from usagestream.materializer import pg_tables as t
from usagestream.materializer.ops import migrate
from usagestream.materializer.pg_pool import _init_connection
from usagestream.materializer.write.pg_views import PgViews, _entities
from usagestream.materializer.write.redis_live import RedisLive
from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings
from usagestream.stats import DIMENSIONS

sys.path.append(str(Path(__file__).resolve().parent))  # PYTHONSAFEPATH=1 leaves the script's folder out
import reads_load as L
import reads_stats as S

ADMIN_ID = "00000000-0000-4000-a000-00000000ad01"  # population.admin_messages
HISTORY_DAYS = 400
ACTIVE_WINDOW_S = 240  # the active requests started within the last few minutes
RANGES = (("1 day", 1, 24), ("30 days", 30, 168), ("365 days", 365, 720))
SECTION = "## Reads at scale"
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data -----------------------------------------------------------------------------------------------


@dataclass
class Template:
    """One simulated request's final snapshot and its candidates' final snapshots (values in column order)."""

    seq: int
    created_at: datetime
    usage: list[Any]
    candidates: list[tuple[int, list[Any]]]  # (seq, CANDIDATE_FIELDS values)


@dataclass
class Pool:
    finished: list[Template] = field(default_factory=list)
    active: list[Template] = field(default_factory=list)
    entities: list[Any] = field(default_factory=list)


U_ID, U_REQ = t.USAGE_FIELDS.index("id"), t.USAGE_FIELDS.index("request_id")
U_CREATED, U_FINAL = t.USAGE_FIELDS.index("created_at"), t.USAGE_FIELDS.index("finalized_at")
C_TIMES = [t.CANDIDATE_FIELDS.index(n) for n in ("created_at", "started_at", "finished_at")]


def template_pool(size: int, seed: int, token: str) -> Pool:
    """Simulate `size` requests with the load generator and keep each one's final state (and some active ones)."""
    messages = generate(size, seed=seed, dup_ratio=0.0, reorder_ratio=0.0, rename_ratio=0.0, admin_token=token)
    usage: dict[str, Any] = {}
    active: list[Any] = []
    cands: dict[str, Any] = {}
    pool = Pool()
    for m in messages:
        if m.kind == "usage":
            ev = parse_usage(m.key, m.value)
            if ev.usage.status in ACTIVE_STATUSES and len(active) < 400:
                active.append(ev)
            cur = usage.get(ev.usage_id)
            if cur is None or ev.seq > cur.seq:
                usage[ev.usage_id] = ev
        elif m.kind == "candidates":
            ev = parse_candidate(m.key, m.value)
            cur = cands.get(ev.candidate_id)
            if cur is None or ev.seq > cur.seq:
                cands[ev.candidate_id] = ev
        else:
            pool.entities.append(parse_entity(m.key, m.value))
    by_usage: dict[str, list[tuple[int, list[Any]]]] = {}
    for ev in cands.values():
        by_usage.setdefault(ev.usage_id, []).append((ev.seq, [getattr(ev.candidate, n) for n in t.CANDIDATE_FIELDS]))
    for ev in usage.values():
        if ev.usage.status in ACTIVE_STATUSES:
            continue
        values = [getattr(ev.usage, n) for n in t.USAGE_FIELDS]
        slots = by_usage.get(ev.usage_id, [])
        if len({(c[1][0], c[1][1]) for c in slots}) != len(slots):
            continue  # (candidate_index, retry_index) must be unique per request in the reference's table
        pool.finished.append(Template(ev.seq, ev.usage.created_at, values, slots))
    for ev in active:
        values = [getattr(ev.usage, n) for n in t.USAGE_FIELDS]
        pool.active.append(Template(ev.seq, ev.usage.created_at, values, []))
    return pool


@dataclass
class Plan:
    """The active requests (pending / streaming) of the last minutes: which template each copies, and when.

    The finished history is generated in SQL (reads_load.py) with the same identifiers for rows 0..offset-1."""

    when: list[datetime]
    template: list[Template]
    offset: int  # the first row number of these requests
    tag: str

    def usage_id(self, i: int) -> str:
        return f"{self.tag}-0000-4000-a000-{i:012x}"

    def request_id(self, i: int) -> str:
        return f"req_{self.tag}_{i:012x}"


def make_plan(pool: Pool, requests: int, active: int, now: datetime, seed: int, tag: str) -> Plan:
    """`active` requests spread over the last ACTIVE_WINDOW_S seconds, numbered after the finished ones."""
    rng = random.Random(seed)
    end = now - timedelta(seconds=ACTIVE_WINDOW_S)
    step = (ACTIVE_WINDOW_S - 5) / max(active, 1)
    when = [end + timedelta(seconds=step * k + rng.random() * step) for k in range(active)]
    templates = [pool.active[int(rng.random() * len(pool.active))] for _ in range(active)]
    return Plan(when, templates, requests - active, tag)


def usage_rows(plan: Plan, partitions: int) -> Iterator[tuple[Any, ...]]:
    for k, (when, tpl) in enumerate(zip(plan.when, plan.template, strict=True)):
        i = plan.offset + k
        values = list(tpl.usage)
        shift = when - tpl.created_at
        values[U_ID], values[U_REQ], values[U_CREATED] = plan.usage_id(i), plan.request_id(i), when
        if values[U_FINAL] is not None:
            values[U_FINAL] = values[U_FINAL] + shift
        yield (tpl.seq, i % partitions, False, *values)


# --- the reference's schema ---------------------------------------------------------------------------------

_MONEY = ", ".join(f"{c} float8" for c in (*t.USAGE_MONEY, *t.USAGE_OPT_MONEY))
REFERENCE_SCHEMA = f"""
CREATE TABLE users (id varchar(36) PRIMARY KEY, email varchar(255) UNIQUE, username varchar(100) NOT NULL UNIQUE,
    role varchar(20) NOT NULL, is_active boolean NOT NULL, is_deleted boolean NOT NULL, quota_usd float8,
    used_usd float8 NOT NULL DEFAULT 0, total_usd float8 NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE api_keys (id varchar(36) PRIMARY KEY, user_id varchar(36) REFERENCES users ON DELETE CASCADE,
    name varchar(100), key_encrypted text, is_standalone boolean NOT NULL DEFAULT false,
    is_active boolean NOT NULL DEFAULT true);
CREATE TABLE providers (id varchar(36) PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, billing_type varchar(20),
    is_active boolean NOT NULL DEFAULT true);
CREATE TABLE provider_endpoints (id varchar(36) PRIMARY KEY, provider_id varchar(36) REFERENCES providers,
    api_format varchar(50));
CREATE TABLE provider_api_keys (id varchar(36) PRIMARY KEY, provider_id varchar(36) REFERENCES providers,
    name varchar(100));
CREATE TABLE usage (id varchar(36) NOT NULL, user_id varchar(36), api_key_id varchar(36),
    request_id varchar(100) NOT NULL, provider_name varchar(100) NOT NULL, model varchar(100) NOT NULL,
    target_model varchar(100), provider_id varchar(36), provider_endpoint_id varchar(36),
    provider_api_key_id varchar(36), input_tokens int, output_tokens int, total_tokens int,
    cache_creation_input_tokens int, cache_read_input_tokens int, cache_cost_usd float8, {_MONEY},
    request_type varchar(50), api_format varchar(50), endpoint_api_format varchar(50),
    has_format_conversion boolean, is_stream boolean, status_code int, error_message text, response_time_ms int,
    first_byte_time_ms int, status varchar(20) NOT NULL, billing_status varchar(20) NOT NULL,
    finalized_at timestamptz, request_headers json, provider_request_headers json, response_headers json,
    client_response_headers json, request_body json, response_body json, request_metadata json,
    created_at timestamptz NOT NULL);
CREATE TABLE request_candidates (id varchar(36) NOT NULL, request_id varchar(100) NOT NULL,
    user_id varchar(36), api_key_id varchar(36), candidate_index int NOT NULL, retry_index int NOT NULL,
    provider_id varchar(36), endpoint_id varchar(36), key_id varchar(36), status varchar(20) NOT NULL,
    skip_reason text, is_cached boolean, status_code int, error_type varchar(50), error_message text,
    latency_ms int, concurrent_requests int, extra_data json, required_capabilities json,
    created_at timestamptz NOT NULL, started_at timestamptz, finished_at timestamptz)
"""
_USAGE_COPY = list(t.USAGE_FIELDS)
_USAGE_SELECT = [f"{c}::json" if c in t.USAGE_JSON else c for c in t.USAGE_FIELDS]
REFERENCE_FILL = f"""
INSERT INTO users SELECT id, data->>'email', data->>'username', data->>'role', (data->>'is_active')::boolean,
    (data->>'is_deleted')::boolean, (data->>'quota_usd')::float8, coalesce((data->>'used_usd')::float8, 0)
    FROM entities WHERE entity = 'user' AND NOT deleted;
INSERT INTO api_keys SELECT id, data->>'user_id', data->>'name', data->>'display' FROM entities
    WHERE entity = 'api_key' AND NOT deleted;
INSERT INTO providers SELECT id, data->>'name', data->>'billing_type' FROM entities
    WHERE entity = 'provider' AND NOT deleted;
INSERT INTO provider_endpoints SELECT id, data->>'provider_id', data->>'api_format' FROM entities
    WHERE entity = 'provider_endpoint' AND NOT deleted;
INSERT INTO provider_api_keys SELECT id, data->>'provider_id', data->>'name' FROM entities
    WHERE entity = 'provider_api_key' AND NOT deleted;
INSERT INTO usage ({", ".join(_USAGE_COPY)}, cache_cost_usd, billing_status)
    SELECT {", ".join(_USAGE_SELECT)}, cache_creation_cost_usd + cache_read_cost_usd,
    CASE WHEN status IN ('pending', 'streaming') THEN 'pending' ELSE 'settled' END FROM {{usage_records}};
INSERT INTO request_candidates (id, request_id, user_id, api_key_id, candidate_index, retry_index, provider_id,
    endpoint_id, key_id, status, skip_reason, is_cached, status_code, error_type, error_message, latency_ms,
    extra_data, created_at, started_at, finished_at)
    SELECT id, request_id, user_id, api_key_id, candidate_index, retry_index, provider_id, endpoint_id, key_id,
    status, skip_reason, is_cached, status_code, error_type, error_message, latency_ms, extra_data::json, created_at,
    started_at, finished_at FROM {{candidate_records}}
"""
# docs/reference-api.md §1.1 and §1.2 (SQLAlchemy index=True / unique=True / Index(...) of the models); the primary
# keys are built after the bulk fill, with the other indexes.
REFERENCE_INDEXES = """
CREATE UNIQUE INDEX usage_pkey ON usage (id);
CREATE UNIQUE INDEX request_candidates_pkey ON request_candidates (id);
CREATE UNIQUE INDEX ix_usage_request_id ON usage (request_id);
CREATE INDEX ix_usage_status ON usage (status);
CREATE INDEX ix_usage_billing_status ON usage (billing_status);
CREATE INDEX ix_usage_created_at ON usage (created_at);
CREATE INDEX idx_usage_user_created ON usage (user_id, created_at);
CREATE INDEX idx_usage_apikey_created ON usage (api_key_id, created_at);
CREATE INDEX idx_usage_provider_model_created ON usage (provider_name, model, created_at);
CREATE INDEX idx_usage_provider_created ON usage (provider_name, created_at);
CREATE INDEX idx_usage_model_created ON usage (model, created_at);
CREATE UNIQUE INDEX uq_candidate_slot ON request_candidates (request_id, candidate_index, retry_index);
CREATE INDEX ix_request_candidates_request_id ON request_candidates (request_id);
CREATE INDEX ix_request_candidates_status ON request_candidates (status);
CREATE INDEX ix_request_candidates_provider_id ON request_candidates (provider_id);
CREATE INDEX ix_request_candidates_created_at ON request_candidates (created_at)
"""


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]


# --- the reference's queries (docs/reference-api.md §3 and §4) ------------------------------------------

ERROR = "(u.status_code >= 400 OR u.error_message IS NOT NULL)"
FINISHED_REACHED = "u.status NOT IN ('pending', 'streaming') AND u.provider_name NOT IN ('unknown', 'pending')"
RANGE = "u.created_at >= $1 AND u.created_at <= $2"
REF_STATS = f"""SELECT count(u.id) AS n, sum(u.total_tokens) AS tokens, sum(u.total_cost_usd),
    sum(u.actual_total_cost_usd), avg(u.response_time_ms), sum(CASE WHEN {ERROR} THEN 1 ELSE 0 END) AS errors,
    sum(u.cache_creation_input_tokens), sum(u.cache_read_input_tokens), sum(u.cache_creation_cost_usd),
    sum(u.cache_read_cost_usd) FROM usage u WHERE {RANGE}"""
REF_MODEL = f"""SELECT u.model AS k, count(u.id) AS n, sum(u.total_tokens), sum(u.total_cost_usd),
    sum(u.actual_total_cost_usd) FROM usage u WHERE {RANGE} AND {FINISHED_REACHED}
    GROUP BY u.model ORDER BY count(u.id) DESC LIMIT 20"""
REF_API_FORMAT = f"""SELECT u.api_format AS k, count(u.id) AS n, sum(u.total_tokens), sum(u.total_cost_usd),
    sum(u.actual_total_cost_usd), avg(u.response_time_ms) FROM usage u WHERE {RANGE} AND {FINISHED_REACHED}
    AND u.api_format IS NOT NULL GROUP BY u.api_format ORDER BY count(u.id) DESC LIMIT 20"""
REF_USER = f"""SELECT users.id AS k, users.email, users.username, count(u.id) AS n, sum(u.total_tokens),
    sum(u.total_cost_usd) FROM users JOIN usage u ON u.user_id = users.id WHERE {RANGE}
    GROUP BY users.id, users.email, users.username ORDER BY count(u.id) DESC LIMIT 20"""
REF_PROVIDER_ATTEMPTS = """SELECT c.provider_id AS k, count(c.id) AS n,
    sum(CASE WHEN c.status = 'success' THEN 1 ELSE 0 END), sum(CASE WHEN c.status = 'failed' THEN 1 ELSE 0 END),
    avg(c.latency_ms) FROM request_candidates c WHERE c.provider_id IS NOT NULL
    AND c.status IN ('success', 'failed') AND c.created_at >= $1 AND c.created_at <= $2
    GROUP BY c.provider_id ORDER BY count(c.id) DESC LIMIT 20"""
REF_PROVIDER_USAGE = f"""SELECT u.provider_id, sum(u.total_tokens), sum(u.total_cost_usd),
    sum(u.actual_total_cost_usd) FROM usage u WHERE u.provider_id IS NOT NULL
    AND u.status NOT IN ('pending', 'streaming') AND {RANGE} GROUP BY u.provider_id"""
REF_PROVIDER_NAMES = "SELECT id, name FROM providers WHERE id = ANY($1::varchar[])"
REF_HEATMAP = """SELECT date_trunc('day', u.created_at AT TIME ZONE 'UTC') AS day, count(u.id) AS n,
    sum(u.input_tokens + u.output_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens),
    sum(u.total_cost_usd), sum(u.actual_total_cost_usd) FROM usage u
    WHERE u.created_at >= $1 AND u.created_at <= $2 GROUP BY 1"""
REF_JOINS = """FROM usage u LEFT JOIN users ON u.user_id = users.id
    LEFT JOIN provider_endpoints pe ON u.provider_endpoint_id = pe.id
    LEFT JOIN provider_api_keys pk ON u.provider_api_key_id = pk.id
    LEFT JOIN api_keys ak ON u.api_key_id = ak.id"""
REF_PAGE_COLUMNS = """u.id, u.user_id, users.id AS uid, users.email, users.username, ak.id AS ak_id, ak.name AS ak_name,
    ak.key_encrypted, u.provider_name, u.provider_id, u.model, u.target_model, u.input_tokens, u.output_tokens,
    u.cache_creation_input_tokens, u.cache_read_input_tokens, u.total_tokens, u.total_cost_usd,
    u.actual_total_cost_usd, u.rate_multiplier, u.response_time_ms, u.first_byte_time_ms, u.created_at,
    u.is_stream, u.input_price_per_1m, u.output_price_per_1m, u.cache_creation_price_per_1m,
    u.cache_read_price_per_1m, u.status_code, u.error_message, u.status, u.api_format, u.endpoint_api_format,
    pe.api_format AS pe_format, u.has_format_conversion, pk.name AS pk_name, u.request_id, u.request_metadata"""
REF_SEARCH = """(users.username ILIKE $3 ESCAPE '\\' OR ak.name ILIKE $3 ESCAPE '\\' OR u.model ILIKE $3 ESCAPE '\\'
    OR providers.name ILIKE $3 ESCAPE '\\')"""
REF_FLAGS = """SELECT c.request_id, c.candidate_index, c.retry_index, c.extra_data FROM request_candidates c
    WHERE c.request_id = ANY($1::varchar[]) AND c.status IN ('success', 'failed')"""
REF_ACTIVE_COLUMNS = """u.id, u.status, u.input_tokens, u.output_tokens, u.cache_creation_input_tokens,
    u.cache_read_input_tokens, u.total_cost_usd, u.actual_total_cost_usd, u.rate_multiplier, u.response_time_ms,
    u.first_byte_time_ms, u.api_format, u.endpoint_api_format, u.has_format_conversion, u.provider_name,
    pk.name AS api_key_name, u.created_at"""
REF_ACTIVE = f"""SELECT {REF_ACTIVE_COLUMNS} FROM usage u LEFT JOIN provider_api_keys pk
    ON u.provider_api_key_id = pk.id WHERE u.status IN ('pending', 'streaming') ORDER BY u.created_at DESC LIMIT 50"""
REF_ACTIVE_IDS = f"""SELECT {REF_ACTIVE_COLUMNS} FROM usage u LEFT JOIN provider_api_keys pk
    ON u.provider_api_key_id = pk.id WHERE u.id = ANY($1::varchar[])"""
REF_HIT = """SELECT count(u.id) AS n, count(u.id) FILTER (WHERE u.cache_read_input_tokens > 0) AS hits,
    sum(u.input_tokens), sum(u.cache_read_input_tokens), sum(u.cache_creation_input_tokens),
    sum(u.cache_read_cost_usd), sum(u.cache_creation_cost_usd) FROM usage u
    WHERE u.status = 'completed' AND u.created_at >= $1"""
_GAP = "EXTRACT(EPOCH FROM u.created_at - lag(u.created_at) OVER (PARTITION BY u.user_id ORDER BY u.created_at)) / 60"
REF_TTL = f"""WITH iv AS (SELECT u.user_id AS g, {_GAP} AS m FROM usage u
    WHERE u.status = 'completed' AND u.created_at > $1 AND u.user_id IS NOT NULL)
    SELECT g AS k, count(*) AS n, count(*) FILTER (WHERE m <= 5), count(*) FILTER (WHERE m > 5 AND m <= 15),
    count(*) FILTER (WHERE m > 15 AND m <= 30), count(*) FILTER (WHERE m > 30 AND m <= 60),
    count(*) FILTER (WHERE m > 60), percentile_cont(0.5) WITHIN GROUP (ORDER BY m),
    percentile_cont(0.75) WITHIN GROUP (ORDER BY m), percentile_cont(0.9) WITHIN GROUP (ORDER BY m),
    avg(m), min(m), max(m) FROM iv WHERE m IS NOT NULL GROUP BY g HAVING count(*) >= 2 ORDER BY count(*) DESC"""
REF_USERS = "SELECT id, username, email FROM users WHERE id = ANY($1::varchar[])"
REF_TIMELINE = f"""WITH iv AS (SELECT u.user_id, u.created_at, u.model, {_GAP} AS m FROM usage u
    WHERE u.status = 'completed' AND u.created_at > $1 AND u.user_id IS NOT NULL),
    f AS (SELECT * FROM iv WHERE m IS NOT NULL AND m <= 120),
    c AS (SELECT user_id, count(*) AS cnt FROM f GROUP BY user_id), tot AS (SELECT count(*) AS n FROM f),
    r AS (SELECT f.*, row_number() OVER (PARTITION BY f.user_id ORDER BY f.created_at) AS rn FROM f)
    SELECT r.created_at, r.model, r.m, r.user_id FROM r JOIN c USING (user_id), tot
    WHERE r.rn <= CASE WHEN tot.n <= $2 THEN c.cnt ELSE greatest(ceil(c.cnt::float8 * $2 / tot.n), 1) END
    ORDER BY r.created_at"""


# The time series the reference has no endpoint for, as one would write it over its `usage` table: by model,
# the requests /aggregation/stats?group_by=model counts (finished, reached a provider), as ours counts them.
REF_SERIES = f"""SELECT date_trunc($3, u.created_at, 'UTC') AS b, u.model AS k, count(u.id) AS n,
    sum(u.input_tokens), sum(u.output_tokens), sum(u.cache_creation_input_tokens), sum(u.cache_read_input_tokens),
    sum(u.total_tokens), sum(u.total_cost_usd), sum(u.actual_total_cost_usd),
    sum(CASE WHEN {ERROR} THEN 1 ELSE 0 END), avg(u.response_time_ms) FROM usage u
    WHERE {RANGE} AND {FINISHED_REACHED} GROUP BY 1, 2"""
SERIES_TOP = 10

Ref = Callable[[asyncpg.Connection], Awaitable[Any]]


def ref_stats(lo: datetime, hi: datetime) -> Ref:
    async def run(conn: asyncpg.Connection) -> Any:
        r = await conn.fetchrow(REF_STATS, lo, hi)
        return (r["n"], r["tokens"] or 0, r["errors"] or 0)

    return run


def ref_grouped(sql: str, lo: datetime, hi: datetime) -> Ref:
    async def run(conn: asyncpg.Connection) -> Any:
        return sorted((r["k"], r["n"]) for r in await conn.fetch(sql, lo, hi))

    return run


def ref_provider(lo: datetime, hi: datetime) -> Ref:
    async def run(conn: asyncpg.Connection) -> Any:
        attempts = await conn.fetch(REF_PROVIDER_ATTEMPTS, lo, hi)
        await conn.fetch(REF_PROVIDER_USAGE, lo, hi)
        await conn.fetch(REF_PROVIDER_NAMES, [r["k"] for r in attempts])
        return sorted((r["k"], r["n"]) for r in attempts)

    return run


def ref_series(lo: datetime, hi: datetime, unit: str) -> Ref:
    """Per bucket and model, then the top models by requests (the rest would be summed as `other`)."""

    async def run(conn: asyncpg.Connection) -> Any:
        rows = await conn.fetch(REF_SERIES, lo, hi, unit)
        totals: dict[str, int] = {}
        for r in rows:
            totals[r["k"]] = totals.get(r["k"], 0) + r["n"]
        top = set(sorted(totals, key=lambda k: (-totals[k], k))[:SERIES_TOP])
        return sorted((r["b"].astimezone(UTC).isoformat(), r["k"], r["n"]) for r in rows if r["k"] in top)

    return run


def ref_heatmap(now: datetime) -> Ref:
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lo, hi = today - timedelta(days=364), today + timedelta(days=1) - timedelta(microseconds=1)

    async def run(conn: asyncpg.Connection) -> Any:
        return sum(r["n"] for r in await conn.fetch(REF_HEATMAP, lo, hi))

    return run


def ref_records(lo: datetime, hi: datetime, search: str | None) -> Ref:
    joins, where, args = REF_JOINS, RANGE, [lo, hi]
    if search is not None:
        joins += " LEFT JOIN providers ON u.provider_id = providers.id"
        where += " AND " + REF_SEARCH
        args.append(f"%{search}%")

    async def run(conn: asyncpg.Connection) -> Any:
        total = await conn.fetchval(f"SELECT count(u.id) {joins} WHERE {where}", *args)
        rows = await conn.fetch(
            f"SELECT {REF_PAGE_COLUMNS} {joins} WHERE {where} ORDER BY u.created_at DESC LIMIT 20 OFFSET 0",
            *args,
        )
        await conn.fetch(REF_FLAGS, [r["request_id"] for r in rows])
        await conn.fetch(REF_PROVIDER_NAMES, list({r["provider_id"] for r in rows if r["provider_id"]}))
        return (total, [r["id"] for r in rows])

    return run


def ref_active(ids: list[str] | None) -> Ref:
    async def run(conn: asyncpg.Connection) -> Any:
        rows = await (conn.fetch(REF_ACTIVE) if ids is None else conn.fetch(REF_ACTIVE_IDS, ids))
        return sorted(r["id"] for r in rows)

    return run


def ref_hit(hours: int) -> Ref:
    async def run(conn: asyncpg.Connection) -> Any:
        r = await conn.fetchrow(REF_HIT, datetime.now(UTC) - timedelta(hours=hours))
        return (r["n"], r["hits"])

    return run


def ref_ttl(hours: int) -> Ref:
    async def run(conn: asyncpg.Connection) -> Any:
        groups = await conn.fetch(REF_TTL, datetime.now(UTC) - timedelta(hours=hours))
        await conn.fetch(REF_USERS, [g["k"] for g in groups])
        return sorted((g["k"], g["n"]) for g in groups)

    return run


def ref_timeline(hours: int) -> Ref:
    async def run(conn: asyncpg.Connection) -> Any:
        points = await conn.fetch(REF_TIMELINE, datetime.now(UTC) - timedelta(hours=hours), 10000)
        await conn.fetch(REF_USERS, list({p["user_id"] for p in points}))
        return len(points)

    return run


# --- what ours answers, reduced to what the reference's answer is compared on --------------------------------


def ours_key(kind: str, body: Any) -> Any:
    if kind.startswith("stats-"):
        return S.ours_key(kind, body)
    if kind == "stats":
        return (body["total_requests"], body["total_tokens"], body["error_count"])
    if kind in ("model", "api_format", "user", "provider"):
        name = {"model": "model", "api_format": "api_format", "user": "user_id", "provider": "provider_id"}[kind]
        return sorted((item[name], item["request_count"]) for item in body)
    if kind == "heatmap":
        return sum(d["requests"] for d in body["days"])
    if kind == "series":
        return sorted(
            (datetime.fromisoformat(p["bucket"]).astimezone(UTC).isoformat(), s["key"], p["requests"])
            for s in body["series"]
            if s["key"] != "__other__"
            for p in s["points"]
            if p["requests"]
        )
    if kind == "records":
        return (body["total"], [r["id"] for r in body["records"]])
    if kind == "daily":
        return sum(d["requests"] for d in body["daily_stats"])
    if kind == "active":
        return sorted(r["id"] for r in body["requests"])
    if kind == "hit":
        return (body["total_requests"], body["requests_with_cache_hit"])
    if kind == "ttl":
        return sorted((u["group_id"], u["request_count"]) for u in body["users"])
    if kind == "timeline":
        return body["total_points"]
    raise ValueError(kind)


def same(kind: str, ours: Any, ref: Any) -> str:
    if ours == ref:
        return "yes"
    if kind in ("model", "api_format", "user", "provider", "ttl") and ours and ref:
        # Equal counts at the cut of a top-N list may keep different keys (the reference's order of ties is
        # unspecified; ours is count desc, key asc): compare the counts, and the keys above the cut.
        cut = min(n for _, n in ours)
        if sorted(n for _, n in ours) == sorted(n for _, n in ref) and {p for p in ours if p[1] > cut} == {
            p for p in ref if p[1] > cut
        }:
            return "yes (ties at the cut)"
    if kind in ("hit", "ttl", "timeline"):
        # `now - hours` is taken a few milliseconds apart by the API and by the reference query.
        return "≈ (window edge)"
    return "NO"


# --- measuring ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    kind: str
    path: str
    params: dict[str, str]
    ref: Ref


@dataclass
class Result:
    label: str
    ours: list[float]
    ref: list[float]
    answer: str


def pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def time_ours(
    session: aiohttp.ClientSession, url: str, case: Case, repeat: int, budget_s: float
) -> tuple[list[float], Any]:
    body: Any = None
    for _ in range(3):  # warm-up
        async with session.get(url + case.path, params=case.params) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{case.label}: HTTP {resp.status}: {(await resp.text())[:300]}")
            body = await resp.json()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < repeat and (len(samples) < 5 or time.perf_counter() - started < budget_s):
        t0 = time.perf_counter()
        async with session.get(url + case.path, params=case.params) as resp:
            await resp.read()
            ok = resp.status == 200
        samples.append((time.perf_counter() - t0) * 1000)
        if not ok:
            raise RuntimeError(f"{case.label}: HTTP {resp.status}")
    return samples, body


async def time_ref(conn: asyncpg.Connection, case: Case, repeat: int, budget_s: float) -> tuple[list[float], Any]:
    answer = await case.ref(conn)  # warm-up
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < repeat and (len(samples) < 3 or time.perf_counter() - started < budget_s):
        t0 = time.perf_counter()
        await case.ref(conn)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples, answer


def cases_for(days: int, hours: int, now: datetime, searches: Sequence[str]) -> list[Case]:
    hi = now - timedelta(seconds=7, microseconds=123_457)
    lo = hi - timedelta(days=days) + timedelta(seconds=7 * 60 + 13, microseconds=250_001)  # not on a 15-min grid
    rng = {"start_date": lo.isoformat(), "end_date": hi.isoformat()}
    agg = "/api/admin/usage/aggregation/stats"
    cases = [
        Case("/stats", "stats", "/api/admin/usage/stats", rng, ref_stats(lo, hi)),
        Case(
            "/aggregation/stats?group_by=model",
            "model",
            agg,
            {**rng, "group_by": "model"},
            ref_grouped(REF_MODEL, lo, hi),
        ),
        Case(
            "/aggregation/stats?group_by=user", "user", agg, {**rng, "group_by": "user"}, ref_grouped(REF_USER, lo, hi)
        ),
        Case(
            "/aggregation/stats?group_by=provider",
            "provider",
            agg,
            {**rng, "group_by": "provider"},
            ref_provider(lo, hi),
        ),
        Case(
            "/aggregation/stats?group_by=api_format",
            "api_format",
            agg,
            {**rng, "group_by": "api_format"},
            ref_grouped(REF_API_FORMAT, lo, hi),
        ),
        Case(
            "/records (first page of 20)",
            "records",
            "/api/admin/usage/records",
            {**rng, "limit": "20"},
            ref_records(lo, hi, None),
        ),
    ]
    for word in searches:
        cases.append(
            Case(
                f"/records?search={word}",
                "records",
                "/api/admin/usage/records",
                {**rng, "limit": "20", "search": word},
                ref_records(lo, hi, word),
            )
        )
    cache = "/api/admin/usage/cache-affinity"
    h = {"hours": str(hours)}
    cases += [
        Case(f"/cache-affinity/hit-analysis (hours={hours})", "hit", f"{cache}/hit-analysis", h, ref_hit(hours)),
        Case(f"/cache-affinity/ttl-analysis (hours={hours})", "ttl", f"{cache}/ttl-analysis", h, ref_ttl(hours)),
        Case(
            f"/cache-affinity/interval-timeline (hours={hours})",
            "timeline",
            f"{cache}/interval-timeline",
            {**h, "include_user_info": "true", "limit": "10000"},
            ref_timeline(hours),
        ),
    ]
    return cases


def series_cases(now: datetime) -> list[Case]:
    """30 days hourly and 365 days daily by model (issue 15), ranges starting at an odd second."""
    out = []
    for days, unit in ((30, "hour"), (365, "day")):
        hi = now - timedelta(seconds=7, microseconds=123_457)
        lo = hi - timedelta(days=days) + timedelta(seconds=7 * 60 + 13, microseconds=250_001)
        params = {
            "start_date": lo.isoformat(),
            "end_date": hi.isoformat(),
            "granularity": unit,
            "group_by": "model",
            "limit": str(SERIES_TOP),
            "tz": "UTC",
        }
        label = f"/timeseries {days} days {'hourly' if unit == 'hour' else 'daily'} by model"
        out.append(Case(label, "series", "/api/admin/usage/timeseries", params, ref_series(lo, hi, unit)))
    return out


def local_days(now: datetime, zone: str, days: int) -> tuple[datetime, datetime]:
    """[the local midnight `days - 1` days before today's, the end of today] in `zone`, as UTC instants (the
    reference's RANGE is inclusive at both ends: the end is the next midnight minus 1 us)."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    lo = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tz)
    hi = datetime.combine(today + timedelta(days=1), datetime.min.time(), tz) - timedelta(microseconds=1)
    return lo.astimezone(UTC), hi.astimezone(UTC)


def ref_daily(lo: datetime, hi: datetime, zone: str) -> Ref:
    """Per local day of `zone` (Aether's daily stats: one GROUP BY over the range's rows)."""

    async def run(conn: asyncpg.Connection) -> Any:
        sql = f"SELECT count(u.id) AS n FROM usage u WHERE {RANGE} GROUP BY (u.created_at AT TIME ZONE $3)::date"
        rows = await conn.fetch(sql, lo, hi, zone)
        return sum(r["n"] for r in rows)

    return run


def aether_cases(now: datetime) -> list[Case]:
    """Today's Aether front end's ranges (issue 17): presets and dates read as local days of an IANA zone or a
    fixed offset, and the dashboard's daily stats; the reference answers the same local days by its GROUP BY."""
    usage, agg = "/api/admin/usage", "/api/admin/usage/aggregation/stats"
    week = local_days(now, "Asia/Kolkata", 7)
    month = local_days(now, "Asia/Kathmandu", 30)
    today = local_days(now, "America/New_York", 1)
    quarter = local_days(now, "Europe/Berlin", 90)
    fixed = local_days(now, "Asia/Kolkata", 30)  # tz_offset_minutes=330: the same days, no DST there
    dates = {"start_date": fixed[0].astimezone(ZoneInfo("Asia/Kolkata")).date().isoformat()}
    dates["end_date"] = now.astimezone(ZoneInfo("Asia/Kolkata")).date().isoformat()
    kolkata = {"timezone": "Asia/Kolkata", "tz_offset_minutes": "330"}
    return [
        Case(
            "/stats preset=last7days (Asia/Kolkata)",
            "stats",
            f"{usage}/stats",
            {"preset": "last7days", **kolkata},
            ref_stats(*week),
        ),
        Case(
            "/stats 30 local dates (tz_offset_minutes=330)",
            "stats",
            f"{usage}/stats",
            {**dates, "tz_offset_minutes": "330"},
            ref_stats(*fixed),
        ),
        Case(
            "/aggregation/stats?group_by=model preset=last30days (Asia/Kathmandu)",
            "model",
            agg,
            {"group_by": "model", "preset": "last30days", "timezone": "Asia/Kathmandu"},
            ref_grouped(REF_MODEL, *month),
        ),
        Case(
            "/aggregation/stats?group_by=provider preset=last90days (Europe/Berlin)",
            "provider",
            agg,
            {"group_by": "provider", "preset": "last90days", "timezone": "Europe/Berlin"},
            ref_provider(*quarter),
        ),
        Case(
            "/records preset=today (America/New_York)",
            "records",
            f"{usage}/records",
            {"preset": "today", "timezone": "America/New_York", "limit": "20"},
            ref_records(*today, None),
        ),
        Case(
            "/api/dashboard/daily-stats preset=last7days (Asia/Kolkata)",
            "daily",
            "/api/dashboard/daily-stats",
            {"preset": "last7days", **kolkata},
            ref_daily(*week, "Asia/Kolkata"),
        ),
    ]


async def stats_cases(conn: asyncpg.Connection, now: datetime) -> list[Case]:
    """The /api/admin/stats/* questions (bench/reads_stats.py), filtered by the busiest model and a provider."""
    model = await conn.fetchval(
        "SELECT key FROM usage_agg WHERE dim = 'model' AND grain = 3 GROUP BY key ORDER BY sum(n_all) DESC, key LIMIT 1"
    )
    provider = await conn.fetchval(
        "SELECT data ->> 'name' FROM entities WHERE entity = 'provider' AND NOT deleted ORDER BY id LIMIT 1"
    )
    return [
        Case(f"/stats/{label}", kind, S.STATS + path, params, ref)
        for label, kind, path, params, ref in S.cases(now, model, provider)
    ]


# --- the run -----------------------------------------------------------------------------------------------


async def create_database(base: Settings, name: str) -> Settings:
    root = base.asyncpg_dsn.rsplit("/", 1)[0]
    conn = await asyncpg.connect(root + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return replace(base, postgres_dsn=root + "/" + name)


async def drop_database(base: Settings, name: str) -> None:
    conn = await asyncpg.connect(base.asyncpg_dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


async def load(settings: Settings, args: argparse.Namespace, tag: str, now: datetime) -> dict[str, Any]:
    if settings.timezone != "UTC":
        raise ValueError("the bulk loader rolls day and month rows up from 15-minute rows: UTC only")
    facts: dict[str, Any] = {}
    t0 = time.monotonic()
    pool_size = min(args.requests, args.pool)
    log(f"simulating {pool_size:,} template requests with the load generator ...")
    tpl = await asyncio.to_thread(template_pool, pool_size, args.seed, "ae_bench_" + tag)
    plan = make_plan(tpl, args.requests, args.active, now, args.seed, tag[:8])
    facts["simulate_s"] = time.monotonic() - t0
    log(f"  {len(tpl.finished):,} finished and {len(tpl.active)} active templates in {facts['simulate_s']:.1f}s")
    # No command timeout: INSERT ... SELECT of millions of rows takes minutes.
    pool = await asyncpg.create_pool(settings.asyncpg_dsn, min_size=1, max_size=L.WORKERS + 1, init=_init_connection)
    assert pool is not None
    finished = args.requests - args.active
    span_start = now - timedelta(days=HISTORY_DAYS)
    step_us = (HISTORY_DAYS * 86400 - ACTIVE_WINDOW_S) * 1e6 / max(finished, 1)
    try:
        async with pool.acquire() as conn:
            await _entities(conn, tpl.entities)
            # Month partitions of the records for the whole history (migration 0002), if the schema has them.
            if await conn.fetchval("SELECT to_regproc('usagestream_month_partition') IS NOT NULL"):
                await conn.execute(
                    "SELECT usagestream_month_partition(p, m) FROM unnest(ARRAY['usage_records',"
                    " 'candidate_records']) p, generate_series($1::timestamptz, $2, interval '1 month') m",
                    span_start - timedelta(days=31),
                    now,
                )
            # Bulk path: drop the secondary indexes of the migration, load, then build them again (same definitions).
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('usage_records', 'candidate_records')"
                " AND indexname NOT LIKE '%_pkey'"
            )
            for r in indexes:
                await conn.execute(f'DROP INDEX "{r["indexname"]}"')
            n_cand_tpl = await L.copy_templates(conn, tpl.finished, lambda x: x.usage)
        n_tpl = len(tpl.finished)
        log(f"  {n_tpl:,} usage and {n_cand_tpl:,} candidate templates copied")
        size = 500_000
        await L.timed(
            f"INSERT {finished:,} requests into usage_records",
            log,
            facts,
            "copy_usage_s",
            L.parallel(
                pool,
                [
                    L.usage_insert(tag[:8], lo, hi, n_tpl, span_start, step_us, settings.partitions)
                    for lo, hi in L.chunks(finished, size)
                ],
            ),
        )
        async with pool.acquire() as conn:  # the active requests of the last minutes, through COPY
            await conn.copy_records_to_table(
                "usage_records",
                records=usage_rows(plan, settings.partitions),
                columns=list(t.USAGE_RECORD_COLUMNS),
            )
        await L.timed(
            "INSERT candidate_records",
            log,
            facts,
            "copy_candidates_s",
            L.parallel(
                pool,
                [
                    L.candidate_insert(
                        tag[:8], lo, hi, n_tpl, span_start, step_us, settings.partitions, args.candidate_share
                    )
                    for lo, hi in L.chunks(finished, size)
                ],
            ),
        )
        defs = [r["indexdef"].replace(" ON ONLY ", " ON ") for r in indexes]
        await L.timed(f"{len(defs)} indexes of the migration", log, facts, "index_s", L.parallel(pool, defs))
        async with pool.acquire() as conn:
            await conn.execute(f"DROP TABLE {L.TPL_USAGE}, {L.TPL_CAND}")
            facts["candidates"] = await conn.fetchval("SELECT count(*) FROM candidate_records")
            facts["entities"] = await conn.fetchval("SELECT count(*) FROM entities")
            await conn.execute("TRUNCATE usage_agg, attempt_agg")
        await L.timed("aggregates (set-based)", log, facts, "rebuild_s", L.build_aggregates(pool, DIMENSIONS))
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('timezone', $1) ON CONFLICT (key) DO UPDATE SET value = $1",
                settings.timezone,
            )
        await L.timed(
            "VACUUM ANALYZE of our tables",
            log,
            facts,
            "vacuum_s",
            L.parallel(
                pool,
                [
                    "VACUUM ANALYZE usage_records",
                    "VACUUM ANALYZE candidate_records",
                    "VACUUM ANALYZE usage_agg",
                    "VACUUM ANALYZE attempt_agg",
                    "VACUUM ANALYZE entities",
                ],
            ),
        )
        async with pool.acquire() as conn:
            facts["agg_rows"] = await conn.fetchval("SELECT count(*) FROM usage_agg")
        client = aioredis.from_url(settings.redis_url)
        try:
            partitions = list(range(settings.partitions))
            states = await PgViews(pool, settings).active_states(partitions)
            await RedisLive(client, settings).rebuild(partitions, states)
            facts["active"] = len(states)
            facts["active_ids"] = sorted(s["id"] for s in states)
        finally:
            await client.aclose()
        facts["ours_load_s"] = time.monotonic() - t0
        log(f"our views loaded in {facts['ours_load_s']:.0f}s; building the reference's tables ...")
        t4 = time.monotonic()
        async with pool.acquire() as conn:
            *small, fill_usage, fill_candidates = statements(REFERENCE_FILL)
            for sql in statements(REFERENCE_SCHEMA) + small:
                await conn.execute(sql)
            parts = {
                p: await conn.fetchval(  # each partition of our records, the biggest first
                    "SELECT array_agg(c.relname::text ORDER BY pg_relation_size(c.oid) DESC) FROM pg_inherits i"
                    " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
                    p,
                )
                for p in t.PARTITIONED_TABLES
            }
        fills = [fill_candidates.format(candidate_records=c) for c in parts["candidate_records"]]
        fills += [fill_usage.format(usage_records=u) for u in parts["usage_records"]]
        await L.parallel(pool, fills)  # one INSERT ... SELECT per partition, over the connections
        await L.parallel(pool, statements(REFERENCE_INDEXES))
        await L.parallel(
            pool,
            [
                f"ALTER TABLE {n} ADD CONSTRAINT {n}_pkey PRIMARY KEY USING INDEX {n}_pkey"
                for n in ("usage", "request_candidates")
            ],
            workers=1,
        )
        await L.parallel(pool, ["VACUUM ANALYZE usage", "VACUUM ANALYZE request_candidates"])
        async with pool.acquire() as conn:
            await conn.execute("ANALYZE users; ANALYZE api_keys; ANALYZE providers")
            facts["reference_load_s"] = time.monotonic() - t4
            facts["db_size"] = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
            facts["usage_size"] = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('usage'))")
            facts["records_size"] = await conn.fetchval(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c"
                " WHERE c.relname LIKE 'usage\\_records%' AND c.relkind IN ('r', 'p')"
            )
            facts["agg_size"] = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('usage_agg'))")
            span = await conn.fetchrow("SELECT min(created_at) AS lo, max(created_at) AS hi FROM usage_records")
            facts["span"] = (span["lo"], span["hi"])
        log(f"  reference tables and indexes in {facts['reference_load_s']:.0f}s; database {facts['db_size']}")
    finally:
        await pool.close()
    return facts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_api(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        **settings.to_env(),
        "PYTHONSAFEPATH": "1",
        "USAGESTREAM_LOG_LEVEL": "WARNING",
        "USAGESTREAM_HTTP_PORT": str(port),
    }
    exe = Path(sys.executable).parent / "usagestream"
    proc = subprocess.Popen([str(exe), "api"], env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"usagestream api exited: see {log_path}")
            try:
                async with s.get(url + "/ready") as r:
                    if r.status == 200:
                        return proc, url
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.terminate()
    raise RuntimeError("usagestream api did not become ready")


async def measure(settings: Settings, args: argparse.Namespace, facts: dict[str, Any]) -> dict[str, list[Result]]:
    token = jwt.encode(
        {"user_id": ADMIN_ID, "role": "admin", "type": "access", "exp": int(time.time()) + 86400},
        settings.jwt_secret,
        algorithm="HS256",
    )
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-reads-api-{os.getpid()}.log"
    proc, url = await start_api(settings, log_path)
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    tables: dict[str, list[Result]] = {}
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            now = datetime.now(UTC)
            groups: list[tuple[str, list[Case]]] = [
                (f"{name} range", cases_for(days, hours, now, args.search)) for name, days, hours in RANGES
            ]
            ids = facts["active_ids"][:10]
            groups.append(
                (
                    "no range",
                    [
                        Case("/heatmap (365 days)", "heatmap", "/api/admin/usage/heatmap", {}, ref_heatmap(now)),
                        Case("/active (newest 50)", "active", "/api/admin/usage/active", {}, ref_active(None)),
                        Case(
                            f"/active?ids= ({len(ids)} ids)",
                            "active",
                            "/api/admin/usage/active",
                            {"ids": ",".join(ids)},
                            ref_active(ids),
                        ),
                    ],
                )
            )
            groups.append(("time series", series_cases(now)))
            groups.append(("stats family", await stats_cases(conn, now)))
            groups.append(("today's Aether", aether_cases(now)))
            if args.groups:  # a resumed run measures only the groups it lacks
                groups = [(ti, cs) for ti, cs in groups if any(ti.startswith(g) for g in args.groups)]
            if args.cases:
                groups = [(ti, [c for c in cs if any(c.label.startswith(k) for k in args.cases)]) for ti, cs in groups]
            for title, cases in groups:
                results = []
                for case in cases:
                    ours, body = await time_ours(session, url, case, args.repeat, args.budget)
                    ref, answer = await time_ref(conn, case, args.ref_repeat, args.budget)
                    kind = "records" if case.kind == "records" else case.kind
                    verdict = same(kind, ours_key(kind, body), answer)
                    results.append(Result(case.label, ours, ref, verdict))
                    log(
                        f"  {title:>15} {case.label:<48} ours p50 {statistics.median(ours):8.2f} ms"
                        f" p99 {pct(ours, 0.99):8.2f} | reference p50 {statistics.median(ref):9.1f} ms"
                        f" p99 {pct(ref, 0.99):9.1f} | same answer: {verdict}"
                    )
                tables[title] = results
    finally:
        await conn.close()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return tables


# --- the report --------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "memory": mem, "python": platform.python_version(), "cpu": _cpu_model()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def fmt_ms(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def ratio(x: float) -> str:
    return f"{x:,.1f}x" if x >= 0.1 else f"{x:.2f}x"


def render(
    args: argparse.Namespace, facts: dict[str, Any], tables: dict[str, list[Result]], info: dict[str, str]
) -> str:
    lo, hi = facts["span"]
    lines = [
        SECTION,
        "",
        f"Command: `{info['command']}`",
        "",
        f"- Date: {info['date']}; machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, shared with"
        f" other work (load average {info['load_before']} before, {info['load_after']} after the timings);"
        f" PostgreSQL {info['pg']}, Python {info['python']}; Kafka, PostgreSQL and Redis on the same machine.",
        f"- History: {args.requests:,} requests over {HISTORY_DAYS} days ({lo:%Y-%m-%d} to {hi:%Y-%m-%d %H:%M} UTC),"
        f" {facts['candidates']:,} candidate rows, {facts['entities']} entity rows, {facts['active']} active requests"
        f" in the Redis live set; {facts['agg_rows']:,} aggregate rows ({facts['agg_size']}); usage_records"
        f" {facts['records_size']}, the reference's `usage` {facts['usage_size']}; database {facts['db_size']}.",
        f"- Loading: {facts['load_total_s']:.0f} s in all: simulating the templates {facts['simulate_s']:.0f} s,"
        f" INSERT ... SELECT of usage_records {facts['copy_usage_s']:.0f} s and candidate_records"
        f" {facts['copy_candidates_s']:.0f} s (bench/reads_load.py, {L.WORKERS} connections), their indexes"
        f" {facts['index_s']:.0f} s, every aggregate set-based (all four grains of a dimension by one GROUP BY"
        f" ... GROUPING SETS over the records, then the aggregates' indexes) {facts['rebuild_s']:.0f} s,"
        f" VACUUM ANALYZE {facts['vacuum_s']:.0f} s,"
        f" the reference's tables and indexes (INSERT ... SELECT, CREATE INDEX, VACUUM ANALYZE)"
        f" {facts['reference_load_s']:.0f} s.",
        "- Rows are final snapshots of requests simulated by the load generator (Zipf users and models, statuses,"
        " fallbacks, retries, cache tokens), cloned in SQL onto uniform slots with a random offset over the"
        " history (template picked by a hash of the row number).",
        f"- Ours: `usagestream api` (a separate process), sequential aiohttp requests, {args.repeat} per endpoint"
        f" after 3 warm-ups (fewer if one endpoint took over {args.budget:.0f} s); client-side time including HTTP"
        " and JSON. Reference: the same questions as SQL the way docs/reference-api.md §3 asks them, over"
        " one `usage` table with the reference's indexes, through asyncpg directly (no HTTP, no ORM, no Redis"
        f" cache), {args.ref_repeat} runs each after one warm-up (p99 of so few runs is about the maximum)."
        " Ratio = reference p50 / ours p50. `same answer` compares counts / ids / top-N of both answers.",
        "- Ranges end a few seconds before now and start at an odd second (not on a 15-minute boundary);"
        " the cache-affinity endpoints take `hours` (24 / 168 / 720) instead of a range. The reference's heatmap"
        " is a 365-day GROUP BY date over `usage` (the reference revision caches it 10 minutes and reads"
        " `stats_daily` for past days); its `/active` skips the sweeper's UPDATE.",
        "- Time series (no reference endpoint): the same per-bucket, per-model counters as one GROUP BY"
        " `date_trunc(unit, created_at, 'UTC')`, model over `usage`, top 10 models picked from its rows; `same"
        " answer` compares every (bucket, model, requests) of the top 10.",
        "",
    ]
    return "\n".join(lines + [render_tables(args, tables)])


def render_tables(args: argparse.Namespace, tables: dict[str, list[Result]]) -> str:
    lines: list[str] = []
    for title, results in tables.items():
        head = "| endpoint | ours p50 ms | ours p99 ms | reference p50 ms | reference p99 ms | ratio | same answer |"
        lines += [f"### {title}", "", head, "|---|---:|---:|---:|---:|---:|---|"]
        for r in results:
            o50, o99, r50, r99 = (
                statistics.median(r.ours),
                pct(r.ours, 0.99),
                statistics.median(r.ref),
                pct(r.ref, 0.99),
            )
            n = f" (n={len(r.ours)})" if len(r.ours) < args.repeat else ""
            lines.append(
                f"| `{r.label}`{n} | {fmt_ms(o50)} | {fmt_ms(o99)} | {fmt_ms(r50)} | {fmt_ms(r99)} |"
                f" {ratio(r50 / o50)} | {r.answer} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n\nMeasured figures; each section says its command.\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text.rstrip("\n") + "\n")


async def remeasure(args: argparse.Namespace) -> None:
    """Time the endpoints again over a database a run kept (--keep), without loading; write only the tables."""
    base = Settings.from_env()
    tag = args.reuse.rsplit("_", 1)[1]
    settings = replace(
        base,
        postgres_dsn=base.asyncpg_dsn.rsplit("/", 1)[0] + "/" + args.reuse,
        redis_prefix=f"bench-reads-{tag}:",
        jwt_secret=uuid.uuid4().hex * 2,
        timezone="UTC",
        active_timeout_s=10**9,
    )
    pool = await asyncpg.create_pool(settings.asyncpg_dsn, min_size=1, max_size=2, init=_init_connection)
    assert pool is not None
    try:
        states = await PgViews(pool, settings).active_states(list(range(settings.partitions)))
    finally:
        await pool.close()
    facts = {"active_ids": sorted(s["id"] for s in states)}
    before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tables = await measure(settings, args, facts)
    after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = f"Re-measured {args.reuse} at {started}; load average {before} before, {after} after.\n\n"
    Path(args.out).write_text(text + render_tables(args, tables) + "\n")
    log(f"wrote {args.out}")


async def run(args: argparse.Namespace) -> None:
    if args.reuse:
        await remeasure(args)
        return
    base = Settings.from_env()
    tag = uuid.uuid4().hex[:8]
    name = f"usagestream_bench_reads_{tag}"
    settings = await create_database(base, name)
    settings = replace(
        settings,
        redis_prefix=f"bench-reads-{tag}:",
        jwt_secret=uuid.uuid4().hex * 2,
        timezone="UTC",
        active_timeout_s=10**9,
    )
    log(f"database {name}")
    command = ("PYTHONSAFEPATH=1 .venv/bin/python bench/reads.py " + shlex.join(sys.argv[1:])).strip()
    info = {"command": command, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), **machine()}
    try:
        await asyncio.to_thread(migrate.upgrade, settings)  # alembic runs its own event loop
        started = time.monotonic()
        facts = await load(settings, args, tag, datetime.now(UTC))
        facts["load_total_s"] = time.monotonic() - started
        log(f"loading took {facts['load_total_s']:.0f}s")
        conn = await asyncpg.connect(settings.asyncpg_dsn)
        info["pg"] = await conn.fetchval("SHOW server_version")
        await conn.close()
        info["load_before"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        tables = await measure(settings, args, facts)
        info["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        section = render(args, facts, tables, info)
        out = ROOT / args.out if not Path(args.out).is_absolute() else Path(args.out)
        write_section(out, section)
        log(f"wrote {out}")
    finally:
        if args.keep:
            log(f"kept database {name} (redis prefix {settings.redis_prefix})")
        else:
            await drop_database(base, name)
            client = aioredis.from_url(base.redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=settings.redis_prefix + "*")]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests of history")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per endpoint (ours)")
    parser.add_argument("--ref-repeat", type=int, default=20, help="timed runs per question (reference)")
    parser.add_argument("--budget", type=float, default=30.0, help="stop timing one endpoint after this many s")
    parser.add_argument("--pool", type=int, default=30_000, help="requests simulated as templates")
    parser.add_argument("--active", type=int, default=40, help="active requests (pending / streaming)")
    parser.add_argument("--candidate-share", type=float, default=1.0, help="share of requests with candidates")
    parser.add_argument("--search", nargs="*", default=["sonnet", "user0150"], help="records search words")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and Redis keys")
    parser.add_argument("--reuse", help="time the endpoints over this kept database instead of loading one")
    parser.add_argument(
        "--groups",
        nargs="*",
        help="only these groups: '1 day', '30 days', '365 days', 'no range', 'time series', 'stats family',"
        ' "today\'s Aether"',
    )
    parser.add_argument("--cases", nargs="*", help="only the endpoints whose label starts with one of these")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
