-- usagestream.materializer.read.records: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.
-- Built per request: filters as ReadStore.record_page/.user_page build them, over 2026-01-03T10:07:12+00:00
-- to 2026-03-14T16:52:00+00:00; each entry names the builder call, the request, then its arguments in order.

-- PAGE_COLUMNS
id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata

-- STATUS_FILTERS['stream']
is_stream

-- STATUS_FILTERS['standard']
NOT is_stream

-- STATUS_FILTERS['error']
(status_code >= 400 OR error_message IS NOT NULL)

-- STATUS_FILTERS['pending']
status = 'pending'

-- STATUS_FILTERS['streaming']
status = 'streaming'

-- STATUS_FILTERS['completed']
status = 'completed'

-- STATUS_FILTERS['cancelled']
status = 'cancelled'

-- STATUS_FILTERS['failed']
(status = 'failed' OR (status_code >= 400 OR error_message IS NOT NULL))

-- STATUS_FILTERS['active']
status IN ('pending', 'streaming')

-- STATUS_FILTERS['has_fallback']
EXISTS (SELECT 1 FROM candidate_records c WHERE c.usage_id = usage_records.id AND c.status IN ('success', 'failed') HAVING count(DISTINCT c.candidate_index) > 1)

-- STATUS_FILTERS['has_retry']
EXISTS (SELECT 1 FROM candidate_records c WHERE c.usage_id = usage_records.id AND c.status IN ('success', 'failed') HAVING count(*) > count(DISTINCT c.candidate_index) OR max(c.retry_index) > 0)

-- search_sql(admin=True)
--   for: /records ?search=gpt: one per keyword
--   $1 = '%gpt%'
SELECT ARRAY(SELECT DISTINCT key FROM usage_agg WHERE dim = 'model' AND grain = 3 AND key ILIKE $1 ESCAPE '\'), ARRAY(SELECT e.id FROM entities e WHERE e.entity = 'api_key' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' ILIKE $1 ESCAPE '\'), ARRAY(SELECT e.id FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'username' ILIKE $1 ESCAPE '\'), ARRAY(SELECT e.id FROM entities e WHERE e.entity = 'provider' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' ILIKE $1 ESCAPE '\')

-- search_sql(admin=False)
--   for: /api/users/me/usage ?search=gpt: one per keyword
--   $1 = '%gpt%'
SELECT ARRAY(SELECT DISTINCT key FROM usage_agg WHERE dim = 'model' AND grain = 3 AND key ILIKE $1 ESCAPE '\'), ARRAY(SELECT e.id FROM entities e WHERE e.entity = 'api_key' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' ILIKE $1 ESCAPE '\')

-- page_sql(ADMIN_RANGE, 20, 40)
--   for: a page of /records with a range only
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 20
--   $4 = 40
SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4

-- count_sql(ADMIN_FILTERED)
--   for: the total of /records ?user_id= &username= &model= &provider= &status=failed
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 'user-1'
--   $4 = '%ali%'
--   $5 = 'gpt-4o'
--   $6 = 'OpenAI'
SELECT count(*) FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND user_id = $3 AND user_id IN (SELECT e.id FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'username' ILIKE $4 ESCAPE '\') AND model = $5 AND provider_id IN (SELECT e.id FROM entities e WHERE e.entity = 'provider' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' = $6) AND (status = 'failed' OR (status_code >= 400 OR error_message IS NOT NULL))

-- page_sql(ADMIN_FILTERED, 20, 40)
--   for: a page of /records ?user_id= &username= &model= &provider= &status=failed
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 'user-1'
--   $4 = '%ali%'
--   $5 = 'gpt-4o'
--   $6 = 'OpenAI'
--   $7 = 20
--   $8 = 40
SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND user_id = $3 AND user_id IN (SELECT e.id FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'username' ILIKE $4 ESCAPE '\') AND model = $5 AND provider_id IN (SELECT e.id FROM entities e WHERE e.entity = 'provider' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' = $6) AND (status = 'failed' OR (status_code >= 400 OR error_message IS NOT NULL)) ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8

-- count_sql(ADMIN_SEARCH)
--   for: the total of /records ?search=gpt (3 values matched: the page merged from one branch each)
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = ['gpt-4o', 'gpt-4o-mini']
--   $4 = ['key-1']
SELECT count(*) FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[]))

