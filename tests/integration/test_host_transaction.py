"""`Rollups.using(connection)`: the use cases inside the host's own open transaction, on a
SQLAlchemy `Connection` (SQLite, PostgreSQL) and a bare psycopg 3 connection. The host's write
and the rollups commit or roll back together; the library commits nothing, and an error leaves
the host's transaction usable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import ConfigurationError, EventConflictError
from reporting_rollups.domain.events import Event
from tests.builders import event, row_map
from tests.conftest import empty_database, fixed_clock
from tests.host_db import postgres_host
from tests.readme import readme_block

ZONE = "Europe/Berlin"
POSTGRES = pytest.mark.postgres
NOTES = "CREATE TABLE IF NOT EXISTS host_notes (id INTEGER PRIMARY KEY, body TEXT)"


@attrs.define
class Host:
    """A host application on the same database as the rollups: its own connections, its own
    table (`host_notes`), its own transactions."""

    kind: str  #: "sqlalchemy" or "psycopg"
    url: str
    engine: Engine | None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """An open host transaction (committed at the end of the block, rolled back if it
        raises); yields the connection to pass to `using`."""
        if self.engine is not None:
            with self.engine.begin() as connection:
                yield connection
            return
        with psycopg.connect(self.url) as connection, connection.transaction():
            yield connection

    def write_note(self, connection: Any, note_id: int) -> None:
        """The host's own write in its transaction."""
        statement = "INSERT INTO host_notes (id, body) VALUES (:id, 'note')"
        if self.engine is not None:
            connection.execute(text(statement), {"id": note_id})
        else:
            connection.execute("INSERT INTO host_notes (id, body) VALUES (%s, 'note')", (note_id,))

    def notes(self) -> list[int]:
        """The notes committed (read on a connection of their own)."""
        with self.transaction() as connection:
            rows = connection.execute(
                text("SELECT id FROM host_notes ORDER BY id")
                if self.engine is not None
                else "SELECT id FROM host_notes ORDER BY id"
            ).fetchall()
        return [int(row[0]) for row in rows]


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(
    params=[
        pytest.param(("sqlite", "sqlalchemy"), id="sqlite-sqlalchemy"),
        pytest.param(
            ("postgres", "sqlalchemy"), id="postgres-sqlalchemy", marks=pytest.mark.postgres
        ),
        pytest.param(("postgres", "psycopg"), id="postgres-psycopg", marks=pytest.mark.postgres),
    ]
)
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Host]:
    backend, kind = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'host.db'}"
    else:
        url = request.getfixturevalue("database_url")
    engine = create_engine(_sqlalchemy_url(url)) if kind == "sqlalchemy" else None
    found = Host(kind, url, engine)
    with found.transaction() as connection:
        connection.execute(text(NOTES) if engine is not None else NOTES)
    try:
        yield found
    finally:
        if engine is not None:
            engine.dispose()


@pytest.fixture
def rollups(host: Host) -> Iterator[Rollups]:
    with open_rollups(host.url, clock=fixed_clock) as opened:
        opened.set_timezone(1, ZONE)
        yield opened


def _events(first: int, count: int) -> list[Event]:
    return [
        event(event_id, "reply_time", value=float(event_id), user_id=event_id % 3 or None)
        for event_id in range(first, first + count)
    ]


def _reference(events: list[Event]) -> dict[Any, Any]:
    with open_rollups("memory://", clock=fixed_clock) as memory:
        memory.set_timezone(1, ZONE)
        memory.record(events)
        return row_map(memory.rows(1))


def test_host_commits_its_write_and_the_rollups_together(host: Host, rollups: Rollups) -> None:
    events = _events(1, 20)
    with host.transaction() as connection:
        host.write_note(connection, 1)
        result = rollups.using(connection).record(events)
        assert result.rolled_up == 20
        # the library's own connections do not see the host's uncommitted work
        assert rollups.events([event.id for event in events]) == []
        assert rollups.rows(1) == []
    assert host.notes() == [1]
    assert rollups.events([event.id for event in events]) == events
    assert row_map(rollups.rows(1)) == _reference(events)
    assert rollups.verify(1).mismatches == []


