"""Every backend satisfies the application's ports: checked by mypy (`mypy --strict`), never run.

Each backend's unit-of-work factory and unit of work are passed as the port types; the unit of
work's stores are protocol members, so a store method whose signature or result drifts from its
port fails the type check here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reporting_rollups.adapters.memory import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory
    from reporting_rollups.adapters.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory
    from reporting_rollups.adapters.sqlite import SQLiteUnitOfWork, SQLiteUnitOfWorkFactory
    from reporting_rollups.application.ports import UnitOfWork, UnitOfWorkFactory

    def backend(factory: UnitOfWorkFactory, uow: UnitOfWork) -> None:
        """What every backend must be."""

    def memory(factory: InMemoryUnitOfWorkFactory, uow: InMemoryUnitOfWork) -> None:
        backend(factory, uow)

    def sqlite(factory: SQLiteUnitOfWorkFactory, uow: SQLiteUnitOfWork) -> None:
        backend(factory, uow)

    def postgres(factory: PostgresUnitOfWorkFactory, uow: PostgresUnitOfWork) -> None:
        backend(factory, uow)
