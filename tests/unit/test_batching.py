"""The worker's batch logic: collapse a batch to the newest snapshot per id, then fold the survivors' changes.

The reference here is written row by row (every fact added to each of its aggregate rows, one at a time), never
with usagestream.stats.Deltas, whose per-fact-key summing and memoized buckets it checks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from test_stats import FOLD_ZONES, deliveries, usage_facts, usage_history

from usagestream.batching import collapse
from usagestream.stats import EXACT, Deltas, UsageFacts, buckets, dimension_keys, usage_contribution

Row = tuple[int | Decimal, ...]


def reference_rows(facts: list[UsageFacts], tz: ZoneInfo) -> dict[object, Row]:
    """Every fact added to each (dimension, key, grain, bucket) row it belongs to; zero rows dropped."""
    acc: dict[object, list[int | Decimal]] = {}
    with localcontext(EXACT):
        for f in facts:
            vec = usage_contribution(f)
            for dim, key in dimension_keys(f):
                for grain, start in buckets(f.created_at, tz):
                    row = acc.setdefault((dim, key, grain, start), [0] * len(vec))
                    for i, x in enumerate(vec):
                        row[i] += x
    return {k: tuple(v) for k, v in acc.items() if any(v)}


def _add(target: dict[object, Row], rows: list[tuple[object, Row]]) -> None:
    with localcontext(EXACT):
        for key, vec in rows:
            cur = target.get(key)
            target[key] = vec if cur is None else tuple(a + b for a, b in zip(cur, vec, strict=True))


@settings(max_examples=80, deadline=None)
@given(data=st.data(), zone=st.sampled_from(FOLD_ZONES).map(ZoneInfo), n=st.integers(1, 6))
def test_aggregate_of_collapsed_batches_equals_recount_of_latest_states(
    data: st.DataObject, zone: ZoneInfo, n: int
) -> None:
    histories = [data.draw(usage_history(f"u{i}", vary_created_at=True)) for i in range(n)]
    batches = data.draw(deliveries(histories))
    stored: dict[str, tuple[int, UsageFacts]] = {}
    totals: dict[object, Row] = {}
    for batch in batches:
        survivors, dropped = collapse(batch, lambda e: e[0], lambda e: e[1])
        assert dropped == len(batch) - len(survivors)
        assert len({e[0] for e in survivors}) == len(survivors)
        for usage_id, seq, _ in survivors:
            assert seq == max(s for u, s, _ in batch if u == usage_id)
        deltas = Deltas(zone)
        for usage_id, seq, facts in survivors:
            old = stored.get(usage_id)
            if old is not None and old[0] >= seq:
                continue  # PostgreSQL holds this seq or a newer one
            deltas.apply_usage(None if old is None else old[1], facts)
            stored[usage_id] = (seq, facts)
        _add(totals, deltas.usage_rows())
    latest = [h[-1][2] for h in histories]
    assert {k: v for k, v in totals.items() if any(v)} == reference_rows(latest, zone)


# Zones whose offsets are not whole quarter hours in some years (LMT), and ones that are (Kathmandu +05:45).
ODD_ZONES = ("Asia/Kathmandu", "Africa/Monrovia", "Europe/Amsterdam", "America/St_Johns", "Australia/Lord_Howe")


@settings(max_examples=120, deadline=None)
@given(data=st.data(), zone=st.sampled_from(ODD_ZONES + FOLD_ZONES).map(ZoneInfo), n=st.integers(1, 8))
def test_deltas_equal_the_row_by_row_sum_in_any_zone(data: st.DataObject, zone: ZoneInfo, n: int) -> None:
    # Around a local midnight, of a day in a year with odd offsets (before 1940) or with today's.
    day = data.draw(st.dates(date(1900, 1, 1), date(1940, 1, 1)) | st.dates(date(2020, 1, 1), date(2030, 1, 1)))
    midnight = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    times = [midnight + timedelta(seconds=data.draw(st.integers(-1800, 1800))) for _ in range(n)]
    facts = [data.draw(usage_facts(t, data.draw(st.sampled_from(["completed", "failed"])))) for t in times]
    deltas = Deltas(zone)
    for f in facts:
        deltas.apply_usage(None, f)
    assert dict(deltas.usage_rows()) == reference_rows(facts, zone)
    for f in facts[: n // 2]:  # retracting a state takes exactly its contribution away
        deltas.apply_usage(f, None)
    assert dict(deltas.usage_rows()) == reference_rows(facts[n // 2 :], zone)


def test_collapse_keeps_the_first_of_equal_seqs_and_counts_the_rest() -> None:
    items = [("a", 1, "a1"), ("b", 2, "b2"), ("a", 3, "a3"), ("a", 3, "a3-dup"), ("b", 1, "b1-late")]
    kept, dropped = collapse(items, lambda e: e[0], lambda e: e[1])
    assert kept == [("a", 3, "a3"), ("b", 2, "b2")]
    assert dropped == 3
    assert collapse([], lambda e: e, lambda e: 0) == ([], 0)
