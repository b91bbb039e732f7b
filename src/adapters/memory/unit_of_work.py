"""The in-memory `UnitOfWork` and its factory."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

import attrs

from reporting_rollups.adapters.job_locks import InProcessJobLocks
from reporting_rollups.adapters.memory.accounts import InMemoryAccountStore
from reporting_rollups.adapters.memory.changes import InMemoryChangeLog
from reporting_rollups.adapters.memory.database import InMemoryDatabase
from reporting_rollups.adapters.memory.events import InMemoryEventStore
from reporting_rollups.adapters.memory.jobs import InMemoryJobStore
from reporting_rollups.adapters.memory.journal import Journal
from reporting_rollups.adapters.memory.ledger import InMemoryAppliedLedger
from reporting_rollups.adapters.memory.reports import InMemoryReportStore
from reporting_rollups.adapters.memory.retention import InMemoryRetentionStore
from reporting_rollups.adapters.memory.rollups import InMemoryRollupStore
from reporting_rollups.adapters.memory.status import InMemoryStatusStore
from reporting_rollups.application.ports import (
    RebuildStats,
    StoredBatch,
    UnavailableCapture,
    applied_refs,
    store_stepwise,
)
from reporting_rollups.domain.errors import StorageError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.projection import project
from reporting_rollups.domain.timezones import LocalDay


class InMemoryUnitOfWork:
    """One 'transaction' on an `InMemoryDatabase`: serialised, undone unless committed. A
    read-only one (which takes the same lock: a consistent view) cannot commit."""

    def __init__(self, db: InMemoryDatabase, *, read_only: bool = False) -> None:
        self._db = db
        self._read_only = read_only
        self._journal = journal = Journal()
        self._events = InMemoryEventStore(db, journal)
        self._ledger = InMemoryAppliedLedger(db, journal)
        self._rollups = InMemoryRollupStore(db, journal)
        self._accounts = InMemoryAccountStore(db, journal)
        self._reports = InMemoryReportStore(db)
        self._changes = InMemoryChangeLog()
        self._status = InMemoryStatusStore(db)
        self._retention = InMemoryRetentionStore(db, journal)

    @property
    def events(self) -> InMemoryEventStore:
        return self._events

    @property
    def ledger(self) -> InMemoryAppliedLedger:
        return self._ledger

    @property
    def rollups(self) -> InMemoryRollupStore:
        return self._rollups

    @property
    def accounts(self) -> InMemoryAccountStore:
        return self._accounts

    @property
    def reports(self) -> InMemoryReportStore:
        return self._reports

    @property
    def changes(self) -> InMemoryChangeLog:
        return self._changes

    @property
    def status(self) -> InMemoryStatusStore:
        return self._status

    @property
    def retention(self) -> InMemoryRetentionStore:
        return self._retention

    @property
    def jobs(self) -> InMemoryJobStore:
        return InMemoryJobStore(self._db, self._journal)

    def __enter__(self) -> Self:
        self._db.lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._journal.rollback()
        finally:
            self._db.lock.release()

    def store_batch(self, events: Sequence[Event]) -> StoredBatch:
        return store_stepwise(events, self._accounts, self._events, self._ledger)

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        if not days:
            return RebuildStats(0, 0)
        self._rollups.clear_days(account_id, {day.date for day in days})
        events = self._events.in_days(account_id, days)
        projection = project(events, {account_id: days[0].zone})
        fresh = projection.totals()
        self._rollups.add_members(projection.nonzero_members())
        self._rollups.add(fresh)
        self._ledger.mark(applied_refs((account_id, event.id) for event in events))
        return RebuildStats(len(events), len(fresh))

    def commit(self) -> None:
        if self._read_only:
            raise StorageError("commit() of a read-only unit of work: it must not write")
        self._journal.forget()


@attrs.frozen
class InMemoryUnitOfWorkFactory:
    """Opens units of work on one in-memory database."""

    db: InMemoryDatabase = attrs.field(factory=InMemoryDatabase)
    #: Who runs a fleet job (the threads of this process).
    job_locks: InProcessJobLocks = attrs.field(factory=InProcessJobLocks)

    def __call__(self, *, read_only: bool = False) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db, read_only=read_only)

    @property
    def capture(self) -> UnavailableCapture:
        """Change capture: refused (nothing but the library writes a memory database)."""
        return UnavailableCapture(
            "memory:// has no host application writing reporting_events: change capture needs "
            "an SQLite or PostgreSQL database (sqlite:///path or postgresql://...)"
        )
