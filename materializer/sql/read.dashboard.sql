-- usagestream.materializer.read.dashboard: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.
-- The statements of /api/dashboard/stats and /api/dashboard/daily-stats, built per request: each entry
-- names the builder call, the request it stands for, then its arguments in order. The request: at
-- 2026-03-14T16:52:00+00:00, this month (2026-03) and today, the last minute and 5 minutes; the
-- daily stats of 2026-03-08 to 2026-03-14 (zone UTC), over records from
-- 2025-12-01T00:00:00+00:00 to 2026-03-20T00:00:00+00:00. Each range is planned as read.stats.sql's (extent_sql);
-- the user's entity (USER_BY_ID_SQL) and the providers' names (ENTITY_MAPS_SQL) stand in
-- read.entities.sql.

-- stats.usage_sums_sql(period, 'all', dashboard.STATS_COUNTERS, keys=[''])
--   for: /api/dashboard/stats (admin): the period
--   $1 = ['']
--   $2 = [1, 3]
--   $3 = [2026-03-20T00:00:00+00:00, 2026-03-01T00:00:00+00:00]
--   $4 = [2026-04-01T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, 1]
--   $6 = 2026-03-20T00:00:00+00:00
--   $7 = 2026-03-20T00:00:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT a.key, a.n_all * p.w AS n_all, a.n_error * p.w AS n_error, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all, n_error, in_tok, out_tok, cc_tok, cr_tok, cost, actual_cost, cc_cost, cr_cost, rt_sum, rt_n FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT '' AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM usage_records WHERE ((created_at >= $6 AND created_at < $7)) AND '' IS NOT NULL AND '' = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- stats.usage_sums_sql(today, 'all', dashboard.STATS_COUNTERS, keys=[''])
--   for: /api/dashboard/stats (admin): the today
--   $1 = ['']
--   $2 = [1]
--   $3 = [2026-03-14T00:00:00+00:00]
--   $4 = [2026-03-15T00:00:00+00:00]
--   $5 = [1]
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT a.key, a.n_all * p.w AS n_all, a.n_error * p.w AS n_error, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all, n_error, in_tok, out_tok, cc_tok, cr_tok, cost, actual_cost, cc_cost, cr_cost, rt_sum, rt_n FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($1::text[]) OFFSET 0) a) s GROUP BY 1

-- stats.usage_sums_sql(period, 'user', dashboard.STATS_COUNTERS, keys=['user-1'])
--   for: /api/dashboard/stats (user): the period
--   $1 = ['user-1']
--   $2 = [1, 3]
--   $3 = [2026-03-20T00:00:00+00:00, 2026-03-01T00:00:00+00:00]
--   $4 = [2026-04-01T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, 1]
--   $6 = 2026-03-20T00:00:00+00:00
--   $7 = 2026-03-20T00:00:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT a.key, a.n_all * p.w AS n_all, a.n_error * p.w AS n_error, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all, n_error, in_tok, out_tok, cc_tok, cr_tok, cost, actual_cost, cc_cost, cr_cost, rt_sum, rt_n FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT user_id AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM usage_records WHERE ((created_at >= $6 AND created_at < $7)) AND user_id IS NOT NULL AND user_id = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- stats.usage_sums_sql(today, 'user', dashboard.STATS_COUNTERS, keys=['user-1'])
--   for: /api/dashboard/stats (user): the today
--   $1 = ['user-1']
--   $2 = [1]
--   $3 = [2026-03-14T00:00:00+00:00]
--   $4 = [2026-03-15T00:00:00+00:00]
--   $5 = [1]
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT a.key, a.n_all * p.w AS n_all, a.n_error * p.w AS n_error, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all, n_error, in_tok, out_tok, cc_tok, cr_tok, cost, actual_cost, cc_cost, cr_cost, rt_sum, rt_n FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user' AND key = ANY($1::text[]) OFFSET 0) a) s GROUP BY 1

