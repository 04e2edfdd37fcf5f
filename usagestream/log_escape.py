"""Control characters made visible before a log line is written, so that text a client chose (a percent-decoded
path, a header, an id inside an exception message) can neither start a forged line nor hide or reorder text.

Escaped: C0 and C1 controls (CR, LF, TAB, NUL, ESC, DEL, NEL ...), the Unicode line and paragraph separators,
the invisible and bidirectional format characters (U+200B-U+200F, U+202A-U+202E, U+2060-U+206F, U+FEFF ...) and
lone surrogates (they would also make a UTF-8 stream raise). Each becomes `\\n`, `\\r`, `\\t`, `\\xNN` or `\\uNNNN`;
a backslash itself is left as it is, so an escape is recognisable but not unambiguous.
"""

from __future__ import annotations

import re

_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
CONTINUATION = "  | "  # starts every further line of a multi-line record (a traceback) in text logs


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` on one line: every control or invisible format character escaped (LF included)."""
    return _CONTROLS.sub(_escape, text)


def escape_lines(text: str) -> str:
    """A multi-line text (a traceback) whose line breaks are kept and whose lines are escaped one by one."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def continued(text: str) -> str:
    """`text` (already escaped line by line) with every line prefixed as the continuation of a record, so that
    no line of it can pass for a new record, whatever an exception message carried."""
    return "\n".join(CONTINUATION + line for line in text.split("\n"))
