"""SQLAlchemy is the migrations' engine only (docs/design.md, "SQL: asyncpg at run time ..."): the worker, the API
and the operator commands other than `db` run without importing it, so it cannot become a second way to talk to
PostgreSQL unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUNTIME_MODULES = (
    "usagestream.streams.worker",
    "usagestream.http.server",
    "usagestream.materializer.write.pg_views",
    "usagestream.materializer.read.store",
    "usagestream.materializer.ops.verify",
    "usagestream.materializer.ops.retention",
)


def _loaded(modules: tuple[str, ...], cwd: Path) -> set[str]:
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nprint(' '.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, "PYTHONSAFEPATH": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {name.split(".")[0] for name in done.stdout.split()}


def test_the_runtime_modules_do_not_import_sqlalchemy(tmp_path: Path) -> None:
    loaded = _loaded(RUNTIME_MODULES, tmp_path)
    assert "asyncpg" in loaded  # the measure sees the adapters
    assert "sqlalchemy" not in loaded and "alembic" not in loaded
