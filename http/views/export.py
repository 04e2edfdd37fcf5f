"""Handlers of the export paths (docs/api.md "Exports"): the same parameters and scope as the JSON paths, the
answer as a CSV or JSON Lines download.

Records are streamed (chunked transfer encoding) while the cursor reads them: the status line and headers go
out before the first row, so a failure later (PostgreSQL gone) can only cut the download short: the response
ends without its terminating chunk, which every HTTP client reports as an incomplete body. A client that leaves
cancels the handler (handler_cancellation), which closes the cursor and its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from usagestream.http import export_stream, params
from usagestream.http.auth import Principal
from usagestream.http.errors import http_error, invalid
from usagestream.http.keys import OPTIONS, POOL, SETTINGS, STORE
from usagestream.http.shape import export as shape
from usagestream.http.views.timeseries_params import series_query
from usagestream.materializer.read.records import RecordQuery
from usagestream.settings import Settings
from usagestream.timeseries import PlanError

Range = datetime | None
BUSY = "Too many exports are running: retry when one has finished"


@dataclass
class Slots:
    """Record exports running in this process: each holds one pooled PostgreSQL connection for its whole length,
    so at most ApiOptions.exports_max at once, leaving the rest of the pool to every other request."""

    limit: int
    running: int = 0


SLOTS = web.AppKey("export_slots", Slots)


def setup(app: web.Application) -> None:
    app[SLOTS] = Slots(app[OPTIONS].exports_max)


def _now() -> datetime:
    return datetime.now(UTC)


def export_format(query: params.Query) -> str:
    value = params.text(query, "format")
    if value is None:
        return "csv"
    if value not in shape.FORMATS:
        raise invalid(f"Query parameter 'format': Input should be one of: {', '.join(shape.FORMATS)}")
    return value


def _headers(name: str, fmt: str) -> dict[str, str]:
    content_type, ext = shape.FORMATS[fmt]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="usage-{name}-{stamp}.{ext}"',
        "Cache-Control": "no-store",
    }


def _download(name: str, fmt: str, body: bytes) -> web.Response:
    return web.Response(body=body, headers=_headers(name, fmt))


def admin_record_query(q: params.Query, settings: Settings, now: datetime) -> RecordQuery:
    """Every /records filter, parsed as /records parses it (no limit or offset: every matching record)."""
    start, end = params.admin_range(q, settings.admin_default_days, now, zone=settings.tz)
    return RecordQuery(
        start=start,
        end=end,
        search=params.text(q, "search"),
        user_id=params.text(q, "user_id"),
        username=params.text(q, "username"),
        model=params.text(q, "model"),
        provider=params.text(q, "provider"),
        status=params.record_status(q),
        api_format=params.text(q, "api_format") or None,  # empty: no filter, as Aether reads it
    )


def user_record_query(q: params.Query, user_id: str, settings: Settings, now: datetime) -> RecordQuery:
    """The filters of /api/users/me/usage: the range and the search over the caller's own records."""
    start, end = params.date_range(q, zone=settings.tz, now=now)
    return RecordQuery(start=start, end=end, search=params.text(q, "search"), owner=user_id)


def aggregation_query(q: params.Query, settings: Settings, now: datetime) -> tuple[str, Range, Range, int]:
    """(group_by, start, end, limit) as /aggregation/stats parses them."""
    start, end = params.admin_range(q, settings.admin_default_days, now, zone=settings.tz)
    limit = params.integer(q, "limit", 20, 1, 100)
    return params.group_by(q), start, end, limit


async def _stream(request: web.Request, rq: RecordQuery, fmt: str) -> web.StreamResponse:
    slots = request.app[SLOTS]
    if slots.running >= slots.limit:
        raise http_error(429, BUSY)
    slots.running += 1
    try:
        return await _streamed(request, rq, fmt)
    finally:
        slots.running -= 1


async def _streamed(request: web.Request, rq: RecordQuery, fmt: str) -> web.StreamResponse:
    response = web.StreamResponse(headers=_headers("records", fmt))
    response.enable_chunked_encoding()
    pieces = export_stream.records(request.app[POOL], rq, fmt)
    try:
        async for _rows, data in pieces:
            if not response.prepared:
                await response.prepare(request)  # after the first read: a failing query is still a clean 503
            await response.write(data)
    finally:
        await pieces.aclose()
    if not response.prepared:
        await response.prepare(request)
    await response.write_eof()
    return response


async def admin_records(request: web.Request, _who: Principal) -> web.StreamResponse:
    fmt = export_format(request.query)
    return await _stream(request, admin_record_query(request.query, request.app[SETTINGS], _now()), fmt)


async def user_records(request: web.Request, who: Principal) -> web.StreamResponse:
    fmt = export_format(request.query)
    return await _stream(request, user_record_query(request.query, who.user_id, request.app[SETTINGS], _now()), fmt)


async def admin_aggregation(request: web.Request, _who: Principal) -> web.StreamResponse:
    fmt = export_format(request.query)
    group_by, start, end, limit = aggregation_query(request.query, request.app[SETTINGS], _now())
    items = await request.app[STORE].aggregation(group_by, start, end, limit)
    body = await export_stream.whole(items, shape.AGGREGATION_COLUMNS[group_by], fmt)
    return _download(f"aggregation-{group_by}", fmt, body)


async def _series(request: web.Request, user_id: str | None) -> web.StreamResponse:
    fmt = export_format(request.query)
    settings = request.app[SETTINGS]
    sq = series_query(request.query, settings, _now(), user_id)
    try:
        _rows, body = await export_stream.series(request.app[POOL], sq, settings.timezone, fmt)
    except PlanError as exc:
        raise invalid(str(exc)) from None
    return _download("timeseries", fmt, body)


async def admin_timeseries(request: web.Request, _who: Principal) -> web.StreamResponse:
    return await _series(request, None)


async def user_timeseries(request: web.Request, who: Principal) -> web.StreamResponse:
    return await _series(request, who.user_id)
