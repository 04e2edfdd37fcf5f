"""Table and column names of the PostgreSQL views, in the order the writers copy them."""

from __future__ import annotations

from usagestream import fields
from usagestream.stats import ATTEMPT_COUNTERS, USAGE_COUNTERS

USAGE_MONEY = fields.MONEY
USAGE_OPT_MONEY = fields.OPTIONAL_MONEY
# Carried as text in the COPY of records (materializer/write/pg_views.py `_usage_row`), cast to numeric in SQL.
USAGE_NUMERIC = (*USAGE_MONEY, *USAGE_OPT_MONEY)
USAGE_JSON = fields.JSON_FIELDS
# Snapshot fields copied verbatim from UsageSnapshot into usage_records, in wire order (usagestream/fields.py).
USAGE_FIELDS = tuple(field.column for field in fields.USAGE_FIELDS)
USAGE_RECORD_COLUMNS = ("seq", "kafka_partition", "timed_out", *USAGE_FIELDS)

# What the fold and the live set need of a stored record (read FOR UPDATE before a change).
USAGE_STATE_COLUMNS = (
    "id",
    "seq",
    "kafka_partition",
    "created_at",
    "user_id",
    "api_key_id",
    "model",
    "provider_name",
    "provider_id",
    "api_format",
    "status",
    "status_code",
    "error_message",
    "is_stream",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "total_cost_usd",
    "actual_total_cost_usd",
    "cache_creation_cost_usd",
    "cache_read_cost_usd",
    "response_time_ms",
    "first_byte_time_ms",
    "rate_multiplier",
    "endpoint_api_format",
    "has_format_conversion",
    "provider_api_key_id",
)

CANDIDATE_FIELDS = (
    "candidate_index",
    "retry_index",
    "user_id",
    "api_key_id",
    "provider_id",
    "endpoint_id",
    "key_id",
    "status",
    "skip_reason",
    "error_type",
    "error_message",
    "is_cached",
    "status_code",
    "latency_ms",
    "extra_data",
    "created_at",
    "started_at",
    "finished_at",
)
CANDIDATE_RECORD_COLUMNS = ("id", "seq", "kafka_partition", "usage_id", "request_id", *CANDIDATE_FIELDS)
CANDIDATE_STATE_COLUMNS = ("id", "seq", "created_at", "provider_id", "status", "latency_ms")

USAGE_AGG_KEY = ("dim", "key", "grain", "bucket")
USAGE_AGG_COLUMNS = (*USAGE_AGG_KEY, *USAGE_COUNTERS)
ATTEMPT_AGG_KEY = ("provider_id", "grain", "bucket")
ATTEMPT_AGG_COLUMNS = (*ATTEMPT_AGG_KEY, *ATTEMPT_COUNTERS)

# Every partition's writes take this advisory lock (namespace, partition): an old and a new owner of a partition
# never apply the same request concurrently during a rebalance.
PARTITION_LOCK_NAMESPACE = 0x5553

# Writers of records take this lock shared (namespace, key) before their partition locks; retention and rebuild
# take it exclusive to move the records cut-off, so a batch reads a cut-off that stays true until it commits.
RETENTION_LOCK = (0x5552, 0)

# The record tables are range-partitioned by created_at, one partition per UTC month (`<table>_pYYYYMM`), plus
# `<table>_default` for rows outside every month partition (migration 0002, materializer/ops/retention.py).
PARTITIONED_TABLES = ("usage_records", "candidate_records")
# Each stored record's id -> created_at (so its month partition), unpartitioned: the writer's look-up by id
# descends this table's primary key, then only the partition of the month found (migration 0007).
HOMES = {"usage_records": "usage_record_homes", "candidate_records": "candidate_record_homes"}

# What bodies retention clears (request_metadata is kept: it is small and describes the request).
USAGE_BODY_COLUMNS = (
    "request_headers",
    "provider_request_headers",
    "response_headers",
    "client_response_headers",
    "request_body",
    "response_body",
)
