"""Backend-specific behaviour of the SQL adapters (SQLite and PostgreSQL).

The port semantics shared with memory are the contract suites' job; here: migrations on an
existing host schema, SQLite pragmas and write serialisation, PostgreSQL account locks, driver
error translation, URL errors and password redaction, host-written raw rows, and an end-to-end
smoke test of each backend against the in-memory adapter.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.postgres import (
    PostgresUnitOfWorkFactory,
    postgres_engine,
    postgres_url,
)
from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.migrate import VERSION_TABLE, downgrade, head_revision, upgrade
from reporting_rollups.adapters.sql.reports import SqlReportStore
from reporting_rollups.adapters.sql.tables import metadata
from reporting_rollups.adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from reporting_rollups.adapters.sqlite import SQLiteUnitOfWorkFactory, sqlite_engine, sqlite_path
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import ConfigurationError, EventConflictError, StorageError
from reporting_rollups.domain.events import Event
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock

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
SHARED_TABLES = {"reporting_events", "reporting_events_rollups"}
ZONE = "Asia/Kolkata"
DAY = date(2026, 11, 20)  # the local day of `tests.builders.DEFAULT_AT` in ZONE


def host_schema(url: str, *, unique_key: bool = True) -> list[str]:
    """The host's own tables as the reference application's migrations create them (serial ids,
    its index names), plus a column of its own and the host's own Alembic version table."""
    sqlite = url.startswith("sqlite")
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL" if sqlite else "BIGSERIAL PRIMARY KEY"
    stamp = "DATETIME" if sqlite else "TIMESTAMP"
    statements = [
        f"""CREATE TABLE reporting_events (
            id {serial}, name VARCHAR, value FLOAT, account_id INTEGER, inbox_id INTEGER,
            user_id INTEGER, conversation_id INTEGER, created_at {stamp} NOT NULL,
            updated_at {stamp} NOT NULL, value_in_business_hours FLOAT,
            event_start_time {stamp}, event_end_time {stamp}, host_note VARCHAR)""",
        "CREATE INDEX reporting_events__account_id__name__created_at "
        "ON reporting_events (account_id, name, created_at)",
        f"""CREATE TABLE reporting_events_rollups (
            id {serial}, account_id INTEGER NOT NULL, date DATE NOT NULL,
            dimension_type VARCHAR NOT NULL, dimension_id BIGINT NOT NULL,
            metric VARCHAR NOT NULL, count BIGINT NOT NULL DEFAULT 0,
            sum_value FLOAT NOT NULL DEFAULT 0, sum_value_business_hours FLOAT NOT NULL DEFAULT 0,
            created_at {stamp} NOT NULL, updated_at {stamp} NOT NULL)""",
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('host_rev_42')",
    ]
    if unique_key:
        statements.append(
            "CREATE UNIQUE INDEX index_rollup_unique_key ON reporting_events_rollups "
            "(account_id, date, dimension_type, dimension_id, metric)"
        )
    return statements


INSERT_RAW = text(
    "INSERT INTO reporting_events (id, name, value, account_id, inbox_id, user_id, "
    "conversation_id, created_at, updated_at, value_in_business_hours) VALUES "
    "(:id, :name, :value, :account_id, :inbox_id, :user_id, :conversation_id, :created_at, "
    ":created_at, :business)"
)


def raw_row(event_id: int, name: str | None, **fields: Any) -> dict[str, Any]:
    """Parameters of `INSERT_RAW`: a row as a host writes it (naive UTC)."""
    row: dict[str, Any] = {
        "id": event_id,
        "name": name,
        "value": None,
        "account_id": 1,
        "inbox_id": None,
        "user_id": None,
        "conversation_id": None,
        "created_at": datetime(2026, 11, 20, 12, 0),
        "business": None,
    }
    row.update(fields)
    return row


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of each SQL backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rollups.db'}"
    url: str = request.getfixturevalue("database_url")
    return url


def engine_for(url: str) -> Engine:
    """An engine on a test database, configured as the adapters configure theirs."""
    return sqlite_engine(url) if url.startswith("sqlite") else postgres_engine(url)


def run_sql(url: str, *statements: str) -> None:
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def query(url: str, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(statement), params or {}))
    finally:
        engine.dispose()


def insert_raw(url: str, rows: list[dict[str, Any]]) -> None:
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            connection.execute(INSERT_RAW, rows)
    finally:
        engine.dispose()


