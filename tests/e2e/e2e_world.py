"""The end-to-end dataset (entities, requests, provider attempts as contract events) and the tests' own
recounts of every endpoint, written from docs/reference-api.md and docs/contract.md §7 alone: nothing here
calls the project's aggregation, range or query code."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from eventgen import candidate_event, dumps, usage_event, usage_record

Rec = dict[str, Any]
DELETED_USER = "已删除用户"
TIMEOUT_MESSAGE = "request timed out"
LONG_MODEL = "long-model-" + "y" * 100
ODD_MODEL = "gpt_x%y"
LONG_KEY_NAME = "A" * 99 + "-key"
MODELS = ["claude-sonnet", "gpt-4o", "gemini-pro", "claude-haiku"]
# (provider_id, provider_name written by the gateway at the time, upstream key, endpoint)
PROVIDERS = [
    ("p-anth", "Anthropic Old", "pk-anth", "ep-anth"),
    ("p-oai", "OpenAI", "pk-oai", "ep-oai"),
    ("p-goog", "Gemini_100%", "pk-goog", None),
    ("p-gone", "Vanished", None, None),  # no provider entity: aggregations say "Unknown"
]
USER_KEYS = {
    "u-admin": [None],
    "u-alice": ["k-alice1", "k-alice2"],
    "u-bob": ["k-bob", "k-old"],
    "u-carol": ["k-carol", "k-carol2"],
    "u-dave": ["k-dave"],
    "u-eve": [None],
    "u-frank": [None],
    "u-gina": [None],
    None: [None],
}
MGMT_TOKEN = "ae_e2e_management_token"

TIERS_ANTH = {
    "tiers": [
        {
            "up_to": 2000,
            "input_price_per_1m": Decimal("3"),
            "output_price_per_1m": Decimal("15"),
            "cache_creation_price_per_1m": Decimal("3.75"),
            "cache_read_price_per_1m": Decimal("0.3"),
        },
        {"up_to": None, "input_price_per_1m": Decimal("6"), "output_price_per_1m": Decimal("22.5")},
    ]
}
TIERS_GLOBAL_SONNET = {"tiers": [{"up_to": None, "input_price_per_1m": Decimal("9"), "output_price_per_1m": 1}]}
TIERS_GPT = {
    "tiers": [
        {"up_to": 128000, "input_price_per_1m": Decimal("2.5"), "output_price_per_1m": Decimal("10")},
        {"up_to": None, "input_price_per_1m": Decimal("5"), "output_price_per_1m": Decimal("20")},
    ]
}


def ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def money(rng: random.Random, scale: int = 10**12) -> Decimal:
    return Decimal(rng.randint(0, 5 * scale)) / Decimal(scale)


def entity_message(
    kind: str, eid: str, seq: int, data: dict[str, Any] | None, deleted: bool = False
) -> tuple[str, bytes, bytes]:
    env = {
        "v": 1,
        "kind": "entity",
        "entity": kind,
        "id": eid,
        "seq": seq,
        "emitted_at": ts(datetime.now(UTC)),
        "deleted": deleted,
        "data": data,
    }
    return ("entity", f"{kind}:{eid}".encode(), dumps(env))


@dataclass
class World:
    """What was published, and what every view must therefore say."""

    now: datetime
    tz: ZoneInfo
    timeout_s: int
    entities: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)  # None = deleted
    usage: dict[str, Rec] = field(default_factory=dict)  # latest published snapshot per usage id
    usage_seq: dict[str, int] = field(default_factory=dict)
    cands: dict[str, Rec] = field(default_factory=dict)  # latest candidate (+ "usage_id", "seq")
    entity_seq: dict[tuple[str, str], int] = field(default_factory=dict)
    messages: list[tuple[str, bytes, bytes | None]] = field(default_factory=list)
    named: dict[str, str] = field(default_factory=dict)

    # --- publishing ---------------------------------------------------------------------------------------
    def entity(
        self,
        kind: str,
        eid: str,
        data: dict[str, Any] | None,
        *,
        deleted: bool = False,
        tombstone: bool = False,
    ) -> None:
        key = (kind, eid)
        if tombstone:
            self.messages.append(("entity", f"{kind}:{eid}".encode(), None))
            self.entities[key] = None
            return
        seq = self.entity_seq.get(key, 0) + 1
        self.entity_seq[key] = seq
        self.messages.append(entity_message(kind, eid, seq, data, deleted))
        self.entities[key] = None if deleted else data

    def request(self, versions: list[Rec]) -> list[tuple[str, bytes, bytes]]:
        rid = versions[0]["id"]
        out = []
        for v in versions:
            seq = self.usage_seq.get(rid, 0) + 1
            self.usage_seq[rid] = seq
            out.append(("usage", rid.encode(), usage_event(v, seq)))
        self.usage[rid] = versions[-1]
        self.messages.extend(out)
        return out

    def candidate(self, usage_id: str, versions: list[Rec]) -> None:
        cid = str(uuid.uuid4())
        for seq, v in enumerate(versions, 1):
            self.messages.append(("candidate", usage_id.encode(), candidate_event(cid, usage_id, seq, v)))
        self.cands[cid] = dict(versions[-1], usage_id=usage_id, seq=len(versions))

    # --- what the views see --------------------------------------------------------------------------------
    def ent(self, kind: str, eid: str | None) -> dict[str, Any] | None:
        return self.entities.get((kind, eid)) if eid is not None else None

    def effective(self, r: Rec) -> Rec:
        """The worker times out a request still active `timeout_s` after created_at (CONTRACT 7)."""
        if r["status"] in ("pending", "streaming") and self.now - parse_ts(r["created_at"]) > timedelta(
            seconds=self.timeout_s
        ):
            return dict(r, status="failed", status_code=504, error_message=TIMEOUT_MESSAGE)
        return r

    def rows(self) -> list[Rec]:
        return [self.effective(r) for r in self.usage.values()]

    def row(self, rid: str) -> Rec:
        return self.effective(self.usage[rid])

    def timed_out_ids(self) -> set[str]:
        return {k for k, r in self.usage.items() if self.effective(r) is not r}

    def active_ids(self) -> set[str]:
        return {r["id"] for r in self.rows() if r["status"] in ("pending", "streaming")}

    def executed(self) -> list[Rec]:
        return [c for c in self.cands.values() if c["status"] in ("success", "failed")]

    def expected_entity_state(self) -> str:
        deleted = sum(1 for v in self.entities.values() if v is None)
        live_seq = sum(self.entity_seq[k] for k, v in self.entities.items() if v is not None)
        return f"{deleted}/{live_seq}"


# ----------------------------------------------------------------------------------------------------------
# The dataset
# ----------------------------------------------------------------------------------------------------------
def _entities(w: World) -> None:
    users = {
        "u-admin": ("root", "root@example.com", "admin", True, False, None, Decimal(0)),
        "u-alice": (
            "alice_w",
            "alice@example.com",
            "user",
            True,
            False,
            Decimal("10.5"),
            Decimal("3.141592653589793238"),
        ),
        "u-bob": ("bob%pct", None, "user", True, False, None, Decimal("0.000000000001")),
        "u-carol": ("Carol", "carol@example.com", "user", True, False, Decimal("100"), Decimal("7")),
        "u-dave": ("dave", "dave@example.com", "user", True, False, None, Decimal(0)),
        "u-eve": ("eve", "eve@example.com", "admin", False, False, None, Decimal(0)),
        "u-frank": ("frank", None, "user", True, True, None, Decimal(0)),
        "u-gina": ("gina", None, "user", True, False, None, Decimal(0)),
    }
    for uid, (name, email, role, active, deleted, quota, used) in users.items():
        w.entity(
            "user",
            uid,
            {
                "username": name,
                "email": email,
                "role": role,
                "is_active": active,
                "is_deleted": deleted,
                "quota_usd": quota,
                "used_usd": used,
            },
        )
    w.entity("user", "u-dave", None, deleted=True)  # deleted user: "已删除用户"
    w.entity("user", "u-gina", None, tombstone=True)
    keys = {
        "k-alice1": ("u-alice", "alice laptop"),
        "k-alice2": ("u-alice", "ci_bot"),
        "k-bob": ("u-bob", "bob key"),
        "k-old": ("u-bob", "old key"),
        "k-carol": ("u-carol", None),
        "k-carol2": ("u-carol", LONG_KEY_NAME),
        "k-dave": ("u-dave", "dave key"),
    }
    for kid, (uid, name) in keys.items():
        w.entity("api_key", kid, {"user_id": uid, "name": name, "display": f"sk-{kid}...{len(kid):04d}"})
    w.entity("api_key", "k-old", None, tombstone=True)
    w.entity("provider", "p-anth", {"name": "Anthropic Old", "billing_type": "pay_as_you_go"})
    w.entity("provider", "p-oai", {"name": "OpenAI", "billing_type": "pay_as_you_go"})
    w.entity("provider", "p-goog", {"name": "Gemini_100%", "billing_type": "free_tier"})
    w.entity("provider", "p-anth", {"name": "Anthropic", "billing_type": "pay_as_you_go"})  # renamed
    w.entity("provider_endpoint", "ep-anth", {"provider_id": "p-anth", "api_format": "claude:chat"})
    w.entity("provider_endpoint", "ep-oai", {"provider_id": "p-oai", "api_format": "openai:chat"})
    for pk, pid in (("pk-anth", "p-anth"), ("pk-oai", "p-oai"), ("pk-goog", "p-goog")):
        w.entity("provider_api_key", pk, {"provider_id": pid, "name": pk + "-upstream"})
    w.entity(
        "model_pricing",
        "p-anth:claude-sonnet",
        {"provider_id": "p-anth", "model": "claude-sonnet", "tiered_pricing": TIERS_ANTH},
    )
    w.entity(
        "global_model_pricing",
        "claude-sonnet",
        {"model": "claude-sonnet", "tiered_pricing": TIERS_GLOBAL_SONNET},
    )
    w.entity("global_model_pricing", "gpt-4o", {"model": "gpt-4o", "tiered_pricing": TIERS_GPT})
    w.entity(
        "management_token",
        "mt-1",
        {
            "token_sha256": hashlib.sha256(MGMT_TOKEN.encode()).hexdigest(),
            "user_id": "u-admin",
            "is_active": True,
            "expires_at": None,
            "allowed_ips": None,
        },
    )


FINALS = ["completed"] * 8 + ["failed", "failed_nocode", "cancelled", "sync_fail", "unknown", "completed_fix"]


def lifecycle(
    rng: random.Random,
    rid: str,
    created: datetime,
    *,
    user: str | None,
    key: str | None,
    final: str,
    provider: tuple[str, str, str | None, str | None] | None = None,
    model: str | None = None,
    api_format: Any = "random",
    **extra: Any,
) -> list[Rec]:
    """pending -> streaming -> final (-> cost correction) snapshots of one request."""
    provider = provider or rng.choice(PROVIDERS)
    pid, pname, pkey, endpoint = provider
    fmt = rng.choice(["claude:chat", "openai:chat", "CLAUDE", None]) if api_format == "random" else api_format
    base = usage_record(
        rid,
        created,
        user_id=user,
        api_key_id=key,
        model=model or rng.choice(MODELS),
        api_format=fmt,
        is_stream=rng.random() < 0.6,
        request_id="rq-" + rid[:8],
        request_headers={"authorization": "Bearer ***", "x-n": rng.randint(0, 9)},
        request_body={"messages": [{"role": "user", "content": "hi " + rid[:4]}]},
        request_metadata={"model_version": "v" + str(rng.randint(1, 3))},
    )
    versions = [base]
    if final == "pending":
        return versions
    conv = None if fmt is None else rng.choice([True, False, None])
    streaming = dict(
        base,
        status="streaming",
        provider_name=pname,
        provider_id=pid,
        provider_api_key_id=pkey,
        provider_endpoint_id=endpoint,
        target_model=base["model"] + "-2026",
        endpoint_api_format=rng.choice(["claude:chat", "openai:chat", None]),
        has_format_conversion=conv,
        rate_multiplier=rng.choice([Decimal("0.8"), Decimal("1.25"), None]),
        first_byte_time_ms=rng.choice([None, rng.randint(5, 3000)]),
    )
    versions.append(streaming)
    if final == "streaming":
        versions[-1].update(extra)
        return versions
    inp, outp = rng.randint(0, 5000), rng.randint(0, 2000)
    cc, cr = rng.choice([0, rng.randint(1, 900)]), rng.choice([0, 0, rng.randint(1, 3000)])
    costs = {n: money(rng) for n in ("input", "output", "cache_creation", "cache_read", "request")}
    total = sum(costs.values(), Decimal(0))
    rate = streaming["rate_multiplier"] or Decimal(1)
    rec = dict(
        streaming,
        input_tokens=inp,
        output_tokens=outp,
        total_tokens=inp + outp,
        cache_creation_input_tokens=cc,
        cache_read_input_tokens=cr,
        status="completed",
        status_code=200,
        response_time_ms=rng.randint(50, 90000),
        finalized_at=ts(created + timedelta(seconds=30)),
        input_price_per_1m=Decimal("3"),
        output_price_per_1m=Decimal("15.000001"),
        cache_creation_price_per_1m=rng.choice([None, Decimal("3.75")]),
        cache_read_price_per_1m=Decimal("0.3"),
        price_per_request=rng.choice([None, Decimal("0.01")]),
        response_body={"id": "resp-" + rid[:6], "usage": {"in": inp}},
        response_headers={"x-upstream": "1"},
        provider_request_headers={"x-p": "***"},
        client_response_headers={"content-type": "application/json"},
    )
    for n, c in costs.items():
        rec[f"{n}_cost_usd"] = c
        rec[f"actual_{n}_cost_usd"] = c * rate
    rec["total_cost_usd"], rec["actual_total_cost_usd"] = total, total * rate
    if final == "failed":
        rec.update(status="failed", status_code=502, error_message="upstream error")
    elif final == "failed_nocode":
        rec.update(status="failed", status_code=None, error_message="stream broke")
    elif final == "cancelled":
        rec.update(status="cancelled", status_code=499)
    elif final == "sync_fail":
        rec.update(status="completed", status_code=429, error_message="rate limited")
    elif final == "unknown":
        rec.update(
            status="failed",
            provider_name="unknown",
            provider_id=None,
            provider_api_key_id=None,
            provider_endpoint_id=None,
            status_code=503,
            error_message="no provider",
        )
    rec.update(extra)
    versions.append(rec)
    if final == "completed_fix":
        versions.append(dict(rec, total_cost_usd=money(rng), actual_total_cost_usd=money(rng)))
    return versions


def attempts(w: World, rng: random.Random, usage_id: str, versions: list[Rec], pattern: str | None = None) -> None:
    """Candidate slots of a request: single, fallback, retry, rectified or noise (never-executed states)."""
    last = versions[-1]
    if last["provider_id"] is None and last["provider_name"] in ("pending",):
        return
    pattern = pattern or rng.choice(["single", "fallback", "retry", "rectified", "noise", "none"])
    if pattern == "none":
        return
    created = parse_ts(last["created_at"]) + timedelta(milliseconds=rng.choice([0, 400, 2000]))
    pid = last["provider_id"] or "p-oai"
    ok = "success" if last["status"] == "completed" else "failed"

    def slot(index: int, retry: int, provider: str, final: str | None, extra: dict[str, Any] | None = None) -> None:
        cand = {
            "candidate_index": index,
            "retry_index": retry,
            "user_id": last["user_id"],
            "api_key_id": last["api_key_id"],
            "provider_id": provider,
            "endpoint_id": None,
            "key_id": None,
            "status": "available",
            "skip_reason": None,
            "error_type": None,
            "error_message": None,
            "is_cached": retry > 0,
            "status_code": None,
            "latency_ms": None,
            "extra_data": None,
            "created_at": ts(created),
            "started_at": None,
            "finished_at": None,
        }
        vs = [cand]
        if final == "skipped":
            vs = [dict(cand, status="skipped", skip_reason="concurrency")]
        elif final is not None:
            vs.append(dict(cand, status="pending", started_at=ts(created)))
            vs.append(
                dict(
                    cand,
                    status=final,
                    latency_ms=rng.choice([None, rng.randint(10, 9000)]),
                    status_code=200 if final == "success" else 500,
                    extra_data=extra,
                    finished_at=ts(created + timedelta(seconds=2)),
                )
            )
        w.candidate(usage_id, vs)

    if pattern == "single":
        slot(0, 0, pid, ok)
    elif pattern == "fallback":
        slot(0, 0, "p-goog" if pid != "p-goog" else "p-oai", "failed")
        slot(1, 0, pid, ok)
    elif pattern == "retry":
        slot(0, 0, pid, "failed")
        slot(0, 1, pid, ok)
    elif pattern == "rectified":
        slot(0, 0, pid, ok, {"rectified": True, "stream_completed": True})
    elif pattern == "noise":
        slot(0, 0, "p-oai", "skipped")
        slot(1, 0, "p-goog", None)
        slot(2, 0, pid, "cancelled")
        slot(3, 0, pid, ok)


def build_world(now: datetime, tz: ZoneInfo, timeout_s: int, seed: int = 20261128) -> World:
    rng = random.Random(seed)
    w = World(now=now, tz=tz, timeout_s=timeout_s)
    _entities(w)
    users = ["u-alice", "u-bob", "u-carol", "u-dave", "u-eve", "u-frank", "u-gina", "u-admin", None]

    def rid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128)))

    def who() -> tuple[str | None, str | None]:
        u = rng.choice(users)
        return u, rng.choice(USER_KEYS[u])

    def at(offset_s: float) -> datetime:
        return now - timedelta(seconds=_avoid_edges(offset_s))

    def add(created: datetime, final: str, pattern: str | None = None, **kw: Any) -> str:
        ident = kw.pop("rid", None) or rid()
        if "user" not in kw:
            kw["user"], kw["key"] = who()
        versions = lifecycle(rng, ident, created, final=final, **kw)
        if rng.random() < 0.25 and len(versions) > 2:  # the final snapshot overtakes the streaming one
            msgs = w.request(versions)
            w.messages[-len(msgs) :] = [msgs[0], msgs[2], msgs[1], *msgs[3:]]
        else:
            w.request(versions)
        attempts(w, rng, ident, versions, pattern)
        return ident

    # recent history for the cache analyses: regular users with varied gaps over the last ~20 hours
    for user, keys in (("u-alice", ["k-alice1", "k-alice2"]), ("u-bob", ["k-bob"]), ("u-carol", ["k-carol"])):
        offset = 60.0 + rng.uniform(0, 300)
        for _ in range(40):
            final = rng.choice(["completed"] * 6 + ["sync_fail", "failed", "cancelled"])
            add(at(offset), final, user=user, key=rng.choice(keys))
            offset += rng.choice([20, 90, 400, 1000, 2500, 5000]) * rng.uniform(0.8, 1.2)
    # active requests of the last 2 hours (more than /active's 50)
    for i in range(56):
        u, k = who()
        fmt, endpoint_fmt, conv = rng.choice(
            [
                ("claude:chat", "claude:chat", None),
                ("openai:chat", "claude:chat", None),
                ("claude:chat", "openai:chat", True),
                (None, None, None),
                ("openai:chat", "openai:chat", False),
                ("claude:cli", "claude:chat", None),
            ]
        )
        final = "pending" if i % 3 == 0 else "streaming"
        add(
            at(rng.uniform(30, 7000)),
            final,
            user=u,
            key=k,
            api_format=fmt,
            endpoint_api_format=endpoint_fmt,
            has_format_conversion=conv,
        )
    # ten days of history, every outcome
    for _ in range(90):
        add(at(rng.uniform(21 * 3600, 10 * 86400)), rng.choice(FINALS))
    # the special requests the tests name
    w.named["odd_model"] = add(at(3 * 86400 + 17.25), "completed", model=ODD_MODEL, user="u-bob", key="k-bob")
    w.named["long_model"] = add(at(4 * 86400 + 3.5), "completed", model=LONG_MODEL, user="u-carol", key="k-carol2")
    w.named["long_key"] = add(at(4 * 86400 + 9.5), "completed", user="u-carol", key="k-carol2")
    w.named["dave"] = add(at(2 * 86400 + 61.7), "completed", user="u-dave", key="k-dave")
    w.named["old_key"] = add(at(2 * 86400 + 71.7), "completed", user="u-bob", key="k-old")
    w.named["tiered"] = add(
        at(5 * 86400 + 1.1),
        "completed",
        user="u-alice",
        key="k-alice1",
        model="claude-sonnet",
        provider=PROVIDERS[0],
        input_tokens=1500,
        cache_creation_input_tokens=300,
        cache_read_input_tokens=400,
    )
    w.named["global_priced"] = add(
        at(5 * 86400 + 8.1),
        "completed",
        user="u-bob",
        key="k-bob",
        model="claude-sonnet",
        provider=PROVIDERS[1],
    )
    w.named["gpt"] = add(at(5 * 86400 + 15.9), "completed", model="gpt-4o", provider=PROVIDERS[2])
    w.named["unknown"] = add(at(5 * 86400 + 22.2), "unknown", user="u-alice", key="k-alice2")
    w.named["no_format"] = add(
        at(6 * 86400 + 5.5),
        "completed",
        user="u-carol",
        key="k-carol",
        provider=PROVIDERS[0],
        api_format=None,
        endpoint_api_format=None,
        has_format_conversion=None,
    )
    w.named["video"] = add(
        at(6 * 86400 + 44.4),
        "completed",
        user="u-alice",
        key="k-alice1",
        request_type="video",
        request_metadata={
            "billing_snapshot": {
                "rule_name": "per-second",
                "expression": "d*p",
                "status": "settled",
                "cost": 5,
                "dimensions_used": {
                    "duration_seconds": 5,
                    "video_resolution_key": "720p",
                    "video_price_per_second": 1,
                },
            }
        },
    )
    tie = at(7 * 86400 + 0.123456)
    w.named["tie_a"] = add(tie, "completed", rid="ffffffff-0000-4000-8000-00000000000a")
    w.named["tie_b"] = add(tie, "failed", rid="ffffffff-0000-4000-8000-00000000000b")
    w.named["edge"] = add(at(8 * 86400 + 0.5), "completed", pattern="single", provider=PROVIDERS[1])
    w.named["edge_fallback"] = add(at(8 * 86400 + 100.5), "completed", pattern="fallback")
    w.named["edge_retry"] = add(at(8 * 86400 + 200.5), "failed", pattern="retry")
    w.named["edge_rectified"] = add(at(8 * 86400 + 300.5), "completed", pattern="rectified")
    # timed out: still active long after the timeout (the worker makes them failed / 504)
    w.named["stale_pending"] = add(at(timeout_s + 3600), "pending", user="u-alice", key="k-alice1")
    w.named["stale_streaming"] = add(
        at(timeout_s + 5 * 86400),
        "streaming",
        user="u-bob",
        key="k-bob",
        provider=PROVIDERS[0],
        model="claude-haiku",
    )
    # older history: outside the default 30 days, inside or outside the heatmap's year
    for days in (31.5, 33.2, 45.7, 100.3, 200.9, 300.1, 400.4):
        add(at(days * 86400), rng.choice(FINALS))
    _edge_candidate(w)
    return w


def _edge_candidate(w: World) -> None:
    """The named `edge` request's single attempt was planned 2 s after the request started."""
    rid = w.named["edge"]
    start = parse_ts(w.usage[rid]["created_at"])
    for cid, c in w.cands.items():
        if c["usage_id"] == rid:
            assert parse_ts(c["created_at"]) in (
                start,
                start + timedelta(milliseconds=400),
                start + timedelta(seconds=2),
            )
            w.named["edge_candidate"] = cid
    versions = [dict(c, created_at=ts(start + timedelta(seconds=2))) for c in [w.cands[w.named["edge_candidate"]]]]
    # republish it with a higher seq and the later planning time
    c = versions[0]
    body = {k: v for k, v in c.items() if k not in ("usage_id", "seq")}
    seq = c["seq"] + 1
    w.messages.append(("candidate", rid.encode(), candidate_event(w.named["edge_candidate"], rid, seq, body)))
    w.cands[w.named["edge_candidate"]] = dict(body, usage_id=rid, seq=seq)


