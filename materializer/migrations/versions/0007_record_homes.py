"""Where each stored record lives: id -> created_at (hence its month partition), one unpartitioned table per
record table.

Every batch reads the stored state of its ids FOR UPDATE. The records are partitioned by month of created_at and
an id alone does not say which month holds it, so that look-up probed every month partition: its cost grew with
the history (docs/benchmarks.md "By-id look-ups on a long history"). With these tables the look-up descends one
index here and then only the partition of the month found (run-time partition pruning on the join's
created_at), whatever the number of months. The writer keeps them exact in the batch's own transaction (a new id
inserted, a moved created_at updated), retention deletes the rows of what it drops, and `usagestream verify`
compares them with the records.

The fill takes the retention lock exclusive (writers take it shared), so no batch stores a record between the
copy and the commit. The SQL is frozen here on purpose.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = {"usage_records": "usage_record_homes", "candidate_records": "candidate_record_homes"}
RETENTION_LOCK = (0x5552, 0)  # materializer/pg_tables.py at this revision


def upgrade() -> None:
    op.execute(f"SELECT pg_advisory_xact_lock({RETENTION_LOCK[0]}, {RETENTION_LOCK[1]})")
    for records, homes in TABLES.items():
        op.execute(f"CREATE TABLE {homes} (id text PRIMARY KEY, created_at timestamptz NOT NULL)")
        op.execute(f"INSERT INTO {homes} (id, created_at) SELECT id, created_at FROM {records}")
        op.execute(f"ANALYZE {homes}")


def downgrade() -> None:
    for homes in TABLES.values():
        op.execute(f"DROP TABLE {homes}")
