"""usagestream.timeseries.subset: some runs of a plan's buckets as a plan of their own (the buckets a series reads
beside its kept chunks, materializer/read/series_cache.py) holds exactly those buckets' rows and slices,
re-indexed in order, however the runs fall, and `plan_of` plans exactly that subset from the buckets alone; and
the kept chunks' segments cover every bucket once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as hs

from usagestream.materializer.read.series_cache import segments
from usagestream.timeseries import Extent, SeriesPlan, buckets_sliced, plan, plan_of, subset, subset_sliced

START = datetime(2026, 3, 1, 10, 7, 13, 250_001, tzinfo=UTC)
SPANS = {"15m": timedelta(days=2), "hour": timedelta(days=40), "day": timedelta(days=90), "month": timedelta(days=400)}


def _args(zone: str, granularity: str) -> tuple[datetime, datetime, ZoneInfo, datetime, Extent]:
    end = START + SPANS[granularity] - timedelta(seconds=7, microseconds=123_457)
    extent = Extent(START - timedelta(days=500), end - timedelta(days=1), ZoneInfo("Europe/Berlin"))
    return START, end, ZoneInfo(zone), end - timedelta(days=1, hours=5), extent


def _plan(zone: str, granularity: str) -> SeriesPlan:
    start, end, tz, now, extent = _args(zone, granularity)
    return plan(start, end, granularity, tz, now, extent)


def _naive(p: SeriesPlan, keep: list[int]) -> SeriesPlan:
    new = {old: i for i, old in enumerate(keep)}
    rows = tuple((new[i], g, t) for i, g, t in p.rows if i in new)
    slices = tuple((new[i], a, z) for i, a, z in p.slices if i in new)
    return SeriesPlan(tuple(p.buckets[i] for i in keep), rows, slices)


@settings(deadline=None)  # several plans of up to 400 days per case
@given(
    zone=hs.sampled_from(["UTC", "Europe/Berlin", "Asia/Kathmandu", "Australia/Lord_Howe"]),
    granularity=hs.sampled_from(sorted(SPANS)),
    cuts=hs.lists(hs.floats(0, 1), max_size=8),
)
def test_a_subset_is_its_buckets_rows_and_slices(zone: str, granularity: str, cuts: list[float]) -> None:
    p = _plan(zone, granularity)
    marks = sorted({0, len(p.buckets), *(int(c * len(p.buckets)) for c in cuts)})
    runs = [(a, z) for n, (a, z) in enumerate(zip(marks, marks[1:], strict=False)) if n % 2 == 0]
    keep = [i for a, z in runs for i in range(a, z)]
    assert subset(p, runs) == _naive(p, keep) == asyncio.run(subset_sliced(p, runs))
    start, end, tz, now, extent = _args(zone, granularity)
    buckets = asyncio.run(buckets_sliced(start, end, granularity, tz, now))
    assert buckets == p.buckets
    assert asyncio.run(plan_of(buckets, runs, start, end, extent)) == subset(p, runs)
    assert asyncio.run(plan_of(buckets, runs, start, end, extent, True)) == subset(
        plan(start, end, granularity, tz, now, extent, True), runs
    )


@given(zone=hs.sampled_from(["UTC", "Asia/Kathmandu", "America/St_Johns"]), granularity=hs.sampled_from(sorted(SPANS)))
def test_segments_cover_every_bucket_once_and_keep_only_whole_ones(zone: str, granularity: str) -> None:
    p = _plan(zone, granularity)
    segs = asyncio.run(segments(p.buckets, granularity))
    assert [s.lo for s in segs[1:]] == [s.hi for s in segs[:-1]] and segs[0].lo == 0 and segs[-1].hi == len(p.buckets)
    for s in segs:
        assert all(not b.partial for b in p.buckets[s.lo : s.hi]) == s.kept
