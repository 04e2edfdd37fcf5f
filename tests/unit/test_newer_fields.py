"""Today's Aether's fields on records, the user's records, the detail and /active items: the effective input
computed as Aether computes it, the same on every surface; what the contract does not carry present and null;
the upstream key's name for admins only (docs/reference-api.md §9.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from usagestream.fields import USAGE_FIELDS
from usagestream.http.shape.live_items import shape
from usagestream.http.shape.newer_fields import CACHE_SPLIT, CLIENT, DETAIL_BODIES, DETAIL_RECORDS, STREAM_FLAGS
from usagestream.http.shape.records import ACTIVE_COLUMNS, detail_item, record_item, user_record_item
from usagestream.tokens import effective_input_tokens


@pytest.mark.parametrize(
    ("client", "endpoint", "inp", "read", "expected"),
    [
        ("openai:chat", None, 1000, 300, 700),
        ("gemini:generate_content", None, 1000, 300, 700),
        ("google:chat", None, 1000, 300, 700),
        (" OpenAI:responses", None, 1000, 300, 700),
        ("openai:chat", None, 100, 300, 0),  # floored at 0
        ("claude:chat", None, 1000, 300, 1000),  # Claude counts cache reads outside the input
        ("anthropic:messages", None, 1000, 300, 1000),
        ("acme:chat", None, 1000, 300, 1000),  # a family Aether does not know
        (None, None, 1000, 300, 1000),
        ("claude:chat", "openai:chat", 1000, 300, 700),  # the endpoint's format first
        ("openai:chat", "claude:chat", 1000, 300, 1000),
        ("openai:chat", None, 1000, 0, 1000),
        ("openai:chat", None, 0, 300, 0),
    ],
)
def test_effective_input_is_aethers(
    client: str | None, endpoint: str | None, inp: int, read: int, expected: int
) -> None:
    assert effective_input_tokens(client, endpoint, inp, read) == expected


def row(**over: Any) -> dict[str, Any]:
    """A stored usage_records row: every registry field, with plain values."""
    base: dict[str, Any] = {}
    for f in USAGE_FIELDS:
        base[f.name] = {
            "count": 0,
            "int32": None,
            "money": Decimal(0),
            "bool": False,
            "stamp": datetime(2026, 6, 1, tzinfo=UTC),
            "status": "completed",
        }.get(f.wire)
    base.update(id="u1", request_id="r1", model="gpt", provider_name="OpenAI", status_code=200)
    return {**base, **over}


ENTS: dict[str, dict[str, dict[str, Any]]] = {
    k: {}
    for k in (
        "user",
        "api_key",
        "provider",
        "provider_api_key",
        "provider_endpoint",
        "model_pricing",
        "global_model_pricing",
    )
}


@pytest.mark.parametrize("fmt", ["openai:chat", "claude:chat", None])
def test_every_surface_gives_the_same_effective_input(fmt: str | None) -> None:
    r = row(input_tokens=900, cache_read_input_tokens=400, endpoint_api_format=fmt)
    expected = effective_input_tokens(None, fmt, 900, 400)
    active = shape({k: r[k] for k in ACTIVE_COLUMNS}, admin=True, key_names={}, flags={})
    got = [
        record_item(r, ENTS, None)["effective_input_tokens"],
        user_record_item(r, ENTS)["effective_input_tokens"],
        detail_item(r, ENTS)["effective_input_tokens"],
        active["effective_input_tokens"],
    ]
    assert got == [expected] * 4


def test_the_endpoint_entitys_format_counts_when_the_record_has_none() -> None:
    """As the records item shows the endpoint's format from its entity, the effective input follows it."""
    r = row(input_tokens=900, cache_read_input_tokens=400, provider_endpoint_id="ep")
    ents = {**ENTS, "provider_endpoint": {"ep": {"api_format": "openai:chat"}}}
    assert record_item(r, ents, None)["effective_input_tokens"] == 500
    assert detail_item(r, ents)["endpoint_api_format"] == "openai:chat"
    assert detail_item(r, ents)["effective_input_tokens"] == 500


def test_records_items() -> None:
    r = row(provider_api_key_id="pk", is_stream=True)
    ents = {**ENTS, "provider_api_key": {"pk": {"name": "upstream key"}}}
    admin = record_item(r, ents, {"has_fallback": True})
    assert admin["provider_key_name"] == admin["api_key_name"] == "upstream key"
    assert admin["model_version"] is None
    for name in (*CACHE_SPLIT, *STREAM_FLAGS):
        assert name in admin and admin[name] is None, name
    assert not set(CLIENT) & set(admin)  # Aether leaves them out of an admin item when unknown
    user = user_record_item(r, ents, {"has_fallback": True, "has_retry": True})
    assert user["has_fallback"] is True and "has_retry" not in user
    assert user_record_item(r, ents)["has_fallback"] is False  # no executed attempt recorded
    for name in (*CACHE_SPLIT, *STREAM_FLAGS, *CLIENT):
        assert name in user and user[name] is None, name
    assert not {"provider_key_name", "api_key_name", "provider", "model_version"} & set(user)


def test_detail_flat_fields_beside_the_early_ones() -> None:
    r = row(
        input_tokens=12,
        output_tokens=34,
        total_tokens=46,
        status="failed",
        request_body={"messages": []},
        response_body=None,
        endpoint_api_format="claude:chat",
    )
    d = detail_item(r, ENTS)
    assert (d["input_tokens"], d["output_tokens"]) == (d["tokens"]["input"], d["tokens"]["output"]) == (12, 34)
    assert d["tokens"]["total"] == 46 and d["status"] == "failed" and d["endpoint_api_format"] == "claude:chat"
    assert d["request_body"] == {"messages": []} and d["has_request_body"] is True
    assert d["has_response_body"] is False
    assert d["has_provider_request_body"] is False and d["has_client_response_body"] is False
    for name in (*CACHE_SPLIT, *STREAM_FLAGS, *DETAIL_BODIES, *DETAIL_RECORDS):
        assert name in d and d[name] is None, name
    lean = detail_item(r, ENTS, include_bodies=False)
    assert lean["request_body"] is None and lean["response_body"] is None and lean["has_request_body"] is True
    assert {k: v for k, v in lean.items() if not k.endswith("_body")} == {
        k: v for k, v in d.items() if not k.endswith("_body")
    }
