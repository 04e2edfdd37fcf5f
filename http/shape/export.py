"""Exports as text: CSV (RFC 4180) or JSON Lines of records, aggregation items and time series points.

Pure functions (no I/O); docs/api.md "Exports" is the reader's contract:
- JSON Lines: one JSON object per line, the item exactly as the JSON endpoint gives it (money an exact number).
- CSV: a header row, CRLF line ends, fields quoted when needed. Columns are the JSON item's fields under the
  same names; a nested object's fields are `parent.field` (`api_key.id`), any other JSON value (request
  metadata) is its JSON text. null is an empty cell, booleans `true`/`false`, money exact decimal text without
  an exponent (`0.000001`, never `1E-6`).
- CSV injection: a text cell starting with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with a single
  quote (`'`), so that a spreadsheet shows it as text instead of evaluating it as a formula (OWASP's advice).
  Numbers are never prefixed (a negative number stays a number). JSON Lines is left as is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from usagestream.http.shape.newer_fields import CACHE_SPLIT, CLIENT, STREAM_FLAGS

Item = Mapping[str, Any]
FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"), "jsonl": ("application/x-ndjson", "jsonl")}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_API_KEY = ("api_key.id", "api_key.name", "api_key.display")
# The /records item's fields (http/shape/records.py `record_item`), api_key flattened.
RECORD_COLUMNS = (
    "id",
    "user_id",
    "user_email",
    "username",
    *_API_KEY,
    "provider",
    "model",
    "target_model",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_tokens",
    "cost",
    "actual_cost",
    "rate_multiplier",
    "response_time_ms",
    "first_byte_time_ms",
    "created_at",
    "is_stream",
    "input_price_per_1m",
    "output_price_per_1m",
    "cache_creation_price_per_1m",
    "cache_read_price_per_1m",
    "status_code",
    "error_message",
    "status",
    "has_fallback",
    "has_retry",
    "has_rectified",
    "api_format",
    "endpoint_api_format",
    "has_format_conversion",
    "api_key_name",
    "request_metadata",
    "effective_input_tokens",
    *CACHE_SPLIT,  # today's Aether's fields: empty cells where the contract carries nothing
    *STREAM_FLAGS,
    "provider_key_name",
    "model_version",
)
# A record of /api/users/me/usage (`user_record_item`): no user, provider, upstream-key or actual-cost field.
USER_RECORD_COLUMNS = (
    "id",
    "model",
    "target_model",
    "api_format",
    "endpoint_api_format",
    "has_format_conversion",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "response_time_ms",
    "first_byte_time_ms",
    "is_stream",
    "status",
    "created_at",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "status_code",
    "error_message",
    "input_price_per_1m",
    "output_price_per_1m",
    "cache_creation_price_per_1m",
    "cache_read_price_per_1m",
    *_API_KEY,
    "effective_input_tokens",
    *CACHE_SPLIT,  # today's Aether's fields: empty cells where the contract carries nothing
    *STREAM_FLAGS,
    *CLIENT,
    "has_fallback",
)
_TOTALS = ("request_count", "total_tokens", "total_cost", "actual_cost")
# /aggregation/stats items by group_by (materializer/read/stats.py `*_item`).
AGGREGATION_COLUMNS = {
    "model": ("model", *_TOTALS),
    "api_format": ("api_format", *_TOTALS, "avg_response_time_ms"),
    "user": ("user_id", "email", "username", "request_count", "total_tokens", "total_cost"),
    "provider": ("provider_id", "provider", *_TOTALS, "avg_response_time_ms", "success_rate", "error_count"),
}
# A time series as rows: the series' key and label, then the point (http/shape/timeseries.py `point`).
TIMESERIES_COLUMNS = (
    "key",
    "label",
    "bucket",
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "total_tokens",
    "cost",
    "actual_cost",
    "errors",
    "avg_response_time",
    "partial",
)

_json = msgspec.json.Encoder(decimal_format="number")


def flatten(item: Item) -> dict[str, Any]:
    """A nested object's fields become `parent.field` (a null object: each of its columns null)."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key == "api_key":
            value = value or {}
            for column in _API_KEY:
                out[column] = value.get(column.removeprefix("api_key."))
        else:
            out[key] = value
    return out


def series_row(series: Item, point: Item) -> dict[str, Any]:
    """One point of a time series answer (http/shape/timeseries.py `series_body`) as a row: its series' key and
    label, then the point's fields."""
    return {"key": series["key"], "label": series["label"], **point}


def series_rows(body: Item) -> list[dict[str, Any]]:
    """A time series answer as one row per series and bucket."""
    return [series_row(s, p) for s in body["series"] for p in s["points"]]


def cell(value: Any) -> str:
    """One CSV cell's text (module docstring). Text first: most cells are."""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return str(value)
    text = _json.encode(value).decode("utf-8")  # a JSON object or array: starts with { or [
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(rows: Iterable[Sequence[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def csv_header(columns: Sequence[str]) -> bytes:
    return csv_text([columns])


def csv_rows(items: Iterable[Item], columns: Sequence[str]) -> bytes:
    """The CSV lines of flat items (`flatten` nested ones first), fields in `columns` order."""
    return csv_text([cell(item.get(c)) for c in columns] for item in items)


def jsonl_rows(items: Iterable[Item]) -> bytes:
    return b"".join(_json.encode(item) + b"\n" for item in items)


def encode(items: Sequence[Item], columns: Sequence[str], fmt: str, nested: bool = False) -> bytes:
    """The lines of `items` in `fmt` (no CSV header): JSON Lines as the items are, CSV flattened if `nested`."""
    if fmt == "jsonl":
        return jsonl_rows(items)
    return csv_rows([flatten(i) for i in items] if nested else items, columns)
