"""docs/contract.schema.json and usagestream.contract agree: both accept valid samples and refuse bad ones."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from contract_samples import Sample, candidate_samples, entity_samples, mutations, usage_samples
from hypothesis import given, settings
from jsonschema import Draft202012Validator, FormatChecker

from usagestream import contract
from usagestream.errors import InvalidEvent

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "contract.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
# One event's definition alone, so a mutation is not also tried against the other two events of the oneOf.
KIND_VALIDATORS = {
    kind: Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]}, format_checker=FormatChecker())
    for kind, name in (("usage", "UsageEvent"), ("candidate", "CandidateEvent"), ("entity", "EntityEvent"))
}
PARSERS: dict[str, Callable[[bytes | None, bytes | None], Any]] = {
    "usage": contract.parse_usage,
    "candidate": contract.parse_candidate,
    "entity": contract.parse_entity,
}
SAMPLES = {"usage": usage_samples(), "candidate": candidate_samples(), "entity": entity_samples()}

# Rules a JSON Schema cannot state, so only the parser enforces them (Bad.schema_can_tell is False for these):
# - the message key: present, `usage_id` (usage, candidate) or `<entity>:<id>` (entity); usage.id == usage_id;
# - a model_pricing id is `<provider_id>:<model>`, a global_model_pricing id is its model (data vs envelope);
# - an integer written with a fraction or exponent (1.0, 1e0): JSON Schema counts it as an integer;
# - timestamps that match the pattern but name no real instant (2026-02-30) or lie outside the years 2..9998;
#   "format": "date-time" would catch the first only where a validator asserts formats;
# - money with more than 16383 digits after the decimal point.
# Python's `re` lets `$` match before a final newline, which ECMA-262 (the schema's regex dialect) does not;
# the parser uses fullmatch, so "...Z\n" is refused by the parser and ECMA-262 validators, not by jsonschema.


def _schema_accepts(raw: bytes | None, kind: str | None = None) -> bool:
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return False  # not JSON at all: nothing for a schema to accept
    return (VALIDATOR if kind is None else KIND_VALIDATORS[kind]).is_valid(value)


def _parser_accepts(kind: str, key: bytes | None, raw: bytes | None) -> bool:
    try:
        PARSERS[kind](key, raw)
    except InvalidEvent:
        return False
    return True


def test_the_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_states_the_parser_bounds() -> None:
    defs = SCHEMA["$defs"]
    assert defs["timestamp"]["pattern"] == contract.TIMESTAMP_PATTERN
    assert defs["name"]["maxLength"] == contract.MAX_NAME
    assert defs["count"]["maximum"] == contract.MAX_INT32
    assert defs["seq"]["maximum"] == contract.MAX_SEQ
    assert defs["money"] == {
        **defs["money"],
        "type": "number",
        "minimum": 0,
        "maximum": float(contract.MAX_MONEY),
    }
    assert defs["EntityEvent"]["properties"]["id"]["maxLength"] == contract.MAX_ENTITY_ID
    assert set(defs["EntityEvent"]["properties"]["entity"]["enum"]) == contract.ENTITY_KINDS
    no_control = {"pattern": contract.CONTROL_PATTERN}
    assert defs["id"]["not"] == defs["key"]["not"] == defs["EntityEvent"]["properties"]["id"]["not"] == no_control
    assert defs["nullable_id"]["not"] == {"type": "string", **no_control}
    assert defs["id"]["maxLength"] == defs["nullable_id"]["maxLength"] == contract.MAX_NAME


# The schema definition stating each wire shape of the parser.
SHAPES = {
    "UsageEvent": contract._UsageEnvelope,
    "UsageRecord": contract._UsageWire,
    "CandidateEvent": contract._CandidateEnvelope,
    "CandidateRecord": contract._CandidateWire,
    "api_key_data": contract._ApiKeyData,
    "provider_endpoint_data": contract._EndpointData,
    "provider_api_key_data": contract._ProviderKeyData,
    "model_pricing_data": contract._ModelPricingData,
    "global_model_pricing_data": contract._GlobalPricingData,
    "management_token_data": contract._TokenData,
    "user_data": contract._UserData,
    "provider_data": contract._ProviderData,
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_schema_and_the_parser_mark_the_same_fields_as_ids(name: str) -> None:
    ids = {"#/$defs/id", "#/$defs/nullable_id", "#/$defs/key"}
    props = SCHEMA["$defs"][name]["properties"]
    in_schema = {field for field, spec in props.items() if spec.get("$ref") in ids}
    in_parser = set(contract._IDS[SHAPES[name]][0]) if SHAPES[name] in contract._IDS else set()
    assert in_schema == in_parser


@pytest.mark.parametrize("kind", ["usage", "candidate", "entity"])
def test_both_accept_every_valid_sample(kind: str) -> None:
    @settings(max_examples=50, deadline=None)
    @given(SAMPLES[kind])
    def check(sample: Sample) -> None:
        assert _parser_accepts(kind, sample.key, sample.raw)
        errors = [e.message for e in VALIDATOR.iter_errors(json.loads(sample.raw))]  # the root: oneOf picks one
        assert not errors, errors

    check()


@pytest.mark.parametrize("kind", ["usage", "candidate", "entity"])
def test_both_refuse_every_mutation_a_schema_can_see(kind: str) -> None:
    @settings(max_examples=5, deadline=None)
    @given(SAMPLES[kind])
    def check(sample: Sample) -> None:
        for bad in mutations(sample):
            assert not _parser_accepts(kind, bad.key, bad.raw), bad.mutation
            if bad.schema_can_tell:
                assert not _schema_accepts(bad.raw, kind), f"{bad.mutation} on {bad.field}: the schema accepts it"
            else:
                assert _schema_accepts(bad.raw, kind), bad.mutation

    check()


PARSER_ONLY: list[tuple[str, bytes]] = [
    ("integer written as 1.0", b'"v":1.0'),
    ("no such day", b'"created_at":"2026-02-30T01:02:03Z"'),
    ("year before 2", b'"created_at":"0001-06-01T00:00:00Z"'),
    ("money scale", b'"total_cost_usd":1E-16384'),
]


@pytest.mark.parametrize(("name", "patch"), PARSER_ONLY, ids=[name for name, _ in PARSER_ONLY])
def test_the_listed_parser_only_rules_are_the_only_gaps(name: str, patch: bytes) -> None:
    base = _minimal_usage()
    field = patch.split(b":", 1)[0]
    raw = re.sub(re.escape(field) + rb":[^,}]*", lambda _: patch, base, count=1)
    assert raw != base
    assert _schema_accepts(raw), name
    assert not _parser_accepts("usage", b"u1", raw), name


def _minimal_usage() -> bytes:
    usage: dict[str, object] = dict.fromkeys(contract._USAGE_MONEY, 0.5)
    usage.update(id="u1", request_id="r", provider_name="p", model="m", is_stream=True, status="pending")
    usage.update(dict.fromkeys(("input_tokens", "output_tokens", "total_tokens"), 0))
    usage.update(cache_creation_input_tokens=0, cache_read_input_tokens=0, created_at="2026-11-28T01:02:03Z")
    event = {
        "v": 1,
        "kind": "usage",
        "event_id": "e",
        "usage_id": "u1",
        "seq": 1,
        "emitted_at": "2026-11-28T01:02:03Z",
        "usage": usage,
    }
    return json.dumps(event, separators=(",", ":")).encode()
