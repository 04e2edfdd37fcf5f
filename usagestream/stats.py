"""The aggregation math: what one request's latest state contributes to each aggregate, and the exact fold.

Every aggregate row is a sum of contributions; applying a newer snapshot subtracts the old contribution (at the
old keys) and adds the new one (at the new keys). Nothing here does I/O, so it can be property-tested.

Counter names (one column each in `usage_agg`; the SQL recount in the materializer uses the same names):
- n_all / n_finished / n_reached / n_fr / n_error / n_completed / n_hit / n_s200: request counts under the
  predicates of docs/reference-api.md §1.4 (fr = finished and reached a provider; hit = completed with cache
  read tokens; s200 = status_code 200 with a response time).
- *_tok, *_cost: sums over all rows; fr_*: over finished-and-reached rows; fin_*: over finished rows;
  r_*: over rows that reached a provider; c_*: over completed rows; rt_* / fr_rt_* / s200_rt_*: response-time
  sums and counts (AVG skips NULLs).
- fr_in / fr_out / fr_cc / fr_cr / fr_err and fin_in / fin_out / fin_cc / fin_cr (migration 0006): the token
  fields and errors of /aggregation/stats' subsets (finished and reached for model and api_format; finished for
  provider), so a grouped time series counts exactly what /aggregation/stats counts for the same group.
- *_eff / *_ctx (migration 0008): the effective input tokens and the total input context of each record
  (usagestream.tokens, by the record's endpoint format, else its format), summed over the fr_, fin_ and r_ subsets;
  r_cc / r_cr: cache tokens of the rows that reached a provider (the user summary's subset). Per-record values
  depend on the format, so no sum of the other counters gives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, Overflow, localcontext
from operator import add, sub
from typing import TypeVar
from zoneinfo import ZoneInfo

from usagestream.contract import CandidateSnapshot, UsageSnapshot
from usagestream.fields import ACTIVE_STATUSES, EXECUTED_STATUSES
from usagestream.tokens import effective_input_tokens, total_input_context

ZERO = Decimal(0)
# Sums of money must never round: the default context keeps only 28 significant digits.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, Overflow])
BUCKET = timedelta(minutes=15)
# Grains of usage_agg / attempt_agg. A range is read as signed sums of buckets of several grains
# (usagestream.ranges), so a year costs about a dozen month rows per key plus a few finer rows at its ends.
GRAIN_15M = 0  # 15-minute UTC buckets
GRAIN_DAY = 1  # local days of the configured zone (UTC instant of local midnight)
GRAIN_HOUR = 2  # UTC hours
GRAIN_MONTH = 3  # local months of the configured zone (UTC instant of the first day's local midnight)
GRAINS = (GRAIN_15M, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH)
HOUR = timedelta(hours=1)

# Dimensions of usage_agg. "all" has the key "".
DIMENSIONS = (
    "all",
    "model",
    "user",
    "provider",
    "api_format",
    "api_key",
    "user_model",
    "user_api_format",
    "provider_model",
)

USAGE_COUNTERS: tuple[str, ...] = (
    "n_all",
    "n_finished",
    "n_reached",
    "n_fr",
    "n_error",
    "n_completed",
    "n_hit",
    "n_s200",
    "in_tok",
    "out_tok",
    "tot_tok",
    "cc_tok",
    "cr_tok",
    "cost",
    "actual_cost",
    "cc_cost",
    "cr_cost",
    "rt_sum",
    "rt_n",
    "fr_tot_tok",
    "fr_cost",
    "fr_actual",
    "fr_rt_sum",
    "fr_rt_n",
    "fin_tot_tok",
    "fin_cost",
    "fin_actual",
    "r_in",
    "r_out",
    "r_tot",
    "r_cost",
    "r_actual",
    "s200_rt_sum",
    "c_in",
    "c_cr",
    "c_cc",
    "c_cr_cost",
    "c_cc_cost",
    "fr_in",
    "fr_out",
    "fr_cc",
    "fr_cr",
    "fr_err",
    "fin_in",
    "fin_out",
    "fin_cc",
    "fin_cr",
    "fr_eff",
    "fr_ctx",
    "fin_eff",
    "fin_ctx",
    "r_cc",
    "r_cr",
    "r_eff",
    "r_ctx",
)
MONEY_COUNTERS = frozenset(
    {
        "cost",
        "actual_cost",
        "cc_cost",
        "cr_cost",
        "fr_cost",
        "fr_actual",
        "fin_cost",
        "fin_actual",
        "r_cost",
        "r_actual",
        "c_cr_cost",
        "c_cc_cost",
    }
)
ATTEMPT_COUNTERS: tuple[str, ...] = ("attempts", "successes", "failures", "lat_sum", "lat_n")

Counters = tuple[int | Decimal, ...]
AggKey = tuple[str, str, int, datetime]  # (dimension, key, grain, bucket start in UTC)
AttemptKey = tuple[str, int, datetime]  # (provider_id, grain, bucket start in UTC)


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """The part of a usage record that the aggregates depend on (from an event, or from a stored row)."""

    created_at: datetime
    user_id: str | None
    api_key_id: str | None
    model: str
    provider_name: str
    provider_id: str | None
    api_format: str | None
    endpoint_api_format: str | None
    status: str
    status_code: int | None
    has_error_message: bool
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    total_cost_usd: Decimal
    actual_total_cost_usd: Decimal
    cache_creation_cost_usd: Decimal
    cache_read_cost_usd: Decimal
    response_time_ms: int | None

    @classmethod
    def of(cls, u: UsageSnapshot) -> UsageFacts:
        return cls(
            created_at=u.created_at,
            user_id=u.user_id,
            api_key_id=u.api_key_id,
            model=u.model,
            provider_name=u.provider_name,
            provider_id=u.provider_id,
            api_format=u.api_format,
            endpoint_api_format=u.endpoint_api_format,
            status=u.status,
            status_code=u.status_code,
            has_error_message=u.error_message is not None,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            total_tokens=u.total_tokens,
            cache_creation_input_tokens=u.cache_creation_input_tokens,
            cache_read_input_tokens=u.cache_read_input_tokens,
            total_cost_usd=u.total_cost_usd,
            actual_total_cost_usd=u.actual_total_cost_usd,
            cache_creation_cost_usd=u.cache_creation_cost_usd,
            cache_read_cost_usd=u.cache_read_cost_usd,
            response_time_ms=u.response_time_ms,
        )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_error(self) -> bool:
        return (self.status_code is not None and self.status_code >= 400) or self.has_error_message

    @property
    def reached_provider(self) -> bool:
        return self.provider_name not in ("unknown", "pending")

    @property
    def effective_input_tokens(self) -> int:
        """The input not served from the cache (usagestream.tokens), by the endpoint's format first."""
        return effective_input_tokens(
            self.api_format, self.endpoint_api_format, self.input_tokens, self.cache_read_input_tokens
        )

    @property
    def total_input_context(self) -> int:
        """The input context a cache hit rate divides by (usagestream.tokens), by the endpoint's format first."""
        return total_input_context(
            self.api_format,
            self.endpoint_api_format,
            self.input_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
        )