def test_host_rolls_back_and_nothing_of_either_is_left(host: Host, rollups: Rollups) -> None:
    events = _events(1, 20)

    def host_request() -> None:
        with host.transaction() as connection:
            host.write_note(connection, 1)
            bound = rollups.using(connection)
            bound.record(events)
            bound.retract([3])
            bound.enable_read_path(1)
            raise RuntimeError("host fails after the rollups")

    with pytest.raises(RuntimeError, match="host fails"):
        host_request()
    assert host.notes() == []
    assert rollups.events(range(1, 21)) == []
    assert rollups.rows(1) == []
    assert not rollups.account(1).read_path_enabled
    # and the events can be recorded again, as new
    assert rollups.record(events).rolled_up == 20


def test_reads_in_the_host_transaction_see_its_uncommitted_writes(
    host: Host, rollups: Rollups
) -> None:
    events = _events(1, 10)
    with host.transaction() as connection:
        bound = rollups.using(connection)
        bound.record(events)
        assert row_map(bound.rows(1)) == _reference(events)
        assert bound.events(range(1, 11)) == events
        assert bound.verify(1).mismatches == []
        assert bound.account(1).timezone == ZONE
        bound.enable_read_path(1)
        day = events[0].created_at.date()
        summary = bound.reports.summary(1, "agent", since=day, until=day)
        assert summary.source == "rollups"  # read from rollups, in the host's transaction
        assert summary.rows
        assert rollups.events(range(1, 11)) == []


def test_an_error_leaves_the_host_transaction_usable(host: Host, rollups: Rollups) -> None:
    """A refused call rolls back to its savepoint only: the host's write and the earlier call
    stay in its transaction, which it can go on with and commit."""
    first = _events(1, 5)
    rollups.record([event(100, "reply_time", value=1.0)])  # stored with other content
    with host.transaction() as connection:
        host.write_note(connection, 1)
        bound = rollups.using(connection)
        bound.record(first)
        with pytest.raises(EventConflictError):
            bound.record([*_events(6, 3), event(100, "reply_time", value=2.0)])
        host.write_note(connection, 2)  # the transaction is not failed
        bound.record(_events(6, 3))
    assert host.notes() == [1, 2]
    expected = [event(100, "reply_time", value=1.0), *first, *_events(6, 3)]
    assert rollups.events(range(1, 101)) == sorted(expected, key=lambda e: e.id)
    assert row_map(rollups.rows(1)) == _reference(expected)


def test_set_timezone_without_the_rebuild_commits_with_the_host(
    host: Host, rollups: Rollups
) -> None:
    rollups.record(_events(1, 5))
    with host.transaction() as connection:
        bound = rollups.using(connection)
        with pytest.raises(ConfigurationError, match="rebuild=False"):
            bound.set_timezone(1, "Asia/Tokyo", rebuild=True)
        bound.set_timezone(1, "Asia/Tokyo")
        assert bound.account(1).timezone == "Asia/Tokyo"
        assert rollups.account(1).timezone == ZONE
    assert rollups.account(1).timezone == "Asia/Tokyo"
    rollups.rebuild(1)
    assert rollups.verify(1).mismatches == []


def test_using_needs_an_open_transaction(host: Host, rollups: Rollups) -> None:
    if host.engine is not None:
        with (
            host.engine.connect() as connection,  # nothing run yet: no transaction
            pytest.raises(ConfigurationError, match="no open transaction"),
        ):
            rollups.using(connection).record(_events(1, 1))
    else:
        with (
            psycopg.connect(host.url, autocommit=True) as connection,
            pytest.raises(ConfigurationError, match="autocommit"),
        ):
            rollups.using(connection).record(_events(1, 1))
        with psycopg.connect(host.url) as connection:
            with pytest.raises(psycopg.errors.DivisionByZero):
                connection.execute("SELECT 1 / 0")
            with pytest.raises(ConfigurationError, match="has failed; roll it back"):
                rollups.using(connection).record(_events(1, 1))
    assert rollups.events([1]) == []