def describe_tables(engine: Engine) -> dict[str, Any]:
    """Columns (name, type, nullability, default) and indexes of the shared tables."""
    inspector = inspect(engine)
    return {
        table: (
            [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
        )
        for table in sorted(SHARED_TABLES)
    }


def table_names(url: str) -> set[str]:
    engine = engine_for(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def message_of(call: Callable[[], object], kind: type[Exception]) -> str:
    with pytest.raises(kind) as caught:
        call()
    return str(caught.value)


# --- migrations ----------------------------------------------------------------------------------


def test_migration_creates_the_schema_of_the_tables_module(empty_url: str) -> None:
    engine = engine_for(empty_url)
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, metadata) == []
        names = set(inspect(engine).get_table_names())
        assert names == SHARED_TABLES | LIBRARY_TABLES | {VERSION_TABLE}
        indexes = {
            index["name"] for index in inspect(engine).get_indexes("reporting_events_rollups")
        }
        assert {"index_rollup_unique_key", "index_rollup_timeseries", "index_rollup_summary"} <= (
            indexes
        )
    finally:
        engine.dispose()


def test_migration_on_a_host_schema_creates_only_what_is_missing(empty_url: str) -> None:
    run_sql(empty_url, *host_schema(empty_url))
    insert_raw(empty_url, [raw_row(7, "conversation_resolved", value=30.0, user_id=4)])
    engine = engine_for(empty_url)
    try:
        before = describe_tables(engine)
    finally:
        engine.dispose()

    with open_rollups(empty_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE)  # rebuilds from the host's raw rows
        rows = row_map(rollups.rows(1))

    assert rows[(DAY, "agent", 4, "resolution_time")] == (1, 30.0, 0.0)
    assert table_names(empty_url) == SHARED_TABLES | LIBRARY_TABLES | {
        VERSION_TABLE,
        "alembic_version",
    }
    engine = engine_for(empty_url)
    try:
        assert describe_tables(engine) == before
    finally:
        engine.dispose()
    assert query(empty_url, "SELECT version_num FROM alembic_version") == [("host_rev_42",)]


def test_host_rollups_without_the_unique_index_are_refused(empty_url: str) -> None:
    run_sql(empty_url, *host_schema(empty_url, unique_key=False))
    message = message_of(lambda: open_rollups(empty_url), StorageError)
    assert "index_rollup_unique_key" in message
    assert table_names(empty_url) >= {"alembic_version"}
    assert not LIBRARY_TABLES & table_names(empty_url)  # the failed migration left nothing


def test_host_table_missing_a_column_is_refused(empty_url: str) -> None:
    run_sql(
        empty_url,
        "CREATE TABLE reporting_events (id BIGINT PRIMARY KEY, name VARCHAR, "
        "created_at TIMESTAMP NOT NULL)",
    )
    message = message_of(lambda: open_rollups(empty_url), StorageError)
    assert "reporting_events" in message
    assert "account_id" in message


def test_without_migrate_a_missing_or_outdated_schema_says_run_migrate(empty_url: str) -> None:
    message = message_of(lambda: open_rollups(empty_url, migrate=False), StorageError)
    assert "rollups migrate" in message

    engine = engine_for(empty_url)
    try:
        upgrade(engine)
        with open_rollups(empty_url, migrate=False) as rollups:
            assert rollups.rows(1) == []
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'zzzz_future'"))
    finally:
        engine.dispose()
    assert "newer version" in message_of(lambda: open_rollups(empty_url), StorageError)
    assert "newer version" in message_of(
        lambda: open_rollups(empty_url, migrate=False), StorageError
    )


def test_downgrade_drops_only_the_library_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    engine = engine_for(url)
    try:
        upgrade(engine)
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) == SHARED_TABLES | {VERSION_TABLE}
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= LIBRARY_TABLES
    finally:
        engine.dispose()


def test_rollups_migrate_upgrades_an_open_database(empty_url: str) -> None:
    with open_rollups(empty_url) as rollups:
        engine = engine_for(empty_url)
        try:
            downgrade(engine, "base")
            assert not LIBRARY_TABLES & set(inspect(engine).get_table_names())
            rollups.migrate()
            assert set(inspect(engine).get_table_names()) >= LIBRARY_TABLES
            rollups.migrate()  # idempotent
        finally:
            engine.dispose()
        rollups.set_timezone(1, ZONE)
        assert rollups.account(1).timezone == ZONE


