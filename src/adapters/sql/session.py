"""One SQL unit of work's connection and transaction (`SqlSession`): the one choke point through
which every statement of the SQL backends runs, so that every driver error becomes a library
error (`adapters.sql.errors.ErrorTranslator`) naming the database and what was being done.

Stores never hold the connection: they call the session, whose methods fetch every row before
returning (rows are read inside the translation, so an error while fetching is translated too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Row
from sqlalchemy.sql.expression import Executable

from reporting_rollups.adapters.clock import system_clock
from reporting_rollups.adapters.sql.aggregation import naive_utc
from reporting_rollups.adapters.sql.errors import ErrorTranslator
from reporting_rollups.domain.errors import RollupError, StorageError

R = TypeVar("R")

#: Execution option of a read-only session's connection; the SQLite engine's begin hook reads
#: it to open a read transaction instead of taking the write lock.
READ_ONLY_OPTION: Final = "reporting_rollups_read_only"


class SqlSession:
    """The connection of one unit of work, in its transaction; rolled back at `close` unless
    `commit()` was called. A read-only one opens its connection with `READ_ONLY_OPTION`, runs
    `read_only_begin` (if any) first in its transaction, and cannot commit.

    Every method that runs SQL takes `doing` (what the statement is for, as in "storing raw
    events"): the message of a translated error says it.
    """

    def __init__(
        self,
        engine: Engine,
        errors: ErrorTranslator,
        *,
        read_only: bool = False,
        read_only_begin: str | None = None,
        ready: Callable[[Any, bool], None] | None = None,
    ) -> None:
        self.engine = engine
        self.errors = errors
        self.read_only = read_only
        self._read_only_begin = read_only_begin
        self._ready = ready
        self._connection: Connection | None = None
        self._now: datetime | None = None

    # --- the transaction ------------------------------------------------------------------------

    def open(self) -> None:
        """Check a connection out of the pool and begin the transaction."""
        with self.errors("opening a transaction"):
            connection = self.engine.connect()
            try:
                if self.read_only:
                    connection.execution_options(**{READ_ONLY_OPTION: True})
                connection.begin()
                if self._ready is not None:
                    self._ready(connection.connection.dbapi_connection, self.read_only)
                if self.read_only and self._read_only_begin is not None:
                    connection.exec_driver_sql(self._read_only_begin)
            except BaseException:
                connection.close()
                raise
        self._connection = connection

    def close(self, failed: bool) -> None:
        """Roll back what was not committed and return the connection to the pool. A failed
        rollback after another error (`failed`) is not raised: the first error says more."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            with self.errors("rolling back"):
                try:
                    if connection.in_transaction():
                        connection.rollback()
                finally:
                    connection.close()
        except RollupError:
            if not failed:
                raise

    def commit(self) -> None:
        """Commit the transaction."""
        connection = self.writable()
        with self.errors("committing"):
            connection.commit()

    def writable(self) -> Connection:
        """The open connection of a unit of work that may write (`StorageError` for a
        read-only one: it must not commit)."""
        connection = self.connection
        if self.read_only:
            raise StorageError("commit() of a read-only unit of work: it must not write")
        return connection

    @property
    def connection(self) -> Connection:
        """The open connection (`StorageError` outside the unit of work's `with` block)."""
        if self._connection is None:
            raise StorageError("the unit of work is used outside its `with` block")
        return self._connection

    @property
    def dialect(self) -> Dialect:
        """The SQLAlchemy dialect of the connection."""
        return self.engine.dialect

    def now(self) -> datetime:
        """The naive UTC time written to created_at/updated_at by this unit of work."""
        if self._now is None:
            self._now = naive_utc(system_clock())
        return self._now

    # --- statements -----------------------------------------------------------------------------

    def execute(
        self,
        statement: Executable,
        params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        doing: str,
    ) -> None:
        """Run a statement whose rows (if any) are not needed."""
        with self.errors(doing):
            self.connection.execute(statement, params)

    def rows(
        self,
        statement: Executable,
        params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        doing: str,
    ) -> list[Row[Any]]:
        """Every row a statement returns."""
        with self.errors(doing):
            return list(self.connection.execute(statement, params).all())

    def one(self, statement: Executable, *, doing: str) -> tuple[Any, ...]:
        """The values of the one row a statement returns."""
        with self.errors(doing):
            return tuple(self.connection.execute(statement).one())

    def driver(self, work: Callable[[Any], R], *, doing: str) -> R:
        """`work(dbapi_connection)`: hand-written SQL on the DB-API connection under this
        session (same transaction), for the hot paths; `work` fetches what it needs. (Under
        SQLAlchemy's asyncio engine this is its adapted connection, whose calls the greenlet
        bridge awaits: `work` uses DB-API calls only.)"""
        with self.errors(doing):
            return work(self.connection.connection.dbapi_connection)
