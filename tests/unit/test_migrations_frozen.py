"""Migrations are frozen: a revision holds its own SQL and imports no live project code.

A revision that imported the live table definitions or counters would change meaning when they change: the next
counter column would make a fresh `usagestream db upgrade` fail at that revision (the column does not exist yet).
So a migration module may import only alembic, sqlalchemy and the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import usagestream.materializer.migrations as migrations_package

MIGRATIONS = Path(migrations_package.__file__).resolve().parent
ALLOWED = {"alembic", "sqlalchemy"} | set(sys.stdlib_module_names)


def _modules() -> list[Path]:
    return sorted(MIGRATIONS.rglob("*.py"))


def imported_modules(source: str) -> list[str]:
    """Every module the source imports, dynamically too; a relative import is reported as `.name`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "__import__"):
                arg = node.args[0] if node.args else None
                found.append(arg.value if isinstance(arg, ast.Constant) else "<dynamic>")
    return found


def forbidden_imports(source: str) -> list[str]:
    return [m for m in imported_modules(source) if m.split(".")[0] not in ALLOWED]


def test_the_migrations_are_found() -> None:
    names = {p.name for p in _modules()}
    assert {"env.py", "0001_initial.py", "0003_hour_month_grains.py"} <= names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(MIGRATIONS)))
def test_a_migration_imports_no_project_code(path: Path) -> None:
    assert forbidden_imports(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "from usagestream.materializer import pg_tables as t",
        "import usagestream.stats",
        "from ..verify import expected_usage_sql",
        "from . import helpers",
        "import importlib\nimportlib.import_module('usagestream.stats')",
        "__import__('usagestream')",
    ],
)
def test_the_check_catches_an_import_of_live_code(source: str) -> None:
    assert forbidden_imports(source) != []


def test_the_check_allows_alembic_sqlalchemy_and_the_standard_library() -> None:
    source = "from __future__ import annotations\nimport re\nfrom alembic import op\nimport sqlalchemy as sa\n"
    assert forbidden_imports(source) == []
