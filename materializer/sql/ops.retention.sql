-- usagestream.materializer.ops.retention: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.

-- COUNT_BODIES_SQL
SELECT count(*) FROM usage_records WHERE created_at >= $1 AND created_at < $2 AND (request_headers IS NOT NULL OR provider_request_headers IS NOT NULL OR response_headers IS NOT NULL OR client_response_headers IS NOT NULL OR request_body IS NOT NULL OR response_body IS NOT NULL)

-- CLEAR_BODIES_SQL
UPDATE usage_records SET request_headers = NULL, provider_request_headers = NULL, response_headers = NULL, client_response_headers = NULL, request_body = NULL, response_body = NULL WHERE created_at >= $1 AND created_at < $2 AND (request_headers IS NOT NULL OR provider_request_headers IS NOT NULL OR response_headers IS NOT NULL OR client_response_headers IS NOT NULL OR request_body IS NOT NULL OR response_body IS NOT NULL)

-- stray_months_sql('usage_records')
SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') AS m FROM usage_records_default WHERE created_at < $1

-- default_count_sql('usage_records_default')
SELECT count(*) FROM usage_records_default WHERE created_at < $1

-- default_delete_sql('usage_records')
WITH d AS (DELETE FROM usage_records_default WHERE created_at < $1 RETURNING id, created_at), h AS (DELETE FROM usage_record_homes h USING d WHERE h.id = d.id AND h.created_at = d.created_at) SELECT count(*) FROM d

-- forget_homes_sql('usage_records', 'usage_records_p202501')
DELETE FROM usage_record_homes h USING "usage_records_p202501" p WHERE h.id = p.id AND h.created_at = p.created_at

-- stray_months_sql('candidate_records')
SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') AS m FROM candidate_records_default WHERE created_at < $1

-- default_count_sql('candidate_records_default')
SELECT count(*) FROM candidate_records_default WHERE created_at < $1

-- default_delete_sql('candidate_records')
WITH d AS (DELETE FROM candidate_records_default WHERE created_at < $1 RETURNING id, created_at), h AS (DELETE FROM candidate_record_homes h USING d WHERE h.id = d.id AND h.created_at = d.created_at) SELECT count(*) FROM d

-- forget_homes_sql('candidate_records', 'candidate_records_p202501')
DELETE FROM candidate_record_homes h USING "candidate_records_p202501" p WHERE h.id = p.id AND h.created_at = p.created_at
