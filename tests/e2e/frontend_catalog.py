"""The catalog of Aether front-end requests (aether_frontend.json) made concrete for one replay: placeholders
filled from the e2e history, the browser's time range computed the way each front-end generation computes it, the
range Aether's backend reads from a preset or date bounds, and the field checks of a response."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).resolve().parent / "aether_frontend.json"
RANGE_KEYS = ("start_date", "end_date", "preset", "timezone", "tz_offset_minutes", "granularity")


def load() -> dict[str, Any]:
    with open(CATALOG_PATH, encoding="utf-8") as fh:
        catalog: dict[str, Any] = json.load(fh)
    return catalog


def fields_of(entry: dict[str, Any], catalog: dict[str, Any]) -> dict[str, str]:
    """An entry names a shared field set or lists its fields itself."""
    fields = entry["fields"]
    return dict(catalog["field_sets"][fields]) if isinstance(fields, str) else dict(fields)


@dataclass(frozen=True)
class Browser:
    """The replayed browser: its IANA zone and its clock."""

    tz: tzinfo
    name: str
    now: datetime

    @property
    def offset_minutes(self) -> int:
        offset = self.now.astimezone(self.tz).utcoffset() or timedelta(0)
        return int(offset.total_seconds() // 60)

    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.tz).astimezone(UTC)


def browser_datetimes(period: str, b: Browser) -> tuple[datetime, datetime]:
    """The early front end's getDateRangeFromPeriod (useDateRange.ts at the early revision): local midnights
    or now minus N days, sent as UTC datetimes without milliseconds."""
    now = b.now.replace(microsecond=0)
    today = b.today()
    if period == "today":
        return b.midnight(today), now
    if period == "yesterday":
        return b.midnight(today - timedelta(days=1)), b.midnight(today)
    days = {"last7days": 7, "last30days": 30, "last90days": 90}[period]
    return now - timedelta(days=days), now


def api_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


PRESET_DAYS = {"today": (0, 0), "yesterday": (1, 1), "last7days": (6, 0), "last30days": (29, 0), "last90days": (89, 0)}


def aether_range(params: dict[str, Any], b: Browser) -> tuple[datetime, datetime] | None:
    """The UTC range today's Aether reads from `preset` or date-only bounds in the browser's zone: local
    days, half-open, returned here with an inclusive end (one microsecond before the next local midnight)."""
    preset = params.get("preset")
    if preset is not None:
        back, fwd = PRESET_DAYS[preset]
        first, last = b.today() - timedelta(days=back), b.today() - timedelta(days=fwd)
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(params.get("start_date", ""))):
        first, last = date.fromisoformat(params["start_date"]), date.fromisoformat(params["end_date"])
    else:
        return None
    return b.midnight(first), b.midnight(last + timedelta(days=1)) - timedelta(microseconds=1)


def fill(value: Any, values: dict[str, Any], b: Browser) -> Any:
    """One parameter value with its placeholder ($name, $local_date:N) replaced."""
    if not isinstance(value, str) or not value.startswith("$"):
        return value
    if value.startswith("$local_date:"):
        return (b.today() + timedelta(days=int(value.split(":")[1]))).isoformat()
    if value == "$tz":
        return b.name
    if value == "$tz_offset_minutes":
        return b.offset_minutes
    return values[value[1:]]


def request_of(entry: dict[str, Any], values: dict[str, Any], b: Browser) -> tuple[str, dict[str, Any]]:
    """The path and query parameters the front end sends for this entry, in this browser, now."""
    params = {k: fill(v, values, b) for k, v in entry["params"].items()}
    if "range" in entry:
        kind, period = entry["range"].split(":")
        assert kind == "browser_datetimes", entry["range"]
        start, end = browser_datetimes(period, b)
        params.update(start_date=api_datetime(start), end_date=api_datetime(end))
    path = entry["path"].replace("{usage_id}", values["usage_id"])
    return path, params


def oracle_range(entry: dict[str, Any], params: dict[str, Any], b: Browser) -> tuple[datetime | None, datetime | None]:
    """The range the oracle recounts over: the datetimes sent, or the local days a preset or dates mean."""
    if "range" in entry:
        return datetime.fromisoformat(params["start_date"]), datetime.fromisoformat(params["end_date"])
    local = aether_range(params, b)
    return local if local is not None else (None, None)


# --- response checks ---------------------------------------------------------------------------------------
def _type_ok(value: Any, kind: str) -> bool:
    if kind == "json":
        return True
    if kind == "int":
        return type(value) is int
    if kind == "number":
        return type(value) in (int, Decimal)
    if kind == "date":
        return isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None
    if kind == "datetime":
        try:
            return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False
    types: dict[str, type] = {"string": str, "bool": bool, "object": dict, "list": list}
    return type(value) is types[kind]


def type_ok(value: Any, spec: str) -> bool:
    kinds = [k for k in spec.split("|") if k != "absent"]
    return (value is None and "null" in kinds) or any(_type_ok(value, k) for k in kinds if k != "null")


@dataclass
class _Walk:
    """One field path followed through an answer: the values found, and what was missing on the way."""

    optional: bool  # the last field may be left out (a type spec with `absent`)
    found: list[Any]
    problems: set[str]

    def walk(self, node: Any, segments: list[str], loc: str) -> None:
        if not segments:
            self.found.append(node)
            return
        seg = segments[0]
        name, each = (seg[:-2], True) if seg.endswith("[]") else (seg, False)
        if name:
            if not isinstance(node, dict):
                self.problems.add(f"{loc}: not an object, so no field {name!r}")
                return
            if name not in node:
                if not (self.optional and len(segments) == 1):
                    self.problems.add(f"missing field {loc}.{name}".replace("$.", ""))
                return
            node, loc = node[name], f"{loc}.{name}"
        if not each:
            self.walk(node, segments[1:], loc)
        elif not isinstance(node, list):
            self.problems.add(f"{loc}: {type(node).__name__}, not a list")
        else:
            for item in node:
                self.walk(item, segments[1:], loc + "[]")


def field_problems(body: Any, fields: dict[str, str]) -> list[str]:
    """Each field the view reads: present (in every list item, unless its type allows `absent`) and of its
    type."""
    problems: set[str] = set()
    for path, spec in fields.items():
        walk = _Walk("absent" in spec.split("|"), [], problems)
        walk.walk(body, [s for s in path.split(".") if s], "$")
        found = walk.found
        bad = sorted({f"{type(v).__name__} {v!r}"[:80] for v in found if not type_ok(v, spec)})
        if bad:
            problems.add(f"field {path}: expected {spec}, got {', '.join(bad[:3])}")
    return sorted(problems)


def item_count_problems(body: Any, min_items: dict[str, int]) -> list[str]:
    """The e2e history holds items for these lists, so an empty list would check no item's fields."""
    out = []
    for path, least in min_items.items():
        node = body
        for seg in [s for s in path.rstrip("[]").split(".") if s]:
            node = node.get(seg) if isinstance(node, dict) else None
        if isinstance(node, list) and len(node) < least:
            out.append(f"{path}: {len(node)} items, the e2e history has at least {least}")
    return out
