"""Cache-affinity endpoints at 10 M density: ttl-analysis, hit-analysis and interval-timeline over 168 h.

What these endpoints cost depends on how many completed requests fall in the window, not on the history, so
the 10 M / 400 days density (~175,000 requests per 168 h) is reproduced cheaply: `--requests` finished
requests over the last `--days` days of a scratch database `usagestream_cache_bench` (default 250,000 over 10
days = 175,000 per 168 h; 700,000 over 28 days also fills the month partition as 10 M would), loaded with the
bulk path of the reads benchmark (reads_load.py: templates simulated by the load generator, cloned in SQL).
With `--sql N`, the SQL before migration 0004 and now is timed alternately (answers compared; `--explain`
adds EXPLAIN (ANALYZE, BUFFERS) of both); then, through a separate `usagestream api` process, each endpoint is
timed (sequential aiohttp requests, client-side time including HTTP and JSON). The database is dropped at the
end unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt

from usagestream.materializer.ops import migrate
from usagestream.materializer.pg_pool import _init_connection
from usagestream.materializer.read import cache
from usagestream.materializer.write.pg_views import _entities
from usagestream.settings import Settings

sys.path.append(str(Path(__file__).resolve().parent))  # PYTHONSAFEPATH=1 leaves the script's folder out
import reads as R
import reads_load as L

DB = "usagestream_cache_bench"
HOURS = 168


async def load(settings: Settings, args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    t0 = time.monotonic()
    tpl = await asyncio.to_thread(R.template_pool, args.pool, args.seed, "ae_bench_cache")
    pool = await asyncpg.create_pool(settings.asyncpg_dsn, min_size=1, max_size=L.WORKERS + 1, init=_init_connection)
    assert pool is not None
    start = now - timedelta(days=args.days)
    step_us = (args.days * 86400 - 60) * 1e6 / args.requests
    try:
        async with pool.acquire() as conn:
            await _entities(conn, tpl.entities)
            await conn.execute(
                "SELECT usagestream_month_partition(p, m) FROM unnest(ARRAY['usage_records',"
                " 'candidate_records']) p, generate_series($1::timestamptz, $2, interval '1 month') m",
                start - timedelta(days=31),
                now,
            )
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_records'"
                " AND indexname NOT LIKE '%_pkey'"
            )
            for r in indexes:
                await conn.execute(f'DROP INDEX "{r["indexname"]}"')
            await L.copy_templates(conn, tpl.finished, lambda x: x.usage)
        n_tpl = len(tpl.finished)
        await L.parallel(
            pool,
            [
                L.usage_insert("cachebch", lo, hi, n_tpl, start, step_us, settings.partitions)
                for lo, hi in L.chunks(args.requests, 100_000)
            ],
        )
        await L.parallel(pool, [r["indexdef"].replace(" ON ONLY ", " ON ") for r in indexes])
        async with pool.acquire() as conn:
            await conn.execute(f"DROP TABLE {L.TPL_USAGE}, {L.TPL_CAND}")
        await L.build_aggregates(pool, ("all", "user", "api_key"))  # what hit-analysis reads
        await L.parallel(pool, ["VACUUM ANALYZE usage_records", "VACUUM ANALYZE usage_agg", "VACUUM ANALYZE entities"])
        async with pool.acquire() as conn:
            facts["window"] = await conn.fetchval(
                "SELECT count(*) FROM usage_records WHERE status = 'completed' AND created_at > $1",
                now - timedelta(hours=HOURS),
            )
            facts["window_all"] = await conn.fetchval(
                "SELECT count(*) FROM usage_records WHERE created_at > $1", now - timedelta(hours=HOURS)
            )
            facts["users"] = await conn.fetchval(
                "SELECT count(DISTINCT user_id) FROM usage_records WHERE created_at > $1", now - timedelta(hours=HOURS)
            )
            top = await conn.fetchrow(
                "SELECT user_id, count(*) AS n FROM usage_records WHERE status = 'completed' AND created_at > $1"
                " GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
                now - timedelta(hours=HOURS),
            )
            facts["top_user"], facts["top_user_n"] = top["user_id"], top["n"]
    finally:
        await pool.close()
    facts["load_s"] = time.monotonic() - t0
    return facts


def cases(top_user: str) -> list[tuple[str, str, dict[str, str], bool]]:
    """(label, path, params, as the user): the calls the reference's frontend makes, over 168 h."""
    a, h = "/api/admin/usage/cache-affinity", str(HOURS)
    return [
        ("ttl-analysis", f"{a}/ttl-analysis", {"hours": h}, False),
        ("ttl-analysis, one user", f"{a}/ttl-analysis", {"hours": h, "user_id": top_user}, False),
        ("hit-analysis", f"{a}/hit-analysis", {"hours": h}, False),
        (
            "interval-timeline, include_user_info, limit 10000",
            f"{a}/interval-timeline",
            {"hours": h, "include_user_info": "true", "limit": "10000"},
            False,
        ),
        ("interval-timeline, limit 10000", f"{a}/interval-timeline", {"hours": h, "limit": "10000"}, False),
        ("interval-timeline, limit 50000", f"{a}/interval-timeline", {"hours": h, "limit": "50000"}, False),
        (
            "interval-timeline, one user, limit 2000",
            f"{a}/interval-timeline",
            {"hours": h, "limit": "2000", "user_id": top_user},
            False,
        ),
        (
            "/users/me/usage/interval-timeline, limit 5000",
            "/api/users/me/usage/interval-timeline",
            {"hours": h, "limit": "5000"},
            True,
        ),
    ]


