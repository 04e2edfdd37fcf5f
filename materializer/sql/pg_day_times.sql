-- usagestream.materializer.pg_day_times: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.

-- BUMP_SQL
INSERT INTO completed_times_revs (hour, rev) SELECT DISTINCT date_trunc('hour', t, 'UTC'), 1::bigint FROM unnest($1::timestamptz[]) AS t ORDER BY 1 ON CONFLICT (hour) DO UPDATE SET rev = completed_times_revs.rev + 1

-- STALE_SQL
SELECT d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) AS d(lo, hi) LEFT JOIN completed_times_days s ON s.lo = d.lo AND s.hi = d.hi WHERE s.revsum IS DISTINCT FROM (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', d.lo, 'UTC') AND r.hour < d.hi) ORDER BY d.lo DESC LIMIT $3

-- FILL_SQL
INSERT INTO completed_times_days (lo, hi, revsum, n_rt, n_fb, rt, fb) SELECT $1, $2, (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', $1, 'UTC') AND r.hour < $2), x.n_rt, x.n_fb, x.rt, x.fb FROM (SELECT count(u.response_time_ms) AS n_rt, count(u.first_byte_time_ms) AS n_fb, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) AS rt, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) AS fb FROM usage_records u WHERE u.created_at >= $1 AND u.created_at < $2 AND u.status = 'completed') x ON CONFLICT (lo, hi) DO UPDATE SET revsum = EXCLUDED.revsum, n_rt = EXCLUDED.n_rt, n_fb = EXCLUDED.n_fb, rt = EXCLUDED.rt, fb = EXCLUDED.fb, filled_at = now()

-- FORGET_DAYS_SQL
DELETE FROM completed_times_days WHERE lo < $1

-- FORGET_REVS_SQL
DELETE FROM completed_times_revs WHERE hour < date_trunc('hour', $1::timestamptz, 'UTC')

-- MISMATCH_SQL
SELECT s.lo, s.hi FROM completed_times_days s CROSS JOIN LATERAL (SELECT count(u.response_time_ms) AS n_rt, count(u.first_byte_time_ms) AS n_fb, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) AS rt, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) AS fb FROM usage_records u WHERE u.created_at >= s.lo AND u.created_at < s.hi AND u.status = 'completed') x WHERE s.revsum = (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', s.lo, 'UTC') AND r.hour < s.hi) AND (s.n_rt, s.n_fb, s.rt, s.fb) IS DISTINCT FROM (x.n_rt, x.n_fb, x.rt, x.fb) ORDER BY s.lo

-- backfill_sql('UTC')  -- bench/reads_load.py (migration 0011 freezes its own copy)
INSERT INTO completed_times_days (lo, hi, revsum, n_rt, n_fb, rt, fb) SELECT d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC', 0, n_rt, n_fb, rt, fb FROM (SELECT (u.created_at AT TIME ZONE 'UTC')::date AS d, count(u.response_time_ms) AS n_rt, count(u.first_byte_time_ms) AS n_fb, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) AS rt, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) AS fb FROM usage_records u WHERE u.status = 'completed' GROUP BY 1) x
