-- usagestream.materializer.pg_counters: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.

-- FINISHED
status NOT IN ('pending', 'streaming')

-- REACHED
provider_name NOT IN ('unknown', 'pending')

-- FR
status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')

-- ERROR
(status_code >= 400 OR error_message IS NOT NULL)

-- COMPLETED
status = 'completed'

-- S200
status_code = 200 AND response_time_ms IS NOT NULL

-- EXECUTED
provider_id IS NOT NULL AND status IN ('success', 'failed')

-- USAGE_COUNTER_SQL['n_all']
count(*)

-- USAGE_COUNTER_SQL['n_finished']
count(*) FILTER (WHERE status NOT IN ('pending', 'streaming'))

-- USAGE_COUNTER_SQL['n_reached']
count(*) FILTER (WHERE provider_name NOT IN ('unknown', 'pending'))

-- USAGE_COUNTER_SQL['n_fr']
count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending'))

-- USAGE_COUNTER_SQL['n_error']
count(*) FILTER (WHERE (status_code >= 400 OR error_message IS NOT NULL))

-- USAGE_COUNTER_SQL['n_completed']
count(*) FILTER (WHERE status = 'completed')

-- USAGE_COUNTER_SQL['n_hit']
count(*) FILTER (WHERE status = 'completed' AND cache_read_input_tokens > 0)

-- USAGE_COUNTER_SQL['n_s200']
count(*) FILTER (WHERE status_code = 200 AND response_time_ms IS NOT NULL)

-- USAGE_COUNTER_SQL['in_tok']
COALESCE(sum(input_tokens), 0)

-- USAGE_COUNTER_SQL['out_tok']
COALESCE(sum(output_tokens), 0)

-- USAGE_COUNTER_SQL['tot_tok']
COALESCE(sum(total_tokens), 0)

-- USAGE_COUNTER_SQL['cc_tok']
COALESCE(sum(cache_creation_input_tokens), 0)

-- USAGE_COUNTER_SQL['cr_tok']
COALESCE(sum(cache_read_input_tokens), 0)

-- USAGE_COUNTER_SQL['cost']
COALESCE(sum(total_cost_usd), 0)

-- USAGE_COUNTER_SQL['actual_cost']
COALESCE(sum(actual_total_cost_usd), 0)

-- USAGE_COUNTER_SQL['cc_cost']
COALESCE(sum(cache_creation_cost_usd), 0)

-- USAGE_COUNTER_SQL['cr_cost']
COALESCE(sum(cache_read_cost_usd), 0)

-- USAGE_COUNTER_SQL['rt_sum']
COALESCE(sum(response_time_ms), 0)

-- USAGE_COUNTER_SQL['rt_n']
count(response_time_ms)

-- USAGE_COUNTER_SQL['fr_tot_tok']
COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_cost']
COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_actual']
COALESCE(sum(actual_total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_rt_sum']
COALESCE(sum(response_time_ms) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_rt_n']
count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending') AND response_time_ms IS NOT NULL)

-- USAGE_COUNTER_SQL['fin_tot_tok']
COALESCE(sum(total_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['fin_cost']
COALESCE(sum(total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['fin_actual']
COALESCE(sum(actual_total_cost_usd) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['r_in']
COALESCE(sum(input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['r_out']
COALESCE(sum(output_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['r_tot']
COALESCE(sum(total_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['r_cost']
COALESCE(sum(total_cost_usd) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['r_actual']
COALESCE(sum(actual_total_cost_usd) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['s200_rt_sum']
COALESCE(sum(response_time_ms) FILTER (WHERE status_code = 200 AND response_time_ms IS NOT NULL), 0)

-- USAGE_COUNTER_SQL['c_in']
COALESCE(sum(input_tokens) FILTER (WHERE status = 'completed'), 0)

-- USAGE_COUNTER_SQL['c_cr']
COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status = 'completed'), 0)

-- USAGE_COUNTER_SQL['c_cc']
COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status = 'completed'), 0)

-- USAGE_COUNTER_SQL['c_cr_cost']
COALESCE(sum(cache_read_cost_usd) FILTER (WHERE status = 'completed'), 0)

-- USAGE_COUNTER_SQL['c_cc_cost']
COALESCE(sum(cache_creation_cost_usd) FILTER (WHERE status = 'completed'), 0)

-- USAGE_COUNTER_SQL['fr_in']
COALESCE(sum(input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_out']
COALESCE(sum(output_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_cc']
COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_cr']
COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_err']
count(*) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending') AND (status_code >= 400 OR error_message IS NOT NULL))

-- USAGE_COUNTER_SQL['fin_in']
COALESCE(sum(input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['fin_out']
COALESCE(sum(output_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['fin_cc']
COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['fin_cr']
COALESCE(sum(cache_read_input_tokens) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['fr_eff']
COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fr_ctx']
COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming') AND provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['fin_eff']
COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['fin_ctx']
COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE status NOT IN ('pending', 'streaming')), 0)

-- USAGE_COUNTER_SQL['r_cc']
COALESCE(sum(cache_creation_input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['r_cr']
COALESCE(sum(cache_read_input_tokens) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['r_eff']
COALESCE(sum(CASE WHEN input_tokens <= 0 THEN 0 WHEN cache_read_input_tokens <= 0 OR NOT COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN input_tokens ELSE greatest(input_tokens - cache_read_input_tokens, 0) END) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- USAGE_COUNTER_SQL['r_ctx']
COALESCE(sum(CASE WHEN COALESCE(translate(btrim(split_part(COALESCE(NULLIF(endpoint_api_format, ''), api_format), ':', 1), ' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') IN ('openai', 'gemini', 'google'), false) THEN greatest(input_tokens, cache_read_input_tokens, 0) ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0) + greatest(cache_read_input_tokens, 0) END) FILTER (WHERE provider_name NOT IN ('unknown', 'pending')), 0)

-- ATTEMPT_COUNTER_SQL['attempts']
count(*)

-- ATTEMPT_COUNTER_SQL['successes']
count(*) FILTER (WHERE status = 'success')

-- ATTEMPT_COUNTER_SQL['failures']
count(*) FILTER (WHERE status = 'failed')

-- ATTEMPT_COUNTER_SQL['lat_sum']
COALESCE(sum(latency_ms), 0)

-- ATTEMPT_COUNTER_SQL['lat_n']
count(latency_ms)

-- DIM_KEY_SQL['all']
''

-- DIM_KEY_SQL['model']
model

-- DIM_KEY_SQL['user']
user_id

-- DIM_KEY_SQL['provider']
provider_id

-- DIM_KEY_SQL['api_format']
api_format

-- DIM_KEY_SQL['api_key']
api_key_id

-- DIM_KEY_SQL['user_model']
user_id || chr(31) || model

-- DIM_KEY_SQL['user_api_format']
user_id || chr(31) || api_format

-- DIM_KEY_SQL['provider_model']
provider_id || chr(31) || model
