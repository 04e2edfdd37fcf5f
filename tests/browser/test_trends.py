"""The trends view and the overview's compact chart (uPlot, vendored) in real headless Chromium against the real
worker and API: the series, their totals and the hovered bucket's values equal the /timeseries answer for the
same query; granularity, metric and grouping pickers re-fetch; the last bucket follows the websocket feed without
polling; a user token reads only its own path and groupings; no console error and no CSP violation. Each chart
is saved to artifacts/screenshots/ (trends.png and overview-trend.png are the README's docs/trends.png and
docs/trends-overview.png)."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from browser_env import BROWSER_TZ
from e2e_env import Deployment
from e2e_world import MODELS
from eventgen import usage_record
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_dashboard import Dash, api_get, publish

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# Registered before the page's own scripts: every CSP violation the page causes (an inline style uPlot might set,
# a script from elsewhere) lands in window.__csp.
CSP_WATCH = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));"""


@pytest.fixture
def tab(browser: Any, deployment: Deployment, screenshots: Path) -> Any:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id=BROWSER_TZ, locale="en-US")
    context.add_init_script(CSP_WATCH)
    try:
        yield Dash(context.new_page(), deployment, screenshots)
    finally:
        context.close()


def metric_value(point: dict[str, Any], metric: str) -> Decimal:
    return Decimal(str(point[metric]))


def expected_rows(answer: dict[str, Any], metric: str) -> list[tuple[str, str, Decimal, Decimal]]:
    """(key, label, total over the range, last bucket) of each series, as the page's table should show them."""
    return [
        (
            s["key"] or "",
            s["label"],
            sum((metric_value(p, metric) for p in s["points"]), Decimal(0)),
            metric_value(s["points"][-1], metric),
        )
        for s in answer["series"]
    ]


def shown_rows(dash: Dash) -> list[tuple[str, str, Decimal, Decimal]]:
    rows = dash.page.eval_on_selector_all(
        "#trends-table tbody tr",
        """rs => rs.map(r => [r.dataset.key, r.cells[0].innerText,
             r.querySelector('[data-col=total]').dataset.exact, r.querySelector('[data-col=last]').dataset.exact])""",
    )
    return [(k, label, Decimal(t), Decimal(last)) for k, label, t, last in rows]


def chart_equals_api(dash: Dash, path: str, token: str, metric: str, **expect: str) -> dict[str, Any]:
    """Wait for the chart of the query holding `expect`; its table and series count equal the API's answer."""
    query = dash.wait_query("#trends-chart", **expect)
    answer = api_get(dash.dep, path, query, token)
    assert shown_rows(dash) == expected_rows(answer, metric), query
    assert int(dash.page.get_attribute("#trends-chart", "data-series") or -1) == len(answer["series"])
    assert dash.page.locator("#trends-chart .u-legend .u-series").count() == len(answer["series"]) + 1  # + x
    return answer


def hover_busiest(dash: Dash, answer: dict[str, Any]) -> tuple[int, list[str]]:
    """Point at the closed bucket with the most requests; (its index, the legend's values there).

    Not the partial one: the feed changes its values under the pointer, and it sits at the plot's right edge
    (30 days of hours: its start can be under a pixel from the edge, where the pointer leaves the plot)."""
    points = answer["series"][0]["points"]
    buckets = [p["bucket"] for p in points]
    closed = [i for i, p in enumerate(points) if not p["partial"]]
    per_bucket = {i: sum(s["points"][i]["requests"] for s in answer["series"]) for i in closed}
    idx = max(closed, key=lambda i: (per_bucket[i], -i))
    times = [datetime.fromisoformat(b).timestamp() for b in buckets]
    box = dash.page.locator("#trends-chart .u-over").bounding_box()
    assert box is not None
    last = max(times[-1], datetime.fromisoformat(answer["end_date"]).timestamp())  # the x axis ends at the range's end
    per_second = box["width"] / ((last - times[0]) or 1)
    # a quarter of the bucket in from its start: uPlot's cursor snaps to the nearest bucket start
    width = (times[idx + 1] if idx + 1 < len(times) else last) - times[idx]
    x = box["x"] + per_second * (times[idx] - times[0] + width / 4)
    # A bucket can be about a pixel wide (30 days of hours): step the pointer until the cursor snaps to it.
    # A live refresh of the last bucket redraws the chart and clears the cursor under a still pointer: move again.
    for attempt in range(12):
        dash.page.mouse.move(x + (attempt % 2) * 0.5, box["y"] + box["height"] / 2)
        try:
            dash.page.wait_for_function("() => !!document.querySelector('#trends-chart').dataset.hover", timeout=3000)
        except PlaywrightTimeout:
            continue
        # the hovered bucket and the legend's values read together (a redraw between two reads would mix them)
        shown, values = dash.page.evaluate(
            """() => [document.querySelector('#trends-chart').dataset.hover,
                      [...document.querySelectorAll('#trends-chart .u-legend .u-series')].slice(1)
                        .map(r => r.querySelector('.u-value').innerText)]"""
        )
        if shown == buckets[idx]:
            return idx, values
        if shown:
            at = buckets.index(shown) if shown in buckets else idx
            x += per_second * (times[idx] - times[at]) or per_second * 60
    raise AssertionError(f"the cursor never rested on the busiest bucket {buckets[idx]}")


