"""The load generator's billing: token counts drawn per request, and their exact list and actual costs."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from usagestream.publisher.loadgen.population import Model, Provider, ProviderKey

ZERO = Decimal(0)
ONE = Decimal(1)


def tokens(rng: random.Random, model: Model, code: int) -> dict[str, int]:
    """Token counts of a finished request: none for an error, a quarter of the output for a cancellation."""
    if code >= 400 and code != 499:
        return {}
    drawn = {
        "input_tokens": int(rng.lognormvariate(7.0, 1.1)),
        "output_tokens": int(rng.lognormvariate(5.5, 1.0)),
    }
    if code == 499:
        drawn["output_tokens"] //= 4
    drawn["total_tokens"] = drawn["input_tokens"] + drawn["output_tokens"]
    if model.prices[3] and rng.random() < 0.4:
        drawn["cache_read_input_tokens"] = int(drawn["input_tokens"] * rng.uniform(0.5, 4.0))
    if model.prices[2] and rng.random() < 0.1:
        drawn["cache_creation_input_tokens"] = int(rng.lognormvariate(7.5, 1.0))
    return drawn


def of(
    model: Model,
    provider: Provider,
    key: ProviderKey,
    counts: dict[str, int],
    *,
    failed: bool = False,
    factor: Decimal = ONE,
) -> dict[str, Any]:
    """Every cost field, exact: tokens x price per token (x the key's rate for the actual cost; 0 on a free
    tier), the per-request price unless the request failed, the totals, and the price snapshot."""
    pin, pout, pcc, pcr = model.per_token
    parts = (
        ("input", counts.get("input_tokens", 0) * pin * factor),
        ("output", counts.get("output_tokens", 0) * pout * factor),
        ("cache_creation", counts.get("cache_creation_input_tokens", 0) * pcc * factor),
        ("cache_read", counts.get("cache_read_input_tokens", 0) * pcr * factor),
        ("request", ZERO if failed or model.price_per_request is None else model.price_per_request * factor),
    )
    rate = ZERO if provider.billing_type == "free_tier" else key.rate_multiplier
    out: dict[str, Any] = {}
    total = actual_total = ZERO
    for name, cost in parts:
        actual = cost * rate if cost and rate else ZERO
        out[f"{name}_cost_usd"] = cost if cost else ZERO
        out[f"actual_{name}_cost_usd"] = actual
        total += cost
        actual_total += actual
    out["total_cost_usd"], out["actual_total_cost_usd"] = total, actual_total
    return out | _snapshot(model)


def _snapshot(model: Model) -> dict[str, Any]:
    return {
        "input_price_per_1m": model.prices[0],
        "output_price_per_1m": model.prices[1],
        "cache_creation_price_per_1m": model.prices[2],
        "cache_read_price_per_1m": model.prices[3],
        "price_per_request": model.price_per_request,
    }
