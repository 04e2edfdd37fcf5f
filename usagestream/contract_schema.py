"""docs/contract.schema.json, the wire contract as a JSON Schema for gateway authors, kept current from the code.

The usage record's definition (`$defs.UsageRecord`) is written from usagestream/fields.py, and every bound and
enumeration the parser enforces (lengths, maxima, the timestamp pattern, the statuses, the entity kinds) from the
constants the parser uses; the rest (envelopes, candidates, entities, descriptions) is edited in the file itself.
`scripts/generate_fields.py` rewrites the file; tests/unit/test_fields.py fails while it is not current.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any, get_args

from usagestream import contract
from usagestream.fields import (
    MAX_ENTITY_ID,
    MAX_INT32,
    MAX_MONEY,
    MAX_NAME,
    MAX_SEQ,
    USAGE_FIELDS,
    CandidateStatus,
    Field,
    UsageStatus,
)

Schema = dict[str, Any]


def _property(field: Field, defs: Schema) -> Schema:
    if field.wire == "bool":
        return {"type": ["boolean", "null"] if field.nullable else "boolean"}
    if field.wire == "status":
        return {"enum": [status.value for status in UsageStatus]}
    if field.wire == "any":
        return {"description": "any JSON value or null"}
    if field.schema_def not in defs:
        raise ValueError(f"{field.name}: docs/contract.schema.json has no $defs.{field.schema_def} to refer to")
    return {"$ref": f"#/$defs/{field.schema_def}"}


def usage_record(defs: Schema, description: str, registry: Sequence[Field] = USAGE_FIELDS) -> Schema:
    """`$defs.UsageRecord`: the required fields, then the nullable ones (null or absent), each in wire order."""
    required = [f for f in registry if not f.nullable]
    optional = [f for f in registry if f.nullable]
    return {
        "type": "object",
        "required": [f.name for f in required],
        "properties": {f.name: _property(f, defs) for f in (*required, *optional)},
        "description": description,
    }


def _set_bounds(defs: Schema) -> None:
    """The parser's bounds, where the schema states them (usagestream/fields.py, usagestream/contract.py)."""
    no_control = {"pattern": contract.CONTROL_PATTERN}
    for name in ("timestamp", "nullable_timestamp"):
        defs[name]["pattern"] = contract.TIMESTAMP_PATTERN
    for name in ("money", "nullable_money"):
        defs[name].update(minimum=0, maximum=float(MAX_MONEY))
    for name in ("count", "nullable_count"):
        defs[name].update(minimum=0, maximum=MAX_INT32)
    defs["nullable_int32"].update(minimum=-MAX_INT32 - 1, maximum=MAX_INT32)
    defs["seq"].update(minimum=1, maximum=MAX_SEQ)
    for name in ("key", "name", "nullable_name", "id", "nullable_id"):
        defs[name]["maxLength"] = MAX_NAME
    defs["key"]["not"] = defs["id"]["not"] = no_control
    defs["nullable_id"]["not"] = {"type": "string", **no_control}
    entity = defs["EntityEvent"]["properties"]
    entity["id"].update(maxLength=MAX_ENTITY_ID, **{"not": no_control})
    entity["entity"]["enum"] = list(get_args(contract.EntityKind))
    defs["CandidateRecord"]["properties"]["status"]["enum"] = [status.value for status in CandidateStatus]


def generate(current: Schema) -> Schema:
    """`current` (the committed schema) with every part the code owns rewritten from the code."""
    schema = copy.deepcopy(current)
    defs = schema["$defs"]
    _set_bounds(defs)
    defs["UsageRecord"] = usage_record(defs, defs["UsageRecord"]["description"])
    return schema


def render(schema: Schema) -> str:
    """The file's text: two-space indents, UTF-8 characters as they are, a final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
