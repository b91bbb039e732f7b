"""What the SQL backends' units of work and factories share: the transaction shell around a
`SqlSession` (`SqlTransaction`), and the factory over one `SqlDatabase`. Each backend's unit of
work adds its own stores and cross-store operations; nothing here is overridden."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from sqlalchemy import Connection, Engine

from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.adapters.sql.host import Finish, HostConnection, HostDatabase
from reporting_rollups.domain.errors import ConfigurationError


class SqlTransaction:
    """One database transaction (a `SqlSession`), opened by `with` and rolled back at its end
    unless `commit()` was called; a read-only one cannot commit."""

    def __init__(self, database: SqlDatabase, *, read_only: bool = False) -> None:
        self.session = database.session(read_only=read_only)

    def __enter__(self) -> Self:
        self.session.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.session.close(failed=exc is not None)

    def commit(self) -> None:
        """Commit the transaction."""
        self.session.commit()


U = TypeVar("U", bound=SqlTransaction)


class SqlUnitOfWorkFactory(Generic[U]):
    """Opens units of work (`unit_of_work(database, read_only=...)`) on one SQL database."""

    def __init__(self, database: SqlDatabase, unit_of_work: Callable[..., U]) -> None:
        self.database = database
        self._unit_of_work = unit_of_work

    def __call__(self, *, read_only: bool = False) -> U:
        return self._unit_of_work(self.database, read_only=read_only)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.database.errors.where})"

    @property
    def engine(self) -> Engine:
        """The engine (and pool) of the database."""
        return self.database.engine

    def migrate(self) -> None:
        """Create or upgrade the library's schema (idempotent)."""
        self.database.migrate()

    def check_schema(self) -> None:
        """`StorageError` unless the schema is current ("run `rollups migrate`")."""
        self.database.check_schema()

    def close(self) -> None:
        """Close the pool's connections."""
        self.database.close()

    def bound_to(self, connection: object) -> Self:
        """Units of work inside the transaction the host has open on `connection`, each a
        savepoint (`adapters.sql.host`); `ConfigurationError` for a connection this backend
        cannot use."""
        host, finish = self._host_connection(connection)
        database = HostDatabase(self.engine, self.database.errors, host=host, finish=finish)
        return self._on(database)

    def _on(self, database: SqlDatabase) -> Self:
        """This factory on another way to its database (a backend copies its own settings)."""
        return type(self)(database, self._unit_of_work)

    def _host_connection(self, connection: object) -> tuple[HostConnection, Finish | None]:
        """The backend's `HostConnection` for `connection`, and what ends a committed unit."""
        raise ConfigurationError(not_a_connection(connection, "a SQLAlchemy Connection"))


def not_a_connection(connection: Any, expected: str) -> str:
    """The message for `using()` of an object that is no connection this backend can use."""
    kind = type(connection)
    return (
        f"using() takes the host's open connection ({expected}), not "
        f"{kind.__module__}.{kind.__qualname__}"
    )


def host_sqlalchemy_connection(connection: object) -> Connection | None:
    """`connection` if it is a SQLAlchemy `Connection`."""
    return connection if isinstance(connection, Connection) else None
