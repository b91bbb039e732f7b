"""In-memory `EventStore`: the raw events."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from reporting_rollups.adapters.clock import system_clock
from reporting_rollups.adapters.memory.journal import JournalledStore
from reporting_rollups.application.ports import TimeSpan
from reporting_rollups.domain.errors import EventConflictError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import aggregate
from reporting_rollups.domain.timezones import LocalDay


class InMemoryEventStore(JournalledStore):
    """Raw events in memory."""

    def add(self, events: Sequence[Event]) -> list[int]:
        """Store the new events (noting when, for those without `updated_at`);
        `EventConflictError` for one stored before with other content."""
        known = self.db.event_accounts
        stored: dict[int, int] = {}  # event id -> account, of the events stored now
        by_account: dict[int, dict[int, Event]] = {}
        now, untimed = system_clock(), {}
        for event in events:
            account = known.get(event.id)
            if account is not None:
                existing = self.db.events[account][event.id]
                if existing != event:
                    raise EventConflictError(event.id, existing.differences(event))
                continue
            stored[event.id] = event.account_id
            if event.updated_at is None:
                untimed[event.id] = now
            group = by_account.get(event.account_id)
            if group is None:
                group = by_account[event.account_id] = {}
            group[event.id] = event
        for account_id, group in by_account.items():
            self.journal.insert_many(self.journal.child(self.db.events, account_id), group)
        self.journal.insert_many(known, stored)
        self.journal.set_many(self.db.written, untimed)
        return list(stored)

    def get(self, ids: Collection[int]) -> list[Event]:
        return [self._with_write_time(event) for event in self._stored(ids)]

    def _stored(self, ids: Collection[int]) -> list[Event]:
        found = []
        for event_id in sorted(set(ids)):
            account = self.db.event_accounts.get(event_id)
            if account is not None:
                found.append(self.db.events[account][event_id])
        return found

    def _with_write_time(self, event: Event) -> Event:
        """The event as an SQL store reads it back: `updated_at` the time of the write when
        it was stored without one."""
        if event.updated_at is not None:
            return event
        return attrs.evolve(event, updated_at=self.db.written[event.id])

    def hold(self, events: Sequence[Event]) -> set[int]:
        # Units of work are serialised: what is stored stays stored until this one ends.
        known = self.db.event_accounts
        return {event.id for event in events if event.id in known}

    def owners(self, ids: Collection[int]) -> set[int]:
        known = self.db.event_accounts
        return {known[event_id] for event_id in ids if event_id in known}

    def remove(
        self, ids: Collection[int], account_ids: Collection[int], *, unowned: bool = True
    ) -> list[Event]:  # every event here has an account: `unowned` selects nothing more
        accounts = set(account_ids)
        removed = [event for event in self._stored(ids) if event.account_id in accounts]
        by_account: dict[int, list[int]] = {}
        for event in removed:
            by_account.setdefault(event.account_id, []).append(event.id)
        for account_id, event_ids in by_account.items():
            self.journal.delete_many(self.db.events[account_id], event_ids)
        self.journal.delete_many(self.db.event_accounts, [event.id for event in removed])
        return removed

    def span(self, account_id: int) -> TimeSpan | None:
        times = [event.created_at for event in self.db.events.get(account_id, {}).values()]
        return TimeSpan(min(times), max(times)) if times else None

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

    def unapplied_span(self, account_id: int) -> TimeSpan | None:
        applied = self.db.applied
        times = [
            event.created_at
            for event in self.db.events.get(account_id, {}).values()
            if event.id not in applied
        ]
        return TimeSpan(min(times), max(times)) if times else None

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
