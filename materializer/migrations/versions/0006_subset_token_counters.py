"""Token and error counters of /aggregation/stats' subsets in usage_agg, recounted from the stored records.

A grouped time series counts what `/aggregation/stats?group_by=` counts for the same group (docs/api.md "Time
series"): finished requests that reached a provider for `model` and `api_format`, finished requests for the
tokens of `provider`. usage_agg held those subsets' requests, total tokens, cost and response times, but not their
input, output and cache tokens or their errors. This revision adds them (`fr_*`: finished and reached; `fin_*`:
finished) and fills them for every stored row from the records, as `usagestream verify` recounts them today, in
the zone the day and month grains were built in (`meta.timezone`; UTC if no worker ever ran).

Rows whose bucket starts before the records cut-off (`meta.records_cutoff`, set by retention) have no records left
to recount: their new counters stay 0 (docs/design.md "Retention"). The fill takes the retention lock exclusive,
which every writer's batch takes shared, so no batch adds to a row between the recount and the update.

The SQL is frozen here on purpose: it names the columns that exist at this revision.

Revision ID: 0006
Revises: 0005
"""

import re

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FINISHED = "status NOT IN ('pending', 'streaming')"
REACHED = "provider_name NOT IN ('unknown', 'pending')"
FR = f"{FINISHED} AND {REACHED}"
ERROR = "(status_code >= 400 OR error_message IS NOT NULL)"

# The new counters of usage_agg, each as a column and the aggregate that recounts it.
NEW_COUNTERS = {
    "fr_in": f"COALESCE(sum(input_tokens) FILTER (WHERE {FR}), 0)",
    "fr_out": f"COALESCE(sum(output_tokens) FILTER (WHERE {FR}), 0)",
    "fr_cc": f"COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE {FR}), 0)",
    "fr_cr": f"COALESCE(sum(cache_read_input_tokens) FILTER (WHERE {FR}), 0)",
    "fr_err": f"count(*) FILTER (WHERE {FR} AND {ERROR})",
    "fin_in": f"COALESCE(sum(input_tokens) FILTER (WHERE {FINISHED}), 0)",
    "fin_out": f"COALESCE(sum(output_tokens) FILTER (WHERE {FINISHED}), 0)",
    "fin_cc": f"COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE {FINISHED}), 0)",
    "fin_cr": f"COALESCE(sum(cache_read_input_tokens) FILTER (WHERE {FINISHED}), 0)",
}

DIMENSION_KEYS = {
    "all": "''",
    "model": "model",
    "user": "user_id",
    "provider": "provider_id",
    "api_format": "api_format",
    "api_key": "api_key_id",
    "user_model": "user_id || chr(31) || model",
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


def _fill(dim: str, grain: int, tz: str) -> str:
    """Set the new counters of one dimension and grain from a recount of the finished records (every new
    counter is 0 for an unfinished one), buckets from the records cut-off on."""
    key = DIMENSION_KEYS[dim]
    cols = ", ".join(NEW_COUNTERS)
    return (
        f"UPDATE usage_agg a SET ({cols}) = ({', '.join(f'r.{c}' for c in NEW_COUNTERS)})"
        f" FROM (SELECT {key} AS key, {_bucket(grain, tz)} AS bucket,"
        f" {', '.join(f'{e} AS {c}' for c, e in NEW_COUNTERS.items())}"
        f" FROM usage_records WHERE {key} IS NOT NULL AND {FINISHED} GROUP BY 1, 2) r"
        f" WHERE a.dim = '{dim}' AND a.grain = {grain} AND a.key = r.key AND a.bucket = r.bucket"
        " AND a.bucket >= COALESCE((SELECT value::timestamptz FROM meta WHERE key = 'records_cutoff'), '-infinity')"
    )


def upgrade() -> None:
    for column in NEW_COUNTERS:
        op.execute(f"ALTER TABLE usage_agg ADD COLUMN {column} bigint NOT NULL DEFAULT 0")
    op.execute(f"SELECT pg_advisory_xact_lock({RETENTION_LOCK[0]}, {RETENTION_LOCK[1]})")
    tz = op.get_bind().exec_driver_sql("SELECT value FROM meta WHERE key = 'timezone'").scalar() or "UTC"
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):  # an IANA name, written into the SQL below
        raise ValueError(f"unexpected time zone name {tz!r} in meta.timezone")
    for grain in GRAINS:
        for dim in DIMENSION_KEYS:
            op.execute(_fill(dim, grain, tz))


def downgrade() -> None:
    for column in NEW_COUNTERS:
        op.execute(f"ALTER TABLE usage_agg DROP COLUMN {column}")
