"""Hour and month aggregates: grain 2 (UTC hours) and grain 3 (local months) of usage_agg and attempt_agg.

The read side answers a range as signed sums of month, day, hour and 15-minute rows (usagestream.ranges), so a
year reads about a dozen rows per key instead of 365 days plus up to 190 quarters. The writer adds to all four
grains from now on; this migration recounts the two new grains from the records already stored (the recount
`usagestream verify` ran when this revision was written), in the time zone the day grain was built in
(`meta.timezone`; UTC if no worker ever ran). No table changes: `grain` is already part of both primary keys.

The SQL is frozen here on purpose: it names the counter columns that existed at this revision, so a counter
added later (by a later revision) cannot break a fresh upgrade at this one.

Revision ID: 0003
Revises: 0002
"""

import re

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GRAIN_HOUR = 2  # UTC hours
GRAIN_MONTH = 3  # local months (UTC instant of the first day's local midnight)
NEW_GRAINS = (GRAIN_HOUR, GRAIN_MONTH)

# Each dimension of usage_agg and the expression of its key (rows whose key is null are not counted).
DIMENSION_KEYS = {
    "all": "''",
    "model": "model",
    "user": "user_id",
    "provider": "provider_id",
    "api_format": "api_format",
    "api_key": "api_key_id",
    "user_model": "user_id || chr(31) || model",
}

# The counters of usage_agg at this revision, each as a column and the aggregate that recounts it.
FINISHED = "status NOT IN ('pending', 'streaming')"
REACHED = "provider_name NOT IN ('unknown', 'pending')"
TIMED_200 = "status_code = 200 AND response_time_ms IS NOT NULL"
USAGE_COUNTERS = {
    "n_all": "count(*)",
    "n_finished": f"count(*) FILTER (WHERE {FINISHED})",
    "n_reached": f"count(*) FILTER (WHERE {REACHED})",
    "n_fr": f"count(*) FILTER (WHERE {FINISHED} AND {REACHED})",
    "n_error": "count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL))",
    "n_completed": "count(*) FILTER (WHERE status = 'completed')",
    "n_hit": "count(*) FILTER (WHERE status = 'completed' AND cache_read_input_tokens > 0)",
    "n_s200": f"count(*) FILTER (WHERE {TIMED_200})",
    "in_tok": "COALESCE(sum(input_tokens), 0)",
    "out_tok": "COALESCE(sum(output_tokens), 0)",
    "tot_tok": "COALESCE(sum(total_tokens), 0)",
    "cc_tok": "COALESCE(sum(cache_creation_input_tokens), 0)",
    "cr_tok": "COALESCE(sum(cache_read_input_tokens), 0)",
    "cost": "COALESCE(sum(total_cost_usd), 0)",
    "actual_cost": "COALESCE(sum(actual_total_cost_usd), 0)",
    "cc_cost": "COALESCE(sum(cache_creation_cost_usd), 0)",
    "cr_cost": "COALESCE(sum(cache_read_cost_usd), 0)",
    "rt_sum": "COALESCE(sum(response_time_ms), 0)",
    "rt_n": "count(response_time_ms)",
    "fr_tot_tok": f"COALESCE(sum(total_tokens) FILTER (WHERE {FINISHED} AND {REACHED}), 0)",
    "fr_cost": f"COALESCE(sum(total_cost_usd) FILTER (WHERE {FINISHED} AND {REACHED}), 0)",
    "fr_actual": f"COALESCE(sum(actual_total_cost_usd) FILTER (WHERE {FINISHED} AND {REACHED}), 0)",
    "fr_rt_sum": f"COALESCE(sum(response_time_ms) FILTER (WHERE {FINISHED} AND {REACHED}), 0)",
    "fr_rt_n": f"count(*) FILTER (WHERE {FINISHED} AND {REACHED} AND response_time_ms IS NOT NULL)",
    "fin_tot_tok": f"COALESCE(sum(total_tokens) FILTER (WHERE {FINISHED}), 0)",
    "fin_cost": f"COALESCE(sum(total_cost_usd) FILTER (WHERE {FINISHED}), 0)",
    "fin_actual": f"COALESCE(sum(actual_total_cost_usd) FILTER (WHERE {FINISHED}), 0)",
    "r_in": f"COALESCE(sum(input_tokens) FILTER (WHERE {REACHED}), 0)",
    "r_out": f"COALESCE(sum(output_tokens) FILTER (WHERE {REACHED}), 0)",
    "r_tot": f"COALESCE(sum(total_tokens) FILTER (WHERE {REACHED}), 0)",
    "r_cost": f"COALESCE(sum(total_cost_usd) FILTER (WHERE {REACHED}), 0)",
    "r_actual": f"COALESCE(sum(actual_total_cost_usd) FILTER (WHERE {REACHED}), 0)",
    "s200_rt_sum": f"COALESCE(sum(response_time_ms) FILTER (WHERE {TIMED_200}), 0)",
    "c_in": "COALESCE(sum(input_tokens) FILTER (WHERE status = 'completed'), 0)",
    "c_cr": "COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status = 'completed'), 0)",
    "c_cc": "COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status = 'completed'), 0)",
    "c_cr_cost": "COALESCE(sum(cache_read_cost_usd) FILTER (WHERE status = 'completed'), 0)",
    "c_cc_cost": "COALESCE(sum(cache_creation_cost_usd) FILTER (WHERE status = 'completed'), 0)",
}

