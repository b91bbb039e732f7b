"""In-memory adapter: every port, with a database's transactional behaviour.

One `InMemoryDatabase` holds the state; a unit of work takes its lock for its whole life (writers
are serialised, as on SQLite) and journals every change, so that leaving it without `commit()`
undoes everything it did.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

import attrs

from adapters.memory_reports import InMemoryReportStore
from application.ports import AccountSettings, RebuildStats
from domain.errors import EventConflictError, StorageError
from domain.events import Event
from domain.metrics import MetricContribution, RollupKey
from domain.projection import Member, aggregate, project
from domain.timezones import LocalDay

_MISSING: Any = object()


class _Journal:
    """Undo log of dictionary writes."""

    def __init__(self) -> None:
        self.undo: list[tuple[MutableMapping[Any, Any], Any, Any]] = []

    def set(self, table: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        self.undo.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def delete(self, table: MutableMapping[Any, Any], key: Any) -> None:
        if key in table:
            self.undo.append((table, key, table[key]))
            del table[key]

    def child(self, table: MutableMapping[Any, Any], key: Any) -> Any:
        """table[key], created as an empty dict (journalled) when missing."""
        found = table.get(key)
        if found is None:
            found = {}
            self.set(table, key, found)
        return found

    def rollback(self) -> None:
        for table, key, old in reversed(self.undo):
            if old is _MISSING:
                table.pop(key, None)
            else:
                table[key] = old
        self.undo.clear()


@attrs.define
class InMemoryDatabase:
    """The state behind every in-memory store."""

    events: dict[int, dict[int, Event]] = attrs.field(factory=dict)  #: account -> id -> event
    event_accounts: dict[int, int] = attrs.field(factory=dict)  #: event id -> account
    applied: dict[int, int] = attrs.field(factory=dict)  #: applied event id -> account
    rollups: dict[int, dict[RollupKey, MetricContribution]] = attrs.field(factory=dict)
    members: dict[int, dict[Member, int]] = attrs.field(factory=dict)
    accounts: dict[int, AccountSettings] = attrs.field(factory=dict)
    lock: threading.RLock = attrs.field(factory=threading.RLock)


@attrs.define
class _Store:
    db: InMemoryDatabase
    journal: _Journal


class InMemoryEventStore(_Store):
    """Raw events in memory."""

    def add(self, events: Sequence[Event]) -> list[int]:
        stored: list[int] = []
        for event in events:
            account = self.db.event_accounts.get(event.id)
            if account is not None:
                existing = self.db.events[account][event.id]
                if existing != event:
                    raise EventConflictError(event.id, existing.differences(event))
                continue
            self.journal.set(self.journal.child(self.db.events, event.account_id), event.id, event)
            self.journal.set(self.db.event_accounts, event.id, event.account_id)
            stored.append(event.id)
        return stored

    def get(self, ids: Collection[int]) -> list[Event]:
        found = []
        for event_id in sorted(set(ids)):
            account = self.db.event_accounts.get(event_id)
            if account is not None:
                found.append(self.db.events[account][event_id])
        return found

    def remove(self, ids: Collection[int]) -> list[Event]:
        removed = self.get(ids)
        for event in removed:
            self.journal.delete(self.db.events[event.account_id], event.id)
            self.journal.delete(self.db.event_accounts, event.id)
        return removed

    def span(self, account_id: int) -> tuple[datetime, datetime] | None:
        times = [event.created_at for event in self.db.events.get(account_id, {}).values()]
        return (min(times), max(times)) if times else None

    def in_days(self, account_id: int, days: Sequence[LocalDay]) -> list[Event]:
        """The account's events within the days' bounds."""
        if not days:
            return []
        start, end = days[0].start, days[-1].end
        return [
            event
            for event in self.db.events.get(account_id, {}).values()
            if start <= event.created_at < end
        ]

    def aggregate(
        self, account_id: int, days: Sequence[LocalDay]
    ) -> dict[RollupKey, MetricContribution]:
        if not days:
            return {}
        return aggregate(self.in_days(account_id, days), {account_id: days[0].zone})


class InMemoryAppliedLedger(_Store):
    """Applied-event marks in memory."""

    def mark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        fresh: set[int] = set()
        applied = self.db.applied
        for account_id, event_id in refs:
            if event_id not in applied:
                self.journal.set(applied, event_id, account_id)
                fresh.add(event_id)
        return fresh

    def unmark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        removed = {event_id for _account, event_id in refs if event_id in self.db.applied}
        for event_id in removed:
            self.journal.delete(self.db.applied, event_id)
        return removed

    def clear_account(self, account_id: int) -> None:
        for event_id in [e for e, account in self.db.applied.items() if account == account_id]:
            self.journal.delete(self.db.applied, event_id)


class InMemoryRollupStore(_Store):
    """Rollup rows and distinct members in memory."""

    def __init__(self, db: InMemoryDatabase, journal: _Journal, events: InMemoryEventStore):
        super().__init__(db, journal)
        self._events = events

    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        for key, delta in deltas.items():
            rows = self.journal.child(self.db.rollups, key.account_id)
            row = rows.get(key)
            total = delta if row is None else row + delta
            if total.count == 0:
                self.journal.delete(rows, key)
            elif total.count < 0:
                raise StorageError(f"rollup row {key} would have a negative count")
            else:
                self.journal.set(rows, key, total)

    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        changes: dict[RollupKey, int] = {}
        for member, delta in deltas.items():
            key = member[0]
            members = self.journal.child(self.db.members, key.account_id)
            before = members.get(member, 0)
            after = before + delta
            if after < 0:
                raise StorageError(f"member {member} would have a negative count")
            if after == 0:
                self.journal.delete(members, member)
            else:
                self.journal.set(members, member, after)
            change = (after > 0) - (before > 0)
            if change:
                changes[key] = changes.get(key, 0) + change
        return changes

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        if not days:
            return RebuildStats(0, 0)
        dates = {day.date for day in days}
        rows = self.db.rollups.get(account_id, {})
        for key in [key for key in rows if key.date in dates]:
            self.journal.delete(rows, key)
        members = self.db.members.get(account_id, {})
        for member in [member for member in members if member[0].date in dates]:
            self.journal.delete(members, member)
        events = self._events.in_days(account_id, days)
        projection = project(events, {account_id: days[0].zone})
        fresh = projection.totals()
        self.add_members(projection.nonzero_members())
        self.add(fresh)
        InMemoryAppliedLedger(self.db, self.journal).mark(
            [(account_id, event.id) for event in events]
        )
        return RebuildStats(len(events), len(fresh))

    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[tuple[RollupKey, MetricContribution]]:
        return sorted(
            (key, value)
            for key, value in self.db.rollups.get(account_id, {}).items()
            if (since is None or key.date >= since) and (until is None or key.date <= until)
        )

    def date_span(self, account_id: int) -> tuple[date, date] | None:
        dates = [key.date for key in self.db.rollups.get(account_id, {})]
        return (min(dates), max(dates)) if dates else None

    def clear_account(self, account_id: int) -> None:
        self.journal.delete(self.db.rollups, account_id)
        self.journal.delete(self.db.members, account_id)


class InMemoryAccountStore(_Store):
    """Account settings in memory; the unit of work's lock already excludes other writers."""

    def get(self, account_id: int) -> AccountSettings:
        return self.db.accounts.get(account_id) or AccountSettings(account_id)

    def lock_shared(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        return {account_id: self.get(account_id) for account_id in sorted(account_ids)}

    def lock_exclusive(self, account_id: int) -> AccountSettings:
        return self.get(account_id)

    def save(self, settings: AccountSettings) -> None:
        self.journal.set(self.db.accounts, settings.account_id, settings)


class InMemoryUnitOfWork:
    """One 'transaction' on an `InMemoryDatabase`: serialised, undone unless committed."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._journal = _Journal()
        self.events = InMemoryEventStore(db, self._journal)
        self.ledger = InMemoryAppliedLedger(db, self._journal)
        self.rollups = InMemoryRollupStore(db, self._journal, self.events)
        self.accounts = InMemoryAccountStore(db, self._journal)
        self.reports = InMemoryReportStore(db)

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

    def commit(self) -> None:
        self._journal.undo.clear()


@attrs.frozen
class InMemoryUnitOfWorkFactory:
    """Opens units of work on one in-memory database."""

    db: InMemoryDatabase = attrs.field(factory=InMemoryDatabase)

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db)