@dataclass(frozen=True, slots=True)
class CandidateFacts:
    """The part of a candidate record that the attempt aggregates depend on."""

    created_at: datetime
    provider_id: str | None
    status: str
    latency_ms: int | None

    @classmethod
    def of(cls, c: CandidateSnapshot) -> CandidateFacts:
        return cls(created_at=c.created_at, provider_id=c.provider_id, status=c.status, latency_ms=c.latency_ms)


def usage_contribution(f: UsageFacts) -> Counters:
    """The counters one request adds to every aggregate row it belongs to, in USAGE_COUNTERS order."""
    finished = not f.is_active
    reached = f.reached_provider
    fr = finished and reached
    completed = f.status == "completed"
    rt = f.response_time_ms
    has_rt = rt is not None
    rt_v = rt or 0
    s200 = f.status_code == 200 and has_rt
    tok, cost, actual = f.total_tokens, f.total_cost_usd, f.actual_total_cost_usd
    eff, ctx = f.effective_input_tokens, f.total_input_context
    return (
        1,
        int(finished),
        int(reached),
        int(fr),
        int(f.is_error),
        int(completed),
        int(completed and f.cache_read_input_tokens > 0),
        int(s200),
        f.input_tokens,
        f.output_tokens,
        tok,
        f.cache_creation_input_tokens,
        f.cache_read_input_tokens,
        cost,
        actual,
        f.cache_creation_cost_usd,
        f.cache_read_cost_usd,
        rt_v,
        int(has_rt),
        tok if fr else 0,
        cost if fr else ZERO,
        actual if fr else ZERO,
        rt_v if fr else 0,
        int(fr and has_rt),
        tok if finished else 0,
        cost if finished else ZERO,
        actual if finished else ZERO,
        f.input_tokens if reached else 0,
        f.output_tokens if reached else 0,
        tok if reached else 0,
        cost if reached else ZERO,
        actual if reached else ZERO,
        rt_v if s200 else 0,
        f.input_tokens if completed else 0,
        f.cache_read_input_tokens if completed else 0,
        f.cache_creation_input_tokens if completed else 0,
        f.cache_read_cost_usd if completed else ZERO,
        f.cache_creation_cost_usd if completed else ZERO,
        f.input_tokens if fr else 0,
        f.output_tokens if fr else 0,
        f.cache_creation_input_tokens if fr else 0,
        f.cache_read_input_tokens if fr else 0,
        int(fr and f.is_error),
        f.input_tokens if finished else 0,
        f.output_tokens if finished else 0,
        f.cache_creation_input_tokens if finished else 0,
        f.cache_read_input_tokens if finished else 0,
        eff if fr else 0,
        ctx if fr else 0,
        eff if finished else 0,
        ctx if finished else 0,
        f.cache_creation_input_tokens if reached else 0,
        f.cache_read_input_tokens if reached else 0,
        eff if reached else 0,
        ctx if reached else 0,
    )


