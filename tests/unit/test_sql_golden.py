"""The golden SQL files (materializer/sql/*.sql) are what the materializer sends: a statement changed in the code
without running scripts/generate_sql.py fails here with the diff, so the text a reader sees is the text sent."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from usagestream.materializer import pg_tables
from usagestream.materializer.write import pg_views

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "generate_sql.py"
GOLDEN = ROOT / "materializer" / "sql"


def _check(cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_the_committed_sql_files_are_what_the_generator_writes() -> None:
    done = _check()
    assert done.returncode == 0, done.stderr


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sql", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_statement_changed_without_regenerating_is_reported_with_its_diff() -> None:
    gen = _generator()
    want = gen.expected()
    golden = GOLDEN / "write.pg_views.sql"
    # As if the spread's conflict target had changed in pg_views.py and the script had not been run.
    changed = want[golden].replace("ON CONFLICT (dim, key, grain, bucket)", "ON CONFLICT (dim, key, bucket)", 1)
    assert changed != want[golden]
    problems = gen.stale({**want, golden: changed})
    assert len(problems) == 1
    assert problems[0].endswith("materializer/sql/write.pg_views.sql is not current: run scripts/generate_sql.py")
    assert "\n-WITH by_dim" in problems[0] and "\n+WITH by_dim" in problems[0]
    assert gen.stale(want) == []


def test_the_golden_shows_the_statements_the_writer_sends() -> None:
    text = (GOLDEN / "write.pg_views.sql").read_text(encoding="utf-8")
    sent = [
        pg_views.SPREAD_USAGE_SQL,
        pg_views.SPREAD_ATTEMPTS_SQL,
        pg_views.OVERDUE_SQL,
        pg_views.TIME_OUT_SQL,
        pg_views.upsert_sql("usage_records", pg_tables.USAGE_RECORD_COLUMNS, True),
        pg_views.upsert_sql("candidate_records", pg_tables.CANDIDATE_RECORD_COLUMNS, True),
        *pg_views.write_preamble([1], False).split(";\n"),
    ]
    for statement in sent:
        assert f"\n{statement}\n" in text or f"\n{statement};\n" in text, statement[:80]
