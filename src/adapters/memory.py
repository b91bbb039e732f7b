"""In-memory adapter: every port, with a database's transactional behaviour.

One `InMemoryDatabase` holds the state; a unit of work takes its lock for its whole life (writers
are serialised, as on SQLite) and journals every change, so that leaving it without `commit()`
undoes everything it did.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from datetime import date, datetime
from functools import partial
from types import TracebackType
from typing import Any, Self

import attrs

from reporting_rollups.adapters.memory_db import InMemoryDatabase
from reporting_rollups.adapters.memory_reports import InMemoryReportStore
from reporting_rollups.application.ports import (
    AccountSettings,
    RebuildStats,
    StoredBatch,
    store_stepwise,
)
from reporting_rollups.domain.errors import EventConflictError, StorageError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import (
    Deltas,
    Member,
    PlainKey,
    aggregate,
    contribution_of,
    project,
)
from reporting_rollups.domain.timezones import LocalDay

_MISSING: Any = object()


class _Journal:
    """Undo log of a unit of work: functions that take its writes back, run newest first.

    Bulk writes log one function for all their keys, so that a 10,000-event batch costs a few
    entries, not one per row.
    """

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Run `undo` on rollback (after the undo functions logged later than it)."""
        self.undo.append(undo)

    def log(self, table: MutableMapping[Any, Any]) -> dict[Any, Any]:
        """A dict in which the caller puts each key's previous value in `table` (`_MISSING`
        when absent) before writing the key, at most once per key; restored on rollback."""
        previous: dict[Any, Any] = {}
        self.on_rollback(partial(_restore, table, previous))
        return previous

    def set_many(self, table: MutableMapping[Any, Any], values: Mapping[Any, Any]) -> None:
        """table.update(values)."""
        self.log(table).update({key: table.get(key, _MISSING) for key in values})
        table.update(values)

    def insert_many(self, table: MutableMapping[Any, Any], values: Mapping[Any, Any]) -> None:
        """table.update(values), for keys known to be absent from `table`; `values` is kept
        (its keys are the undo), so the caller must not change it afterwards."""
        self.on_rollback(partial(_pop_keys, table, values))
        table.update(values)

    def delete_many(self, table: MutableMapping[Any, Any], keys: Iterable[Any]) -> None:
        """Delete the keys that are in `table`."""
        self.log(table).update({key: table.pop(key) for key in keys if key in table})

    def set(self, table: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        self.set_many(table, {key: value})

    def delete(self, table: MutableMapping[Any, Any], key: Any) -> None:
        self.delete_many(table, (key,))

    def child(self, table: MutableMapping[Any, Any], key: Any) -> Any:
        """table[key], created as an empty dict (journalled) when missing."""
        found = table.get(key)
        if found is None:
            found = {}
            self.set(table, key, found)
        return found

    def rollback(self) -> None:
        while self.undo:
            self.undo.pop()()


def _pop_keys(table: MutableMapping[Any, Any], keys: Iterable[Any]) -> None:
    for key in keys:
        table.pop(key, None)


def _restore(table: MutableMapping[Any, Any], previous: Mapping[Any, Any]) -> None:
    for key, old in previous.items():
        if old is _MISSING:
            table.pop(key, None)
        else:
            table[key] = old


@attrs.define
class _Store:
    db: InMemoryDatabase
    journal: _Journal


def _plain_items(
    deltas: Mapping[RollupKey, MetricContribution],
) -> Iterable[tuple[PlainKey, tuple[int, float, float]]]:
    """`deltas.items()`, as plain tuples when `deltas` is a `Deltas` (see `Deltas.rows`)."""
    return deltas.rows() if isinstance(deltas, Deltas) else deltas.items()


class InMemoryEventStore(_Store):
    """Raw events in memory."""

    def add(self, events: Sequence[Event]) -> list[int]:
        known = self.db.event_accounts
        stored: dict[int, int] = {}  # event id -> account, of the events stored now
        by_account: dict[int, dict[int, Event]] = {}
        for event in events:
            account = known.get(event.id)
            if account is not None:
                existing = self.db.events[account][event.id]
                if existing != event:
                    raise EventConflictError(event.id, existing.differences(event))
                continue
            stored[event.id] = event.account_id
            group = by_account.get(event.account_id)
            if group is None:
                group = by_account[event.account_id] = {}
            group[event.id] = event
        for account_id, group in by_account.items():
            self.journal.insert_many(self.journal.child(self.db.events, account_id), group)
        self.journal.insert_many(known, stored)
        return list(stored)

    def get(self, ids: Collection[int]) -> list[Event]:
        found = []
        for event_id in sorted(set(ids)):
            account = self.db.event_accounts.get(event_id)
            if account is not None:
                found.append(self.db.events[account][event_id])
        return found

    def hold(self, ids: Collection[int]) -> set[int]:
        # Units of work are serialised: what is stored stays stored until this one ends.
        known = self.db.event_accounts
        return {event_id for event_id in ids if event_id in known}

    def owners(self, ids: Collection[int]) -> set[int]:
        known = self.db.event_accounts
        return {known[event_id] for event_id in ids if event_id in known}

    def remove(self, ids: Collection[int], account_ids: Collection[int]) -> list[Event]:
        accounts = set(account_ids)
        removed = [event for event in self.get(ids) if event.account_id in accounts]
        by_account: dict[int, list[int]] = {}
        for event in removed:
            by_account.setdefault(event.account_id, []).append(event.id)
        for account_id, event_ids in by_account.items():
            self.journal.delete_many(self.db.events[account_id], event_ids)
        self.journal.delete_many(self.db.event_accounts, [event.id for event in removed])
        return removed

    def span(self, account_id: int) -> tuple[datetime, datetime] | None:
        times = [event.created_at for event in self.db.events.get(account_id, {}).values()]
        return (min(times), max(times)) if times else None

    def applied_in_days(
        self, account_id: int, days: Sequence[LocalDay], names: Collection[str]
    ) -> list[Event]:
        applied, wanted = self.db.applied, set(names)
        return [
            event
            for event in self.in_days(account_id, days)
            if event.id in applied and event.name in wanted
        ]

    def has_events(self, account_id: int) -> bool:
        return bool(self.db.events.get(account_id))

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
        applied = self.db.applied
        fresh = {event_id: account_id for account_id, event_id in refs if event_id not in applied}
        self.journal.insert_many(applied, fresh)
        return set(fresh)

    def unmark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        removed = {event_id for _account, event_id in refs if event_id in self.db.applied}
        self.journal.delete_many(self.db.applied, removed)
        return removed

    def clear_account(self, account_id: int) -> None:
        self.journal.delete_many(
            self.db.applied, [e for e, account in self.db.applied.items() if account == account_id]
        )


class InMemoryRollupStore(_Store):
    """Rollup rows and distinct members in memory."""

    def __init__(self, db: InMemoryDatabase, journal: _Journal, events: InMemoryEventStore):
        super().__init__(db, journal)
        self._events = events

    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        # Undo: the previous value of each row, in the order `deltas` iterates; rollback walks
        # `deltas` again. Keeping no key alive lets the keys of a `Deltas` die at once (see
        # `domain.projection.Deltas`); a `RollupKey` is made only for a new row.
        previous: list[MetricContribution | None] = []
        self.journal.on_rollback(partial(self._restore_rows, deltas, previous))
        # Rows are looked up with the plain keys of `Deltas.rows` (equal to the stored keys).
        tables: dict[int, dict[Any, MetricContribution]] = self.db.rollups
        for key, (count, sum_value, sum_business) in _plain_items(deltas):
            rows = tables.get(key[0])
            if rows is None:
                rows = self.journal.child(tables, key[0])
            row = rows.get(key)
            if row is not None:
                count, sum_value, sum_business = (
                    row[0] + count,
                    row[1] + sum_value,
                    row[2] + sum_business,
                )
            if count < 0:
                raise StorageError(f"rollup row {RollupKey._make(key)} would have a negative count")
            previous.append(row)
            if not count:
                if row is not None:
                    del rows[key]
            elif row is None:
                rows[RollupKey._make(key)] = contribution_of((count, sum_value, sum_business))
            else:
                # `key` equals the stored `RollupKey`: the dict keeps its own key object.
                rows[key] = contribution_of((count, sum_value, sum_business))

    def set_sums(self, sums: Mapping[RollupKey, tuple[float, float]]) -> None:
        for key, (sum_value, sum_business) in sums.items():
            rows = self.db.rollups.get(key.account_id)
            row = rows.get(key) if rows is not None else None
            if rows is not None and row is not None:
                self.journal.set(rows, key, MetricContribution(row.count, sum_value, sum_business))

    def _restore_rows(
        self,
        deltas: Mapping[RollupKey, MetricContribution],
        previous: list[MetricContribution | None],
    ) -> None:
        # zip stops after the rows written before a failure. An account table created by `add`
        # is already gone: its own undo, logged later, ran first.
        for key, row in zip(deltas, previous, strict=False):
            rows = self.db.rollups.get(key.account_id)
            if rows is None:
                continue
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row

    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        changes: dict[RollupKey, int] = {}
        tables: dict[int, tuple[dict[Member, int], dict[Any, Any]]] = {}
        for member, delta in deltas.items():
            key = member[0]
            found = tables.get(key.account_id)
            if found is None:
                members = self.journal.child(self.db.members, key.account_id)
                found = tables[key.account_id] = (members, self.journal.log(members))
            members, previous = found
            before = members.get(member, 0)
            after = before + delta
            if after < 0:
                raise StorageError(f"member {member} would have a negative count")
            previous[member] = before or _MISSING
            if after:
                members[member] = after
            elif before:
                del members[member]
            change = (after > 0) - (before > 0)
            if change:
                changes[key] = changes.get(key, 0) + change
        return changes

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        if not days:
            return RebuildStats(0, 0)
        dates = {day.date for day in days}
        rows = self.db.rollups.get(account_id, {})
        self.journal.delete_many(rows, [key for key in rows if key.date in dates])
        members = self.db.members.get(account_id, {})
        self.journal.delete_many(members, [member for member in members if member[0].date in dates])
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
    """One 'transaction' on an `InMemoryDatabase`: serialised, undone unless committed. A
    read-only one (which takes the same lock: a consistent view) cannot commit."""

    def __init__(self, db: InMemoryDatabase, *, read_only: bool = False) -> None:
        self._db = db
        self._read_only = read_only
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

    def store_batch(self, events: Sequence[Event]) -> StoredBatch:
        return store_stepwise(events, self.accounts, self.events, self.ledger)

    def commit(self) -> None:
        if self._read_only:
            raise StorageError("commit() of a read-only unit of work: it must not write")
        self._journal.undo.clear()


@attrs.frozen
class InMemoryUnitOfWorkFactory:
    """Opens units of work on one in-memory database."""

    db: InMemoryDatabase = attrs.field(factory=InMemoryDatabase)

    def __call__(self, *, read_only: bool = False) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db, read_only=read_only)
