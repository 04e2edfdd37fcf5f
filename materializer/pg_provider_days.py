"""The kept per-(day, provider) figures of provider performance (migration 0012): the statements the filler, the
reader, the bench loader, retention and `verify` share, so that all of them compute a day's rows alike.

`/api/admin/stats/performance/providers` needs per-request values (a caller-chosen slow threshold, p90 / p99 over
the whole range), so no sum of counters answers it. Per closed day of the configured zone and per stored
`provider_id` (raw: the answer's filter compares it untrimmed), `provider_day_rows` keeps the integer sums of the
answer, the largest shown name and three sorted runs of values, each packed as big-endian int4 (`int4send`,
network order) in a bytea stored uncompressed (EXTERNAL) so that a slice of it reads only its own TOAST chunks:
- `rt_ok`: the response times of the successful requests (the p90 / p99 of response time),
- `fb_ok`: the first-byte times of the successful requests (the p90 / p99 of first byte),
- `rt_all`: the response times of all finished requests (the slow count: `rt >= threshold` by bisection),
each with its fence (every `step`-th value, ranks 0, step, 2 step, ...), which the reader reads whole before it
reads the few slices an exact rank needs (usagestream/sorted_runs.py), and `slow_n`, the slow count at the
default threshold (KEPT_SLOW_MS), which spares a request with that threshold a slice of `rt_all` per row.

`provider_days (lo, hi, revsum)` marks a day as kept (with no row in `provider_day_rows` when it had no request);
`revsum` is the sum of the hour revision counters of materializer/pg_day_times.py (`completed_times_revs`, raised
by every write transaction for every hour it changed) read in the same snapshot as the rows: a reader whose own
snapshot gives the same sum sees the same records of that day (docs/reference-api.md §10.8).

The same two tables keep closed UTC hours (`hi - lo` one hour) of the current local day, under the same rule: an
hour meets one counter, so its `revsum` is that hour's counter. A reader composes a day that is not kept (or not
current) from its current kept hours and the records of its other hours only.
"""

from __future__ import annotations

from usagestream.materializer.pg_day_times import revsum

WEEK = 7  # a kept ISO week is seven kept day buckets (the filler keeps one only when all seven are)
ALL = ""  # the provider_id of a day's row over all its providers (no provider's id is empty: FINISHED)
STEP = 32  # fence step: a larger one reads smaller fences and larger slices (stored per row, so it may change)
RUNS = ("rt_ok", "fb_ok", "rt_all")

RESERVED = "('unknown', 'unknow', 'pending')"  # provider ids and names that stand for no provider (Aether's list)
SUCCESS = "u.status = 'completed' AND (u.status_code IS NULL OR u.status_code < 400)"
# A stream's speed is over its generation time (after the first byte); `upstream_is_stream` in the request's
# metadata overrides the client-side `is_stream`, as in Aether.
STREAMED = (
    "CASE WHEN jsonb_typeof(u.request_metadata -> 'upstream_is_stream') = 'boolean'"
    " THEN (u.request_metadata ->> 'upstream_is_stream')::boolean ELSE u.is_stream END"
)
TPS_MS = (
    f"CASE WHEN u.response_time_ms IS NULL OR u.response_time_ms = 0 THEN NULL WHEN NOT ({STREAMED})"
    " THEN u.response_time_ms WHEN u.first_byte_time_ms IS NULL OR u.first_byte_time_ms >= u.response_time_ms"
    " THEN NULL ELSE u.response_time_ms - u.first_byte_time_ms END"
)
# The finished requests the answer counts, with a provider (the same predicate as the records-only statement).
FINISHED = (
    "u.status NOT IN ('pending', 'streaming') AND u.provider_id IS NOT NULL AND btrim(u.provider_id) <> ''"
    f" AND lower(btrim(u.provider_id)) NOT IN {RESERVED} AND lower(btrim(u.provider_name)) NOT IN {RESERVED}"
)
# The answer's default slow threshold (Aether's, http/views/admin_stats.py): its slow count is kept per row
# (`slow_n`, migration 0013), so that a request with it reads no slice of `rt_all`.
KEPT_SLOW_MS = 10_000
COLUMNS = (
    "provider_id, shown, n, ok_n, out_tok, rt_sum, rt_n, fb_sum, fb_n, tps_tok, tps_ms, tps_n, rt_all_n, step,"
    " rt_ok, fb_ok, rt_all, rt_ok_fence, fb_ok_fence, rt_all_fence, slow_n"
)


