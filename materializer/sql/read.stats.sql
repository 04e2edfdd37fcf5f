-- usagestream.materializer.read.stats: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.
-- Built per request: each entry names the builder call, the request it stands for, then its arguments
-- ($1, $2, ... in order). The plans (usagestream/ranges.py, zone UTC):
--   RUNS_AND_EDGES  2026-01-03T10:07:12+00:00 to 2026-03-14T16:52:00+00:00 (inclusive), newest record 2026-03-20T00:00:00+00:00:
--                   runs of month rows minus the days, hours and quarters outside the range (weight -1),
--                   and the two cut ends recounted from usage_records ($5-$8);
--   RUNS_ONLY       January and February 2026 exactly: one run of month rows, nothing recounted;
--   EDGES_ONLY      the same range recounted from the records alone (records_plan).
-- The range's statements differ by plan only in which parts of the UNION ALL are there (runs, recounts).

-- DAY_ZONE_SQL
SELECT value FROM meta WHERE key = 'timezone'

-- extent_sql('usage_records')  -- what plan_for plans from
SELECT (SELECT value FROM meta WHERE key = 'timezone'), (SELECT value FROM meta WHERE key = 'records_cutoff'), (SELECT min(created_at) FROM usage_records), (SELECT max(created_at) FROM usage_records)

-- extent_sql('candidate_records')  -- what plan_for plans from
SELECT (SELECT value FROM meta WHERE key = 'timezone'), (SELECT value FROM meta WHERE key = 'records_cutoff'), (SELECT min(created_at) FROM candidate_records), (SELECT max(created_at) FROM candidate_records)

-- RECORDS_EXTENT_SQL  -- what records_plan plans from
SELECT min(created_at), max(created_at) FROM usage_records

-- usage_sums_sql(RUNS_AND_EDGES, 'all', STATS_COUNTERS)
--   for: /stats
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n, sum(n_error)::bigint AS n_error, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost FROM (SELECT a.key, a.n_all * p.w AS n_all, a.tot_tok * p.w AS tot_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n, a.n_error * p.w AS n_error, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND TRUE OFFSET 0) a UNION ALL SELECT '' AS key, count(*) AS n_all, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost FROM usage_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND '' IS NOT NULL AND TRUE AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_ONLY, 'all', STATS_COUNTERS)
--   for: /stats
--   $1 = [3]
--   $2 = [2026-01-01T00:00:00+00:00]
--   $3 = [2026-03-01T00:00:00+00:00]
--   $4 = [1]
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n, sum(n_error)::bigint AS n_error, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost FROM (SELECT a.key, a.n_all * p.w AS n_all, a.tot_tok * p.w AS tot_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n, a.n_error * p.w AS n_error, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND TRUE OFFSET 0) a) s GROUP BY 1

-- stats_filters.PROVIDER_IDS_SQL  -- /stats?provider=: the ids of that current name
SELECT e.id FROM entities e WHERE e.entity = 'provider' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' = $1