# The SQL before migration 0004 (session 3), kept as the baseline of `--sql`: one scan of the period's
# completed records (a sequential scan of the month partition), sorted by user for the window functions.
_OLD_MIN = "EXTRACT(EPOCH FROM created_at - lag(created_at) OVER w)::float8 / 60"
_OLD_WIN = " WINDOW w AS (PARTITION BY {g} ORDER BY created_at, id)"


def _old_ttl(user: bool) -> str:
    bands = ", ".join(f"count(*) FILTER (WHERE {c}) AS {b}" for b, c in zip(cache.BANDS, cache._BAND_SQL, strict=True))
    pcts = ", ".join(f"percentile_cont({q}) WITHIN GROUP (ORDER BY m) AS p{int(q * 100)}" for q in (0.5, 0.75, 0.9))
    where = "status = 'completed' AND created_at > $1 AND user_id IS NOT NULL" + (" AND user_id = $2" if user else "")
    return (
        f"WITH iv AS (SELECT user_id AS g, {_OLD_MIN} AS m FROM usage_records WHERE {where}"
        f"{_OLD_WIN.format(g='user_id')}) SELECT g, count(*) AS n, {bands}, {pcts}, avg(m) AS avg_m, min(m) AS min_m,"
        ' max(m) AS max_m FROM iv WHERE m IS NOT NULL GROUP BY g HAVING count(*) >= 2 ORDER BY n DESC, g COLLATE "C"'
    )


def _old_intervals(user: bool) -> str:
    where = "status = 'completed' AND created_at > $1 AND user_id IS NOT NULL" + (" AND user_id = $3" if user else "")
    return f"SELECT id, user_id, created_at, model, {_OLD_MIN} AS m FROM usage_records WHERE {where}" + _OLD_WIN.format(
        g="user_id"
    )


def _old_simple(user: bool) -> str:
    return (
        f"SELECT * FROM (SELECT * FROM ({_old_intervals(user)}) b WHERE m IS NOT NULL AND m <= 120"
        " ORDER BY created_at DESC, id DESC LIMIT $2) newest ORDER BY created_at, id"
    )


OLD_MULTI = (
    f"WITH pts AS (SELECT * FROM ({_old_intervals(False)}) b WHERE m IS NOT NULL AND m <= 120),"
    " ranked AS (SELECT *, count(*) OVER (PARTITION BY user_id) AS user_cnt, count(*) OVER () AS total,"
    " row_number() OVER (PARTITION BY user_id ORDER BY created_at DESC, id DESC) AS rn FROM pts)"
    " SELECT user_id, created_at, model, m FROM ranked WHERE rn <= CASE WHEN total <= $2 THEN user_cnt"
    " ELSE GREATEST(ceil(user_cnt::numeric * $2 / total), 1) END ORDER BY created_at, id"
)


def sql_cases(top_user: str) -> list[tuple[str, str, str, list[Any]]]:
    """(label, SQL before, SQL now, arguments after $1 = since)."""
    one = "WITH grp(g) AS (SELECT $2::text)"
    return [
        ("ttl-analysis", _old_ttl(False), cache.ttl_query("user_id", [], cache.ALL_USERS), []),
        ("ttl-analysis, one user", _old_ttl(True), cache.ttl_query("user_id", [], one), [top_user]),
        ("interval-timeline multi, limit 10000", OLD_MULTI, cache.MULTI_TIMELINE, [10000]),
        ("interval-timeline simple, limit 10000", _old_simple(False), cache.simple_timeline(False), [10000]),
        ("interval-timeline one user, limit 2000", _old_simple(True), cache.simple_timeline(True), [2000, top_user]),
    ]


