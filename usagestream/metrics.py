"""A small Prometheus registry: counters, gauges and histograms with labels, and the text exposition format 0.0.4.

Written here rather than taken from prometheus_client: the core stays free of dependencies and I/O, each process
(and each test app) owns its own Registry instead of sharing a global one, and what we need is about 150 lines.
Updates take a per-metric lock, so a metric may be touched from a thread (an executor, a library callback) as well
as from the event loop.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import re
import threading
from collections.abc import Iterable, Iterator, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Number = int | float
LabelValues = tuple[str, ...]
Sample = tuple[str, tuple[tuple[str, str], ...], Number]  # (name with suffix, label pairs, value)

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Seconds: from a Redis round trip (1 ms) to a stalled store (30 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metric:
    """One named metric and its series, one per distinct tuple of label values (`labels(...)`)."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL.fullmatch(label) or label.startswith("__") or label in self._reserved():
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"duplicate label names for {name}")
        self.name, self.help, self.labelnames = name, help_text, tuple(labelnames)
        self._lock = threading.Lock()
        self._series: dict[LabelValues, list[Number]] = {}
        if not self.labelnames:  # an unlabelled metric exists (as 0) from the start, as Prometheus expects
            self._series[()] = self._new_state()

    def _reserved(self) -> tuple[str, ...]:
        return ()

    def _new_state(self) -> list[Number]:
        return [0]

    def _key(self, values: tuple[object, ...], named: dict[str, object]) -> LabelValues:
        if named:
            if values or set(named) != set(self.labelnames):
                raise ValueError(f"{self.name} takes exactly the labels {self.labelnames}")
            values = tuple(named[n] for n in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes exactly the labels {self.labelnames}")
        return tuple(str(v) for v in values)

    def _state(self, values: tuple[object, ...], named: dict[str, object]) -> list[Number]:
        key = self._key(values, named)
        state = self._series.get(key)
        if state is None:
            with self._lock:
                state = self._series.setdefault(key, self._new_state())
        return state

    def value(self, *values: object, **named: object) -> Number:
        """The current value of one series (a histogram's sum), 0 if it never moved."""
        return self._series.get(self._key(values, named), [0])[0]

    def remove(self, *values: object, **named: object) -> None:
        """Forget one series (for example the lag of a partition this worker no longer owns)."""
        with self._lock:
            self._series.pop(self._key(values, named), None)

    def _snapshot(self) -> list[tuple[LabelValues, list[Number]]]:
        with self._lock:
            return [(k, list(v)) for k, v in sorted(self._series.items())]

    def samples(self) -> Iterator[Sample]:
        for key, state in self._snapshot():
            yield self.name, tuple(zip(self.labelnames, key, strict=True)), state[0]


class Counter(Metric):
    """A count that only goes up (restarts at 0 with the process)."""

    kind = "counter"

    def labels(self, *values: object, **named: object) -> CounterChild:
        return CounterChild(self, self._state(values, named))

    def inc(self, amount: Number = 1) -> None:
        """Unlabelled counters only; a labelled one is `counter.labels(...).inc()`."""
        self.labels().inc(amount)


class Gauge(Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def labels(self, *values: object, **named: object) -> GaugeChild:
        return GaugeChild(self, self._state(values, named))

    def set(self, value: Number) -> None:
        self.labels().set(value)

    def dec(self, amount: Number = 1) -> None:
        self.labels().dec(amount)


class Histogram(Metric):
    """Observations counted into cumulative buckets (`le`), with their sum and count."""

    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, labelnames: Sequence[str] = (), buckets: Iterable[Number] = LATENCY_BUCKETS
    ) -> None:
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds) or any(math.isnan(b) for b in bounds):
            raise ValueError(f"{name}: buckets must be distinct finite numbers")
        self.buckets = (*bounds, math.inf)
        super().__init__(name, help_text, labelnames)

    def _reserved(self) -> tuple[str, ...]:
        return ("le",)

    def _new_state(self) -> list[Number]:
        return [0.0, 0] + [0] * len(self.buckets)  # sum, count, then one (non-cumulative) count per bucket

    def labels(self, *values: object, **named: object) -> HistogramChild:
        return HistogramChild(self, self._state(values, named))

    def observe(self, value: Number) -> None:
        self.labels().observe(value)

    def count(self, *values: object, **named: object) -> int:
        """How many observations one series holds (0 if none)."""
        return int(self._series.get(self._key(values, named), [0, 0])[1])

    def samples(self) -> Iterator[Sample]:
        for key, state in self._snapshot():
            labels = tuple(zip(self.labelnames, key, strict=True))
            cumulative = 0
            for bound, n in zip(self.buckets, state[2:], strict=True):
                cumulative += int(n)
                yield self.name + "_bucket", (*labels, ("le", format_value(bound))), cumulative
            yield self.name + "_sum", labels, state[0]
            yield self.name + "_count", labels, state[1]


