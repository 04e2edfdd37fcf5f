"""Each stats counter checked against the predicates of docs/reference-api.md §1.4, written out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usagestream.contract import parse_usage
from usagestream.stats import (
    MONEY_COUNTERS,
    USAGE_COUNTERS,
    CandidateFacts,
    UsageFacts,
    candidate_contribution,
    dimension_keys,
    usage_contribution,
)

AT = datetime(2026, 11, 28, 1, 2, 3, 456000, tzinfo=UTC)
money = st.builds(lambda n, places: Decimal(n).scaleb(-places), st.integers(0, 10**12), st.integers(0, 18))
tokens = st.integers(0, 10**7)
CANDIDATE_STATUSES = ("available", "skipped", "pending", "streaming", "success", "failed", "cancelled")

any_usage = st.builds(
    UsageFacts,
    created_at=st.just(AT),
    user_id=st.sampled_from([None, "u1"]),
    api_key_id=st.sampled_from([None, "k1"]),
    model=st.sampled_from(["claude-sonnet", "gpt-4o"]),
    provider_name=st.sampled_from(["pending", "unknown", "openai", "Pending", ""]),
    provider_id=st.sampled_from([None, "p1"]),
    api_format=st.sampled_from([None, "claude:chat", "openai:chat", " Gemini :x", "google", "acme:y"]),
    endpoint_api_format=st.sampled_from([None, "", "claude:chat", "OPENAI:responses"]),
    status=st.sampled_from(["pending", "streaming", "completed", "failed", "cancelled"]),
    status_code=st.sampled_from([None, 0, 200, 201, 204, 302, 399, 400, 404, 429, 499, 500, 504]),
    has_error_message=st.booleans(),
    input_tokens=tokens,
    output_tokens=tokens,
    total_tokens=tokens,
    cache_creation_input_tokens=tokens,
    cache_read_input_tokens=st.one_of(st.just(0), tokens),
    total_cost_usd=money,
    actual_total_cost_usd=money,
    cache_creation_cost_usd=money,
    cache_read_cost_usd=money,
    response_time_ms=st.one_of(st.none(), st.just(0), st.integers(0, 10**7)),
)


def expected_counters(f: UsageFacts) -> dict[str, int | Decimal]:
    """Each counter by its definition (stats.py docstring), over the predicates of docs/reference-api.md §1.4."""
    error = (f.status_code is not None and f.status_code >= 400) or f.has_error_message
    finished = f.status not in ("pending", "streaming")
    reached = f.provider_name not in ("unknown", "pending")
    fr = finished and reached
    completed = f.status == "completed"
    hit = completed and f.cache_read_input_tokens > 0
    has_rt = f.response_time_ms is not None  # SQL AVG skips NULLs: they add neither to the sum nor the count
    rt = 0 if f.response_time_ms is None else f.response_time_ms
    s200 = f.status_code == 200 and has_rt  # "avg_response_time over rows with status_code = 200"
    tok, cost, actual = f.total_tokens, f.total_cost_usd, f.actual_total_cost_usd
    # docs/reference-api.md §9.3: OpenAI and Gemini formats (the endpoint's first) count cache reads in the input
    fmt = f.endpoint_api_format or f.api_format or ""
    inside = fmt.split(":")[0].strip().lower() in ("openai", "gemini", "google")
    inp, cc, cr = f.input_tokens, f.cache_creation_input_tokens, f.cache_read_input_tokens
    eff = max(inp - cr, 0) if inside else inp
    ctx = max(inp, cr) if inside else inp + cc + cr

    def when(cond: bool, value: int | Decimal) -> int | Decimal:
        return value if cond else (Decimal(0) if isinstance(value, Decimal) else 0)

    return {
        "n_all": 1,
        "n_finished": int(finished),
        "n_reached": int(reached),
        "n_fr": int(fr),
        "n_error": int(error),
        "n_completed": int(completed),
        "n_hit": int(hit),
        "n_s200": int(s200),
        "in_tok": f.input_tokens,
        "out_tok": f.output_tokens,
        "tot_tok": tok,
        "cc_tok": f.cache_creation_input_tokens,
        "cr_tok": f.cache_read_input_tokens,
        "cost": cost,
        "actual_cost": actual,
        "cc_cost": f.cache_creation_cost_usd,
        "cr_cost": f.cache_read_cost_usd,
        "rt_sum": rt,
        "rt_n": int(has_rt),
        "fr_tot_tok": when(fr, tok),
        "fr_cost": when(fr, cost),
        "fr_actual": when(fr, actual),
        "fr_rt_sum": when(fr, rt),
        "fr_rt_n": int(fr and has_rt),
        "fin_tot_tok": when(finished, tok),
        "fin_cost": when(finished, cost),
        "fin_actual": when(finished, actual),
        "r_in": when(reached, f.input_tokens),
        "r_out": when(reached, f.output_tokens),
        "r_tot": when(reached, tok),
        "r_cost": when(reached, cost),
        "r_actual": when(reached, actual),
        "s200_rt_sum": when(s200, rt),
        "c_in": when(completed, f.input_tokens),
        "c_cr": when(completed, f.cache_read_input_tokens),
        "c_cc": when(completed, f.cache_creation_input_tokens),
        "c_cr_cost": when(completed, f.cache_read_cost_usd),
        "c_cc_cost": when(completed, f.cache_creation_cost_usd),
        # /aggregation/stats' subsets, for the grouped time series: model and api_format, provider.
        "fr_in": when(fr, f.input_tokens),
        "fr_out": when(fr, f.output_tokens),
        "fr_cc": when(fr, f.cache_creation_input_tokens),
        "fr_cr": when(fr, f.cache_read_input_tokens),
        "fr_err": int(fr and error),
        "fin_in": when(finished, f.input_tokens),
        "fin_out": when(finished, f.output_tokens),
        "fin_cc": when(finished, f.cache_creation_input_tokens),
        "fin_cr": when(finished, f.cache_read_input_tokens),
        # today's Aether's effective input and total input context, over the items' subsets
        "fr_eff": when(fr, eff),
        "fr_ctx": when(fr, ctx),
        "fin_eff": when(finished, eff),
        "fin_ctx": when(finished, ctx),
        "r_cc": when(reached, cc),
        "r_cr": when(reached, cr),
        "r_eff": when(reached, eff),
        "r_ctx": when(reached, ctx),
    }


def _named(f: UsageFacts) -> dict[str, int | Decimal]:
    vec = usage_contribution(f)
    assert len(vec) == len(USAGE_COUNTERS)
    return dict(zip(USAGE_COUNTERS, vec, strict=True))


@settings(max_examples=200, deadline=None)
@given(f=any_usage)
def test_every_counter_follows_its_definition(f: UsageFacts) -> None:
    got = _named(f)
    assert got == expected_counters(f)
    for name, value in got.items():
        assert type(value) is (Decimal if name in MONEY_COUNTERS else int), name


def _facts(**changes: object) -> UsageFacts:
    base: dict[str, Any] = dict(
        created_at=AT,
        user_id="u1",
        api_key_id="k1",
        model="m",
        provider_name="openai",
        provider_id="p1",
        api_format="claude:chat",
        endpoint_api_format=None,
        status="completed",
        status_code=200,
        has_error_message=False,
        input_tokens=10,
        output_tokens=20,
        total_tokens=30,
        cache_creation_input_tokens=3,
        cache_read_input_tokens=4,
        total_cost_usd=Decimal("0.000123456789012345"),
        actual_total_cost_usd=Decimal("0.0001"),
        cache_creation_cost_usd=Decimal("0.01"),
        cache_read_cost_usd=Decimal("0.02"),
        response_time_ms=1500,
    )
    base.update(changes)
    return UsageFacts(**base)


@pytest.mark.parametrize(
    ("changes", "counters"),
    [
        # A pending row (status_code NULL, error_message NULL) is not an error, not finished, not reached.
        (
            {"status": "pending", "status_code": None, "provider_name": "pending", "response_time_ms": None},
            {"n_error": 0, "n_finished": 0, "n_reached": 0, "n_fr": 0, "n_completed": 0, "n_hit": 0, "rt_n": 0},
        ),
        # Cancelled (499) rows count as errors, and as finished.
        ({"status": "cancelled", "status_code": 499}, {"n_error": 1, "n_finished": 1, "n_completed": 0}),
        # status='failed' alone is not the error predicate (that is the /records "failed" filter).
        ({"status": "failed", "status_code": None}, {"n_error": 0, "n_finished": 1, "n_fr": 1}),
        # An error message makes an error even with status 200; "completed" includes synchronous failures.
        ({"has_error_message": True}, {"n_error": 1, "n_completed": 1, "n_hit": 1}),
        ({"status_code": 502}, {"n_error": 1, "n_completed": 1, "n_s200": 0, "s200_rt_sum": 0}),
        ({"status_code": 399}, {"n_error": 0}),
        # Not reached a provider: "unknown" as well as "pending"; a failed request there is finished, not fr.
        (
            {"status": "failed", "provider_name": "unknown"},
            {"n_finished": 1, "n_reached": 0, "n_fr": 0, "fr_cost": 0, "fin_cost": Decimal("0.000123456789012345")},
        ),
        # A completed request without cache reads is not a hit.
        ({"cache_read_input_tokens": 0}, {"n_completed": 1, "n_hit": 0, "c_cr": 0}),
        # A streaming row that reached its provider: reached but not finished.
        ({"status": "streaming", "status_code": 200}, {"n_reached": 1, "n_finished": 0, "n_fr": 0, "fin_tot_tok": 0}),
        # A 200 without response time adds nothing to the 200-only average.
        ({"response_time_ms": None}, {"n_s200": 0, "rt_n": 0, "rt_sum": 0, "fr_rt_n": 0}),
        ({"response_time_ms": 0}, {"n_s200": 1, "rt_n": 1, "rt_sum": 0, "fr_rt_n": 1}),
    ],
)
def test_predicate_examples(changes: dict[str, object], counters: dict[str, int | Decimal]) -> None:
    got = _named(_facts(**changes))
    assert {name: got[name] for name in counters} == counters


@settings(max_examples=200, deadline=None)
@given(
    provider_id=st.sampled_from([None, "p1"]),
    status=st.sampled_from(CANDIDATE_STATUSES),
    latency=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_only_executed_attempts_count(provider_id: str | None, status: str, latency: int | None) -> None:
    """Executed attempt = status success or failed (cancelled and streaming attempts do not count)."""
    facts = CandidateFacts(created_at=AT, provider_id=provider_id, status=status, latency_ms=latency)
    got = candidate_contribution(facts)
    if provider_id is None or status not in ("success", "failed"):
        assert got is None
    else:
        has_latency = latency is not None
        assert got == (1, int(status == "success"), int(status == "failed"), latency or 0, int(has_latency))


@settings(max_examples=200, deadline=None)
@given(f=any_usage)
def test_dimension_keys(f: UsageFacts) -> None:
    expected = {("all", ""), ("model", f.model)}
    if f.user_id is not None:
        expected |= {("user", f.user_id), ("user_model", f"{f.user_id}\x1f{f.model}")}
    if f.provider_id is not None:
        expected |= {("provider", f.provider_id), ("provider_model", f"{f.provider_id}\x1f{f.model}")}
    if f.api_format is not None:
        expected.add(("api_format", f.api_format))
    if f.user_id is not None and f.api_format is not None:
        expected.add(("user_api_format", f"{f.user_id}\x1f{f.api_format}"))
    if f.api_key_id is not None:
        expected.add(("api_key", f.api_key_id))
    keys = list(dimension_keys(f))
    assert len(keys) == len(set(keys))
    assert set(keys) == expected


def _event(**usage: object) -> bytes:
    record: dict[str, object] = {
        "id": "u-1",
        "request_id": "req-1",
        "user_id": "user-1",
        "api_key_id": None,
        "provider_name": "openai",
        "provider_id": "prov-1",
        "model": "gpt-4o",
        "api_format": "openai:chat",
        "is_stream": False,
        "status": "completed",
        "status_code": 200,
        "error_message": None,
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 4,
        "total_tokens": 3,
        "created_at": "2026-11-28T09:02:03.456+08:00",
        "response_time_ms": None,
    }
    for name in ("input", "output", "cache_creation", "cache_read", "request", "total"):
        record[f"{name}_cost_usd"] = 0
        record[f"actual_{name}_cost_usd"] = 0
    record.update(usage)
    envelope = {
        "v": 1,
        "kind": "usage",
        "event_id": "e-1",
        "usage_id": "u-1",
        "seq": 1,
        "emitted_at": "2026-11-28T01:02:04Z",
        "usage": record,
    }
    return json.dumps(envelope).encode()


def test_facts_of_a_parsed_snapshot() -> None:
    raw = _event(error_message="", total_cost_usd=0, actual_total_cost_usd=0)
    raw = raw.replace(b'"total_cost_usd": 0', b'"total_cost_usd": 0.100000000000000000000000000000000001')
    facts = UsageFacts.of(parse_usage(b"u-1", raw).usage)
    assert facts.has_error_message  # an empty message is still not NULL
    assert _named(facts)["n_error"] == 1
    assert facts.total_cost_usd == Decimal("0.100000000000000000000000000000000001")
    assert facts.created_at == AT
    assert facts.response_time_ms is None