-- stats_filters.sums_sql(RUNS_AND_EDGES, {'model': ['gpt-4o']})
--   for: /stats?model=gpt-4o (one filter: its dimension)
--   $1 = ['gpt-4o']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n, sum(n_error)::bigint AS n_error, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost FROM (SELECT a.key, a.n_all * p.w AS n_all, a.tot_tok * p.w AS tot_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n, a.n_error * p.w AS n_error, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT model AS key, count(*) AS n_all, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND model IS NOT NULL AND model = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- stats_filters.sums_sql(RUNS_AND_EDGES, {'provider_id': ['prov-1', 'prov-2']})
--   for: /stats?provider=OpenAI (the ids of that name)
--   $1 = ['prov-1', 'prov-2']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n, sum(n_error)::bigint AS n_error, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost FROM (SELECT a.key, a.n_all * p.w AS n_all, a.tot_tok * p.w AS tot_tok, a.cost * p.w AS cost, a.actual_cost * p.w AS actual_cost, a.rt_sum * p.w AS rt_sum, a.rt_n * p.w AS rt_n, a.n_error * p.w AS n_error, a.cc_tok * p.w AS cc_tok, a.cr_tok * p.w AS cr_tok, a.cc_cost * p.w AS cc_cost, a.cr_cost * p.w AS cr_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'provider' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT provider_id AS key, count(*) AS n_all, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND provider_id IS NOT NULL AND provider_id = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- stats_filters.sums_sql(EDGES_ONLY, {'user_id': ['user-1'], 'model': ['gpt-4o']})
--   for: /stats?user_id=&model= (recounted)
--   $1 = ['user-1']
--   $2 = ['gpt-4o']
--   $3 = 2026-01-03T10:07:12+00:00
--   $4 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost, sum(actual_cost) AS actual_cost, sum(rt_sum)::bigint AS rt_sum, sum(rt_n)::bigint AS rt_n, sum(n_error)::bigint AS n_error, sum(cc_tok)::bigint AS cc_tok, sum(cr_tok)::bigint AS cr_tok, sum(cc_cost) AS cc_cost, sum(cr_cost) AS cr_cost FROM (SELECT '' AS key, count(*) AS n_all, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(total_cost_usd), 0) AS cost, COALESCE(sum(actual_total_cost_usd), 0) AS actual_cost, COALESCE(sum(response_time_ms), 0) AS rt_sum, count(response_time_ms) AS rt_n, count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL)) AS n_error, COALESCE(sum(cache_creation_input_tokens), 0) AS cc_tok, COALESCE(sum(cache_read_input_tokens), 0) AS cr_tok, COALESCE(sum(cache_creation_cost_usd), 0) AS cc_cost, COALESCE(sum(cache_read_cost_usd), 0) AS cr_cost FROM usage_records WHERE ((created_at >= $3 AND created_at < $4)) AND '' IS NOT NULL AND TRUE AND user_id = ANY($1::text[]) AND model = ANY($2::text[]) GROUP BY 1) s GROUP BY 1

