"""Initial schema: request records, candidate records, entities, 15-minute and day aggregates.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE usage_records (
    id text PRIMARY KEY,
    seq bigint NOT NULL,
    kafka_partition integer NOT NULL,
    timed_out boolean NOT NULL DEFAULT false,
    request_id text NOT NULL,
    user_id text,
    api_key_id text,
    provider_name text NOT NULL,
    provider_id text,
    provider_endpoint_id text,
    provider_api_key_id text,
    model text NOT NULL,
    target_model text,
    api_format text,
    endpoint_api_format text,
    has_format_conversion boolean,
    request_type text,
    is_stream boolean NOT NULL,
    status text NOT NULL,
    status_code integer,
    error_message text,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cache_creation_input_tokens bigint NOT NULL,
    cache_read_input_tokens bigint NOT NULL,
    total_tokens bigint NOT NULL,
    input_cost_usd numeric NOT NULL,
    output_cost_usd numeric NOT NULL,
    cache_creation_cost_usd numeric NOT NULL,
    cache_read_cost_usd numeric NOT NULL,
    request_cost_usd numeric NOT NULL,
    total_cost_usd numeric NOT NULL,
    actual_input_cost_usd numeric NOT NULL,
    actual_output_cost_usd numeric NOT NULL,
    actual_cache_creation_cost_usd numeric NOT NULL,
    actual_cache_read_cost_usd numeric NOT NULL,
    actual_request_cost_usd numeric NOT NULL,
    actual_total_cost_usd numeric NOT NULL,
    rate_multiplier numeric,
    input_price_per_1m numeric,
    output_price_per_1m numeric,
    cache_creation_price_per_1m numeric,
    cache_read_price_per_1m numeric,
    price_per_request numeric,
    response_time_ms integer,
    first_byte_time_ms integer,
    created_at timestamptz NOT NULL,
    finalized_at timestamptz,
    request_headers jsonb,
    provider_request_headers jsonb,
    response_headers jsonb,
    client_response_headers jsonb,
    request_body jsonb,
    response_body jsonb,
    request_metadata jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_created ON usage_records (created_at DESC, id DESC);
CREATE INDEX usage_records_user ON usage_records (user_id, created_at DESC);
CREATE INDEX usage_records_api_key ON usage_records (api_key_id, created_at DESC);
CREATE INDEX usage_records_model ON usage_records (model, created_at DESC);
CREATE INDEX usage_records_provider ON usage_records (provider_id, created_at DESC);
CREATE INDEX usage_records_request_id ON usage_records (request_id);
CREATE INDEX usage_records_partition_active ON usage_records (kafka_partition, created_at)
    WHERE status IN ('pending', 'streaming');
CREATE INDEX usage_records_completed_user ON usage_records (user_id, created_at) WHERE status = 'completed';
CREATE INDEX usage_records_completed_key ON usage_records (api_key_id, created_at) WHERE status = 'completed';
CREATE INDEX usage_records_model_trgm ON usage_records USING gin (model gin_trgm_ops);

CREATE TABLE candidate_records (
    id text PRIMARY KEY,
    seq bigint NOT NULL,
    kafka_partition integer NOT NULL,
    usage_id text NOT NULL,
    request_id text NOT NULL,
    candidate_index integer NOT NULL,
    retry_index integer NOT NULL,
    user_id text,
    api_key_id text,
    provider_id text,
    endpoint_id text,
    key_id text,
    status text NOT NULL,
    skip_reason text,
    error_type text,
    error_message text,
    is_cached boolean NOT NULL,
    status_code integer,
    latency_ms integer,
    extra_data jsonb,
    created_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX candidate_records_usage ON candidate_records (usage_id);
CREATE INDEX candidate_records_created ON candidate_records (created_at);
CREATE INDEX candidate_records_executed ON candidate_records (provider_id, created_at)
    WHERE status IN ('success', 'failed');

CREATE TABLE entities (
    entity text NOT NULL,
    id text NOT NULL,
    seq bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    data jsonb,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, id)
);
CREATE INDEX entities_username_trgm ON entities USING gin ((data ->> 'username') gin_trgm_ops)
    WHERE entity = 'user';
CREATE INDEX entities_name_trgm ON entities USING gin ((data ->> 'name') gin_trgm_ops)
    WHERE entity IN ('api_key', 'provider');
CREATE INDEX entities_token ON entities ((data ->> 'token_sha256')) WHERE entity = 'management_token';

-- grain 0: 15-minute buckets (UTC start); grain 1: days of USAGESTREAM_TIMEZONE (UTC instant of local midnight).
-- Counter columns: see usagestream/stats.py (USAGE_COUNTERS).
CREATE TABLE usage_agg (
    dim text NOT NULL,
    key text NOT NULL,
    grain smallint NOT NULL,
    bucket timestamptz NOT NULL,
    n_all bigint NOT NULL DEFAULT 0,
    n_finished bigint NOT NULL DEFAULT 0,
    n_reached bigint NOT NULL DEFAULT 0,
    n_fr bigint NOT NULL DEFAULT 0,
    n_error bigint NOT NULL DEFAULT 0,
    n_completed bigint NOT NULL DEFAULT 0,
    n_hit bigint NOT NULL DEFAULT 0,
    n_s200 bigint NOT NULL DEFAULT 0,
    in_tok bigint NOT NULL DEFAULT 0,
    out_tok bigint NOT NULL DEFAULT 0,
    tot_tok bigint NOT NULL DEFAULT 0,
    cc_tok bigint NOT NULL DEFAULT 0,
    cr_tok bigint NOT NULL DEFAULT 0,
    cost numeric NOT NULL DEFAULT 0,
    actual_cost numeric NOT NULL DEFAULT 0,
    cc_cost numeric NOT NULL DEFAULT 0,
    cr_cost numeric NOT NULL DEFAULT 0,
    rt_sum bigint NOT NULL DEFAULT 0,
    rt_n bigint NOT NULL DEFAULT 0,
    fr_tot_tok bigint NOT NULL DEFAULT 0,
    fr_cost numeric NOT NULL DEFAULT 0,
    fr_actual numeric NOT NULL DEFAULT 0,
    fr_rt_sum bigint NOT NULL DEFAULT 0,
    fr_rt_n bigint NOT NULL DEFAULT 0,
    fin_tot_tok bigint NOT NULL DEFAULT 0,
    fin_cost numeric NOT NULL DEFAULT 0,
    fin_actual numeric NOT NULL DEFAULT 0,
    r_in bigint NOT NULL DEFAULT 0,
    r_out bigint NOT NULL DEFAULT 0,
    r_tot bigint NOT NULL DEFAULT 0,
    r_cost numeric NOT NULL DEFAULT 0,
    r_actual numeric NOT NULL DEFAULT 0,
    s200_rt_sum bigint NOT NULL DEFAULT 0,
    c_in bigint NOT NULL DEFAULT 0,
    c_cr bigint NOT NULL DEFAULT 0,
    c_cc bigint NOT NULL DEFAULT 0,
    c_cr_cost numeric NOT NULL DEFAULT 0,
    c_cc_cost numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, grain, bucket, key)
);
CREATE INDEX usage_agg_by_key ON usage_agg (dim, key, grain, bucket);

CREATE TABLE attempt_agg (
    provider_id text NOT NULL,
    grain smallint NOT NULL,
    bucket timestamptz NOT NULL,
    attempts bigint NOT NULL DEFAULT 0,
    successes bigint NOT NULL DEFAULT 0,
    failures bigint NOT NULL DEFAULT 0,
    lat_sum bigint NOT NULL DEFAULT 0,
    lat_n bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, bucket, provider_id)
);

CREATE TABLE dead_letter_counts (
    topic text PRIMARY KEY,
    count bigint NOT NULL DEFAULT 0,
    last_reason text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS meta, dead_letter_counts, attempt_agg, usage_agg, entities, candidate_records, usage_records;
"""


def _statements(script: str) -> list[str]:
    # asyncpg prepares each statement, so a script runs one statement at a time.
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in code.split(";\n") if s.strip()]


def upgrade() -> None:
    for statement in _statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(DOWNGRADE):
        op.execute(statement)
