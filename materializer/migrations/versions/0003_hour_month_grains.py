"""Hour and month aggregates: grain 2 (UTC hours) and grain 3 (local months) of usage_agg and attempt_agg.

The read side answers a range as signed sums of month, day, hour and 15-minute rows (usagestream.ranges), so a
year reads about a dozen rows per key instead of 365 days plus up to 190 quarters. The writer adds to all four
grains from now on; this migration recounts the two new grains from the records already stored (the same SQL as
`usagestream verify`), in the time zone the day grain was built in (`meta.timezone`; UTC if no worker ever ran).
No table changes: `grain` is already part of both primary keys.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from usagestream.materializer import pg_tables as t
from usagestream.materializer.verify import expected_attempts_sql, expected_usage_sql
from usagestream.stats import DIMENSIONS, GRAIN_HOUR, GRAIN_MONTH

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW_GRAINS = (GRAIN_HOUR, GRAIN_MONTH)


def upgrade() -> None:
    tz = op.get_bind().exec_driver_sql("SELECT value FROM meta WHERE key = 'timezone'").scalar() or "UTC"
    usage_cols = ", ".join(t.USAGE_AGG_COLUMNS)
    attempt_cols = ", ".join(t.ATTEMPT_AGG_COLUMNS)
    for grain in NEW_GRAINS:
        op.execute(f"DELETE FROM usage_agg WHERE grain = {grain}")
        op.execute(f"DELETE FROM attempt_agg WHERE grain = {grain}")
        for dim in DIMENSIONS:
            op.execute(
                f"INSERT INTO usage_agg ({usage_cols}) SELECT {usage_cols}"
                f" FROM ({expected_usage_sql(dim, grain, tz)}) e"
            )
        op.execute(
            f"INSERT INTO attempt_agg ({attempt_cols}) SELECT {attempt_cols}"
            f" FROM ({expected_attempts_sql(grain, tz)}) e"
        )


def downgrade() -> None:
    for grain in NEW_GRAINS:
        op.execute(f"DELETE FROM usage_agg WHERE grain = {grain}")
        op.execute(f"DELETE FROM attempt_agg WHERE grain = {grain}")
