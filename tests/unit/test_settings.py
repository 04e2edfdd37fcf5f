"""Settings.from_env: each USAGESTREAM_* variable of docs/contract.md §6, its default; secrets hidden."""

from __future__ import annotations

import pytest

from usagestream.errors import ConfigError
from usagestream.settings import Settings

# docs/contract.md §1.1, §1.2 and §6: variable -> (field, default)
CONTRACT_DEFAULTS = {
    "USAGESTREAM_KAFKA_BOOTSTRAP": ("kafka_bootstrap", "127.0.0.1:9092"),
    "USAGESTREAM_CONSUMER_GROUP": ("consumer_group", "usagestream"),
    "USAGESTREAM_POSTGRES_DSN": ("postgres_dsn", "postgresql://127.0.0.1:5432/usagestream"),
    "USAGESTREAM_REDIS_URL": ("redis_url", "redis://127.0.0.1:6379/0"),
    "USAGESTREAM_REDIS_PREFIX": ("redis_prefix", "usagestream:"),
    "USAGESTREAM_HTTP_HOST": ("http_host", "127.0.0.1"),
    "USAGESTREAM_HTTP_PORT": ("http_port", 8080),
    "USAGESTREAM_JWT_SECRET": ("jwt_secret", ""),
    "USAGESTREAM_TIMEZONE": ("timezone", "UTC"),
    "USAGESTREAM_ADMIN_DEFAULT_DAYS": ("admin_default_days", 30),
    "USAGESTREAM_ACTIVE_TIMEOUT_S": ("active_timeout_s", 600),
    "USAGESTREAM_TOPIC_USAGE": ("topic_usage", "gateway.usage.v1"),
    "USAGESTREAM_TOPIC_CANDIDATES": ("topic_candidates", "gateway.candidates.v1"),
    "USAGESTREAM_TOPIC_ENTITIES": ("topic_entities", "gateway.entities.v1"),
    "USAGESTREAM_TOPIC_DLQ": ("topic_dlq", "usagestream.dlq.v1"),
}
CONTRACT_VALUES = {
    "USAGESTREAM_KAFKA_BOOTSTRAP": ("kafka:9093,kafka2:9093", "kafka:9093,kafka2:9093"),
    "USAGESTREAM_CONSUMER_GROUP": ("g-42", "g-42"),
    "USAGESTREAM_POSTGRES_DSN": ("postgresql://u:pw@db:5433/x", "postgresql://u:pw@db:5433/x"),
    "USAGESTREAM_REDIS_URL": ("redis://r:6380/3", "redis://r:6380/3"),
    "USAGESTREAM_REDIS_PREFIX": ("t1:", "t1:"),
    "USAGESTREAM_HTTP_HOST": ("0.0.0.0", "0.0.0.0"),
    "USAGESTREAM_HTTP_PORT": ("18080", 18080),
    "USAGESTREAM_JWT_SECRET": ("s3cret-jwt", "s3cret-jwt"),
    "USAGESTREAM_TIMEZONE": ("Asia/Shanghai", "Asia/Shanghai"),
    "USAGESTREAM_ADMIN_DEFAULT_DAYS": ("0", 0),
    "USAGESTREAM_ACTIVE_TIMEOUT_S": ("90", 90),
    "USAGESTREAM_TOPIC_USAGE": ("t.usage", "t.usage"),
    "USAGESTREAM_TOPIC_CANDIDATES": ("t.cand", "t.cand"),
    "USAGESTREAM_TOPIC_ENTITIES": ("t.ent", "t.ent"),
    "USAGESTREAM_TOPIC_DLQ": ("t.dlq", "t.dlq"),
}


def test_defaults_are_the_contracts() -> None:
    settings = Settings.from_env({})
    for variable, (name, default) in CONTRACT_DEFAULTS.items():
        assert getattr(settings, name) == default, variable


def test_every_contract_variable_is_read() -> None:
    env = {variable: raw for variable, (raw, _) in CONTRACT_VALUES.items()}
    settings = Settings.from_env(env)
    for variable, (_, want) in CONTRACT_VALUES.items():
        assert getattr(settings, CONTRACT_DEFAULTS[variable][0]) == want, variable


