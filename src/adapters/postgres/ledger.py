"""PostgreSQL `AppliedLedger`: marks written with one `unnest` INSERT ... ON CONFLICT DO NOTHING
per batch. Of two transactions marking one event, the second waits for the first and gets
nothing back if it commits: the exactly-once decision."""

from __future__ import annotations

from collections.abc import Sequence

from reporting_rollups.adapters.postgres.arrays import Int8Array
from reporting_rollups.adapters.postgres.driver import fetch_one
from reporting_rollups.adapters.postgres.statements import MARK
from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.application.ports import AppliedRef


class PostgresAppliedLedger:
    """`reporting_rollup_applied_events` on PostgreSQL."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def mark(self, refs: Sequence[AppliedRef]) -> set[int]:
        if not refs:
            return set()
        ordered = sorted(set(refs))
        params = {
            "account_id": Int8Array([account_id for account_id, _ in ordered]),
            "event_id": Int8Array([event_id for _, event_id in ordered]),
        }
        (marked_before,) = fetch_one(self.session, MARK, params, doing="marking events applied")
        before = set(marked_before)
        return {event_id for _, event_id in ordered if event_id not in before}

    def unmark(self, refs: Sequence[AppliedRef]) -> set[int]:
        return queries.unmark(self.session, refs)

    def clear_account(self, account_id: int) -> None:
        queries.clear_marks(self.session, account_id)

    def orphans(self, account_id: int) -> int:
        return queries.orphan_marks(self.session, account_id)

    def drop_orphans(self, account_id: int) -> int:
        return queries.drop_orphan_marks(self.session, account_id)