-- top_keys_sql(RUNS_AND_EDGES, 'model', ('n_fr', 'fr_tot_tok', 'fr_cost', 'fr_actual', 'fr_out', 'fr_cc', 'fr_cr', 'fr_eff', 'fr_ctx'), 'n_fr', 20, join_users=False)
--   for: /aggregation/stats ?group_by=model
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
--   $9 = 20
SELECT t.* FROM (SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost, sum(fr_actual) AS fr_actual, sum(fr_out)::bigint AS fr_out, sum(fr_cc)::bigint AS fr_cc, sum(fr_cr)::bigint AS fr_cr, sum(fr_eff)::bigint AS fr_eff, sum(fr_ctx)::bigint AS fr_ctx FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost, a.fr_actual * p.w AS fr_actual, a.fr_out * p.w AS fr_out, a.fr_cc * p.w AS fr_cc, a.fr_cr * p.w AS fr_cr, a.fr_eff * p.w AS fr_eff, a.fr_ctx * p.w AS fr_ctx FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND TRUE OFFSET 0) a UNION ALL SELECT model AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost, COALESCE(sum(actual_total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_actual, COALESCE(sum(output_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_out, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cc, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cr, COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_eff, COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_ctx FROM usage_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND model IS NOT NULL AND TRUE GROUP BY 1) s GROUP BY 1) t WHERE t.n_fr > 0 ORDER BY t.n_fr DESC, t.key COLLATE "C" LIMIT $9

-- top_keys_sql(RUNS_AND_EDGES, 'api_format', ('n_fr', 'fr_tot_tok', 'fr_cost', 'fr_actual', 'fr_out', 'fr_cc', 'fr_cr', 'fr_eff', 'fr_ctx', 'fr_rt_sum', 'fr_rt_n'), 'n_fr', 20, join_users=False)
--   for: /aggregation/stats ?group_by=api_format
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
--   $9 = 20
SELECT t.* FROM (SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost, sum(fr_actual) AS fr_actual, sum(fr_out)::bigint AS fr_out, sum(fr_cc)::bigint AS fr_cc, sum(fr_cr)::bigint AS fr_cr, sum(fr_eff)::bigint AS fr_eff, sum(fr_ctx)::bigint AS fr_ctx, sum(fr_rt_sum)::bigint AS fr_rt_sum, sum(fr_rt_n)::bigint AS fr_rt_n FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost, a.fr_actual * p.w AS fr_actual, a.fr_out * p.w AS fr_out, a.fr_cc * p.w AS fr_cc, a.fr_cr * p.w AS fr_cr, a.fr_eff * p.w AS fr_eff, a.fr_ctx * p.w AS fr_ctx, a.fr_rt_sum * p.w AS fr_rt_sum, a.fr_rt_n * p.w AS fr_rt_n FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'api_format' AND TRUE OFFSET 0) a UNION ALL SELECT api_format AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost, COALESCE(sum(actual_total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_actual, COALESCE(sum(output_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_out, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cc, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cr, COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_eff, COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_ctx, COALESCE(sum(response_time_ms) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_rt_sum, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending') AND response_time_ms IS NOT NULL) AS fr_rt_n FROM usage_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND api_format IS NOT NULL AND TRUE GROUP BY 1) s GROUP BY 1) t WHERE t.n_fr > 0 ORDER BY t.n_fr DESC, t.key COLLATE "C" LIMIT $9

-- top_keys_sql(RUNS_AND_EDGES, 'user', ('n_all', 'tot_tok', 'cost'), 'n_all', 20, join_users=True)
--   for: /aggregation/stats ?group_by=user
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
--   $9 = 20
SELECT t.*, u.data ->> 'username' AS username, u.data ->> 'email' AS email FROM (SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all, sum(tot_tok)::bigint AS tot_tok, sum(cost) AS cost FROM (SELECT a.key, a.n_all * p.w AS n_all, a.tot_tok * p.w AS tot_tok, a.cost * p.w AS cost FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user' AND TRUE OFFSET 0) a UNION ALL SELECT user_id AS key, count(*) AS n_all, COALESCE(sum(total_tokens), 0) AS tot_tok, COALESCE(sum(total_cost_usd), 0) AS cost FROM usage_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND user_id IS NOT NULL AND TRUE GROUP BY 1) s GROUP BY 1) t JOIN entities u ON u.entity = 'user' AND u.id COLLATE "C" = t.key AND NOT u.deleted AND u.data IS NOT NULL WHERE t.n_all > 0 ORDER BY t.n_all DESC, t.key COLLATE "C" LIMIT $9

-- attempt_top_sql(RUNS_AND_EDGES, 20)
--   for: /aggregation/stats ?group_by=provider: the top providers by attempts (over candidate_records' plan)
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
--   $9 = 20
SELECT * FROM (SELECT provider_id COLLATE "C" AS provider_id, sum(attempts)::bigint AS attempts, sum(successes)::bigint AS successes, sum(failures)::bigint AS failures, sum(lat_sum)::bigint AS lat_sum, sum(lat_n)::bigint AS lat_n FROM (SELECT a.provider_id, a.attempts * p.w AS attempts, a.successes * p.w AS successes, a.failures * p.w AS failures, a.lat_sum * p.w AS lat_sum, a.lat_n * p.w AS lat_n FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM attempt_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND TRUE OFFSET 0) a UNION ALL SELECT provider_id, count(*) AS attempts, count(*) FILTER (WHERE status = 'success') AS successes, count(*) FILTER (WHERE status = 'failed') AS failures, COALESCE(sum(latency_ms), 0) AS lat_sum, count(latency_ms) AS lat_n FROM candidate_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND provider_id IS NOT NULL AND status IN ('success', 'failed') GROUP BY 1) s GROUP BY 1) t WHERE attempts > 0 ORDER BY attempts DESC, provider_id COLLATE "C" LIMIT $9

-- provider_rows_sql(RUNS_AND_EDGES, RUNS_AND_EDGES, 20)
--   for: /aggregation/stats ?group_by=provider: the top providers, their usage sums and names in one statement
--   $1 = [0, 0, 1, 1, 2, 2, 3]
--   $2 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $3 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $4 = [-1, -1, -1, -1, -1, -1, 1]
--   $5 = 2026-01-03T10:07:12+00:00
--   $6 = 2026-01-03T10:15:00+00:00
--   $7 = 2026-03-14T16:45:00+00:00
--   $8 = 2026-03-14T16:52:00.000001+00:00
--   $9 = 20
--   $10 = [0, 0, 1, 1, 2, 2, 3]
--   $11 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $12 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $13 = [-1, -1, -1, -1, -1, -1, 1]
--   $14 = 2026-01-03T10:07:12+00:00
--   $15 = 2026-01-03T10:15:00+00:00
--   $16 = 2026-03-14T16:45:00+00:00
--   $17 = 2026-03-14T16:52:00.000001+00:00
WITH top AS (SELECT * FROM (SELECT provider_id COLLATE "C" AS provider_id, sum(attempts)::bigint AS attempts, sum(successes)::bigint AS successes, sum(failures)::bigint AS failures, sum(lat_sum)::bigint AS lat_sum, sum(lat_n)::bigint AS lat_n FROM (SELECT a.provider_id, a.attempts * p.w AS attempts, a.successes * p.w AS successes, a.failures * p.w AS failures, a.lat_sum * p.w AS lat_sum, a.lat_n * p.w AS lat_n FROM unnest($1::int2[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM attempt_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND TRUE OFFSET 0) a UNION ALL SELECT provider_id, count(*) AS attempts, count(*) FILTER (WHERE status = 'success') AS successes, count(*) FILTER (WHERE status = 'failed') AS failures, COALESCE(sum(latency_ms), 0) AS lat_sum, count(latency_ms) AS lat_n FROM candidate_records WHERE ((created_at >= $5 AND created_at < $6) OR (created_at >= $7 AND created_at < $8)) AND provider_id IS NOT NULL AND status IN ('success', 'failed') GROUP BY 1) s GROUP BY 1) t WHERE attempts > 0 ORDER BY attempts DESC, provider_id COLLATE "C" LIMIT $9) SELECT top.*, s.key AS usage_key, s.fin_tot_tok, s.fin_cost, s.fin_actual, s.fin_out, s.fin_cc, s.fin_cr, s.fin_eff, s.fin_ctx, (SELECT (e.data -> 'name')::text FROM entities e WHERE e.entity = 'provider' AND e.id = top.provider_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_name FROM top LEFT JOIN (SELECT key COLLATE "C" AS key, sum(fin_tot_tok)::bigint AS fin_tot_tok, sum(fin_cost) AS fin_cost, sum(fin_actual) AS fin_actual, sum(fin_out)::bigint AS fin_out, sum(fin_cc)::bigint AS fin_cc, sum(fin_cr)::bigint AS fin_cr, sum(fin_eff)::bigint AS fin_eff, sum(fin_ctx)::bigint AS fin_ctx FROM (SELECT a.key, a.fin_tot_tok * p.w AS fin_tot_tok, a.fin_cost * p.w AS fin_cost, a.fin_actual * p.w AS fin_actual, a.fin_out * p.w AS fin_out, a.fin_cc * p.w AS fin_cc, a.fin_cr * p.w AS fin_cr, a.fin_eff * p.w AS fin_eff, a.fin_ctx * p.w AS fin_ctx FROM unnest($10::int2[], $11::timestamptz[], $12::timestamptz[], $13::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'provider' AND key = ANY(ARRAY(SELECT provider_id FROM top)) OFFSET 0) a UNION ALL SELECT provider_id AS key, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_cost, COALESCE(sum(actual_total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_actual, COALESCE(sum(output_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_out, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_cc, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_cr, COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_eff, COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_ctx FROM usage_records WHERE ((created_at >= $14 AND created_at < $15) OR (created_at >= $16 AND created_at < $17)) AND provider_id IS NOT NULL AND provider_id = ANY(ARRAY(SELECT provider_id FROM top)) AND TRUE GROUP BY 1) s GROUP BY 1) s ON s.key = top.provider_id ORDER BY top.attempts DESC, top.provider_id COLLATE "C"

-- usage_sums_sql(RUNS_AND_EDGES, 'provider', PROVIDER_COUNTERS, keys=['prov-1', 'prov-2'])
--   for: /aggregation/stats ?group_by=provider: those providers' usage
--   $1 = ['prov-1', 'prov-2']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(fin_tot_tok)::bigint AS fin_tot_tok, sum(fin_cost) AS fin_cost, sum(fin_actual) AS fin_actual, sum(fin_out)::bigint AS fin_out, sum(fin_cc)::bigint AS fin_cc, sum(fin_cr)::bigint AS fin_cr, sum(fin_eff)::bigint AS fin_eff, sum(fin_ctx)::bigint AS fin_ctx FROM (SELECT a.key, a.fin_tot_tok * p.w AS fin_tot_tok, a.fin_cost * p.w AS fin_cost, a.fin_actual * p.w AS fin_actual, a.fin_out * p.w AS fin_out, a.fin_cc * p.w AS fin_cc, a.fin_cr * p.w AS fin_cr, a.fin_eff * p.w AS fin_eff, a.fin_ctx * p.w AS fin_ctx FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'provider' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT provider_id AS key, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_cost, COALESCE(sum(actual_total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_actual, COALESCE(sum(output_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_out, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_cc, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_cr, COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_eff, COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0) AS fin_ctx FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND provider_id IS NOT NULL AND provider_id = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'user', USER_COUNTERS, keys=['user-1'])
--   for: /api/users/me/usage: the user's summary
--   $1 = ['user-1']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_reached)::bigint AS n_reached, sum(r_in)::bigint AS r_in, sum(r_out)::bigint AS r_out, sum(r_tot)::bigint AS r_tot, sum(r_cost) AS r_cost, sum(n_s200)::bigint AS n_s200, sum(s200_rt_sum)::bigint AS s200_rt_sum, sum(r_cc)::bigint AS r_cc, sum(r_cr)::bigint AS r_cr, sum(r_eff)::bigint AS r_eff, sum(r_ctx)::bigint AS r_ctx FROM (SELECT a.key, a.n_reached * p.w AS n_reached, a.r_in * p.w AS r_in, a.r_out * p.w AS r_out, a.r_tot * p.w AS r_tot, a.r_cost * p.w AS r_cost, a.n_s200 * p.w AS n_s200, a.s200_rt_sum * p.w AS s200_rt_sum, a.r_cc * p.w AS r_cc, a.r_cr * p.w AS r_cr, a.r_eff * p.w AS r_eff, a.r_ctx * p.w AS r_ctx FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT user_id AS key, count(*) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')) AS n_reached, COALESCE(sum(input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_in, COALESCE(sum(output_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_out, COALESCE(sum(total_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_tot, COALESCE(sum(total_cost_usd) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_cost, count(*) FILTER (WHERE status_code = 200 AND response_time_ms IS NOT NULL) AS n_s200, COALESCE(sum(response_time_ms) FILTER (WHERE status_code = 200 AND response_time_ms IS NOT NULL), 0) AS s200_rt_sum, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_cc, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_cr, COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_eff, COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_ctx FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id IS NOT NULL AND user_id = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'user_model', USER_COUNTERS, key_prefix='user-1\x1f')
--   for: /api/users/me/usage: the user's summary per model
--   $1 = 'user-1\x1f'
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_reached)::bigint AS n_reached, sum(r_in)::bigint AS r_in, sum(r_out)::bigint AS r_out, sum(r_tot)::bigint AS r_tot, sum(r_cost) AS r_cost, sum(n_s200)::bigint AS n_s200, sum(s200_rt_sum)::bigint AS s200_rt_sum, sum(r_cc)::bigint AS r_cc, sum(r_cr)::bigint AS r_cr, sum(r_eff)::bigint AS r_eff, sum(r_ctx)::bigint AS r_ctx FROM (SELECT a.key, a.n_reached * p.w AS n_reached, a.r_in * p.w AS r_in, a.r_out * p.w AS r_out, a.r_tot * p.w AS r_tot, a.r_cost * p.w AS r_cost, a.n_s200 * p.w AS n_s200, a.s200_rt_sum * p.w AS s200_rt_sum, a.r_cc * p.w AS r_cc, a.r_cr * p.w AS r_cr, a.r_eff * p.w AS r_eff, a.r_ctx * p.w AS r_ctx FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user_model' AND starts_with(key, $1) OFFSET 0) a UNION ALL SELECT user_id || chr(31) || model AS key, count(*) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')) AS n_reached, COALESCE(sum(input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_in, COALESCE(sum(output_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_out, COALESCE(sum(total_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_tot, COALESCE(sum(total_cost_usd) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_cost, count(*) FILTER (WHERE status_code = 200 AND response_time_ms IS NOT NULL) AS n_s200, COALESCE(sum(response_time_ms) FILTER (WHERE status_code = 200 AND response_time_ms IS NOT NULL), 0) AS s200_rt_sum, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_cc, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_cr, COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_eff, COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0) AS r_ctx FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id || chr(31) || model IS NOT NULL AND starts_with(user_id || chr(31) || model, $1) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'user_api_format', FORMAT_COUNTERS, key_prefix='user-1\x1f')
--   for: /api/users/me/usage: the user's summary per API format
--   $1 = 'user-1\x1f'
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_fr)::bigint AS n_fr, sum(fr_tot_tok)::bigint AS fr_tot_tok, sum(fr_cost) AS fr_cost, sum(fr_rt_sum)::bigint AS fr_rt_sum, sum(fr_rt_n)::bigint AS fr_rt_n, sum(fr_out)::bigint AS fr_out, sum(fr_cc)::bigint AS fr_cc, sum(fr_cr)::bigint AS fr_cr, sum(fr_eff)::bigint AS fr_eff, sum(fr_ctx)::bigint AS fr_ctx FROM (SELECT a.key, a.n_fr * p.w AS n_fr, a.fr_tot_tok * p.w AS fr_tot_tok, a.fr_cost * p.w AS fr_cost, a.fr_rt_sum * p.w AS fr_rt_sum, a.fr_rt_n * p.w AS fr_rt_n, a.fr_out * p.w AS fr_out, a.fr_cc * p.w AS fr_cc, a.fr_cr * p.w AS fr_cr, a.fr_eff * p.w AS fr_eff, a.fr_ctx * p.w AS fr_ctx FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user_api_format' AND starts_with(key, $1) OFFSET 0) a UNION ALL SELECT user_id || chr(31) || api_format AS key, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')) AS n_fr, COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_tot_tok, COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cost, COALESCE(sum(response_time_ms) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_rt_sum, count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending') AND response_time_ms IS NOT NULL) AS fr_rt_n, COALESCE(sum(output_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_out, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cc, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_cr, COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_eff, COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0) AS fr_ctx FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id || chr(31) || api_format IS NOT NULL AND starts_with(user_id || chr(31) || api_format, $1) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'api_key', HIT_COUNTERS, keys=['key-1'])
--   for: cache hit analysis of one API key
--   $1 = ['key-1']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_completed)::bigint AS n_completed, sum(n_hit)::bigint AS n_hit, sum(c_in)::bigint AS c_in, sum(c_cr)::bigint AS c_cr, sum(c_cc)::bigint AS c_cc, sum(c_cr_cost) AS c_cr_cost, sum(c_cc_cost) AS c_cc_cost FROM (SELECT a.key, a.n_completed * p.w AS n_completed, a.n_hit * p.w AS n_hit, a.c_in * p.w AS c_in, a.c_cr * p.w AS c_cr, a.c_cc * p.w AS c_cc, a.c_cr_cost * p.w AS c_cr_cost, a.c_cc_cost * p.w AS c_cc_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'api_key' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT api_key_id AS key, count(*) FILTER (WHERE status = 'completed') AS n_completed, count(*) FILTER (WHERE status = 'completed' AND cache_read_input_tokens > 0) AS n_hit, COALESCE(sum(input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_in, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cr, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cc, COALESCE(sum(cache_read_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cr_cost, COALESCE(sum(cache_creation_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cc_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND api_key_id IS NOT NULL AND api_key_id = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'user', HIT_COUNTERS, keys=['user-1'])
--   for: cache hit analysis of one user
--   $1 = ['user-1']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_completed)::bigint AS n_completed, sum(n_hit)::bigint AS n_hit, sum(c_in)::bigint AS c_in, sum(c_cr)::bigint AS c_cr, sum(c_cc)::bigint AS c_cc, sum(c_cr_cost) AS c_cr_cost, sum(c_cc_cost) AS c_cc_cost FROM (SELECT a.key, a.n_completed * p.w AS n_completed, a.n_hit * p.w AS n_hit, a.c_in * p.w AS c_in, a.c_cr * p.w AS c_cr, a.c_cc * p.w AS c_cc, a.c_cr_cost * p.w AS c_cr_cost, a.c_cc_cost * p.w AS c_cc_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'user' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT user_id AS key, count(*) FILTER (WHERE status = 'completed') AS n_completed, count(*) FILTER (WHERE status = 'completed' AND cache_read_input_tokens > 0) AS n_hit, COALESCE(sum(input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_in, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cr, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cc, COALESCE(sum(cache_read_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cr_cost, COALESCE(sum(cache_creation_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cc_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND user_id IS NOT NULL AND user_id = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'all', HIT_COUNTERS, keys=[''])
--   for: cache hit analysis of all
--   $1 = ['']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_completed)::bigint AS n_completed, sum(n_hit)::bigint AS n_hit, sum(c_in)::bigint AS c_in, sum(c_cr)::bigint AS c_cr, sum(c_cc)::bigint AS c_cc, sum(c_cr_cost) AS c_cr_cost, sum(c_cc_cost) AS c_cc_cost FROM (SELECT a.key, a.n_completed * p.w AS n_completed, a.n_hit * p.w AS n_hit, a.c_in * p.w AS c_in, a.c_cr * p.w AS c_cr, a.c_cc * p.w AS c_cc, a.c_cr_cost * p.w AS c_cr_cost, a.c_cc_cost * p.w AS c_cc_cost FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT '' AS key, count(*) FILTER (WHERE status = 'completed') AS n_completed, count(*) FILTER (WHERE status = 'completed' AND cache_read_input_tokens > 0) AS n_hit, COALESCE(sum(input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_in, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cr, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cc, COALESCE(sum(cache_read_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cr_cost, COALESCE(sum(cache_creation_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cc_cost FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND '' IS NOT NULL AND '' = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(EDGES_ONLY, 'user', HIT_COUNTERS, keys=['user-1'], extra_where='api_key_id = $1', extra_args=['key-1'])
--   for: cache hit analysis of one user's API key (no dimension holds user x key: the records recounted)
--   $1 = 'key-1'
--   $2 = ['user-1']
--   $3 = 2026-01-03T10:07:12+00:00
--   $4 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_completed)::bigint AS n_completed, sum(n_hit)::bigint AS n_hit, sum(c_in)::bigint AS c_in, sum(c_cr)::bigint AS c_cr, sum(c_cc)::bigint AS c_cc, sum(c_cr_cost) AS c_cr_cost, sum(c_cc_cost) AS c_cc_cost FROM (SELECT user_id AS key, count(*) FILTER (WHERE status = 'completed') AS n_completed, count(*) FILTER (WHERE status = 'completed' AND cache_read_input_tokens > 0) AS n_hit, COALESCE(sum(input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_in, COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cr, COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status = 'completed'), 0) AS c_cc, COALESCE(sum(cache_read_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cr_cost, COALESCE(sum(cache_creation_cost_usd) FILTER (WHERE status = 'completed'), 0) AS c_cc_cost FROM usage_records WHERE ((created_at >= $3 AND created_at < $4)) AND user_id IS NOT NULL AND user_id = ANY($2::text[]) AND api_key_id = $1 GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'all', ('n_all',), keys=[''])
--   for: /records with a range only: the total from the aggregates (ReadStore._count, a records_only plan)
--   $1 = ['']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all FROM (SELECT a.key, a.n_all * p.w AS n_all FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT '' AS key, count(*) AS n_all FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND '' IS NOT NULL AND '' = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'model', ('n_all',), keys=['gpt-4o'])
--   for: /records ?model=: the total from the aggregates (ReadStore._count, a records_only plan)
--   $1 = ['gpt-4o']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all FROM (SELECT a.key, a.n_all * p.w AS n_all FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT model AS key, count(*) AS n_all FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND model IS NOT NULL AND model = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- usage_sums_sql(RUNS_AND_EDGES, 'model', ('n_all',), keys=['gpt-4o', 'gpt-4o-mini'])
--   for: /records ?search= (one keyword matching one column's values): the total from the aggregates (ReadStore._count, a records_only plan)
--   $1 = ['gpt-4o', 'gpt-4o-mini']
--   $2 = [0, 0, 1, 1, 2, 2, 3]
--   $3 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $4 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $5 = [-1, -1, -1, -1, -1, -1, 1]
--   $6 = 2026-01-03T10:07:12+00:00
--   $7 = 2026-01-03T10:15:00+00:00
--   $8 = 2026-03-14T16:45:00+00:00
--   $9 = 2026-03-14T16:52:00.000001+00:00
SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all FROM (SELECT a.key, a.n_all * p.w AS n_all FROM unnest($2::int2[], $3::timestamptz[], $4::timestamptz[], $5::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT * FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND key = ANY($1::text[]) OFFSET 0) a UNION ALL SELECT model AS key, count(*) AS n_all FROM usage_records WHERE ((created_at >= $6 AND created_at < $7) OR (created_at >= $8 AND created_at < $9)) AND model IS NOT NULL AND model = ANY($1::text[]) AND TRUE GROUP BY 1) s GROUP BY 1

-- heatmap_sql(None, 1, lo, hi)
--   for: the heatmap of every request (days)
--   $1 = 'all'
--   $2 = ''
--   $3 = 1
--   $4 = 2025-03-14T00:00:00+00:00
--   $5 = 2026-03-15T23:59:59.999999+00:00
SELECT bucket, n_all, in_tok + out_tok + cc_tok + cr_tok AS tokens, cost, actual_cost FROM usage_agg WHERE dim = $1 AND key = $2 AND grain = $3 AND bucket >= $4 AND bucket <= $5

-- heatmap_sql('user-1', 1, lo, hi)
--   for: a user's heatmap
--   $1 = 'user'
--   $2 = 'user-1'
--   $3 = 1
--   $4 = 2025-03-14T00:00:00+00:00
--   $5 = 2026-03-15T23:59:59.999999+00:00
SELECT bucket, n_all, in_tok + out_tok + cc_tok + cr_tok AS tokens, cost, actual_cost FROM usage_agg WHERE dim = $1 AND key = $2 AND grain = $3 AND bucket >= $4 AND bucket <= $5