-- page_sql(ADMIN_SEARCH, 20, 40)
--   for: a page of /records ?search=gpt (3 values matched: the page merged from one branch each)
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = ['gpt-4o', 'gpt-4o-mini']
--   $4 = ['key-1']
--   $5 = 60
--   $6 = 'gpt-4o'
--   $7 = 'gpt-4o-mini'
--   $8 = 'key-1'
--   $9 = 20
--   $10 = 40
WITH ids AS (SELECT id, created_at FROM ((SELECT id, created_at FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[])) AND model = $6 ORDER BY created_at DESC, id DESC LIMIT $5) UNION (SELECT id, created_at FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[])) AND model = $7 ORDER BY created_at DESC, id DESC LIMIT $5) UNION (SELECT id, created_at FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[])) AND api_key_id = $8 ORDER BY created_at DESC, id DESC LIMIT $5)) b ORDER BY created_at DESC, id DESC LIMIT $9 OFFSET $10) SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE (id, created_at) IN (SELECT id, created_at FROM ids) ORDER BY created_at DESC, id DESC

-- page_sql(ADMIN_SEARCH_WIDE, 20, 40)
--   for: a page of /records ?search=model (25 values matched: too many branches, read in order)
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = ['model-0', 'model-1', 'model-2', 'model-3', 'model-4', 'model-5', 'model-6', 'model-7', 'model-8', 'model-9', 'model-10', 'model-11', 'model-12', 'model-13', 'model-14', 'model-15', 'model-16', 'model-17', 'model-18', 'model-19', 'model-20', 'model-21', 'model-22', 'model-23', 'model-24']
--   $4 = 20
--   $5 = 40
SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[])) ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5

-- count_sql(USER_SEARCH)
--   for: the total of /api/users/me/usage ?search=gpt (the user's own records)
--   $1 = 'user-1'
--   $2 = 2026-01-03T10:07:12+00:00
--   $3 = 2026-03-14T16:52:00+00:00
--   $4 = ['gpt-4o', 'gpt-4o-mini']
--   $5 = ['key-1']
SELECT count(*) FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[]))

-- page_sql(USER_SEARCH, 20, 40)
--   for: a page of /api/users/me/usage ?search=gpt (the user's own records)
--   $1 = 'user-1'
--   $2 = 2026-01-03T10:07:12+00:00
--   $3 = 2026-03-14T16:52:00+00:00
--   $4 = ['gpt-4o', 'gpt-4o-mini']
--   $5 = ['key-1']
--   $6 = 60
--   $7 = 'gpt-4o'
--   $8 = 'gpt-4o-mini'
--   $9 = 'key-1'
--   $10 = 20
--   $11 = 40
WITH ids AS (SELECT id, created_at FROM ((SELECT id, created_at FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[])) AND model = $7 ORDER BY created_at DESC, id DESC LIMIT $6) UNION (SELECT id, created_at FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[])) AND model = $8 ORDER BY created_at DESC, id DESC LIMIT $6) UNION (SELECT id, created_at FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[])) AND api_key_id = $9 ORDER BY created_at DESC, id DESC LIMIT $6)) b ORDER BY created_at DESC, id DESC LIMIT $10 OFFSET $11) SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE (id, created_at) IN (SELECT id, created_at FROM ids) ORDER BY created_at DESC, id DESC

-- export_sql(ADMIN_FILTERED)
--   for: a records export (its cursor)
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 'user-1'
--   $4 = '%ali%'
--   $5 = 'gpt-4o'
--   $6 = 'OpenAI'
SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND user_id = $3 AND user_id IN (SELECT e.id FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'username' ILIKE $4 ESCAPE '\') AND model = $5 AND provider_id IN (SELECT e.id FROM entities e WHERE e.entity = 'provider' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' = $6) AND (status = 'failed' OR (status_code >= 400 OR error_message IS NOT NULL)) ORDER BY created_at DESC, id DESC

