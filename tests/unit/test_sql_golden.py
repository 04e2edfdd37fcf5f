"""The golden SQL files (materializer/sql/*.sql) are what the materializer sends: a statement changed in the code
without running scripts/generate_sql.py fails here with the diff, so the text a reader sees is the text sent."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from usagestream.materializer import pg_tables
from usagestream.materializer.read import (
    dashboard,
    export,
    extent,
    leaderboards,
    provider_performance,
    stats,
    stats_series,
    stats_totals,
)
from usagestream.materializer.read import timeseries as ts
from usagestream.materializer.read.records import RecordQuery
from usagestream.materializer.read.store import ReadStore
from usagestream.materializer.write import pg_views
from usagestream.settings import Settings
from usagestream.timeseries import boundaries

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "generate_sql.py"
GOLDEN = ROOT / "materializer" / "sql"


def _check(cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_the_committed_sql_files_are_what_the_generator_writes() -> None:
    done = _check()
    assert done.returncode == 0, done.stderr


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sql", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_statement_changed_without_regenerating_is_reported_with_its_diff() -> None:
    gen = _generator()
    want = gen.expected()
    golden = GOLDEN / "write.pg_views.sql"
    # As if the spread's conflict target had changed in pg_views.py and the script had not been run.
    changed = want[golden].replace("ON CONFLICT (dim, key, grain, bucket)", "ON CONFLICT (dim, key, bucket)", 1)
    assert changed != want[golden]
    problems = gen.stale({**want, golden: changed})
    assert len(problems) == 1
    assert problems[0].endswith("materializer/sql/write.pg_views.sql is not current: run scripts/generate_sql.py")
    assert "\n-WITH by_dim" in problems[0] and "\n+WITH by_dim" in problems[0]
    assert gen.stale(want) == []


def test_the_golden_shows_the_statements_the_writer_sends() -> None:
    text = (GOLDEN / "write.pg_views.sql").read_text(encoding="utf-8")
    sent = [
        pg_views.SPREAD_USAGE_SQL,
        pg_views.SPREAD_USAGE_ONE_QUARTER_SQL,
        pg_views.SPREAD_ATTEMPTS_SQL,
        pg_views.OVERDUE_SQL,
        pg_views.TIME_OUT_SQL,
        pg_views.upsert_sql("usage_records", pg_tables.USAGE_RECORD_COLUMNS, True),
        pg_views.upsert_sql("candidate_records", pg_tables.CANDIDATE_RECORD_COLUMNS, True),
        *pg_views.write_preamble([1], False).split(";\n"),
    ]
    for statement in sent:
        assert f"\n{statement}\n" in text or f"\n{statement};\n" in text, statement[:80]


def test_a_read_builder_changed_without_regenerating_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The read side's golden files are rendered by calling the builders the readers call: change one (here
    the bigint cast of the range sums) and the committed read.stats.sql (and read.records.sql, read.extent.sql
    and read.dashboard.sql, whose totals and range sums are read.stats') is stale, with the diff."""
    gen = _generator()
    assert gen.stale(gen.expected()) == []
    monkeypatch.setattr(stats, "cast_sum", lambda counter: f"sum({counter})")
    problems = gen.stale(gen.expected())
    assert [p.splitlines()[-1] for p in problems] == [
        "materializer/sql/read.records.sql is not current: run scripts/generate_sql.py",
        "materializer/sql/read.stats.sql is not current: run scripts/generate_sql.py",
        "materializer/sql/read.extent.sql is not current: run scripts/generate_sql.py",
        "materializer/sql/read.dashboard.sql is not current: run scripts/generate_sql.py",
    ]
    assert '\n-SELECT key COLLATE "C" AS key, sum(n_all)::bigint AS n_all' in problems[1]
    assert '\n+SELECT key COLLATE "C" AS key, sum(n_all) AS n_all' in problems[1]


# --- the readers send the golden text ---------------------------------------------------------------------------
class _Recorder:
    """A connection (and a pool of one) that records each statement and answers from the representative data:
    the extent the generator's plans are built from (first record before START, newest NEWEST), the values
    its search filters hold, else no rows."""

    def __init__(self, first: datetime, last: datetime) -> None:
        self.first, self.last = first, last
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def acquire(self) -> _Recorder:
        return self

    def transaction(self, **_: Any) -> _Recorder:
        return self

    async def __aenter__(self) -> _Recorder:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sent.append((sql, args))
        return []

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        self.sent.append((sql, args))
        if sql == ts.ATTEMPT_EXTENT_SQL:  # no cut-off, the candidates' extent
            return (None, self.first, self.last)
        if sql in [extent.extent_sql(t) for t in extent.TABLES]:  # no zone stored, no cut-off
            return (None, None, self.first, self.last, None, None)
        if sql.startswith("SELECT (SELECT value FROM meta"):  # stats.extent_sql: no zone stored, no cut-off
            return (None, None, self.first, self.last)
        if sql == stats.RECORDS_EXTENT_SQL:
            return (self.first, self.last)
        if sql.startswith("SELECT ARRAY("):  # records.search_sql: the values the generator's searches match
            return (["gpt-4o", "gpt-4o-mini"], ["key-1"], [], [])[: sql.count("ARRAY(")]
        if sql == dashboard.USERS_SQL:  # counts: always a row
            return (0, 0)
        return None

    async def cursor(self, sql: str, *args: Any) -> _Recorder:
        self.sent.append((sql, args))
        return _Recorder(self.first, self.last)  # its fetch(n) answers no rows

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.sent.append((sql, args))
        return 1 if sql.startswith("SELECT count(") else None  # a count finds a row, so the page is read too


