"""What the SQL backends' units of work and factories share: the transaction shell around a
`SqlSession` (`SqlTransaction`), and the factory over one `SqlDatabase`. Each backend's unit of
work adds its own stores and cross-store operations; nothing here is overridden."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

from sqlalchemy import Engine

from reporting_rollups.adapters.sql.database import SqlDatabase


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
