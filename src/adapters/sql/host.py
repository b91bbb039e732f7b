"""Units of work inside a transaction the host has open (`Rollups.using(connection)`).

Each unit of work is a SAVEPOINT on the host's connection: committing it releases the savepoint,
anything else rolls back to it. The library never commits or rolls back the host's transaction,
and an error leaves that transaction usable (PostgreSQL's failed state ends at the rollback to
the savepoint), so the host decides what happens to its writes and the library's together.
Locks the library takes are held until the host's transaction ends.

`HostConnection` is how a backend hands the host's connection out as a SQLAlchemy `Connection`:
`SqlAlchemyHost` for a host's own SQLAlchemy `Connection`, `adapters.postgres.host` for a bare
psycopg 3 connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs
from sqlalchemy import Connection, NestedTransaction

from reporting_rollups.adapters.sql.database import Prepare, SqlDatabase
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.domain.errors import ConfigurationError, RollupError


def _nothing(_dbapi_connection: Any, _read_only: bool) -> None:
    return None


class HostConnection(Protocol):
    """The host's connection, in its open transaction, for the library's units of work."""

    def checkout(self, *, read_only: bool) -> Connection:
        """The connection as a SQLAlchemy `Connection` inside the host's open transaction
        (`ConfigurationError` when none is open or it cannot be used)."""
        ...

    def release(self, connection: Connection) -> None:
        """Give back what `checkout` returned (the host's connection itself stays open)."""
        ...


@attrs.frozen
class SqlAlchemyHost:
    """A host's SQLAlchemy `Connection` (its engine's dialect the library's backend)."""

    connection: Connection
    backend: str  #: the dialect name the library's stores speak ("postgresql", "sqlite")
    driver: str  #: the DB-API driver they use ("psycopg", "pysqlite")
    prepare: Prepare = _nothing

    def checkout(self, *, read_only: bool) -> Connection:
        connection = self.connection
        dialect = connection.dialect
        if (dialect.name, dialect.driver) != (self.backend, self.driver):
            raise ConfigurationError(
                f"using(): the connection is {dialect.name}+{dialect.driver}, but these rollups "
                f"are on {self.backend}+{self.driver}; pass a connection to the same database"
            )
        if connection.closed or not connection.in_transaction():
            raise ConfigurationError(
                "using(): the host's connection has no open transaction; open one first "
                "(with engine.begin() as conn: ...), so that its writes and the rollups commit "
                "or roll back together"
            )
        self.prepare(connection.connection.dbapi_connection, read_only)
        return connection

    def release(self, connection: Connection) -> None:
        return None


#: Run before a committed unit of work's savepoint is released (PostgreSQL: the transaction-local
#: origin setting of change capture reset, so that the host's later writes are captured).
Finish = Callable[[Connection], None]


@attrs.frozen
class HostDatabase(SqlDatabase):
    """The library's database reached through the host's connection: sessions are savepoints
    in the host's transaction. Closing it leaves the host's engine and connection alone."""

    host: HostConnection | None = None
    finish: Finish | None = None
    owned: bool = False

    def session(self, *, read_only: bool = False) -> SqlSession:
        assert self.host is not None
        return HostSession(self, self.host, read_only=read_only)


class HostSession(SqlSession):
    """One unit of work as a SAVEPOINT in the host's transaction (see the module). A read-only
    one reads in the host's transaction, so it sees the host's uncommitted writes."""

    def __init__(self, database: HostDatabase, host: HostConnection, *, read_only: bool) -> None:
        super().__init__(database.engine, database.errors, read_only=read_only)
        self._host = host
        self._finish = database.finish
        self._savepoint: NestedTransaction | None = None

    def open(self) -> None:
        connection = self._host.checkout(read_only=self.read_only)
        try:
            with self.errors("opening a savepoint in the host's transaction"):
                self._savepoint = connection.begin_nested()
        except BaseException:
            self._host.release(connection)
            raise
        self._connection = connection

    def close(self, failed: bool) -> None:
        connection, self._connection = self._connection, None
        savepoint, self._savepoint = self._savepoint, None
        if connection is None:
            return
        try:
            with self.errors("rolling back to the savepoint in the host's transaction"):
                if savepoint is not None and savepoint.is_active:
                    savepoint.rollback()
        except RollupError:
            if not failed:
                raise
        finally:
            self._host.release(connection)

    def commit(self) -> None:
        """Release the savepoint: the work becomes part of the host's transaction, which the
        host commits (or rolls back)."""
        connection = self.writable()
        assert self._savepoint is not None
        with self.errors("releasing the savepoint in the host's transaction"):
            if self._finish is not None:
                self._finish(connection)
            self._savepoint.commit()
