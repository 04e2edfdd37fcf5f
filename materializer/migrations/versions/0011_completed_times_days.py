"""Exact daily percentiles of the completed requests' times, kept per closed day by the worker, with a revision
per UTC hour that tells a reader whether a kept day still matches the records.

`/api/admin/stats/performance/percentiles` gives, per local day, `percentile_cont` of the completed requests'
response and first-byte times: no sum of counters gives a quantile, so before this revision every day of the range
was recomputed from the records (an index-only scan and two sorts of each day's times). Now:
- `completed_times_revs (hour, rev)`: a counter per UTC hour, raised by every write transaction that changes a
  record of that hour (new, replaced, moved from or to it, timed out), in that transaction. A missing row is 0.
- `completed_times_days (lo, hi, revsum, n_rt, n_fb, rt, fb)`: per day `[lo, hi)`, the sample counts and the
  percentiles (0.5, 0.9, 0.99) as PostgreSQL computes them, and `revsum`, the sum of the counters of the hours
  that meet the day, read in the same snapshot as the times. A reader uses a kept day only when the sum it reads in
  its own snapshot is the same (counters only grow, so an equal sum means no write to the day in between).

This revision fills `completed_times_days` for every local day of `meta.timezone` (UTC if no worker ever ran) that
has records, in one pass over the completed records, under the retention lock taken exclusive (every writer's
batch takes it shared), with `revsum` 0 as no hour has a counter yet.

The SQL is frozen here on purpose: it names the columns and rules that exist at this revision.

Revision ID: 0011
Revises: 0010
"""

import re

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RETENTION_LOCK = (0x5552, 0)  # materializer/pg_tables.py at this revision
QUANTILES = "ARRAY[0.5, 0.9, 0.99]"


def _backfill(tz: str) -> str:
    day = f"(created_at AT TIME ZONE '{tz}')::date"
    return (
        "INSERT INTO completed_times_days (lo, hi, revsum, n_rt, n_fb, rt, fb)"
        f" SELECT d::timestamp AT TIME ZONE '{tz}', (d + 1)::timestamp AT TIME ZONE '{tz}', 0, n_rt, n_fb, rt, fb"
        " FROM (SELECT"
        f" {day} AS d, count(response_time_ms) AS n_rt, count(first_byte_time_ms) AS n_fb,"
        f" percentile_cont({QUANTILES}) WITHIN GROUP (ORDER BY response_time_ms) AS rt,"
        f" percentile_cont({QUANTILES}) WITHIN GROUP (ORDER BY first_byte_time_ms) AS fb"
        f" FROM usage_records WHERE status = 'completed' GROUP BY 1) x"
    )


def upgrade() -> None:
    op.execute("CREATE TABLE completed_times_revs (hour timestamptz PRIMARY KEY, rev bigint NOT NULL)")
    op.execute(
        "CREATE TABLE completed_times_days (lo timestamptz NOT NULL, hi timestamptz NOT NULL,"
        " revsum bigint NOT NULL, n_rt bigint NOT NULL, n_fb bigint NOT NULL,"
        " rt double precision[], fb double precision[], filled_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (lo, hi))"
    )
    op.execute(f"SELECT pg_advisory_xact_lock({RETENTION_LOCK[0]}, {RETENTION_LOCK[1]})")
    tz = op.get_bind().exec_driver_sql("SELECT value FROM meta WHERE key = 'timezone'").scalar() or "UTC"
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):  # an IANA name, written into the SQL below
        raise ValueError(f"unexpected time zone name {tz!r} in meta.timezone")
    op.execute(_backfill(tz))
    op.execute("ANALYZE completed_times_days")


def downgrade() -> None:
    op.execute("DROP TABLE completed_times_days")
    op.execute("DROP TABLE completed_times_revs")
