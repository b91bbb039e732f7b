"""In-memory `AccountStore`: the account settings."""

from __future__ import annotations

from collections.abc import Collection

from reporting_rollups.adapters.memory.journal import JournalledStore
from reporting_rollups.application.ports import AccountSettings


class InMemoryAccountStore(JournalledStore):
    """Account settings in memory; the unit of work's lock already excludes other writers."""

    def get(self, account_id: int) -> AccountSettings:
        return self.db.accounts.get(account_id) or AccountSettings(account_id)

    def zoned(self, after: int, limit: int) -> list[int]:
        found = sorted(
            account_id
            for account_id, settings in self.db.accounts.items()
            if settings.timezone is not None and account_id > after
        )
        return found[:limit]

    def lock_shared(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        return {account_id: self.get(account_id) for account_id in sorted(account_ids)}

    def lock_exclusive(self, account_id: int) -> AccountSettings:
        return self.get(account_id)

    def save(self, settings: AccountSettings) -> None:
        self.journal.set(self.db.accounts, settings.account_id, settings)

    def forget(self, account_id: int) -> int:
        db, journal = self.db, self.journal
        events = db.events.get(account_id, {})
        removed = len(events)
        journal.delete_many(db.event_accounts, list(events))
        journal.delete_many(db.applied, [e for e, a in db.applied.items() if a == account_id])
        for table in (db.events, db.rollups, db.members, db.accounts, db.horizons, db.windows):
            if account_id in table:
                journal.delete(table, account_id)
        return removed
