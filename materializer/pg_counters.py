"""The aggregates' counters and dimension keys as SQL over the records: the SQL twin of `usagestream.stats`.

`USAGE_COUNTER_SQL` is the twin of `usagestream.stats.usage_contribution`: summing it over the records of a slice
gives exactly the counters the writer folded into `usage_agg` for those records (tested against
`stats.recount`). The writer spreads by `DIM_KEY_SQL`, `verify` recounts with all of them, the read side
recounts the edges of a range with them.
"""

from __future__ import annotations

from usagestream.stats import ATTEMPT_COUNTERS, USAGE_COUNTERS

FINISHED = "status NOT IN ('pending', 'streaming')"
REACHED = "provider_name NOT IN ('unknown', 'pending')"
FR = f"{FINISHED} AND {REACHED}"
ERROR = "(status_code >= 400 OR error_message IS NOT NULL)"
COMPLETED = "status = 'completed'"
S200 = "status_code = 200 AND response_time_ms IS NOT NULL"
EXECUTED = "provider_id IS NOT NULL AND status IN ('success', 'failed')"

# usagestream.tokens in SQL. The family: the part of the endpoint's format (else the format) before ':', trimmed
# of the whitespace Python's str.strip() removes (control characters never reach a record) and lower-cased in
# ASCII (translate, not lower(): the database's locale must not matter; no other character lower-cases in Python
# to a letter of these names).
_WS = "' ' || chr(160) || chr(5760) || chr(8192) || chr(8193) || chr(8194) || chr(8195) || chr(8196) || chr(8197)"
_WS += " || chr(8198) || chr(8199) || chr(8200) || chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239)"
_WS += " || chr(8287) || chr(12288)"
_FORMAT = "COALESCE(NULLIF(endpoint_api_format, ''), api_format)"
_ASCII = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"
_FAMILY = f"translate(btrim(split_part({_FORMAT}, ':', 1), {_WS}), {_ASCII})"
CACHE_READ_IN_INPUT = f"COALESCE({_FAMILY} IN ('openai', 'gemini', 'google'), false)"
EFFECTIVE_INPUT = (
    "CASE WHEN input_tokens <= 0 THEN 0"
    f" WHEN cache_read_input_tokens <= 0 OR NOT {CACHE_READ_IN_INPUT} THEN input_tokens"
    " ELSE greatest(input_tokens - cache_read_input_tokens, 0) END"
)
TOTAL_INPUT_CONTEXT = (
    # for OpenAI and Gemini, effective input + cache read = max(input, cache read, 0)
    f"CASE WHEN {CACHE_READ_IN_INPUT} THEN greatest(input_tokens, cache_read_input_tokens, 0)"
    " ELSE greatest(input_tokens, 0) + greatest(cache_creation_input_tokens, 0)"
    " + greatest(cache_read_input_tokens, 0) END"
)


def _n(cond: str) -> str:
    return f"count(*) FILTER (WHERE {cond})"


def _sum(expr: str, cond: str | None = None) -> str:
    where = f" FILTER (WHERE {cond})" if cond else ""
    return f"COALESCE(sum({expr}){where}, 0)"


USAGE_COUNTER_SQL: dict[str, str] = {
    "n_all": "count(*)",
    "n_finished": _n(FINISHED),
    "n_reached": _n(REACHED),
    "n_fr": _n(FR),
    "n_error": _n(ERROR),
    "n_completed": _n(COMPLETED),
    "n_hit": _n(f"{COMPLETED} AND cache_read_input_tokens > 0"),
    "n_s200": _n(S200),
    "in_tok": _sum("input_tokens"),
    "out_tok": _sum("output_tokens"),
    "tot_tok": _sum("total_tokens"),
    "cc_tok": _sum("cache_creation_input_tokens"),
    "cr_tok": _sum("cache_read_input_tokens"),
    "cost": _sum("total_cost_usd"),
    "actual_cost": _sum("actual_total_cost_usd"),
    "cc_cost": _sum("cache_creation_cost_usd"),
    "cr_cost": _sum("cache_read_cost_usd"),
    "rt_sum": _sum("response_time_ms"),
    "rt_n": "count(response_time_ms)",
    "fr_tot_tok": _sum("total_tokens", FR),
    "fr_cost": _sum("total_cost_usd", FR),
    "fr_actual": _sum("actual_total_cost_usd", FR),
    "fr_rt_sum": _sum("response_time_ms", FR),
    "fr_rt_n": _n(f"{FR} AND response_time_ms IS NOT NULL"),
    "fin_tot_tok": _sum("total_tokens", FINISHED),
    "fin_cost": _sum("total_cost_usd", FINISHED),
    "fin_actual": _sum("actual_total_cost_usd", FINISHED),
    "r_in": _sum("input_tokens", REACHED),
    "r_out": _sum("output_tokens", REACHED),
    "r_tot": _sum("total_tokens", REACHED),
    "r_cost": _sum("total_cost_usd", REACHED),
    "r_actual": _sum("actual_total_cost_usd", REACHED),
    "s200_rt_sum": _sum("response_time_ms", S200),
    "c_in": _sum("input_tokens", COMPLETED),
    "c_cr": _sum("cache_read_input_tokens", COMPLETED),
    "c_cc": _sum("cache_creation_input_tokens", COMPLETED),
    "c_cr_cost": _sum("cache_read_cost_usd", COMPLETED),
    "c_cc_cost": _sum("cache_creation_cost_usd", COMPLETED),
    "fr_in": _sum("input_tokens", FR),
    "fr_out": _sum("output_tokens", FR),
    "fr_cc": _sum("cache_creation_input_tokens", FR),
    "fr_cr": _sum("cache_read_input_tokens", FR),
    "fr_err": _n(f"{FR} AND {ERROR}"),
    "fin_in": _sum("input_tokens", FINISHED),
    "fin_out": _sum("output_tokens", FINISHED),
    "fin_cc": _sum("cache_creation_input_tokens", FINISHED),
    "fin_cr": _sum("cache_read_input_tokens", FINISHED),
    "fr_eff": _sum(EFFECTIVE_INPUT, FR),
    "fr_ctx": _sum(TOTAL_INPUT_CONTEXT, FR),
    "fin_eff": _sum(EFFECTIVE_INPUT, FINISHED),
    "fin_ctx": _sum(TOTAL_INPUT_CONTEXT, FINISHED),
    "r_cc": _sum("cache_creation_input_tokens", REACHED),
    "r_cr": _sum("cache_read_input_tokens", REACHED),
    "r_eff": _sum(EFFECTIVE_INPUT, REACHED),
    "r_ctx": _sum(TOTAL_INPUT_CONTEXT, REACHED),
}
assert tuple(USAGE_COUNTER_SQL) == USAGE_COUNTERS

ATTEMPT_COUNTER_SQL: dict[str, str] = {
    "attempts": "count(*)",
    "successes": _n("status = 'success'"),
    "failures": _n("status = 'failed'"),
    "lat_sum": _sum("latency_ms"),
    "lat_n": "count(latency_ms)",
}
assert tuple(ATTEMPT_COUNTER_SQL) == ATTEMPT_COUNTERS

# How each usage_agg dimension's key is computed from a record (NULL: the record is not in that dimension).
DIM_KEY_SQL: dict[str, str] = {
    "all": "''",
    "model": "model",
    "user": "user_id",
    "provider": "provider_id",
    "api_format": "api_format",
    "api_key": "api_key_id",
    "user_model": "user_id || chr(31) || model",
    "user_api_format": "user_id || chr(31) || api_format",
    "provider_model": "provider_id || chr(31) || model",
}
