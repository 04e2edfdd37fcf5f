"""A `provider_model` dimension in usage_agg (key `provider_id U+001F model`), recounted from the stored records;
and a covering index of the completed records' response and first-byte times by `created_at`.

`/api/admin/stats/leaderboard/models?provider_name=...` and the stats family's totals and time series filtered by a
provider and a model (docs/reference-api.md §10.3) had no dimension holding a provider's models, so they were
recounted from the range's records, a cost that grew with the history's density; with this dimension they are read
from a few bucket rows per model, like the other dimensions. The writer spreads every record with a provider to it
from this revision on; this revision inserts its rows for every grain from the records, as `usagestream verify`
recounts them, in the zone the day and month grains were built in (`meta.timezone`; UTC if no worker ever ran).

Buckets that start before the records cut-off (`meta.records_cutoff`, set by retention) have no records left to
recount: the dimension has no rows there (docs/design.md "Retention"). The insert takes the retention lock
exclusive, which every writer's batch takes shared, so no batch adds to a row between the recount and the insert.

`/api/admin/stats/performance/percentiles` takes exact percentiles of each local day's completed requests: no sum
of counters gives them, so it reads every such record. The partial index `usage_records_completed_times
(created_at) INCLUDE (response_time_ms, first_byte_time_ms) WHERE status = 'completed'` lets each day be one
index-only range scan of a narrow index instead of a visit to each wide record (bodies and headers) in the heap.

The SQL is frozen here on purpose: it names the columns and rules that exist at this revision.

Revision ID: 0010
Revises: 0009
"""

import re

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DIM = "provider_model"
KEY = "provider_id || chr(31) || model"
FINISHED = "status NOT IN ('pending', 'streaming')"
REACHED = "provider_name NOT IN ('unknown', 'pending')"
FR = f"{FINISHED} AND {REACHED}"
ERROR = "(status_code >= 400 OR error_message IS NOT NULL)"
COMPLETED = "status = 'completed'"
S200 = "status_code = 200 AND response_time_ms IS NOT NULL"
WHITESPACE = "' ' || " + " || ".join(
    f"chr({c})" for c in (160, 5760, *range(8192, 8203), 8232, 8233, 8239, 8287, 12288)
)
FORMAT = "COALESCE(NULLIF(endpoint_api_format, ''), api_format)"
FAMILY = (
    f"translate(btrim(split_part({FORMAT}, ':', 1), {WHITESPACE}),"
    " 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
)
READ_IN_INPUT = f"COALESCE({FAMILY} IN ('openai', 'gemini', 'google'), false)"
EFFECTIVE = (
    "CASE WHEN input_tokens <= 0 THEN 0"
    f" WHEN cache_read_input_tokens <= 0 OR NOT {READ_IN_INPUT} THEN input_tokens"
    " ELSE greatest(input_tokens - cache_read_input_tokens, 0) END"
)
CONTEXT = (
    f"CASE WHEN {READ_IN_INPUT} THEN greatest(input_tokens, cache_read_input_tokens, 0)"
    " ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0)"
    " + greatest(cache_read_input_tokens, 0) END"
)


def _n(cond: str) -> str:
    return f"count(*) FILTER (WHERE {cond})"


def _sum(expr: str, cond: str | None = None) -> str:
    return f"COALESCE(sum({expr}){f' FILTER (WHERE {cond})' if cond else ''}, 0)"


