"""JSON responses: Decimal written as an exact JSON number, datetimes as RFC 3339 (msgspec)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

_encoder = msgspec.json.Encoder(decimal_format="number")


def dumps(value: Any) -> str:
    """Encode `value` as JSON text; Decimal('1.10') becomes the number 1.10, not a string or a float."""
    return _encoder.encode(value).decode("utf-8")


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(value), status=status, content_type="application/json")
