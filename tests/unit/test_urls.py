"""Database URLs: backend recognition and password redaction."""

from __future__ import annotations

import pytest

from adapters.urls import DatabaseURL, redact
from domain.errors import ConfigurationError


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/chatwoot", "postgresql://app:***@db:5432/chatwoot"),
        ("postgresql+psycopg://app:s3cret@db/x", "postgresql+psycopg://app:***@db/x"),
        ("app:s3cret@db/chatwoot", "app:***@db/chatwoot"),
        ("postgresql://app:s3c@ret@db/x", "postgresql://app:***@db/x"),
        (
            "postgresql://db/x?password=s3cret&sslmode=off",
            "postgresql://db/x?password=***&sslmode=off",
        ),
        ("host=db password=s3cret dbname=x", "host=db password=*** dbname=x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("sqlite:///data/a@b.db", "sqlite:///data/a@b.db"),
        ("memory://", "memory://"),
    ],
)
def test_redact_hides_passwords_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("memory://", "memory"),
        ("sqlite:///rollups.db", "sqlite"),
        ("postgresql://app@db/x", "postgres"),
        ("postgresql+psycopg://app@db/x", "postgres"),
        ("postgres://app@db/x", "postgres"),
    ],
)
def test_parse_recognises_the_backend(url: str, backend: str) -> None:
    parsed = DatabaseURL.parse(url)
    assert parsed.backend == backend
    assert parsed.url == url


@pytest.mark.parametrize(
    "url", ["app:s3cret@db/chatwoot", "mysql://app:s3cret@db/x", "", "sqlite:relative.db"]
)
def test_malformed_urls_are_configuration_errors_that_hide_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DatabaseURL.parse(url)
    message = str(raised.value)
    assert "s3cret" not in message
    assert "sqlite:///" in message
