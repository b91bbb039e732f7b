"""SQLite units of work (serialised writers, WAL readers) and their factory."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Self

from sqlalchemy import Engine
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from reporting_rollups.adapters.job_locks import FileJobLocks, InProcessJobLocks
from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.adapters.sql.errors import ErrorTranslator
from reporting_rollups.adapters.sql.host import Finish, HostConnection, SqlAlchemyHost
from reporting_rollups.adapters.sql.jobs import SqlJobStore
from reporting_rollups.adapters.sql.reports import SqlReportStore
from reporting_rollups.adapters.sql.retention import SqlRetentionStore
from reporting_rollups.adapters.sql.status import SqlStatusStore
from reporting_rollups.adapters.sql.unit_of_work import (
    SqlTransaction,
    SqlUnitOfWorkFactory,
    host_sqlalchemy_connection,
    not_a_connection,
)
from reporting_rollups.adapters.sqlite.accounts import SQLiteAccountStore
from reporting_rollups.adapters.sqlite.capture import SQLiteCapture
from reporting_rollups.adapters.sqlite.changes import SQLiteChangeLog
from reporting_rollups.adapters.sqlite.driver import stored_time
from reporting_rollups.adapters.sqlite.engine import (
    DEFAULT_BUSY_TIMEOUT_MS,
    begin_in_database,
    explain_sqlite,
    sqlite_engine,
    sqlite_errors,
    sqlite_path,
)
from reporting_rollups.adapters.sqlite.events import SQLiteEventStore, unlogged
from reporting_rollups.adapters.sqlite.ledger import SQLiteAppliedLedger
from reporting_rollups.adapters.sqlite.rebuild import rebuild_days
from reporting_rollups.adapters.sqlite.rollups import SQLiteRollupStore
from reporting_rollups.application.ports import (
    ChangesArrived,
    RebuildStats,
    StoredBatch,
    store_stepwise,
)
from reporting_rollups.domain.errors import ConfigurationError, StorageError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.timezones import LocalDay


class SQLiteUnitOfWork(SqlTransaction):
    """One SQLite transaction over every store; rolled back unless `commit()` was called."""

    def __init__(self, database: SqlDatabase, *, read_only: bool = False) -> None:
        super().__init__(database, read_only=read_only)
        session = self.session
        self.events: Final = SQLiteEventStore(session)
        self.ledger: Final = SQLiteAppliedLedger(session)
        self.rollups: Final = SQLiteRollupStore(session)
        self.accounts: Final = SQLiteAccountStore(session)
        self.reports: Final = SqlReportStore(session)
        self.changes: Final = SQLiteChangeLog(session)
        self.status: Final = SqlStatusStore(session)
        self.retention: Final = SqlRetentionStore(session, sqlite_insert, unlogged)
        self.jobs: Final = SqlJobStore(session, sqlite_insert)

    def store_batch(self, events: Sequence[Event]) -> StoredBatch:
        """One step per store (writers are serialised: each step is cheap and exact)."""
        return store_stepwise(events, self.accounts, self.events, self.ledger)

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        """See `adapters.sqlite.rebuild`."""
        if not days:
            return RebuildStats(0, 0)
        now = stored_time(self.session.now())

        if self.changes.pending(account_id)[0]:  # writers are serialised: only if not applied
            raise ChangesArrived(account_id)

        def rebuild(connection: sqlite3.Connection) -> RebuildStats:
            return rebuild_days(connection.cursor(), account_id, days, now)

        return self.session.driver(rebuild, doing="rebuilding rollup days")


class SQLiteUnitOfWorkFactory(SqlUnitOfWorkFactory[SQLiteUnitOfWork]):
    """Units of work on an SQLite file."""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        migrate: bool = True,
        reference_indexes: bool = False,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> Self:
        """Open ``sqlite:///path``: create or upgrade the schema (`migrate`), or check that it is
        current. The file is created when missing; its directory must exist."""
        path = sqlite_path(url)
        directory = Path(path).expanduser().resolve().parent
        if not directory.is_dir():
            raise StorageError(
                f"SQLite database {path}: the directory {directory} does not exist; create it "
                "or fix the URL"
            )
        database = SqlDatabase(sqlite_engine(url, busy_timeout_ms), sqlite_errors(url))
        database.prepare(migrate=migrate, reference_indexes=reference_indexes)
        return cls(database, SQLiteUnitOfWork)

    @classmethod
    def from_engine(
        cls, engine: Engine, *, migrate: bool = True, reference_indexes: bool = False
    ) -> Self:
        """`from_url` on the host's own SQLAlchemy engine and its pool: the library adds no
        hook to it and never disposes of it. Each unit of work begins its transaction in the
        database itself (`BEGIN IMMEDIATE` to write); the connections keep the host's pragmas
        (busy timeout, journal mode)."""
        where = f"SQLite database {engine.url.database}"
        database = SqlDatabase(
            engine,
            ErrorTranslator(where, explain_sqlite),
            ready=begin_in_database,
            owned=False,
        )
        database.prepare(migrate=migrate, reference_indexes=reference_indexes)
        return cls(database, SQLiteUnitOfWork)

    def _host_connection(self, connection: object) -> tuple[HostConnection, Finish | None]:
        host = host_sqlalchemy_connection(connection)
        if host is None:
            raise ConfigurationError(not_a_connection(connection, "a SQLAlchemy Connection"))
        # The host's transaction begins in the database if it has not yet (pysqlite defers
        # BEGIN to the first write): then the savepoints nest in it.
        return SqlAlchemyHost(host, "sqlite", "pysqlite", begin_in_database), None

    @functools.cached_property
    def job_locks(self) -> FileJobLocks | InProcessJobLocks:
        """Who runs a fleet job: locks of files beside the database file (an in-memory
        database: the threads of this process)."""
        path = self.engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return InProcessJobLocks()
        return FileJobLocks(Path(path).expanduser().resolve())

    @property
    def capture(self) -> SQLiteCapture:
        """Change capture on this database's `reporting_events`."""
        return SQLiteCapture(self.database)
