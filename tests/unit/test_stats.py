"""Property tests of usagestream.stats: replay-safe folded deltas equal a recount of the latest states."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usagestream.stats import (
    GRAIN_15M,
    GRAIN_DAY,
    GRAIN_HOUR,
    GRAIN_MONTH,
    MONEY_COUNTERS,
    USAGE_COUNTERS,
    CandidateFacts,
    Deltas,
    UsageFacts,
    bucket_15m,
    buckets,
    day_start,
    month_start,
    recount,
)

FOLD_SETTINGS = settings(max_examples=200, deadline=None)
FOLD_ZONES = ("UTC", "Asia/Shanghai", "America/New_York", "Asia/Kathmandu")
# Zones whose local day start is unambiguous on every date (Havana is covered by its own test below).
DAY_ZONES = FOLD_ZONES + ("Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Beirut")

Row = list[int | Decimal]
F = TypeVar("F", UsageFacts, CandidateFacts)
UsageEvent = tuple[str, int, UsageFacts]  # (usage id, seq, facts)
CandidateEvent = tuple[str, int, CandidateFacts]
CANDIDATE_STATUSES = ("available", "skipped", "pending", "streaming", "success", "failed", "cancelled")

# ----------------------------------------------------------------------------------------------------
# Strategies


def _decimal(units: int, places: int) -> Decimal:
    return Decimal(units).scaleb(-places)


# Up to 15 decimal places and 1e9 in magnitude: sums of a few dozen stay within Decimal's 28 significant
# digits (money beyond that: test_money_beyond_28_significant_digits_is_summed_exactly, a known gap).
money = st.one_of(
    st.sampled_from([Decimal(0), Decimal("0.1"), Decimal("0.2"), Decimal("0.3"), Decimal("1E-15")]),
    st.builds(_decimal, st.integers(0, 10**9), st.integers(0, 15)),
)
tokens = st.integers(0, 200_000)
# A 4-day window across New York's DST end, so that requests share buckets and cross day boundaries.
offsets = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
created_times = st.datetimes(datetime(2024, 11, 1), datetime(2024, 11, 5), timezones=offsets)
zones = st.sampled_from(FOLD_ZONES).map(ZoneInfo)


_FIELDS = st.fixed_dictionaries(
    {
        "user_id": st.sampled_from([None, "u1", "u2"]),
        "api_key_id": st.sampled_from([None, "k1", "k2"]),
        "model": st.sampled_from(["claude-sonnet", "gpt-4o", "gemini"]),
        "provider_name": st.sampled_from(["pending", "unknown", "openai", "anthropic"]),
        "provider_id": st.sampled_from([None, "p1", "p2"]),
        "api_format": st.sampled_from([None, "claude:chat", "openai:chat"]),
        "endpoint_api_format": st.sampled_from([None, "", "gemini:x", "claude:chat"]),
        "status_code": st.sampled_from([None, 200, 400, 499, 500, 504]),
        "has_error_message": st.booleans(),
        "input_tokens": tokens,
        "output_tokens": tokens,
        "total_tokens": tokens,
        "cache_creation_input_tokens": tokens,
        "cache_read_input_tokens": st.one_of(st.just(0), tokens),
        "total_cost_usd": money,
        "actual_total_cost_usd": money,
        "cache_creation_cost_usd": money,
        "cache_read_cost_usd": money,
        "response_time_ms": st.one_of(st.none(), st.integers(0, 600_000)),
    }
)


@st.composite
def usage_facts(draw: st.DrawFn, created_at: datetime, status: str) -> UsageFacts:
    fields: dict[str, Any] = draw(_FIELDS)
    facts = UsageFacts(created_at=created_at, status=status, **fields)
    return replace(facts, provider_name="pending") if status == "pending" else facts


@st.composite
def usage_history(draw: st.DrawFn, usage_id: str, vary_created_at: bool = False) -> list[UsageEvent]:
    """One request's snapshots in seq order: pending, streaming..., maybe terminal, billing corrections."""
    statuses = ["pending"] + ["streaming"] * draw(st.integers(0, 2))
    terminal = draw(st.sampled_from([None, "completed", "failed", "cancelled"]))
    if terminal is not None:
        statuses += [terminal] * draw(st.integers(1, 2))
    created_at = draw(created_times)
    seq, events = 0, list[UsageEvent]()
    for status in statuses:
        seq += draw(st.integers(1, 3))  # gaps are normal
        when = draw(created_times) if vary_created_at else created_at
        events.append((usage_id, seq, draw(usage_facts(when, status))))
    return events


