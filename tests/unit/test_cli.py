"""The console script loads only the module of the subcommand it runs, and says so when that module cannot load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from usagestream.cli import COMMANDS, EXIT_UNAVAILABLE, main

# The clients of the outside systems: `usagestream --help` must not pay for (or depend on) any of them.
ADAPTER_LIBRARIES = ("aiokafka", "faust", "mode", "asyncpg", "redis", "aiohttp", "sqlalchemy", "alembic")


def _imported_by(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -X importtime -m usagestream.cli ARGS`; the top-level names of every module it imported."""
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "usagestream.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, names


def test_help_imports_no_adapter_library(tmp_path: Path) -> None:
    done, names = _imported_by(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(name in done.stdout for name in COMMANDS)
    assert "usagestream" in names and "argparse" in names  # the measure sees our imports
    assert names.isdisjoint(ADAPTER_LIBRARIES), sorted(names & set(ADAPTER_LIBRARIES))


def test_a_usage_error_imports_no_adapter_library(tmp_path: Path) -> None:
    done, names = _imported_by(["no-such-command"], tmp_path)
    assert done.returncode == 2 and "invalid choice" in done.stderr
    assert names.isdisjoint(ADAPTER_LIBRARIES), sorted(names & set(ADAPTER_LIBRARIES))


def test_the_chosen_command_still_gets_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", "--help"])
    assert exited.value.code == 0
    assert "--loglevel" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["worker"], ["worker", "--help"]])
def test_a_missing_package_is_reported_with_the_command_and_module(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "faust", None)  # `import faust` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "usagestream.streams.worker", raising=False)
    assert main(argv) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert err.startswith("usagestream worker: cannot load usagestream.streams.worker (missing module 'faust')"), err
