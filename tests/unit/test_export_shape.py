"""The text of exports (http/shape/export.py): CSV cells, the formula defence, RFC 4180 quoting, and columns that
are exactly the JSON items' fields."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from usagestream import fields
from usagestream.http.shape import export as shape
from usagestream.http.shape.records import record_item, user_record_item

ENTITIES = {k: {} for k in ("user", "api_key", "provider", "provider_endpoint", "provider_api_key")}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (-5, "-5"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("-1.50"), "-1.50"),
        (Decimal("12345678901234567890.000000001"), "12345678901234567890.000000001"),
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ({"k": Decimal("0.10"), "n": None}, '{"k":0.10,"n":null}'),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert shape.cell(value) == text


def test_csv_quotes_as_rfc_4180_and_round_trips() -> None:
    tricky = 'a,"b"\nc'
    body = shape.csv_header(["x", "y"]) + shape.csv_rows([{"x": tricky, "y": Decimal("1.0")}], ["x", "y"])
    assert body == b'x,y\r\n"a,""b""\nc",1.0\r\n'
    assert list(csv.reader(io.StringIO(body.decode(), newline=""))) == [["x", "y"], [tricky, "1.0"]]


def test_jsonl_keeps_money_exact() -> None:
    line = shape.jsonl_rows([{"cost": Decimal("0.000000001"), "s": "=x"}])
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line, parse_float=Decimal) == {"cost": Decimal("0.000000001"), "s": "=x"}  # JSON: as is


def _row() -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(fields.PAGE_COLUMNS)
    row.update(id="r1", created_at=datetime(2026, 1, 2, tzinfo=UTC), api_key_id="k1")
    row.update(dict.fromkeys(fields.TOKENS, 0))  # token counts are never null
    return row


def test_columns_are_the_items_fields() -> None:
    ents = {**ENTITIES, "api_key": {"k1": {"name": "n", "display": "d"}}}
    admin = shape.flatten(record_item(_row(), ents, None))
    assert tuple(admin) == shape.RECORD_COLUMNS and admin["api_key.name"] == "n"
    user = shape.flatten(user_record_item(_row(), ents))
    assert tuple(user) == shape.USER_RECORD_COLUMNS
    assert not {"user_id", "username", "provider", "actual_cost", "api_key_name"} & set(user)


def test_a_missing_api_key_is_empty_cells() -> None:
    assert shape.flatten({"api_key": None}) == dict.fromkeys(("api_key.id", "api_key.name", "api_key.display"))