def test_factories_expose_migrate(tmp_path: Path) -> None:
    factory = SQLiteUnitOfWorkFactory.from_url(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        factory.migrate()  # idempotent
        factory.check_schema()
    finally:
        factory.close()


@pytest.mark.postgres
def test_concurrent_migrations_on_postgres_serialise(database_url: str) -> None:
    errors: list[BaseException] = []

    def migrate() -> None:
        engine = postgres_engine(database_url)
        try:
            upgrade(engine)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert table_names(database_url) == SHARED_TABLES | LIBRARY_TABLES | {VERSION_TABLE}


# --- SQLite specifics ----------------------------------------------------------------------------


def test_sqlite_connections_use_wal_and_the_pragmas(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    factory = SQLiteUnitOfWorkFactory.from_url(url, busy_timeout_ms=1234)
    try:
        with factory() as uow:
            connection = uow.session.connection
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "synchronous", "busy_timeout")
            }
            assert isinstance(uow.reports, SqlReportStore)
    finally:
        factory.close()
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "busy_timeout": 1234}


def test_sqlite_writers_queue_for_the_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    holder = SQLiteUnitOfWorkFactory.from_url(url)
    waiter = SQLiteUnitOfWorkFactory.from_url(url, migrate=False, busy_timeout_ms=50)
    try:
        with holder() as uow:  # BEGIN IMMEDIATE: holds the write lock until the block ends
            uow.accounts.lock_exclusive(1)
            message = message_of(lambda: waiter().__enter__(), StorageError)
        assert "locked" in message
        assert "retry" in message
        with waiter() as uow:  # free again
            assert uow.accounts.get(1).timezone is None
    finally:
        holder.close()
        waiter.close()


@pytest.mark.parametrize("json", [True, False], ids=["json_each", "chunked_in"])
def test_sqlite_id_lookups_find_every_stored_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json: bool
) -> None:
    """Ids are looked up through one bound JSON array (`json_each`), or, where SQLite lacks
    JSON, through `IN` lists chunked to the bound-value limit: both find exactly the stored
    ones, in id order, among many more ids than one chunk holds."""
    monkeypatch.setattr(queries, "SQLITE_JSON", json)
    monkeypatch.setattr(queries, "IN_CHUNK", 7)
    with open_rollups(f"sqlite:///{tmp_path / 'ids.db'}", clock=fixed_clock) as rollups:
        stored = [event(event_id) for event_id in range(1, 200, 3)]
        rollups.record(stored)
        assert rollups.events(range(250, 0, -1)) == stored
        assert rollups.events([4, 7, 8, 2**62]) == [stored[1], stored[2]]
        assert rollups.events([]) == []
        assert rollups.retract(range(1, 100)).retracted == 33
        assert rollups.events(range(1, 250)) == stored[33:]


def test_sqlite_unit_of_work_rolls_back_unless_committed(tmp_path: Path) -> None:
    factory = SQLiteUnitOfWorkFactory.from_url(f"sqlite:///{tmp_path / 'rb.db'}")
    try:
        with factory() as uow:
            assert uow.events.add([event(1)]) == [1]
        with factory() as uow:
            assert uow.events.get([1]) == []
            uow.events.add([event(1)])
            uow.commit()
        with factory() as uow:
            assert [e.id for e in uow.events.get([1])] == [1]
    finally:
        factory.close()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite://host/x.db",
        "sqlite:///x.db?mode=ro",
    ],
)
def test_sqlite_url_errors(url: str) -> None:
    message = message_of(lambda: open_rollups(url), ConfigurationError)
    assert "sqlite:///" in message


def test_sqlite_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    message = message_of(lambda: open_rollups(url), StorageError)
    assert "does not exist" in message


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an sqlite database, just some bytes" * 100)
    message = message_of(lambda: open_rollups(f"sqlite:///{path}"), StorageError)
    assert "not an SQLite database" in message
    assert str(path) in message


def test_sqlite_dropped_table_says_run_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'drop.db'}"
    with open_rollups(url) as rollups:
        rollups.set_timezone(1, ZONE, rebuild=False)
        connection = sqlite3.connect(sqlite_path(url))
        connection.execute("DROP TABLE reporting_rollup_applied_events")
        connection.commit()
        connection.close()
        message = message_of(lambda: rollups.record([event(1)]), StorageError)
    assert "rollups migrate" in message
    assert "marking events applied" in message


