"""Puts tests/support on sys.path for every test folder: the one shared test-support module (`testsupport`).
Only that folder, never the repository root, whose top-level http/ would shadow the standard library's http."""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = str(Path(__file__).resolve().parent / "support")
if SUPPORT not in sys.path:
    sys.path.append(SUPPORT)
