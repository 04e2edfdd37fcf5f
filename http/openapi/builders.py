"""Small builders for JSON Schema fragments (OpenAPI 3.1 = JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

S: Schema = {"type": "string"}
I: Schema = {"type": "integer"}  # noqa: E741 (S, I, N, B read like a type table)
N: Schema = {"type": "number"}
B: Schema = {"type": "boolean"}
ANY: Schema = {}


def null(schema: Schema) -> Schema:
    """The same schema, or JSON null."""
    if set(schema) == {"type"} and isinstance(schema["type"], str):
        return {"type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(props: dict[str, Schema], *, optional: tuple[str, ...] = (), extra: Schema | None = None) -> Schema:
    """An object whose properties are all required except `optional` (other keys allowed unless `extra`)."""
    out: Schema = {"type": "object", "properties": props, "required": [k for k in props if k not in optional]}
    if extra is not None:
        out["additionalProperties"] = extra
    return out


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def forbid(*keys: str) -> Schema:
    """Keys that must NOT appear (e.g. provider fields on user views)."""
    return {"not": {"anyOf": [{"required": [k]} for k in keys]}}


def all_of(*schemas: Schema) -> Schema:
    return {"allOf": list(schemas)}
