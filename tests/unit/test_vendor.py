"""The vendored front-end libraries (http/static/vendor/) are the pinned ones: each file matches the checksum that
scripts/update_uplot recorded, and their licenses ship beside them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "http" / "static" / "vendor"


def test_vendored_files_match_their_recorded_checksums() -> None:
    sums = dict(reversed(line.split()) for line in (VENDOR / "SHA256SUMS").read_text().splitlines() if line)
    assert {"uPlot.esm.js", "uPlot.min.css", "LICENSE.uPlot"} <= set(sums)
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert re.fullmatch(r"uplot \d+\.\d+\.\d+ sha256:[0-9a-f]{64}\n", (VENDOR / "VERSION").read_text())
    assert "MIT License" in (VENDOR / "LICENSE.uPlot").read_text()


def test_every_vendored_file_is_recorded() -> None:
    recorded = {line.split()[1] for line in (VENDOR / "SHA256SUMS").read_text().splitlines() if line}
    served = {p.name for p in VENDOR.iterdir() if p.is_file()} - {"SHA256SUMS", "VERSION", "README.md"}
    assert served == recorded
