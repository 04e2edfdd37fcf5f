"""faust-streaming on this broker: a Table with its changelog survives a worker restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from usagestream.settings import Settings
from usagestream.streams import kafka_topics
from usagestream.streams.kafka_io import KafkaWriter, read_all

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

APP = Path(__file__).with_name("faust_counter_app.py")


@dataclass(frozen=True)
class Names:
    app_id: str
    source: str
    report: str


@pytest.fixture
async def names(settings: Settings) -> AsyncIterator[Names]:
    """This test's app id and topics (created here: the broker does not auto-create); all deleted after."""
    tag = settings.consumer_group.rsplit("-", 1)[1]
    n = Names(f"usagestream-faust-test-{tag}", f"test.{tag}.faust-source", f"test.{tag}.faust-report")
    async with kafka_topics.admin_client(settings) as admin:
        await admin.create_topics([NewTopic(n.source, 1, 1), NewTopic(n.report, 1, 1)])
    yield n
    async with kafka_topics.admin_client(settings) as admin:
        mine = [t for t in await admin.list_topics() if t.startswith(n.app_id) or t in (n.source, n.report)]
        await admin.delete_topics(mine)


def start_worker(settings: Settings, n: Names, tmp: Path, log: Path) -> subprocess.Popen[bytes]:
    # A minimal environment: faust reads bare variables such as BROKER_URL and WEB_PORT over what code passes.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "PYTHONSAFEPATH": "1"}
    argv = [sys.executable, str(APP), settings.kafka_bootstrap, n.app_id, str(tmp / "faust-data"), n.source, n.report]
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)


async def wait_ready(proc: subprocess.Popen[bytes], tmp: Path, log: Path) -> None:
    """Until the worker has recovered its table and resumed its partitions (see the app's announce_ready)."""
    flag = tmp / "faust-data" / f"ready-{proc.pid}"
    deadline = time.monotonic() + 90
    while not flag.exists():
        assert proc.poll() is None, f"the faust worker exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the faust worker never became ready:\n{log.read_text()[-3000:]}"
        await asyncio.sleep(0.2)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the faust worker ignored SIGTERM for 30 s")


async def publish(settings: Settings, topic: str, keys: str) -> None:
    async with KafkaWriter(settings) as writer:
        for key in keys:
            await writer.send(topic, key.encode(), b"{}")


async def wait_reports(
    settings: Settings, n: Names, proc: subprocess.Popen[bytes], count: int, log: Path
) -> list[tuple[bytes | None, bytes | None]]:
    """The report topic once it holds `count` messages; fails early, with the worker's log, if it died."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = await read_all(settings, n.report, at_least=count, timeout=3)
        if len(got) >= count or proc.poll() is not None:
            break
    assert proc.poll() is None, f"the faust worker exited:\n{log.read_text()[-3000:]}"
    return [(m.key, m.value) for m in got]


def last_counts(reports: list[tuple[bytes | None, bytes | None]]) -> dict[str, int]:
    return {(k or b"").decode(): int(v or b"0") for k, v in reports}


async def test_table_is_recovered_from_its_changelog(settings: Settings, names: Names, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    first = start_worker(settings, names, tmp_path, log)
    try:
        await wait_ready(first, tmp_path, log)
        await publish(settings, names.source, "aabca")
        reports = await wait_reports(settings, names, first, 5, log)
    finally:
        stop_worker(first)
    assert last_counts(reports) == {"a": 3, "b": 1, "c": 1}, log.read_text()

    second = start_worker(settings, names, tmp_path, log)
    try:
        await wait_ready(second, tmp_path, log)
        await publish(settings, names.source, "acd")
        reports = await wait_reports(settings, names, second, 8, log)
    finally:
        stop_worker(second)
    # Nothing processed twice: the first worker committed its offsets when it got SIGTERM.
    assert len(reports) == 8, log.read_text()
    assert last_counts(reports) == {"a": 4, "b": 1, "c": 2, "d": 1}, log.read_text()
    async with kafka_topics.admin_client(settings) as admin:
        changelog = f"{names.app_id}-counts-changelog"
        assert await kafka_topics.topic_config(admin, changelog, "cleanup.policy") == "compact"