def _packed(value: str, where: str) -> str:
    return f"COALESCE(string_agg(int4send({value}), ''::bytea ORDER BY {value}) FILTER (WHERE {where}), ''::bytea)"


def _fence(run: str) -> str:
    """Every STEP-th int4 of the packed run (ranks 0, STEP, ...): empty for an empty run."""
    return (
        f"(SELECT COALESCE(string_agg(substring(y.{run} FROM i * {4 * STEP} + 1 FOR 4), ''::bytea ORDER BY i),"
        f" ''::bytea) FROM generate_series(0, (length(y.{run}) / 4 - 1) / {STEP}) i WHERE length(y.{run}) > 0)"
    )


def rows_sql(where: str, key: str = "") -> str:
    """Per `provider_id` (and per `key`, an expression over `u`, if given) of the records passing `where`: the
    columns of COLUMNS (key first, as `k`)."""
    tps = "x.ok AND x.rt IS NOT NULL AND x.tps_ms IS NOT NULL AND x.output_tokens > 0"
    keyed = f"{key} AS k, " if key else ""
    group = "GROUPING SETS ((x.k, x.provider_id), (x.k))" if key else "GROUPING SETS ((x.provider_id), ())"
    inner = (
        f"SELECT {keyed}u.provider_id, COALESCE(NULLIF(btrim(u.provider_name), ''), btrim(u.provider_id)) AS shown,"
        f" ({SUCCESS}) AS ok, ({TPS_MS}) AS tps_ms, u.output_tokens, u.response_time_ms AS rt,"
        f" u.first_byte_time_ms AS fb FROM usage_records u WHERE {where} AND {FINISHED}"
    )
    sums = (
        f"SELECT {'x.k, ' if key else ''}COALESCE(x.provider_id, {ALL!r}) AS provider_id, max(x.shown) AS shown,"
        " count(*) AS n,"
        " count(*) FILTER (WHERE x.ok) AS ok_n, COALESCE(sum(x.output_tokens), 0) AS out_tok,"
        " sum(x.rt) FILTER (WHERE x.ok) AS rt_sum, count(x.rt) FILTER (WHERE x.ok) AS rt_n,"
        " sum(x.fb) FILTER (WHERE x.ok) AS fb_sum, count(x.fb) FILTER (WHERE x.ok) AS fb_n,"
        f" sum(x.output_tokens) FILTER (WHERE {tps}) AS tps_tok, sum(x.tps_ms) FILTER (WHERE {tps}) AS tps_ms,"
        f" count(*) FILTER (WHERE {tps}) AS tps_n, count(x.rt) AS rt_all_n, {STEP} AS step,"
        f" count(*) FILTER (WHERE x.rt >= {KEPT_SLOW_MS}) AS slow_n,"
        f" {_packed('x.rt', 'x.ok AND x.rt IS NOT NULL')} AS rt_ok,"
        f" {_packed('x.fb', 'x.ok AND x.fb IS NOT NULL')} AS fb_ok,"
        f" {_packed('x.rt', 'x.rt IS NOT NULL')} AS rt_all FROM ({inner}) x GROUP BY {group}"
        " HAVING count(*) > 0"
    )
    fences = ", ".join(f"{_fence(r)} AS {r}_fence" for r in RUNS)
    return f"SELECT y.*, {fences} FROM ({sums}) y"


# The spans kept: local days, and local ISO weeks (Monday to Monday) whose runs serve a range's quantiles with a
# run per week instead of seven (the days' rows still give each day's sums and slow count).
SPANS = (("day", 1), ("week", 7))


def backfill_sql(tz: str) -> list[str]:
    """Every local day and week of `tz` (an IANA name of ours, inlined) that has records, with its current
    revision, set-based: for a bulk load that no batch writes to meanwhile (bench/reads_load.py)."""
    out = []
    for unit, days in SPANS:
        key = f"date_trunc('{unit}', u.created_at AT TIME ZONE '{tz}')::date"
        lo, hi = f"k::timestamp AT TIME ZONE '{tz}'", f"(k + {days})::timestamp AT TIME ZONE '{tz}'"
        out += [
            f"INSERT INTO provider_days (lo, hi, revsum) SELECT y.lo, y.hi, {revsum('y.lo', 'y.hi')} FROM"
            f" (SELECT {lo} AS lo, {hi} AS hi FROM (SELECT DISTINCT {key} AS k FROM usage_records u) x) y",
            f"INSERT INTO provider_day_rows (lo, hi, {COLUMNS}) SELECT {lo}, {hi}, {COLUMNS}"
            f" FROM ({rows_sql('TRUE', key)}) z",
        ]
    return out


