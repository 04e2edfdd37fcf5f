"""Records partitioned by time: usage_records and candidate_records become range-partitioned on created_at.

One partition per UTC month (`<table>_pYYYYMM`) so that retention drops whole months instead of deleting rows,
plus a default partition that catches rows outside every month (a backfill older than the partitions, a
created_at beyond the months created ahead); `usagestream_month_partition` creates a month and moves its rows out
of the default partition. Existing rows are copied into the new tables.

PostgreSQL has no unique index across partitions, so the primary key becomes (id, created_at): the writer still
looks a record up by id alone (materializer/write/pg_views.py), under the partition lock that serializes every writer
of one id.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# How far back the conversion creates month partitions; older rows stay in the default partition.
MONTHS_BACK_MAX = 120

MONTH_PARTITION_FN = """
CREATE OR REPLACE FUNCTION usagestream_month_partition(parent text, at timestamptz) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    lo timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi timestamptz := (date_trunc('month', at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    part text := parent || '_p' || to_char(at AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Rows of this month that landed in the default partition move into the new one (PostgreSQL refuses to
    -- create a partition whose rows sit in the default partition).
    EXECUTE format('CREATE TEMP TABLE usagestream_strays (LIKE %I) ON COMMIT DROP', parent);
    EXECUTE format('WITH d AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING *)'
                   ' INSERT INTO usagestream_strays SELECT * FROM d', parent || '_default') USING lo, hi;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, parent, lo, hi);
    EXECUTE format('INSERT INTO %I SELECT * FROM usagestream_strays', parent);
    DROP TABLE usagestream_strays;
    RETURN part;
END
$fn$
"""


def _months_sql(parent: str, source: str) -> str:
    # Every month from the oldest row (at most MONTHS_BACK_MAX back) to two months ahead of now.
    return f"""
DO $do$
DECLARE
    m timestamptz;
BEGIN
    SELECT greatest(least(min(created_at), now()), now() - interval '{MONTHS_BACK_MAX} months') INTO m
        FROM {source};
    m := coalesce(m, now());
    WHILE m < now() + interval '3 months' LOOP
        PERFORM usagestream_month_partition('{parent}', m);
        m := ((date_trunc('month', m AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC');
    END LOOP;
END
$do$
"""


USAGE_INDEXES = [
    "ALTER TABLE usage_records ADD PRIMARY KEY (id, created_at)",
    "CREATE INDEX usage_records_created ON usage_records (created_at DESC, id DESC)",
    "CREATE INDEX usage_records_user ON usage_records (user_id, created_at DESC)",
    "CREATE INDEX usage_records_api_key ON usage_records (api_key_id, created_at DESC)",
    "CREATE INDEX usage_records_model ON usage_records (model, created_at DESC)",
    "CREATE INDEX usage_records_provider ON usage_records (provider_id, created_at DESC)",
    "CREATE INDEX usage_records_request_id ON usage_records (request_id)",
    "CREATE INDEX usage_records_partition_active ON usage_records (kafka_partition, created_at)"
    " WHERE status IN ('pending', 'streaming')",
    "CREATE INDEX usage_records_completed_user ON usage_records (user_id, created_at) WHERE status = 'completed'",
    "CREATE INDEX usage_records_completed_key ON usage_records (api_key_id, created_at) WHERE status = 'completed'",
    "CREATE INDEX usage_records_model_trgm ON usage_records USING gin (model gin_trgm_ops)",
]
CANDIDATE_INDEXES = [
    "ALTER TABLE candidate_records ADD PRIMARY KEY (id, created_at)",
    "CREATE INDEX candidate_records_usage ON candidate_records (usage_id)",
    "CREATE INDEX candidate_records_created ON candidate_records (created_at)",
    "CREATE INDEX candidate_records_executed ON candidate_records (provider_id, created_at)"
    " WHERE status IN ('success', 'failed')",
]


def _convert(table: str, indexes: list[str]) -> list[str]:
    old = f"{table}_0001"
    return [
        f"ALTER TABLE {table} RENAME TO {old}",
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)",
        f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT",
        _months_sql(table, old),
        f"INSERT INTO {table} SELECT * FROM {old}",
        f"DROP TABLE {old}",
        *indexes,
    ]


def _unconvert(table: str, indexes: list[str]) -> list[str]:
    part = f"{table}_partitioned"
    return [
        f"ALTER TABLE {table} RENAME TO {part}",
        f"CREATE TABLE {table} (LIKE {part} INCLUDING DEFAULTS)",
        f"INSERT INTO {table} SELECT * FROM {part}",
        f"DROP TABLE {part}",
        f"ALTER TABLE {table} ADD PRIMARY KEY (id)",
        *indexes[1:],
    ]


def upgrade() -> None:
    op.execute(MONTH_PARTITION_FN)
    for statement in _convert("usage_records", USAGE_INDEXES) + _convert("candidate_records", CANDIDATE_INDEXES):
        op.execute(statement)


def downgrade() -> None:
    statements = _unconvert("usage_records", USAGE_INDEXES) + _unconvert("candidate_records", CANDIDATE_INDEXES)
    for statement in statements:
        op.execute(statement)
    op.execute("DROP FUNCTION IF EXISTS usagestream_month_partition(text, timestamptz)")
    op.execute("DELETE FROM meta WHERE key IN ('records_cutoff', 'bodies_cutoff')")
