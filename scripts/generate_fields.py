#!/usr/bin/env python3
"""Rewrites the files derived from the usage record's field registry (usagestream/fields.py):
docs/contract.schema.json (its UsageRecord and every bound, usagestream/contract_schema.py) and
http/static/fields.json (the dashboard's field list). Run it after changing the registry or a bound:

    PYTHONSAFEPATH=1 .venv/bin/python scripts/generate_fields.py          # write both files
    PYTHONSAFEPATH=1 .venv/bin/python scripts/generate_fields.py --check  # exit 1 if either is not current

tests/unit/test_fields.py fails while either file is not what this script would write.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from usagestream import contract_schema, fields

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "docs" / "contract.schema.json"
DASHBOARD = ROOT / "http" / "static" / "fields.json"


def expected() -> dict[Path, str]:
    """Each derived file -> the text it should have."""
    current = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return {
        SCHEMA: contract_schema.render(contract_schema.generate(current)),
        DASHBOARD: fields.dashboard_json(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="Rewrite the files derived from usagestream/fields.py.")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is not current")
    args = ap.parse_args()
    if args.check:
        stale = [path for path, text in expected().items() if path.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not current: run scripts/generate_fields.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
