"""The parser's time per event (usagestream.contract), on realistic request lifecycles: the hot path of the
worker, measured in-process with timeit (no Kafka, no stores), to compare a change of contract.py before and
after.

    PYTHONSAFEPATH=1 .venv/bin/python bench/parse.py --requests 2000 --repeat 7

Traffic is tests/integration/eventgen.py's (pending -> streaming -> final, candidates, duplicates), seeded, so
two runs parse the same bytes. Prints the best of `--repeat` runs per kind, in microseconds per event.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

from eventgen import generate

from usagestream.contract import parse_candidate, parse_usage

PARSERS = {"usage": parse_usage, "candidate": parse_candidate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    traffic = generate(7, args.requests, datetime(2026, 11, 1, tzinfo=UTC), timedelta(days=3))
    for kind, parse in PARSERS.items():
        messages = [(key, value) for k, key, value in traffic.messages if k == kind]

        def run(messages: list[tuple[bytes, bytes]] = messages, parse=parse) -> None:
            for key, value in messages:
                parse(key, value)

        best = min(timeit.repeat(run, number=1, repeat=args.repeat))
        print(f"{kind}: {len(messages)} events, {best / len(messages) * 1e6:.2f} us/event (best of {args.repeat})")


if __name__ == "__main__":
    main()
