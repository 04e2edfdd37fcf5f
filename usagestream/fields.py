"""The usage record's fields, stated once: wire type, money or not, column, who may see it, nullability, bounds.

The parser's wire shape (contract.py), the table's column lists (materializer/pg_tables.py), the publisher's
checks (publisher/records.py), the JSON Schema's UsageRecord (docs/contract.schema.json, written by
scripts/generate_fields.py), the record formatting's field groups (http/shape/records.py) and the
dashboard's field list (http/static/fields.json, written by the same script) derive from USAGE_FIELDS.
How to add a field: docs/design.md "Adding a field to the usage record".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

# Bounds the contract leaves open (docs/contract-notes.md). Each keeps a value storable in its PostgreSQL column
# or btree index, so that a hostile value is dead-lettered by the parser, not failing a database write the worker
# would retry forever.
MAX_NAME = 255  # ids and names: indexed text; 4 bytes x 255 x 2 (user_model key) stays under btree's 2704 bytes
MAX_ENTITY_ID = 511  # `<provider_id>:<model>`
MAX_INT32 = 2**31 - 1  # token counts, durations, indexes, status codes: the reference gateway's int columns
MAX_SEQ = 2**63 - 1  # bigint
MAX_MONEY = Decimal(10) ** 15
MAX_MONEY_SCALE = 16383  # PostgreSQL numeric's limit on digits after the decimal point


class UsageStatus(StrEnum):
    """A request's status (docs/contract.md §2): the members compare and hash as their strings."""

    PENDING = "pending"
    STREAMING = "streaming"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CandidateStatus(StrEnum):
    """A provider attempt slot's status (docs/contract.md §3)."""

    AVAILABLE = "available"
    SKIPPED = "skipped"
    PENDING = "pending"
    STREAMING = "streaming"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A request still in flight: counted in the live set and /active, not yet in the finished statistics. SQL states
# the same set as the literal `status IN ('pending', 'streaming')` (tests/unit/test_fields.py checks each one).
ACTIVE_STATUSES = frozenset({UsageStatus.PENDING, UsageStatus.STREAMING})
TERMINAL_STATUSES = frozenset(UsageStatus) - ACTIVE_STATUSES
# An attempt that reached its provider: the attempts statistics count these.
EXECUTED_STATUSES = frozenset({CandidateStatus.SUCCESS, CandidateStatus.FAILED})

# Wire types. Each names the JSON Schema definition that states it (docs/contract.schema.json `$defs`), with a
# `nullable_` prefix when the field may be null or absent:
#   key    an id that keys the record: 1 to MAX_NAME characters, no control character
#   id     an id or a name that forms keys (model, API format): at most MAX_NAME characters, no control character
#   name   a display name, never part of a key: at most MAX_NAME characters
#   text   free text
#   bool   true or false
#   count  a token count or a duration in ms: an integer 0 to MAX_INT32
#   int32  a signed 32-bit integer (an HTTP status code)
#   money  USD, a JSON number 0 to 1e15 read as the exact Decimal written, at most MAX_MONEY_SCALE decimals
#   stamp  an RFC 3339 timestamp with an offset
#   status one of UsageStatus
#   object a JSON object
#   any    any JSON value
Wire = Literal["key", "id", "name", "text", "bool", "count", "int32", "money", "stamp", "status", "object", "any"]
Seen = Literal["user", "admin"]

