"""The SQL backend a database URL names, for work outside a unit of work (migrations from the
command line or Alembic): its engine and its error translator, each made as the backend's own
factory makes them. Imports the backends on demand, so nothing below them imports this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from reporting_rollups.adapters.urls import DatabaseURL
from reporting_rollups.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from reporting_rollups.adapters.sql.errors import ErrorTranslator


def sql_backend(url: str) -> Literal["sqlite", "postgres"]:
    """Which SQL backend `url` names; `ConfigurationError` for any other."""
    parsed = DatabaseURL.parse(url)
    if parsed.backend == "memory":
        raise ConfigurationError(
            f"{parsed}: migrations need a SQL database (sqlite:// or postgresql://)"
        )
    return parsed.backend


def error_translator(url: str) -> ErrorTranslator:
    """The error translator the library's adapter for `url` uses (names the database, hides
    its passwords, says what to do)."""
    if sql_backend(url) == "sqlite":
        from reporting_rollups.adapters.sqlite import sqlite_errors

        return sqlite_errors(url)
    from reporting_rollups.adapters.postgres import postgres_errors

    return postgres_errors(url)


def engine_for_url(url: str) -> Engine:
    """An engine for a SQL database URL, configured as the library's adapters configure it."""
    if sql_backend(url) == "sqlite":
        from reporting_rollups.adapters.sqlite import sqlite_engine

        return sqlite_engine(url)
    from reporting_rollups.adapters.postgres import postgres_engine

    return postgres_engine(url)