@st.composite
def candidate_history(draw: st.DrawFn, candidate_id: str) -> list[CandidateEvent]:
    created_at = draw(created_times)
    # Any order: a success may be followed by a corrected latency, or even by another status.
    statuses = draw(st.lists(st.sampled_from(CANDIDATE_STATUSES), min_size=1, max_size=4))
    seq, events = 0, list[CandidateEvent]()
    for status in statuses:
        seq += draw(st.integers(1, 3))
        facts = CandidateFacts(
            created_at=created_at,
            provider_id=draw(st.sampled_from([None, "p1", "p2"])),
            status=status,
            latency_ms=draw(st.one_of(st.none(), st.integers(0, 120_000))),
        )
        events.append((candidate_id, seq, facts))
    return events


@st.composite
def deliveries(draw: st.DrawFn, histories: list[list[tuple[str, int, F]]]) -> list[list[tuple[str, int, F]]]:
    """What the topic delivers: versions lost (never the latest), duplicated, reordered, cut in batches."""
    delivered: list[tuple[str, int, F]] = []
    for history in histories:
        kept = [e for e in history[:-1] if draw(st.booleans())] + [history[-1]]
        for event in kept:
            delivered += [event] * draw(st.integers(1, 3))
    shuffled = draw(st.permutations(delivered))
    cuts: list[int] = sorted(draw(st.lists(st.integers(0, len(shuffled)), max_size=4)))
    bounds = [0, *cuts, len(shuffled)]
    return [shuffled[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# ----------------------------------------------------------------------------------------------------
# The store simulator: exactly the worker's protocol (latest seq wins; apply old -> new only for a newer seq)


@dataclass
class Store:
    usage: dict[str, tuple[int, UsageFacts]] = field(default_factory=dict)
    candidates: dict[str, tuple[int, CandidateFacts]] = field(default_factory=dict)
    usage_rows: dict[object, Row] = field(default_factory=dict)
    attempt_rows: dict[object, Row] = field(default_factory=dict)

    def apply_usage_batch(self, batch: Iterable[UsageEvent], tz: ZoneInfo) -> None:
        deltas = Deltas(tz)
        for usage_id, seq, facts in batch:
            stored = self.usage.get(usage_id)
            if stored is not None and stored[0] >= seq:
                continue
            deltas.apply_usage(None if stored is None else stored[1], facts)
            self.usage[usage_id] = (seq, facts)
        _add_rows(self.usage_rows, deltas.usage_rows())

    def apply_candidate_batch(self, batch: Iterable[CandidateEvent], tz: ZoneInfo) -> None:
        deltas = Deltas(tz)
        for candidate_id, seq, facts in batch:
            stored = self.candidates.get(candidate_id)
            if stored is not None and stored[0] >= seq:
                continue
            deltas.apply_candidate(None if stored is None else stored[1], facts)
            self.candidates[candidate_id] = (seq, facts)
        _add_rows(self.attempt_rows, deltas.attempt_rows())


def _add_rows(target: dict[object, Row], rows: Iterable[tuple[object, tuple[int | Decimal, ...]]]) -> None:
    for key, vec in rows:
        acc = target.setdefault(key, [0] * len(vec))
        for i, x in enumerate(vec):
            acc[i] += x


def _nonzero(rows: dict[object, Row]) -> dict[object, tuple[int | Decimal, ...]]:
    return {k: tuple(v) for k, v in rows.items() if any(v)}


def _floor_15m(ts: datetime) -> datetime:
    seconds = int(ts.timestamp())
    return datetime.fromtimestamp(seconds - seconds % 900, UTC)


def _utc_hour(ts: datetime) -> datetime:
    seconds = int(ts.timestamp())
    return datetime.fromtimestamp(seconds - seconds % 3600, UTC)


def _local_month(ts: datetime, tz: ZoneInfo) -> datetime:
    """The first local midnight of the first day of ts's local month (valid where it is regular)."""
    return datetime.combine(ts.astimezone(tz).date().replace(day=1), time(0), tzinfo=tz).astimezone(UTC)


def _local_midnight(ts: datetime, tz: ZoneInfo) -> datetime:
    """The first local midnight of ts's local date (valid where midnight is neither skipped nor repeated)."""
    return datetime.combine(ts.astimezone(tz).date(), time(0), tzinfo=tz).astimezone(UTC)


def attempts_recount(latest: Iterable[CandidateFacts], tz: ZoneInfo) -> dict[object, tuple[int, ...]]:
    """Executed attempts (status success or failed, a provider set) per provider and bucket of created_at."""
    rows: dict[object, Row] = {}
    for f in latest:
        if f.provider_id is None or f.status not in ("success", "failed"):
            continue
        vec = (
            1,
            int(f.status == "success"),
            int(f.status == "failed"),
            f.latency_ms or 0,
            int(f.latency_ms is not None),
        )
        for key in (
            (f.provider_id, GRAIN_15M, _floor_15m(f.created_at)),
            (f.provider_id, GRAIN_DAY, _local_midnight(f.created_at, tz)),
            (f.provider_id, GRAIN_HOUR, _utc_hour(f.created_at)),
            (f.provider_id, GRAIN_MONTH, _local_month(f.created_at, tz)),
        ):
            _add_rows(rows, [(key, vec)])
    return {k: tuple(int(x) for x in v) for k, v in rows.items() if any(v)}


def _check_types(vectors: Iterable[tuple[int | Decimal, ...]]) -> None:
    for vec in vectors:
        assert len(vec) == len(USAGE_COUNTERS)
        for name, x in zip(USAGE_COUNTERS, vec, strict=True):
            assert type(x) is (Decimal if name in MONEY_COUNTERS else int), (name, x)


def _usage(cost: Decimal, at: datetime = datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)) -> UsageFacts:
    return UsageFacts(
        created_at=at,
        user_id="u1",
        api_key_id=None,
        model="m",
        provider_name="openai",
        provider_id="p1",
        api_format=None,
        endpoint_api_format=None,
        status="completed",
        status_code=200,
        has_error_message=False,
        input_tokens=1,
        output_tokens=1,
        total_tokens=2,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=0,
        total_cost_usd=cost,
        actual_total_cost_usd=cost,
        cache_creation_cost_usd=cost,
        cache_read_cost_usd=cost,
        response_time_ms=None,
    )


# ----------------------------------------------------------------------------------------------------
# 1-2. The fold equals a recount of the latest states, whatever the delivery


UsageScenario = tuple[list[list[UsageEvent]], list[list[UsageEvent]]]
CandidateScenario = tuple[list[list[CandidateEvent]], list[list[CandidateEvent]]]


@st.composite
def usage_scenario(draw: st.DrawFn, vary_created_at: bool = False) -> UsageScenario:
    n = draw(st.integers(1, 4))
    histories = [draw(usage_history(f"r{i}", vary_created_at)) for i in range(n)]
    return histories, draw(deliveries(histories))


@FOLD_SETTINGS
@given(scenario=usage_scenario(), tz=zones)
def test_usage_fold_equals_recount_of_latest(scenario: UsageScenario, tz: ZoneInfo) -> None:
    histories, batches = scenario
    store = Store()
    for batch in batches:
        store.apply_usage_batch(batch, tz)
        # After every batch the stored sums equal a recount of what the store holds now.
        assert _nonzero(store.usage_rows) == recount([f for _, f in store.usage.values()], tz)
    latest = {h[-1][0]: h[-1][2] for h in histories}
    assert {usage_id: facts for usage_id, (_, facts) in store.usage.items()} == latest
    expected = recount(list(latest.values()), tz)
    _check_types(expected.values())
    assert _nonzero(store.usage_rows) == expected
    for history in histories:  # a full redelivery from offset 0, in seq order, changes nothing
        store.apply_usage_batch(history, tz)
    assert _nonzero(store.usage_rows) == expected


@settings(max_examples=60, deadline=None)
@given(scenario=usage_scenario(vary_created_at=True), tz=zones)
def test_usage_fold_retracts_at_the_old_buckets(scenario: UsageScenario, tz: ZoneInfo) -> None:
    """Even if a gateway moved created_at between versions, the old contribution leaves the old buckets."""
    histories, batches = scenario
    store = Store()
    for batch in batches:
        store.apply_usage_batch(batch, tz)
    assert _nonzero(store.usage_rows) == recount([h[-1][2] for h in histories], tz)


@st.composite
def candidate_scenario(draw: st.DrawFn) -> CandidateScenario:
    n = draw(st.integers(1, 6))
    histories = [draw(candidate_history(f"c{i}")) for i in range(n)]
    return histories, draw(deliveries(histories))


@settings(max_examples=150, deadline=None)
@given(scenario=candidate_scenario(), tz=zones)
def test_attempt_fold_equals_recount_of_latest(scenario: CandidateScenario, tz: ZoneInfo) -> None:
    histories, batches = scenario
    store = Store()
    for batch in batches:
        store.apply_candidate_batch(batch, tz)
        assert _nonzero(store.attempt_rows) == attempts_recount([f for _, f in store.candidates.values()], tz)
    assert _nonzero(store.attempt_rows) == attempts_recount([h[-1][2] for h in histories], tz)


def test_a_stale_or_duplicate_snapshot_changes_nothing() -> None:
    tz = ZoneInfo("UTC")
    done = _usage(Decimal("0.1"))
    pending = replace(done, provider_name="pending", status="pending", status_code=None)
    store = Store()
    store.apply_usage_batch([("r", 2, done)], tz)
    once = _nonzero(store.usage_rows)
    store.apply_usage_batch([("r", 1, pending), ("r", 2, done), ("r", 2, pending)], tz)
    assert _nonzero(store.usage_rows) == once == recount([done], tz)


# ----------------------------------------------------------------------------------------------------
# 4. Buckets

any_utc_time = st.datetimes(datetime(2000, 1, 1), datetime(2037, 12, 31), timezones=st.just(UTC))
any_offset = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=8)),
        timezone(timedelta(hours=5, minutes=45)),
        timezone(timedelta(hours=-3, minutes=-30)),
    ]
)


