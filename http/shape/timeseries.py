"""The JSON shape of a time series answer (docs/api.md "Time series"): buckets as ISO instants in the zone's
offset, money exact, response time averaged in seconds.

PostgreSQL writes each point's text (materializer/read/series_points.py); this module wraps the series around
them (`series_json`, the bytes the API sends) or decodes them into objects (`series_body`, for the exports and
the tests). A point is `{"bucket", "requests", "input_tokens", "output_tokens", "cache_creation_tokens",
"cache_read_tokens", "total_tokens", "cost", "actual_cost", "errors", "avg_response_time", "partial"}`:
money exact as summed, `avg_response_time` the exact mean in seconds rounded half up to 2 places (null: no
response time in the bucket).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, TypedDict

import msgspec

from usagestream.materializer.read.timeseries import SeriesAnswer, SeriesQuery

_encoder = msgspec.json.Encoder()


class Point(TypedDict):
    bucket: str
    requests: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    total_tokens: int
    cost: Decimal
    actual_cost: Decimal
    errors: int
    avg_response_time: float | None
    partial: bool


_points = msgspec.json.Decoder(list[Point])
_raw_points = msgspec.json.Decoder(list[msgspec.Raw])
# Points decoded into objects per slice of the event loop: a series of 10,000 points (Decimal money) in one go held
# the loop for about 50 ms (a clean-clone CI run saw /health wait 68 ms during the largest export); splitting the
# text into raw points first costs about a microsecond a point.
DECODE_SLICE = 1000


def _head(answer: SeriesAnswer, q: SeriesQuery) -> dict[str, Any]:
    return {
        "granularity": q.granularity,
        "timezone": q.tz.key,
        "start_date": answer.start.astimezone(q.tz).isoformat(),
        "end_date": answer.end.astimezone(q.tz).isoformat(),
    }


def series_json(answer: SeriesAnswer, q: SeriesQuery) -> bytes:
    """The answer's bytes: one join of the points' text (as PostgreSQL sent it) and a few pieces around it,
    whatever the number of points (megabytes: each copy of them is a fresh allocation, so there is one)."""
    parts = [_encoder.encode(_head(answer, q))[:-1], b',"series":[']
    for n, s in enumerate(answer.series):
        parts += [b',{"key":' if n else b'{"key":', _encoder.encode(s.key), b',"label":', _encoder.encode(s.label)]
        parts += [b',"points":[', *_commas(s.points), b"]}"]
    parts.append(b"]}")
    return b"".join(parts)


def _commas(chunks: tuple[bytes | None, ...]) -> list[bytes]:
    """The parts of a series' points with a comma between two (a part without points adds nothing)."""
    out: list[bytes] = []
    for chunk in chunks:
        if chunk:
            out += [b",", chunk] if out else [chunk]
    return out


async def series_body(answer: SeriesAnswer, q: SeriesQuery) -> dict[str, Any]:
    """The answer as objects (money Decimal): what `series_json` sends, decoded DECODE_SLICE points per slice of
    the event loop."""
    series = []
    for s in answer.series:
        await asyncio.sleep(0)
        raw = _raw_points.decode(b"[" + b"".join(_commas(s.points)) + b"]")
        points: list[Point] = []
        for i in range(0, len(raw), DECODE_SLICE):
            if i:
                await asyncio.sleep(0)
            points.extend(_points.decode(b"[" + b",".join(raw[i : i + DECODE_SLICE]) + b"]"))
        series.append({"key": s.key, "label": s.label, "points": points})
    return {**_head(answer, q), "series": series}