def candidate_contribution(f: CandidateFacts) -> Counters | None:
    """What an executed attempt adds to its provider's attempt row; None for a slot that was not executed."""
    if f.provider_id is None or f.status not in EXECUTED_STATUSES:
        return None
    has_lat = f.latency_ms is not None
    return (1, int(f.status == "success"), int(f.status == "failed"), f.latency_ms or 0, int(has_lat))


def bucket_15m(ts: datetime) -> datetime:
    """The UTC start of the 15-minute bucket holding `ts`."""
    utc = ts.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def day_start(ts: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local (tz) day holding `ts` starts."""
    local = ts.astimezone(tz)
    # fold=0: where local midnight happens twice (DST ending at 01:00), the day starts at its first pass.
    return local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0).astimezone(UTC)


def hour_start(ts: datetime) -> datetime:
    """The UTC start of the UTC hour holding `ts`."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def month_start(ts: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local (tz) month holding `ts` starts (its first day's midnight, fold=0)."""
    local = ts.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0, fold=0).astimezone(UTC)


def buckets(ts: datetime, tz: ZoneInfo) -> tuple[tuple[int, datetime], ...]:
    """(grain, bucket start) of every grain a record created at `ts` is counted in, in GRAINS order."""
    return (
        (GRAIN_15M, bucket_15m(ts)),
        (GRAIN_DAY, day_start(ts, tz)),
        (GRAIN_HOUR, hour_start(ts)),
        (GRAIN_MONTH, month_start(ts, tz)),
    )


