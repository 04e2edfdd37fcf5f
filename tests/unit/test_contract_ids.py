"""Ids and the names that form keys hold no control character: a user id with U+001F (the `user_model` key's
separator) could otherwise read another user's rows. Display names and free texts keep theirs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from contract_samples import encode

from usagestream.contract import parse_candidate, parse_entity, parse_usage
from usagestream.errors import InvalidEvent

CONTROLS = ["\x1f", "\x01", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9f"]
LEGITIMATE = ["u-1", "ユーザー", "😀", "a b", "a\u00a0b", "a\u2028b", "a\u200bb", "claude-3.5:sonnet@2024/x"]
NO_CONTROL = "must not contain a control character"


def usage(**over: Any) -> bytes:
    record: dict[str, Any] = {
        "id": "u1",
        "request_id": "r1",
        "provider_name": "p",
        "model": "m",
        "is_stream": False,
        "status": "completed",
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "total_tokens": 3,
        "created_at": "2026-11-28T01:02:03Z",
    }
    for name in ("input", "output", "cache_creation", "cache_read", "request", "total"):
        record[f"{name}_cost_usd"] = record[f"actual_{name}_cost_usd"] = Decimal("0.5")
    envelope = {
        "v": 1,
        "kind": "usage",
        "event_id": "e1",
        "usage_id": "u1",
        "seq": 1,
        "emitted_at": "2026-11-28T01:02:04Z",
    }
    if "event_id" in over:
        envelope["event_id"] = over.pop("event_id")
    record.update(over)
    return encode({**envelope, "usage": record})


def candidate(**over: Any) -> bytes:
    record = {
        "candidate_index": 0,
        "retry_index": 0,
        "status": "success",
        "is_cached": False,
        "created_at": "2026-11-28T01:02:03Z",
        **over,
    }
    envelope = {
        "v": 1,
        "kind": "candidate",
        "event_id": "e1",
        "candidate_id": "c1",
        "usage_id": "u1",
        "request_id": "r1",
        "seq": 1,
        "emitted_at": "2026-11-28T01:02:04Z",
    }
    return encode({**envelope, "candidate": record})


def entity(kind: str, ident: str, data: dict[str, Any]) -> bytes:
    return encode(
        {
            "v": 1,
            "kind": "entity",
            "entity": kind,
            "id": ident,
            "seq": 1,
            "emitted_at": "2026-11-28T01:02:04Z",
            "deleted": False,
            "data": data,
        }
    )


def refused(parse: Any, key: bytes | None, raw: bytes | None, path: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse(key, raw)
    assert caught.value.reason.startswith(f"{path} {NO_CONTROL}"), caught.value.reason


USAGE_IDS = [
    "request_id",
    "user_id",
    "api_key_id",
    "provider_id",
    "provider_endpoint_id",
    "provider_api_key_id",
    "model",
    "target_model",
    "api_format",
    "endpoint_api_format",
    "request_type",
]


def test_a_user_id_holding_the_key_separator_is_dead_lettered() -> None:
    refused(parse_usage, b"u1", usage(user_id="a\x1fb"), "usage.user_id")
    assert parse_usage(b"u1", usage(user_id="a")).usage.user_id == "a"


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize("name", USAGE_IDS)
def test_every_usage_id_and_key_part_refuses_control_characters(name: str, control: str) -> None:
    refused(parse_usage, b"u1", usage(**{name: f"x{control}y"}), f"usage.{name}")
    refused(parse_usage, b"u1", usage(**{name: f"xy{control}"}), f"usage.{name}")  # also at the end


def test_envelope_ids_refuse_control_characters() -> None:
    refused(parse_usage, b"u1", usage(event_id="e\n"), "event_id")
    raw = usage().replace(b'"u1"', b'"u\\u001f1"')  # usage_id and usage.id, and the key agrees
    refused(parse_usage, b"u\x1f1", raw, "usage_id")
    for name in ("user_id", "api_key_id", "provider_id", "endpoint_id", "key_id"):
        refused(parse_candidate, b"u1", candidate(**{name: "a\x1fb"}), f"candidate.{name}")
    raw = candidate().replace(b'"candidate_id":"c1"', b'"candidate_id":"c\\u0085"')
    refused(parse_candidate, b"u1", raw, "candidate_id")


@pytest.mark.parametrize("control", CONTROLS)
def test_candidate_ids_refuse_control_characters_written_raw_or_escaped(control: str) -> None:
    # The parser skips the per-id scan for a message with no backslash, raw DEL or raw U+0080..U+009F byte:
    # each way a control character can be written must still reach it.
    raw = candidate(key_id=f"k{control}")
    assert (b"\\" in raw) == (control < " ")  # below U+0020 escaped, DEL and C1 written as they are
    refused(parse_candidate, b"u1", raw, "candidate.key_id")
    refused(parse_candidate, b"u1", raw.replace(b'"c1"', encode(f"c{control}")), "candidate_id")


def test_a_control_byte_written_raw_inside_a_string_is_not_json() -> None:
    for byte in range(0x20):
        raw = candidate(key_id="k").replace(b'"key_id":"k"', b'"key_id":"k' + bytes([byte]) + b'"')
        with pytest.raises(InvalidEvent, match="not valid JSON"):
            parse_candidate(b"u1", raw)


@pytest.mark.parametrize(
    ("kind", "ident", "data", "path"),
    [
        ("api_key", "k1", {"user_id": "a\x1fb", "display": "sk-..."}, "data.user_id"),
        ("provider_endpoint", "e1", {"provider_id": "p\x1f", "api_format": "claude:chat"}, "data.provider_id"),
        ("provider_endpoint", "e1", {"provider_id": "p", "api_format": "claude:chat\n"}, "data.api_format"),
        ("provider_api_key", "pk", {"provider_id": "p\x7f", "name": "n"}, "data.provider_id"),
        ("model_pricing", "p:m", {"provider_id": "p", "model": "m\x1f", "tiered_pricing": {"tiers": []}}, "data.model"),
        ("global_model_pricing", "m", {"model": "m\x1f", "tiered_pricing": {"tiers": []}}, "data.model"),
        (
            "global_model_pricing",
            "m\x1f",
            {"model": "m\x1f", "tiered_pricing": {"tiers": []}},
            "entity id in the message key",
        ),
        ("management_token", "t", {"token_sha256": "a" * 64, "user_id": "u\x1f", "is_active": True}, "data.user_id"),
    ],
)
def test_entity_ids_refuse_control_characters(kind: str, ident: str, data: dict[str, Any], path: str) -> None:
    key = f"{kind}:{ident}".encode()
    refused(parse_entity, key, entity(kind, ident, data), path)


def test_an_entity_key_refuses_control_characters_also_in_a_tombstone() -> None:
    refused(parse_entity, b"user:a\x1fb", None, "entity id in the message key")
    provider = {"name": "P", "billing_type": "x"}
    refused(parse_entity, b"provider:p\n", entity("provider", "p\n", provider), "entity id in the message key")
    assert parse_entity(b"user:a", None).deleted


@pytest.mark.parametrize("ident", LEGITIMATE)
def test_legitimate_ids_pass(ident: str) -> None:
    event = parse_usage(b"u1", usage(user_id=ident, model=ident, api_format=ident))
    assert (event.usage.user_id, event.usage.model, event.usage.api_format) == (ident, ident, ident)
    assert parse_entity(f"user:{ident}".encode(), None).id == ident


def test_nul_in_an_id_reads_as_the_replacement_character_as_everywhere() -> None:
    assert parse_usage(b"u1", usage(user_id="a\x00b")).usage.user_id == "a\ufffdb"  # docs/contract-notes.md, U+0000


def test_display_names_and_free_texts_keep_their_control_characters() -> None:
    parsed = parse_usage(b"u1", usage(provider_name="P\tQ", error_message="line 1\nline 2", request_body="a\x1fb"))
    assert (parsed.usage.provider_name, parsed.usage.error_message) == ("P\tQ", "line 1\nline 2")
    user = {"username": "ann\tb", "email": None, "role": "user", "is_active": True, "is_deleted": False, "used_usd": 0}
    assert parse_entity(b"user:u", entity("user", "u", user)).data == {**user, "quota_usd": None, "used_usd": 0}
    key = {"user_id": "u", "name": "my\x1fkey", "display": "sk\n"}
    assert parse_entity(b"api_key:k", entity("api_key", "k", key)).data == key
    c = parse_candidate(b"u1", candidate(error_message="a\nb", skip_reason="\x1f"))
    assert (c.candidate.error_message, c.candidate.skip_reason) == ("a\nb", "\x1f")
