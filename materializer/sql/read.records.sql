-- usagestream.materializer.read.records: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.

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
