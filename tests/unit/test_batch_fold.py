"""usagestream.batch_fold: a batch gathered fetch by fetch and folded early (in any pieces, before or after later
fetches arrive), then corrected by retractions against the stored states, must give the aggregate deltas of the
plain fold (stored state -> newest snapshot, per id) digit for digit, and keep the same snapshot per id."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_contract import T0, candidate_event, usage_event

from usagestream.batch_fold import Kept, fold
from usagestream.contract import CandidateEvent, UsageEvent
from usagestream.settings import Settings
from usagestream.stats import CandidateFacts, Deltas, UsageFacts

SETTINGS = Settings.from_env({})
STATUSES = ("pending", "streaming", "completed", "failed")
IDS = ("a", "b", "c", "d")


def _usage(rid: str, seq: int, status: str, minutes: int, cost: str) -> UsageEvent:
    created = T0 + timedelta(minutes=minutes)
    if status in ("pending", "streaming"):
        return usage_event(rid, seq, status, created=created)
    return usage_event(rid, seq, status, created=created, total_cost_usd=Decimal(cost), input_tokens=seq)


def _candidate(cid: str, seq: int, status: str, minutes: int) -> CandidateEvent:
    return candidate_event(cid, seq, status, created=T0 + timedelta(minutes=minutes))


usage_events = st.builds(
    _usage,
    st.sampled_from(IDS),
    st.integers(1, 4),
    st.sampled_from(STATUSES),
    st.sampled_from((0, 20)),  # two 15-minute buckets
    st.sampled_from(("0.1", "0.000001", "12345678901.123456789")),
)
candidate_events = st.builds(
    _candidate, st.sampled_from(IDS), st.integers(1, 4), st.sampled_from(("pending", "success", "failed")), st.just(0)
)


def _plain(
    usage: list[UsageEvent],
    candidates: list[CandidateEvent],
    stored: dict[str, UsageEvent],
    stored_c: dict[str, CandidateEvent],
) -> Deltas:
    """The fold as the stores did it before batch_fold: per id the newest event (first on a tie), then
    (stored state -> it) unless the store holds that seq or a newer one."""
    deltas = Deltas(SETTINGS.tz)
    newest: dict[str, UsageEvent] = {}
    for ev in usage:
        if ev.usage_id not in newest or ev.seq > newest[ev.usage_id].seq:
            newest[ev.usage_id] = ev
    for rid, ev in newest.items():
        old = stored.get(rid)
        if old is None or old.seq < ev.seq:
            deltas.apply_usage(UsageFacts.of(old.usage) if old else None, UsageFacts.of(ev.usage))
    newest_c: dict[str, CandidateEvent] = {}
    for cev in candidates:
        if cev.candidate_id not in newest_c or cev.seq > newest_c[cev.candidate_id].seq:
            newest_c[cev.candidate_id] = cev
    for cid, cev in newest_c.items():
        cold = stored_c.get(cid)
        if cold is None or cold.seq < cev.seq:
            deltas.apply_candidate(
                CandidateFacts.of(cold.candidate) if cold else None, CandidateFacts.of(cev.candidate)
            )
    return deltas


def _retracted(kept: Kept, stored: dict[str, UsageEvent], stored_c: dict[str, CandidateEvent]) -> Deltas:
    """What a store's apply does with the batch's fold: a copy, less what the stored rows say."""
    deltas = kept.folded_deltas().copy()
    for rid, (_p, ev) in kept.usage.items.items():
        old = stored.get(rid)
        if old is not None:
            deltas.apply_usage(UsageFacts.of((ev if old.seq >= ev.seq else old).usage), None)
    for cid, (_p, cev) in kept.candidates.items.items():
        cold = stored_c.get(cid)
        if cold is not None:
            deltas.apply_candidate(CandidateFacts.of((cev if cold.seq >= cev.seq else cold).candidate), None)
    return deltas


@settings(max_examples=150, deadline=None)
@given(
    usage=st.lists(usage_events, max_size=14),
    candidates=st.lists(candidate_events, max_size=10),
    stored=st.lists(usage_events, max_size=4),
    stored_c=st.lists(candidate_events, max_size=4),
    cuts=st.lists(st.integers(0, 14), max_size=4),
    pieces=st.lists(st.integers(1, 3), max_size=6),
)
def test_folded_in_pieces_then_retracted_equals_the_plain_fold(
    usage: list[UsageEvent],
    candidates: list[CandidateEvent],
    stored: list[UsageEvent],
    stored_c: list[CandidateEvent],
    cuts: list[int],
    pieces: list[int],
) -> None:
    stored_by_id = {ev.usage_id: ev for ev in stored}
    stored_c_by_id = {ev.candidate_id: ev for ev in stored_c}
    bounds = sorted({0, *cuts, max(len(usage), len(candidates))})
    kept = Kept(SETTINGS.tz)
    for n, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):  # fetches, each absorbed as it arrives
        part = Kept(SETTINGS.tz)
        part.add_usage((0, ev) for ev in usage[lo:hi])
        part.add_candidates((0, ev) for ev in candidates[lo:hi])
        kept.absorb(part)
        if n < len(pieces):
            kept.fold_some(pieces[n])  # folded early: later fetches may supersede what was folded
    expected = _plain(usage, candidates, stored_by_id, stored_c_by_id)
    got = _retracted(kept, stored_by_id, stored_c_by_id)
    assert got.usage_rows() == expected.usage_rows()
    assert got.attempt_rows() == expected.attempt_rows()
    whole = fold(SETTINGS.tz, ((0, ev) for ev in usage), ((0, ev) for ev in candidates))
    assert kept.usage.items == whole.usage.items and kept.candidates.items == whole.candidates.items


def test_a_copy_is_independent_of_its_fold() -> None:
    kept = fold(SETTINGS.tz, [(0, _usage("a", 1, "completed", 0, "0.1"))], [])
    before = kept.deltas.usage_fact_rows()
    copy = kept.deltas.copy()
    copy.apply_usage(UsageFacts.of(_usage("a", 1, "completed", 0, "0.1").usage), None)
    assert copy.usage_fact_rows() == [] and kept.deltas.usage_fact_rows() == before != []


def test_fold_some_works_in_pieces_and_says_when_done() -> None:
    kept = fold(SETTINGS.tz, [], [])
    kept.add_usage((0, _usage(rid, 1, "pending", 0, "0")) for rid in IDS)
    assert kept.fold_some(3) is True
    assert len(kept.usage.folded) == 3
    assert kept.fold_some(3) is False
    assert kept.deltas.usage_fact_rows() == fold(SETTINGS.tz, kept.usage.items.values(), []).deltas.usage_fact_rows()


def test_a_part_is_absorbed_only_before_any_of_it_is_folded() -> None:
    part = fold(SETTINGS.tz, [(0, _usage("a", 1, "pending", 0, "0"))], [])
    with pytest.raises(ValueError, match="before any of it is folded"):
        Kept(SETTINGS.tz).absorb(part)
