"""In-memory `RetentionStore`: horizons, and purges of the in-memory raw events."""

from __future__ import annotations

from datetime import date, datetime

from reporting_rollups.adapters.memory.journal import JournalledStore


class InMemoryRetentionStore(JournalledStore):
    """Retention horizons and purges in memory."""

    def horizon(self, account_id: int) -> date | None:
        return self.db.horizons.get(account_id)

    def seal(self, account_id: int, horizon: date | None) -> None:
        if horizon is None:
            if account_id in self.db.horizons:
                self.journal.delete(self.db.horizons, account_id)
            return
        self.journal.set(self.db.horizons, account_id, horizon)

    def advance(self, account_id: int, horizon: date) -> None:
        current = self.db.horizons.get(account_id)
        if current is None or current < horizon:
            self.journal.set(self.db.horizons, account_id, horizon)

    def window(self, account_id: int) -> int | None:
        windows = self.db.windows
        return windows.get(account_id, windows.get(None))

    def windows(self) -> dict[int | None, int]:
        return dict(self.db.windows)

    def set_window(self, account_id: int | None, days: int | None) -> None:
        if days is None:
            if account_id in self.db.windows:
                self.journal.delete(self.db.windows, account_id)
            return
        self.journal.set(self.db.windows, account_id, days)

    def _before(self, account_id: int, end: datetime) -> list[int]:
        events = self.db.events.get(account_id, {})
        return [event.id for event in events.values() if event.created_at < end]

    def count_before(self, account_id: int, end: datetime) -> int:
        return len(self._before(account_id, end))

    def purge(self, account_id: int, end: datetime) -> int:
        doomed = self._before(account_id, end)
        if doomed:
            self.journal.delete_many(self.db.events[account_id], doomed)
            self.journal.delete_many(self.db.event_accounts, doomed)
            self.journal.delete_many(
                self.db.applied, [event_id for event_id in doomed if event_id in self.db.applied]
            )
        return len(doomed)

    def drop_members(self, account_id: int, before: date) -> None:
        members = self.db.members.get(account_id)
        if members:
            sealed = [member for member in members if member[0].date < before]
            self.journal.delete_many(self.journal.child(self.db.members, account_id), sealed)

    def rows_before(self, account_id: int, before: date) -> int:
        rows = self.db.rollups.get(account_id, {})
        return sum(1 for key in rows if key.date < before)
