"""A `created_at` far from `emitted_at` is applied as written (docs/contract-notes.md "Timestamps far from
emitted_at"): both come from the gateway's clock, a backfill legitimately emits old requests, and refusing one
would drop its cost; the read path costs the same whatever the dates (tests/unit/test_ranges.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from test_contract import _usage_raw

from usagestream.contract import parse_candidate, parse_usage
from usagestream.ranges import MAX_PIECES, clamp, decompose

FAR = [
    ("0002-01-02T00:00:00Z", datetime(2, 1, 2, tzinfo=UTC)),
    ("9998-12-30T23:59:59.999999Z", datetime(9998, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)),
]


@pytest.mark.parametrize(("text", "when"), FAR)
def test_a_usage_far_from_its_emission_is_accepted(text: str, when: datetime) -> None:
    event = parse_usage(b"u1", _usage_raw({"created_at": text}, emitted_at="2026-11-28T01:02:04Z"))
    assert event.usage.created_at == when
    assert event.emitted_at == datetime(2026, 11, 28, 1, 2, 4, tzinfo=UTC)


@pytest.mark.parametrize(("text", "when"), FAR)
def test_a_candidate_far_from_its_emission_is_accepted(text: str, when: datetime) -> None:
    raw = (
        b'{"v":1,"kind":"candidate","event_id":"e","usage_id":"u1","candidate_id":"c1","request_id":"r","seq":1,'
        b'"emitted_at":"2026-11-28T01:02:04Z","candidate":{"candidate_index":0,"retry_index":0,"user_id":null,'
        b'"api_key_id":null,"provider_id":"p","endpoint_id":null,"key_id":null,"status":"success",'
        b'"skip_reason":null,"error_type":null,"error_message":null,"is_cached":false,"status_code":200,'
        b'"latency_ms":5,"extra_data":null,"created_at":"' + text.encode() + b'","started_at":null,'
        b'"finished_at":null}}'
    )
    assert parse_candidate(b"u1", raw).candidate.created_at == when


def test_the_accepted_extent_plans_in_a_few_runs() -> None:
    """The extent two such records give every open range still plans in a bounded number of runs."""
    first, last = FAR[0][1], FAR[1][1]
    bounds = clamp(None, None, first, last)
    assert bounds is not None
    assert len(decompose(*bounds, ZoneInfo("America/Havana"), last).pieces) <= MAX_PIECES
