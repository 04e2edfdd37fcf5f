"""Pure builders of contract messages (docs/contract.md §1 to §4): records in, (kind, key, value) out.

Nothing here does I/O or keeps state: `tracker.py` decides the seq, these functions only encode. Money is
written as the JSON number text of its Decimal (never through a float); timestamps as RFC 3339 with their
UTC offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

import msgspec

from usagestream.publisher.records import CandidateRecord, UsageRecord, money

TopicKind = Literal["usage", "candidates", "entities"]
# The data fields each entity kind must carry (docs/contract.md §4.2); optional ones may be null.
ENTITY_FIELDS: dict[str, frozenset[str]] = {
    "user": frozenset({"username", "role", "is_active", "is_deleted", "used_usd"}),
    "api_key": frozenset({"user_id", "display"}),
    "provider": frozenset({"name", "billing_type"}),
    "provider_endpoint": frozenset({"provider_id", "api_format"}),
    "provider_api_key": frozenset({"provider_id", "name"}),
    "model_pricing": frozenset({"provider_id", "model", "tiered_pricing"}),
    "global_model_pricing": frozenset({"model", "tiered_pricing"}),
    "management_token": frozenset({"token_sha256", "user_id", "is_active"}),
}
ENTITY_KINDS = frozenset(ENTITY_FIELDS)
# Entity data fields that hold money, converted with `money()` so they are written exactly.
_ENTITY_MONEY = frozenset({"quota_usd", "used_usd"})


class Message(NamedTuple):
    """One Kafka message: which contract topic (a Settings field `topic_<kind>`), its key and its value."""

    kind: TopicKind
    key: bytes
    value: bytes | None


class _UsageEnvelope(msgspec.Struct, frozen=True):
    v: int
    kind: str
    event_id: str
    usage_id: str
    seq: int
    emitted_at: datetime
    usage: UsageRecord


class _CandidateEnvelope(msgspec.Struct, frozen=True):
    v: int
    kind: str
    event_id: str
    candidate_id: str
    usage_id: str
    request_id: str
    seq: int
    emitted_at: datetime
    candidate: CandidateRecord


class _EntityEnvelope(msgspec.Struct, frozen=True):
    v: int
    kind: str
    entity: str
    id: str
    seq: int
    emitted_at: datetime
    deleted: bool
    data: Mapping[str, Any] | None


_encoder = msgspec.json.Encoder(decimal_format="number")


def encode(value: object) -> bytes:
    """JSON bytes with Decimals as numbers and datetimes as RFC 3339 (the contract's encoding)."""
    return _encoder.encode(value)


def _aware(*stamps: datetime | None) -> None:
    # msgspec writes a naive datetime without an offset, which every consumer must reject: refuse it here.
    for stamp in stamps:
        if stamp is not None and stamp.tzinfo is None:
            raise ValueError(f"timestamp without a timezone: {stamp!r}")


def _seq(seq: int) -> None:
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq must be an int >= 1, got {seq!r}")


def usage_message(record: UsageRecord, *, seq: int, emitted_at: datetime, event_id: str) -> Message:
    """A UsageEvent carrying the whole `record`, keyed by the usage id."""
    _seq(seq)
    _aware(record.created_at, record.finalized_at, emitted_at)
    body = _UsageEnvelope(1, "usage", event_id, record.id, seq, emitted_at, record)
    return Message("usage", record.id.encode(), _encoder.encode(body))


def candidate_message(
    record: CandidateRecord,
    *,
    candidate_id: str,
    usage_id: str,
    request_id: str,
    seq: int,
    emitted_at: datetime,
    event_id: str,
) -> Message:
    """A CandidateEvent carrying the whole `record`, keyed by the usage id (so it meets its request)."""
    _seq(seq)
    _aware(record.created_at, record.started_at, record.finished_at, emitted_at)
    body = _CandidateEnvelope(1, "candidate", event_id, candidate_id, usage_id, request_id, seq, emitted_at, record)
    return Message("candidates", usage_id.encode(), _encoder.encode(body))


def entity_key(entity: str, entity_id: str) -> bytes:
    """The entities topic key `<entity>:<id>`."""
    if entity not in ENTITY_KINDS:
        raise ValueError(f"unknown entity kind {entity!r}")
    if not entity_id:
        raise ValueError("entity id must not be empty")
    return f"{entity}:{entity_id}".encode()


def entity_message(
    entity: str,
    entity_id: str,
    data: Mapping[str, Any] | None,
    *,
    seq: int,
    emitted_at: datetime,
    deleted: bool = False,
) -> Message:
    """An EntityEvent: an upsert with its `data`, or (deleted=True) a deletion that fences older seqs."""
    key = entity_key(entity, entity_id)
    _seq(seq)
    _aware(emitted_at)
    if data is None and not deleted:
        raise ValueError("an entity upsert needs data")
    if data is not None:
        missing = ENTITY_FIELDS[entity] - data.keys()
        if missing:
            raise ValueError(f"{entity} data lacks {sorted(missing)}")
        data = {k: (money(v) if k in _ENTITY_MONEY and v is not None else v) for k, v in data.items()}
    body = _EntityEnvelope(1, "entity", entity, entity_id, seq, emitted_at, deleted, data)
    return Message("entities", key, _encoder.encode(body))


def entity_tombstone(entity: str, entity_id: str) -> Message:
    """A null value on the compacted entities topic: deletes the entity whatever its seq; Kafka forgets it."""
    return Message("entities", entity_key(entity, entity_id), None)


def model_pricing_id(provider_id: str, model: str) -> str:
    """The id of a `model_pricing` entity."""
    return f"{provider_id}:{model}"
