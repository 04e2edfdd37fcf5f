"""The API's error envelope `{"error": {"type", "message"}}` and the exception that carries it."""

from __future__ import annotations

from aiohttp import web

from usagestream.http.jsonio import json_response

VALIDATION = "validation_error"  # 422: a parameter out of bounds or unparseable
HTTP = "http_error"  # 400, 401, 403, 404, 405
UNAVAILABLE = "service_unavailable"  # 503: PostgreSQL or Redis did not answer
INTERNAL = "internal_error"  # 500: a bug; never caused by what a client sends


class ApiError(Exception):
    """An answer other than 2xx, raised anywhere below a handler and rendered by the error middleware."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError(422, VALIDATION, message)


def http_error(status: int, message: str) -> ApiError:
    return ApiError(status, HTTP, message)


def envelope(kind: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"type": kind, "message": message}}


def error_response(status: int, kind: str, message: str) -> web.Response:
    return json_response(envelope(kind, message), status=status)
