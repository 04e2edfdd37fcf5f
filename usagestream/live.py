"""The live set's items: what Redis keeps for each active (pending or streaming) request, and the feed messages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from usagestream.fields import ACTIVE_STATUSES
from usagestream.ports import State

LIVE_FIELDS = (
    "id",
    "seq",
    "user_id",
    "api_key_id",
    "status",
    "status_code",
    "error_message",
    "is_stream",
    "model",
    "created_at",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_cost_usd",
    "actual_total_cost_usd",
    "rate_multiplier",
    "response_time_ms",
    "first_byte_time_ms",
    "api_format",
    "endpoint_api_format",
    "has_format_conversion",
    "provider_name",
    "provider_api_key_id",
    "kafka_partition",
)


def live_item(state: State) -> dict[str, Any] | None:
    """The JSON-ready live item of a request's current state, or None if the request is not active."""
    if state["status"] not in ACTIVE_STATUSES:
        return None
    item: dict[str, Any] = {}
    for name in LIVE_FIELDS:
        value = state[name]
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        item[name] = value
    return item


def remove_message(state: State) -> dict[str, Any]:
    return {"type": "remove", "id": state["id"], "status": state["status"], "user_id": state["user_id"]}


def created_score(state: State) -> float:
    created: datetime = state["created_at"]
    return created.timestamp()