@pytest.mark.parametrize("read_path", [True, False])
def test_reports_translate_driver_errors_like_every_other_use_case(
    empty_url: str, read_path: bool
) -> None:
    """Reports (from rollups and from raw events) go through the unit of work's error
    translator: a missing table is a StorageError that says to migrate, never a raw driver
    error."""
    with open_rollups(empty_url) as rollups:
        rollups.set_timezone(1, ZONE)
        rollups.enable_read_path(1, read_path)
        table = "reporting_events_rollups" if read_path else "reporting_events"
        run_sql(empty_url, f"DROP TABLE {table}")
        message = message_of(
            lambda: rollups.reports.summary(1, "agent", date(2026, 11, 1), date(2026, 11, 30)),
            StorageError,
        )
    assert "reading a report failed" in message
    assert "rollups migrate" in message


# --- PostgreSQL specifics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("postgresql://u@h:5/db", "postgresql+psycopg://u@h:5/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:***@h/db"),
    ],
)
def test_postgres_urls_use_psycopg_3(url: str, normalised: str) -> None:
    assert postgres_url(url).render_as_string(hide_password=True) == normalised


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:s3cret-pw@host:notaport/db",
        "postgresql://user:s3cret-pw@host:99999999999/db",
        "postgresql+psycopg2://user:s3cret-pw@host/db",
        "mysql://user:s3cret-pw@host/db",
    ],
)
def test_malformed_urls_raise_configuration_errors_without_the_password(url: str) -> None:
    message = message_of(lambda: open_rollups(url), ConfigurationError)
    assert "s3cret-pw" not in message
    assert "postgresql://" in message or "sqlite:///" in message


def test_unreachable_server_says_what_to_do_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "postgresql://someone:s3cret-pw@127.0.0.1:1/db?connect_timeout=2"
    message = message_of(lambda: open_rollups(url), StorageError)
    assert "s3cret-pw" not in message
    assert "someone:***@127.0.0.1:1" in message
    assert "running" in message
    assert "s3cret-pw" not in caplog.text


@pytest.mark.postgres
def test_missing_database_and_unknown_role(postgres_server_url: str) -> None:
    base = postgres_server_url.rpartition("/")[0]
    message = message_of(lambda: open_rollups(f"{base}/no_such_db_here"), StorageError)
    assert "createdb" in message
    host = base.rpartition("@")[2]
    url = f"postgresql://no_such_role_x:s3cret-pw@{host}/postgres"
    message = message_of(lambda: open_rollups(url), StorageError)
    assert "s3cret-pw" not in message
    assert "no_such_role_x:***@" in message
    assert "user name and password" in message


@pytest.mark.postgres
def test_permission_errors_say_what_to_grant(database_url: str) -> None:
    role = "rollups_test_limited"
    admin = psycopg.connect(database_url, autocommit=True)
    try:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}, PUBLIC")
        limited = database_url.replace("postgres@", f"{role}:pw-limited@", 1)
        assert limited != database_url

        message = message_of(lambda: open_rollups(limited), StorageError)
        assert "migrating the schema failed" in message
        assert "grant" in message
        assert "pw-limited" not in message

        with open_rollups(database_url):  # the owner migrates
            pass
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")  # read-only
        with open_rollups(limited, migrate=False) as rollups:
            message = message_of(lambda: rollups.set_timezone(1, ZONE), StorageError)
        assert "permission denied" in message
        assert "grant" in message
    finally:
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


def _wait_for_lock_wait(url: str, application_name: str) -> None:
    """Block until a session of `application_name` waits on a lock (no timing assumptions)."""
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND wait_event_type = 'Lock'",
                [application_name],
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            connection.execute("SELECT pg_sleep(0.01)")


@pytest.mark.postgres
def test_postgres_exclusive_account_lock_holds_back_live_writers(database_url: str) -> None:
    holder = PostgresUnitOfWorkFactory.from_url(database_url)
    writer_url = database_url + "?application_name=rollups_lock_test_writer"
    writer = open_rollups(writer_url, clock=fixed_clock)
    order: list[str] = []
    try:
        writer.set_timezone(1, ZONE)
        with holder() as uow:
            uow.accounts.lock_exclusive(1)

            def record() -> None:
                writer.record([event(1, value=5.0)])
                order.append("recorded")

            thread = threading.Thread(target=record)
            thread.start()
            _wait_for_lock_wait(database_url, "rollups_lock_test_writer")
            order.append("released")
            uow.commit()
        thread.join()
        assert order == ["released", "recorded"]
        assert writer.verify(1).mismatches == []
    finally:
        writer.close()
        holder.close()


