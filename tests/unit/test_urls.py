"""Database URLs: backend recognition and password redaction."""

from __future__ import annotations

import pytest

from reporting_rollups.adapters.postgres import postgres_url
from reporting_rollups.adapters.urls import DatabaseURL, password_forms, redact
from reporting_rollups.domain.errors import ConfigurationError


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


SECRET = "S3cret"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u@h/db?sslpassword=S3cret", "postgresql://u@h/db?sslpassword=***"),
        ("postgresql://u@h/db?PASSWORD=S3cret&x=1", "postgresql://u@h/db?PASSWORD=***&x=1"),
        ("postgresql://u@h/db?pass%77ord=S3%63ret", "postgresql://u@h/db?pass%77ord=***"),
        ("postgresql://u@h/db?x=1;password=S3cret", "postgresql://u@h/db?x=1;password=***"),
        ("postgresql://u:p%40S3cret%3Ax@h/db", "postgresql://u:***@h/db"),
        ("host=h password='S3 cret x' dbname=d", "host=h password=*** dbname=d"),
        ("host=h password = S3cret dbname=d", "host=h password = *** dbname=d"),
        ("postgresql://u@h/db?password=a@S3cret", "postgresql://u@h/db?password=***"),
    ],
)
def test_redact_hides_every_form_of_a_password(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "S3" not in redact(url)


@pytest.mark.parametrize(
    ("url", "forms"),
    [
        ("postgresql://u:S3cret@h/db", {"S3cret"}),
        ("postgresql://u@h/db?password=S3%63ret", {"S3%63ret", "S3cret"}),
        ("postgresql://u:p%40S3%3Ax@h/db", {"p%40S3%3Ax", "p@S3:x"}),
        ("postgresql://u:p@S3@h/db", {"p@S3", "p"}),  # SQLAlchemy reads the password 'p'
        ("host=h password='S3 c' dbname=d", {"S3 c", "S3%20c", "S3+c"}),
    ],
)
def test_password_forms_cover_what_a_driver_may_print(url: str, forms: set[str]) -> None:
    assert forms <= set(password_forms(url))
    found = password_forms(url)
    assert list(found) == sorted(found, key=lambda form: (-len(form), form))  # longest first


def test_password_forms_of_a_url_without_password() -> None:
    assert password_forms("postgresql://u@h/db?sslmode=off") == ()


def test_a_parsed_url_does_not_show_its_password() -> None:
    parsed = DatabaseURL.parse(f"postgresql://app:{SECRET}@db/x?sslpassword={SECRET}")
    assert SECRET not in repr(parsed)
    assert SECRET not in str(parsed)
    assert parsed.url.endswith(SECRET)  # kept for connecting


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://",
        "postgresql://user@host:5432/",
        "postgresql://user@host",
        "postgres://user:S3cret@host?sslmode=off",
        "postgresql://user@host/?dbname=",
    ],
)
def test_a_postgres_url_must_name_its_database(url: str) -> None:
    with pytest.raises(ConfigurationError, match="names no database") as raised:
        postgres_url(url)
    assert "name the database" in str(raised.value)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    ["postgresql://user@host/db", "postgresql://user@host?dbname=db", "postgresql://?service=x"],
)
def test_a_database_in_the_path_dbname_or_service_is_named(url: str) -> None:
    assert postgres_url(url).drivername == "postgresql+psycopg"


def test_an_unencoded_at_sign_in_the_userinfo_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="%40") as raised:
        postgres_url(f"postgresql://u:p@{SECRET}@host/db")
    assert SECRET not in str(raised.value)
    # An '@' in the user name before the password is what SQLAlchemy reads as such: accepted.
    assert postgres_url("postgresql://a@b:pw@host/db").username == "a@b"
