"""One has_format_conversion per request: the shared rule, and every surface that renders it (records, the
user's records, /active and the feed items) giving the same answer for the same stored row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from usagestream.formats import can_passthrough, format_conversion
from usagestream.http.shape.live_items import shape
from usagestream.http.shape.records import ACTIVE_COLUMNS, active_item, record_item, user_record_item

FORMATS = [
    None,
    "",
    "claude:chat",
    "claude:cli",
    "CLAUDE:Chat",
    " openai:chat",
    "openai:cli",
    "openai:compact",
    "gemini:cli",
    "CLAUDE",
    "claude",
    "OPENAI",
    "odd:kind:x",
]


def test_the_rule() -> None:
    assert format_conversion(True, "claude:chat", "claude:chat") is True  # the gateway's word wins
    assert format_conversion(False, "claude:chat", "openai:chat") is False
    assert format_conversion(None, "claude:cli", "claude:chat") is False  # one data format: passed through
    assert format_conversion(None, "openai:cli", "openai:compact") is False
    assert format_conversion(None, "CLAUDE:chat", "claude:CHAT") is False
    assert format_conversion(None, "claude:chat", "openai:chat") is True
    assert format_conversion(None, "gemini:chat", "gemini:video") is True
    assert format_conversion(None, "acme:chat", "acme:cli") is True  # unknown data formats: only equal passes
    assert format_conversion(None, "acme:chat", "ACME:chat") is False
    assert format_conversion(None, "CLAUDE", "claude") is False  # legacy values: compared ignoring case
    assert format_conversion(None, "CLAUDE", "OPENAI") is True
    assert format_conversion(None, "CLAUDE", "claude:chat") is True
    for missing in (None, ""):
        assert format_conversion(None, missing, "claude:chat") is None
        assert format_conversion(None, "claude:chat", missing) is None


def test_can_passthrough_is_aethers() -> None:
    assert can_passthrough("claude:cli", "claude:chat") and can_passthrough("gemini:chat", "gemini:cli")
    assert not can_passthrough("openai:chat", "openai:cli")
    assert not can_passthrough("CLAUDE", "CLAUDE")  # not signatures: Aether cannot resolve them


def _row(stored: bool | None, client: str | None, endpoint: str | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(
        [
            "user_id",
            "api_key_id",
            "provider_id",
            "provider_api_key_id",
            "provider_endpoint_id",
            "target_model",
            "response_time_ms",
            "first_byte_time_ms",
            "status_code",
            "error_message",
            "rate_multiplier",
            "input_price_per_1m",
            "output_price_per_1m",
            "cache_creation_price_per_1m",
            "cache_read_price_per_1m",
            "request_metadata",
        ]
    )
    row.update(
        dict.fromkeys(
            ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "total_tokens"],
            0,
        )
    )
    row.update(id="u1", model="m", provider_name="p", is_stream=True, status="streaming")
    row.update(total_cost_usd=Decimal(0), actual_total_cost_usd=Decimal(0), created_at=datetime(2026, 1, 1, tzinfo=UTC))
    row.update(api_format=client, endpoint_api_format=endpoint, has_format_conversion=stored)
    return row


ENTS: dict[str, dict[str, dict[str, Any]]] = {
    k: {} for k in ("user", "api_key", "provider", "provider_api_key", "provider_endpoint")
}


@pytest.mark.parametrize("stored", [None, True, False])
def test_every_surface_gives_one_answer(stored: bool | None) -> None:
    for client in FORMATS:
        for endpoint in FORMATS:
            row = _row(stored, client, endpoint)
            expected = format_conversion(stored, client or None, endpoint or None)
            admin = record_item(row, ENTS, None)["has_format_conversion"]
            user = user_record_item(row, ENTS)["has_format_conversion"]
            polled = shape(active_item(row, {}), admin=True, key_names={}).get("has_format_conversion")
            live = {k: row[k] for k in ACTIVE_COLUMNS if k != "created_at"}  # a Redis item: same fields
            fed = shape(live, admin=False, key_names={}).get("has_format_conversion")
            case = (stored, client, endpoint)
            assert admin is expected and polled is expected and fed is expected, case
            assert user is bool(expected), case  # the user shape has no null (docs/reference-api.md §3.10)