# Every counter of usage_agg at this revision and the aggregate that recounts it from the records.
COUNTERS = {
    "n_all": "count(*)",
    "n_finished": _n(FINISHED),
    "n_reached": _n(REACHED),
    "n_fr": _n(FR),
    "n_error": _n(ERROR),
    "n_completed": _n(COMPLETED),
    "n_hit": _n(f"{COMPLETED} AND cache_read_input_tokens > 0"),
    "n_s200": _n(S200),
    "in_tok": _sum("input_tokens"),
    "out_tok": _sum("output_tokens"),
    "tot_tok": _sum("total_tokens"),
    "cc_tok": _sum("cache_creation_input_tokens"),
    "cr_tok": _sum("cache_read_input_tokens"),
    "cost": _sum("total_cost_usd"),
    "actual_cost": _sum("actual_total_cost_usd"),
    "cc_cost": _sum("cache_creation_cost_usd"),
    "cr_cost": _sum("cache_read_cost_usd"),
    "rt_sum": _sum("response_time_ms"),
    "rt_n": "count(response_time_ms)",
    "fr_tot_tok": _sum("total_tokens", FR),
    "fr_cost": _sum("total_cost_usd", FR),
    "fr_actual": _sum("actual_total_cost_usd", FR),
    "fr_rt_sum": _sum("response_time_ms", FR),
    "fr_rt_n": _n(f"{FR} AND response_time_ms IS NOT NULL"),
    "fin_tot_tok": _sum("total_tokens", FINISHED),
    "fin_cost": _sum("total_cost_usd", FINISHED),
    "fin_actual": _sum("actual_total_cost_usd", FINISHED),
    "r_in": _sum("input_tokens", REACHED),
    "r_out": _sum("output_tokens", REACHED),
    "r_tot": _sum("total_tokens", REACHED),
    "r_cost": _sum("total_cost_usd", REACHED),
    "r_actual": _sum("actual_total_cost_usd", REACHED),
    "s200_rt_sum": _sum("response_time_ms", S200),
    "c_in": _sum("input_tokens", COMPLETED),
    "c_cr": _sum("cache_read_input_tokens", COMPLETED),
    "c_cc": _sum("cache_creation_input_tokens", COMPLETED),
    "c_cr_cost": _sum("cache_read_cost_usd", COMPLETED),
    "c_cc_cost": _sum("cache_creation_cost_usd", COMPLETED),
    "fr_in": _sum("input_tokens", FR),
    "fr_out": _sum("output_tokens", FR),
    "fr_cc": _sum("cache_creation_input_tokens", FR),
    "fr_cr": _sum("cache_read_input_tokens", FR),
    "fr_err": _n(f"{FR} AND {ERROR}"),
    "fin_in": _sum("input_tokens", FINISHED),
    "fin_out": _sum("output_tokens", FINISHED),
    "fin_cc": _sum("cache_creation_input_tokens", FINISHED),
    "fin_cr": _sum("cache_read_input_tokens", FINISHED),
    "fr_eff": _sum(EFFECTIVE, FR),
    "fr_ctx": _sum(CONTEXT, FR),
    "fin_eff": _sum(EFFECTIVE, FINISHED),
    "fin_ctx": _sum(CONTEXT, FINISHED),
    "r_cc": _sum("cache_creation_input_tokens", REACHED),
    "r_cr": _sum("cache_read_input_tokens", REACHED),
    "r_eff": _sum(EFFECTIVE, REACHED),
    "r_ctx": _sum(CONTEXT, REACHED),
}
GRAINS = (0, 1, 2, 3)  # 15-minute UTC, local day, UTC hour, local month
RETENTION_LOCK = (0x5552, 0)  # materializer/pg_tables.py at this revision


def _bucket(grain: int, tz: str) -> str:
    if grain == 0:
        return "date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00')"
    if grain == 2:
        return "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    unit = "month" if grain == 3 else "day"
    return f"(date_trunc('{unit}', created_at AT TIME ZONE '{tz}') AT TIME ZONE '{tz}')"


def _insert(grain: int, tz: str) -> str:
    """The dimension's rows of one grain, recounted from the records, buckets from the records cut-off on."""
    cols = ", ".join(COUNTERS)
    exprs = ", ".join(f"{e} AS {c}" for c, e in COUNTERS.items())
    return (
        f"INSERT INTO usage_agg (dim, key, grain, bucket, {cols})"
        f" SELECT dim, key, grain, bucket, {cols} FROM (SELECT '{DIM}'::text AS dim, {KEY} AS key,"
        f" {grain}::smallint AS grain, {_bucket(grain, tz)} AS bucket, {exprs}"
        f" FROM usage_records WHERE {KEY} IS NOT NULL GROUP BY 2, 4) r"
        " WHERE bucket >= COALESCE((SELECT value::timestamptz FROM meta WHERE key = 'records_cutoff'), '-infinity')"
    )


TIMES_INDEX = (
    "CREATE INDEX IF NOT EXISTS usage_records_completed_times ON usage_records (created_at)"
    " INCLUDE (response_time_ms, first_byte_time_ms) WHERE status = 'completed'"
)


def upgrade() -> None:
    op.execute(f"SELECT pg_advisory_xact_lock({RETENTION_LOCK[0]}, {RETENTION_LOCK[1]})")
    tz = op.get_bind().exec_driver_sql("SELECT value FROM meta WHERE key = 'timezone'").scalar() or "UTC"
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):  # an IANA name, written into the SQL below
        raise ValueError(f"unexpected time zone name {tz!r} in meta.timezone")
    for grain in GRAINS:
        op.execute(_insert(grain, tz))
    # Fresh statistics: planned with none for the new rows, the per-model read of one provider scanned the whole
    # dimension through usage_agg_by_key (its key filter is no prefix of that index) instead of the bucket ranges.
    op.execute("ANALYZE usage_agg")
    op.execute(TIMES_INDEX)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS usage_records_completed_times")
    op.execute(f"DELETE FROM usage_agg WHERE dim = '{DIM}'")