def dimension_keys(f: UsageFacts) -> Iterator[tuple[str, str]]:
    """The (dimension, key) rows a request belongs to; a null key means the request is not in that dimension."""
    yield "all", ""
    yield "model", f.model
    if f.user_id is not None:
        yield "user", f.user_id
        yield "user_model", f"{f.user_id}\x1f{f.model}"
    if f.provider_id is not None:
        yield "provider", f.provider_id
        yield "provider_model", f"{f.provider_id}\x1f{f.model}"  # migration 0010: a provider's models
    if f.api_format is not None:
        yield "api_format", f.api_format
        if f.user_id is not None:  # migration 0009: the user summary's formats
            yield "user_api_format", f"{f.user_id}\x1f{f.api_format}"
    if f.api_key_id is not None:
        yield "api_key", f.api_key_id


K = TypeVar("K")
FactKey = tuple[tuple[tuple[int, datetime], ...], str, str | None, str | None, str | None, str | None]
_UNSET = object()
_TICK = timedelta(microseconds=1)


class Deltas:
    """Per-batch, in-memory sums of contribution changes, ready to be added to the stored rows.

    A request belongs to many aggregate rows (up to 9 dimensions x every grain). Changes are first summed per
    distinct fact key (its buckets, model, user, provider, api_format, api_key) - one vector addition per change,
    and a single one for the retraction and the addition when old and new share their key (the usual case: a
    request finishing in its own bucket) - and spread to the rows once per batch, in `usage`. Addition is exact
    (Decimal with the EXACT context), so the order of summation cannot change a single digit.
    """

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._by_facts: dict[FactKey, list[int | Decimal]] = {}
        self._attempt_facts: dict[tuple[str, tuple[tuple[int, datetime], ...]], list[int | Decimal]] = {}
        self._grains: dict[datetime, object] = {}  # quarter -> buckets() of all of it, or None if they differ

    def apply_usage(self, old: UsageFacts | None, new: UsageFacts | None) -> None:
        """Retract `old` (the stored state) and add `new` (the state replacing it)."""
        with localcontext(EXACT):
            if old is not None and new is not None:
                old_key, new_key = self._fact_key(old), self._fact_key(new)
                if old_key == new_key:
                    diff = [n - o for n, o in zip(usage_contribution(new), usage_contribution(old), strict=True)]
                    _accumulate(self._by_facts, new_key, diff, 1)
                    return
            if old is not None:
                _accumulate(self._by_facts, self._fact_key(old), usage_contribution(old), -1)
            if new is not None:
                _accumulate(self._by_facts, self._fact_key(new), usage_contribution(new), 1)

    def apply_candidate(self, old: CandidateFacts | None, new: CandidateFacts | None) -> None:
        for facts, sign in ((old, -1), (new, 1)):  # integers only: no decimal context needed
            if facts is None:
                continue
            vec = candidate_contribution(facts)
            if vec is None:
                continue
            assert facts.provider_id is not None
            _accumulate(self._attempt_facts, (facts.provider_id, self._buckets(facts.created_at)), vec, sign)

    def _fact_key(self, f: UsageFacts) -> FactKey:
        return (self._buckets(f.created_at), f.model, f.user_id, f.provider_id, f.api_format, f.api_key_id)

    def _buckets(self, ts: datetime) -> tuple[tuple[int, datetime], ...]:
        """buckets(ts), memoized per 15-minute bucket when the whole of it has the same buckets at one UTC
        offset (always, for zones whose offsets are whole quarter hours); computed per instant otherwise."""
        quarter = bucket_15m(ts)
        got = self._grains.get(quarter, _UNSET)
        if got is _UNSET:
            last = quarter + BUCKET - _TICK
            first = buckets(quarter, self.tz)
            same = first == buckets(last, self.tz) and self.tz.utcoffset(quarter) == self.tz.utcoffset(last)
            got = first if same else None
            self._grains[quarter] = got
        return got if got is not None else buckets(ts, self.tz)  # type: ignore[return-value]

    @property
    def usage(self) -> dict[AggKey, list[int | Decimal]]:
        """The deltas per aggregate row (dimension, key, grain, bucket), zero rows included."""
        # Two steps: per (dimension, key, buckets of a quarter), then per grain; most facts of a batch share a
        # few quarters, so the costly vector additions are about (facts x dimensions), not x grains as well.
        by_dim: dict[tuple[str, str, tuple[tuple[int, datetime], ...]], list[int | Decimal]] = {}
        out: dict[AggKey, list[int | Decimal]] = {}
        with localcontext(EXACT):
            for (grains, model, user, provider, api_format, api_key), vec in self._by_facts.items():
                f = _Keys(model, user, provider, api_format, api_key)
                for dim, key in dimension_keys(f):  # type: ignore[arg-type]
                    _accumulate(by_dim, (dim, key, grains), vec, 1)
            for (dim, key, grains), vec in by_dim.items():
                for grain, start in grains:
                    _accumulate(out, (dim, key, grain, start), vec, 1)
        return out

    @property
    def attempts(self) -> dict[AttemptKey, list[int | Decimal]]:
        """The deltas per attempt row (provider_id, grain, bucket), zero rows included."""
        out: dict[AttemptKey, list[int | Decimal]] = {}
        for (provider_id, grains), vec in self._attempt_facts.items():
            for grain, start in grains:
                _accumulate(out, (provider_id, grain, start), vec, 1)
        return out

    def usage_fact_rows(self) -> list[tuple[object, ...]]:
        """The batch's deltas before they are spread to rows: one row per distinct fact key, non-zero only.

        (bucket of each grain in GRAINS order, model, user_id, provider_id, api_format, api_key_id, *counters).
        The materializer spreads them to (dimension, key, grain, bucket) rows in SQL, by the same rules as
        `usage` (dimension_keys), so the worker encodes a few hundred rows per batch instead of thousands."""
        return [
            (*(start for _, start in grains), model, user, provider, api_format, api_key, *vec)
            for (grains, model, user, provider, api_format, api_key), vec in self._by_facts.items()
            if any(vec)
        ]

    def attempt_fact_rows(self) -> list[tuple[object, ...]]:
        """Like usage_fact_rows for attempts: (bucket of each grain in GRAINS order, provider_id, *counters)."""
        return [
            (*(start for _, start in grains), provider_id, *vec)
            for (provider_id, grains), vec in self._attempt_facts.items()
            if any(vec)
        ]

    def usage_rows(self) -> list[tuple[AggKey, Counters]]:
        """Non-zero deltas, sorted by key so concurrent writers lock rows in one order (no deadlock)."""
        return [(k, tuple(v)) for k, v in sorted(self.usage.items()) if any(v)]

    def attempt_rows(self) -> list[tuple[AttemptKey, Counters]]:
        return [(k, tuple(v)) for k, v in sorted(self.attempts.items()) if any(v)]