@pytest.mark.postgres
def test_postgres_shared_locks_do_not_exclude_each_other(database_url: str) -> None:
    factory = PostgresUnitOfWorkFactory.from_url(database_url)
    try:
        with factory() as uow:  # creates the account rows
            uow.accounts.lock_shared([1, 2, 3])
            uow.commit()
        with factory() as first, factory() as second:
            first.accounts.lock_shared([1, 2])
            assert set(second.accounts.lock_shared([2, 3])) == {2, 3}
    finally:
        factory.close()


# --- raw rows written by the host ----------------------------------------------------------------


def test_host_raw_rows_that_are_not_events_do_not_break_anything(empty_url: str) -> None:
    with open_rollups(empty_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE, rebuild=False)
    insert_raw(
        empty_url,
        [
            raw_row(1, None, user_id=3),  # NULL name
            raw_row(2, "", user_id=3),  # empty name
            raw_row(3, "conversation_opened", user_id=3),  # unknown name
            raw_row(4, "first_response", value=None, user_id=3),  # NULL value: counts as 0
            raw_row(5, "reply_time", value=10.0, user_id=0),  # not an Event: non-positive id
            raw_row(6, "reply_time", value=4.0, business=2.0, user_id=3, inbox_id=9),
            raw_row(7, "conversation_bot_handoff", conversation_id=8, inbox_id=9),
            raw_row(8, "conversation_bot_handoff", conversation_id=8, inbox_id=9),
        ],
    )
    with open_rollups(empty_url, clock=fixed_clock) as rollups:
        result = rollups.backfill(1)
        assert result.events == 8
        assert rollups.verify(1).mismatches == []
        rows = row_map(rollups.rows(1))
        # Event 7 (host-written, now applied by the backfill) is recorded again: not twice.
        recorded = rollups.record(
            [event(7, "conversation_bot_handoff", conversation_id=8, inbox_id=9)]
        )
        assert (recorded.stored, recorded.rolled_up) == (0, 0)
        removed = rollups.retract([1, 2, 5, 6])
        assert (removed.retracted, removed.rolled_back) == (1, 1)  # only 6 was an event
        after = row_map(rollups.rows(1))
        assert rollups.verify(1).mismatches == []
        remaining = query(empty_url, "SELECT id FROM reporting_events ORDER BY id")
    assert rows == {
        (DAY, "account", 1, "first_response"): (1, 0.0, 0.0),
        (DAY, "agent", 3, "first_response"): (1, 0.0, 0.0),
        (DAY, "account", 1, "reply_time"): (1, 4.0, 2.0),
        (DAY, "agent", 3, "reply_time"): (1, 4.0, 2.0),
        (DAY, "inbox", 9, "reply_time"): (1, 4.0, 2.0),
        (DAY, "account", 1, "bot_handoffs_count"): (1, 0.0, 0.0),
        (DAY, "inbox", 9, "bot_handoffs_count"): (1, 0.0, 0.0),
    }
    assert set(after) == set(rows) - {
        (DAY, "account", 1, "reply_time"),
        (DAY, "agent", 3, "reply_time"),
        (DAY, "inbox", 9, "reply_time"),
    }
    assert [row[0] for row in remaining] == [3, 4, 7, 8]


def test_host_raw_row_with_the_same_id_and_other_content_is_a_conflict(empty_url: str) -> None:
    with open_rollups(empty_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE, rebuild=False)
    insert_raw(empty_url, [raw_row(11, None, value=3.0), raw_row(12, "reply_time", value=3.0)])
    with open_rollups(empty_url, clock=fixed_clock) as rollups:
        with pytest.raises(EventConflictError) as caught:
            rollups.record([event(11, "reply_time", value=3.0)])
        assert caught.value.differences == ["name"]
        recorded = rollups.record([event(12, "reply_time", value=3.0)])  # same content
        assert (recorded.stored, recorded.duplicates, recorded.rolled_up) == (0, 1, 1)
        assert row_map(rollups.rows(1))[(DAY, "account", 1, "reply_time")] == (1, 3.0, 0.0)


def test_times_are_stored_as_naive_utc(empty_url: str) -> None:
    at = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    with open_rollups(empty_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE, rebuild=False)
        rollups.record([event(21, "reply_time", at=at, value=1.0)])
        assert rollups.rows(1)[0][0].date == date(2026, 11, 21)  # local day in Kolkata
    rows = query(empty_url, "SELECT created_at FROM reporting_events WHERE id = 21")
    stored = rows[0][0]
    if isinstance(stored, str):  # SQLite through a text() query
        stored = datetime.fromisoformat(stored)
    assert stored == datetime(2026, 11, 20, 23, 30)


