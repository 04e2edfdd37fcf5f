"""Provider performance kept per closed local day and provider, with the hour revisions of 0011 telling a reader
whether a kept day still matches the records.

`/api/admin/stats/performance/providers` needs per-request values (a slow threshold the caller chooses, p90 / p99
over the whole range), so before this revision every request of the range was read. Now:
- `provider_days (lo, hi, revsum)`: a day `[lo, hi)` is kept, with `revsum`, the sum of the `completed_times_revs`
  counters of the hours that meet it, read in the same snapshot as its rows (the rule of 0011).
- `provider_day_rows`: per kept day and stored `provider_id`, the answer's sums, the largest shown name, and the
  sorted response times of the successful requests, their first-byte times and the response times of all finished
  requests, each packed as big-endian int4 in a bytea kept uncompressed (slices read only their own pages), with
  its fence (every `step`-th value).

Kept spans are local days and local ISO weeks (Monday to Monday): a week's runs serve a range's quantiles with one
run instead of seven. This revision fills both tables for every local day and week of `meta.timezone` (UTC if no
worker ever ran) that has records, in one pass over the records per kind of span, under the retention lock taken
exclusive (every writer's batch takes it shared, so no batch writes between the rows and their revision), each span
with the sum of its hours' counters as they stand.

The SQL is frozen here on purpose: it names the columns and rules that exist at this revision.

Revision ID: 0012
Revises: 0011
"""

import re

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RETENTION_LOCK = (0x5552, 0)  # materializer/pg_tables.py at this revision
STEP = 32
RESERVED = "('unknown', 'unknow', 'pending')"
RUNS = ("rt_ok", "fb_ok", "rt_all")
SPANS = (("day", 1), ("week", 7))  # local days, and local ISO weeks (Monday to Monday)
COLUMNS = (
    "provider_id, shown, n, ok_n, out_tok, rt_sum, rt_n, fb_sum, fb_n, tps_tok, tps_ms, tps_n, rt_all_n, step,"
    " rt_ok, fb_ok, rt_all, rt_ok_fence, fb_ok_fence, rt_all_fence"
)
STREAMED = (
    "CASE WHEN jsonb_typeof(u.request_metadata -> 'upstream_is_stream') = 'boolean'"
    " THEN (u.request_metadata ->> 'upstream_is_stream')::boolean ELSE u.is_stream END"
)
TPS_MS = (
    f"CASE WHEN u.response_time_ms IS NULL OR u.response_time_ms = 0 THEN NULL WHEN NOT ({STREAMED})"
    " THEN u.response_time_ms WHEN u.first_byte_time_ms IS NULL OR u.first_byte_time_ms >= u.response_time_ms"
    " THEN NULL ELSE u.response_time_ms - u.first_byte_time_ms END"
)


def _packed(value: str, where: str) -> str:
    return f"COALESCE(string_agg(int4send({value}), ''::bytea ORDER BY {value}) FILTER (WHERE {where}), ''::bytea)"


def _fence(run: str) -> str:
    return (
        f"(SELECT COALESCE(string_agg(substring(y.{run} FROM i * {4 * STEP} + 1 FOR 4), ''::bytea ORDER BY i),"
        f" ''::bytea) FROM generate_series(0, (length(y.{run}) / 4 - 1) / {STEP}) i WHERE length(y.{run}) > 0)"
    )


