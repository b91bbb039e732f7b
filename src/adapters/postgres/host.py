"""The host's connection on PostgreSQL (`Rollups.using`): a SQLAlchemy `Connection` of the
host's engine, or a bare psycopg 3 connection, which SQLAlchemy is lent for each unit of work.

A bare connection reaches SQLAlchemy through an engine of the factory's own (`borrowing_engine`)
whose pool creates nothing: it hands out the connection being lent (`PsycopgHost`), through a
dialect whose commit, rollback and close of it do nothing (`LentDialect`). The transaction and
the connection stay the host's; the savepoints of `adapters.sql.host` are the library's.
"""

from __future__ import annotations

import contextvars
from typing import Any, Final

import attrs
import psycopg
from psycopg import pq
from psycopg.rows import tuple_row
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.pool import NullPool

from reporting_rollups.adapters.postgres.arrays import register_array_dumpers
from reporting_rollups.adapters.sql.capture import ORIGIN_SETTING
from reporting_rollups.domain.errors import ConfigurationError

#: Clears the transaction-local origin the library's writing statements set, so the capture
#: triggers log the host's own later writes in the same transaction.
RESET_ORIGIN: Final = f"SELECT set_config('{ORIGIN_SETTING}', '', true)"

#: The psycopg connection being lent to SQLAlchemy in this context.
_LENT: contextvars.ContextVar[psycopg.Connection[Any] | None] = contextvars.ContextVar(
    "reporting_rollups_lent_connection", default=None
)


def reset_origin(connection: Connection) -> None:
    """`adapters.sql.host.Finish` on PostgreSQL."""
    connection.exec_driver_sql(RESET_ORIGIN)


def prepare(dbapi_connection: Any, _read_only: bool) -> None:
    """`adapters.sql.host.Prepare` on PostgreSQL: the library's array dumpers on the host's
    connection (they dump only the library's own array classes)."""
    register_array_dumpers(dbapi_connection)


class LentDialect(PGDialect_psycopg):
    """psycopg's dialect for a connection lent by the host: SQLAlchemy's commit, rollback and
    close of it do nothing (the transaction and the connection are the host's), and connecting
    changes nothing on it (no notice handler, no hstore adapter)."""

    supports_statement_cache = True

    def do_commit(self, dbapi_connection: Any) -> None:
        return None

    def do_rollback(self, dbapi_connection: Any) -> None:
        return None

    def do_close(self, dbapi_connection: Any) -> None:
        return None

    def on_connect(self) -> None:
        return None


registry.register("postgresql.reporting_rollups_lent", __name__, "LentDialect")


def _lent_connection() -> psycopg.Connection[Any]:
    connection = _LENT.get()
    if connection is None:  # pragma: no cover - only `PsycopgHost.checkout` connects
        raise RuntimeError("the borrowing engine connects only while a connection is lent")
    return connection


def borrowing_engine() -> Engine:
    """An engine whose every connection is the psycopg connection being lent (`PsycopgHost`),
    through `LentDialect`."""
    engine = create_engine(
        "postgresql+reporting_rollups_lent://",
        creator=_lent_connection,
        poolclass=NullPool,
        hide_parameters=True,
        use_native_hstore=False,
    )
    event.listen(engine, "connect", lambda dbapi, _record: prepare(dbapi, False))
    return engine


def _check_usable(connection: psycopg.Connection[Any]) -> None:
    if connection.closed:
        raise ConfigurationError("using(): the psycopg connection is closed")
    status = connection.info.transaction_status
    if status == pq.TransactionStatus.INERROR:
        raise ConfigurationError(
            "using(): the host's transaction has failed; roll it back (nothing more can run in it)"
        )
    if status == pq.TransactionStatus.ACTIVE:
        raise ConfigurationError("using(): the psycopg connection is running a statement")
    if status == pq.TransactionStatus.IDLE and connection.autocommit:
        raise ConfigurationError(
            "using(): the psycopg connection is in autocommit mode outside a transaction, so "
            "every statement would commit on its own; open one first (with "
            "conn.transaction(): ...)"
        )


@attrs.frozen
class PsycopgHost:
    """`adapters.sql.host.HostConnection` for a bare psycopg 3 connection: lent to `engine` (a
    `borrowing_engine`) for each unit of work. Outside an explicit transaction block (not in
    autocommit mode) the library's first statement begins psycopg's implicit transaction, which
    the host then commits or rolls back, as with its own statements."""

    connection: psycopg.Connection[Any]
    engine: Engine

    #: the host's row factory, while the connection is lent (the library reads tuples)
    _row_factories: list[Any] = attrs.field(factory=list, init=False)

    def checkout(self, *, read_only: bool) -> Connection:
        _check_usable(self.connection)
        token = _LENT.set(self.connection)
        try:
            borrowed = self.engine.connect()
        finally:
            _LENT.reset(token)
        borrowed.begin()  # SQLAlchemy's view of the host's transaction: no statement is sent
        self._row_factories.append(self.connection.row_factory)
        self.connection.row_factory = tuple_row
        return borrowed

    def release(self, connection: Connection) -> None:
        try:
            connection.close()  # commits, rolls back and closes nothing (`LentDialect`)
        finally:
            self.connection.row_factory = self._row_factories.pop()
