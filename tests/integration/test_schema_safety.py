"""Secrets, URLs and host tables: passwords never shown, a URL must name its database, a host
`reporting_events` without a unique key on id is refused, killed pooled connections are replaced,
and `rollups migrate` on a missing database says what to do."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import EXIT_DATABASE, EXIT_USAGE, app
from reporting_rollups.adapters.postgres import postgres_engine
from reporting_rollups.adapters.sql.migrate import upgrade
from reporting_rollups.adapters.sqlite import sqlite_engine
from reporting_rollups.domain.errors import ConfigurationError, RollupError, StorageError
from tests.builders import event
from tests.reference_schema import reference_statements

SECRET = "S3cret-pw"
LIBRARY_TABLES = {
    "reporting_rollup_accounts",
    "reporting_rollup_applied_events",
    "reporting_rollup_changes",
    "reporting_rollup_sync_state",
    "reporting_rollup_retention",
    "reporting_rollup_retention_windows",
    "reporting_rollup_jobs",
    "reporting_rollup_job_accounts",
    "reporting_rollup_members",
}


def with_secret(url: str, form: str) -> str:
    """`url` (postgresql://user@host:port/db) carrying a password in the given `form`."""
    head, _, rest = url.partition("://")
    user, _, location = rest.partition("@")
    user = user.split(":", 1)[0]
    if form == "userinfo":
        return f"{head}://{user}:{SECRET}@{location}"
    if form == "userinfo-encoded":  # '@' and ':' inside the password, percent-encoded
        return f"{head}://{user}:{quote('@' + SECRET + ':', safe='')}@{location}"
    separator = "&" if "?" in location else "?"
    if form == "query":
        return f"{url}{separator}password={SECRET}"
    if form == "query-ssl":
        return f"{url}{separator}sslpassword={SECRET}"
    if form == "query-encoded":  # the parameter's name and value percent-encoded
        return f"{url}{separator}pass%77ord={quote(SECRET[:2])}%{ord(SECRET[2]):02X}{SECRET[3:]}"
    raise AssertionError(form)


FORMS = ["userinfo", "userinfo-encoded", "query", "query-ssl", "query-encoded"]


def messages(error: BaseException) -> Iterator[str]:
    """The text of `error` and of every exception chained to it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        current = current.__cause__ or current.__context__


def assert_hidden(*texts: str) -> None:
    for shown in texts:
        assert SECRET not in shown
        assert quote(SECRET, safe="") not in shown
        assert SECRET[3:] not in shown  # not even the part after an encoded character


def raised(call: Callable[[], object], kind: type[Exception] = RollupError) -> BaseException:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def cli_error(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--db", url, *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


# --- 9: passwords never shown --------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("form", FORMS)
def test_schema_messages_never_show_a_password(
    form: str, database_url: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    url = with_secret(database_url, form)
    # No schema yet.
    error = raised(lambda: open_rollups(url, migrate=False), StorageError)
    assert "has no reporting-rollups schema" in str(error)
    assert_hidden(*messages(error))
    code, output = cli_error(url, "verify", "-a", "1")
    assert code == EXIT_DATABASE
    assert "has no reporting-rollups schema" in output
    assert_hidden(output)

    # A failed migration (a revision this library does not ship).
    engine = postgres_engine(url)
    try:
        error = raised(lambda: upgrade(engine, "no_such_revision"), StorageError)
        assert "migration failed" in str(error)
        assert_hidden(*messages(error))
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE reporting_rollup_alembic_version SET version_num = 'zzzz_future'")
            )
    finally:
        engine.dispose()

    # A schema newer than the library.
    for migrate in (True, False):
        error = raised(lambda m=migrate: open_rollups(url, migrate=m), StorageError)  # type: ignore[misc]
        assert "newer version" in str(error)
        assert_hidden(*messages(error))
    code, output = cli_error(url, "migrate")
    assert code == EXIT_DATABASE
    assert "newer version" in output
    assert_hidden(output, debug_logs.text)


@pytest.mark.postgres
@pytest.mark.parametrize("form", FORMS)
def test_connection_errors_never_show_a_password(
    form: str, postgres_server_url: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    host = postgres_server_url.split("@", 1)[1].split("/", 1)[0]
    user = postgres_server_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0]
    cases = {
        "unreachable": f"postgresql://{user}@127.0.0.1:1/db?connect_timeout=2",
        "missing database": f"postgresql://{user}@{host}/rollups_no_such_db",
        "unknown role": f"postgresql://rollups_no_such_role@{host}/postgres",
        "bad option": f"postgresql://{user}@{host}/postgres?no_such_option=1",
    }
    for name, base in cases.items():
        url = with_secret(base, form)
        error = raised(lambda u=url: open_rollups(u), StorageError)  # type: ignore[misc]
        assert_hidden(*messages(error))
        code, output = cli_error(url, "migrate")
        assert code == EXIT_DATABASE, (name, output)
        assert_hidden(output)
    assert_hidden(debug_logs.text)


@pytest.mark.parametrize("form", FORMS)
def test_malformed_url_errors_never_show_a_password(form: str) -> None:
    bad = {
        "port": "postgresql://app@db:notaport/x",
        "port range": "postgresql://app@db:99999999/x",
        "no database": "postgresql://app@db:5432/",
        "scheme": "mysql://app@db/x",
        "driver": "postgresql+psycopg2://app@db/x",
        "sqlite query": "sqlite:///tmp/x.db",
    }
    for name, base in bad.items():
        if base.startswith("sqlite"):
            if "query" not in form:
                continue
            url = f"{base}?password={SECRET}"
        else:
            url = with_secret(base, form)
        error = raised(lambda u=url: open_rollups(u), ConfigurationError)  # type: ignore[misc]
        assert_hidden(*messages(error))
        code, output = cli_error(url, "migrate")
        assert code == EXIT_USAGE, (name, output)
        assert_hidden(output)


def test_an_at_sign_left_in_a_password_is_refused_without_showing_it() -> None:
    url = f"postgresql://app:p@{SECRET}@db/x"
    error = raised(lambda: open_rollups(url), ConfigurationError)
    assert "%40" in str(error)
    assert_hidden(*messages(error))


@pytest.mark.postgres
def test_the_open_rollups_repr_never_shows_a_password(database_url: str) -> None:
    url = with_secret(database_url, "query")
    with open_rollups(url) as rollups:
        assert_hidden(repr(rollups), repr(rollups.uow_factory), str(rollups.uow_factory))


# --- 10: a PostgreSQL URL must name its database ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://",
        "postgresql://user@127.0.0.1:1/",
        "postgresql://user@127.0.0.1:1",
        "postgres://user@127.0.0.1:1?connect_timeout=1",
        "postgresql://user@127.0.0.1:1/?dbname=",
    ],
)
def test_a_postgres_url_without_a_database_is_a_configuration_error(url: str) -> None:
    # Port 1: even the code before the check cannot reach a server (nor create tables).
    error = raised(lambda: open_rollups(url), ConfigurationError)
    assert "names no database" in str(error)
    assert "name the database" in str(error)
    code, output = cli_error(url, "migrate")
    assert code == EXIT_USAGE
    assert "names no database" in output


@pytest.mark.postgres
def test_a_database_named_by_the_dbname_parameter_is_used(
    database_url: str, postgres_server_url: str
) -> None:
    name = database_url.rpartition("/")[2]
    base = postgres_server_url.rpartition("/")[0]
    with open_rollups(f"{base}/?dbname={name}") as rollups:
        rollups.record([event(1)])
    engine = postgres_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= LIBRARY_TABLES
    finally:
        engine.dispose()


# --- 11: a host reporting_events needs a unique key on id ---------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def host_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each SQL backend, for the reference host's tables."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'host.db'}"
    url: str = request.getfixturevalue("database_url")
    return url


def run_sql(url: str, *statements: str) -> None:
    engine = sqlite_engine(url) if url.startswith("sqlite") else postgres_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sqlite_engine(url) if url.startswith("sqlite") else postgres_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def host_tables_without_primary_key(url: str) -> list[str]:
    """The reference host's tables, with reporting_events' primary key dropped."""
    dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
    statements = reference_statements(dialect)
    if dialect == "sqlite":  # SQLite cannot drop a primary key: create the table without it
        return [
            s.replace("id INTEGER PRIMARY KEY", "id INTEGER", 1)
            if s.startswith("CREATE TABLE reporting_events (")
            else s
            for s in statements
        ]
    return [*statements, "ALTER TABLE reporting_events DROP CONSTRAINT reporting_events_pkey"]


def test_a_host_events_table_without_a_unique_id_is_refused(host_url: str) -> None:
    run_sql(host_url, *host_tables_without_primary_key(host_url))
    error = raised(lambda: open_rollups(host_url), StorageError)
    assert "reporting_events has no unique key on id" in str(error)
    assert "CREATE UNIQUE INDEX index_reporting_events_on_id ON reporting_events (id)" in str(error)
    assert not LIBRARY_TABLES & table_names(host_url)  # nothing half-written
    code, output = cli_error(host_url, "migrate")
    assert code == EXIT_DATABASE
    assert "no unique key on id" in output

    # Distributed-table form only: still refused (the statements conflict on id), and said so.
    run_sql(
        host_url,
        "CREATE UNIQUE INDEX reporting_events_account_id_id ON reporting_events (account_id, id)",
    )
    error = raised(lambda: open_rollups(host_url), StorageError)
    assert "a unique key on (account_id, id) but none on id alone" in str(error)

    # The advice works: with a unique index on id the same table is accepted and usable.
    run_sql(host_url, "CREATE UNIQUE INDEX index_reporting_events_on_id ON reporting_events (id)")
    with open_rollups(host_url) as rollups:
        rollups.record([event(1), event(1)])
        assert rollups.retract([1]).retracted == 1


def test_a_partial_unique_index_on_id_is_not_a_key(host_url: str) -> None:
    run_sql(
        host_url,
        *host_tables_without_primary_key(host_url),
        "CREATE UNIQUE INDEX reporting_events_id_positive ON reporting_events (id) WHERE id > 0",
    )
    error = raised(lambda: open_rollups(host_url), StorageError)
    assert "no unique key on id" in str(error)


def test_the_reference_host_tables_are_accepted_as_they_are(host_url: str) -> None:
    dialect = "sqlite" if host_url.startswith("sqlite") else "postgresql"
    run_sql(host_url, *reference_statements(dialect))
    with open_rollups(host_url) as rollups:
        rollups.record([event(1)])
    assert table_names(host_url) >= LIBRARY_TABLES


# --- 12: a pooled connection the server killed is replaced --------------------------------------


def _terminate_pool(url: str) -> int:
    """Terminate the library's connections to the database of `url` (waiting until gone)."""
    with psycopg.connect(url, autocommit=True) as side:
        rows = side.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE application_name = 'reporting-rollups' AND datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return sum(1 for (done,) in rows if done)


@pytest.mark.postgres
def test_the_next_call_after_the_server_killed_idle_connections_succeeds(
    database_url: str,
) -> None:
    with open_rollups(database_url) as rollups:
        rollups.set_timezone(1, "UTC")
        rollups.record([event(1)])
        assert _terminate_pool(database_url) >= 1
        result = rollups.record([event(2)])  # the killed connection is not handed out
        assert result.stored == 1
        assert _terminate_pool(database_url) >= 1
        assert len(rollups.rows(1)) > 0


# --- item 15: `rollups migrate` on a missing database says what to do ----------------------------


@pytest.mark.postgres
def test_migrate_on_a_missing_database_says_createdb(postgres_server_url: str) -> None:
    base = postgres_server_url.rpartition("/")[0]
    url = with_secret(f"{base}/rollups_no_such_db_x", "query")
    code, output = cli_error(url, "migrate")
    assert code == EXIT_DATABASE
    assert "createdb" in output
    assert "rollups_no_such_db_x" in output
    assert_hidden(output)
    other_code, other = cli_error(url, "verify", "-a", "1")  # the advice other commands give
    assert other_code == EXIT_DATABASE
    assert "createdb" in other
