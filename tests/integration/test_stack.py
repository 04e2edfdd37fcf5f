"""`usagestream stack up | status | down` on spare ports: a second Kafka and Redis, the shared PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from testsupport import free_port_pair

from usagestream.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

CLI = [sys.executable, "-m", "usagestream.cli"]


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a private stack; whatever it started is stopped and its database dropped afterwards."""
    base = Settings.from_env()
    database = f"usagestream_stack_{uuid.uuid4().hex[:8]}"
    head = base.asyncpg_dsn.rpartition("/")[0]
    env = {
        **os.environ,
        "PYTHONSAFEPATH": "1",
        "USAGESTREAM_STATE_DIR": str(tmp_path / "state"),
        "USAGESTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port_pair()}",
        "USAGESTREAM_REDIS_URL": f"redis://127.0.0.1:{free_port_pair()}/0",
        "USAGESTREAM_POSTGRES_DSN": f"{head}/{database}",
    }
    yield env
    run(env, "down")
    asyncio.run(_drop(f"{head}/postgres", database))


async def _drop(admin_dsn: str, database: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


def run(env: dict[str, str], action: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "stack", action, *extra], env=env, capture_output=True, text=True, timeout=130)


def _pids(state: Path) -> list[int]:
    started = json.loads((state / "started.json").read_text())
    return [int(info["pid"]) for info in started.values() if "pid" in info]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_up_twice_status_down(stack_env: dict[str, str]) -> None:
    state = Path(stack_env["USAGESTREAM_STATE_DIR"])
    first = run(stack_env, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "kafka: started" in first.stdout and "redis: started" in first.stdout
    assert "postgres: created database" in first.stdout
    pids = _pids(state)
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    assert (state / "kafka" / "logs" / "server.log").stat().st_size > 0

    second = run(stack_env, "up")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "kafka: already running" in second.stdout and "(started by usagestream)" in second.stdout
    assert _pids(state) == pids

    status = run(stack_env, "status")
    assert status.returncode == 0
    assert "started by usagestream, pid" in status.stdout
    assert "postgres" in status.stdout and "not started by usagestream" in status.stdout

    down = run(stack_env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "postgres: not started by usagestream; left alone" in down.stdout
    assert not any(_alive(p) for p in pids)
    assert run(stack_env, "status").returncode == 1  # Kafka and Redis are down now


def test_down_with_an_owner_stops_only_what_that_owner_started(stack_env: dict[str, str]) -> None:
    """What the demo and scripts/test rely on: each stops what its own `up` started, nothing that ran before."""
    state = Path(stack_env["USAGESTREAM_STATE_DIR"])
    first = run(stack_env, "up", "--owner", "demo-1")
    assert first.returncode == 0, first.stdout + first.stderr
    pids = _pids(state)
    assert len(pids) == 2
    second = run(stack_env, "up", "--owner", "scripts-test-2")  # finds both running: starts nothing
    assert "kafka: already running" in second.stdout and "(started by usagestream for demo-1)" in second.stdout
    other = run(stack_env, "down", "--owner", "scripts-test-2")
    assert other.returncode == 0, other.stdout + other.stderr
    assert "kafka: not started by scripts-test-2; left alone" in other.stdout
    assert all(_alive(p) for p in pids) and run(stack_env, "status").returncode == 0
    own = run(stack_env, "down", "--owner", "demo-1")
    assert "kafka: stopped" in own.stdout and "redis: stopped" in own.stdout
    assert "postgres: not started by usagestream; left alone" in own.stdout
    assert not any(_alive(p) for p in pids)


def test_status_of_the_shared_stack_touches_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONSAFEPATH": "1", "USAGESTREAM_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([*CLI, "stack", "status"], env=env, capture_output=True, text=True, timeout=30)
    assert "not started by usagestream" in done.stdout
    assert not (tmp_path / "state").exists()
