"""The exports' time series decoding (http/shape/timeseries.py `series_body`) hands the event loop back between
slices of points: a 10,000-point series decoded in one go held the API's loop (and its /health) for tens of ms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from testsupport import ticks_during

from usagestream.http.export_stream import whole
from usagestream.http.shape import export as shape
from usagestream.http.shape.timeseries import DECODE_SLICE, series_body
from usagestream.materializer.read.timeseries import Series, SeriesAnswer, SeriesQuery

START = datetime(2026, 1, 1, tzinfo=UTC)


def _point(i: int) -> dict[str, object]:
    return {
        "bucket": (START + timedelta(minutes=15 * i)).isoformat(),
        "requests": i,
        "input_tokens": 3 * i,
        "output_tokens": 2 * i,
        "cache_creation_tokens": i % 7,
        "cache_read_tokens": i % 5,
        "total_tokens": 5 * i + i % 7 + i % 5,
        "cost": f"{i}.000000{i % 10}1",  # replaced below by a bare JSON number: money is exact, never a float
        "actual_cost": "0.1",
        "errors": i % 3,
        "avg_response_time": None if i % 4 == 0 else round(i / 100, 2),
        "partial": i == 10_499,
    }


def _answer(n: int) -> SeriesAnswer:
    texts = [json.dumps(_point(i)).replace(f'"{i}.000000{i % 10}1"', f"{i}.000000{i % 10}1") for i in range(n)]
    texts = [t.replace('"0.1"', "0.1") for t in texts]
    q_end = START + timedelta(minutes=15 * n)
    return SeriesAnswer(
        start=START, end=q_end, buckets=(), series=[Series(key="u1", label="one", points=(",".join(texts).encode(),))]
    )


async def test_a_long_series_is_decoded_in_slices_with_exact_money() -> None:
    n = 10 * DECODE_SLICE + 500
    answer = _answer(n)
    q = SeriesQuery(START, answer.end, "15m", ZoneInfo("UTC"), "user", 9, answer.end)
    body, ticks = await ticks_during(series_body(answer, q))
    points = body["series"][0]["points"]
    assert len(points) == n
    assert ticks >= 10  # 11 slices of points after the raw split: the loop ran other tasks between them
    assert points[1234]["cost"] == Decimal("1234.0000004" + "1") and points[7]["actual_cost"] == Decimal("0.1")
    assert points[8]["avg_response_time"] is None and points[9]["avg_response_time"] == 0.09
    assert [p["requests"] for p in points] == list(range(n)) and points[-1]["partial"] is True


async def test_a_series_export_encodes_csv_in_small_slices() -> None:
    """CSV cells are shaped one Python call each: 1,000 rows of a series took about 16 ms of the loop here, so a
    slice holds at most 250."""
    rows = [{"key": "u1", "label": "one", **_point(i)} for i in range(4001)]
    got, ticks = await ticks_during(whole(rows, shape.TIMESERIES_COLUMNS, "csv"))
    assert got == shape.csv_header(shape.TIMESERIES_COLUMNS) + shape.encode(rows, shape.TIMESERIES_COLUMNS, "csv")
    assert ticks >= 16
