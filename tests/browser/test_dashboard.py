"""The dashboard at `/` in real headless Chromium against the real worker and API: sign-in, totals and tables
equal to the API's for the same period, filters and search narrowing the log, the detail drawer, live requests
pushed over the websocket, the cache-affinity view, and a user token scoped to its own data. Every view is
saved as a screenshot in artifacts/screenshots/."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from browser_env import BROWSER_TZ, run
from e2e_env import Deployment
from eventgen import usage_record
from workerproc import produce

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WAIT_MS = 15_000  # generous: the machine is shared; nothing here measures time


# --- helpers ------------------------------------------------------------------------------------------------
def api_get(dep: Deployment, path: str, query: str | dict[str, Any], token: str) -> Any:
    """The API's answer (money as Decimal) for the same query the page sent."""
    qs = query if isinstance(query, str) else urllib.parse.urlencode(query)
    req = urllib.request.Request(f"{dep.base_url}{path}?{qs}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read(), parse_float=Decimal)


def shown_decimal(text: str) -> Decimal:
    return Decimal(text.strip().lstrip("$").replace(",", ""))


def shown_int(text: str) -> int:
    return int(text.strip().replace(",", ""))


class Dash:
    """One browser tab on the dashboard, with what it sent and what went wrong in it."""

    def __init__(self, page: Any, dep: Deployment, shots: Path) -> None:
        self.page, self.dep, self.shots = page, dep, shots
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("request", lambda r: self.urls.append(r.url))
        page.set_default_timeout(WAIT_MS)

    def sign_in(self, token: str) -> None:
        self.page.goto(self.dep.base_url + "/")
        self.page.fill("#token", token)
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_selector("#nav:not([hidden])")
        self.settled("overview")

    def settled(self, view: str) -> None:
        self.page.wait_for_function(
            "v => document.querySelector('main').dataset.loaded === v"
            " && document.querySelector('main').dataset.loading === 'false'",
            arg=view,
        )

    def goto(self, view: str) -> None:
        self.page.click(f"#nav a[data-view={view}]")
        self.settled(view)

    def wait_query(self, selector: str, **expect: str) -> dict[str, str]:
        """The query behind `selector`'s content once it holds every expected parameter (and loading ended)."""
        self.page.wait_for_function(
            """([sel, want]) => {
                 const node = document.querySelector(sel);
                 const busy = document.querySelector('main').dataset.loading !== 'false';
                 if (!node || !node.dataset.query || busy) return false;
                 const q = new URLSearchParams(node.dataset.query);
                 return Object.entries(want).every(([k, v]) => (q.get(k) || '') === v);
               }""",
            arg=[selector, expect],
        )
        return dict(urllib.parse.parse_qsl(self.page.get_attribute(selector, "data-query") or ""))

    def period(self, value: str) -> dict[str, str]:
        self.page.select_option("#period", value)
        start = self.page.get_attribute("#period-range", "data-start") or ""
        return {"start_date": start}

    def stat(self, key: str) -> str:
        """A totals card's figure: the exact sum where the card shows one under the rounded figure."""
        card = self.page.locator(f"#totals [data-stat={key}]")
        exact = card.locator(".exact")
        return exact.inner_text() if exact.count() else card.locator(".value").inner_text()

    def table(self, container: str) -> list[dict[str, str]]:
        """Rows of a rendered table as {column key: cell text} (cost cells: the exact title)."""
        return self.page.eval_on_selector_all(
            f"{container} tbody tr",
            """rows => rows.map(r => Object.fromEntries([...r.cells].map(c =>
                 [c.dataset.col, (c.dataset.col || '').includes('cost') ? c.title : c.innerText])))""",
        )

    def shot(self, name: str, full: bool = True) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=full)

    def assert_clean(self, *secrets: str) -> None:
        assert not self.errors, self.errors
        for url in self.urls:  # the token goes in a header, never in a page or fetch URL
            assert not any(s in url for s in secrets), "a token appeared in a request URL"
        assert not any(s in self.page.url for s in secrets)


@pytest.fixture
def dash(browser: Any, deployment: Deployment, screenshots: Path) -> Iterator[Dash]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id=BROWSER_TZ, locale="en-US")
    try:
        yield Dash(context.new_page(), deployment, screenshots)
    finally:
        context.close()


