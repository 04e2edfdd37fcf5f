"""usagestream.metrics: the registry's arithmetic and its text exposition, read back by an independent parser."""

from __future__ import annotations

import math
import re
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagestream.metrics import CONTENT_TYPE, Counter, Histogram, Registry, format_value, scrape_refusal, store_of

# The exposition format 0.0.4 grammar, written from the spec rather than from metrics.py.
_META = re.compile(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)")
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')
Parsed = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], text)


def _labels(inner: str | None) -> frozenset[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    pos = 0
    while inner and pos < len(inner):
        m = _PAIR.match(inner, pos)
        assert m, f"bad label set {inner!r} at {pos}"
        pairs.append((m.group(1), _unescape(m.group(2))))
        pos = m.end()
    assert len({k for k, _ in pairs}) == len(pairs), "duplicate label"
    return frozenset(pairs)


def parse(text: str) -> tuple[Parsed, dict[str, str], dict[str, str]]:
    """(samples, TYPE per family, HELP per family); fails on any line outside the grammar."""
    samples: Parsed = {}
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    assert text.endswith("\n")
    for line in text[:-1].split("\n"):  # only \n ends a line (a label value may hold \r or U+2028)
        meta = _META.fullmatch(line)
        if meta:
            kind, name, rest = meta.groups()
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped") and name not in types
                types[name] = rest
            else:
                helps[name] = _unescape(rest)
            continue
        m = _SAMPLE.fullmatch(line)
        assert m, f"bad line {line!r}"
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1)) if m.group(1) not in types else m.group(1)
        assert family in types, f"sample {m.group(1)} before its TYPE line"
        key = (m.group(1), _labels(m.group(2)))
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(m.group(3))  # Go's ParseFloat spellings: +Inf, -Inf, NaN
    return samples, types, helps


