"""SQLite `ChangeLog`: writers are serialised (`BEGIN IMMEDIATE`), so the writing transaction
already holds every account's change stream."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.sqlite import insert

from reporting_rollups.adapters.sql import change_log
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.application.ports import Change, TimeSpan


class SQLiteChangeLog:
    """`reporting_rollup_changes` on SQLite."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def accounts(self, after: int, limit: int) -> list[int]:
        return change_log.accounts(self.session, after, limit)

    def take(self, account_id: int, limit: int) -> list[Change] | None:
        return change_log.take(self.session, account_id, limit)

    def pending(self, account_id: int | None = None) -> tuple[int, datetime | None]:
        return change_log.pending(self.session, account_id)

    def pending_span(self, account_id: int) -> TimeSpan | None:
        return change_log.pending_span(self.session, account_id)

    def hold_writers(self, account_id: int) -> bool:
        """Writers are serialised: no other write can commit meanwhile."""
        return True

    def synced(self, account_id: int, at: datetime) -> None:
        change_log.synced(self.session, account_id, at, insert)
