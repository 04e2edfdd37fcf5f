"""Process logging: plain text, or one JSON object per line when USAGESTREAM_LOG_FORMAT=json, with every line
passed through a redaction filter (bearer tokens, JWTs, `ae_` tokens, URL and key=value passwords are masked).

Both formats escape control characters (usagestream.log_escape) in the message, the fields and the traceback:
one record is one line, except a text-format traceback, whose every line starts with the continuation prefix.

The filter is a safety net, not the policy: code logs no token, secret, header or body in the first place
(settings print through `Settings.redacted()`); the filter catches what a library or an exception message adds.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from usagestream.log_escape import continued, escape_controls, escape_lines
from usagestream.settings import Settings

MASK = "***"
_PATTERNS = (
    # an Authorization header's whole value, whatever its scheme (`Authorization: Basic dXNlcjpwdw==`)
    (re.compile(r"""(authorization["']?\s*[=:]\s*["']?)[^"'\n,}]+""", re.IGNORECASE), rf"\1{MASK}"),
    # a bearer token wherever it appears
    (re.compile(r"\b(bearer)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1\2{MASK}"),
    # a JWT anywhere: three base64url parts, the first a JSON header (`eyJ` = `{"`)
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), MASK),
    # gateway management tokens
    (re.compile(r"\bae_[A-Za-z0-9_-]{6,}"), "ae_" + MASK),
    # user:password@ in any URL or DSN (redis://:pw@host, postgresql://u:pw@host); up to the last @ of the authority
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/@:]*:)[^\s/]+@"), rf"\1{MASK}@"),
    # key=value and "key": "value" secrets (libpq DSNs, query strings, JSON, reprs)
    (
        re.compile(
            r"""((?<![A-Za-z0-9])["']?(?:password|passwd|pwd|sslpassword|secret|jwt_secret|access_token|token|"""
            r"""api_key|apikey|metrics_token)["']?\s*[=:]\s*["']?)([^\s"'&;,}]+)""",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
)


def redact(text: str) -> str:
    """`text` with every credential-looking part masked (over-masking is the safe failure)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (after %-formatting), traceback and structured fields through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: let logging report it, but never with raw args
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


class JsonFormatter(logging.Formatter):
    """One line per record: time, level, logger, message, the record's `fields` (passed as
    `extra={"fields": {...}}`, e.g. the access log's method/route/status/latency_ms) and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": escape_controls(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: _escaped(v) for k, v in fields.items() if k not in line})
        if record.exc_info or record.exc_text:
            exc = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
            line["exc"] = escape_lines(exc)
        return json.dumps(line, ensure_ascii=False, default=str)


def _escaped(value: object) -> object:
    return escape_controls(value) if isinstance(value, str) else value


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger> <message>` on one line; a traceback or stack follows on continuation lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        more = [text for text in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)) if text]
        return line + "".join("\n" + continued(escape_lines(text)) for text in more)


def configure(settings: Settings) -> None:
    handler = logging.StreamHandler()
    # On the handler, not a logger: records propagated from any library's logger pass through it too.
    handler.addFilter(RedactingFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
