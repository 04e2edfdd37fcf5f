#!/usr/bin/env python3
"""Lists the paths Aether's front-end API modules call at one revision and whether tests/e2e/aether_frontend.json
holds an entry for each: the first step of refreshing the catalog from a newer Aether (docs/frontend-compat.md).

Usage: scripts/aether_frontend_calls.py GIT_DIR REVISION [GENERATION]
  GIT_DIR     an Aether clone or mirror (for example /work/.mirror/AAEE86+Aether/repo)
  REVISION    the commit to read (HEAD, 60c1cbe8, ...)
  GENERATION  the catalog generation to compare with (default: today)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

MODULES = ("usage", "dashboard", "admin", "me", "cache")
CATALOG = Path(__file__).resolve().parent.parent / "tests" / "e2e" / "aether_frontend.json"
# apiClient.get<...> (cache.ts names its client `api`)('/path', ...), with a template literal's ${...} parts kept as {}
CALL = re.compile(r"\b(?:apiClient|api)\.(get|post|put|patch|delete)(?:<[^()]*?>)?\(\s*[`'\"]([^`'\"]+)[`'\"]", re.S)


def normalized(path: str) -> str:
    return re.sub(r"\$?\{[^}]*\}", "{}", path)


def calls(git_dir: str, revision: str) -> list[tuple[str, str, str]]:
    """(module, METHOD, path) for every apiClient call of the front end's API modules at the revision."""
    out = []
    for module in MODULES:
        source = subprocess.run(  # noqa: S603 (a fixed git command; the revision is the operator's own)
            ["git", "-C", git_dir, "show", f"{revision}:frontend/src/api/{module}.ts"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if source.returncode != 0:
            print(f"{module}.ts: not at {revision}", file=sys.stderr)
            continue
        out += [(module, m.group(1).upper(), normalized(m.group(2))) for m in CALL.finditer(source.stdout)]
    return out


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    generation = argv[3] if len(argv) == 4 else "today"
    entries = json.loads(CATALOG.read_text(encoding="utf-8"))["entries"]
    known = {(e["method"], normalized(e["path"])) for e in entries if e["generation"] == generation}
    for module, method, path in sorted(set(calls(argv[1], argv[2]))):
        mark = "catalog" if (method, path) in known else "-"
        print(f"{mark:8} {module + '.ts':13} {method:6} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