# --- end to end, against memory -------------------------------------------------------------------


def scenario(rollups: Rollups) -> dict[str, Any]:
    """Every use case once; returns what a host can observe."""
    seen: dict[str, Any] = {}
    rollups.set_timezone(1, "America/New_York")
    rollups.set_timezone(2, ZONE)
    batch: list[Event] = [
        event(1, value=60.0, business=30.0, user_id=5, inbox_id=7),
        event(2, "first_response", value=3.5, user_id=5, inbox_id=7, at=utc(2026, 11, 20, 3)),
        event(3, "conversation_bot_handoff", conversation_id=9, inbox_id=7),
        event(4, "conversation_bot_handoff", conversation_id=9, inbox_id=7),
        event(5, "conversation_bot_handoff", inbox_id=7),
        event(6, "reply_time", value=12.0, account_id=2, user_id=8, at=utc(2026, 11, 19, 20)),
        event(7, "conversation_bot_resolved", account_id=3),  # account without a zone
        event(8, "some_unknown_event", user_id=5),
    ]
    seen["record"] = rollups.record(batch)
    seen["redeliver"] = rollups.record([*batch[:3], batch[0]])
    with pytest.raises(EventConflictError):
        rollups.record([event(1, value=61.0, business=30.0, user_id=5, inbox_id=7)])
    seen["retract"] = rollups.retract([3, 6, 999])
    seen["late"] = rollups.record([event(9, "reply_time", value=2.0, at=utc(2026, 11, 2, 10))])
    seen["backfill"] = rollups.backfill(1)
    rollups.set_timezone(3, "UTC")
    seen["verify"] = [rollups.verify(account).mismatches for account in (1, 2, 3)]
    seen["rows"] = [row_map(rollups.rows(account)) for account in (1, 2, 3)]
    seen["accounts"] = [rollups.account(account) for account in (1, 2, 3)]
    return seen


def test_end_to_end_equals_memory(empty_url: str) -> None:
    with open_rollups("memory://", clock=fixed_clock) as memory:
        expected = scenario(memory)
    with open_rollups(empty_url, clock=fixed_clock) as sql:
        assert isinstance(sql.uow_factory, SqlUnitOfWorkFactory)
        got = scenario(sql)
    assert got == expected
    assert expected["verify"] == [[], [], []]
    assert expected["rows"][2]  # account 3 rolled up once it got a zone


def test_sqlite_host_rows_of_any_text_contribute_nothing_and_break_nothing(tmp_path: Path) -> None:
    """SQLite stores whatever text a host writes: a name that is not UTF-8 and created_at text
    that is no timestamp (or is one out of calendar) read as rows that are not events; a zone
    change, backfill, verify, reports, a retraction of their ids and a record of one of those
    ids with valid content all work (each failed with a decoding or parsing error before)."""
    path = tmp_path / "rollups.db"
    url = f"sqlite:///{path}"
    with open_rollups(url, clock=fixed_clock) as rollups:
        kept = event(1, "reply_time", value=3.0, at=utc(2026, 11, 20, 9))
        rollups.record([kept])
        connection = sqlite3.connect(path)
        with connection:
            for event_id, name, at in (
                (2, "CAST(x'ff41' AS TEXT)", "'2026-11-20 10:00:00.000000'"),
                (3, "'reply_time'", "'garbage'"),
                (4, "'reply_time'", "'2026-13-45 99:99'"),
            ):
                connection.execute(
                    "INSERT INTO reporting_events (id, name, account_id, created_at, updated_at,"
                    f" value) VALUES ({event_id}, {name}, 1, {at}, 'x', 1.0)"
                )
        connection.close()
        rollups.set_timezone(1, "UTC")
        rollups.backfill(1)
        assert rollups.verify(1).mismatches == []
        assert row_map(rollups.rows(1))[(date(2026, 11, 20), "account", 1, "reply_time")] == (
            1,
            3.0,
            0.0,
        )
        summary = rollups.reports.summary(1, "account", date(2026, 11, 1), date(2026, 11, 30))
        assert summary.rows[0].avg_reply_time == 3.0
        assert rollups.retract([2, 3, 4]).rolled_back == 0
        assert rollups.record([event(2, "reply_time", value=1.0, at=utc(2026, 11, 20, 11))]).stored
        assert rollups.verify(1).mismatches == []