def L(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def test_counter_gauge_histogram_round_trip() -> None:
    reg = Registry()
    req = reg.counter("http_requests_total", "Requests.\nBy route \\ status.", ("route", "status"))
    clients = reg.gauge("ws_clients", "Open websockets.", ("feed",))
    lat = reg.histogram("latency_seconds", "Latency.", ("route",), buckets=(0.1, 1, 0.5))
    up = reg.counter("restarts_total", "Unlabelled.")
    req.labels(route="/a", status=200).inc()
    req.labels("/a", "200").inc(2)
    req.labels(route="/b", status=500).inc()
    clients.labels(feed="admin").inc()
    clients.labels(feed="admin").inc()
    clients.labels(feed="admin").dec()
    clients.labels(feed="user").set(7)
    for v in (0.05, 0.1, 0.3, 2.0, 99):
        lat.labels(route="/a").observe(v)
    samples, types, helps = parse(reg.expose())
    assert types == {
        "http_requests_total": "counter",
        "ws_clients": "gauge",
        "latency_seconds": "histogram",
        "restarts_total": "counter",
    }
    assert helps["http_requests_total"] == "Requests.\nBy route \\ status."
    assert samples[("http_requests_total", L(route="/a", status="200"))] == 3
    assert samples[("http_requests_total", L(route="/b", status="500"))] == 1
    assert samples[("ws_clients", L(feed="admin"))] == 1 and samples[("ws_clients", L(feed="user"))] == 7
    assert samples[("restarts_total", L())] == 0, "an unlabelled metric shows 0 before it moves"
    buckets = {dict(k[1])["le"]: v for k, v in samples.items() if k[0] == "latency_seconds_bucket"}
    assert buckets == {"0.1": 2, "0.5": 3, "1.0": 3, "+Inf": 5}, "cumulative, sorted bounds, le=+Inf = count"
    assert samples[("latency_seconds_count", L(route="/a"))] == 5
    assert samples[("latency_seconds_sum", L(route="/a"))] == pytest.approx(101.45)
    assert up.value() == 0 and req.value("/a", "200") == 3 and lat.count(route="/a") == 5
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


@given(st.text())
def test_any_label_value_round_trips(value: str) -> None:
    reg = Registry()
    reg.counter("c_total", "c", ("v",)).labels(v=value).inc()
    samples, _, _ = parse(reg.expose())
    assert samples == {("c_total", L(v=value)): 1}


def test_special_values_and_integers() -> None:
    assert [format_value(v) for v in (3, 0.25, math.inf, -math.inf, math.nan)] == ["3", "0.25", "+Inf", "-Inf", "NaN"]
    reg = Registry()
    reg.histogram("h", "h", buckets=(1,)).observe(math.nan)
    samples, _, _ = parse(reg.expose())
    assert samples[("h_bucket", L(le="+Inf"))] == 1 and samples[("h_bucket", L(le="1.0"))] == 0


def test_remove_forgets_a_series_and_empty_registry_exposes_nothing() -> None:
    reg = Registry()
    assert reg.expose() == ""
    lag = reg.gauge("lag", "lag", ("partition",))
    lag.labels(partition=1).set(5)
    lag.labels(partition=2).set(6)
    lag.remove(partition=1)
    samples, _, _ = parse(reg.expose())
    assert samples == {("lag", L(partition="2")): 6}


@pytest.mark.parametrize(
    "build",
    [
        lambda r: r.counter("bad name", "x"),
        lambda r: r.counter("ok", "x", ("__reserved",)),
        lambda r: r.counter("ok", "x", ("a", "a")),
        lambda r: r.histogram("h", "x", ("le",)),
        lambda r: r.histogram("h", "x", buckets=()),
        lambda r: r.histogram("h", "x", buckets=(1, 1.0)),
        lambda r: (r.counter("twice", "x"), r.gauge("twice", "x")),
    ],
)
def test_invalid_definitions_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build(Registry())  # type: ignore[operator]


def test_wrong_labels_and_negative_counts_are_refused() -> None:
    c = Counter("c_total", "c", ("a", "b"))
    with pytest.raises(ValueError):
        c.labels(a=1)
    with pytest.raises(ValueError):
        c.labels(1, 2, 3)
    with pytest.raises(ValueError):
        c.labels(a=1, b=2).inc(-1)
    with pytest.raises(ValueError):
        Counter("u_total", "u").inc(math.inf)


def test_updates_from_threads_are_not_lost() -> None:
    c = Counter("c_total", "c", ("t",))
    h = Histogram("h", "h", buckets=(1,))

    def work() -> None:
        for _ in range(20_000):
            c.labels(t="x").inc()
            h.observe(0.5)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.value(t="x") == 80_000 and h.count() == 80_000 and h.value() == 40_000


@pytest.mark.parametrize(
    ("token", "authorization", "peer", "want"),
    [
        ("", None, "127.0.0.1", None),
        ("", None, "::1", None),
        ("", None, "::ffff:127.0.0.1", None),
        ("", None, "10.0.0.5", 403),
        ("", "Bearer anything", "192.168.1.9", 403),
        ("", None, None, 403),
        ("", None, "not-an-ip", 403),
        ("s3cret", None, "127.0.0.1", 401),
        ("s3cret", "Bearer wrong", "127.0.0.1", 401),
        ("s3cret", "Basic s3cret", "10.0.0.5", 401),
        ("s3cret", "Bearer s3cret", "10.0.0.5", None),
        ("s3cret", "bearer  s3cret ", "10.0.0.5", None),
    ],
)
def test_who_may_scrape(token: str, authorization: str | None, peer: str | None, want: int | None) -> None:
    assert scrape_refusal(token, authorization, peer) == want


def test_store_label_of_an_error() -> None:
    import asyncpg
    import redis.exceptions

    assert store_of(asyncpg.exceptions.CannotConnectNowError("x")) == "postgres"
    assert store_of(redis.exceptions.TimeoutError("x")) == "redis"
    assert store_of(ConnectionRefusedError()) == "network"