def publish(dep: Deployment, versions: list[dict[str, Any]]) -> None:
    run(lambda: produce(dep.settings, dep.world.request(versions)))


# --- tests --------------------------------------------------------------------------------------------------
def test_sign_in_and_overview_equal_the_api(dash: Dash, deployment: Deployment) -> None:
    page, admin = dash.page, deployment.token("u-admin", "admin")
    page.goto(deployment.base_url + "/")
    dash.shot("signin", full=False)
    page.fill("#token", "not-a-token")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('401')")
    assert page.is_hidden("#nav")
    dash.errors.clear()  # the browser logs the refused probe (401) as a console error: expected here

    dash.sign_in(admin)
    assert page.evaluate("sessionStorage.getItem('usagestream.token')") == admin
    page.wait_for_selector("#heatmap svg rect.hm")
    for period in ("30d", "7d", "today"):
        query = dash.wait_query("#totals", **dash.period(period))
        assert query["start_date"] and query["end_date"]
        stats = api_get(deployment, "/api/admin/usage/stats", query, admin)
        assert shown_int(dash.stat("total_requests")) == stats["total_requests"], period
        assert shown_int(dash.stat("total_tokens")) == stats["total_tokens"], period
        assert shown_decimal(dash.stat("total_cost")) == stats["total_cost"], period
        assert shown_decimal(dash.stat("total_actual_cost")) == stats["total_actual_cost"], period
        models = api_get(
            deployment, "/api/admin/usage/aggregation/stats", {**query, "group_by": "model", "limit": 100}, admin
        )
        rows = dash.table("#t-model")
        assert [(r["model"], shown_int(r["request_count"]), shown_decimal(r["total_cost"])) for r in rows] == [
            (m["model"], m["request_count"], m["total_cost"]) for m in models
        ], period
        if period == "30d":
            assert stats["total_requests"] > 100  # the dataset's month is not empty: the comparison means something
            dash.shot("overview")
            providers = api_get(
                deployment, "/api/admin/usage/aggregation/stats", {**query, "group_by": "provider"}, admin
            )
            shown = {r["provider"]: r["success_rate"] for r in dash.table("#t-provider")}
            assert shown == {p["provider"]: f"{Decimal(p['success_rate']):.2f}%" for p in providers}
    # sorting: a click on "Cost" orders the model table by cost, highest first; a second click reverses it
    dash.wait_query("#totals", **dash.period("30d"))
    page.click("#t-model th[data-key=total_cost]")
    costs = [shown_decimal(r["total_cost"]) for r in dash.table("#t-model")]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) > 1
    page.click("#t-model th[data-key=total_cost]")
    assert [shown_decimal(r["total_cost"]) for r in dash.table("#t-model")] == sorted(costs)
    # the heatmap shows the API's 365 days
    heat = api_get(deployment, "/api/admin/usage/heatmap", {}, admin)
    cells = page.eval_on_selector_all("#heatmap rect.hm", "rs => rs.map(r => [r.dataset.date, +r.dataset.requests])")
    assert cells == [[d["date"], d["requests"]] for d in heat["days"]]
    page.set_viewport_size({"width": 390, "height": 844})
    dash.shot("overview-phone")
    dash.assert_clean(admin)


