"""Comparison helpers of the e2e tests: expected values hold Decimal money and Python floats for ratios; the
responses were parsed with parse_float=Decimal, so a float is compared through its shortest text."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from e2e_world import parse_ts


def norm(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [norm(v) for v in value]
    return value


def with_times(item: dict[str, Any], *names: str) -> dict[str, Any]:
    """The item with its timestamp fields parsed (the API may write +00:00 or another offset)."""
    out = dict(item)
    for name in names:
        if isinstance(out.get(name), str):
            out[name] = parse_ts(out[name])
    return out


def diff(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Human-readable differences (empty when equal)."""
    expected = norm(expected)
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for k in sorted(set(expected) | set(actual), key=str):
            if k not in actual:
                out.append(f"{path}.{k}: missing (expected {expected[k]!r})")
            elif k not in expected:
                out.append(f"{path}.{k}: unexpected {actual[k]!r}")
            else:
                out += diff(actual[k], expected[k], f"{path}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} items, expected {len(expected)}: {actual!r} vs {expected!r}"[:2000]]
        return [x for i, (a, e) in enumerate(zip(actual, expected, strict=True)) for x in diff(a, e, f"{path}[{i}]")]
    if isinstance(expected, datetime) and isinstance(actual, str):
        actual = parse_ts(actual)
    if type(actual) is bool or type(expected) is bool:
        return [] if actual is expected else [f"{path}: {actual!r} != expected {expected!r}"]
    return [] if actual == expected else [f"{path}: {actual!r} != expected {expected!r}"]


def assert_same(actual: Any, expected: Any, what: str = "") -> None:
    problems = diff(actual, expected)
    assert not problems, f"{what}: " + "\n".join(problems[:30])


def close(actual: Any, expected: float | None, tol: float = 0.011) -> bool:
    if expected is None or actual is None:
        return actual is expected
    return abs(float(actual) - expected) <= tol
