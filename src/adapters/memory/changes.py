"""The in-memory `ChangeLog`: always empty (no host application writes a memory database)."""

from __future__ import annotations

from datetime import datetime

from reporting_rollups.application.ports import Change, TimeSpan


class InMemoryChangeLog:
    """No captured changes, ever."""

    def accounts(self, after: int, limit: int) -> list[int]:
        return []

    def take(self, account_id: int, limit: int) -> list[Change] | None:
        return []

    def pending(self, account_id: int | None = None) -> tuple[int, datetime | None]:
        return 0, None

    def pending_span(self, account_id: int) -> TimeSpan | None:
        return None

    def hold_writers(self, account_id: int) -> bool:
        """Writers are serialised: no other write can commit meanwhile."""
        return True

    def synced(self, account_id: int, at: datetime) -> None:
        """Nothing to record: no change is ever taken."""