# The counters of attempt_agg at this revision, over executed attempts (success or failed) of a known provider.
ATTEMPT_COUNTERS = {
    "attempts": "count(*)",
    "successes": "count(*) FILTER (WHERE status = 'success')",
    "failures": "count(*) FILTER (WHERE status = 'failed')",
    "lat_sum": "COALESCE(sum(latency_ms), 0)",
    "lat_n": "count(latency_ms)",
}
EXECUTED = "provider_id IS NOT NULL AND status IN ('success', 'failed')"


def _bucket(grain: int, tz: str) -> str:
    if grain == GRAIN_HOUR:
        return "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    return f"(date_trunc('month', created_at AT TIME ZONE '{tz}') AT TIME ZONE '{tz}')"


def _recount_usage(dim: str, grain: int, tz: str) -> str:
    key = DIMENSION_KEYS[dim]
    return (
        f"INSERT INTO usage_agg (dim, key, grain, bucket, {', '.join(USAGE_COUNTERS)})"
        f" SELECT '{dim}'::text, {key}, {grain}::smallint, {_bucket(grain, tz)},"
        f" {', '.join(USAGE_COUNTERS.values())}"
        f" FROM usage_records WHERE {key} IS NOT NULL GROUP BY 2, 4"
    )


def _recount_attempts(grain: int, tz: str) -> str:
    return (
        f"INSERT INTO attempt_agg (provider_id, grain, bucket, {', '.join(ATTEMPT_COUNTERS)})"
        f" SELECT provider_id, {grain}::smallint, {_bucket(grain, tz)}, {', '.join(ATTEMPT_COUNTERS.values())}"
        f" FROM candidate_records WHERE {EXECUTED} GROUP BY 1, 3"
    )


def upgrade() -> None:
    tz = op.get_bind().exec_driver_sql("SELECT value FROM meta WHERE key = 'timezone'").scalar() or "UTC"
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):  # an IANA name, written into the SQL below
        raise ValueError(f"unexpected time zone name {tz!r} in meta.timezone")
    for grain in NEW_GRAINS:
        op.execute(f"DELETE FROM usage_agg WHERE grain = {grain}")
        op.execute(f"DELETE FROM attempt_agg WHERE grain = {grain}")
        for dim in DIMENSION_KEYS:
            op.execute(_recount_usage(dim, grain, tz))
        op.execute(_recount_attempts(grain, tz))


def downgrade() -> None:
    for grain in NEW_GRAINS:
        op.execute(f"DELETE FROM usage_agg WHERE grain = {grain}")
        op.execute(f"DELETE FROM attempt_agg WHERE grain = {grain}")