def _statements(path: Path) -> set[str]:
    """The statement lines of one golden file (the lines that are not comments)."""
    return {line for line in path.read_text(encoding="utf-8").splitlines() if line and line[:2] != "--"}


def _golden_statements() -> set[str]:
    """Every statement line of the golden files."""
    return set().union(*(_statements(path) for path in GOLDEN.glob("*.sql")))


async def test_the_read_store_sends_exactly_the_golden_statements() -> None:
    """Each ReadStore answer, for the generator's representative requests, sends only statements that stand
    in materializer/sql/ as they are sent (a reader that assembled its own text instead of calling the builder
    the generator renders would fail here)."""
    gen = _generator()
    conn = _Recorder(datetime(2025, 12, 1, tzinfo=UTC), gen.NEWEST)
    store = ReadStore(conn, Settings())  # type: ignore[arg-type]
    start, end = gen.START, gen.END
    await store.stats_sums(start, end)
    await store.stats_sums(start, end, model="gpt-4o")
    await store.stats_sums(start, end, user_id="user-1", model="gpt-4o")
    await store.stats_sums(start, end, provider="OpenAI")
    for group_by in ("model", "api_format", "user", "provider"):
        await store.aggregation_rows(group_by, start, end, 20)
    filters = {"user_id": "user-1", "username": "ali", "model": "gpt-4o", "provider": "OpenAI", "status": "failed"}
    await store.record_page(RecordQuery(start, end, None, **filters), 20, 40)
    await store.record_page(RecordQuery(start, end, "gpt"), 20, 40)
    await store.record_page(RecordQuery(start, end), 20, 40)
    await store.record_page(RecordQuery(start, end, model="gpt-4o"), 20, 40)
    await store.detail_row("u-1")
    await store.active_rows(["u-1", "u-2"], None)
    await store.active_rows(["u-1"], "user-1")
    now = gen.SINCE + timedelta(hours=24)
    for user, key in (("user-1", "key-1"), ("user-1", None), (None, "key-1"), (None, None)):
        await store.ttl_rows(user, key, 24, now)
        await store.hit_sums(user, key, 24, now)
    for user, multi in (("user-1", False), (None, False), (None, True)):
        await store.timeline_rows(24, 1000, user, multi, now)
    await store.heatmap_rows("user-1", now)
    await store.user_page("user-1", start, end, "gpt", 20, 40)
    await store.user_by_id("user-1")
    await store.management_token("AB")
    await store.credentials(["user-1"], ["ab"])
    async for _ in export.record_chunks(conn, export.RecordQuery(start, end, **filters)):  # type: ignore[arg-type]
        pass
    golden = _golden_statements()
    sent = [sql for sql, _ in conn.sent]
    assert len(sent) >= 40
    missing = [sql[:120] for sql in sent if sql not in golden]
    assert missing == []


async def test_the_time_series_sends_the_golden_statements() -> None:
    """For each of the generator's series requests (every grouping of both scopes), the series reader sends its
    extent statement and the one statement of the series, both as the golden files show them."""
    gen = _generator()
    golden = _golden_statements()
    for q in gen._series_queries():
        conn = _Recorder(datetime(2025, 12, 1, tzinfo=UTC), gen.NEWEST)
        with contextlib.suppress(IndexError):  # the recorder answers no row; what was sent is the point
            await ts.timeseries(conn, q, "UTC")  # type: ignore[arg-type]
        sent = [sql for sql, _ in conn.sent]
        # the extent, (group_by=provider: the candidates' extent,) the series
        assert len(sent) == (3 if q.group_by == "provider" else 2) and sent[-1].startswith("WITH p AS"), (q, sent)
        assert [sql[:120] for sql in sent if sql not in golden] == [], q


# The generator's filter combinations of the stats family (its FAMILY_FILTERS) as a request gives them: user_id,
# model, provider_name (a name the readers resolve to the live providers' ids).
_ASKED = {
    "none": (None, None, None),
    "user_id": ("user-1", None, None),
    "model": (None, "gpt-4o", None),
    "provider_name": (None, None, "OpenAI"),
    "user_id+model": ("user-1", "gpt-4o", None),
    "model+provider_name": (None, "gpt-4o", "OpenAI"),
}