def _backfill(tz: str, unit: str, days: int) -> str:
    day = f"date_trunc('{unit}', u.created_at AT TIME ZONE '{tz}')::date"
    tps = "x.ok AND x.rt IS NOT NULL AND x.tps_ms IS NOT NULL AND x.output_tokens > 0"
    inner = (
        f"SELECT {day} AS k, u.provider_id,"
        " COALESCE(NULLIF(btrim(u.provider_name), ''), btrim(u.provider_id)) AS shown,"
        " (u.status = 'completed' AND (u.status_code IS NULL OR u.status_code < 400)) AS ok,"
        f" ({TPS_MS}) AS tps_ms, u.output_tokens, u.response_time_ms AS rt, u.first_byte_time_ms AS fb"
        " FROM usage_records u WHERE u.status NOT IN ('pending', 'streaming') AND u.provider_id IS NOT NULL"
        f" AND btrim(u.provider_id) <> '' AND lower(btrim(u.provider_id)) NOT IN {RESERVED}"
        f" AND lower(btrim(u.provider_name)) NOT IN {RESERVED}"
    )
    sums = (
        "SELECT x.k, COALESCE(x.provider_id, '') AS provider_id, max(x.shown) AS shown, count(*) AS n,"
        " count(*) FILTER (WHERE x.ok) AS ok_n, COALESCE(sum(x.output_tokens), 0) AS out_tok,"
        " sum(x.rt) FILTER (WHERE x.ok) AS rt_sum, count(x.rt) FILTER (WHERE x.ok) AS rt_n,"
        " sum(x.fb) FILTER (WHERE x.ok) AS fb_sum, count(x.fb) FILTER (WHERE x.ok) AS fb_n,"
        f" sum(x.output_tokens) FILTER (WHERE {tps}) AS tps_tok, sum(x.tps_ms) FILTER (WHERE {tps}) AS tps_ms,"
        f" count(*) FILTER (WHERE {tps}) AS tps_n, count(x.rt) AS rt_all_n, {STEP} AS step,"
        f" {_packed('x.rt', 'x.ok AND x.rt IS NOT NULL')} AS rt_ok,"
        f" {_packed('x.fb', 'x.ok AND x.fb IS NOT NULL')} AS fb_ok,"
        f" {_packed('x.rt', 'x.rt IS NOT NULL')} AS rt_all FROM ({inner}) x"
        " GROUP BY GROUPING SETS ((x.k, x.provider_id), (x.k)) HAVING count(*) > 0"
    )
    fences = ", ".join(f"{_fence(r)} AS {r}_fence" for r in RUNS)
    return (
        f"INSERT INTO provider_day_rows (lo, hi, {COLUMNS})"
        f" SELECT k::timestamp AT TIME ZONE '{tz}', (k + {days})::timestamp AT TIME ZONE '{tz}', {COLUMNS}"
        f" FROM (SELECT y.*, {fences} FROM ({sums}) y) z"
    )


def _days(tz: str, unit: str, days: int) -> str:
    revsum = (
        "(SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r"
        " WHERE r.hour >= date_trunc('hour', y.lo, 'UTC') AND r.hour < y.hi)"
    )
    return (
        f"INSERT INTO provider_days (lo, hi, revsum) SELECT y.lo, y.hi, {revsum} FROM"
        f" (SELECT d::timestamp AT TIME ZONE '{tz}' AS lo, (d + {days})::timestamp AT TIME ZONE '{tz}' AS hi"
        f" FROM (SELECT DISTINCT date_trunc('{unit}', created_at AT TIME ZONE '{tz}')::date AS d"
        " FROM usage_records) x) y"
    )


def upgrade() -> None:
    op.execute(
        "CREATE TABLE provider_days (lo timestamptz NOT NULL, hi timestamptz NOT NULL, revsum bigint NOT NULL,"
        " filled_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (lo, hi))"
    )
    op.execute(
        "CREATE TABLE provider_day_rows (lo timestamptz NOT NULL, hi timestamptz NOT NULL, provider_id text NOT NULL,"
        " shown text, n bigint NOT NULL, ok_n bigint NOT NULL, out_tok numeric NOT NULL, rt_sum bigint,"
        " rt_n bigint NOT NULL, fb_sum bigint, fb_n bigint NOT NULL, tps_tok numeric, tps_ms bigint,"
        " tps_n bigint NOT NULL, rt_all_n bigint NOT NULL, step integer NOT NULL, rt_ok bytea NOT NULL,"
        " fb_ok bytea NOT NULL, rt_all bytea NOT NULL, rt_ok_fence bytea NOT NULL, fb_ok_fence bytea NOT NULL,"
        " rt_all_fence bytea NOT NULL, PRIMARY KEY (lo, hi, provider_id))"
    )
    for run in RUNS:  # uncompressed out of line: a slice reads only the TOAST chunks it covers
        op.execute(f"ALTER TABLE provider_day_rows ALTER COLUMN {run} SET STORAGE EXTERNAL")
    op.execute(f"SELECT pg_advisory_xact_lock({RETENTION_LOCK[0]}, {RETENTION_LOCK[1]})")
    tz = op.get_bind().exec_driver_sql("SELECT value FROM meta WHERE key = 'timezone'").scalar() or "UTC"
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):  # an IANA name, written into the SQL below
        raise ValueError(f"unexpected time zone name {tz!r} in meta.timezone")
    op.execute("SET LOCAL work_mem = '256MB'")
    for unit, days in SPANS:
        op.execute(_days(tz, unit, days))
        op.execute(_backfill(tz, unit, days))
    op.execute("ANALYZE provider_days")
    op.execute("ANALYZE provider_day_rows")


def downgrade() -> None:
    op.execute("DROP TABLE provider_day_rows")
    op.execute("DROP TABLE provider_days")
