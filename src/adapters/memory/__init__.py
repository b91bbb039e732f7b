"""In-memory adapter: every port, with a database's transactional behaviour.

One `InMemoryDatabase` holds the state; a unit of work takes its lock for its whole life (writers
are serialised, as on SQLite) and journals every change, so that leaving it without `commit()`
undoes everything it did. One module per port; `unit_of_work` ties the stores together.
"""

from __future__ import annotations

from reporting_rollups.adapters.memory.accounts import InMemoryAccountStore
from reporting_rollups.adapters.memory.database import InMemoryDatabase
from reporting_rollups.adapters.memory.events import InMemoryEventStore
from reporting_rollups.adapters.memory.ledger import InMemoryAppliedLedger
from reporting_rollups.adapters.memory.reports import InMemoryReportStore
from reporting_rollups.adapters.memory.rollups import InMemoryRollupStore
from reporting_rollups.adapters.memory.unit_of_work import (
    InMemoryUnitOfWork,
    InMemoryUnitOfWorkFactory,
)

__all__ = [
    "InMemoryAccountStore",
    "InMemoryAppliedLedger",
    "InMemoryDatabase",
    "InMemoryEventStore",
    "InMemoryReportStore",
    "InMemoryRollupStore",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
]
