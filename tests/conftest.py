"""Shared fixtures: a fixed clock, and a throw-away PostgreSQL database per test session.

PostgreSQL comes from ROLLUPS_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
Without a reachable server the PostgreSQL tests skip, showing why; with ROLLUPS_REQUIRE_POSTGRES=1
they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: "Now" for every test that does not say otherwise.
FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    """The tests' clock."""
    return FIXED_NOW


def _server_url() -> str:
    return os.environ.get("ROLLUPS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The admin URL of a reachable server, or skip (fail with ROLLUPS_REQUIRE_POSTGRES=1)."""
    url = _server_url()
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        reason = f"PostgreSQL not reachable at {url.split('@')[-1]}: {error}".strip()
        if os.environ.get("ROLLUPS_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (ROLLUPS_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return url


def create_database(server_url: str) -> tuple[str, str]:
    """Create a uniquely named database; return (name, url)."""
    name = f"rollups_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop a database made by `create_database`, disconnecting its sessions."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """The URL of a new, uniquely named database, dropped at the end of the block."""
    name, url = create_database(server_url)
    try:
        yield url
    finally:
        drop_database(server_url, name)


@pytest.fixture
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (no schema yet), dropped afterwards."""
    with fresh_database(postgres_server_url) as url:
        yield url


def sessions_waiting_for_locks(url: str) -> int:
    """Other sessions of the database that wait for a heavyweight lock (row locks included)."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        ).fetchone()
    assert row is not None
    return int(row[0])


CITUS_URL_VARIABLE = "ROLLUPS_TEST_CITUS_URL"


@pytest.fixture(scope="session")
def citus_url() -> str:
    """A database on a Citus coordinator for this session: ``ROLLUPS_TEST_CITUS_URL``, a
    database of its own with the citus extension and the workers added (`citus-cluster mkdb`).
    Its public tables are dropped first. Skips without the variable; fails when it is set and
    the database is unreachable or has no citus extension."""
    url = os.environ.get(CITUS_URL_VARIABLE)
    if not url:
        pytest.skip(f"no Citus coordinator: set {CITUS_URL_VARIABLE} to run the Citus tests")
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            found = connection.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'citus'"
            ).fetchone()
            if found is None:
                pytest.fail(f"{CITUS_URL_VARIABLE}: the database has no citus extension")
    except psycopg.Error as error:
        pytest.fail(f"{CITUS_URL_VARIABLE}: Citus not reachable: {error}")
    empty_database(url)
    return url


def empty_database(url: str) -> None:
    """Drop every table of the public schema (and so the library's schema) of a PostgreSQL or
    Citus database, for a test that starts from nothing."""
    with psycopg.connect(url, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        for table in tables:
            connection.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table))
            )


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of a fresh database for this test session, dropped afterwards."""
    with fresh_database(postgres_server_url) as url:
        yield url


def reset_postgres(url: str) -> None:
    """Empty every table of the library's schema (between tests sharing one database)."""
    with psycopg.connect(url, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('alembic_version', 'reporting_rollup_alembic_version')"
            )
        ]
        if tables:
            connection.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                )
            )