def test_only_usagestream_variables_count() -> None:
    assert (
        Settings.from_env({"KAFKA_BOOTSTRAP": "x:1", "HTTP_PORT": "1", "usagestream_http_port": "2"}).http_port == 8080
    )


def test_overrides_win_over_the_environment() -> None:
    assert Settings.from_env({"USAGESTREAM_HTTP_PORT": "9000"}, http_port=9001).http_port == 9001


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGESTREAM_CONSUMER_GROUP", "from-os")
    assert Settings.from_env().consumer_group == "from-os"


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.http_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "raw", "words"),
    [
        ("USAGESTREAM_HTTP_PORT", "eighty", ("USAGESTREAM_HTTP_PORT", "'eighty'", "int")),
        ("USAGESTREAM_HTTP_PORT", "", ("USAGESTREAM_HTTP_PORT",)),
        ("USAGESTREAM_HTTP_PORT", "0", ("USAGESTREAM_HTTP_PORT", ">= 1")),
        ("USAGESTREAM_HTTP_PORT", "70000", ("USAGESTREAM_HTTP_PORT", "65535")),
        ("USAGESTREAM_HTTP_PORT", "80.5", ("USAGESTREAM_HTTP_PORT",)),
        ("USAGESTREAM_ACTIVE_TIMEOUT_S", "0", ("USAGESTREAM_ACTIVE_TIMEOUT_S",)),
        ("USAGESTREAM_ACTIVE_TIMEOUT_S", "ten", ("USAGESTREAM_ACTIVE_TIMEOUT_S",)),
        ("USAGESTREAM_ADMIN_DEFAULT_DAYS", "-1", ("USAGESTREAM_ADMIN_DEFAULT_DAYS",)),
        ("USAGESTREAM_TIMEZONE", "Mars/Olympus", ("USAGESTREAM_TIMEZONE", "Mars/Olympus")),
        ("USAGESTREAM_TIMEZONE", "", ("USAGESTREAM_TIMEZONE",)),
        ("USAGESTREAM_KAFKA_BOOTSTRAP", " ", ("USAGESTREAM_KAFKA_BOOTSTRAP", "empty")),
        ("USAGESTREAM_TOPIC_USAGE", "", ("USAGESTREAM_TOPIC_USAGE", "empty")),
        ("USAGESTREAM_BATCH_WITHIN_S", "nan", ("USAGESTREAM_BATCH_WITHIN_S",)),
        ("USAGESTREAM_SWEEP_INTERVAL_S", "-2", ("USAGESTREAM_SWEEP_INTERVAL_S",)),
        ("USAGESTREAM_LOG_FORMAT", "xml", ("USAGESTREAM_LOG_FORMAT",)),
        ("USAGESTREAM_FEED_RECHECK_S", "0", ("USAGESTREAM_FEED_RECHECK_S", "> 0")),
        ("USAGESTREAM_FEED_RECHECK_S", "inf", ("USAGESTREAM_FEED_RECHECK_S",)),
        ("USAGESTREAM_API_REDIS_MAX_CONNECTIONS", "1", ("USAGESTREAM_API_REDIS_MAX_CONNECTIONS", ">= 2")),
        ("USAGESTREAM_SERIES_CACHE_MB", "-1", ("USAGESTREAM_SERIES_CACHE_MB", "between 0")),
        ("USAGESTREAM_SERIES_CACHE_MB", "2000000", ("USAGESTREAM_SERIES_CACHE_MB", "1048576")),
        ("USAGESTREAM_SERIES_CACHE_MB", "64MB", ("USAGESTREAM_SERIES_CACHE_MB", "int")),
        ("USAGESTREAM_HTTP_HEADER_TIMEOUT_S", "0", ("USAGESTREAM_HTTP_HEADER_TIMEOUT_S", "> 0")),
        ("USAGESTREAM_HTTP_HEADER_TIMEOUT_S", "inf", ("USAGESTREAM_HTTP_HEADER_TIMEOUT_S",)),
        ("USAGESTREAM_HTTP_KEEPALIVE_TIMEOUT_S", "-5", ("USAGESTREAM_HTTP_KEEPALIVE_TIMEOUT_S", "> 0")),
        ("USAGESTREAM_RETENTION_INTERVAL_S", "-1", ("USAGESTREAM_RETENTION_INTERVAL_S", ">= 0")),
        ("USAGESTREAM_RETENTION_INTERVAL_S", "inf", ("USAGESTREAM_RETENTION_INTERVAL_S",)),
        ("USAGESTREAM_RETENTION_INTERVAL_S", "hourly", ("USAGESTREAM_RETENTION_INTERVAL_S", "float")),
        ("USAGESTREAM_DAY_TIMES_FILL_INTERVAL_S", "-1", ("USAGESTREAM_DAY_TIMES_FILL_INTERVAL_S", ">= 0")),
        ("USAGESTREAM_DAY_TIMES_FILL_INTERVAL_S", "nan", ("USAGESTREAM_DAY_TIMES_FILL_INTERVAL_S",)),
        ("USAGESTREAM_DAY_TIMES_FILL_DAYS", "-1", ("USAGESTREAM_DAY_TIMES_FILL_DAYS",)),
        ("USAGESTREAM_DAY_TIMES_FILL_BATCH", "0", ("USAGESTREAM_DAY_TIMES_FILL_BATCH",)),
    ],
)
def test_bad_values_raise_config_error_naming_the_variable(variable: str, raw: str, words: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: raw})
    for word in words:
        assert word in str(caught.value)


