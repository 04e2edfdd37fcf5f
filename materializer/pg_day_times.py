"""The kept daily percentiles of the completed requests' times (migration 0011): the statements the writer, the
filler, the reader, retention and `verify` share, so that all of them compute a day and its revision alike.

A day `[lo, hi)` is kept with `revsum`, the sum of the revision counters (`completed_times_revs`, one per UTC hour)
of the hours that meet it, read in the same snapshot as its times. Every write transaction that changes a record
raises the counter of the record's hour (and of the hour it moved from) in that transaction, and counters only
grow, so a reader whose own snapshot gives the same sum sees the same records of that day as the filler did: the
kept row is then the exact answer, and any other day is computed from the records (docs/reference-api.md §10.6).
"""

from __future__ import annotations

QUANTILES = (0.5, 0.9, 0.99)
_Q = ", ".join(str(q) for q in QUANTILES)


# The day's revision in the statement's snapshot: `lo` and `hi` are SQL expressions (parameters or columns).
def revsum(lo: str, hi: str) -> str:
    return (
        "(SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r"
        f" WHERE r.hour >= date_trunc('hour', {lo}, 'UTC') AND r.hour < {hi})"
    )


# The exact answer of one day from its completed records (percentile_cont: linear interpolation between ranks).
def times_of(lo: str, hi: str) -> str:
    return (
        "SELECT count(u.response_time_ms) AS n_rt, count(u.first_byte_time_ms) AS n_fb,"
        f" percentile_cont(ARRAY[{_Q}]) WITHIN GROUP (ORDER BY u.response_time_ms) AS rt,"
        f" percentile_cont(ARRAY[{_Q}]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) AS fb"
        f" FROM usage_records u WHERE u.created_at >= {lo} AND u.created_at < {hi} AND u.status = 'completed'"
    )


def backfill_sql(tz: str) -> str:
    """Every local day of `tz` (an IANA name of ours, inlined) that has completed records, kept with revision 0:
    set-based, for a bulk load into a database whose hours have no counter yet (bench/reads_load.py)."""
    return (
        "INSERT INTO completed_times_days (lo, hi, revsum, n_rt, n_fb, rt, fb)"
        f" SELECT d::timestamp AT TIME ZONE '{tz}', (d + 1)::timestamp AT TIME ZONE '{tz}', 0, n_rt, n_fb, rt, fb"
        f" FROM (SELECT (u.created_at AT TIME ZONE '{tz}')::date AS d, count(u.response_time_ms) AS n_rt,"
        f" count(u.first_byte_time_ms) AS n_fb,"
        f" percentile_cont(ARRAY[{_Q}]) WITHIN GROUP (ORDER BY u.response_time_ms) AS rt,"
        f" percentile_cont(ARRAY[{_Q}]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) AS fb"
        " FROM usage_records u WHERE u.status = 'completed' GROUP BY 1) x"
    )


# The writer: raise the counter of each UTC hour of $1 (the created_at of every record the transaction changed,
# and the old one of a moved record), in hour order so that two writers lock the rows in one order.
BUMP_SQL = (
    "INSERT INTO completed_times_revs (hour, rev)"
    " SELECT DISTINCT date_trunc('hour', t, 'UTC'), 1::bigint FROM unnest($1::timestamptz[]) AS t ORDER BY 1"
    " ON CONFLICT (hour) DO UPDATE SET rev = completed_times_revs.rev + 1"
)

# The reader: the kept days among days $1 / $2 whose revision is still the current one, by 1-based position.
KEPT_SQL = (
    "SELECT d.i, s.n_rt, s.n_fb, s.rt, s.fb FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY"
    " AS d(lo, hi, i) JOIN completed_times_days s ON s.lo = d.lo AND s.hi = d.hi"
    f" WHERE s.revsum = {revsum('d.lo', 'd.hi')}"
)

# The filler: which of days $1 / $2 are missing or out of date (newest first, at most $3).
STALE_SQL = (
    "SELECT d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) AS d(lo, hi)"
    " LEFT JOIN completed_times_days s ON s.lo = d.lo AND s.hi = d.hi"
    f" WHERE s.revsum IS DISTINCT FROM {revsum('d.lo', 'd.hi')} ORDER BY d.lo DESC LIMIT $3"
)

# The filler: day [$1, $2) and its revision, computed in one statement, so in one snapshot.
FILL_SQL = (
    "INSERT INTO completed_times_days (lo, hi, revsum, n_rt, n_fb, rt, fb)"
    f" SELECT $1, $2, {revsum('$1', '$2')}, x.n_rt, x.n_fb, x.rt, x.fb FROM ({times_of('$1', '$2')}) x"
    " ON CONFLICT (lo, hi) DO UPDATE SET revsum = EXCLUDED.revsum, n_rt = EXCLUDED.n_rt, n_fb = EXCLUDED.n_fb,"
    " rt = EXCLUDED.rt, fb = EXCLUDED.fb, filled_at = now()"
)

# Retention, under its exclusive lock: the kept days that begin before the records cut-off $1 (their records are
# being dropped) and the counters of hours no kept day can meet any more (writes before the cut-off are refused).
FORGET_DAYS_SQL = "DELETE FROM completed_times_days WHERE lo < $1"
FORGET_REVS_SQL = "DELETE FROM completed_times_revs WHERE hour < date_trunc('hour', $1::timestamptz, 'UTC')"

# `verify`: kept days that claim to be current but differ from a recount of their records.
MISMATCH_SQL = (
    "SELECT s.lo, s.hi FROM completed_times_days s CROSS JOIN LATERAL"
    f" ({times_of('s.lo', 's.hi')}) x WHERE s.revsum = {revsum('s.lo', 's.hi')}"
    " AND (s.n_rt, s.n_fb, s.rt, s.fb) IS DISTINCT FROM (x.n_rt, x.n_fb, x.rt, x.fb) ORDER BY s.lo"
)
