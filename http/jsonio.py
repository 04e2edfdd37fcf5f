"""JSON responses: Decimal written as an exact JSON number, datetimes as RFC 3339 (msgspec).

Answers that can be large (pages of records, interval timelines, TTL analyses) go through `json_answer`, which
encodes long lists a slice at a time so that no answer holds the event loop for long (usagestream.slices).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from usagestream.slices import SLICE

_encoder = msgspec.json.Encoder(decimal_format="number")


def dumps(value: Any) -> str:
    """Encode `value` as JSON text; Decimal('1.10') becomes the number 1.10, not a string or a float."""
    return _encoder.encode(value).decode("utf-8")


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(value), status=status, content_type="application/json")


async def json_answer(value: Any, status: int = 200) -> web.Response:
    """`json_response` for answers that may be large: the same bytes, encoded in slices."""
    return web.Response(body=await encode_sliced(value), status=status, content_type="application/json")


# How many list items and object members (at any depth) an answer may hold to be encoded in one call: a slice's
# worth of cheap shapes (a timeline point has a few members). A page of 100 records holds ~6,500.
SMALL = 8


async def encode_sliced(value: Any, size: int = SLICE) -> bytes:
    """The bytes `_encoder.encode(value)` gives, with lists longer than a slice encoded a slice at a time (msgspec
    writes no whitespace and keeps dict order, so the parts join to the same text). A value of at most
    `SMALL * size` items and members (`_within`) is one call: taken apart, each member of each object was a call
    of its own (a page of 20 records: ~1,000 calls, more than the rest of its shaping)."""
    if _within(value, SMALL * size):
        return _encoder.encode(value)
    if isinstance(value, dict):
        items = [_encoder.encode(k) + b":" + await encode_sliced(v, size) for k, v in value.items()]
        return b"{" + b",".join(items) + b"}"
    if isinstance(value, list) and len(value) <= size and any(_nests(v) for v in value):
        # A short list of containers of lists (the series of a time series) may still hold long lists inside; a
        # short list of flat objects (a series' points) is one encode: one call per field costs ten times more.
        return b"[" + b",".join([await encode_sliced(v, size) for v in value]) + b"]"
    if isinstance(value, list) and len(value) > size:
        chunks = []
        for i in range(0, len(value), size):
            if i:
                await asyncio.sleep(0)
            chunks.append(_encoder.encode(value[i : i + size])[1:-1])
        return b"[" + b",".join(chunks) + b"]"
    return _encoder.encode(value)


def _nests(value: Any) -> bool:
    """A list, or an object holding a list or an object: what may hide a long list."""
    return isinstance(value, list) or (
        isinstance(value, dict) and any(isinstance(v, (dict, list)) for v in value.values())
    )


def _within(value: Any, budget: int) -> bool:
    """Whether `value` holds at most `budget` list items and object members in all (at any depth), estimated from
    the first item of each list (an answer's lists hold items of one shape): walking every item cost more than
    encoding them."""
    return _items(value, budget) <= budget


def _items(value: Any, budget: int) -> int:
    """The estimate of `_within`, at most a little over `budget` (it stops counting there)."""
    if isinstance(value, dict):
        n = len(value)
        for v in value.values():
            if isinstance(v, (dict, list)):
                n += _items(v, budget - n)
                if n > budget:
                    break
        return n
    if isinstance(value, list) and value:
        return len(value) * (1 + _items(value[0], budget // len(value)))
    return 0
