"""The `/active` item shape (docs/reference-api.md §3.5) built from live-set items and rows, without I/O."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from usagestream.http.shape.live_items import conversion, decimal_or_none, shape, visible
from usagestream.http.shape.newer_fields import CACHE_SPLIT, CLIENT, STREAM_FLAGS, UPDATED


def raw(**over: Any) -> dict[str, Any]:
    base = {
        "id": "a",
        "user_id": "u",
        "status": "pending",
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "total_cost_usd": "0",
        "actual_total_cost_usd": "0",
        "rate_multiplier": None,
        "response_time_ms": None,
        "first_byte_time_ms": None,
        "api_format": None,
        "endpoint_api_format": None,
        "has_format_conversion": None,
        "provider_name": "pending",
        "provider_api_key_id": None,
    }
    return {**base, **over}


def test_optional_keys_and_cost() -> None:
    item = shape(raw(), admin=False, key_names={})
    assert item["cost"] == 0 and isinstance(item["cost"], int)
    assert item["actual_cost"] == Decimal(0) and item["rate_multiplier"] is None
    assert not {"api_format", "endpoint_api_format", "provider", "api_key_name", "provider_key_name"} & set(item)
    assert item["has_format_conversion"] is None  # today's Aether writes it always, null when unknown
    admin = shape(raw(total_cost_usd=Decimal("1.50"), provider_api_key_id="k"), admin=True, key_names={"k": "K"})
    assert admin["cost"] == Decimal("1.50") and admin["provider"] == "pending" and admin["api_key_name"] == "K"


def test_conversion() -> None:
    assert conversion(raw(has_format_conversion=False, api_format="a:b", endpoint_api_format="c:d")) is False
    assert conversion(raw(api_format="claude:chat", endpoint_api_format="openai:chat")) is True
    assert conversion(raw(api_format="CLAUDE:chat", endpoint_api_format="claude:CHAT")) is False
    assert conversion(raw(api_format="claude:cli", endpoint_api_format="claude:chat")) is False
    assert conversion(raw(api_format="claude", endpoint_api_format="openai:chat")) is True  # as the records say
    assert conversion(raw(api_format="claude:chat")) is None
    assert conversion(raw(has_format_conversion="yes", api_format=1, endpoint_api_format="a:b")) is None


def test_decimals() -> None:
    assert decimal_or_none("0.00123400") == Decimal("0.00123400")
    assert decimal_or_none(Decimal("2")) == Decimal(2)
    for bad in (None, True, "x", "NaN", "Infinity"):
        assert decimal_or_none(bad) is None


def test_visible() -> None:
    assert visible({"user_id": "u"}, None) and visible({"user_id": "u"}, "u") and not visible({"user_id": "v"}, "u")


def test_todays_fields_computed_where_the_record_has_them() -> None:
    """Today's Aether's active-item fields: the effective input from the record, status code, error and stream
    flag as stored, has_fallback from the attempt flags; the upstream key name under both names for admins."""
    r = raw(
        input_tokens=1000,
        cache_read_input_tokens=300,
        endpoint_api_format="openai:chat",
        status="streaming",
        status_code=200,
        error_message="upstream slow",
        is_stream=True,
        provider_api_key_id="k",
    )
    admin = shape(r, admin=True, key_names={"k": "key K"}, flags={"has_fallback": True, "has_retry": False})
    assert admin["effective_input_tokens"] == 700  # OpenAI counts the cache reads inside the input
    assert (admin["status_code"], admin["error_message"], admin["is_stream"]) == (200, "upstream slow", True)
    assert admin["has_fallback"] is True
    assert admin["api_key_name"] == admin["provider_key_name"] == "key K"
    claude = shape({**r, "endpoint_api_format": "claude:chat"}, admin=False, key_names={}, flags={})
    assert claude["effective_input_tokens"] == 1000 and claude["has_fallback"] is False
    assert "provider_key_name" not in claude and "provider" not in claude


def test_fields_the_contract_does_not_carry_are_null() -> None:
    """The cache split, update times, client-side stream flags and caller facts are unknown: present, null;
    has_fallback is null when the flags were not looked up (the feed's upserts)."""
    for admin in (True, False):
        item = shape(raw(), admin=admin, key_names={}, flags=None)
        for name in (*CACHE_SPLIT, *UPDATED, *STREAM_FLAGS, *CLIENT, "has_fallback"):
            assert name in item and item[name] is None, name