-- full_page_sql(page_sql(ADMIN_RANGE, 20, 40), aggregate_total_sql(usage_sums_sql(RUNS_AND_EDGES, 'all')))
--   for: /records with a range only: the page with its flags and names, the total from the aggregates (ReadStore._count, a records_only plan)
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 20
--   $4 = 40
--   $5 = ['']
--   $6 = [0, 0, 1, 1, 2, 2, 3]
--   $7 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $8 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $9 = [-1, -1, -1, -1, -1, -1, 1]
--   $10 = 2026-01-03T10:07:12+00:00
--   $11 = 2026-01-03T10:15:00+00:00
--   $12 = 2026-03-14T16:45:00+00:00
--   $13 = 2026-03-14T16:52:00.000001+00:00
WITH page AS (SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4) SELECT t.page_total, page.*, (SELECT e.data FROM entities e WHERE e.entity = 'user' AND e.id = page.user_id AND NOT e.deleted AND e.data IS NOT NULL) AS user_data, (SELECT e.data FROM entities e WHERE e.entity = 'api_key' AND e.id = page.api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS api_key_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider' AND e.id = page.provider_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_endpoint' AND e.id = page.provider_endpoint_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_endpoint_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_api_key' AND e.id = page.provider_api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_api_key_data FROM (SELECT (SELECT COALESCE(sum(n_all), 0)::bigint FROM (SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all FROM (SELECT a.key, a.n_all * p.w AS n_all FROM unnest($6::int2[], $7::timestamptz[], $8::timestamptz[], $9::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'all' AND key = ANY($5::text[]) OFFSET 0) a UNION ALL SELECT '' AS key, count(*) AS n_all FROM usage_records WHERE ((created_at >= $10 AND created_at < $11) OR (created_at >= $12 AND created_at < $13)) AND '' IS NOT NULL AND '' = ANY($5::text[]) AND TRUE GROUP BY 1) s GROUP BY 1) c) AS page_total) t LEFT JOIN page ON TRUE ORDER BY page.created_at DESC, page.id DESC

-- full_page_sql(page_sql(ADMIN_MODEL, 20, 40), aggregate_total_sql(usage_sums_sql(RUNS_AND_EDGES, 'model')))
--   for: /records ?model=: the page with its flags and names, the total from the aggregates (ReadStore._count, a records_only plan)
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 'gpt-4o'
--   $4 = 20
--   $5 = 40
--   $6 = ['gpt-4o']
--   $7 = [0, 0, 1, 1, 2, 2, 3]
--   $8 = [2026-01-03T10:00:00+00:00, 2026-03-14T16:45:00+00:00, 2026-01-01T00:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-01T00:00:00+00:00]
--   $9 = [2026-01-03T10:15:00+00:00, 2026-03-14T17:00:00+00:00, 2026-01-03T00:00:00+00:00, 2026-04-01T00:00:00+00:00, 2026-01-03T10:00:00+00:00, 2026-03-15T00:00:00+00:00, 2026-04-01T00:00:00+00:00]
--   $10 = [-1, -1, -1, -1, -1, -1, 1]
--   $11 = 2026-01-03T10:07:12+00:00
--   $12 = 2026-01-03T10:15:00+00:00
--   $13 = 2026-03-14T16:45:00+00:00
--   $14 = 2026-03-14T16:52:00.000001+00:00
WITH page AS (SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND model = $3 ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5) SELECT t.page_total, page.*, (SELECT e.data FROM entities e WHERE e.entity = 'user' AND e.id = page.user_id AND NOT e.deleted AND e.data IS NOT NULL) AS user_data, (SELECT e.data FROM entities e WHERE e.entity = 'api_key' AND e.id = page.api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS api_key_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider' AND e.id = page.provider_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_endpoint' AND e.id = page.provider_endpoint_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_endpoint_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_api_key' AND e.id = page.provider_api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_api_key_data FROM (SELECT (SELECT COALESCE(sum(n_all), 0)::bigint FROM (SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all FROM (SELECT a.key, a.n_all * p.w AS n_all FROM unnest($7::int2[], $8::timestamptz[], $9::timestamptz[], $10::int4[]) AS p(grain, lo, hi, w) CROSS JOIN LATERAL (SELECT key, n_all FROM usage_agg a WHERE a.grain = p.grain AND a.bucket >= p.lo AND a.bucket < p.hi AND a.dim = 'model' AND key = ANY($6::text[]) OFFSET 0) a UNION ALL SELECT model AS key, count(*) AS n_all FROM usage_records WHERE ((created_at >= $11 AND created_at < $12) OR (created_at >= $13 AND created_at < $14)) AND model IS NOT NULL AND model = ANY($6::text[]) AND TRUE GROUP BY 1) s GROUP BY 1) c) AS page_total) t LEFT JOIN page ON TRUE ORDER BY page.created_at DESC, page.id DESC

-- full_page_sql(page_sql(ADMIN_FILTERED, 20, 40), exact_total_sql(ADMIN_FILTERED, page.args))
--   for: /records ?user_id= &username= &model= &provider= &status=failed: the page with its flags and names, the total counted over the records
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 'user-1'
--   $4 = '%ali%'
--   $5 = 'gpt-4o'
--   $6 = 'OpenAI'
--   $7 = 20
--   $8 = 40
WITH page AS (SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND user_id = $3 AND user_id IN (SELECT e.id FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'username' ILIKE $4 ESCAPE '\') AND model = $5 AND provider_id IN (SELECT e.id FROM entities e WHERE e.entity = 'provider' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' = $6) AND (status = 'failed' OR (status_code >= 400 OR error_message IS NOT NULL)) ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8) SELECT t.page_total, page.*, (SELECT e.data FROM entities e WHERE e.entity = 'user' AND e.id = page.user_id AND NOT e.deleted AND e.data IS NOT NULL) AS user_data, (SELECT e.data FROM entities e WHERE e.entity = 'api_key' AND e.id = page.api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS api_key_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider' AND e.id = page.provider_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_endpoint' AND e.id = page.provider_endpoint_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_endpoint_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_api_key' AND e.id = page.provider_api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_api_key_data FROM (SELECT (SELECT count(*) FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND user_id = $3 AND user_id IN (SELECT e.id FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'username' ILIKE $4 ESCAPE '\') AND model = $5 AND provider_id IN (SELECT e.id FROM entities e WHERE e.entity = 'provider' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'name' = $6) AND (status = 'failed' OR (status_code >= 400 OR error_message IS NOT NULL))) AS page_total) t LEFT JOIN page ON TRUE ORDER BY page.created_at DESC, page.id DESC

-- full_page_sql(page_sql(ADMIN_SEARCH, 20, 40), exact_total_sql(ADMIN_SEARCH, page.args))
--   for: /records ?search=gpt (3 values matched: the page merged from one branch each): the page with its flags and names, the total counted over the records
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = ['gpt-4o', 'gpt-4o-mini']
--   $4 = ['key-1']
--   $5 = 60
--   $6 = 'gpt-4o'
--   $7 = 'gpt-4o-mini'
--   $8 = 'key-1'
--   $9 = 20
--   $10 = 40
WITH page AS (WITH ids AS (SELECT id, created_at FROM ((SELECT id, created_at FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[])) AND model = $6 ORDER BY created_at DESC, id DESC LIMIT $5) UNION (SELECT id, created_at FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[])) AND model = $7 ORDER BY created_at DESC, id DESC LIMIT $5) UNION (SELECT id, created_at FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[])) AND api_key_id = $8 ORDER BY created_at DESC, id DESC LIMIT $5)) b ORDER BY created_at DESC, id DESC LIMIT $9 OFFSET $10) SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE (id, created_at) IN (SELECT id, created_at FROM ids) ORDER BY created_at DESC, id DESC) SELECT t.page_total, page.*, (SELECT e.data FROM entities e WHERE e.entity = 'user' AND e.id = page.user_id AND NOT e.deleted AND e.data IS NOT NULL) AS user_data, (SELECT e.data FROM entities e WHERE e.entity = 'api_key' AND e.id = page.api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS api_key_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider' AND e.id = page.provider_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_endpoint' AND e.id = page.provider_endpoint_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_endpoint_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_api_key' AND e.id = page.provider_api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_api_key_data FROM (SELECT (SELECT count(*) FROM usage_records WHERE created_at >= $1 AND created_at <= $2 AND (model = ANY($3::text[]) OR api_key_id = ANY($4::text[]))) AS page_total) t LEFT JOIN page ON TRUE ORDER BY page.created_at DESC, page.id DESC

-- full_page_sql(page_sql(USER_SEARCH, 20, 40), exact_total_sql(USER_SEARCH, page.args))
--   for: /api/users/me/usage ?search=gpt (the user's own records): the page with its flags and names, the total counted over the records
--   $1 = 'user-1'
--   $2 = 2026-01-03T10:07:12+00:00
--   $3 = 2026-03-14T16:52:00+00:00
--   $4 = ['gpt-4o', 'gpt-4o-mini']
--   $5 = ['key-1']
--   $6 = 60
--   $7 = 'gpt-4o'
--   $8 = 'gpt-4o-mini'
--   $9 = 'key-1'
--   $10 = 20
--   $11 = 40
WITH page AS (WITH ids AS (SELECT id, created_at FROM ((SELECT id, created_at FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[])) AND model = $7 ORDER BY created_at DESC, id DESC LIMIT $6) UNION (SELECT id, created_at FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[])) AND model = $8 ORDER BY created_at DESC, id DESC LIMIT $6) UNION (SELECT id, created_at FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[])) AND api_key_id = $9 ORDER BY created_at DESC, id DESC LIMIT $6)) b ORDER BY created_at DESC, id DESC LIMIT $10 OFFSET $11) SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE (id, created_at) IN (SELECT id, created_at FROM ids) ORDER BY created_at DESC, id DESC) SELECT t.page_total, page.*, (SELECT e.data FROM entities e WHERE e.entity = 'user' AND e.id = page.user_id AND NOT e.deleted AND e.data IS NOT NULL) AS user_data, (SELECT e.data FROM entities e WHERE e.entity = 'api_key' AND e.id = page.api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS api_key_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider' AND e.id = page.provider_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_endpoint' AND e.id = page.provider_endpoint_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_endpoint_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_api_key' AND e.id = page.provider_api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_api_key_data FROM (SELECT (SELECT count(*) FROM usage_records WHERE user_id = $1 AND created_at >= $2 AND created_at <= $3 AND (model = ANY($4::text[]) OR api_key_id = ANY($5::text[]))) AS page_total) t LEFT JOIN page ON TRUE ORDER BY page.created_at DESC, page.id DESC

-- full_page_sql(page_sql(ADMIN_RANGE, 20, 40))
--   for: /records ?include_total=false: the page with its flags and names, no total
--   $1 = 2026-01-03T10:07:12+00:00
--   $2 = 2026-03-14T16:52:00+00:00
--   $3 = 20
--   $4 = 40
WITH page AS (SELECT id, request_id, user_id, api_key_id, provider_name, provider_id, provider_endpoint_id, provider_api_key_id, model, target_model, api_format, endpoint_api_format, has_format_conversion, is_stream, status, status_code, error_message, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, input_price_per_1m, output_price_per_1m, cache_creation_price_per_1m, cache_read_price_per_1m, response_time_ms, first_byte_time_ms, created_at, request_metadata FROM usage_records WHERE created_at >= $1 AND created_at <= $2 ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4) SELECT page.*, (SELECT e.data FROM entities e WHERE e.entity = 'user' AND e.id = page.user_id AND NOT e.deleted AND e.data IS NOT NULL) AS user_data, (SELECT e.data FROM entities e WHERE e.entity = 'api_key' AND e.id = page.api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS api_key_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider' AND e.id = page.provider_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_endpoint' AND e.id = page.provider_endpoint_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_endpoint_data, (SELECT e.data FROM entities e WHERE e.entity = 'provider_api_key' AND e.id = page.provider_api_key_id AND NOT e.deleted AND e.data IS NOT NULL) AS provider_api_key_data FROM page ORDER BY page.created_at DESC, page.id DESC

-- ATTEMPT_FLAGS_SQL
SELECT usage_id, count(DISTINCT candidate_index) > 1 AS has_fallback, (count(*) > count(DISTINCT candidate_index) OR max(retry_index) > 0) AS has_retry, COALESCE(bool_or(extra_data -> 'rectified' = 'true'::jsonb), false) AS has_rectified FROM candidate_records WHERE usage_id = ANY($1::text[]) AND status IN ('success', 'failed') GROUP BY usage_id

-- DETAIL_BY_ID_SQL
SELECT * FROM usage_records WHERE id = $1

-- DETAIL_BY_REQUEST_SQL
SELECT * FROM usage_records WHERE request_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1

-- active_sql(ACTIVE_COLUMNS, ids, None)
--   for: /active (admin)
--   $1 = ['u-1', 'u-2']
SELECT id, user_id, status, status_code, error_message, is_stream, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, response_time_ms, first_byte_time_ms, api_format, endpoint_api_format, has_format_conversion, provider_name, provider_api_key_id, created_at FROM usage_records WHERE id = ANY($1::text[])

-- active_sql(ACTIVE_COLUMNS, ids, 'user-1')
--   for: /active (a user)
--   $1 = ['u-1']
--   $2 = 'user-1'
SELECT id, user_id, status, status_code, error_message, is_stream, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, total_cost_usd, actual_total_cost_usd, rate_multiplier, response_time_ms, first_byte_time_ms, api_format, endpoint_api_format, has_format_conversion, provider_name, provider_api_key_id, created_at FROM usage_records WHERE id = ANY($1::text[]) AND user_id = $2
