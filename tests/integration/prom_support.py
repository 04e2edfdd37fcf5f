"""Reading a Prometheus text exposition back in tests: `samples(text)[(name, labels)] -> value`."""

from __future__ import annotations

import re

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
Labels = frozenset[tuple[str, str]]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample line of the exposition; fails on a line that is neither a sample nor a comment."""
    out: dict[tuple[str, Labels], float] = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.fullmatch(line)
        assert m, f"not a sample line: {line!r}"
        pairs = frozenset(
            (k, re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e[1], e[1]), v)) for k, v in _PAIR.findall(m.group(2) or "")
        )
        out[(m.group(1), pairs)] = float(m.group(3))
    return out


def value(text: str, name: str, **labels: object) -> float:
    """One sample's value, 0 if the series does not exist (yet)."""
    return samples(text).get((name, frozenset((k, str(v)) for k, v in labels.items())), 0.0)
