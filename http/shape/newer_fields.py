"""The fields today's Aether front end reads that the contract does not carry: written as null, meaning unknown.

docs/reference-api.md §9.3 names, for each, the contract field that would carry it. Each function returns a new
dict, so an item may be changed after it took them.
"""

from __future__ import annotations

from typing import Any

# The split of cache_creation_input_tokens by Anthropic's cache TTL (5 minutes, 1 hour).
CACHE_SPLIT = ("cache_creation_ephemeral_5m_input_tokens", "cache_creation_ephemeral_1h_input_tokens")
# Whether the upstream answered streaming, and whether the client asked for and got a stream: the contract's one
# flag, is_stream, does not say which side it describes when a format conversion changes it.
STREAM_FLAGS = ("upstream_is_stream", "client_requested_stream", "client_is_stream")
# Who called: Aether reads these from its request metadata and the caller's headers.
CLIENT = ("client_family", "client_ip", "user_agent")
# When the gateway last changed the record, and when it last measured the response time of an active request.
UPDATED = ("updated_at", "response_time_updated_at")
# The detail's bodies and records the contract has no field for (it carries request_body and response_body).
DETAIL_BODIES = ("provider_request_body", "client_response_body")
DETAIL_RECORDS = ("routing", "body_capture", "settlement", "trace")


def unknown(*groups: tuple[str, ...]) -> dict[str, Any]:
    """`{name: None}` for every name of the groups, in order."""
    return {name: None for group in groups for name in group}