def test_log_filters_search_paging_and_drawer(dash: Dash, deployment: Deployment) -> None:
    page, admin, world = dash.page, deployment.token("u-admin", "admin"), deployment.world
    dash.sign_in(admin)
    dash.goto("log")
    base = dash.wait_query("#records", **dash.period("30d"))

    def total_now(**expect: str) -> tuple[int, dict[str, str]]:
        query = dash.wait_query("#records", **expect)
        answer = api_get(deployment, "/api/admin/usage/records", query, admin)
        assert int(page.get_attribute("#records", "data-total") or -1) == answer["total"], query
        ids = page.eval_on_selector_all("#records tbody tr", "rs => rs.map(r => r.dataset.id)")
        assert ids == [r["id"] for r in answer["records"]], query
        return answer["total"], query

    everything, _ = total_now(start_date=base["start_date"])
    assert everything > 50
    page.fill("#f-search", "alice")
    searched, _ = total_now(search="alice")
    page.fill("#f-search", "alice sonnet")
    both, _ = total_now(search="alice sonnet")
    assert 0 < both < searched < everything
    page.fill("#f-search", "")
    page.select_option("#f-status", "failed")
    failed, _ = total_now(search="", status="failed")
    assert 0 < failed < everything
    page.select_option("#f-model", "gpt-4o")
    narrowed, _ = total_now(status="failed", model="gpt-4o")
    assert narrowed < failed
    page.select_option("#f-status", "")
    page.select_option("#f-model", "")
    page.select_option("#f-provider", "OpenAI")
    by_provider, _ = total_now(status="", model="", provider="OpenAI")
    assert 0 < by_provider < everything
    page.select_option("#f-provider", "")
    page.fill("#f-username", "bob")
    by_user, _ = total_now(provider="", username="bob")
    assert 0 < by_user < everything
    assert set(page.eval_on_selector_all("#records td[data-col=username]", "cs => cs.map(c => c.innerText)")) == {
        "bob%pct"
    }
    page.fill("#f-username", "")
    # paging
    page.select_option("#f-limit", "20")
    total_now(username="", limit="20", offset="0")
    page.click("#next")
    total_now(limit="20", offset="20")
    assert page.inner_text("#page-info").startswith("21–40 of")
    page.click("#prev")
    total_now(limit="20", offset="0")
    dash.shot("log")
    # the detail drawer of a request billed on its second price tier, and the marks of a fallback
    page.fill("#f-search", "claude-sonnet")
    total_now(search="claude-sonnet", offset="0")
    page.select_option("#f-limit", "100")
    total_now(search="claude-sonnet", limit="100")
    page.click(f"#records tr[data-id='{world.named['tiered']}']")
    drawer = page.locator("#drawer")
    drawer.locator("text=Tiered pricing").wait_for()
    drawer.locator("text=/tier 2 of/").wait_for()
    detail = api_get(deployment, f"/api/admin/usage/{world.named['tiered']}", {}, admin)
    assert detail["tiered_pricing"]["tier_index"] == 1
    body = drawer.inner_text()
    for text in ("Request headers", "Request body", "Response body", "Cache write", str(detail["request_id"])):
        assert text in body, text
    dash.shot("log-drawer", full=False)
    page.click("#drawer-close")
    page.fill("#f-search", "")
    total_now(search="")
    # a request that fell back to a second provider carries the mark in its row
    marks = page.locator(f"#records tr[data-id='{world.named['edge_fallback']}'] .badge")
    page.select_option("#f-limit", "200")
    total_now(limit="200", offset="0")
    if marks.count() == 0:  # not among the newest 200 of the month: the next page
        page.click("#next")
        total_now(limit="200", offset="200")
    assert "fallback" in marks.all_inner_texts()
    dash.assert_clean(admin)


def test_live_requests_appear_tick_and_leave(dash: Dash, deployment: Deployment) -> None:
    page, admin, world = dash.page, deployment.token("u-admin", "admin"), deployment.world
    dash.sign_in(admin)
    dash.goto("live")
    page.wait_for_selector("#live-state:has-text('live')")
    page.wait_for_function("n => document.querySelectorAll('#live tbody tr').length === n", arg=len(world.active_ids()))
    rid = str(uuid.uuid4())
    pending = usage_record(rid, datetime.now(UTC), user_id="u-alice", api_key_id="k-alice1", model="live-model")
    publish(deployment, [pending])
    sent = time.monotonic()
    row = page.locator(f"#live tr[data-id='{rid}']")
    row.wait_for()  # pushed by the feed: no reload, no poll
    print(f"live view: the request appeared {time.monotonic() - sent:.2f}s after Kafka acknowledged it")
    row.locator("text=live-model").wait_for()  # its start time and model were looked up once
    first = row.locator("[data-elapsed]").inner_text()
    page.wait_for_function(
        "([id, t]) => {"
        " const c = document.querySelector(`#live tr[data-id='${id}'] [data-elapsed]`);"
        " return c && c.innerText !== t; }",
        arg=[rid, first],
    )
    publish(
        deployment,
        [dict(pending, status="streaming", provider_name="OpenAI", provider_id="p-oai", first_byte_time_ms=120)],
    )
    page.wait_for_selector(f"#live tr[data-id='{rid}'][data-status=streaming]")
    dash.shot("live")
    publish(
        deployment,
        [
            dict(
                pending,
                status="completed",
                status_code=200,
                provider_name="OpenAI",
                provider_id="p-oai",
                response_time_ms=900,
            )
        ],
    )
    row.wait_for(state="detached")
    assert page.inner_text("#live-count") == str(len(world.active_ids()))
    run(lambda: deployment.wait_caught_up(60))  # later views recount with this request in them
    dash.assert_clean(admin)


