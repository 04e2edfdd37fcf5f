"""Test traffic written independently of the project's publisher: request lifecycles as contract JSON, with
duplicates and reordering, plus the latest snapshot of each request for the tests' own recounts."""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

MODELS = ["claude-sonnet", "gpt-4o", "gemini-pro", "claude-haiku"]
PROVIDERS = ["p-anthropic", "p-openai", "p-google"]
FORMATS = ["claude:chat", "openai:chat", None]


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(0, 10**9)) / Decimal(10**9)


@dataclass
class Traffic:
    messages: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (kind, key, value)
    latest_usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest_candidates: dict[str, dict[str, Any]] = field(default_factory=dict)


def usage_record(rid: str, created: datetime, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": rid,
        "request_id": rid[:8],
        "user_id": None,
        "api_key_id": None,
        "provider_name": "pending",
        "provider_id": None,
        "provider_endpoint_id": None,
        "provider_api_key_id": None,
        "model": "m",
        "target_model": None,
        "api_format": None,
        "endpoint_api_format": None,
        "has_format_conversion": None,
        "request_type": "chat",
        "is_stream": True,
        "status": "pending",
        "status_code": None,
        "error_message": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "total_tokens": 0,
        "response_time_ms": None,
        "first_byte_time_ms": None,
        "created_at": _ts(created),
        "finalized_at": None,
    }
    for name in ("input", "output", "cache_creation", "cache_read", "request", "total"):
        rec[f"{name}_cost_usd"] = Decimal(0)
        rec[f"actual_{name}_cost_usd"] = Decimal(0)
    rec.update(over)
    return rec


def usage_event(rec: dict[str, Any], seq: int) -> bytes:
    env = {
        "v": 1,
        "kind": "usage",
        "event_id": str(uuid.uuid4()),
        "usage_id": rec["id"],
        "seq": seq,
        "emitted_at": _ts(datetime.now(UTC)),
        "usage": rec,
    }
    return dumps(env)


def _num(value: object) -> Any:
    if isinstance(value, Decimal):
        return f"@@D:{value}@@"
    raise TypeError(value)


_DECIMAL = re.compile(r'"@@D:([0-9.Ee+-]+)@@"')


def dumps(obj: object) -> bytes:
    """JSON with Decimals written as exact number text (json would go through a float)."""
    return _DECIMAL.sub(r"\1", json.dumps(obj, default=_num)).encode()


def candidate_record(created: datetime, **over: Any) -> dict[str, Any]:
    cand: dict[str, Any] = {
        "candidate_index": 0,
        "retry_index": 0,
        "user_id": None,
        "api_key_id": None,
        "provider_id": None,
        "endpoint_id": None,
        "key_id": None,
        "status": "available",
        "skip_reason": None,
        "error_type": None,
        "error_message": None,
        "is_cached": False,
        "status_code": None,
        "latency_ms": None,
        "extra_data": None,
        "created_at": _ts(created),
        "started_at": None,
        "finished_at": None,
    }
    cand.update(over)
    return cand


def candidate_event(cid: str, usage_id: str, seq: int, cand: dict[str, Any]) -> bytes:
    env = {
        "v": 1,
        "kind": "candidate",
        "event_id": str(uuid.uuid4()),
        "candidate_id": cid,
        "usage_id": usage_id,
        "request_id": usage_id[:8],
        "seq": seq,
        "emitted_at": _ts(datetime.now(UTC)),
        "candidate": cand,
    }
    return dumps(env)