def timeseries_urls(dash: Dash) -> list[dict[str, str]]:
    return [
        dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(u).query)) for u in dash.urls if "/usage/timeseries?" in u
    ]


def assert_no_csp_violation(dash: Dash) -> None:
    assert dash.page.evaluate("window.__csp") == []


# --- tests --------------------------------------------------------------------------------------------------
def test_trends_chart_equals_the_api(tab: Dash, deployment: Deployment) -> None:
    page, admin = tab.page, deployment.token("u-admin", "admin")
    path = "/api/admin/usage/timeseries"
    tab.sign_in(admin)
    # the overview's compact chart: the period's requests by model, as the API answers them
    query = tab.wait_query("#trend-compact", **tab.period("30d"), group_by="model")
    compact = api_get(deployment, path, query, admin)
    labels = page.eval_on_selector_all("#trend-compact .u-legend .u-series .u-label", "ls => ls.map(l => l.innerText)")
    assert labels[1:] == [s["label"] for s in compact["series"]] and len(labels) > 2
    page.locator("#trend-compact canvas").wait_for()
    page.locator("#trend-compact").screenshot(path=str(tab.shots / "overview-trend.png"))

    tab.goto("trends")
    page.select_option("#trends-range", "30d")
    answer = chart_equals_api(tab, path, admin, "requests", granularity="hour", group_by="model")
    labels = {s["label"] for s in answer["series"]}  # the seeded world's models (its top 8, the rest as other)
    assert set(MODELS) <= labels <= {r["model"] for r in deployment.world.rows()} | {"other"}
    assert answer["series"][0]["points"][-1]["partial"] is True  # the range ends now: the last bucket is live
    total = sum(p["requests"] for s in answer["series"] for p in s["points"])
    # grouped by model, a series counts what /aggregation/stats?group_by=model counts (finished requests that
    # reached a provider: docs/reference-api.md §9.2); its groups (the top 8, and the rest as other) sum to that
    by_model = api_get(
        deployment,
        "/api/admin/usage/aggregation/stats",
        {"start_date": answer["start_date"], "end_date": answer["end_date"], "group_by": "model", "limit": "100"},
        admin,
    )
    assert total == sum(item["request_count"] for item in by_model) > 100  # not empty: the comparisons mean something
    idx, legend = hover_busiest(tab, answer)
    assert [int(v.replace(",", "")) for v in legend] == [s["points"][idx]["requests"] for s in answer["series"]]
    assert sum(int(v.replace(",", "")) for v in legend) > 0
    # each picker re-fetches, and the chart again equals the API's answer
    page.select_option("#trends-granularity", "day")
    chart_equals_api(tab, path, admin, "requests", granularity="day", group_by="model")
    page.select_option("#trends-group", "provider")
    chart_equals_api(tab, path, admin, "requests", granularity="day", group_by="provider")
    page.select_option("#trends-metric", "cost")
    answer = chart_equals_api(tab, path, admin, "cost", granularity="day", group_by="provider")
    assert sum(r[2] for r in expected_rows(answer, "cost")) > 0
    page.select_option("#trends-group", "user")
    chart_equals_api(tab, path, admin, "cost", granularity="day", group_by="user")
    page.select_option("#trends-metric", "total_tokens")
    page.select_option("#trends-group", "none")
    answer = chart_equals_api(tab, path, admin, "total_tokens", granularity="day", group_by="")
    assert [s["key"] for s in answer["series"]] == [None]
    # a range of a year cannot be drawn in 15-minute or hourly buckets: those choices are disabled
    page.select_option("#trends-range", "365d")
    tab.wait_query("#trends-chart", granularity="day", group_by="")
    assert page.eval_on_selector_all("#trends-granularity option:disabled", "os => os.map(o => o.value)") == [
        "15m",
        "hour",
    ]
    page.select_option("#trends-range", "7d")
    page.select_option("#trends-granularity", "hour")
    page.select_option("#trends-metric", "requests")
    page.select_option("#trends-group", "model")
    answer = chart_equals_api(tab, path, admin, "requests", granularity="hour", group_by="model")
    hover_busiest(tab, answer)
    tab.shot("trends", full=False)
    page.locator("#view-trends .card").screenshot(path=str(tab.shots / "trends-chart.png"))
    assert_no_csp_violation(tab)
    tab.assert_clean(admin)


