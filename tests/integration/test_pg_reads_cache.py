"""Cache-affinity SQL (materializer/read/cache.py) on the cases its fast path depends on.

The gap in minutes is computed with date_part under a day and EXTRACT above: it must equal the reference's
EXTRACT(EPOCH FROM gap)::float8 / 60 bit for bit. The users come from the month rows of the aggregates (recounted
here from the records, as `usagestream rebuild` does; tests/integration/test_pg_reads_records.py covers the same
answers with the aggregates the writer keeps), and each user's rows are read per partition: a period across a
month boundary, rows before it, ties on created_at, other statuses and months cut in another zone must give what a
plain scan of the records gives.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from usagestream.http.shape import cache as shape
from usagestream.materializer.ops import verify
from usagestream.materializer.read import cache
from usagestream.materializer.read.sql import iso
from usagestream.settings import Settings

NOW = datetime(2020, 2, 2, 12, 0, tzinfo=UTC)  # months no other test writes to: their partitions are ours
HOURS = 168
T = datetime(2020, 1, 1, tzinfo=UTC)


async def test_gap_minutes_is_the_reference_gap(pg: asyncpg.Connection) -> None:
    """Every gap, sub-microsecond patterns, around a day and up to weeks: the same float8 as the reference."""
    differ, n = await pg.fetchrow(
        "SELECT count(*) FILTER (WHERE ours IS DISTINCT FROM ref), count(*) FROM ("
        f" SELECT {cache.GAP_MINUTES} AS ours, EXTRACT(EPOCH FROM d)::float8 / 60 AS ref FROM ("
        "  SELECT timestamptz '2026-03-08 01:59:59.999999+00' + make_interval(secs => s / 1e6) AS b,"
        "         timestamptz '2026-03-08 01:59:59.999999+00' AS a FROM ("
        "   SELECT (hashint8extended(i, 5) & 9223372036854775807) % (86400000000 * (1 + i % 30)) AS s"
        "   FROM generate_series(1, 200000) i"
        "   UNION ALL SELECT unnest(ARRAY[0, 1, 999999, 1000000, 59999999, 86399999999, 86400000000,"
        "                                  86400000001, 172800000000, 1234567890123]::bigint[])) x) y,"
        "  LATERAL (SELECT b - a AS d) z) w"
    )
    assert n == 200010 and differ == 0


Users = dict[str, list[tuple[datetime, str, str]]]
USERS: Users = {  # user -> [(created_at, id, status)]
    "ua": [  # only in January, in the period, gaps over a day; a failed request does not count
        (T + timedelta(days=26, hours=10), "a1", "completed"),
        (T + timedelta(days=27, hours=10, microseconds=1), "a2", "completed"),
        (T + timedelta(days=27, hours=10, minutes=3), "a9", "failed"),
        (T + timedelta(days=28, hours=11, minutes=30), "a3", "completed"),
        (T + timedelta(days=30, hours=23, minutes=59), "a4", "completed"),
    ],
    "ub": [  # before the period, then across the month boundary
        (T + timedelta(days=24), "b0", "completed"),
        (T + timedelta(days=30, hours=23, minutes=50), "b1", "completed"),
        (T + timedelta(days=31, minutes=5), "b2", "completed"),
        (T + timedelta(days=31, minutes=10, seconds=7, microseconds=333333), "b3", "completed"),
        (T + timedelta(days=32, hours=11), "b4", "completed"),
    ],
    "uc": [  # only in February; two requests at the same instant (ordered by id)
        (T + timedelta(days=31, hours=10), "c1", "completed"),
        (T + timedelta(days=31, hours=10, minutes=1), "c2", "completed"),
        (T + timedelta(days=31, hours=10, minutes=3), "c4", "completed"),
        (T + timedelta(days=31, hours=10, minutes=3), "c3", "completed"),
        (T + timedelta(days=31, hours=10, minutes=7, seconds=30), "c5", "completed"),
        (T + timedelta(days=31, hours=13), "c6", "completed"),
    ],
    "ud": [  # only before the period
        (T + timedelta(days=19), "d1", "completed"),
        (T + timedelta(days=20), "d2", "completed"),
        (T + timedelta(days=21), "d3", "completed"),
    ],
}


async def _load(pg: asyncpg.Connection, settings: Settings, users: Users = USERS) -> None:
    """The records of `users`, then every aggregate recounted from them (months cut in settings.timezone)."""
    await _insert(pg, users)
    await verify.rebuild(settings, out=io.StringIO())


async def _insert(pg: asyncpg.Connection, users: Users) -> None:
    await pg.execute(
        "SELECT usagestream_month_partition('usage_records', m)"
        " FROM generate_series(timestamptz '2019-12-01', '2020-02-01', interval '1 month') m"
    )
    rows = [(i, u, at, st) for u, rs in users.items() for at, i, st in rs]
    await pg.executemany(
        "INSERT INTO usage_records (id, seq, kafka_partition, request_id, provider_name, model, is_stream, status,"
        " input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens,"
        " input_cost_usd, output_cost_usd, cache_creation_cost_usd, cache_read_cost_usd, request_cost_usd,"
        " total_cost_usd, actual_input_cost_usd, actual_output_cost_usd, actual_cache_creation_cost_usd,"
        " actual_cache_read_cost_usd, actual_request_cost_usd, actual_total_cost_usd, created_at, user_id,"
        " api_key_id) VALUES ($1, 1, 0, $1, 'p', 'm-' || $2, false, $4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
        " 0, 0, 0, 0, $3, $2, 'k-' || $2)",
        rows,
    )
    if users is not USERS:
        return
    parts = await pg.fetch(
        "SELECT DISTINCT tableoid::regclass::text AS p FROM usage_records WHERE id IN ('a1', 'b4', 'd1')"
    )
    assert {r["p"] for r in parts} == {"usage_records_p202001", "usage_records_p202002"}


def _gaps(user: str, users: Users = USERS, hours: int = HOURS) -> list[tuple[datetime, str, float]]:
    since = NOW - timedelta(hours=hours)
    rs = sorted((at, i) for at, i, st in users[user] if st == "completed" and at > since)
    return [(b[0], b[1], (b[0] - a[0]).total_seconds() / 60) for a, b in zip(rs, rs[1:], strict=False)]


def _pct(ms: list[float], q: float) -> float:
    s = sorted(ms)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


async def ttl_analysis(
    pg: asyncpg.Connection, user_id: str | None, api_key_id: str | None, hours: int, now: datetime
) -> dict[str, Any]:
    """The TTL analysis as the API answers it: the rows read, then shaped (http/shape/cache.py)."""
    groups, users = await cache.ttl_rows(pg, user_id, api_key_id, now - timedelta(hours=hours))
    return await shape.ttl_body(groups, users, hours, by_user=api_key_id is None)


async def interval_timeline(
    pg: asyncpg.Connection, hours: int, limit: int, user_id: str | None, info: bool, now: datetime
) -> dict[str, Any]:
    """The interval timeline as the API answers it: the rows read, then shaped (http/shape/cache.py)."""
    multi = info and user_id is None
    rows, users = await cache.timeline_rows(pg, now - timedelta(hours=hours), limit, user_id, multi)
    return await shape.timeline_body(rows, users, hours, multi)


async def test_ttl_across_a_month_boundary(pg: asyncpg.Connection, settings: Settings) -> None:
    await _load(pg, settings)
    got = await ttl_analysis(pg, None, None, HOURS, NOW)
    want = {u: [m for _, _, m in _gaps(u)] for u in USERS if len(_gaps(u)) >= 2}
    assert [g["group_id"] for g in got["users"]] == ["uc", "ua", "ub"]  # count desc, then id
    for g in got["users"]:
        ms = want[g["group_id"]]
        assert g["request_count"] == len(ms)
        assert g["percentiles"] == {f"p{int(q * 100)}": round(_pct(ms, q), 2) for q in (0.5, 0.75, 0.9)}
        assert g["max_interval_minutes"] == round(max(ms), 2)
        assert sum(g["interval_distribution"].values()) == len(ms)
    one = await ttl_analysis(pg, "ub", None, HOURS, NOW)
    assert [g["group_id"] for g in one["users"]] == ["ub"] and one["users"][0]["request_count"] == 3
    key = await ttl_analysis(pg, "ub", "k-ub", HOURS, NOW)
    assert [(g["group_id"], g["request_count"], g["username"]) for g in key["users"]] == [("k-ub", 3, None)]
    assert (await ttl_analysis(pg, "ua", "k-ub", HOURS, NOW))["users"] == []


def _points(
    limit: int, user: str | None, multi: bool, users: Users = USERS, hours: int = HOURS
) -> list[dict[str, Any]]:
    per = {u: [p for p in _gaps(u, users, hours) if p[2] <= 120] for u in users if user is None or u == user}
    total = sum(len(v) for v in per.values())
    kept: list[tuple[datetime, str, float, str]] = []
    for u, pts in per.items():
        if multi:
            keep = len(pts) if total <= limit else max(-(-len(pts) * limit // total), 1)
        else:
            keep = limit
        kept += [(*p, u) for p in pts[len(pts) - keep :]] if keep else []
    kept.sort()
    if not multi:
        kept = kept[-limit:]
    return [
        {"x": iso(at), "y": round(m, 2), **({"user_id": u} if multi else {}), "model": f"m-{u}"} for at, _, m, u in kept
    ]


async def test_interval_timeline_across_a_month_boundary(pg: asyncpg.Connection, settings: Settings) -> None:
    await _load(pg, settings)
    for limit, user, info in [
        (100, None, True),
        (3, None, True),
        (4, None, True),
        (100, None, False),
        (2, None, False),
        (2, "ub", False),
        (100, "uc", True),
    ]:
        got = await interval_timeline(pg, HOURS, limit, user, info, NOW)
        assert got["points"] == _points(limit, user, info and user is None), (limit, user, info)


async def test_users_of_months_cut_twelve_hours_behind_utc(pg: asyncpg.Connection, settings: Settings) -> None:
    """The users are read from month rows: cut at UTC-12, the month holding the last hour of 2020-02-01 11:00 UTC
    (local 2020-01-31 23:00) starts 2020-01-01 12:00 UTC, 30 days 23 hours before the period; its user is listed
    (a bound at the period's UTC month, 2020-02-01 00:00, would miss it)."""
    at = datetime(2020, 2, 1, 11, 0, tzinfo=UTC)
    users: Users = {"ue": [(at + timedelta(minutes=m), f"e{m}", "completed") for m in (10, 20, 50)]}
    await _load(pg, replace(settings, timezone="Etc/GMT+12"), users)
    bucket = await pg.fetchval("SELECT bucket FROM usage_agg WHERE dim = 'user' AND key = 'ue' AND grain = 3")
    assert bucket == datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    now = at + timedelta(hours=1)
    got = await ttl_analysis(pg, None, None, 1, now)
    assert [(g["group_id"], g["request_count"]) for g in got["users"]] == [("ue", 2)]
    timeline = await interval_timeline(pg, 1, 100, None, True, now)
    assert [(p["user_id"], p["y"]) for p in timeline["points"]] == [("ue", 10.0), ("ue", 30.0)]


# The reference's TTL analysis (docs/reference-api.md §1.1 `usage`, over our records): a window function over the
# period's completed rows and one GROUP BY with the reference's aggregates.
REF_TTL = """WITH iv AS (SELECT user_id AS g, EXTRACT(EPOCH FROM created_at - lag(created_at)
    OVER (PARTITION BY user_id ORDER BY created_at))::float8 / 60 AS m FROM usage_records
    WHERE status = 'completed' AND created_at > $1 AND user_id IS NOT NULL)
    SELECT g, count(*) AS n, count(*) FILTER (WHERE m <= 5) AS within_5min,
    count(*) FILTER (WHERE m > 5 AND m <= 15) AS within_15min,
    count(*) FILTER (WHERE m > 15 AND m <= 30) AS within_30min,
    count(*) FILTER (WHERE m > 30 AND m <= 60) AS within_60min, count(*) FILTER (WHERE m > 60) AS over_60min,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY m) AS p50, percentile_cont(0.75) WITHIN GROUP (ORDER BY m) AS p75,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY m) AS p90, avg(m) AS avg_m, min(m) AS min_m, max(m) AS max_m
    FROM iv WHERE m IS NOT NULL GROUP BY g HAVING count(*) >= 2"""
REF_COLUMNS = ("g", "n", *cache.BANDS, "p50", "p75", "p90", "avg_m", "min_m", "max_m")
STEPS_US = [0, 1, 999_999, 7_200_000_000, 7_200_000_001, 86_400_000_000, 90_061_000_001]  # ties, 2 h, over a day


def _random_users(n_users: int, seed: int) -> Users:
    """Users with 1 to 120 completed requests each (and some failed ones) from 2020-01-25 on, across the month
    boundary: random gaps of microseconds to days, the edge steps of STEPS_US among them."""
    rnd = random.Random(seed)
    users: Users = {}
    for u in range(n_users):
        at, rows = datetime(2020, 1, 25, tzinfo=UTC) + timedelta(seconds=rnd.randrange(86_400)), []
        for i in range(rnd.randrange(1, 121)):
            step = rnd.choice(STEPS_US) if rnd.random() < 0.2 else int(rnd.expovariate(1 / 900) * 1e6)
            at += timedelta(microseconds=step)
            rows.append((at, f"r{u}-{i}", "failed" if rnd.random() < 0.1 else "completed"))
        users[f"u{u:03d}"] = rows
    return users


async def test_ttl_statement_is_the_reference_bit_for_bit(pg: asyncpg.Connection, settings: Settings) -> None:
    """Every value of every group (counts, bands, the three percentiles, avg, min, max) equals the reference's
    GROUP BY exactly, as float8, for periods of 1 hour to 30 days."""
    await _load(pg, settings, _random_users(60, 7))
    for hours in (1, 24, 168, 720):
        since = NOW - timedelta(hours=hours)
        ref = {r["g"]: dict(r) for r in await pg.fetch(REF_TTL, since)}
        got = {r["g"]: {k: r[k] for k in REF_COLUMNS} for r in await cache.ttl_groups(pg, None, None, since)}
        assert len(got) > 5 or hours == 1
        assert got == ref, hours


async def test_timeline_counts_two_hours_as_the_reference(pg: asyncpg.Connection, settings: Settings) -> None:
    """A gap of exactly 120 minutes is a point, one of 120 minutes and a microsecond is not: every user's count
    of points (its quota when all fit) keeps exactly its points."""
    t0 = NOW - timedelta(hours=20)
    steps = [0, 7_200_000_000, 7_200_000_001, 60_000_000, 7_199_999_999]
    ats = [t0 + timedelta(microseconds=sum(steps[: i + 1])) for i in range(len(steps))]
    users: Users = {"uf": [(at, f"f{i}", "completed") for i, at in enumerate(ats)]}
    await _load(pg, settings, users)
    got = await interval_timeline(pg, HOURS, 100, None, True, NOW)
    assert [p["x"] for p in got["points"]] == [iso(ats[i]) for i in (1, 3, 4)]


async def test_multi_user_timeline_quotas_on_random_users(pg: asyncpg.Connection, settings: Settings) -> None:
    """Each user's newest quota of points, read from the time before the oldest of them: the same points as the
    plain recount for limits from 1 to all, with ties, 2-hour edges and long gaps among them."""
    users = _random_users(60, 11)
    await _load(pg, settings, users)
    for hours in (24, 168, 720):
        for limit in (1, 7, 60, 333, 2000, 50000):
            got = await interval_timeline(pg, hours, limit, None, True, NOW)
            assert got["points"] == _points(limit, None, True, users, hours), (hours, limit)
