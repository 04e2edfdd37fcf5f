-- usagestream.materializer.read.{stats_scope, stats_series, leaderboards, stats_totals, provider_performance} (/api/admin/stats/*): the SQL they send,
-- exactly as sent (one statement per entry, under its name in its module). Written by
-- scripts/generate_sql.py: do not edit.
-- The statements of /api/admin/stats/* (http/views/admin_stats.py), built per request: each entry names
-- the builder call, the request it stands for, then its arguments in order. Representative data: records
-- from 2025-12-01T00:00:00+00:00 to 2026-03-20T00:00:00+00:00 (zone UTC). The ranges: the series over the local
-- days 2026-03-01 to 2026-03-14 (and the hours of 2026-03-14); the sums over
-- 2026-01-03T10:07:12+00:00 to 2026-03-14T16:52:00+00:00 (runs and recounted edges, as read.stats.sql's
-- RUNS_AND_EDGES; a filter combination no dimension holds: the range recounted from the records alone),
-- a comparison's previous period over January and February 2026 (runs only). The filters: none, one
-- dimension (user_id, model, provider_name), user_id+model (the user_model dimension), and the
-- combinations recounted from the records. What plans them (extent_sql, RECORDS_EXTENT_SQL, the
-- cut-off's oldest_rollups_sql) stands in read.stats.sql and read.cutoff.sql.

-- PROVIDER_IDS_SQL  -- stats_scope.resolve: a provider_name filter's live provider ids
SELECT id FROM entities WHERE entity = 'provider' AND NOT deleted AND data ->> 'name' = $1

-- stats_series.series_sql(plan(day), none, q)
--   for: /time-series ?granularity=day filtered by none (and cost/forecast)
--   $1 = ['']
--   $2 = []
--   $3 = []
--   $4 = []
--   $5 = []
--   $6 = []
--   $7 = []
--   $8 = []
--   $9 = []
--   $10 = []
--   $11 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
--   $12 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
--   $13 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $14 = [1]
--   $15 = [2026-03-01T00:00:00+00:00]
--   $16 = [2026-03-14T00:00:00+00:00]
WITH p AS (SELECT * FROM unnest($5::int4[], $6::int2[], $7::timestamptz[]) AS x(i, grain, bucket)), e AS (SELECT * FROM unnest($2::int4[], $3::timestamptz[], $4::timestamptz[]) AS x(i, lo, hi)), w AS (SELECT * FROM unnest($8::int2[], $9::timestamptz[], $10::timestamptz[]) AS x(grain, lo, hi)), p1 AS (SELECT * FROM unnest($11::int4[], $12::int2[], $13::timestamptz[]) AS x(i, grain, bucket)), w1 AS (SELECT * FROM unnest($14::int2[], $15::timestamptz[], $16::timestamptz[]) AS x(grain, lo, hi)) SELECT i, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(tot_tok)::bigint AS tot_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w1 CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'all' AND a.key = k.key AND a.grain = w1.grain AND a.bucket >= w1.lo AND a.bucket <= w1.hi OFFSET 0) a JOIN p1 r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, '' AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE '' IS NOT NULL AND TRUE AND '' IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2 UNION ALL SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'all' AND a.key = k.key AND a.grain = w.grain AND a.bucket >= w.lo AND a.bucket <= w.hi OFFSET 0) a JOIN p r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, '' AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE '' IS NOT NULL AND TRUE AND '' IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2) s GROUP BY 1

-- stats_series.series_sql(plan(day), user_id, q)
--   for: /time-series ?granularity=day filtered by user_id
--   $1 = ['user-1']
--   $2 = []
--   $3 = []
--   $4 = []
--   $5 = []
--   $6 = []
--   $7 = []
--   $8 = []
--   $9 = []
--   $10 = []
--   $11 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
--   $12 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
--   $13 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $14 = [1]
--   $15 = [2026-03-01T00:00:00+00:00]
--   $16 = [2026-03-14T00:00:00+00:00]
WITH p AS (SELECT * FROM unnest($5::int4[], $6::int2[], $7::timestamptz[]) AS x(i, grain, bucket)), e AS (SELECT * FROM unnest($2::int4[], $3::timestamptz[], $4::timestamptz[]) AS x(i, lo, hi)), w AS (SELECT * FROM unnest($8::int2[], $9::timestamptz[], $10::timestamptz[]) AS x(grain, lo, hi)), p1 AS (SELECT * FROM unnest($11::int4[], $12::int2[], $13::timestamptz[]) AS x(i, grain, bucket)), w1 AS (SELECT * FROM unnest($14::int2[], $15::timestamptz[], $16::timestamptz[]) AS x(grain, lo, hi)) SELECT i, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(tot_tok)::bigint AS tot_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w1 CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'user' AND a.key = k.key AND a.grain = w1.grain AND a.bucket >= w1.lo AND a.bucket <= w1.hi OFFSET 0) a JOIN p1 r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, user_id AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE user_id IS NOT NULL AND TRUE AND user_id IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2 UNION ALL SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'user' AND a.key = k.key AND a.grain = w.grain AND a.bucket >= w.lo AND a.bucket <= w.hi OFFSET 0) a JOIN p r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, user_id AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE user_id IS NOT NULL AND TRUE AND user_id IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2) s GROUP BY 1

-- stats_series.series_sql(plan(day), model, q)
--   for: /time-series ?granularity=day filtered by model
--   $1 = ['gpt-4o']
--   $2 = []
--   $3 = []
--   $4 = []
--   $5 = []
--   $6 = []
--   $7 = []
--   $8 = []
--   $9 = []
--   $10 = []
--   $11 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
--   $12 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
--   $13 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $14 = [1]
--   $15 = [2026-03-01T00:00:00+00:00]
--   $16 = [2026-03-14T00:00:00+00:00]
WITH p AS (SELECT * FROM unnest($5::int4[], $6::int2[], $7::timestamptz[]) AS x(i, grain, bucket)), e AS (SELECT * FROM unnest($2::int4[], $3::timestamptz[], $4::timestamptz[]) AS x(i, lo, hi)), w AS (SELECT * FROM unnest($8::int2[], $9::timestamptz[], $10::timestamptz[]) AS x(grain, lo, hi)), p1 AS (SELECT * FROM unnest($11::int4[], $12::int2[], $13::timestamptz[]) AS x(i, grain, bucket)), w1 AS (SELECT * FROM unnest($14::int2[], $15::timestamptz[], $16::timestamptz[]) AS x(grain, lo, hi)) SELECT i, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(tot_tok)::bigint AS tot_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w1 CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'model' AND a.key = k.key AND a.grain = w1.grain AND a.bucket >= w1.lo AND a.bucket <= w1.hi OFFSET 0) a JOIN p1 r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, model AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE model IS NOT NULL AND TRUE AND model IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2 UNION ALL SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'model' AND a.key = k.key AND a.grain = w.grain AND a.bucket >= w.lo AND a.bucket <= w.hi OFFSET 0) a JOIN p r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, model AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE model IS NOT NULL AND TRUE AND model IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2) s GROUP BY 1

-- stats_series.series_sql(plan(day), provider_name, q)
--   for: /time-series ?granularity=day filtered by provider_name
--   $1 = ['prov-1', 'prov-2']
--   $2 = []
--   $3 = []
--   $4 = []
--   $5 = []
--   $6 = []
--   $7 = []
--   $8 = []
--   $9 = []
--   $10 = []
--   $11 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
--   $12 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
--   $13 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $14 = [1]
--   $15 = [2026-03-01T00:00:00+00:00]
--   $16 = [2026-03-14T00:00:00+00:00]
WITH p AS (SELECT * FROM unnest($5::int4[], $6::int2[], $7::timestamptz[]) AS x(i, grain, bucket)), e AS (SELECT * FROM unnest($2::int4[], $3::timestamptz[], $4::timestamptz[]) AS x(i, lo, hi)), w AS (SELECT * FROM unnest($8::int2[], $9::timestamptz[], $10::timestamptz[]) AS x(grain, lo, hi)), p1 AS (SELECT * FROM unnest($11::int4[], $12::int2[], $13::timestamptz[]) AS x(i, grain, bucket)), w1 AS (SELECT * FROM unnest($14::int2[], $15::timestamptz[], $16::timestamptz[]) AS x(grain, lo, hi)) SELECT i, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(tot_tok)::bigint AS tot_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w1 CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'provider' AND a.key = k.key AND a.grain = w1.grain AND a.bucket >= w1.lo AND a.bucket <= w1.hi OFFSET 0) a JOIN p1 r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, provider_id AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE provider_id IS NOT NULL AND TRUE AND provider_id IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2 UNION ALL SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'provider' AND a.key = k.key AND a.grain = w.grain AND a.bucket >= w.lo AND a.bucket <= w.hi OFFSET 0) a JOIN p r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, provider_id AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE provider_id IS NOT NULL AND TRUE AND provider_id IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2) s GROUP BY 1

-- stats_series.series_sql(plan(day), user_id+model, q)
--   for: /time-series ?granularity=day filtered by user_id+model
--   $1 = ['user-1\x1fgpt-4o']
--   $2 = []
--   $3 = []
--   $4 = []
--   $5 = []
--   $6 = []
--   $7 = []
--   $8 = []
--   $9 = []
--   $10 = []
--   $11 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
--   $12 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
--   $13 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $14 = [1]
--   $15 = [2026-03-01T00:00:00+00:00]
--   $16 = [2026-03-14T00:00:00+00:00]
WITH p AS (SELECT * FROM unnest($5::int4[], $6::int2[], $7::timestamptz[]) AS x(i, grain, bucket)), e AS (SELECT * FROM unnest($2::int4[], $3::timestamptz[], $4::timestamptz[]) AS x(i, lo, hi)), w AS (SELECT * FROM unnest($8::int2[], $9::timestamptz[], $10::timestamptz[]) AS x(grain, lo, hi)), p1 AS (SELECT * FROM unnest($11::int4[], $12::int2[], $13::timestamptz[]) AS x(i, grain, bucket)), w1 AS (SELECT * FROM unnest($14::int2[], $15::timestamptz[], $16::timestamptz[]) AS x(grain, lo, hi)) SELECT i, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(tot_tok)::bigint AS tot_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w1 CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'user_model' AND a.key = k.key AND a.grain = w1.grain AND a.bucket >= w1.lo AND a.bucket <= w1.hi OFFSET 0) a JOIN p1 r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, user_id || chr(31) || model AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE user_id || chr(31) || model IS NOT NULL AND TRUE AND user_id || chr(31) || model IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2 UNION ALL SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'user_model' AND a.key = k.key AND a.grain = w.grain AND a.bucket >= w.lo AND a.bucket <= w.hi OFFSET 0) a JOIN p r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, user_id || chr(31) || model AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE user_id || chr(31) || model IS NOT NULL AND TRUE AND user_id || chr(31) || model IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2) s GROUP BY 1

-- stats_series.series_sql(plan(day), model+provider_name, q)
--   for: /time-series ?granularity=day filtered by model+provider_name
--   $1 = ['prov-1\x1fgpt-4o', 'prov-2\x1fgpt-4o']
--   $2 = []
--   $3 = []
--   $4 = []
--   $5 = []
--   $6 = []
--   $7 = []
--   $8 = []
--   $9 = []
--   $10 = []
--   $11 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
--   $12 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
--   $13 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $14 = [1]
--   $15 = [2026-03-01T00:00:00+00:00]
--   $16 = [2026-03-14T00:00:00+00:00]
WITH p AS (SELECT * FROM unnest($5::int4[], $6::int2[], $7::timestamptz[]) AS x(i, grain, bucket)), e AS (SELECT * FROM unnest($2::int4[], $3::timestamptz[], $4::timestamptz[]) AS x(i, lo, hi)), w AS (SELECT * FROM unnest($8::int2[], $9::timestamptz[], $10::timestamptz[]) AS x(grain, lo, hi)), p1 AS (SELECT * FROM unnest($11::int4[], $12::int2[], $13::timestamptz[]) AS x(i, grain, bucket)), w1 AS (SELECT * FROM unnest($14::int2[], $15::timestamptz[], $16::timestamptz[]) AS x(grain, lo, hi)) SELECT i, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(tot_tok)::bigint AS tot_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w1 CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'provider_model' AND a.key = k.key AND a.grain = w1.grain AND a.bucket >= w1.lo AND a.bucket <= w1.hi OFFSET 0) a JOIN p1 r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, provider_id || chr(31) || model AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE provider_id || chr(31) || model IS NOT NULL AND TRUE AND provider_id || chr(31) || model IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2 UNION ALL SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'provider_model' AND a.key = k.key AND a.grain = w.grain AND a.bucket >= w.lo AND a.bucket <= w.hi OFFSET 0) a JOIN p r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, provider_id || chr(31) || model AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE provider_id || chr(31) || model IS NOT NULL AND TRUE AND provider_id || chr(31) || model IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2) s GROUP BY 1

-- stats_series.series_sql(plan(hour), none, q)
--   for: /time-series ?granularity=hour filtered by none
--   $1 = ['']
--   $2 = []
--   $3 = []
--   $4 = []
--   $5 = []
--   $6 = []
--   $7 = []
--   $8 = []
--   $9 = []
--   $10 = []
--   $11 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]
--   $12 = [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
--   $13 = [2026-03-14T00:00:00+00:00, 2026-03-14T01:00:00+00:00, 2026-03-14T02:00:00+00:00, 2026-03-14T03:00:00+00:00, 2026-03-14T04:00:00+00:00, 2026-03-14T05:00:00+00:00, 2026-03-14T06:00:00+00:00, 2026-03-14T07:00:00+00:00, 2026-03-14T08:00:00+00:00, 2026-03-14T09:00:00+00:00, 2026-03-14T10:00:00+00:00, 2026-03-14T11:00:00+00:00, 2026-03-14T12:00:00+00:00, 2026-03-14T13:00:00+00:00, 2026-03-14T14:00:00+00:00, 2026-03-14T15:00:00+00:00, 2026-03-14T16:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-03-14T18:00:00+00:00, 2026-03-14T19:00:00+00:00, 2026-03-14T20:00:00+00:00, 2026-03-14T21:00:00+00:00, 2026-03-14T22:00:00+00:00, 2026-03-14T23:00:00+00:00]
--   $14 = [2]
--   $15 = [2026-03-14T00:00:00+00:00]
--   $16 = [2026-03-14T23:00:00+00:00]
WITH p AS (SELECT * FROM unnest($5::int4[], $6::int2[], $7::timestamptz[]) AS x(i, grain, bucket)), e AS (SELECT * FROM unnest($2::int4[], $3::timestamptz[], $4::timestamptz[]) AS x(i, lo, hi)), w AS (SELECT * FROM unnest($8::int2[], $9::timestamptz[], $10::timestamptz[]) AS x(grain, lo, hi)), p1 AS (SELECT * FROM unnest($11::int4[], $12::int2[], $13::timestamptz[]) AS x(i, grain, bucket)), w1 AS (SELECT * FROM unnest($14::int2[], $15::timestamptz[], $16::timestamptz[]) AS x(grain, lo, hi)) SELECT i, sum(n_all)::bigint AS n_all, sum(n_error)::bigint AS n_error, sum(in_tok)::bigint AS in_tok, sum(out_tok)::bigint AS out_tok, sum(tot_tok)::bigint AS tot_tok, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n FROM (SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w1 CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'all' AND a.key = k.key AND a.grain = w1.grain AND a.bucket >= w1.lo AND a.bucket <= w1.hi OFFSET 0) a JOIN p1 r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, '' AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE '' IS NOT NULL AND TRUE AND '' IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2 UNION ALL SELECT r.i, a.key, a.n_all AS n_all, a.n_error AS n_error, a.in_tok AS in_tok, a.out_tok AS out_tok, a.tot_tok AS tot_tok, a.cc_tok AS cc_tok, a.cr_tok AS cr_tok, a.cost AS cost, a.actual_cost AS actual_cost, a.rt_sum AS rt_sum, a.rt_n AS rt_n FROM w CROSS JOIN (SELECT unnest($1::text[]) AS key) k CROSS JOIN LATERAL (SELECT a.key, a.grain, a.bucket, a.n_all, a.n_error, a.in_tok, a.out_tok, a.tot_tok, a.cc_tok, a.cr_tok, a.cost, a.actual_cost, a.rt_sum, a.rt_n FROM usage_agg a WHERE a.dim = 'all' AND a.key = k.key AND a.grain = w.grain AND a.bucket >= w.lo AND a.bucket <= w.hi OFFSET 0) a JOIN p r ON r.grain = a.grain AND r.bucket = a.bucket UNION ALL SELECT c.i, '' AS key, count(*) AS n_all, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(input_tokens), 0) AS in_tok, COALESCE(sum(output_tokens), 0) AS out_tok, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n FROM e c JOIN usage_records u ON u.created_at >= c.lo AND u.created_at < c.hi WHERE '' IS NOT NULL AND TRUE AND '' IN (SELECT key FROM (SELECT unnest($1::text[]) AS key) k) AND FALSE GROUP BY 1, 2) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('user', none), leaderboards.COUNTERS)
--   for: /leaderboard/users filtered by none
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user' AND TRUE OFFSET 0) a UNION ALL SELECT user_id AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND user_id IS NOT NULL AND TRUE GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('user', user_id), leaderboards.COUNTERS)
--   for: /leaderboard/users filtered by user_id
--   $1 = ['user-1']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT user_id AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id IS NOT NULL AND user_id = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('user', model), leaderboards.COUNTERS)
--   for: /leaderboard/users filtered by model
--   $1 = '\x1fgpt-4o'
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user_model' AND right(key, char_length($1)) = $1 OFFSET 0) a UNION ALL SELECT user_id || chr(31) || model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id || chr(31) || model IS NOT NULL AND model = substr($1, 2) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('user', user_id+model), leaderboards.COUNTERS)
--   for: /leaderboard/users filtered by user_id+model
--   $1 = ['user-1\x1fgpt-4o']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user_model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT user_id || chr(31) || model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id || chr(31) || model IS NOT NULL AND user_id || chr(31) || model = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('user', provider_name), leaderboards.COUNTERS)
--   for: /leaderboard/users filtered by provider_name
--   $1 = ['prov-1', 'prov-2']
--   $2 = 2026-01-03T10:07:12+00:00
--   $3 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT user_id AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $2 AND created_at < $3)) AND user_id IS NOT NULL AND TRUE AND provider_id = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('model', none), leaderboards.COUNTERS)
--   for: /leaderboard/models filtered by none
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND TRUE OFFSET 0) a UNION ALL SELECT model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND model IS NOT NULL AND TRUE GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('model', user_id), leaderboards.COUNTERS)
--   for: /leaderboard/models filtered by user_id
--   $1 = 'user-1\x1f'
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user_model' AND starts_with(key, $1) OFFSET 0) a UNION ALL SELECT user_id || chr(31) || model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id || chr(31) || model IS NOT NULL AND user_id = left($1, -1) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('model', model), leaderboards.COUNTERS)
--   for: /leaderboard/models filtered by model
--   $1 = ['gpt-4o']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND model IS NOT NULL AND model = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('model', user_id+model), leaderboards.COUNTERS)
--   for: /leaderboard/models filtered by user_id+model
--   $1 = ['user-1\x1fgpt-4o']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user_model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT user_id || chr(31) || model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id || chr(31) || model IS NOT NULL AND user_id || chr(31) || model = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('model', provider_name), leaderboards.COUNTERS)
--   for: /leaderboard/models filtered by provider_name
--   $1 = ['prov-1', 'prov-2']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'provider_model' AND split_part(key, chr(31), 1) = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT provider_id || chr(31) || model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND provider_id || chr(31) || model IS NOT NULL AND provider_id = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('api_key', none), leaderboards.COUNTERS)
--   for: /leaderboard/api-keys filtered by none
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'api_key' AND TRUE OFFSET 0) a UNION ALL SELECT api_key_id AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND api_key_id IS NOT NULL AND TRUE GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('api_key', user_id), leaderboards.COUNTERS)
--   for: /leaderboard/api-keys filtered by user_id
--   $1 = ['key-1', 'key-2']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_fr, fr_tot_tok, fr_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'api_key' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT api_key_id AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND api_key_id IS NOT NULL AND api_key_id = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('api_key', model), leaderboards.COUNTERS)
--   for: /leaderboard/api-keys filtered by model
--   $1 = 'gpt-4o'
--   $2 = 2026-01-03T10:07:12+00:00
--   $3 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT api_key_id AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $2 AND created_at < $3)) AND api_key_id IS NOT NULL AND TRUE AND model = $1 GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, group_scope('api_key', provider_name), leaderboards.COUNTERS)
--   for: /leaderboard/api-keys filtered by provider_name
--   $1 = ['prov-1', 'prov-2']
--   $2 = 2026-01-03T10:07:12+00:00
--   $3 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost FROM (SELECT api_key_id AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost FROM usage_records WHERE ((created_at >= $2 AND created_at < $3)) AND api_key_id IS NOT NULL AND TRUE AND provider_id = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- leaderboards.OWNED_KEYS_SQL  -- /leaderboard/api-keys ?user_id=: the user's keys
SELECT id FROM entities WHERE entity = 'api_key' AND NOT deleted AND data ->> 'user_id' = $1

-- leaderboards.USERS_SQL  -- /leaderboard/users: who may rank
SELECT id, deleted, data FROM entities WHERE entity = 'user' AND id = ANY($1::text[])

-- leaderboards.API_KEYS_SQL  -- /leaderboard/api-keys: which keys may rank, and their owners
SELECT k.id, k.data, o.deleted AS owner_deleted, o.data AS owner FROM entities k LEFT JOIN entities o ON o.entity = 'user' AND o.id = k.data ->> 'user_id' WHERE k.entity = 'api_key' AND NOT k.deleted AND k.data IS NOT NULL AND k.id = ANY($1::text[])

-- stats_scope.sums_sql(plan, total_scope(none), COMPARISON_COUNTERS)
--   for: /comparison: the current period
--   $1 = ['']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n, sum(n_error)::bigint AS n_error FROM (SELECT a.key, a.n_all * p.w AS n_all, a.tot_tok * p.w AS tot_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n, a.n_error * p.w AS n_error FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all, tot_tok, cost, actual_cost, rt_sum, rt_n, n_error FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT '' AS key, count(*) AS n_all, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND '' IS NOT NULL AND '' = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, total_scope(none), COMPARISON_COUNTERS)
--   for: /comparison: the previous period
--   $1 = ['']
--   $2 = [3]
--   $3 = [2026-01-01T00:00:00+00:00]
--   $4 = [2026-03-01T00:00:00+00:00]
--   $5 = [1]
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n, sum(n_error)::bigint AS n_error FROM (SELECT a.key, a.n_all * p.w AS n_all, a.tot_tok * p.w AS tot_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n, a.n_error * p.w AS n_error FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all, tot_tok, cost, actual_cost, rt_sum, rt_n, n_error FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($1::text[]) OFFSET 0) a) s GROUP BY 1

-- stats_scope.sums_sql(plan, total_scope(none), SAVINGS_COUNTERS)
--   for: /cost/savings filtered by none
--   $1 = ['']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(cr_tok)::bigint AS cr_tok, sum(cr_cost) AS cr_cost, sum(cc_cost) AS cc_cost FROM (SELECT a.key, a.cr_tok * p.w AS cr_tok, a.cr_cost * p.w AS cr_cost, a.cc_cost * p.w AS cc_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, cr_tok, cr_cost, cc_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT '' AS key, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND '' IS NOT NULL AND '' = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, total_scope(model), SAVINGS_COUNTERS)
--   for: /cost/savings filtered by model
--   $1 = ['gpt-4o']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(cr_tok)::bigint AS cr_tok, sum(cr_cost) AS cr_cost, sum(cc_cost) AS cc_cost FROM (SELECT a.key, a.cr_tok * p.w AS cr_tok, a.cr_cost * p.w AS cr_cost, a.cc_cost * p.w AS cc_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, cr_tok, cr_cost, cc_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT model AS key, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND model IS NOT NULL AND model = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, total_scope(provider_name), SAVINGS_COUNTERS)
--   for: /cost/savings filtered by provider_name
--   $1 = ['prov-1', 'prov-2']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(cr_tok)::bigint AS cr_tok, sum(cr_cost) AS cr_cost, sum(cc_cost) AS cc_cost FROM (SELECT a.key, a.cr_tok * p.w AS cr_tok, a.cr_cost * p.w AS cr_cost, a.cc_cost * p.w AS cc_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, cr_tok, cr_cost, cc_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'provider' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT provider_id AS key, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND provider_id IS NOT NULL AND provider_id = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- stats_scope.sums_sql(plan, total_scope(model+provider_name), SAVINGS_COUNTERS)
--   for: /cost/savings filtered by model+provider_name
--   $1 = ['prov-1\x1fgpt-4o', 'prov-2\x1fgpt-4o']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(cr_tok)::bigint AS cr_tok, sum(cr_cost) AS cr_cost, sum(cc_cost) AS cc_cost FROM (SELECT a.key, a.cr_tok * p.w AS cr_tok, a.cr_cost * p.w AS cr_cost, a.cc_cost * p.w AS cc_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, cr_tok, cr_cost, cc_cost FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'provider_model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT provider_id || chr(31) || model AS key, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND provider_id || chr(31) || model IS NOT NULL AND provider_id || chr(31) || model = ANY($1::text[]) GROUP BY 1) s GROUP BY 1

-- pg_day_times.KEPT_SQL (the kept days still current)
--   for: /performance/percentiles
--   $1 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $2 = [2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
SELECT d.i, s.n_rt, s.n_fb, s.rt, s.fb FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) JOIN completed_times_days s ON s.lo = d.lo AND s.hi = d.hi WHERE s.revsum = (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', d.lo, 'UTC') AND r.hour < d.hi)

-- stats_totals.percentiles_sql(days)  -- the days not kept, here all
--   for: /performance/percentiles
--   $1 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $2 = [2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
SELECT d.i, x.* FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) CROSS JOIN LATERAL (SELECT count(u.response_time_ms) AS n_rt, count(u.first_byte_time_ms) AS n_fb, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) AS rt, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) AS fb FROM usage_records u WHERE u.created_at >= d.lo AND u.created_at < d.hi AND u.status = 'completed' OFFSET 0) x

-- pg_provider_days.KEPT_SQL (the kept days still current), no filter
--   for: /performance/providers ?granularity=day, no filter
--   $1 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $2 = [2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $3 = None
--   $4 = 14
--   $5 = 10000
WITH s AS MATERIALIZED (SELECT d.i, d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) JOIN provider_days k ON k.lo = d.lo AND k.hi = d.hi WHERE k.revsum = (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', d.lo, 'UTC') AND r.hour < d.hi)), w AS MATERIALIZED (SELECT a.i, a.lo, a.hi FROM s a WHERE a.i > $4 AND NOT EXISTS (SELECT 1 FROM s b WHERE b.i > $4 AND b.i <> a.i AND b.lo < a.hi AND a.lo < b.hi)) SELECT s.i, r.ctid AS at, r.provider_id, r.shown, r.n, r.ok_n, r.out_tok, r.rt_sum, r.rt_n, r.fb_sum, r.fb_n, r.tps_tok, r.tps_ms, r.tps_n, r.rt_all_n, r.step, r.slow_n, CASE WHEN q.planned THEN r.rt_ok_fence END AS rt_ok_fence, CASE WHEN q.planned THEN r.fb_ok_fence END AS fb_ok_fence, CASE WHEN s.i <= $4 AND r.provider_id <> '' AND $5::int <> 10000 THEN r.rt_all_fence END AS rt_all_fence FROM s CROSS JOIN LATERAL (SELECT CASE WHEN s.i > $4 THEN EXISTS (SELECT 1 FROM w WHERE w.i = s.i) ELSE NOT EXISTS (SELECT 1 FROM w WHERE w.lo <= s.lo AND w.hi >= s.hi) END AS planned) q LEFT JOIN provider_day_rows r ON r.lo = s.lo AND r.hi = s.hi AND ($3::text IS NULL OR r.provider_id = $3)

-- pg_provider_days.KEPT_SQL (the kept hours of a day not kept), no filter
--   for: /performance/providers ?granularity=day, no filter
--   $1 = [2026-03-14T00:00:00+00:00, 2026-03-14T01:00:00+00:00, 2026-03-14T02:00:00+00:00, 2026-03-14T03:00:00+00:00, 2026-03-14T04:00:00+00:00, 2026-03-14T05:00:00+00:00, 2026-03-14T06:00:00+00:00, 2026-03-14T07:00:00+00:00, 2026-03-14T08:00:00+00:00, 2026-03-14T09:00:00+00:00, 2026-03-14T10:00:00+00:00, 2026-03-14T11:00:00+00:00, 2026-03-14T12:00:00+00:00, 2026-03-14T13:00:00+00:00, 2026-03-14T14:00:00+00:00, 2026-03-14T15:00:00+00:00, 2026-03-14T16:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-03-14T18:00:00+00:00, 2026-03-14T19:00:00+00:00, 2026-03-14T20:00:00+00:00, 2026-03-14T21:00:00+00:00, 2026-03-14T22:00:00+00:00, 2026-03-14T23:00:00+00:00]
--   $2 = [2026-03-14T01:00:00+00:00, 2026-03-14T02:00:00+00:00, 2026-03-14T03:00:00+00:00, 2026-03-14T04:00:00+00:00, 2026-03-14T05:00:00+00:00, 2026-03-14T06:00:00+00:00, 2026-03-14T07:00:00+00:00, 2026-03-14T08:00:00+00:00, 2026-03-14T09:00:00+00:00, 2026-03-14T10:00:00+00:00, 2026-03-14T11:00:00+00:00, 2026-03-14T12:00:00+00:00, 2026-03-14T13:00:00+00:00, 2026-03-14T14:00:00+00:00, 2026-03-14T15:00:00+00:00, 2026-03-14T16:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-03-14T18:00:00+00:00, 2026-03-14T19:00:00+00:00, 2026-03-14T20:00:00+00:00, 2026-03-14T21:00:00+00:00, 2026-03-14T22:00:00+00:00, 2026-03-14T23:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $3 = None
--   $4 = 24
--   $5 = 10000
WITH s AS MATERIALIZED (SELECT d.i, d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) JOIN provider_days k ON k.lo = d.lo AND k.hi = d.hi WHERE k.revsum = (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', d.lo, 'UTC') AND r.hour < d.hi)), w AS MATERIALIZED (SELECT a.i, a.lo, a.hi FROM s a WHERE a.i > $4 AND NOT EXISTS (SELECT 1 FROM s b WHERE b.i > $4 AND b.i <> a.i AND b.lo < a.hi AND a.lo < b.hi)) SELECT s.i, r.ctid AS at, r.provider_id, r.shown, r.n, r.ok_n, r.out_tok, r.rt_sum, r.rt_n, r.fb_sum, r.fb_n, r.tps_tok, r.tps_ms, r.tps_n, r.rt_all_n, r.step, r.slow_n, CASE WHEN q.planned THEN r.rt_ok_fence END AS rt_ok_fence, CASE WHEN q.planned THEN r.fb_ok_fence END AS fb_ok_fence, CASE WHEN s.i <= $4 AND r.provider_id <> '' AND $5::int <> 10000 THEN r.rt_all_fence END AS rt_all_fence FROM s CROSS JOIN LATERAL (SELECT CASE WHEN s.i > $4 THEN EXISTS (SELECT 1 FROM w WHERE w.i = s.i) ELSE NOT EXISTS (SELECT 1 FROM w WHERE w.lo <= s.lo AND w.hi >= s.hi) END AS planned) q LEFT JOIN provider_day_rows r ON r.lo = s.lo AND r.hi = s.hi AND ($3::text IS NULL OR r.provider_id = $3)

-- provider_performance.statement(Ask(day bounds, 8, 10000, no filter))
--   for: /performance/providers ?granularity=day, no filter
--   $1 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $2 = [2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $3 = 8
--   $4 = 10000
WITH r AS MATERIALIZED (SELECT d.i AS b, x.* FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) CROSS JOIN LATERAL (SELECT btrim(u.provider_id) AS pid, COALESCE(NULLIF(btrim(u.provider_name), ''), btrim(u.provider_id)) AS shown, (u.status = 'completed' AND (u.status_code IS NULL OR u.status_code < 400)) AS ok, (CASE WHEN u.response_time_ms IS NULL OR u.response_time_ms = 0 THEN NULL WHEN NOT (CASE WHEN jsonb_typeof(u.request_metadata -> 'upstream_is_stream') = 'boolean' THEN (u.request_metadata ->> 'upstream_is_stream')::boolean ELSE u.is_stream END) THEN u.response_time_ms WHEN u.first_byte_time_ms IS NULL OR u.first_byte_time_ms >= u.response_time_ms THEN NULL ELSE u.response_time_ms - u.first_byte_time_ms END) AS tps_ms, u.output_tokens, u.response_time_ms, u.first_byte_time_ms FROM usage_records u WHERE u.created_at >= d.lo AND u.created_at < d.hi AND u.status NOT IN ('pending', 'streaming') AND u.provider_id IS NOT NULL AND btrim(u.provider_id) <> '' AND lower(btrim(u.provider_id)) NOT IN ('unknown', 'unknow', 'pending') AND lower(btrim(u.provider_name)) NOT IN ('unknown', 'unknow', 'pending') OFFSET 0) x), t AS (SELECT pid FROM r GROUP BY pid ORDER BY count(*) DESC, pid COLLATE "C" LIMIT $3) SELECT GROUPING(u.pid, u.b) AS kind, u.pid, u.b, count(*) AS n, count(*) FILTER (WHERE ok) AS ok_n, COALESCE(sum(u.output_tokens), 0) AS out_tok, count(*) FILTER (WHERE u.response_time_ms >= $4) AS slow, sum(u.response_time_ms) FILTER (WHERE ok) AS rt_sum, count(u.response_time_ms) FILTER (WHERE ok) AS rt_n, sum(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_sum, count(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_n, sum(u.output_tokens) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_tok, sum(u.tps_ms) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_ms, count(*) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_n, percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) FILTER (WHERE ok) AS p_rt, percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) FILTER (WHERE ok) AS p_fb, max(u.shown) AS provider FROM r u GROUP BY GROUPING SETS ((), (u.pid), (u.pid, u.b)) HAVING GROUPING(u.pid) = 1 OR u.pid IN (SELECT pid FROM t)

-- pg_provider_days.KEPT_SQL (the kept days still current), ?provider_id=
--   for: /performance/providers ?granularity=day, ?provider_id=
--   $1 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $2 = [2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $3 = 'prov-1'
--   $4 = 14
--   $5 = 10000
WITH s AS MATERIALIZED (SELECT d.i, d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) JOIN provider_days k ON k.lo = d.lo AND k.hi = d.hi WHERE k.revsum = (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', d.lo, 'UTC') AND r.hour < d.hi)), w AS MATERIALIZED (SELECT a.i, a.lo, a.hi FROM s a WHERE a.i > $4 AND NOT EXISTS (SELECT 1 FROM s b WHERE b.i > $4 AND b.i <> a.i AND b.lo < a.hi AND a.lo < b.hi)) SELECT s.i, r.ctid AS at, r.provider_id, r.shown, r.n, r.ok_n, r.out_tok, r.rt_sum, r.rt_n, r.fb_sum, r.fb_n, r.tps_tok, r.tps_ms, r.tps_n, r.rt_all_n, r.step, r.slow_n, CASE WHEN q.planned THEN r.rt_ok_fence END AS rt_ok_fence, CASE WHEN q.planned THEN r.fb_ok_fence END AS fb_ok_fence, CASE WHEN s.i <= $4 AND r.provider_id <> '' AND $5::int <> 10000 THEN r.rt_all_fence END AS rt_all_fence FROM s CROSS JOIN LATERAL (SELECT CASE WHEN s.i > $4 THEN EXISTS (SELECT 1 FROM w WHERE w.i = s.i) ELSE NOT EXISTS (SELECT 1 FROM w WHERE w.lo <= s.lo AND w.hi >= s.hi) END AS planned) q LEFT JOIN provider_day_rows r ON r.lo = s.lo AND r.hi = s.hi AND ($3::text IS NULL OR r.provider_id = $3)

-- pg_provider_days.KEPT_SQL (the kept hours of a day not kept), ?provider_id=
--   for: /performance/providers ?granularity=day, ?provider_id=
--   $1 = [2026-03-14T00:00:00+00:00, 2026-03-14T01:00:00+00:00, 2026-03-14T02:00:00+00:00, 2026-03-14T03:00:00+00:00, 2026-03-14T04:00:00+00:00, 2026-03-14T05:00:00+00:00, 2026-03-14T06:00:00+00:00, 2026-03-14T07:00:00+00:00, 2026-03-14T08:00:00+00:00, 2026-03-14T09:00:00+00:00, 2026-03-14T10:00:00+00:00, 2026-03-14T11:00:00+00:00, 2026-03-14T12:00:00+00:00, 2026-03-14T13:00:00+00:00, 2026-03-14T14:00:00+00:00, 2026-03-14T15:00:00+00:00, 2026-03-14T16:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-03-14T18:00:00+00:00, 2026-03-14T19:00:00+00:00, 2026-03-14T20:00:00+00:00, 2026-03-14T21:00:00+00:00, 2026-03-14T22:00:00+00:00, 2026-03-14T23:00:00+00:00]
--   $2 = [2026-03-14T01:00:00+00:00, 2026-03-14T02:00:00+00:00, 2026-03-14T03:00:00+00:00, 2026-03-14T04:00:00+00:00, 2026-03-14T05:00:00+00:00, 2026-03-14T06:00:00+00:00, 2026-03-14T07:00:00+00:00, 2026-03-14T08:00:00+00:00, 2026-03-14T09:00:00+00:00, 2026-03-14T10:00:00+00:00, 2026-03-14T11:00:00+00:00, 2026-03-14T12:00:00+00:00, 2026-03-14T13:00:00+00:00, 2026-03-14T14:00:00+00:00, 2026-03-14T15:00:00+00:00, 2026-03-14T16:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-03-14T18:00:00+00:00, 2026-03-14T19:00:00+00:00, 2026-03-14T20:00:00+00:00, 2026-03-14T21:00:00+00:00, 2026-03-14T22:00:00+00:00, 2026-03-14T23:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $3 = 'prov-1'
--   $4 = 24
--   $5 = 10000
WITH s AS MATERIALIZED (SELECT d.i, d.lo, d.hi FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) JOIN provider_days k ON k.lo = d.lo AND k.hi = d.hi WHERE k.revsum = (SELECT COALESCE(sum(r.rev), 0) FROM completed_times_revs r WHERE r.hour >= date_trunc('hour', d.lo, 'UTC') AND r.hour < d.hi)), w AS MATERIALIZED (SELECT a.i, a.lo, a.hi FROM s a WHERE a.i > $4 AND NOT EXISTS (SELECT 1 FROM s b WHERE b.i > $4 AND b.i <> a.i AND b.lo < a.hi AND a.lo < b.hi)) SELECT s.i, r.ctid AS at, r.provider_id, r.shown, r.n, r.ok_n, r.out_tok, r.rt_sum, r.rt_n, r.fb_sum, r.fb_n, r.tps_tok, r.tps_ms, r.tps_n, r.rt_all_n, r.step, r.slow_n, CASE WHEN q.planned THEN r.rt_ok_fence END AS rt_ok_fence, CASE WHEN q.planned THEN r.fb_ok_fence END AS fb_ok_fence, CASE WHEN s.i <= $4 AND r.provider_id <> '' AND $5::int <> 10000 THEN r.rt_all_fence END AS rt_all_fence FROM s CROSS JOIN LATERAL (SELECT CASE WHEN s.i > $4 THEN EXISTS (SELECT 1 FROM w WHERE w.i = s.i) ELSE NOT EXISTS (SELECT 1 FROM w WHERE w.lo <= s.lo AND w.hi >= s.hi) END AS planned) q LEFT JOIN provider_day_rows r ON r.lo = s.lo AND r.hi = s.hi AND ($3::text IS NULL OR r.provider_id = $3)

-- provider_performance.statement(Ask(day bounds, 8, 10000, ?provider_id=))
--   for: /performance/providers ?granularity=day, ?provider_id=
--   $1 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $2 = [2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $3 = 'prov-1'
--   $4 = 8
--   $5 = 10000
WITH r AS MATERIALIZED (SELECT d.i AS b, x.* FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) CROSS JOIN LATERAL (SELECT btrim(u.provider_id) AS pid, COALESCE(NULLIF(btrim(u.provider_name), ''), btrim(u.provider_id)) AS shown, (u.status = 'completed' AND (u.status_code IS NULL OR u.status_code < 400)) AS ok, (CASE WHEN u.response_time_ms IS NULL OR u.response_time_ms = 0 THEN NULL WHEN NOT (CASE WHEN jsonb_typeof(u.request_metadata -> 'upstream_is_stream') = 'boolean' THEN (u.request_metadata ->> 'upstream_is_stream')::boolean ELSE u.is_stream END) THEN u.response_time_ms WHEN u.first_byte_time_ms IS NULL OR u.first_byte_time_ms >= u.response_time_ms THEN NULL ELSE u.response_time_ms - u.first_byte_time_ms END) AS tps_ms, u.output_tokens, u.response_time_ms, u.first_byte_time_ms FROM usage_records u WHERE u.created_at >= d.lo AND u.created_at < d.hi AND u.status NOT IN ('pending', 'streaming') AND u.provider_id IS NOT NULL AND btrim(u.provider_id) <> '' AND lower(btrim(u.provider_id)) NOT IN ('unknown', 'unknow', 'pending') AND lower(btrim(u.provider_name)) NOT IN ('unknown', 'unknow', 'pending') AND u.provider_id = $3 OFFSET 0) x), t AS (SELECT pid FROM r GROUP BY pid ORDER BY count(*) DESC, pid COLLATE "C" LIMIT $4) SELECT GROUPING(u.pid, u.b) AS kind, u.pid, u.b, count(*) AS n, count(*) FILTER (WHERE ok) AS ok_n, COALESCE(sum(u.output_tokens), 0) AS out_tok, count(*) FILTER (WHERE u.response_time_ms >= $5) AS slow, sum(u.response_time_ms) FILTER (WHERE ok) AS rt_sum, count(u.response_time_ms) FILTER (WHERE ok) AS rt_n, sum(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_sum, count(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_n, sum(u.output_tokens) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_tok, sum(u.tps_ms) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_ms, count(*) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_n, percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) FILTER (WHERE ok) AS p_rt, percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) FILTER (WHERE ok) AS p_fb, max(u.shown) AS provider FROM r u GROUP BY GROUPING SETS ((), (u.pid), (u.pid, u.b)) HAVING GROUPING(u.pid) = 1 OR u.pid IN (SELECT pid FROM t)

-- provider_performance.statement(Ask(day bounds, 8, 10000, every filter))
--   for: /performance/providers ?granularity=day, every filter
--   $1 = [2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00]
--   $2 = [2026-03-02T00:00:00+00:00, 2026-03-03T00:00:00+00:00, 2026-03-04T00:00:00+00:00, 2026-03-05T00:00:00+00:00, 2026-03-06T00:00:00+00:00, 2026-03-07T00:00:00+00:00, 2026-03-08T00:00:00+00:00, 2026-03-09T00:00:00+00:00, 2026-03-10T00:00:00+00:00, 2026-03-11T00:00:00+00:00, 2026-03-12T00:00:00+00:00, 2026-03-13T00:00:00+00:00, 2026-03-14T00:00:00+00:00, 2026-03-15T00:00:00+00:00]
--   $3 = 'prov-1'
--   $4 = 'gpt-4o'
--   $5 = 'openai'
--   $6 = True
--   $7 = False
--   $8 = 8
--   $9 = 10000
WITH r AS MATERIALIZED (SELECT d.i AS b, x.* FROM unnest($1::timestamptz[], $2::timestamptz[]) WITH ORDINALITY AS d(lo, hi, i) CROSS JOIN LATERAL (SELECT btrim(u.provider_id) AS pid, COALESCE(NULLIF(btrim(u.provider_name), ''), btrim(u.provider_id)) AS shown, (u.status = 'completed' AND (u.status_code IS NULL OR u.status_code < 400)) AS ok, (CASE WHEN u.response_time_ms IS NULL OR u.response_time_ms = 0 THEN NULL WHEN NOT (CASE WHEN jsonb_typeof(u.request_metadata -> 'upstream_is_stream') = 'boolean' THEN (u.request_metadata ->> 'upstream_is_stream')::boolean ELSE u.is_stream END) THEN u.response_time_ms WHEN u.first_byte_time_ms IS NULL OR u.first_byte_time_ms >= u.response_time_ms THEN NULL ELSE u.response_time_ms - u.first_byte_time_ms END) AS tps_ms, u.output_tokens, u.response_time_ms, u.first_byte_time_ms FROM usage_records u WHERE u.created_at >= d.lo AND u.created_at < d.hi AND u.status NOT IN ('pending', 'streaming') AND u.provider_id IS NOT NULL AND btrim(u.provider_id) <> '' AND lower(btrim(u.provider_id)) NOT IN ('unknown', 'unknow', 'pending') AND lower(btrim(u.provider_name)) NOT IN ('unknown', 'unknow', 'pending') AND u.provider_id = $3 AND u.model = $4 AND u.api_format = $5 AND u.is_stream = $6 AND u.has_format_conversion = $7 OFFSET 0) x), t AS (SELECT pid FROM r GROUP BY pid ORDER BY count(*) DESC, pid COLLATE "C" LIMIT $8) SELECT GROUPING(u.pid, u.b) AS kind, u.pid, u.b, count(*) AS n, count(*) FILTER (WHERE ok) AS ok_n, COALESCE(sum(u.output_tokens), 0) AS out_tok, count(*) FILTER (WHERE u.response_time_ms >= $9) AS slow, sum(u.response_time_ms) FILTER (WHERE ok) AS rt_sum, count(u.response_time_ms) FILTER (WHERE ok) AS rt_n, sum(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_sum, count(u.first_byte_time_ms) FILTER (WHERE ok) AS fb_n, sum(u.output_tokens) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_tok, sum(u.tps_ms) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_ms, count(*) FILTER (WHERE ok AND u.response_time_ms IS NOT NULL AND u.tps_ms IS NOT NULL AND u.output_tokens > 0) AS tps_n, percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.response_time_ms) FILTER (WHERE ok) AS p_rt, percentile_cont(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY u.first_byte_time_ms) FILTER (WHERE ok) AS p_fb, max(u.shown) AS provider FROM r u GROUP BY GROUPING SETS ((), (u.pid), (u.pid, u.b)) HAVING GROUPING(u.pid) = 1 OR u.pid IN (SELECT pid FROM t)
