"""Guards of how objects are put together: no class is defined inside a function (a named class can be read,
imported and tested), and every attribute an instance gets is born in `__init__` (or declared on its class), so
reading `__init__` tells everything an object holds."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import usagestream

REPO = Path(usagestream.__file__).resolve().parent.parent
PACKAGES = ("usagestream", "streams", "materializer", "http", "publisher", "stack")
INITS = ("__init__", "__post_init__")
Method = ast.FunctionDef | ast.AsyncFunctionDef


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def _self_attributes(method: Method) -> Iterator[tuple[str, int]]:
    """(name, line) of every `self.name = ...` (also in tuple targets, annotated and augmented assignments)."""
    for node in ast.walk(method):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                    yield t.attr, node.lineno


def _declared(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> set[str]:
    """Attributes given in the class body, in `__init__`, or by a base class defined in the same module."""
    names: set[str] = set()
    for item in cls.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, Method) and item.name in INITS:
            names.update(name for name, _ in _self_attributes(item))
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            names |= _declared(classes[base.id], classes)
    return names


def _findings(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(REPO)
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, Method):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ClassDef):
                    yield f"{where}:{inner.lineno}: class {inner.name} is defined inside {node.name}()"
        if isinstance(node, ast.ClassDef):
            declared = _declared(node, classes)
            for method in node.body:
                if isinstance(method, Method) and method.name not in INITS:
                    for name, line in _self_attributes(method):
                        if name not in declared:
                            yield f"{where}:{line}: {node.name}.{name} is first set in {method.name}(), not __init__"


def test_the_guard_sees_the_code() -> None:
    assert len(_modules()) > 50


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_nested_class_and_attributes_born_in_init(path: Path) -> None:
    assert list(_findings(path)) == []