def reference_day_start(ts: datetime, tz: ZoneInfo) -> datetime:
    """The earliest UTC instant on ts's local (tz) date, found by walking back by hours, then by minutes."""
    day = ts.astimezone(tz).date()
    u = ts.astimezone(UTC).replace(second=0, microsecond=0)
    for step in (timedelta(hours=1), timedelta(minutes=1)):
        while (u - step).astimezone(tz).date() == day:
            u -= step
    return u


@settings(max_examples=200, deadline=None)
@given(ts=any_utc_time, offset=any_offset)
def test_bucket_15m_floors_to_the_utc_quarter_hour(ts: datetime, offset: timezone) -> None:
    local = ts.astimezone(offset)
    start = bucket_15m(local)
    assert start.utcoffset() == timedelta(0)
    assert start == _floor_15m(ts)
    assert start <= ts < start + timedelta(minutes=15)
    assert start.minute % 15 == 0 and start.second == 0 and start.microsecond == 0


@settings(max_examples=200, deadline=None)
@given(ts=any_utc_time, zone=st.sampled_from(DAY_ZONES), offset=any_offset)
def test_day_start_is_the_utc_instant_of_local_midnight(ts: datetime, zone: str, offset: timezone) -> None:
    tz = ZoneInfo(zone)
    start = day_start(ts.astimezone(offset), tz)
    assert start.utcoffset() == timedelta(0)
    assert start == reference_day_start(ts, tz)
    assert start <= ts
    assert start.astimezone(tz).date() == ts.astimezone(tz).date()
    assert (start - timedelta(microseconds=1)).astimezone(tz).date() < ts.astimezone(tz).date()