async def _drive_stats_family(gen: ModuleType, conn: _Recorder) -> None:
    """Each reader of /api/admin/stats/* (http/views/admin_stats.py) for each of the generator's requests."""
    utc = gen.UTC_ZONE
    for granularity, (lo, hi), name in gen.SERIES_ASKS:  # time-series and cost/forecast
        await stats_series.read(conn, stats_series.Ask(lo, hi, granularity, utc, gen.NEWEST, *_ASKED[name]), "UTC")  # type: ignore[arg-type]
    for group, names in gen.BOARD_FILTERS.items():
        for name in names:
            ask = leaderboards.Ask(group, *_ASKED[name], False, False)
            await leaderboards.read(conn, ask, (gen.START, gen.END), "UTC")  # type: ignore[arg-type]
    comparison = [(gen.START, gen.END), gen.PREVIOUS]
    await stats_totals.totals(conn, comparison, stats_totals.COMPARISON_COUNTERS, "UTC")  # type: ignore[arg-type]
    for name in gen.SAVINGS_FILTERS:
        _, model, provider = _ASKED[name]
        span = [(gen.START, gen.END)]
        await stats_totals.totals(conn, span, stats_totals.SAVINGS_COUNTERS, "UTC", model, provider)  # type: ignore[arg-type]
    await stats_totals.percentiles(conn, gen._day_spans(gen.DAYS))  # type: ignore[arg-type]
    for filters in gen.PERFORMANCE_ASKS.values():
        ask = provider_performance.Ask(boundaries(*gen.DAYS, "day", utc), 8, 10_000, **filters)
        await provider_performance.read(conn, ask)  # type: ignore[arg-type]


async def test_the_stats_family_sends_exactly_the_golden_statements() -> None:
    """The /api/admin/stats/* readers, for the generator's representative requests (every endpoint that reads,
    each filter class), send only statements that stand in materializer/sql/ as sent, and every statement of
    read.stats_family.sql is one of them (the file shows what the readers send, nothing else)."""
    gen = _generator()
    assert set(_ASKED) == set(gen.FAMILY_FILTERS)
    conn = _Recorder(gen.FIRST, gen.NEWEST)
    await _drive_stats_family(gen, conn)
    sent = [sql for sql, _ in conn.sent]
    assert len(sent) >= 60
    assert [sql[:120] for sql in sent if sql not in _golden_statements()] == []
    assert sorted(_statements(GOLDEN / "read.stats_family.sql") - set(sent)) == []


async def test_the_dashboard_sends_exactly_the_golden_statements() -> None:
    """/api/dashboard/stats and /daily-stats, admin and user, at the generator's representative request: only
    golden statements sent, and every statement of read.dashboard.sql among them."""
    gen = _generator()
    conn = _Recorder(gen.FIRST, gen.NEWEST)
    spans = gen.DASH_SPANS
    for scope in (dashboard.Scope(None), dashboard.Scope("user-1")):
        await dashboard.stats(conn, scope, spans["period"], spans["today"], gen.DASH_NOW, "UTC")  # type: ignore[arg-type]
        await dashboard.daily(conn, scope, gen.DASH_DAYS, "UTC")  # type: ignore[arg-type]
    sent = [sql for sql, _ in conn.sent]
    assert len(sent) >= 19
    assert [sql[:120] for sql in sent if sql not in _golden_statements()] == []
    assert sorted(_statements(GOLDEN / "read.dashboard.sql") - set(sent)) == []


@pytest.mark.parametrize(
    ("module", "name", "value", "golden"),
    [
        # provider performance's finished-records predicate, as if a reserved provider name had been added in the code
        (
            provider_performance,
            "FINISHED",
            provider_performance.FINISHED.replace("'pending')", "'pending', 'none')"),
            "read.stats_family.sql",
        ),
        # the leaderboards' counters (a builder input)
        (leaderboards, "COUNTERS", ("n_all", "tot_tok", "cost"), "read.stats_family.sql"),
        # the dashboard's per-day statement without its partition-pruning bounds
        (dashboard, "_edge_span", lambda day_plans, args: "TRUE", "read.dashboard.sql"),
    ],
)
def test_a_family_or_dashboard_builder_changed_without_regenerating_is_reported(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, value: Any, golden: str
) -> None:
    gen = _generator()
    assert gen.stale(gen.expected()) == []
    monkeypatch.setattr(module, name, value)
    problems = gen.stale(gen.expected())
    assert [p.splitlines()[-1] for p in problems] == [
        f"materializer/sql/{golden} is not current: run scripts/generate_sql.py"
    ]


def test_a_plan_s_runs_read_only_the_columns_summed() -> None:
    """The runs of a range plan return what their LATERAL subquery selects (OFFSET 0 keeps it a subquery):
    the key and the counters summed, not the aggregate row's ~70 columns."""
    start = datetime(2026, 1, 3, 5, 7, tzinfo=UTC)
    plan = extent.Extent("usage_records", "UTC", None, start - timedelta(days=400), start, None, None).plan(
        start - timedelta(days=365), start, "UTC"
    )
    assert plan.pieces
    sql, _ = stats.usage_sums_sql(plan, "user", ("n_all", "cost"))
    assert "SELECT * FROM usage_agg" not in sql
    assert "(SELECT key, n_all, cost FROM usage_agg a" in sql
    top, _ = stats.attempt_top_sql(plan, 5)
    assert "SELECT * FROM attempt_agg" not in top