def test_the_last_bucket_follows_the_feed_without_polling(tab: Dash, deployment: Deployment) -> None:
    page, admin = tab.page, deployment.token("u-admin", "admin")
    path = "/api/admin/usage/timeseries"
    tab.sign_in(admin)
    tab.goto("trends")
    page.wait_for_selector("#live-state:has-text('live')", state="attached")  # the feed is open (its view is hidden)
    page.select_option("#trends-range", "24h")
    page.select_option("#trends-group", "none")
    chart_equals_api(tab, path, admin, "requests", granularity="hour", group_by="")
    before = shown_rows(tab)[0]
    fetched = len(timeseries_urls(tab))
    time.sleep(2)  # no timer: without a feed change nothing is asked
    assert len(timeseries_urls(tab)) == fetched
    rid = str(uuid.uuid4())
    pending = usage_record(rid, datetime.now(UTC), user_id="u-alice", api_key_id="k-alice1", model="trend-live")
    publish(deployment, [pending])
    page.wait_for_function(
        "n => { const c = document.querySelector('#trends-table [data-col=total]');"
        " return c && +c.dataset.exact === n; }",
        arg=int(before[2]) + 1,
    )
    # what the feed caused: re-reads of the last bucket only (its start to now), never the whole range again
    first = tab.wait_query("#trends-chart")
    refetches = timeseries_urls(tab)[fetched:]
    assert refetches and all(q["start_date"] != first["start_date"] for q in refetches)
    assert all(q["granularity"] == "hour" and "group_by" not in q for q in refetches)
    publish(
        deployment,
        [
            dict(
                pending,
                status="completed",
                status_code=200,
                provider_name="OpenAI",
                provider_id="p-oai",
                response_time_ms=700,
                output_tokens=77,
                total_tokens=77,  # as a gateway reports it (eventgen's default is 0)
            )
        ],
    )
    page.locator(f"#live tr[data-id='{rid}']").wait_for(state="detached")
    done = datetime.now(UTC)
    page.select_option("#trends-metric", "total_tokens")
    # the metric change reloads the range up to its own now: wait for that load, not the one before it
    page.wait_for_function(
        "t => { const q = document.querySelector('#trends-chart').dataset.query;"
        " return !!q && Date.parse(new URLSearchParams(q).get('end_date')) >= t; }",
        arg=done.timestamp() * 1000,
    )
    answer = chart_equals_api(tab, path, admin, "total_tokens", granularity="hour", group_by="")
    # the record's own hour (the last bucket unless the hour turned since it was sent)
    created = datetime.fromisoformat(pending["created_at"])
    own = [
        p
        for p in answer["series"][0]["points"]
        if 0 <= (created - datetime.fromisoformat(p["bucket"])).total_seconds() < 3600
    ]
    assert len(own) == 1 and own[0]["total_tokens"] >= 77, (pending["created_at"], own)
    assert_no_csp_violation(tab)
    tab.assert_clean(admin)


def test_a_user_sees_only_its_own_trends(tab: Dash, deployment: Deployment) -> None:
    page, alice = tab.page, deployment.token("u-alice")
    path = "/api/users/me/usage/timeseries"
    tab.sign_in(alice)
    tab.goto("trends")
    assert page.eval_on_selector_all("#trends-group option:disabled", "os => os.map(o => o.value)") == [
        "provider",
        "user",
    ]
    page.select_option("#trends-range", "30d")
    page.select_option("#trends-granularity", "day")
    answer = chart_equals_api(tab, path, alice, "requests", granularity="day", group_by="model")
    mine = sum(p["requests"] for s in answer["series"] for p in s["points"])
    everyone = api_get(
        deployment, "/api/admin/usage/timeseries", tab.wait_query("#trends-chart"), deployment.token("u-admin", "admin")
    )
    assert 0 < mine < sum(p["requests"] for s in everyone["series"] for p in s["points"])
    page.select_option("#trends-group", "api_format")
    chart_equals_api(tab, path, alice, "requests", granularity="day", group_by="api_format")
    tab.shot("user-trends", full=False)
    assert not [u for u in tab.urls if "/api/admin/" in u and "/stats?" not in u]  # /stats: the role probe (403)
    tab.errors = [e for e in tab.errors if "403" not in e]  # the role probe's refusal is logged by the browser
    assert_no_csp_violation(tab)
    tab.assert_clean(alice)


def test_the_vendored_library_is_served_from_the_package(deployment: Deployment) -> None:
    vendor = Path(__file__).resolve().parents[2] / "http" / "static" / "vendor"
    for name, kind in (("uPlot.esm.js", "text/javascript"), ("uPlot.min.css", "text/css")):
        with urllib.request.urlopen(f"{deployment.base_url}/static/vendor/{name}", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith(kind)
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert resp.read() == (vendor / name).read_bytes()
    for path in ("/static/vendor/nope.js", "/static/vendor/..%2fapp.js", "/static/vendor/", "/static/uPlot.esm.js"):
        try:
            urllib.request.urlopen(deployment.base_url + path, timeout=10)
        except urllib.error.HTTPError as err:
            assert err.code == 404, path
        else:
            raise AssertionError(f"{path} was served")