@settings(max_examples=200, deadline=None)
@given(ts=any_utc_time, zone=st.sampled_from(DAY_ZONES))
def test_every_bucket_contains_its_timestamp(ts: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    (g15, quarter), (gday, day), (ghour, hour), (gmonth, month) = buckets(ts, tz)
    assert (g15, gday, ghour, gmonth) == (GRAIN_15M, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH)
    assert quarter <= ts < quarter + timedelta(minutes=15)
    assert hour <= quarter < hour + timedelta(hours=1) and hour.minute == 0
    assert month <= day and month.astimezone(tz).day in (1, 2) and month == month_start(day, tz)
    next_day = reference_day_start(day + timedelta(hours=36), tz)  # local days last 23 to 25 hours
    assert day <= quarter and day <= ts < next_day


@pytest.mark.parametrize(
    ("zone", "ts", "expected"),
    [
        ("UTC", "2026-11-28T01:02:03.456+00:00", "2026-11-28T00:00:00+00:00"),
        ("Asia/Shanghai", "2026-11-28T01:02:03.456+00:00", "2026-11-27T16:00:00+00:00"),
        ("Asia/Shanghai", "2026-11-27T15:59:59.999+00:00", "2026-11-26T16:00:00+00:00"),
        ("Asia/Kathmandu", "2026-01-01T00:00:00+00:00", "2025-12-31T18:15:00+00:00"),
        ("Asia/Kathmandu", "2025-12-31T18:14:59+00:00", "2025-12-30T18:15:00+00:00"),
        # New York: the day DST starts (23 h), the day after, the day DST ends (25 h), the day after.
        ("America/New_York", "2024-03-10T23:00:00+00:00", "2024-03-10T05:00:00+00:00"),
        ("America/New_York", "2024-03-11T03:59:59+00:00", "2024-03-10T05:00:00+00:00"),
        ("America/New_York", "2024-03-11T04:00:00+00:00", "2024-03-11T04:00:00+00:00"),
        ("America/New_York", "2024-11-03T06:30:00+00:00", "2024-11-03T04:00:00+00:00"),
        ("America/New_York", "2024-11-04T04:59:59+00:00", "2024-11-03T04:00:00+00:00"),
        ("America/New_York", "2024-11-04T05:00:00+00:00", "2024-11-04T05:00:00+00:00"),
        # Santiago: 2024-09-08 00:00 does not exist locally (00:00 -04 -> 01:00 -03); the day starts at 01:00.
        ("America/Santiago", "2024-09-08T12:00:00+00:00", "2024-09-08T04:00:00+00:00"),
    ],
)
def test_day_start_examples(zone: str, ts: str, expected: str) -> None:
    assert day_start(datetime.fromisoformat(ts), ZoneInfo(zone)) == datetime.fromisoformat(expected)


def test_day_start_when_local_midnight_is_repeated() -> None:
    """Havana ends DST at 01:00 -> 00:00: 2024-11-03 00:00-01:00 is repeated; the day starts at the first."""
    tz = ZoneInfo("America/Havana")
    first = datetime(2024, 11, 3, 4, 30, tzinfo=UTC)  # 00:30 -04
    second = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 00:30 -05, the repeated hour
    assert first.astimezone(tz).date() == second.astimezone(tz).date() == date(2024, 11, 3)
    assert day_start(first, tz) == datetime(2024, 11, 3, 4, 0, tzinfo=UTC)
    assert day_start(second, tz) == datetime(2024, 11, 3, 4, 0, tzinfo=UTC)  # actual: 05:00Z, a second "day"


# ----------------------------------------------------------------------------------------------------
# 5. Money stays exact


def _all_row_cost(d: Deltas) -> Decimal:
    [vec] = [v for k, v in d.usage.items() if k[0] == "all" and k[2] == GRAIN_15M]
    cost = vec[USAGE_COUNTERS.index("cost")]
    assert isinstance(cost, Decimal)
    return cost


def test_a_tenth_ten_times_is_exactly_one_and_retracts_to_zero() -> None:
    d = Deltas(ZoneInfo("UTC"))
    facts = [_usage(Decimal("0.1")) for _ in range(10)]
    for f in facts:
        d.apply_usage(None, f)
    assert _all_row_cost(d) == Decimal(1)
    assert str(_all_row_cost(d)) == "1.0"
    for f in facts:
        d.apply_usage(f, None)
    assert _all_row_cost(d) == 0
    assert d.usage_rows() == []


@settings(max_examples=200, deadline=None)
@given(costs=st.lists(money, min_size=1, max_size=30), data=st.data())
def test_decimal_sums_never_drift(costs: list[Decimal], data: st.DataObject) -> None:
    d = Deltas(ZoneInfo("Asia/Shanghai"))
    facts = [_usage(c) for c in costs]
    for f in facts:
        d.apply_usage(None, f)
    assert _all_row_cost(d) == sum(costs, Decimal(0))
    for f in data.draw(st.permutations(facts)):
        d.apply_usage(f, None)
    assert d.usage_rows() == []
    assert all(x == 0 for vec in d.usage.values() for x in vec)


def test_money_beyond_28_significant_digits_is_summed_exactly() -> None:
    """Float noise such as 5.551115123125783e-17 is valid money; next to 1.5 the exact sum needs 33 digits."""
    noise = Decimal("5.551115123125783E-17")
    d = Deltas(ZoneInfo("UTC"))
    d.apply_usage(None, _usage(noise))
    d.apply_usage(None, _usage(Decimal("1.5")))
    d.apply_usage(_usage(Decimal("1.5")), _usage(Decimal(0)))  # a billing correction of the other request
    assert _all_row_cost(d) == noise  # actual: 5.5511151231E-17, digits lost
