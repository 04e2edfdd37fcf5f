"""The slow count of provider performance at its default threshold kept in every kept row (`slow_n`).

A request of `/api/admin/stats/performance/providers` with the default `slow_threshold_ms` (10,000, Aether's)
needed a slice of every kept day's `rt_all` run for its slow counts (about a third of the slices of a 30-day
request); with `slow_n`, the number of the row's finished requests whose response time is at least 10,000 ms, it
reads none. Another threshold still bisects `rt_all`.

The column is added with 0 for every row, then set, set-based, from one pass over the records of the kept spans
(days, weeks and hours alike, per stored provider_id and over all of them), under the retention lock taken
exclusive as in 0012 (every writer's batch takes it shared, so no batch writes meanwhile). A span whose revision is
current still matches its records, so its rows get the count the filler would give them; a span that is not current
is not read and the filler rewrites it whole.

The SQL is frozen here on purpose: it names the columns and rules that exist at this revision.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

RETENTION_LOCK = (0x5552, 0)  # materializer/pg_tables.py at this revision
SLOW_MS = 10_000
RESERVED = "('unknown', 'unknow', 'pending')"
FINISHED = (
    "u.status NOT IN ('pending', 'streaming') AND u.provider_id IS NOT NULL AND btrim(u.provider_id) <> ''"
    f" AND lower(btrim(u.provider_id)) NOT IN {RESERVED} AND lower(btrim(u.provider_name)) NOT IN {RESERVED}"
)
# Per kept span and provider_id ('' over all of them): its finished records at or above the threshold.
COUNTS = (
    "SELECT s.lo, s.hi, COALESCE(u.provider_id, '') AS provider_id, count(*) AS n FROM provider_days s"
    f" JOIN usage_records u ON u.created_at >= s.lo AND u.created_at < s.hi WHERE {FINISHED}"
    f" AND u.response_time_ms >= {SLOW_MS} GROUP BY GROUPING SETS ((s.lo, s.hi, u.provider_id), (s.lo, s.hi))"
)


def upgrade() -> None:
    op.execute("ALTER TABLE provider_day_rows ADD COLUMN slow_n bigint NOT NULL DEFAULT 0")
    op.execute(f"SELECT pg_advisory_xact_lock({RETENTION_LOCK[0]}, {RETENTION_LOCK[1]})")
    op.execute("SET LOCAL work_mem = '256MB'")
    op.execute(
        f"UPDATE provider_day_rows r SET slow_n = c.n FROM ({COUNTS}) c"
        " WHERE r.lo = c.lo AND r.hi = c.hi AND r.provider_id = c.provider_id"
    )
    op.execute("ALTER TABLE provider_day_rows ALTER COLUMN slow_n DROP DEFAULT")
    op.execute("ANALYZE provider_day_rows")


def downgrade() -> None:
    op.execute("ALTER TABLE provider_day_rows DROP COLUMN slow_n")
