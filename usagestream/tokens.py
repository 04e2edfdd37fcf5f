"""Token figures derived from a record's counts as today's Aether derives them (its records, active and detail items).

Aether's `normalize_input_tokens_for_billing` (crates/aether-billing/src/token_normalization.rs): OpenAI and Gemini
count the cache-read tokens inside `input_tokens`, Claude (and a format it does not know) outside; the effective
input is the input without them. The format read is the endpoint's, else the client's, as Aether reads it.
"""

from __future__ import annotations

# The API families whose input_tokens include the cache-read tokens (the part before ':' of an API format).
CACHE_READ_IN_INPUT = frozenset({"openai", "gemini", "google"})


def api_family(api_format: str | None) -> str:
    """`openai:chat` -> `openai`, trimmed and lower-cased; "" when the format is unknown."""
    return (api_format or "").split(":", 1)[0].strip().lower()


def effective_input_tokens(
    api_format: str | None, endpoint_api_format: str | None, input_tokens: int, cache_read_tokens: int
) -> int:
    """The input tokens not served from the cache (docs/reference-api.md §9.3): input minus cache read, floored at
    0, for OpenAI and Gemini formats; input otherwise."""
    fmt = endpoint_api_format or api_format
    if input_tokens <= 0:
        return 0
    if cache_read_tokens <= 0 or api_family(fmt) not in CACHE_READ_IN_INPUT:
        return input_tokens
    return max(input_tokens - cache_read_tokens, 0)


def total_input_context(
    api_format: str | None,
    endpoint_api_format: str | None,
    input_tokens: int,
    cache_creation_tokens: int,
    cache_read_tokens: int,
) -> int:
    """The input context a cache hit rate divides by (Aether's `normalize_total_input_context_for_cache_hit_rate`,
    docs/reference-api.md §9.3): the effective input plus the cache reads for OpenAI and Gemini formats (so
    max(input, cache read)); input plus cache creation plus cache read otherwise. Negative counts count as 0."""
    cache_read = max(cache_read_tokens, 0)
    if api_family(endpoint_api_format or api_format) in CACHE_READ_IN_INPUT:
        fresh = effective_input_tokens(api_format, endpoint_api_format, input_tokens, cache_read)
    else:
        fresh = max(input_tokens, 0) + max(cache_creation_tokens, 0)
    return fresh + cache_read
