"""The metrics settings: USAGESTREAM_METRICS_TOKEN (a secret), USAGESTREAM_WORKER_METRICS_HOST / _PORT."""

from __future__ import annotations

import pytest

from usagestream.errors import ConfigError
from usagestream.settings import Settings


def test_defaults_serve_worker_metrics_on_loopback_without_a_token() -> None:
    s = Settings.from_env({})
    assert (s.metrics_token, s.worker_metrics_host, s.worker_metrics_port) == ("", "127.0.0.1", 9464)


def test_variables_are_read_and_the_token_never_shows() -> None:
    env = {
        "USAGESTREAM_METRICS_TOKEN": "Scrape-S3cret",
        "USAGESTREAM_WORKER_METRICS_HOST": "0.0.0.0",
        "USAGESTREAM_WORKER_METRICS_PORT": "0",
    }
    s = Settings.from_env(env)
    assert (s.metrics_token, s.worker_metrics_host, s.worker_metrics_port) == ("Scrape-S3cret", "0.0.0.0", 0)
    assert "Scrape-S3cret" not in repr(s) and "Scrape-S3cret" not in str(s.redacted())
    assert Settings.from_env(s.to_env()) == s, "a child process rebuilds the same settings"


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("USAGESTREAM_WORKER_METRICS_PORT", "-1"),
        ("USAGESTREAM_WORKER_METRICS_PORT", "65536"),
        ("USAGESTREAM_WORKER_METRICS_PORT", "x"),
        ("USAGESTREAM_WORKER_METRICS_HOST", " "),
    ],
)
def test_bad_values_name_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: raw})