SECRETS = {
    "USAGESTREAM_JWT_SECRET": "jwt-Sup3rSecret",
    "USAGESTREAM_POSTGRES_DSN": ("postgresql+asyncpg://stats:Pg-Pa55word@db.internal:5432/usage?password=Query-Pw"),
    "USAGESTREAM_REDIS_URL": "redis://default:Redis-Pw0rd@cache:6379/0",
}


@pytest.mark.parametrize("show", [repr, str, lambda s: str(s.redacted())])
def test_secrets_never_show(show: object) -> None:
    settings = Settings.from_env(SECRETS)
    text = show(settings)  # type: ignore[operator]
    for secret in ("jwt-Sup3rSecret", "Pg-Pa55word", "Query-Pw", "Redis-Pw0rd"):
        assert secret not in text
    assert "db.internal:5432/usage" in text and "cache:6379/0" in text, "hosts stay visible for debugging"
    assert settings.jwt_secret == SECRETS["USAGESTREAM_JWT_SECRET"], "the value itself is intact"


def test_a_key_value_dsn_is_masked_whole() -> None:
    settings = Settings.from_env({"USAGESTREAM_POSTGRES_DSN": "host=db user=u password=Kv-Secret"})
    assert "Kv-Secret" not in repr(settings)


def test_a_bad_value_error_does_not_echo_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**SECRETS, "USAGESTREAM_HTTP_PORT": "x"})
    assert all(secret not in str(caught.value) for secret in SECRETS.values())


def test_retention_interval_defaults_to_an_hour_and_zero_turns_it_off() -> None:
    assert Settings.from_env({}).retention_interval_s == 3600.0
    assert Settings.from_env({"USAGESTREAM_RETENTION_INTERVAL_S": "0"}).retention_interval_s == 0
    assert Settings.from_env({"USAGESTREAM_RETENTION_INTERVAL_S": "90.5"}).retention_interval_s == 90.5


def test_helpers() -> None:
    settings = Settings.from_env(SECRETS)
    assert settings.asyncpg_dsn.startswith("postgresql://stats:")
    assert settings.key("live", "ready") == "usagestream:live:ready"
    assert str(settings.tz) == "UTC"


def test_readers_fall_back_to_the_primary() -> None:
    primary = "postgresql+asyncpg://u@10.0.0.1:5432/usage"
    assert Settings(postgres_dsn=primary).asyncpg_read_dsn == "postgresql://u@10.0.0.1:5432/usage"
    replica = Settings(postgres_dsn=primary, postgres_read_dsn="postgresql://u:pw@10.0.0.2:5432/usage")
    assert replica.asyncpg_read_dsn == "postgresql://u:pw@10.0.0.2:5432/usage"
    assert replica.asyncpg_dsn == "postgresql://u@10.0.0.1:5432/usage"  # the worker's stays the primary
    assert "pw" not in repr(replica)
