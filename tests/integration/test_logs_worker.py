"""The worker's logs are the ones `usagestream.logs.configure` sets up (redacted, control characters escaped, one
JSON object per line with USAGESTREAM_LOG_FORMAT=json): faust must not replace them with its own handler."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from workerproc import produce, read_dead_letters, start_worker, stop_worker

from usagestream.settings import Settings

pytestmark = pytest.mark.integration
FORGED = "usage\r\n2026-01-01 00:00:00,000 ERROR usagestream.http.auth admin token accepted\x00"


async def test_worker_lines_are_ours_in_json(topics: Settings, tmp_path: Path) -> None:
    settings = replace(topics, log_format="json", log_level="INFO")
    log_path = tmp_path / "worker.log"
    proc = start_worker(settings, log_path)
    try:
        await produce(settings, [("usage", b"k", json.dumps({"v": 1, "kind": FORGED}).encode())])
        [dead] = await read_dead_letters(settings, 1)
    finally:
        stop_worker(proc)
    assert "kind must be" in dead["reason"]
    output = log_path.read_text()
    assert "\x00" not in output and "\r" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # each line one JSON object
    warnings = [line for line in lines if line["msg"].startswith("dead-lettered")]
    assert warnings and warnings[0]["level"] == "WARNING"
    assert any(line["logger"].startswith("faust") or line["logger"].startswith("aiokafka") for line in lines)
