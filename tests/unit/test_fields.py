"""usagestream/fields.py is the one description of the usage record: what derives from it is current, and what
still states a field or a status by hand (the migrations, SQL literals, the drawer, the user's record shape)
agrees with it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from usagestream import contract, contract_schema, fields
from usagestream.fields import ACTIVE_STATUSES, EXECUTED_STATUSES, USAGE_FIELDS, CandidateStatus, UsageStatus
from usagestream.http.params import RECORD_STATUSES
from usagestream.http.shape import records as pg_reads_format
from usagestream.materializer import pg_tables
from usagestream.materializer.read.records import STATUS_FILTERS
from usagestream.publisher import records

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "contract.schema.json"
DASHBOARD_FILE = ROOT / "http" / "static" / "fields.json"
SCHEMA_HEAD = ROOT / "tests" / "integration" / "schema_head.txt"
GENERATOR = ROOT / "scripts" / "generate_fields.py"


# --- the derived files are current ------------------------------------------------------------------------


def test_the_committed_json_schema_is_what_the_generator_writes() -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    assert text == contract_schema.render(contract_schema.generate(json.loads(text))), (
        "docs/contract.schema.json is not current: run scripts/generate_fields.py"
    )


def test_the_committed_dashboard_field_list_is_what_the_generator_writes() -> None:
    assert DASHBOARD_FILE.read_text(encoding="utf-8") == fields.dashboard_json(), (
        "http/static/fields.json is not current: run scripts/generate_fields.py"
    )


def test_the_generator_check_mode_passes_on_the_committed_files() -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False, cwd="/"
    )
    assert done.returncode == 0, done.stderr


def test_the_schema_usage_record_is_the_registry() -> None:
    defs = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["$defs"]
    record = defs["UsageRecord"]
    assert list(record["properties"]) == [f.name for f in USAGE_FIELDS if not f.nullable] + [
        f.name for f in USAGE_FIELDS if f.nullable
    ]
    assert record["required"] == [f.name for f in USAGE_FIELDS if not f.nullable]
    assert record["properties"]["status"] == {"enum": [s.value for s in UsageStatus]}
    assert defs["CandidateRecord"]["properties"]["status"] == {"enum": [s.value for s in CandidateStatus]}


def test_a_registry_field_without_a_schema_definition_is_refused_clearly() -> None:
    field = fields.Field("odd", "object", "Odd")  # a required object: the schema has only nullable_object
    with pytest.raises(ValueError, match=r"odd: .*no \$defs.object"):
        contract_schema.usage_record({"nullable_object": {}}, "", [field])


# --- the parser, the tables and the publisher use the registry ---------------------------------------------


def test_the_parser_wire_shape_has_the_registry_fields_in_order() -> None:
    assert contract._UsageWire.__struct_fields__ == tuple(f.name for f in USAGE_FIELDS)
    assert [f.name for f in contract.fields(contract.UsageSnapshot)] == [f.name for f in USAGE_FIELDS]
    required = {n for n, d in zip(contract._UsageWire.__struct_fields__, _defaults(), strict=True) if d}
    assert required == {f.name for f in USAGE_FIELDS if not f.nullable}


def test_a_declared_record_class_that_disagrees_with_the_registry_is_refused() -> None:
    contract.check_declared(contract.UsageSnapshot, USAGE_FIELDS)
    records.check_declared(records.UsageRecord, USAGE_FIELDS)
    made_required = tuple(replace(f, nullable=False) if f.name == "user_id" else f for f in USAGE_FIELDS)
    with pytest.raises(RuntimeError, match="UsageSnapshot.user_id must be nullable"):
        contract.check_declared(contract.UsageSnapshot, made_required)
    with pytest.raises(RuntimeError, match="UsageRecord must have"):
        records.check_declared(records.UsageRecord, made_required)
    added = (*USAGE_FIELDS, fields.Field("reasoning_tokens", "count", "Reasoning", nullable=True))
    with pytest.raises(RuntimeError, match="UsageSnapshot must have"):
        contract.check_declared(contract.UsageSnapshot, added)
    with pytest.raises(RuntimeError, match="UsageRecord must have"):
        records.check_declared(records.UsageRecord, added)


def _defaults() -> list[bool]:
    """True for each wire field without a default (required), in order."""
    info = __import__("msgspec").inspect.type_info(contract._UsageWire)
    return [f.required for f in info.fields]


def test_the_table_columns_and_publisher_money_are_the_registry() -> None:
    assert pg_tables.USAGE_FIELDS == tuple(f.column for f in USAGE_FIELDS)
    assert set(pg_tables.USAGE_NUMERIC) == records.MONEY_FIELDS == {f.name for f in USAGE_FIELDS if f.money}
    assert set(pg_tables.USAGE_JSON) == {f.name for f in USAGE_FIELDS if f.wire in ("object", "any")}
    assert records.USAGE_STATUSES == tuple(UsageStatus)


def test_the_migrated_table_has_each_registry_field_as_its_column() -> None:
    """tests/integration/schema_head.txt is the catalog of a migrated database (test_migrations.py keeps it
    true): each field's column exists with the registry's type, NOT NULL exactly when the field is required.
    (Their order in the table is free: a later column is appended, and every COPY names its columns.)"""
    columns = {}
    for line in SCHEMA_HEAD.read_text().splitlines():
        if not line.startswith("column |"):
            continue
        kind, table, name, sql_type, not_null, _default, _position = (p.strip() for p in line.split("|"))
        if kind == "column" and table == "usage_records":
            columns[name] = (sql_type, not_null == "true")
    for f in USAGE_FIELDS:
        assert columns.get(f.column) == (f.sql_type, not f.nullable), f.name
    bookkeeping = {"seq", "kafka_partition", "timed_out", "updated_at"}
    assert set(columns) == {f.column for f in USAGE_FIELDS} | bookkeeping


# --- who may see a field -----------------------------------------------------------------------------------


def _sentinel_row() -> dict[str, Any]:
    """A stored row whose every field holds a value found nowhere else."""
    row: dict[str, Any] = {}
    for i, f in enumerate(USAGE_FIELDS):
        row[f.name] = {
            "count": 1000 + i,
            "int32": 2000 + i,
            "money": Decimal(f"0.{i + 1:03d}7"),
            "stamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
            "bool": True,
            "object": {"sentinel": f.name},
            "any": {"sentinel": f.name},
            "status": "streaming",
        }.get(f.wire, f"S-{f.name}")
    return row


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


# A boolean or a status value is not unique to one field, so it cannot tell where it came from.
@pytest.mark.parametrize("field", [f for f in USAGE_FIELDS if f.wire not in ("bool", "status")], ids=lambda f: f.name)
def test_a_users_record_shows_the_user_fields_and_no_admin_field(field: fields.Field) -> None:
    row = _sentinel_row()
    ents = {kind: {} for kind in ("user", "api_key", "provider", "provider_endpoint", "provider_api_key")}
    ents["api_key"][row["api_key_id"]] = {"name": "key", "display": "sk-…"}
    shown = _leaves(pg_reads_format.user_record_item(row, ents))
    value = row[field.name]
    if field.wire == "stamp":
        value = value.isoformat()
    elif field.wire in ("object", "any"):
        value = field.name
    assert (value in shown) == (field.seen_by == "user")


# --- the statuses --------------------------------------------------------------------------------------------

_SQL_SET = re.compile(r"\bstatus\s+(?:NOT\s+)?IN\s*\(([^)]*)\)")
_SQL_ONE = re.compile(r"\bstatus\s*=\s*'([a-z_]+)'")
_CODE = ("usagestream", "materializer", "http", "streams", "publisher")


def _sources() -> list[Path]:
    return sorted(p for folder in _CODE for p in (ROOT / folder).rglob("*.py"))


def test_every_status_set_in_sql_is_one_the_core_defines() -> None:
    """SQL keeps its status lists literal (readable where they are defined); each must be a set of the core."""
    known = {frozenset(ACTIVE_STATUSES), frozenset(EXECUTED_STATUSES)}
    found = 0
    for path in _sources():
        for match in _SQL_SET.finditer(path.read_text()):
            listed = frozenset(re.findall(r"'([^']*)'", match[1]))
            assert listed in known, f"{path.relative_to(ROOT)}: {match[0]}"
            found += 1
        for match in _SQL_ONE.finditer(path.read_text()):
            assert match[1] in {*UsageStatus, *CandidateStatus}, f"{path.relative_to(ROOT)}: {match[0]}"
    assert found >= 5  # the scan sees the live set, the finished predicate and the executed attempts


def test_every_usage_status_is_a_records_filter() -> None:
    assert set(UsageStatus) <= set(STATUS_FILTERS) == set(RECORD_STATUSES)
    for status in UsageStatus:
        assert f"'{status}'" in STATUS_FILTERS[status]


def test_the_status_sets_partition_the_statuses() -> None:
    assert ACTIVE_STATUSES | fields.TERMINAL_STATUSES == set(UsageStatus)
    assert not ACTIVE_STATUSES & fields.TERMINAL_STATUSES
    assert contract.USAGE_STATUSES == set(UsageStatus) and contract.CANDIDATE_STATUSES == set(CandidateStatus)


# --- the dashboard -------------------------------------------------------------------------------------------


def test_the_drawer_names_only_registry_fields() -> None:
    source = (ROOT / "http" / "static" / "drawer.js").read_text()
    named = set(re.findall(r"\b(?:row|label)\(F, \"([a-z0-9_]+)\"", source))
    assert named and named <= {f.name for f in USAGE_FIELDS}, named - {f.name for f in USAGE_FIELDS}
    listed = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))["fields"]
    assert list(listed) == [f.name for f in USAGE_FIELDS]
    assert {entry["display"] for entry in listed.values()} <= {"int", "ms", "money", "when", "plain", "bool", "json"}