class _Series:
    """One series of a metric: its state list, updated under the metric's lock."""

    __slots__ = ("_metric", "_state")

    def __init__(self, metric: Metric, state: list[Number]) -> None:
        self._metric, self._state = metric, state


class CounterChild(_Series):
    """One series of a counter."""

    __slots__ = ()

    def inc(self, amount: Number = 1) -> None:
        if amount < 0 or not math.isfinite(amount):
            raise ValueError(f"{self._metric.name}: a counter only increases (got {amount})")
        with self._metric._lock:
            self._state[0] += amount


class GaugeChild(_Series):
    """One series of a gauge."""

    __slots__ = ()

    def inc(self, amount: Number = 1) -> None:
        with self._metric._lock:
            self._state[0] += amount

    def dec(self, amount: Number = 1) -> None:
        self.inc(-amount)

    def set(self, value: Number) -> None:
        with self._metric._lock:
            self._state[0] = value


class HistogramChild(_Series):
    """One series of a histogram."""

    __slots__ = ()

    def observe(self, value: Number) -> None:
        buckets = self._metric.buckets if isinstance(self._metric, Histogram) else ()
        index = next((i for i, bound in enumerate(buckets) if value <= bound), len(buckets) - 1)  # NaN: +Inf
        with self._metric._lock:
            self._state[0] += value
            self._state[1] += 1
            self._state[2 + index] += 1


class Registry:
    """The metrics of one process (or one test app), in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()

    def register(self, metric: Metric) -> None:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labelnames)
        self.register(metric)
        return metric

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Gauge:
        metric = Gauge(name, help_text, labelnames)
        self.register(metric)
        return metric

    def histogram(
        self, name: str, help_text: str, labelnames: Sequence[str] = (), buckets: Iterable[Number] = LATENCY_BUCKETS
    ) -> Histogram:
        metric = Histogram(name, help_text, labelnames, buckets)
        self.register(metric)
        return metric

    def metrics(self) -> list[Metric]:
        with self._lock:
            return list(self._metrics.values())

    def expose(self) -> str:
        """The text exposition format 0.0.4 (what `GET /metrics` answers with CONTENT_TYPE)."""
        lines: list[str] = []
        for metric in self.metrics():
            lines.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            for name, labels, value in metric.samples():
                inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{name}{{{inner}}} {format_value(value)}" if inner else f"{name} {format_value(value)}")
        return "\n".join(lines) + "\n" if lines else ""


def format_value(value: Number) -> str:
    """A sample value or `le` bound as Prometheus writes it: integers exact, `+Inf`, `-Inf`, `NaN`."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def scrape_refusal(token: str, authorization: str | None, peer: str | None) -> int | None:
    """Who may read /metrics: None if allowed, else the HTTP status to refuse with.

    With a configured token, everyone (loopback too) must send `Authorization: Bearer <token>` (else 401).
    Without one, only loopback peers may scrape (else 403): safe by default, no secret to distribute on one host.
    """
    if token:
        scheme, _, value = (authorization or "").strip().partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())
        return None if ok else 401
    return None if _loopback(peer) else 403


def _loopback(peer: str | None) -> bool:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False  # a Unix socket or unknown peer: not provably local
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def store_of(exc: BaseException) -> str:
    """The `store` label of an infrastructure error: postgres, redis, kafka, or network (a bare OSError/timeout)."""
    module = type(exc).__module__.split(".")[0]
    return {"asyncpg": "postgres", "sqlalchemy": "postgres", "redis": "redis", "aiokafka": "kafka"}.get(
        module, "network"
    )