BOUNDARIES_H = (24, 168, 720, 365 * 24, 364 * 24)


def _avoid_edges(offset_s: float) -> float:
    """Keep request starts 30+ minutes away from the windows the tests ask for (hours=24/168/720, 30 days,
    a year)."""
    for hours in BOUNDARIES_H:
        edge = hours * 3600
        if abs(offset_s - edge) < 1800:
            return offset_s + 3600
    return offset_s


# ----------------------------------------------------------------------------------------------------------
# Recounts (docs/reference-api.md §1.4, §3 and §4; docs/contract.md §7.6)
# ----------------------------------------------------------------------------------------------------------
def in_range(r: Rec, start: datetime | None, end: datetime | None) -> bool:
    t = parse_ts(r["created_at"])
    return (start is None or t >= start) and (end is None or t <= end)


def is_error(r: Rec) -> bool:
    return (r["status_code"] is not None and r["status_code"] >= 400) or r["error_message"] is not None


def finished(r: Rec) -> bool:
    return r["status"] not in ("pending", "streaming")


def reached(r: Rec) -> bool:
    return r["provider_name"] not in ("unknown", "pending")


def d(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def stats(w: World, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    rows = [r for r in w.rows() if in_range(r, start, end)]
    n = len(rows)
    rts = [r["response_time_ms"] for r in rows if r["response_time_ms"] is not None]
    errors = sum(1 for r in rows if is_error(r))
    return {
        "total_requests": n,
        "total_tokens": sum(r["total_tokens"] for r in rows),
        "total_cost": sum((d(r["total_cost_usd"]) for r in rows), Decimal(0)),
        "total_actual_cost": sum((d(r["actual_total_cost_usd"]) for r in rows), Decimal(0)),
        "avg_response_time": round(sum(rts) / len(rts) / 1000, 2) if rts else 0,
        "error_count": errors,
        "error_rate": round(errors / n * 100, 2) if n else 0,
        "cache_stats": {
            "cache_creation_tokens": sum(r["cache_creation_input_tokens"] for r in rows),
            "cache_read_tokens": sum(r["cache_read_input_tokens"] for r in rows),
            "cache_creation_cost": sum((d(r["cache_creation_cost_usd"]) for r in rows), Decimal(0)),
            "cache_read_cost": sum((d(r["cache_read_cost_usd"]) for r in rows), Decimal(0)),
        },
    }


def _top(items: Iterable[dict[str, Any]], key: str, count: str, limit: int) -> list[dict[str, Any]]:
    """count desc, then key asc (the deliberate tie-breaker), limited."""
    return sorted(items, key=lambda i: (-i[count], i[key]))[:limit]


def aether_round2(x: float) -> float:
    """Aether's round_to(x, 2) for x >= 0: half away from zero."""
    return math.floor(x * 100 + 0.5) / 100


def token_breakdown(rows: list[Rec]) -> dict[str, Any]:
    """Today's Aether's token fields of a group (docs/reference-api.md §9.3), record by record: OpenAI and Gemini
    formats (the record's endpoint format first) count the cache reads inside the input."""
    eff = ctx = 0
    for r in rows:
        fmt = r["endpoint_api_format"] or r["api_format"] or ""
        inside = fmt.split(":")[0].strip().lower() in ("openai", "gemini", "google")
        inp, cc, cr = r["input_tokens"], r["cache_creation_input_tokens"], r["cache_read_input_tokens"]
        eff += max(inp - cr, 0) if inside else inp
        ctx += max(inp, cr) if inside else inp + cc + cr
    cr_sum = sum(r["cache_read_input_tokens"] for r in rows)
    return {
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cache_creation_tokens": sum(r["cache_creation_input_tokens"] for r in rows),
        "cache_read_tokens": cr_sum,
        "effective_input_tokens": eff,
        "total_input_context": ctx,
        "cache_hit_rate": aether_round2(cr_sum / ctx * 100) if ctx else 0.0,
    }


def agg_model_or_format(
    w: World, group_by: str, start: datetime | None, end: datetime | None, limit: int
) -> list[dict[str, Any]]:
    groups: dict[str, list[Rec]] = defaultdict(list)
    for r in w.rows():
        if not (in_range(r, start, end) and finished(r) and reached(r)):
            continue
        if group_by == "api_format" and r["api_format"] is None:
            continue
        groups[r[group_by]].append(r)
    out = []
    for k, rows in groups.items():
        item: dict[str, Any] = {
            group_by: k if group_by == "model" else (k or "unknown"),
            "request_count": len(rows),
            "total_tokens": sum(r["total_tokens"] for r in rows),
            "total_cost": sum((d(r["total_cost_usd"]) for r in rows), Decimal(0)),
            "actual_cost": sum((d(r["actual_total_cost_usd"]) for r in rows), Decimal(0)),
        }
        if group_by == "api_format":
            rts = [r["response_time_ms"] for r in rows if r["response_time_ms"] is not None]
            item["avg_response_time_ms"] = sum(rts) / len(rts) if rts else 0.0
        item.update(token_breakdown(rows))
        out.append(item)
    return _top(out, group_by, "request_count", limit)


def agg_user(w: World, start: datetime | None, end: datetime | None, limit: int) -> list[dict[str, Any]]:
    groups: dict[str, list[Rec]] = defaultdict(list)
    for r in w.rows():
        if in_range(r, start, end) and w.ent("user", r["user_id"]) is not None:
            groups[r["user_id"]].append(r)
    out = []
    for uid, rows in groups.items():
        u = w.ent("user", uid) or {}
        out.append(
            {
                "user_id": uid,
                "email": u["email"],
                "username": u["username"],
                "request_count": len(rows),
                "total_tokens": sum(r["total_tokens"] for r in rows),
                "total_cost": sum((d(r["total_cost_usd"]) for r in rows), Decimal(0)),
            }
        )
    return _top(out, "user_id", "request_count", limit)


def agg_provider(w: World, start: datetime | None, end: datetime | None, limit: int) -> list[dict[str, Any]]:
    """request_count = executed attempts by candidate created_at; tokens and cost of every finished request
    the provider served (ids are kept on failure: deliberate difference)."""
    att: dict[str, list[Rec]] = defaultdict(list)
    for c in w.executed():
        if c["provider_id"] is not None and in_range(c, start, end):
            att[c["provider_id"]].append(c)
    out = []
    for pid, cs in att.items():
        served = [r for r in w.rows() if r["provider_id"] == pid and finished(r) and in_range(r, start, end)]
        lat = [c["latency_ms"] for c in cs if c["latency_ms"] is not None]
        ok = sum(1 for c in cs if c["status"] == "success")
        prov = w.ent("provider", pid)
        out.append(
            {
                "provider_id": pid,
                "provider": prov["name"] if prov else "Unknown",
                "request_count": len(cs),
                "total_tokens": sum(r["total_tokens"] for r in served),
                "total_cost": sum((d(r["total_cost_usd"]) for r in served), Decimal(0)),
                "actual_cost": sum((d(r["actual_total_cost_usd"]) for r in served), Decimal(0)),
                "avg_response_time_ms": sum(lat) / len(lat) if lat else 0.0,
                "success_rate": round(ok / len(cs) * 100, 2),
                "error_count": len(cs) - ok,
                **token_breakdown(served),
            }
        )
    return _top(out, "provider_id", "request_count", limit)


def aggregation(
    w: World, group_by: str, start: datetime | None, end: datetime | None, limit: int
) -> list[dict[str, Any]]:
    if group_by == "user":
        return agg_user(w, start, end, limit)
    if group_by == "provider":
        return agg_provider(w, start, end, limit)
    return agg_model_or_format(w, group_by, start, end, limit)


def heatmap(w: World, now: datetime, user_id: str | None, actual: bool) -> dict[str, Any]:
    today = now.astimezone(w.tz).date()
    first = today - timedelta(days=364)
    acc: dict[date, list[Any]] = defaultdict(lambda: [0, 0, Decimal(0), Decimal(0)])
    for r in w.rows():
        if user_id is not None and r["user_id"] != user_id:
            continue
        day = parse_ts(r["created_at"]).astimezone(w.tz).date()
        a = acc[day]
        a[0] += 1
        a[1] += r["input_tokens"] + r["output_tokens"] + r["cache_creation_input_tokens"] + r["cache_read_input_tokens"]
        a[2] += d(r["total_cost_usd"])
        a[3] += d(r["actual_total_cost_usd"])
    days = []
    for i in range(365):
        day = first + timedelta(days=i)
        n, tok, cost, act = acc.get(day, [0, 0, Decimal(0), Decimal(0)])
        item: dict[str, Any] = {
            "date": day.isoformat(),
            "requests": n,
            "total_tokens": tok,
            "total_cost": cost,
        }
        if actual:
            item["actual_total_cost"] = act
        days.append(item)
    return {
        "total_days": 365,
        "max_requests": max(x["requests"] for x in days),
        "days": days,
        "start": datetime.combine(first, time(), tzinfo=w.tz),
    }


# --- records -----------------------------------------------------------------------------------------------
def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def safe_truncate(text: str, n: int) -> str:
    if len(text) <= n:
        return text
    cut = text[:n]
    trailing = len(cut) - len(cut.rstrip("\\"))
    return cut[:-1] if trailing % 2 else cut


def like_regex(pattern: str) -> re.Pattern[str]:
    """An ILIKE pattern (ESCAPE '\\') as a case-insensitive regular expression."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def ilike(value: str | None, pattern: str) -> bool:
    return value is not None and like_regex(pattern).fullmatch(value) is not None


def search_match(w: World, r: Rec, search: str | None, admin: bool) -> bool:
    if search is None:
        return True
    for kw in search.strip().split()[:10]:
        p = "%" + safe_truncate(escape_like(kw), 100) + "%"
        user, key = w.ent("user", r["user_id"]), w.ent("api_key", r["api_key_id"])
        prov = w.ent("provider", r["provider_id"])
        fields = [(key or {}).get("name"), r["model"]]
        if admin:
            fields += [(user or {}).get("username"), (prov or {}).get("name")]
        if not any(ilike(f, p) for f in fields):
            return False
    return True


STATUS = {
    "stream": lambda r: r["is_stream"],
    "standard": lambda r: not r["is_stream"],
    "error": is_error,
    "pending": lambda r: r["status"] == "pending",
    "streaming": lambda r: r["status"] == "streaming",
    "completed": lambda r: r["status"] == "completed",
    "failed": lambda r: r["status"] == "failed" or is_error(r),
    "active": lambda r: r["status"] in ("pending", "streaming"),
    "cancelled": lambda r: r["status"] == "cancelled",
}


def records(
    w: World,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    search: str | None = None,
    user_id: str | None = None,
    username: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: str | None = None,
) -> list[Rec]:
    out = []
    for r in w.rows():
        if not in_range(r, start, end) or not search_match(w, r, search, True):
            continue
        if user_id is not None and r["user_id"] != user_id:
            continue
        user = w.ent("user", r["user_id"])
        if username is not None and not ilike((user or {}).get("username"), "%" + escape_like(username) + "%"):
            continue
        if model is not None and r["model"] != model:
            continue
        prov = w.ent("provider", r["provider_id"])
        if provider is not None and (prov is None or prov["name"] != provider):
            continue
        if status is not None and not STATUS[status](r):
            continue
        out.append(r)
    return order(out)


def order(rows: list[Rec]) -> list[Rec]:
    """created_at desc, then id desc."""
    return sorted(rows, key=lambda r: (parse_ts(r["created_at"]), r["id"]), reverse=True)


def flags(w: World, usage_id: str) -> dict[str, bool]:
    ex = [c for c in w.executed() if c["usage_id"] == usage_id]
    per_index: dict[int, int] = defaultdict(int)
    for c in ex:
        per_index[c["candidate_index"]] += 1
    return {
        "has_fallback": len(per_index) > 1,
        "has_retry": any(n > 1 for n in per_index.values()) or max((c["retry_index"] for c in ex), default=0) > 0,
        "has_rectified": any((c["extra_data"] or {}).get("rectified") is True for c in ex),
    }


def _formats(w: World, r: Rec) -> tuple[str | None, str | None]:
    ep = w.ent("provider_endpoint", r["provider_endpoint_id"]) or {}
    api = r["api_format"] if r["api_format"] is not None else ep.get("api_format")
    endpoint = r["endpoint_api_format"] if r["endpoint_api_format"] is not None else ep.get("api_format")
    return api, endpoint


def api_key_obj(w: World, key_id: str | None) -> dict[str, Any] | None:
    key = w.ent("api_key", key_id)
    return None if key is None else {"id": key_id, "name": key["name"], "display": key["display"]}


PRICES = (
    "input_price_per_1m",
    "output_price_per_1m",
    "cache_creation_price_per_1m",
    "cache_read_price_per_1m",
)
TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_tokens",
)


def effective_input(r: Rec, api: str | None, endpoint: str | None) -> int:
    """Today's Aether's effective input, recounted: the endpoint's format (else the client's) of family openai,
    gemini or google holds the cache reads inside input_tokens, so they come off (never below 0)."""
    family = (endpoint or api or "").split(":")[0].strip().lower()
    if family in ("openai", "gemini", "google"):
        return max(r["input_tokens"] - r["cache_read_input_tokens"], 0)
    return int(r["input_tokens"])


# Today's Aether's fields the contract does not carry: null (docs/reference-api.md §9.3).
UNKNOWN_SPLIT = dict.fromkeys(("cache_creation_ephemeral_5m_input_tokens", "cache_creation_ephemeral_1h_input_tokens"))
UNKNOWN_STREAM = dict.fromkeys(("upstream_is_stream", "client_requested_stream", "client_is_stream"))
UNKNOWN_CLIENT = dict.fromkeys(("client_family", "client_ip", "user_agent"))


def record_item(w: World, r: Rec) -> dict[str, Any]:
    user = w.ent("user", r["user_id"])
    prov = w.ent("provider", r["provider_id"])
    upstream = w.ent("provider_api_key", r["provider_api_key_id"])
    api, endpoint = _formats(w, r)
    return {
        "id": r["id"],
        "user_id": r["user_id"] if user else None,
        "user_email": user["email"] if user else DELETED_USER,
        "username": user["username"] if user else DELETED_USER,
        "api_key": api_key_obj(w, r["api_key_id"]),
        "provider": prov["name"] if prov else r["provider_name"],
        "model": r["model"],
        "target_model": r["target_model"],
        **{k: r[k] for k in TOKENS},
        "cost": d(r["total_cost_usd"]),
        "actual_cost": d(r["actual_total_cost_usd"]),
        "rate_multiplier": d(r.get("rate_multiplier")) if r.get("rate_multiplier") is not None else Decimal("1.0"),
        "response_time_ms": r["response_time_ms"],
        "first_byte_time_ms": r["first_byte_time_ms"],
        "created_at": parse_ts(r["created_at"]),
        "is_stream": r["is_stream"],
        **{k: r.get(k) for k in PRICES},
        "status_code": r["status_code"],
        "error_message": r["error_message"],
        "status": r["status"],
        **flags(w, r["id"]),
        "api_format": api,
        "endpoint_api_format": endpoint,
        "has_format_conversion": conversion(r["has_format_conversion"], api, endpoint),
        "api_key_name": upstream["name"] if upstream else None,
        "request_metadata": r.get("request_metadata"),
        "effective_input_tokens": effective_input(r, api, endpoint),
        **UNKNOWN_SPLIT,
        **UNKNOWN_STREAM,
        "provider_key_name": upstream["name"] if upstream else None,
        "model_version": None,
    }


# The data formats of Aether's can_passthrough_endpoint for the signatures the dataset uses.
_DATA_FORMAT = {"claude:chat": "claude", "claude:cli": "claude", "openai:chat": "openai_chat"}


def conversion(stored: bool | None, api: str | None, endpoint: str | None) -> bool | None:
    """One flag per request on every surface (docs/contract-notes.md): the stored one; else, for two
    `family:kind` signatures, whether their data formats differ; else whether the formats differ ignoring
    case; None while either format is unknown."""
    if stored is not None:
        return stored
    if not api or not endpoint:
        return None
    if api.count(":") == 1 and endpoint.count(":") == 1:
        a, b = api.lower(), endpoint.lower()
        return not (a == b or (_DATA_FORMAT.get(a) is not None and _DATA_FORMAT.get(a) == _DATA_FORMAT.get(b)))
    return api.upper() != endpoint.upper()


def user_record_item(w: World, r: Rec) -> dict[str, Any]:
    api, endpoint = _formats(w, r)
    return {
        "id": r["id"],
        "model": r["model"],
        "target_model": None,
        "api_format": api,
        "endpoint_api_format": endpoint,
        "has_format_conversion": bool(conversion(r["has_format_conversion"], api, endpoint)),
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "total_tokens": r["total_tokens"],
        "cost": d(r["total_cost_usd"]),
        "response_time_ms": r["response_time_ms"],
        "first_byte_time_ms": r["first_byte_time_ms"],
        "is_stream": r["is_stream"],
        "status": r["status"],
        "created_at": parse_ts(r["created_at"]),
        "cache_creation_input_tokens": r["cache_creation_input_tokens"],
        "cache_read_input_tokens": r["cache_read_input_tokens"],
        "status_code": r["status_code"],
        "error_message": r["error_message"],
        **{k: r.get(k) for k in PRICES},
        "api_key": api_key_obj(w, r["api_key_id"]),
        "effective_input_tokens": effective_input(r, api, endpoint),
        **UNKNOWN_SPLIT,
        **UNKNOWN_STREAM,
        **UNKNOWN_CLIENT,
        "has_fallback": flags(w, r["id"])["has_fallback"],
    }


def tiered_pricing(w: World, r: Rec) -> dict[str, Any] | None:
    if r["provider_id"] is None:
        return None
    own = w.ent("model_pricing", f"{r['provider_id']}:{r['model']}")
    glob = w.ent("global_model_pricing", r["model"])
    if own is not None:
        pricing, source = own["tiered_pricing"], "provider"
    elif glob is not None:
        pricing, source = glob["tiered_pricing"], "global"
    else:
        return None
    tiers = pricing["tiers"]
    ctx = r["input_tokens"] + r["cache_creation_input_tokens"] + r["cache_read_input_tokens"]
    index = next((i for i, t in enumerate(tiers) if t["up_to"] is None or ctx <= t["up_to"]), len(tiers) - 1)
    return {
        "total_input_context": ctx,
        "tier_index": index,
        "tier_count": len(tiers),
        "current_tier": tiers[index],
        "tiers": tiers,
        "source": source,
    }


def video_billing(r: Rec) -> dict[str, Any] | None:
    meta = r.get("request_metadata") or {}
    if r.get("request_type") not in ("video", "image", "audio") or "billing_snapshot" not in meta:
        return None
    snap = meta["billing_snapshot"]
    used = snap.get("dimensions_used", {})
    return {
        "task_type": r["request_type"],
        "rule_name": snap["rule_name"],
        "expression": snap["expression"],
        "status": snap["status"],
        "cost": snap["cost"],
        "duration_seconds": used["duration_seconds"],
        "resolution": used["video_resolution_key"],
        "video_price_per_second": used["video_price_per_second"],
    }


def detail(w: World, r: Rec) -> dict[str, Any]:
    user, key = w.ent("user", r["user_id"]), w.ent("api_key", r["api_key_id"])
    api, endpoint = _formats(w, r)
    return {
        "id": r["id"],
        "request_id": r["request_id"],
        "user": {
            "id": r["user_id"] if user else None,
            "username": user["username"] if user else "Unknown",
            "email": user["email"] if user else None,
        },
        "api_key": {
            "id": r["api_key_id"] if key else None,
            "name": key["name"] if key else None,
            "display": key["display"] if key else None,
        },
        "provider": r["provider_name"],
        "api_format": r["api_format"],
        "model": r["model"],
        "target_model": r["target_model"],
        "tokens": {"input": r["input_tokens"], "output": r["output_tokens"], "total": r["total_tokens"]},
        "cost": {
            "input": d(r["input_cost_usd"]),
            "output": d(r["output_cost_usd"]),
            "total": d(r["total_cost_usd"]),
        },
        "cache_creation_input_tokens": r["cache_creation_input_tokens"],
        "cache_read_input_tokens": r["cache_read_input_tokens"],
        "cache_creation_cost": d(r["cache_creation_cost_usd"]),
        "cache_read_cost": d(r["cache_read_cost_usd"]),
        "request_cost": d(r["request_cost_usd"]),
        **{k: r.get(k) for k in PRICES},
        "price_per_request": r.get("price_per_request"),
        "request_type": r["request_type"],
        "is_stream": r["is_stream"],
        "status_code": r["status_code"],
        "error_message": r["error_message"],
        "response_time_ms": r["response_time_ms"],
        "first_byte_time_ms": r["first_byte_time_ms"],
        "created_at": parse_ts(r["created_at"]),
        **{
            k: r.get(k)
            for k in (
                "request_headers",
                "request_body",
                "provider_request_headers",
                "response_headers",
                "client_response_headers",
                "response_body",
            )
        },
        "metadata": r.get("request_metadata"),
        "tiered_pricing": tiered_pricing(w, r),
        "video_billing": video_billing(r),
        "status": r["status"],
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "endpoint_api_format": endpoint,
        "effective_input_tokens": effective_input(r, api, endpoint),
        **UNKNOWN_SPLIT,
        **UNKNOWN_STREAM,
        **dict.fromkeys(("provider_request_body", "client_response_body", "routing", "body_capture")),
        **dict.fromkeys(("settlement", "trace")),
        "has_request_body": r.get("request_body") is not None,
        "has_provider_request_body": False,
        "has_response_body": r.get("response_body") is not None,
        "has_client_response_body": False,
    }


def active_item(w: World, r: Rec, admin: bool, flags_known: bool = True) -> dict[str, Any]:
    """An /active item; `flags_known` false for the feed's upserts, which do not look has_fallback up."""
    cost = d(r["total_cost_usd"])
    item: dict[str, Any] = {
        "id": r["id"],
        "status": r["status"],
        **{k: r[k] for k in TOKENS[:4]},
        "cost": cost if cost else 0,
        "actual_cost": d(r["actual_total_cost_usd"]) if r["actual_total_cost_usd"] is not None else None,
        "rate_multiplier": d(r["rate_multiplier"]) if r.get("rate_multiplier") is not None else None,
        "response_time_ms": r["response_time_ms"],
        "first_byte_time_ms": r["first_byte_time_ms"],
    }
    for k in ("api_format", "endpoint_api_format"):
        if r[k]:
            item[k] = r[k]
    item["has_format_conversion"] = conversion(r["has_format_conversion"], r["api_format"], r["endpoint_api_format"])
    item["effective_input_tokens"] = effective_input(r, r["api_format"] or None, r["endpoint_api_format"] or None)
    item.update(UNKNOWN_SPLIT, updated_at=None, response_time_updated_at=None)
    item.update(status_code=r["status_code"], error_message=r["error_message"], is_stream=r["is_stream"])
    item.update(UNKNOWN_STREAM, **UNKNOWN_CLIENT)
    item["has_fallback"] = flags(w, r["id"])["has_fallback"] if flags_known else None
    if admin:
        upstream = w.ent("provider_api_key", r["provider_api_key_id"])
        item["provider"] = r["provider_name"]
        item["api_key_name"] = upstream["name"] if upstream else None
        item["provider_key_name"] = item["api_key_name"]
    return item


# --- user summary ------------------------------------------------------------------------------------------
def user_usage(w: World, uid: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    rows = [r for r in w.rows() if r["user_id"] == uid and in_range(r, start, end)]
    kept = [r for r in rows if r["provider_name"] not in ("unknown", "pending")]
    models: dict[str, list[Rec]] = defaultdict(list)
    for r in kept:
        models[r["model"]].append(r)
    by_model = [
        {
            "model": m,
            "requests": len(rs),
            "input_tokens": sum(r["input_tokens"] for r in rs),
            "output_tokens": sum(r["output_tokens"] for r in rs),
            "total_tokens": sum(r["total_tokens"] for r in rs),
            "total_cost_usd": sum((d(r["total_cost_usd"]) for r in rs), Decimal(0)),
            **token_breakdown(rs),
        }
        for m, rs in models.items()
    ]
    # today's Aether's per-format summary: finished requests that reached a provider, with a format
    formats: dict[str, list[Rec]] = defaultdict(list)
    for r in kept:
        if finished(r) and r["api_format"] is not None:
            formats[r["api_format"]].append(r)
    by_format = []
    for f, rs in formats.items():
        rts = [r["response_time_ms"] for r in rs if r["response_time_ms"] is not None]
        by_format.append(
            {
                "api_format": f,
                "request_count": len(rs),
                "total_tokens": sum(r["total_tokens"] for r in rs),
                "total_cost_usd": sum((d(r["total_cost_usd"]) for r in rs), Decimal(0)),
                "avg_response_time_ms": aether_round2(sum(rts) / len(rts)) if rts else 0.0,
                **token_breakdown(rs),
            }
        )
    rts = [r["response_time_ms"] for r in rows if r["status_code"] == 200 and r["response_time_ms"] is not None]
    user = w.ent("user", uid) or {}
    return {
        "total_requests": len(kept),
        "total_input_tokens": sum(r["input_tokens"] for r in kept),
        "total_output_tokens": sum(r["output_tokens"] for r in kept),
        "total_tokens": sum(r["total_tokens"] for r in kept),
        "total_cost": sum((d(r["total_cost_usd"]) for r in kept), Decimal(0)),
        "avg_response_time": sum(rts) / len(rts) / 1000 if rts else 0,
        "quota_usd": user.get("quota_usd"),
        "used_usd": user.get("used_usd"),
        "summary_by_model": sorted(by_model, key=lambda m: (-m["requests"], m["model"])),
        "summary_by_api_format": sorted(by_format, key=lambda f: (-f["request_count"], f["api_format"])),
    }


# --- cache affinity ----------------------------------------------------------------------------------------
def completed_since(w: World, since: datetime, inclusive: bool) -> list[Rec]:
    out = []
    for r in w.rows():
        t = parse_ts(r["created_at"])
        if r["status"] == "completed" and (t >= since if inclusive else t > since):
            out.append(r)
    return out


def hit_analysis(
    w: World, hours: int, now: datetime, user_id: str | None = None, key_id: str | None = None
) -> dict[str, Any]:
    rows = [
        r
        for r in completed_since(w, now - timedelta(hours=hours), True)
        if (user_id is None or r["user_id"] == user_id) and (key_id is None or r["api_key_id"] == key_id)
    ]
    n = len(rows)
    tin = sum(r["input_tokens"] for r in rows)
    cr = sum(r["cache_read_input_tokens"] for r in rows)
    hits = sum(1 for r in rows if r["cache_read_input_tokens"] > 0)
    cr_cost = sum((d(r["cache_read_cost_usd"]) for r in rows), Decimal(0))
    cc_cost = sum((d(r["cache_creation_cost_usd"]) for r in rows), Decimal(0))
    return {
        "analysis_period_hours": hours,
        "total_requests": n,
        "requests_with_cache_hit": hits,
        "request_cache_hit_rate": round(hits / n * 100, 2) if n else 0,
        "total_input_tokens": tin,
        "total_cache_read_tokens": cr,
        "total_cache_creation_tokens": sum(r["cache_creation_input_tokens"] for r in rows),
        "token_cache_hit_rate": round(cr / (tin + cr) * 100, 2) if tin + cr else 0.0,
        "total_cache_read_cost_usd": round(cr_cost, 4),
        "total_cache_creation_cost_usd": round(cc_cost, 4),
        "estimated_savings_usd": round(cr_cost * 9, 4),
    }


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def _gaps(rows: list[Rec], group: str) -> dict[str, list[tuple[Rec, float]]]:
    by: dict[str, list[Rec]] = defaultdict(list)
    for r in rows:
        if r[group] is not None:
            by[r[group]].append(r)
    out: dict[str, list[tuple[Rec, float]]] = {}
    for g, rs in by.items():
        rs.sort(key=lambda r: (parse_ts(r["created_at"]), r["id"]))
        out[g] = [
            (b, (parse_ts(b["created_at"]) - parse_ts(a["created_at"])).total_seconds() / 60)
            for a, b in zip(rs, rs[1:], strict=False)
        ]
    return out


def _r2(x: float | None) -> float | None:
    return round(x, 2) if x else None


def ttl_analysis(
    w: World, hours: int, now: datetime, user_id: str | None = None, key_id: str | None = None
) -> dict[str, Any]:
    group = "api_key_id" if key_id is not None else "user_id"
    rows = [
        r
        for r in completed_since(w, now - timedelta(hours=hours), False)
        if (user_id is None or r["user_id"] == user_id) and (key_id is None or r["api_key_id"] == key_id)
    ]
    users = []
    for g, gaps in _gaps(rows, group).items():
        ms = [m for _, m in gaps]
        if len(ms) < 2:
            continue
        bands = {
            "within_5min": sum(m <= 5 for m in ms),
            "within_15min": sum(5 < m <= 15 for m in ms),
            "within_30min": sum(15 < m <= 30 for m in ms),
            "within_60min": sum(30 < m <= 60 for m in ms),
            "over_60min": sum(m > 60 for m in ms),
        }
        p50, p75, p90 = (percentile(ms, q) for q in (0.5, 0.75, 0.9))
        if p90 <= 5:
            ttl, reason = 5, f"高频用户：90% 的请求间隔在 {p90:.1f} 分钟内"
        elif p75 <= 15:
            ttl, reason = 15, f"中高频用户：75% 的请求间隔在 {p75:.1f} 分钟内"
        elif p75 <= 30:
            ttl, reason = 30, f"中频用户：75% 的请求间隔在 {p75:.1f} 分钟内"
        else:
            ttl, reason = 60, f"低频用户：75% 的请求间隔为 {p75:.1f} 分钟，建议使用长 TTL"
        u = w.ent("user", g) if group == "user_id" else None
        users.append(
            {
                "group_id": g,
                "username": u["username"] if u else None,
                "email": (u["email"] or "") if u else None,
                "request_count": len(ms),
                "interval_distribution": bands,
                "interval_percentages": {b: round(n / len(ms) * 100, 1) for b, n in bands.items()},
                "percentiles": {"p50": _r2(p50), "p75": _r2(p75), "p90": _r2(p90)},
                "avg_interval_minutes": _r2(sum(ms) / len(ms)),
                "min_interval_minutes": _r2(min(ms)),
                "max_interval_minutes": _r2(max(ms)),
                "recommended_ttl_minutes": ttl,
                "recommendation_reason": reason,
            }
        )
    users.sort(key=lambda u: (-u["request_count"], u["group_id"]))
    dist = {"5min": 0, "15min": 0, "30min": 0, "60min": 0}
    for u in users:
        dist[f"{u['recommended_ttl_minutes']}min"] += 1
    return {
        "analysis_period_hours": hours,
        "total_users_analyzed": len(users),
        "ttl_distribution": dist,
        "users": users,
    }


def interval_timeline(
    w: World,
    hours: int,
    limit: int,
    now: datetime,
    user_id: str | None = None,
    include_user_info: bool = False,
) -> dict[str, Any]:
    rows = [
        r
        for r in completed_since(w, now - timedelta(hours=hours), False)
        if r["user_id"] is not None and (user_id is None or r["user_id"] == user_id)
    ]
    points = [(r, m) for gaps in _gaps(rows, "user_id").values() for r, m in gaps if m <= 120]
    newest_first = sorted(points, key=lambda p: (parse_ts(p[0]["created_at"]), p[0]["id"]), reverse=True)
    multi = include_user_info and user_id is None
    if not multi:
        kept = newest_first[:limit]
    else:
        total = len(points)
        per_user: dict[str, int] = defaultdict(int)
        for r, _ in points:
            per_user[r["user_id"]] += 1
        seen: dict[str, int] = defaultdict(int)
        kept = []
        for r, m in newest_first:
            cnt = per_user[r["user_id"]]
            cap = cnt if total <= limit else max(math.ceil(cnt * limit / total), 1)
            seen[r["user_id"]] += 1
            if seen[r["user_id"]] <= cap:
                kept.append((r, m))
    kept.sort(key=lambda p: (parse_ts(p[0]["created_at"]), p[0]["id"]))
    out_points = []
    for r, m in kept:
        p: dict[str, Any] = {"x": parse_ts(r["created_at"]), "y": round(m, 2)}
        if multi:
            p["user_id"] = r["user_id"]
        if r["model"]:
            p["model"] = r["model"]
        out_points.append(p)
    out: dict[str, Any] = {
        "analysis_period_hours": hours,
        "total_points": len(out_points),
        "points": out_points,
    }
    if multi:
        out["users"] = {
            uid: u["username"]
            for uid in sorted({r["user_id"] for r, _ in kept})
            if (u := w.ent("user", uid)) is not None
        }
    models = sorted({r["model"] for r, _ in kept if r["model"]})
    if models:
        out["models"] = models
    return out


def as_json(value: Any) -> Any:
    """Round-trip through the wire form (Decimal stays exact) so that expectations compare like responses."""
    return json.loads(dumps(value), parse_float=Decimal)