def test_cache_affinity_view(dash: Dash, deployment: Deployment) -> None:
    page, admin = dash.page, deployment.token("u-admin", "admin")
    dash.sign_in(admin)
    dash.goto("cache")
    ttl = api_get(deployment, "/api/admin/usage/cache-affinity/ttl-analysis", {"hours": 24}, admin)
    timeline = api_get(
        deployment,
        "/api/admin/usage/cache-affinity/interval-timeline",
        {"hours": 24, "include_user_info": "true", "limit": 10000},
        admin,
    )
    shown = page.eval_on_selector_all("#ttl tbody tr", "rs => rs.map(r => r.dataset.id)")
    assert shown == [u["group_id"] for u in ttl["users"]] and shown
    ttls = [r["recommended_ttl_minutes"] for r in dash.table("#ttl")]
    assert ttls == [f"{u['recommended_ttl_minutes']} min" for u in ttl["users"]]
    assert int(page.get_attribute("#scatter", "data-points") or -1) == timeline["total_points"] > 0
    dash.shot("cache")
    dash.assert_clean(admin)


def test_user_token_sees_only_its_own(dash: Dash, deployment: Deployment) -> None:
    page, world = dash.page, deployment.world
    alice = deployment.token("u-alice")
    dash.sign_in(alice)
    assert page.inner_text("#who-label") == "User"
    assert page.is_hidden("#card-provider") and page.is_hidden("#card-user") and page.is_hidden("#f-provider")
    query = dash.wait_query("#totals", **dash.period("30d"))
    mine = api_get(deployment, "/api/users/me/usage", {**query, "limit": 1}, alice)
    assert shown_int(dash.stat("total_requests")) == mine["total_requests"] > 0
    assert shown_decimal(dash.stat("total_cost")) == mine["total_cost"]
    dash.shot("user-overview")
    # the log: only alice's requests, as /api/users/me/usage pages them
    dash.goto("log")
    query = dash.wait_query("#records", **dash.period("7d"))
    ids = page.eval_on_selector_all("#records tbody tr", "rs => rs.map(r => r.dataset.id)")
    assert ids == [r["id"] for r in api_get(deployment, "/api/users/me/usage", query, alice)["records"]]
    assert ids and all(world.usage[i]["user_id"] == "u-alice" for i in ids)
    page.fill("#f-search", "laptop")
    query = dash.wait_query("#records", search="laptop")
    narrowed = page.eval_on_selector_all("#records tbody tr", "rs => rs.map(r => r.dataset.id)")
    assert narrowed == [r["id"] for r in api_get(deployment, "/api/users/me/usage", query, alice)["records"]]
    assert 0 < len(narrowed) < len(ids)
    dash.shot("user-log")
    # the user's drawer: its labels come from /static/fields.json; no admin-only field is offered
    page.click(f"#records tr[data-id='{narrowed[0]}']")
    drawer = page.locator("#drawer")
    drawer.locator("th:text-is('Total (in + out)')").wait_for()
    body = drawer.inner_text()
    for text in ("Usage id", "Cache write", "Tokens", "Total (in + out)", "Response time", narrowed[0]):
        assert text in body, text
    for text in ("Request id", "Upstream key", "Request body"):
        assert text not in body, text
    page.click("#drawer-close")
    # live: alice's active requests only, and one of bob's published now never shows up
    dash.goto("live")
    page.wait_for_selector("#live-state:has-text('live')")
    theirs = {r["id"] for r in world.rows() if r["status"] in ("pending", "streaming") and r["user_id"] == "u-alice"}
    page.wait_for_function("n => document.querySelectorAll('#live tbody tr').length === n", arg=len(theirs))
    assert set(page.eval_on_selector_all("#live tbody tr", "rs => rs.map(r => r.dataset.id)")) == theirs
    bob_rid, alice_rid = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    publish(deployment, [usage_record(bob_rid, now, user_id="u-bob", api_key_id="k-bob", model="bob-live")])
    publish(deployment, [usage_record(alice_rid, now, user_id="u-alice", api_key_id="k-alice1", model="alice-live")])
    page.locator(f"#live tr[data-id='{alice_rid}']").wait_for()  # published after bob's: bob's had its chance
    assert page.locator(f"#live tr[data-id='{bob_rid}']").count() == 0
    dash.shot("user-live")
    for rid, uid, key in ((bob_rid, "u-bob", "k-bob"), (alice_rid, "u-alice", "k-alice1")):
        publish(
            deployment,
            [
                usage_record(
                    rid, now, user_id=uid, api_key_id=key, status="cancelled", status_code=499, provider_name="unknown"
                )
            ],
        )
    page.locator(f"#live tr[data-id='{alice_rid}']").wait_for(state="detached")
    # the admin API refuses this token, and the page never asked an admin path
    dash.goto("cache")
    assert (
        int(page.get_attribute("#scatter", "data-points") or -1)
        == api_get(deployment, "/api/users/me/usage/interval-timeline", {"hours": 24, "limit": 5000}, alice)[
            "total_points"
        ]
    )
    assert not [u for u in dash.urls if "/api/admin/" in u and "/stats?" not in u]  # /stats: the role probe (403)
    run(lambda: deployment.wait_caught_up(60))
    dash.errors = [e for e in dash.errors if "403" not in e]  # the role probe's refusal is logged by the browser
    dash.assert_clean(alice)


