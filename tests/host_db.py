"""A database laid out like the reference host's (its reporting tables exactly as the reference
schema defines them, read at test time), and SQL run on it as the host would run it."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reporting_rollups.adapters.sqlite import sqlite_path
from tests.conftest import fresh_database
from tests.reference_schema import reference_statements


@pytest.fixture(params=["sqlite", "postgres"])
def host_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database holding the reference host's reporting tables (no library tables yet)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'host.db'}"
        connection = sqlite3.connect(sqlite_path(url))
        for statement in reference_statements("sqlite"):
            connection.execute(statement)
        connection.commit()
        connection.close()
        yield url
        return
    with postgres_host(request.getfixturevalue("postgres_server_url")) as url:
        yield url


@contextlib.contextmanager
def postgres_host(server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database holding the reference host's reporting tables."""
    with fresh_database(server_url) as url:
        with psycopg.connect(url, autocommit=True) as connection:
            for statement in reference_statements("postgresql"):
                connection.execute(statement)
        yield url


def host_sql(url: str, *statements: str) -> list[Any]:
    """Run statements as the host would (its own connection, one transaction); the last
    statement's rows."""
    rows: list[Any] = []
    if url.startswith("sqlite"):
        connection = sqlite3.connect(sqlite_path(url))
        try:
            for statement in statements:
                rows = connection.execute(statement).fetchall()
            connection.commit()
        finally:
            connection.close()
        return rows
    with psycopg.connect(url) as connection:
        for statement in statements:
            cursor = connection.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
    return rows