async def compare_sql(settings: Settings, top_user: str, repeat: int, explain_: bool) -> None:
    """Before and now, alternately on one connection, each in a read-only repeatable-read transaction (as the
    store runs them); the answers must be equal (the old multi view cut each user's newest points too)."""
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    try:
        for label, old, new, rest in sql_cases(top_user):
            times: dict[str, list[float]] = {"before": [], "now": []}
            answers: dict[str, Any] = {}
            for _ in range(repeat):
                since = datetime.now(UTC) - timedelta(hours=HOURS)  # the same period for both
                for key, sql in (("before", old), ("now", new)):
                    async with conn.transaction(isolation="repeatable_read", readonly=True):
                        t0 = time.perf_counter()
                        rows = await conn.fetch(sql, since, *rest)
                        times[key].append((time.perf_counter() - t0) * 1000)
                    answers[key] = [(r[0], r["n"]) if "n" in r.keys() else (r["created_at"], r["m"]) for r in rows]
            b, n = times["before"], times["now"]
            R.log(
                f"  SQL {label:<40} before p50 {statistics.median(b):7.1f} p99 {R.pct(b, 0.99):7.1f} ms | now p50"
                f" {statistics.median(n):7.1f} p99 {R.pct(n, 0.99):7.1f} ms | {len(answers['now'])} rows,"
                f" same as before: {answers['now'] == answers['before']}"
            )
            if explain_:
                for key, sql in (("before", old), ("now", new)):
                    plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", since, *rest)
                    print(f"--- {label} ({key})\n" + "\n".join(r[0] for r in plan) + "\n", flush=True)
    finally:
        await conn.close()


def token(settings: Settings, user_id: str, role: str) -> str:
    claims = {"user_id": user_id, "role": role, "type": "access", "exp": int(time.time()) + 86400}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def measure(settings: Settings, args: argparse.Namespace, top_user: str) -> list[tuple[str, list[float], int]]:
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-cache-api-{os.getpid()}.log"
    proc, url = await R.start_api(settings, log_path)
    out = []
    try:
        admin = {"Authorization": f"Bearer {token(settings, R.ADMIN_ID, 'admin')}"}
        user = {"Authorization": f"Bearer {token(settings, top_user, 'user')}"}
        async with aiohttp.ClientSession() as session:
            for label, path, params, as_user in cases(top_user):
                case = R.Case(label, "cache", path, params, None)
                session.headers.clear()
                session.headers.update(user if as_user else admin)
                samples, body = await R.time_ours(session, url, case, args.repeat, args.budget)
                points = body.get("total_points", body.get("total_users_analyzed", body.get("total_requests")))
                out.append((label, samples, points))
                R.log(
                    f"  {label:<52} p50 {statistics.median(samples):8.1f} ms  p99 {R.pct(samples, 0.99):8.1f} ms"
                    f"  (n={len(samples)}, size {points})"
                )
    finally:
        proc.terminate()
        proc.wait(15)
    return out


async def run(args: argparse.Namespace) -> None:
    base = Settings.from_env()
    settings = replace(
        base,
        redis_prefix=f"bench-cache-{uuid.uuid4().hex[:8]}:",
        jwt_secret=uuid.uuid4().hex * 2,
        timezone="UTC",
        active_timeout_s=10**9,
    )
    if not args.reuse:
        await R.drop_database(base, DB)
        settings = replace(
            await R.create_database(base, DB),
            redis_prefix=settings.redis_prefix,
            jwt_secret=settings.jwt_secret,
            timezone="UTC",
            active_timeout_s=10**9,
        )
    else:
        root = base.asyncpg_dsn.rsplit("/", 1)[0]
        settings = replace(settings, postgres_dsn=root + "/" + DB)
    try:
        await asyncio.to_thread(migrate.upgrade, settings)  # alembic runs its own event loop
        if not args.reuse:
            facts = await load(settings, args, datetime.now(UTC))
            R.log(f"loaded in {facts['load_s']:.0f}s: {facts}")
        conn = await asyncpg.connect(settings.asyncpg_dsn)
        since = datetime.now(UTC) - timedelta(hours=HOURS)
        top = await conn.fetchrow(
            "SELECT user_id, count(*) AS n FROM usage_records WHERE status = 'completed' AND created_at > $1"
            " GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
            since,
        )
        window = await conn.fetchval(
            "SELECT count(*) FROM usage_records WHERE status = 'completed' AND created_at > $1", since
        )
        await conn.close()
        R.log(f"window {HOURS} h: {window:,} completed requests; top user {top['user_id']} ({top['n']:,})")
        if args.sql:
            R.log(f"load average before SQL: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            await compare_sql(settings, top["user_id"], args.sql, args.explain)
        R.log(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        await measure(settings, args, top["user_id"])
        R.log(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        R.log("command: PYTHONSAFEPATH=1 .venv/bin/python bench/cache_affinity.py " + shlex.join(sys.argv[1:]))
    finally:
        if not args.keep:
            await R.drop_database(base, DB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=250_000, help="finished requests loaded")
    parser.add_argument("--days", type=float, default=10.0, help="spread over the last DAYS days")
    parser.add_argument("--pool", type=int, default=10_000, help="requests simulated as templates")
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per endpoint")
    parser.add_argument("--budget", type=float, default=60.0, help="stop timing one endpoint after this many s")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sql", type=int, default=0, help="time the SQL before / now alternately, N runs each")
    parser.add_argument("--explain", action="store_true", help="with --sql: EXPLAIN (ANALYZE, BUFFERS) of both")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DB}")
    parser.add_argument("--reuse", action="store_true", help=f"time the kept database {DB} (no load)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