# The PostgreSQL type of a column of each wire type, unless the field says otherwise.
SQL_TYPES: dict[str, str] = {
    "key": "text",
    "id": "text",
    "name": "text",
    "text": "text",
    "bool": "boolean",
    "count": "bigint",
    "int32": "integer",
    "money": "numeric",
    "stamp": "timestamp with time zone",
    "status": "text",
    "object": "jsonb",
    "any": "jsonb",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the usage record (docs/contract.md §2.3).

    `seen_by`: "user" if a user's own records may show it (GET /api/users/me/usage), "admin" if only admins
    see it (tests/unit/test_fields.py checks the user's record shape against it). `page`: read for a /records
    page (else only by the detail). `label`: the dashboard's name for it, under its section of the request
    drawer (Request, Tokens, Cost), so short ("Input" among the tokens).
    """

    name: str
    wire: Wire
    label: str
    nullable: bool = False
    seen_by: Seen = "admin"
    page: bool = False
    sql: str = ""  # the column's PostgreSQL type; "" means SQL_TYPES[wire]
    display: str = ""  # how the dashboard formats it (http/static/fmt.js); "" means by its wire type

    @property
    def column(self) -> str:
        """The usage_records column holding it (today always the wire name)."""
        return self.name

    @property
    def money(self) -> bool:
        return self.wire == "money"

    @property
    def sql_type(self) -> str:
        return self.sql or SQL_TYPES[self.wire]

    @property
    def schema_def(self) -> str:
        """The name of the JSON Schema definition of its wire type (see Wire)."""
        return ("nullable_" if self.nullable else "") + ("timestamp" if self.wire == "stamp" else self.wire)


_F = Field
_U: Literal["user"] = "user"

# In wire order: the parser's snapshot, the COPY into usage_records and the JSON Schema keep this order.
USAGE_FIELDS: tuple[Field, ...] = (
    _F("id", "key", "Usage id", seen_by=_U, page=True),
    _F("request_id", "id", "Request id", page=True),
    _F("user_id", "id", "User", nullable=True, page=True),
    _F("api_key_id", "id", "API key", nullable=True, seen_by=_U, page=True),
    _F("provider_name", "name", "Provider", page=True),
    _F("provider_id", "id", "Provider id", nullable=True, page=True),
    _F("provider_endpoint_id", "id", "Provider endpoint", nullable=True, page=True),
    _F("provider_api_key_id", "id", "Upstream key", nullable=True, page=True),
    _F("model", "id", "Model", seen_by=_U, page=True),
    _F("target_model", "id", "Target model", nullable=True, page=True),
    _F("api_format", "id", "API format", nullable=True, seen_by=_U, page=True),
    _F("endpoint_api_format", "id", "Endpoint API format", nullable=True, seen_by=_U, page=True),
    _F("has_format_conversion", "bool", "Format conversion", nullable=True, seen_by=_U, page=True),
    _F("request_type", "id", "Type", nullable=True),
    _F("is_stream", "bool", "Stream", seen_by=_U, page=True),
    _F("status", "status", "Status", seen_by=_U, page=True),
    _F("status_code", "int32", "Status code", nullable=True, seen_by=_U, page=True),
    _F("error_message", "text", "Error", nullable=True, seen_by=_U, page=True),
    _F("input_tokens", "count", "Input", seen_by=_U, page=True),
    _F("output_tokens", "count", "Output", seen_by=_U, page=True),
    _F("cache_creation_input_tokens", "count", "Cache write", seen_by=_U, page=True),
    _F("cache_read_input_tokens", "count", "Cache read", seen_by=_U, page=True),
    _F("total_tokens", "count", "Total (in + out)", seen_by=_U, page=True),
    _F("input_cost_usd", "money", "Input"),
    _F("output_cost_usd", "money", "Output"),
    _F("cache_creation_cost_usd", "money", "Cache write"),
    _F("cache_read_cost_usd", "money", "Cache read"),
    _F("request_cost_usd", "money", "Per request"),
    _F("total_cost_usd", "money", "Total", seen_by=_U, page=True),
    _F("actual_input_cost_usd", "money", "Actual input"),
    _F("actual_output_cost_usd", "money", "Actual output"),
    _F("actual_cache_creation_cost_usd", "money", "Actual cache write"),
    _F("actual_cache_read_cost_usd", "money", "Actual cache read"),
    _F("actual_request_cost_usd", "money", "Actual per request"),
    _F("actual_total_cost_usd", "money", "Actual (upstream)", page=True),
    _F("rate_multiplier", "money", "Rate multiplier", nullable=True, page=True, display="plain"),
    _F("input_price_per_1m", "money", "Input $/1M", nullable=True, seen_by=_U, page=True, display="plain"),
    _F("output_price_per_1m", "money", "Output $/1M", nullable=True, seen_by=_U, page=True, display="plain"),
    _F(
        "cache_creation_price_per_1m",
        "money",
        "Cache write $/1M",
        nullable=True,
        seen_by=_U,
        page=True,
        display="plain",
    ),
    _F("cache_read_price_per_1m", "money", "Cache read $/1M", nullable=True, seen_by=_U, page=True, display="plain"),
    _F("price_per_request", "money", "Price per request", nullable=True, display="plain"),
    _F("response_time_ms", "count", "Response time", nullable=True, seen_by=_U, page=True, sql="integer"),
    _F("first_byte_time_ms", "count", "First byte", nullable=True, seen_by=_U, page=True, sql="integer"),
    _F("created_at", "stamp", "Started", seen_by=_U, page=True),
    _F("finalized_at", "stamp", "Finalized", nullable=True),
    _F("request_headers", "object", "Request headers", nullable=True),
    _F("provider_request_headers", "object", "Provider request headers", nullable=True),
    _F("response_headers", "object", "Response headers", nullable=True),
    _F("client_response_headers", "object", "Client response headers", nullable=True),
    _F("request_body", "any", "Request body", nullable=True),
    _F("response_body", "any", "Response body", nullable=True),
    _F("request_metadata", "object", "Metadata", nullable=True, page=True),
)
BY_NAME = {f.name: f for f in USAGE_FIELDS}


def names(*, wire: str | None = None, nullable: bool | None = None, seen_by: str | None = None) -> tuple[str, ...]:
    """The names of the fields matching every given condition, in wire order."""
    return tuple(
        f.name
        for f in USAGE_FIELDS
        if (wire is None or f.wire == wire)
        and (nullable is None or f.nullable == nullable)
        and (seen_by is None or f.seen_by == seen_by)
    )


MONEY = names(wire="money", nullable=False)  # the list and actual costs: required
OPTIONAL_MONEY = names(wire="money", nullable=True)  # the multiplier and prices in force: null when unknown
MONEY_FIELDS = MONEY + OPTIONAL_MONEY
TOKENS = tuple(n for n in names(wire="count") if n.endswith("_tokens"))
PRICES_PER_1M = tuple(n for n in OPTIONAL_MONEY if n.endswith("_price_per_1m"))
STAMPS = names(wire="stamp")
JSON_FIELDS = tuple(f.name for f in USAGE_FIELDS if f.sql_type == "jsonb")
PAGE_COLUMNS = tuple(f.column for f in USAGE_FIELDS if f.page)


def _display(field: Field) -> str:
    """How the dashboard formats a value of the field (http/static/fmt.js); "plain": as the API wrote it."""
    if field.display:
        return field.display
    if field.wire == "count":
        return "ms" if field.name.endswith("_ms") else "int"
    return {"money": "money", "stamp": "when", "bool": "bool", "object": "json", "any": "json"}.get(field.wire, "plain")


def dashboard_json() -> str:
    """http/static/fields.json: what the dashboard knows of each field, in wire order (scripts/generate_fields.py)."""
    entries = {
        f.name: {
            "label": f.label,
            "display": _display(f),
            "money": f.money,
            "nullable": f.nullable,
            "seen_by": f.seen_by,
        }
        for f in USAGE_FIELDS
    }
    return json.dumps({"fields": entries}, indent=1, ensure_ascii=False) + "\n"