@dataclass(frozen=True, slots=True)
class _Keys:
    """The fields of UsageFacts that dimension_keys reads."""

    model: str
    user_id: str | None
    provider_id: str | None
    api_format: str | None
    api_key_id: str | None


def _accumulate(target: dict[K, list[int | Decimal]], key: K, vec: Sequence[int | Decimal], sign: int) -> None:
    acc = target.get(key)
    if acc is None:
        target[key] = list(vec) if sign == 1 else [-x for x in vec]
    elif len(acc) != len(vec):
        raise ValueError(f"counter vectors of different lengths: {len(acc)} and {len(vec)}")
    else:  # map over operator's C functions: no Python frame per counter (the fold runs on the apply's path)
        target[key] = list(map(add if sign == 1 else sub, acc, vec))


def recount(facts: list[UsageFacts], tz: ZoneInfo) -> dict[AggKey, Counters]:
    """The aggregates as a plain recount of the latest states (the reference the fold must equal)."""
    d = Deltas(tz)
    for f in facts:
        d.apply_usage(None, f)
    return dict(d.usage_rows())


def timed_out(f: UsageFacts) -> UsageFacts:
    """The state an active request takes when the worker times it out (docs/contract.md §7.6: failed, 504)."""
    return replace(f, status="failed", status_code=504, has_error_message=True)


TIMEOUT_MESSAGE = "request timed out"
