"""Effective input and total input context counters in usage_agg, recounted from the stored records.

Today's Aether answers `effective_input_tokens`, `total_input_context` and `cache_hit_rate` on each
/aggregation/stats item and on the user's summary rows (docs/reference-api.md §9.3). Both values are per record
and depend on its API family (OpenAI and Gemini count cache reads inside the input), so no sum of the existing
counters gives them. This revision adds them over the subsets the items count (`fr_*`: finished and reached, for
model and api_format; `fin_*`: finished, for provider; `r_*`: reached, for the user summary, with its cache
tokens `r_cc`, `r_cr`), and fills them for every stored row from the records, as `usagestream verify` recounts
them today, in the zone the day and month grains were built in (`meta.timezone`; UTC if no worker ever ran).

Rows whose bucket starts before the records cut-off (`meta.records_cutoff`, set by retention) have no records left
to recount: their new counters stay 0 (docs/design.md "Retention"). The fill takes the retention lock exclusive,
which every writer's batch takes shared, so no batch adds to a row between the recount and the update.

The SQL is frozen here on purpose: it names the columns and rules that exist at this revision.

Revision ID: 0008
Revises: 0007
"""

import re

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FINISHED = "status NOT IN ('pending', 'streaming')"
REACHED = "provider_name NOT IN ('unknown', 'pending')"
FR = f"{FINISHED} AND {REACHED}"

# The API family of a record (the endpoint's format, else its format, before ':'), trimmed of Unicode spaces and
# lower-cased in ASCII; OpenAI and Gemini formats count the cache reads inside input_tokens.
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
    # for OpenAI and Gemini, effective input + cache read = max(input, cache read, 0)
    f"CASE WHEN {READ_IN_INPUT} THEN greatest(input_tokens, cache_read_input_tokens, 0)"
    " ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0)"
    " + greatest(cache_read_input_tokens, 0) END"
)

# The new counters of usage_agg, each as a column and the aggregate that recounts it.
NEW_COUNTERS = {
    "fr_eff": f"COALESCE(sum({EFFECTIVE}) FILTER (WHERE {FR}), 0)",
    "fr_ctx": f"COALESCE(sum({CONTEXT}) FILTER (WHERE {FR}), 0)",
    "fin_eff": f"COALESCE(sum({EFFECTIVE}) FILTER (WHERE {FINISHED}), 0)",
    "fin_ctx": f"COALESCE(sum({CONTEXT}) FILTER (WHERE {FINISHED}), 0)",
    "r_cc": f"COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE {REACHED}), 0)",
    "r_cr": f"COALESCE(sum(cache_read_input_tokens) FILTER (WHERE {REACHED}), 0)",
    "r_eff": f"COALESCE(sum({EFFECTIVE}) FILTER (WHERE {REACHED}), 0)",
    "r_ctx": f"COALESCE(sum({CONTEXT}) FILTER (WHERE {REACHED}), 0)",
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
    """Set the new counters of one dimension and grain from a recount of the records that reached a provider or
    finished (every new counter is 0 for any other), buckets from the records cut-off on."""
    key = DIMENSION_KEYS[dim]
    cols = ", ".join(NEW_COUNTERS)
    return (
        f"UPDATE usage_agg a SET ({cols}) = ({', '.join(f'r.{c}' for c in NEW_COUNTERS)})"
        f" FROM (SELECT {key} AS key, {_bucket(grain, tz)} AS bucket,"
        f" {', '.join(f'{e} AS {c}' for c, e in NEW_COUNTERS.items())}"
        f" FROM usage_records WHERE {key} IS NOT NULL AND ({FINISHED} OR {REACHED}) GROUP BY 1, 2) r"
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
