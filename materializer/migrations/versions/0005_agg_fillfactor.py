"""Free space in the aggregate tables' pages, so that a batch's increments are HOT updates.

Every batch adds to the same few thousand current rows of usage_agg and attempt_agg. With full pages (fillfactor
100) each increment writes the new row version on another page and a new entry in every index (two on
usage_agg); with room left on the page, PostgreSQL keeps the version on the same page and skips the indexes (no
indexed column changes). Pages written from now on keep 20 % free; old buckets are rarely updated, so their
pages are left as they are (no rewrite of the table).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FILLFACTOR = 80


def upgrade() -> None:
    for table in ("usage_agg", "attempt_agg"):
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    for table in ("usage_agg", "attempt_agg"):
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