# The reader: of spans $1 / $2 (days, and after the first $4 runs of seven days that may be kept weeks), the kept
# ones whose revision is still current, by 1-based position, each with its rows (one row with a NULL provider_id
# for a kept span without requests) of provider_id $3 (NULL: every one). The runs stay in the table (SLICES_SQL);
# of their fences only those the reader plans come along: `rt_all`'s of a day's providers when the slow threshold
# $5 is not KEPT_SLOW_MS (else `slow_n` is the slow count), and `rt_ok` / `fb_ok`'s (the quantiles) of the weeks
# used and the days outside them. A current week is used when no other current week of the request overlaps it
# (materializer/read/provider_days.py decides alike).
_SPANS = (
    "SELECT d.i, d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i)"
    f" JOIN provider_days k ON k.lo = d.lo AND k.hi = d.hi WHERE k.revsum = {revsum('d.lo', 'd.hi')}"
)
_USED_WEEKS = (
    "SELECT a.i, a.lo, a.hi FROM s a WHERE a.i > $4"
    " AND NOT EXISTS (SELECT 1 FROM s b WHERE b.i > $4 AND b.i <> a.i AND b.lo < a.hi AND a.lo < b.hi)"
)
_PLANNED = (
    "CASE WHEN s.i > $4 THEN EXISTS (SELECT 1 FROM w WHERE w.i = s.i)"
    " ELSE NOT EXISTS (SELECT 1 FROM w WHERE w.lo <= s.lo AND w.hi >= s.hi) END"
)
KEPT_SQL = (
    f"WITH s AS MATERIALIZED ({_SPANS}), w AS MATERIALIZED ({_USED_WEEKS})"
    " SELECT s.i, r.ctid AS at, r.provider_id, r.shown, r.n, r.ok_n, r.out_tok, r.rt_sum, r.rt_n, r.fb_sum, r.fb_n,"
    " r.tps_tok, r.tps_ms, r.tps_n, r.rt_all_n, r.step, r.slow_n,"
    " CASE WHEN q.planned THEN r.rt_ok_fence END AS rt_ok_fence,"
    " CASE WHEN q.planned THEN r.fb_ok_fence END AS fb_ok_fence,"
    f" CASE WHEN s.i <= $4 AND r.provider_id <> {ALL!r} AND $5::int <> {KEPT_SLOW_MS} THEN r.rt_all_fence END"
    " AS rt_all_fence"
    f" FROM s CROSS JOIN LATERAL (SELECT {_PLANNED} AS planned) q"
    " LEFT JOIN provider_day_rows r ON r.lo = s.lo AND r.hi = s.hi AND ($3::text IS NULL OR r.provider_id = $3)"
)

# The reader: slices of kept runs, (row $1, by the `ctid` KEPT_SQL gave in the same snapshot, which keeps that
# version where it is: a TID scan instead of an index probe per slice; run $2: 0 rt_ok, 1 fb_ok, 2 rt_all; first
# value $3 (0-based), count $4), by 1-based position; the four arrays come in their text form. LATERAL ... OFFSET
# 0: joined, the planner hashes every row of the table instead.
SLICES_SQL = (
    "SELECT q.i, x.v FROM unnest($1::text::tid[], $2::text::int[], $3::text::int[], $4::text::int[])"
    " WITH ORDINALITY AS q(t, run, off, len, i)"
    " CROSS JOIN LATERAL (SELECT substring(CASE q.run WHEN 0 THEN r.rt_ok WHEN 1 THEN r.fb_ok ELSE r.rt_all END"
    " FROM q.off * 4 + 1 FOR q.len * 4) AS v FROM provider_day_rows r WHERE r.ctid = q.t OFFSET 0) x"
)

