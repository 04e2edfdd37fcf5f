"""Structured logs (one JSON object per line with USAGESTREAM_LOG_FORMAT=json) and the redaction safety net."""

import json
import logging
import sys

import pytest

from usagestream.log_escape import CONTINUATION
from usagestream.logs import JsonFormatter, RedactingFilter, TextFormatter, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoidS0xIn0.c2lnbmF0dXJlLXNlY3JldA"


def test_json_lines_carry_level_logger_and_message() -> None:
    record = logging.LogRecord("usagestream.x", logging.WARNING, __file__, 1, "dead-lettered %s", ("t[0]@1",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "usagestream.x"
    assert line["msg"] == "dead-lettered t[0]@1" and line["ts"].endswith("+00:00")


def test_json_lines_carry_structured_fields_without_overriding_the_base_keys() -> None:
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, "GET /x 200", None, None)
    record.fields = {"method": "GET", "route": "/x", "status": 200, "latency_ms": 1.5, "msg": "spoof"}
    line = json.loads(JsonFormatter().format(record))
    assert (line["method"], line["route"], line["status"], line["latency_ms"]) == ("GET", "/x", 200, 1.5)
    assert line["msg"] == "GET /x 200"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.DEF-123_secret", "abc.DEF-123_secret"),
        ("{'Authorization': 'Basic dXNlcjpQYTU1d29yZA=='}", "dXNlcjpQYTU1d29yZA=="),
        ("headers={'authorization': 'bearer Tok3nValue'}", "Tok3nValue"),
        (f"decoding {JWT} failed", "c2lnbmF0dXJlLXNlY3JldA"),
        (f"token {JWT}", "eyJ1c2VyX2lkIjoidS0xIn0"),
        ("management token ae_0123456789abcdefSECRET refused", "0123456789abcdefSECRET"),
        ("connect postgresql://stats:Pg-Pa55word@db:5432/usage", "Pg-Pa55word"),
        ("connect postgresql+asyncpg://u:p@ss@db/x", "ss@db"),
        ("redis://:Redis-Pw0rd@cache:6379/0 down", "Redis-Pw0rd"),
        ("dsn host=db user=u password=Kv-Secret dbname=x", "Kv-Secret"),
        ("GET /api/x/ws?access_token=QueryTok&x=1", "QueryTok"),
        ('{"jwt_secret": "jwt-Sup3rSecret"}', "jwt-Sup3rSecret"),
        ("USAGESTREAM_METRICS_TOKEN=m3trics-tok", "m3trics-tok"),
    ],
)
def test_redact_masks_credentials(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and "***" in out


def test_redact_keeps_ordinary_lines() -> None:
    line = 'heartbeat: consumed=10 applied=9 total_tokens=5 127.0.0.1 "GET /api/admin/usage/stats" 200 1.2ms'
    assert redact(line) == line
    assert redact("listening on http://127.0.0.1:8080") == "listening on http://127.0.0.1:8080"
    assert redact("postgresql://db.internal:5432/usage") == "postgresql://db.internal:5432/usage"


def _filtered(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ConnectionError("cannot reach redis://:Exc-Pw@cache:6379")
        except ConnectionError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, msg, args, exc_info)
    record.fields = {"path": "/x?access_token=Field-Tok", "status": 401}
    assert RedactingFilter().filter(record) is True
    return record


def test_filter_masks_message_args_traceback_and_fields() -> None:
    record = _filtered("auth %s from %r", "Bearer Arg-Tok3n", {"password": "Dict-Pw"}, exc=True)
    text = logging.Formatter().format(record) + JsonFormatter().format(record)
    for secret in ("Arg-Tok3n", "Dict-Pw", "Exc-Pw", "Field-Tok"):
        assert secret not in text
    assert "ConnectionError" in text and "auth Bearer ***" in text
    assert record.__dict__["fields"]["status"] == 401


def test_filter_survives_a_malformed_call() -> None:
    record = _filtered("two %s %s", "only-one")
    assert "unformattable" in record.getMessage()


FORGED = "/x\r\n2026-01-01 00:00:00,000 ERROR usagestream.http.auth admin token accepted\x00\x1b[2J\x7f\u2028\u202e"


def _record(exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad id {FORGED}")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, '"GET %s" 404', (FORGED,), exc_info)
    record.fields = {"path": FORGED, "status": 404}
    return record


def _no_raw_controls(text: str) -> None:
    for char in ("\r", "\x00", "\x1b", "\x7f", "\u2028", "\u202e"):
        assert char not in text, f"{char!r} written raw"


def test_text_lines_escape_control_characters_so_no_line_can_be_forged() -> None:
    out = TextFormatter().format(_record())
    _no_raw_controls(out)
    assert "\n" not in out
    assert '"GET /x\\r\\n2026-01-01 00:00:00,000 ERROR usagestream.http.auth admin token accepted\\x00\\x1b' in out
    assert out.endswith('\\x7f\\u2028\\u202e" 404')


def test_text_tracebacks_keep_their_lines_but_each_is_a_continuation() -> None:
    out = TextFormatter().format(_record(exc=True))
    _no_raw_controls(out)
    first, *rest = out.split("\n")
    assert "admin token accepted" in first and rest, "the record itself stays on its first line"
    assert all(line.startswith(CONTINUATION) for line in rest), rest
    assert any(line.startswith(CONTINUATION + "ValueError: bad id /x\\r") for line in rest)
    assert any(
        line == CONTINUATION + "2026-01-01 00:00:00,000 ERROR usagestream.http.auth admin token accepted"
        "\\x00\\x1b[2J\\x7f\\u2028\\u202e"
        for line in rest
    )


def test_json_lines_escape_control_characters_in_message_fields_and_traceback() -> None:
    out = JsonFormatter().format(_record(exc=True))
    _no_raw_controls(out)
    assert "\n" not in out
    line = json.loads(out)
    for decoded in (line["msg"], line["path"]):
        _no_raw_controls(decoded)
        assert "\n" not in decoded and "/x\\r\\n2026-01-01" in decoded
    _no_raw_controls(line["exc"])
    assert "ValueError: bad id /x\\r\n2026" in line["exc"], "a traceback's own line breaks are kept, escaped by JSON"
    assert line["status"] == 404


def test_lone_surrogates_are_escaped_not_written() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "path %s", ("/\udcff",), None)
    for out in (TextFormatter().format(record), JsonFormatter().format(record)):
        out.encode("utf-8")  # a lone surrogate would raise here, and logging would print a traceback instead
        assert "\\udcff" in out
