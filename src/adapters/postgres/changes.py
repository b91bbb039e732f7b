"""PostgreSQL `ChangeLog`: an account's change stream is held with a transaction-level advisory
lock on (`STREAM_LOCK_CLASS`, account_id), tried without waiting, so that concurrent workers
share the accounts and never apply one account's changes out of order."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from reporting_rollups.adapters.sql import change_log
from reporting_rollups.adapters.sql.capture import WRITERS_LOCK_CLASS
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.application.ports import Change, TimeSpan

#: The first key of the advisory locks on accounts' change streams (a fixed 32-bit number).
STREAM_LOCK_CLASS: Final = 0x52524348  # "RRCH"


class PostgresChangeLog:
    """`reporting_rollup_changes` on PostgreSQL."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def accounts(self, after: int, limit: int) -> list[int]:
        return change_log.accounts(self.session, after, limit)

    def take(self, account_id: int, limit: int) -> list[Change] | None:
        held = self.session.one(
            select(func.pg_try_advisory_xact_lock(STREAM_LOCK_CLASS, account_id)),
            doing="holding an account's changes",
        )[0]
        if not held:
            return None
        return change_log.take(self.session, account_id, limit)

    def pending(self, account_id: int | None = None) -> tuple[int, datetime | None]:
        return change_log.pending(self.session, account_id)

    def pending_span(self, account_id: int) -> TimeSpan | None:
        return change_log.pending_span(self.session, account_id)

    def hold_writers(self, account_id: int) -> bool:
        held = self.session.one(
            select(func.pg_try_advisory_xact_lock(WRITERS_LOCK_CLASS, account_id)),
            doing="holding the host's writes of an account",
        )[0]
        return bool(held)

    def synced(self, account_id: int, at: datetime) -> None:
        change_log.synced(self.session, account_id, at, insert)