# The reader: the buckets $1 / $2 that are not kept (or not current), from the records, with the filter $3 on
# provider_id (NULL: none), as the rows of a kept day (their runs whole). $4 / $5, the first bucket's start and the
# last one's end, let the planner leave out the month partitions outside them (the buckets' own bounds are known
# only at run time).
RECORDS_SQL = (
    "SELECT d.i, x.* FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i)"
    " CROSS JOIN LATERAL ("
    + rows_sql(
        "u.created_at >= d.lo AND u.created_at < d.hi AND u.created_at >= $4 AND u.created_at < $5"
        " AND ($3::text IS NULL OR u.provider_id = $3)"
    )
    + " OFFSET 0) x"
)

# The filler: which of days $1 / $2 are missing or out of date (newest first, at most $3).
STALE_SQL = (
    "SELECT d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) AS d(lo, hi)"
    " LEFT JOIN provider_days s ON s.lo = d.lo AND s.hi = d.hi"
    f" WHERE s.revsum IS DISTINCT FROM {revsum('d.lo', 'd.hi')} ORDER BY d.lo DESC LIMIT $3"
)

# The filler: day [$1, $2), its rows and its revision in one statement, so in one snapshot: rows of providers
# gone from the day deleted, the others written, the day's revision last.
_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS.replace(" ", "").split(",")[1:])
FILL_SQL = (
    f"WITH x AS MATERIALIZED ({rows_sql('u.created_at >= $1 AND u.created_at < $2')}),"
    " gone AS (DELETE FROM provider_day_rows r WHERE r.lo = $1 AND r.hi = $2"
    " AND r.provider_id NOT IN (SELECT provider_id FROM x)),"
    f" kept AS (INSERT INTO provider_day_rows (lo, hi, {COLUMNS}) SELECT $1, $2, {COLUMNS} FROM x"
    f" ON CONFLICT (lo, hi, provider_id) DO UPDATE SET {_UPDATE})"
    f" INSERT INTO provider_days (lo, hi, revsum) VALUES ($1, $2, {revsum('$1', '$2')})"
    " ON CONFLICT (lo, hi) DO UPDATE SET revsum = EXCLUDED.revsum, filled_at = now()"
)

# Retention, under its exclusive lock: the kept days that begin before the records cut-off $1 (their records are
# being dropped); the hour counters are forgotten with the daily percentiles' (pg_day_times.FORGET_REVS_SQL).
FORGET_SQL = "WITH r AS (DELETE FROM provider_day_rows WHERE lo < $1) DELETE FROM provider_days WHERE lo < $1"

# The filler: the kept hours (spans of one hour) that begin before $1 (the current local day's first hour) and lie
# in a kept day whose revision is current: that day answers for them now.
_HOUR = "interval '1 hour'"
FORGET_HOURS_SQL = (
    "WITH h AS (SELECT h.lo, h.hi FROM provider_days h WHERE h.hi - h.lo = " + _HOUR + " AND h.lo < $1"
    " AND EXISTS (SELECT 1 FROM provider_days d WHERE d.lo <= h.lo AND d.hi >= h.hi AND d.hi - d.lo > "
    + _HOUR
    + f" AND d.revsum = {revsum('d.lo', 'd.hi')})),"
    " r AS (DELETE FROM provider_day_rows r USING h WHERE r.lo = h.lo AND r.hi = h.hi)"
    " DELETE FROM provider_days s USING h WHERE s.lo = h.lo AND s.hi = h.hi"
)

# `verify`: kept days that claim to be current but whose rows differ from a recount of their records.
_CMP = COLUMNS
MISMATCH_SQL = (
    "SELECT s.lo, s.hi FROM provider_days s"
    f" WHERE s.revsum = {revsum('s.lo', 's.hi')} AND EXISTS ("
    f"(SELECT {_CMP} FROM provider_day_rows r WHERE r.lo = s.lo AND r.hi = s.hi"
    f" EXCEPT SELECT {_CMP} FROM ({rows_sql('u.created_at >= s.lo AND u.created_at < s.hi')}) a)"
    f" UNION ALL (SELECT {_CMP} FROM ({rows_sql('u.created_at >= s.lo AND u.created_at < s.hi')}) b"
    f" EXCEPT SELECT {_CMP} FROM provider_day_rows r WHERE r.lo = s.lo AND r.hi = s.hi)) ORDER BY s.lo"
)