-- stats.usage_sums_sql(minute, 'all', dashboard.MINUTE_COUNTERS, keys=[''])
--   for: /api/dashboard/stats (admin): the last minute's rates
--   $1 = ['']
--   $2 = 2026-03-14T16:51:00+00:00
--   $3 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok FROM (SELECT '' AS key, count(*) AS n_all, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok FROM usage_records WHERE ((created_at >= $2 AND created_at < $3)) AND '' IS NOT NULL AND '' = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- stats.usage_sums_sql(online, 'user', ('n_all',))
--   for: /api/dashboard/stats (admin): the users online (a request in the last 5 minutes)
--   $1 = 2026-03-14T16:47:00+00:00
--   $2 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all FROM (SELECT user_id AS key, count(*) AS n_all FROM usage_records WHERE ((created_at >= $1 AND created_at < $2)) AND user_id IS NOT NULL AND TRUE AND TRUE GROUP BY 1) s GROUP BY 1

-- USERS_SQL  -- /api/dashboard/stats (admin): live and active users
SELECT count(*) AS total, count(*) FILTER (WHERE (e.data ->> 'is_active')::boolean) AS active FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND NOT COALESCE((e.data ->> 'is_deleted')::boolean, false)

-- KEYS_SQL  -- /api/dashboard/stats (admin): live API keys
SELECT count(*) FROM entities e WHERE e.entity = 'api_key' AND NOT e.deleted AND e.data IS NOT NULL

-- USER_KEYS_SQL  -- /api/dashboard/stats (user): the user's live API keys
SELECT count(*) FROM entities e WHERE e.entity = 'api_key' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'user_id' = $1

-- per_day_sql(day plans, 'all', DAY_COUNTERS, key='')
--   for: /api/dashboard/daily-stats (admin), the last 7 days
--   $1 = ''
--   $2 = [0, 1, 2, 3, 4, 5, 6]
--   $3 = [1, 1, 1, 1, 1, 1, 1]
--   $4 = [2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $5 = [2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $6 = [1, 1, 1, 1, 1, 1, 1]
--   $7 = []
--   $8 = []
--   $9 = []
WITH p AS (SELECT * FROM unnest($2::int4[], $3::int2[], $4::timestamptz[], $5::timestamptz[], $6::int4[]) AS x(i, grain, lo, hi, w)), e AS (SELECT * FROM unnest($7::int4[], $8::timestamptz[], $9::timestamptz[]) AS x(i, lo, hi)) SELECT i, key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT p.i, a.key, a.n_all * p.w AS n_all, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM p CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.dim = 'all' AND a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.key = $1 OFFSET 0) a UNION ALL SELECT e.i, '' AS key, count(*) AS n_all, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e JOIN usage_records u ON u.created_at >= e.lo AND u.created_at < e.hi WHERE '' IS NOT NULL AND '' = $1 AND FALSE GROUP BY 1, 2) d GROUP BY 1, 2

-- per_day_sql(day plans, 'model', DAY_COUNTERS, every key)
--   for: /api/dashboard/daily-stats (admin), the last 7 days
--   $1 = [0, 1, 2, 3, 4, 5, 6]
--   $2 = [1, 1, 1, 1, 1, 1, 1]
--   $3 = [2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $4 = [2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $5 = [1, 1, 1, 1, 1, 1, 1]
--   $6 = []
--   $7 = []
--   $8 = []
WITH p AS (SELECT * FROM unnest($1::int4[], $2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS x(i, grain, lo, hi, w)), e AS (SELECT * FROM unnest($6::int4[], $7::timestamptz[], $8::timestamptz[]) AS x(i, lo, hi)) SELECT i, key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT p.i, a.key, a.n_all * p.w AS n_all, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM p CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.dim = 'model' AND a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND TRUE OFFSET 0) a UNION ALL SELECT e.i, model AS key, count(*) AS n_all, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e JOIN usage_records u ON u.created_at >= e.lo AND u.created_at < e.hi WHERE model IS NOT NULL AND TRUE AND FALSE GROUP BY 1, 2) d GROUP BY 1, 2

-- per_day_sql(day plans, 'provider', DAY_COUNTERS, every key)
--   for: /api/dashboard/daily-stats (admin), the last 7 days
--   $1 = [0, 1, 2, 3, 4, 5, 6]
--   $2 = [1, 1, 1, 1, 1, 1, 1]
--   $3 = [2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $4 = [2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $5 = [1, 1, 1, 1, 1, 1, 1]
--   $6 = []
--   $7 = []
--   $8 = []
WITH p AS (SELECT * FROM unnest($1::int4[], $2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS x(i, grain, lo, hi, w)), e AS (SELECT * FROM unnest($6::int4[], $7::timestamptz[], $8::timestamptz[]) AS x(i, lo, hi)) SELECT i, key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT p.i, a.key, a.n_all * p.w AS n_all, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM p CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.dim = 'provider' AND a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND TRUE OFFSET 0) a UNION ALL SELECT e.i, provider_id AS key, count(*) AS n_all, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e JOIN usage_records u ON u.created_at >= e.lo AND u.created_at < e.hi WHERE provider_id IS NOT NULL AND TRUE AND FALSE GROUP BY 1, 2) d GROUP BY 1, 2

-- per_day_sql(day plans, 'user', DAY_COUNTERS, key='user-1')
--   for: /api/dashboard/daily-stats (user), the last 7 days
--   $1 = 'user-1'
--   $2 = [0, 1, 2, 3, 4, 5, 6]
--   $3 = [1, 1, 1, 1, 1, 1, 1]
--   $4 = [2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $5 = [2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $6 = [1, 1, 1, 1, 1, 1, 1]
--   $7 = []
--   $8 = []
--   $9 = []
WITH p AS (SELECT * FROM unnest($2::int4[], $3::int2[], $4::timestamptz[], $5::timestamptz[], $6::int4[]) AS x(i, grain, lo, hi, w)), e AS (SELECT * FROM unnest($7::int4[], $8::timestamptz[], $9::timestamptz[]) AS x(i, lo, hi)) SELECT i, key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT p.i, a.key, a.n_all * p.w AS n_all, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM p CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.dim = 'user' AND a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.key = $1 OFFSET 0) a UNION ALL SELECT e.i, user_id AS key, count(*) AS n_all, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e JOIN usage_records u ON u.created_at >= e.lo AND u.created_at < e.hi WHERE user_id IS NOT NULL AND user_id = $1 AND FALSE GROUP BY 1, 2) d GROUP BY 1, 2

-- per_day_sql(day plans, 'user_model', DAY_COUNTERS, prefix='user-1\x1f')
--   for: /api/dashboard/daily-stats (user), the last 7 days
--   $1 = 'user-1\x1f'
--   $2 = [0, 1, 2, 3, 4, 5, 6]
--   $3 = [1, 1, 1, 1, 1, 1, 1]
--   $4 = [2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $5 = [2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $6 = [1, 1, 1, 1, 1, 1, 1]
--   $7 = []
--   $8 = []
--   $9 = []
WITH p AS (SELECT * FROM unnest($2::int4[], $3::int2[], $4::timestamptz[], $5::timestamptz[], $6::int4[]) AS x(i, grain, lo, hi, w)), e AS (SELECT * FROM unnest($7::int4[], $8::timestamptz[], $9::timestamptz[]) AS x(i, lo, hi)) SELECT i, key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT p.i, a.key, a.n_all * p.w AS n_all, a.in_tok * p.w AS in_tok, a.out_tok * p.w AS out_tok, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cost * p.w AS cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n FROM p CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.dim = 'user_model' AND a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND starts_with(a.key, $1) OFFSET 0) a UNION ALL SELECT e.i, user_id || chr(31) || model AS key, count(*) AS n_all, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e JOIN usage_records u ON u.created_at >= e.lo AND u.created_at < e.hi WHERE user_id || chr(31) || model IS NOT NULL AND starts_with(user_id || chr(31) || model, $1) AND FALSE GROUP BY 1, 2) d GROUP BY 1, 2