def generate(
    seed: int, requests: int, start: datetime, span: timedelta, dup: float = 0.2, swap: float = 0.3
) -> Traffic:
    """Lifecycles pending -> streaming -> final (-> billing fix), with candidates; duplicates and swaps."""
    rng = random.Random(seed)
    out = Traffic()
    for _ in range(requests):
        rid = str(uuid.UUID(int=rng.getrandbits(128)))
        created = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
        user = rng.choice(["u1", "u2", "u3", None])
        base = usage_record(
            rid,
            created,
            user_id=user,
            api_key_id=f"k-{user}" if user else None,
            model=rng.choice(MODELS),
            api_format=rng.choice(FORMATS),
        )
        versions = [dict(base)]
        provider = rng.choice(PROVIDERS)
        streaming = dict(
            base,
            status="streaming",
            provider_name=provider,
            provider_id=provider,
            provider_api_key_id="pk-" + provider,
            rate_multiplier=Decimal("0.8"),
        )
        if rng.random() < 0.9:
            versions.append(streaming)
        final_status = rng.choices(
            ["completed", "failed", "cancelled", "active", "unknown", "sync_fail"], [60, 10, 5, 10, 5, 10]
        )[0]
        if final_status != "active":
            versions.append(_final(rng, streaming, final_status))
            if rng.random() < 0.15:
                versions.append(dict(versions[-1], total_cost_usd=_money(rng), actual_total_cost_usd=_money(rng)))
        events = [("usage", rid.encode(), usage_event(v, i + 1)) for i, v in enumerate(versions)]
        out.latest_usage[rid] = versions[-1]
        events += _candidates(rng, rid, provider, created, out)
        if len(events) > 1 and rng.random() < swap:
            i = rng.randrange(len(events) - 1)
            events[i], events[i + 1] = events[i + 1], events[i]
        if rng.random() < dup:
            events.insert(rng.randrange(len(events) + 1), rng.choice(events))
        out.messages.extend(events)
    return out


def _final(rng: random.Random, streaming: dict[str, Any], status: str) -> dict[str, Any]:
    inp, outp = rng.randint(0, 5000), rng.randint(0, 2000)
    cc, cr = rng.choice([0, rng.randint(1, 900)]), rng.choice([0, 0, rng.randint(1, 3000)])
    costs = {f"{n}_cost_usd": _money(rng) for n in ("input", "output", "cache_creation", "cache_read")}
    total = sum(costs.values(), Decimal(0))
    rec = dict(
        streaming,
        input_tokens=inp,
        output_tokens=outp,
        total_tokens=inp + outp,
        cache_creation_input_tokens=cc,
        cache_read_input_tokens=cr,
        total_cost_usd=total,
        actual_total_cost_usd=total * Decimal("0.8"),
        cache_read_cost_usd=costs["cache_read_cost_usd"],
        cache_creation_cost_usd=costs["cache_creation_cost_usd"],
        response_time_ms=rng.randint(50, 90000),
        status="completed",
        status_code=200,
    )
    if status == "failed":
        rec.update(status="failed", status_code=rng.choice([500, 502, None]), error_message="upstream error")
    elif status == "cancelled":
        rec.update(status="cancelled", status_code=499)
    elif status == "sync_fail":
        rec.update(status="completed", status_code=429, error_message="rate limited")
    elif status == "unknown":
        rec.update(
            status="failed", provider_name="unknown", provider_id=None, status_code=503, error_message="no provider"
        )
    return rec


def _candidates(
    rng: random.Random, rid: str, provider: str, created: datetime, out: Traffic
) -> list[tuple[str, bytes, bytes]]:
    events = []
    for index in range(rng.randint(0, 3)):
        cid = str(uuid.UUID(int=rng.getrandbits(128)))
        cand = candidate_record(created, candidate_index=index, provider_id=rng.choice(PROVIDERS))
        versions = [cand, dict(cand, status="pending")]
        final = rng.choice(["success", "failed", "cancelled", None])
        if final:
            versions.append(dict(cand, status=final, latency_ms=rng.choice([None, rng.randint(10, 9000)])))
        for seq, v in enumerate(versions, 1):
            events.append(("candidate", rid.encode(), candidate_event(cid, rid, seq, v)))
        out.latest_candidates[cid] = versions[-1]
    return events
