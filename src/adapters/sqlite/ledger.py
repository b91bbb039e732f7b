"""SQLite `AppliedLedger`: marks written with one `executemany` insert when none was marked
yet, else a multi-row ``ON CONFLICT DO NOTHING RETURNING`` that tells which were new. Writers
are serialised, so what the insert reports is the exactly-once decision."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sqlite.driver import (
    MARK_HEAD,
    MARK_INSERT,
    insert_all_new,
    returning,
)
from reporting_rollups.application.ports import AppliedRef


class SQLiteAppliedLedger:
    """`reporting_rollup_applied_events` on SQLite."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def mark(self, refs: Sequence[AppliedRef]) -> set[int]:
        if not refs:
            return set()
        # In the caller's order: events come sorted by id, so each account's marks are appends.
        rows = list(dict.fromkeys(refs))

        def mark(connection: sqlite3.Connection) -> set[int]:
            cursor = connection.cursor()
            if insert_all_new(cursor, MARK_INSERT, rows):
                return {event_id for _account, event_id in rows}
            tail = "ON CONFLICT (account_id, event_id) DO NOTHING RETURNING event_id"
            return {row[0] for row in returning(cursor, MARK_HEAD, tail, rows, 2)}

        return self.session.driver(mark, doing="marking events applied")

    def unmark(self, refs: Sequence[AppliedRef]) -> set[int]:
        return queries.unmark(self.session, refs)

    def clear_account(self, account_id: int) -> None:
        queries.clear_marks(self.session, account_id)

    def orphans(self, account_id: int) -> int:
        return queries.orphan_marks(self.session, account_id)

    def drop_orphans(self, account_id: int) -> int:
        return queries.drop_orphan_marks(self.session, account_id)
