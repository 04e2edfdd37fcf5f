"""read.timeseries._split: the bucket plan divided into the buckets of exactly one stored row (read as stored,
with nothing summed) and the others (summed), losing and doubling nothing, over zones whose days and hours
are irregular and ranges cut at both ends."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from usagestream.materializer.read.timeseries import _split
from usagestream.timeseries import Extent, SeriesPlan, plan

ZONES = ["UTC", "Europe/Berlin", "Asia/Kathmandu", "Australia/Lord_Howe", "America/St_Johns"]
START = datetime(2026, 3, 1, 10, 7, 13, 250_001, tzinfo=UTC)  # spans the March and April DST changes


def _cases() -> list[tuple[str, str, timedelta]]:
    spans = {"15m": timedelta(days=2), "hour": timedelta(days=40), "day": timedelta(days=90)}
    spans |= {"week": timedelta(days=120), "month": timedelta(days=400)}
    return [(zone, g, span) for zone in ZONES for g, span in spans.items()]


def _plan(zone: str, granularity: str, span: timedelta, stored: str) -> SeriesPlan:
    end = START + span - timedelta(seconds=7, microseconds=123_457)
    extent = Extent(START - timedelta(days=500), end + timedelta(hours=2), ZoneInfo(stored))  # data past the end
    return plan(START, end, granularity, ZoneInfo(zone), end + timedelta(hours=1), extent)


@pytest.mark.parametrize(("zone", "granularity", "span"), _cases())
@pytest.mark.parametrize("stored", ["UTC", "Europe/Berlin"])
def test_the_split_keeps_every_row_and_slice_once(zone: str, granularity: str, span: timedelta, stored: str) -> None:
    p = _plan(zone, granularity, span, stored)
    one, many = _split(p)
    assert one.buckets == many.buckets == p.buckets
    assert sorted(one.rows + many.rows) == sorted(p.rows) and many.slices == p.slices and one.slices == ()
    per_bucket = Counter(i for i, _, _ in p.rows)
    sliced = {i for i, _, _ in p.slices}
    alone = {i for i, n in per_bucket.items() if n == 1 and i not in sliced}
    assert {i for i, _, _ in one.rows} == alone and len(one.rows) == len(alone)
    assert not alone & {i for i, _, _ in many.rows}


def test_a_cut_range_sums_only_its_end_buckets() -> None:
    """30 days hourly from an odd second: every bucket but the two cut ends is one UTC hour row."""
    p = _plan("UTC", "hour", timedelta(days=30), "UTC")
    one, many = _split(p)
    assert len(one.rows) == len(p.buckets) - 2
    assert {i for i, _, _ in many.rows} | {i for i, _, _ in many.slices} == {0, len(p.buckets) - 1}