@pytest.mark.parametrize("thing", [object(), "postgresql://x/y", None])
def test_using_refuses_what_is_no_connection(rollups: Rollups, thing: object) -> None:
    with pytest.raises(ConfigurationError, match="using\\(\\) takes the host's open connection"):
        rollups.using(thing)


def test_memory_rollups_have_no_connection_to_share() -> None:
    with open_rollups("memory://") as memory, pytest.raises(ConfigurationError, match="memory"):
        memory.using(object())


@pytest.mark.postgres
def test_a_sqlite_connection_is_refused_by_postgres_rollups(
    database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with (
        open_rollups(database_url) as rollups,
        engine.begin() as connection,
        pytest.raises(ConfigurationError, match="sqlite\\+pysqlite, but these rollups"),
    ):
        rollups.using(connection).record(_events(1, 1))
    engine.dispose()


AT = "2026-11-20 12:00:00"


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["sqlalchemy", "psycopg"])
def test_the_host_s_later_writes_in_the_same_transaction_are_still_captured(
    postgres_server_url: str, kind: str
) -> None:
    """The library's writing statements mark the transaction as theirs for change capture;
    on the host's connection that mark ends with each call, so a raw row the host inserts
    after it, in the same transaction, is logged and `sync` applies it."""
    with postgres_host(postgres_server_url) as url:
        engine = create_engine(_sqlalchemy_url(url)) if kind == "sqlalchemy" else None
        found = Host(kind, url, engine)
        with open_rollups(url, clock=fixed_clock) as rollups:
            rollups.set_timezone(1, ZONE)
            rollups.capture.install()
            with found.transaction() as connection:
                rollups.using(connection).record(_events(1, 3))
                insert = (
                    "INSERT INTO reporting_events (id, name, value, account_id, created_at, "
                    f"updated_at) VALUES (50, 'reply_time', 7, 1, '{AT}', '{AT}')"
                )
                connection.execute(text(insert) if engine is not None else insert)
            assert rollups.sync().applied == 1
            expected = [*_events(1, 3), event(50, "reply_time", value=7.0)]
            assert row_map(rollups.rows(1)) == _reference(expected)
            assert rollups.verify(1).mismatches == []
            # a pass of sync in the host's transaction applies that transaction's own changes
            with found.transaction() as connection:
                insert = insert.replace("(50, ", "(51, ")
                connection.execute(text(insert) if engine is not None else insert)
                assert rollups.using(connection).sync().applied == 1
                assert rollups.using(connection).verify(1).mismatches == []
            expected.append(event(51, "reply_time", value=7.0))
            assert row_map(rollups.rows(1)) == _reference(expected)
            assert rollups.capture.status().pending == 0
        if engine is not None:
            engine.dispose()


def test_open_rollups_on_the_host_s_engine_uses_its_pool(host: Host) -> None:
    """`open_rollups(engine=)`: the library's units of work (and, on PostgreSQL, its one-call
    path) run on connections of the host's pool; closing the rollups leaves the engine alone.
    (Without an engine of the host's fixture, one whose every connection is new: each must be
    readied for the library's statements.)"""
    engine = host.engine or create_engine(_sqlalchemy_url(host.url), poolclass=NullPool)
    events = _events(1, 6)
    with open_rollups(engine=engine, clock=fixed_clock) as rollups:
        assert rollups.uow_factory.engine is engine  # type: ignore[attr-defined]
        rollups.set_timezone(1, ZONE)
        for single in events[:3]:
            rollups.record([single])  # one event per call: PostgreSQL's one-call path
        rollups.record(events[3:])
        with engine.begin() as connection:
            rollups.using(connection).retract([2])
        assert row_map(rollups.rows(1)) == _reference([e for e in events if e.id != 2])
        assert rollups.verify(1).mismatches == []
    with engine.connect() as connection:  # still open, still pooled
        assert connection.execute(text("SELECT count(*) FROM reporting_events")).scalar() == 5
    if host.engine is not None:
        assert engine.pool.checkedin() >= 1
    if host.engine is None:
        engine.dispose()