def api_bytes(dep: Deployment, path: str, query: dict[str, str], token: str) -> bytes:
    req = urllib.request.Request(
        f"{dep.base_url}{path}?{urllib.parse.urlencode(query)}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        body: bytes = resp.read()
        return body


def test_download_buttons_export_the_filtered_view(dash: Dash, deployment: Deployment) -> None:
    """The Requests view's buttons download every request its filters select (not just the page), and the
    aggregation tables' buttons their table; the same bytes as the export paths, the token never in a URL."""
    page, admin, alice = dash.page, deployment.token("u-admin", "admin"), deployment.token("u-alice")
    dash.sign_in(admin)
    with page.expect_download() as got:
        page.click("#card-provider [data-export-group=provider]")
    query = dash.wait_query("#totals")
    saved = Path(got.value.path()).read_bytes()
    expected = api_bytes(
        deployment,
        "/api/admin/usage/export/aggregation",
        {**query, "group_by": "provider", "limit": "100", "format": "csv"},
        admin,
    )
    assert saved == expected and saved.count(b"\r\n") > 1 and got.value.suggested_filename.endswith(".csv")
    dash.goto("log")
    page.select_option("#f-status", "completed")
    page.fill("#f-search", "alice")
    query = dash.wait_query("#records", search="alice", status="completed")
    for fmt in ("csv", "jsonl"):
        with page.expect_download() as got:
            page.click(f"[data-export-records={fmt}]")
        saved = Path(got.value.path()).read_bytes()
        wanted = {k: v for k, v in query.items() if k not in ("limit", "offset")}
        assert saved == api_bytes(deployment, "/api/admin/usage/export/records", {**wanted, "format": fmt}, admin)
        assert got.value.suggested_filename.startswith("usage-records-")
    total = int(page.get_attribute("#records", "data-total") or -1)
    assert len(saved.splitlines()) == total > 0  # every matching request, not one page
    dash.assert_clean(admin)
    page.click("#sign-out")
    dash.sign_in(alice)
    dash.goto("log")
    query = dash.wait_query("#records", **dash.period("30d"))
    with page.expect_download() as got:
        page.click("[data-export-records=jsonl]")
    lines = [json.loads(line) for line in Path(got.value.path()).read_bytes().splitlines()]
    assert lines and all(deployment.world.usage[r["id"]]["user_id"] == "u-alice" for r in lines)
    assert not any("actual_cost" in r or "user_id" in r for r in lines)
    assert page.is_hidden("[data-export-group=model]")  # no aggregation export for a user


def test_static_files_are_served_safely(deployment: Deployment) -> None:
    def fetch(path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(deployment.base_url + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    status, headers, body = fetch("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"/static/app.js" in body
    assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = fetch("/static/app.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert fetch("/static/app.js", **{"If-None-Match": headers["ETag"]})[0] == 304
    for path in ("/static/nope.js", "/static/..%2fdashboard.py", "/static/%2e%2e/routes.py", "/static/"):
        status, _, body = fetch(path)
        assert status == 404 and b"import" not in body, path
