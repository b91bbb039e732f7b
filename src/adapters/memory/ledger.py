"""In-memory `AppliedLedger`: the applied-event marks."""

from __future__ import annotations

from collections.abc import Sequence

from reporting_rollups.adapters.memory.journal import JournalledStore
from reporting_rollups.application.ports import AppliedRef


class InMemoryAppliedLedger(JournalledStore):
    """Applied-event marks in memory."""

    def mark(self, refs: Sequence[AppliedRef]) -> set[int]:
        applied = self.db.applied
        fresh = {event_id: account_id for account_id, event_id in refs if event_id not in applied}
        self.journal.insert_many(applied, fresh)
        return set(fresh)

    def unmark(self, refs: Sequence[AppliedRef]) -> set[int]:
        removed = {event_id for _account, event_id in refs if event_id in self.db.applied}
        self.journal.delete_many(self.db.applied, removed)
        return removed

    def clear_account(self, account_id: int) -> None:
        self.journal.delete_many(
            self.db.applied, [e for e, account in self.db.applied.items() if account == account_id]
        )

    def orphans(self, account_id: int) -> int:
        return len(self._orphans(account_id))

    def drop_orphans(self, account_id: int) -> int:
        orphans = self._orphans(account_id)
        self.journal.delete_many(self.db.applied, orphans)
        return len(orphans)

    def _orphans(self, account_id: int) -> list[int]:
        """The account's marked ids that are no raw event of the account."""
        stored = self.db.events.get(account_id, {})
        return [
            event_id
            for event_id, account in self.db.applied.items()
            if account == account_id and event_id not in stored
        ]