def test_open_rollups_takes_a_url_or_an_engine(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'e.db'}")
    with pytest.raises(ConfigurationError, match="not both"):
        open_rollups(f"sqlite:///{tmp_path / 'e.db'}", engine=engine)
    with pytest.raises(ConfigurationError, match="engine= takes the host's SQLAlchemy Engine"):
        open_rollups(engine="sqlite:///x.db")  # type: ignore[arg-type]
    engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_readme_example_runs(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The README's block, on a database with the host's `conversations` table: the update and
    the record commit together; on PostgreSQL the psycopg transaction then takes both back."""
    url = (
        f"sqlite:///{tmp_path / 'readme.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("database_url")
    )
    host_url = _sqlalchemy_url(url)
    setup = create_engine(host_url)
    with setup.begin() as connection:
        connection.execute(text("CREATE TABLE conversations (id INTEGER PRIMARY KEY, status INT)"))
        connection.execute(text("INSERT INTO conversations VALUES (555, 0)"))
    events = [event(1001, "conversation_resolved", account_id=42, value=5400.0, user_id=7)]
    exec(
        readme_block("tests/integration/test_host_transaction.py"),
        {"host_url": host_url, "psycopg_url": url, "events": events},
    )
    with open_rollups(url, clock=fixed_clock) as rollups, setup.connect() as connection:
        status = connection.execute(text("SELECT status FROM conversations")).scalar()
        if backend == "sqlite":
            assert status == 1
            assert rollups.events([1001]) == events
            assert rollups.rows(42)
        else:  # the psycopg block set it back and retracted the event, together
            assert status == 0
            assert rollups.events([1001]) == []
            assert all(row.value.count == 0 for row in rollups.rows(42))
        assert rollups.verify(42).mismatches == []
    setup.dispose()


@pytest.mark.citus
def test_the_host_transaction_on_a_distributed_database(citus_url: str) -> None:
    """On Citus the bound view routes as `Rollups` does (one account per statement): the host's
    commit keeps the rollups, its rollback takes them back."""
    empty_database(citus_url)
    engine = create_engine(_sqlalchemy_url(citus_url))
    events = _events(1, 10)
    try:
        with open_rollups(citus_url, clock=fixed_clock) as rollups:
            assert rollups.uow_factory.distributed  # type: ignore[attr-defined]
            rollups.set_timezone(1, ZONE)

            def host_request() -> None:
                with engine.begin() as connection:
                    rollups.using(connection).record(events)
                    raise RuntimeError("the host rolls back")

            with pytest.raises(RuntimeError):
                host_request()
            assert rollups.events(range(1, 11)) == []
            with engine.begin() as connection:
                bound = rollups.using(connection)
                bound.record(events)
                bound.retract([2], account_id=1)
            kept = [e for e in events if e.id != 2]
            assert row_map(rollups.rows(1)) == _reference(kept)
            assert rollups.verify(1).mismatches == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_views_on_two_connections_stay_bound_to_their_own(database_url: str) -> None:
    """Views are built by one re-wired container: each keeps the connection it was given
    (interleaved calls on two open host transactions, one committed, one rolled back; of two
    accounts, since a transaction holds the rows it upserted until it ends)."""
    engine = create_engine(_sqlalchemy_url(database_url))
    other = [attrs.evolve(e, account_id=2) for e in _events(10, 3)]
    try:
        with open_rollups(database_url, clock=fixed_clock) as rollups:
            rollups.set_timezone(1, ZONE)
            rollups.set_timezone(2, ZONE)
            with engine.connect() as first, engine.connect() as second:
                first.begin()
                second.begin()
                kept, dropped = rollups.using(first), rollups.using(second)
                kept.record(_events(1, 3))
                dropped.record(other)
                kept.record(_events(4, 2))
                first.commit()
                second.rollback()
            assert [e.id for e in rollups.events(range(1, 20))] == [1, 2, 3, 4, 5]
            assert row_map(rollups.rows(1)) == _reference(_events(1, 5))
            assert rollups.rows(2) == []
    finally:
        engine.dispose()
