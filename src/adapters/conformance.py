"""Every backend satisfies the application's ports: checked by mypy (`mypy --strict`), never run.

Each function assigns a backend's unit-of-work factory, unit of work and stores to the port types;
a method whose signature or result drifts from its port fails the type check here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reporting_rollups.adapters.memory import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory
    from reporting_rollups.adapters.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory
    from reporting_rollups.adapters.sql import SqlUnitOfWork
    from reporting_rollups.adapters.sqlite import SQLiteUnitOfWorkFactory
    from reporting_rollups.application import ports

    def memory(factory: InMemoryUnitOfWorkFactory, uow: InMemoryUnitOfWork) -> None:
        """The in-memory backend."""
        _factory: ports.UnitOfWorkFactory = factory
        _uow: ports.UnitOfWork = uow
        _events: ports.EventStore = uow.events
        _ledger: ports.AppliedLedger = uow.ledger
        _rollups: ports.RollupStore = uow.rollups
        _accounts: ports.AccountStore = uow.accounts
        _reports: ports.ReportStore = uow.reports

    def sqlite(factory: SQLiteUnitOfWorkFactory, uow: SqlUnitOfWork) -> None:
        """The SQLite backend (the generic SQL unit of work with SQLite's stores)."""
        _factory: ports.UnitOfWorkFactory = factory
        _uow: ports.UnitOfWork = uow
        _events: ports.EventStore = uow.events
        _ledger: ports.AppliedLedger = uow.ledger
        _rollups: ports.RollupStore = uow.rollups
        _accounts: ports.AccountStore = uow.accounts
        _reports: ports.ReportStore = uow.reports

    def postgres(factory: PostgresUnitOfWorkFactory, uow: PostgresUnitOfWork) -> None:
        """The PostgreSQL backend."""
        _factory: ports.UnitOfWorkFactory = factory
        _uow: ports.UnitOfWork = uow
        _events: ports.EventStore = uow.events
        _ledger: ports.AppliedLedger = uow.ledger
        _rollups: ports.RollupStore = uow.rollups
        _accounts: ports.AccountStore = uow.accounts
        _reports: ports.ReportStore = uow.reports
