"""Response shaping lives in the HTTP layer (docs/design.md "Code layout"): `ReadStore` answers with rows and
sums, `ShapedReads` turns them into the bodies. Also the bytes of the empty bodies, where `==` cannot tell an
int 0 from a float 0.0 but a client reading the JSON can (the reference answers `0` for a rate over nothing)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from usagestream.http.jsonio import dumps
from usagestream.http.shape import cache, stats
from usagestream.http.shape.reads import ShapedReads
from usagestream.http.store import Reads
from usagestream.materializer.read.store import ReadStore

# The methods of `Reads` that return a body (the others answer the authentication and key-name look-ups).
BODIES = (
    "stats",
    "aggregation",
    "heatmap",
    "records",
    "detail",
    "active_records",
    "ttl_analysis",
    "hit_analysis",
    "interval_timeline",
    "user_usage",
)


def test_every_body_is_shaped_in_http() -> None:
    assert set(BODIES) <= {n for n in vars(Reads) if not n.startswith("_")}
    assert [n for n in BODIES if hasattr(ReadStore, n)] == []
    assert [n for n in BODIES if n not in vars(ShapedReads)] == []


def test_empty_stats_body_bytes() -> None:
    assert dumps(stats.stats_body(None)) == (
        '{"total_requests":0,"total_tokens":0,"total_cost":0,"total_actual_cost":0,"avg_response_time":0.0,'
        '"error_count":0,"error_rate":0,"cache_stats":{"cache_creation_tokens":0,"cache_read_tokens":0,'
        '"cache_creation_cost":0,"cache_read_cost":0}}'
    )


def test_empty_hit_body_bytes() -> None:
    assert dumps(stats.hit_body(24, None)) == (
        '{"analysis_period_hours":24,"total_requests":0,"requests_with_cache_hit":0,"request_cache_hit_rate":0,'
        '"total_input_tokens":0,"total_cache_read_tokens":0,"total_cache_creation_tokens":0,'
        '"token_cache_hit_rate":0.0,"total_cache_read_cost_usd":0,"total_cache_creation_cost_usd":0,'
        '"estimated_savings_usd":0}'
    )


def test_provider_without_usage_or_name() -> None:
    attempts = {"provider_id": "p", "attempts": 3, "lat_sum": 0, "lat_n": 0, "successes": 1, "failures": 2}
    assert dumps(stats.provider_item(attempts, None, None)) == (
        '{"provider_id":"p","provider":"Unknown","request_count":3,"total_tokens":0,"total_cost":0,'
        '"actual_cost":0,"avg_response_time_ms":0.0,"success_rate":33.33,"error_count":2,"output_tokens":0,'
        '"cache_creation_tokens":0,"cache_read_tokens":0,"effective_input_tokens":0,"total_input_context":0,'
        '"cache_hit_rate":0.0}'
    )
    usage = {"fin_tot_tok": 5, "fin_cost": Decimal("0.10"), "fin_actual": None, "fin_out": 1, "fin_cc": 2}
    usage |= {"fin_cr": 1, "fin_eff": 3, "fin_ctx": 32}
    item = stats.provider_item(attempts, usage, "")
    assert item["provider"] == ""
    assert (item["cache_read_tokens"], item["total_input_context"], item["cache_hit_rate"]) == (1, 32, 3.13)


@pytest.mark.parametrize(
    ("cache_read", "context", "rate"),
    [
        (0, 0, 0.0),  # over nothing
        (1, 32, 3.13),  # 3.125: half away from zero, as Aether's round_to (Python's round gives 3.12)
        (5, 32, 15.63),
        (1, 3, 33.33),
        (2, 3, 66.67),
        (7, 7, 100.0),
    ],
)
def test_cache_hit_rate_rounds_as_aether(cache_read: int, context: int, rate: float) -> None:
    assert stats.cache_hit_rate(cache_read, context) == rate


def test_recommendation_thresholds() -> None:
    assert cache.recommend(None, 1.0) == (5, "数据不足，使用默认值")
    assert cache.recommend(4.0, 5.0)[0] == 5
    assert cache.recommend(15.0, 5.01)[0] == 15
    assert cache.recommend(30.0, 99.0)[0] == 30
    assert cache.recommend(30.01, 99.0) == (60, "低频用户：75% 的请求间隔为 30.0 分钟，建议使用长 TTL")
