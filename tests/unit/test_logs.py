"""Structured logs: one JSON object per line with USAGESTREAM_LOG_FORMAT=json."""

import json
import logging

from usagestream.logs import JsonFormatter


def test_json_lines_carry_level_logger_and_message() -> None:
    record = logging.LogRecord("usagestream.x", logging.WARNING, __file__, 1, "dead-lettered %s", ("t[0]@1",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "usagestream.x"
    assert line["msg"] == "dead-lettered t[0]@1" and line["ts"].endswith("+00:00")
