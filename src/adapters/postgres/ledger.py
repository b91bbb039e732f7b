"""PostgreSQL `AppliedLedger`: marks written with one `unnest` INSERT ... ON CONFLICT DO NOTHING
per batch. Of two transactions marking one event, the second waits for the first and gets
nothing back if it commits: the exactly-once decision."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from operator import itemgetter

from reporting_rollups.adapters.postgres.arrays import Int8Array
from reporting_rollups.adapters.postgres.citus_functions import MARKS
from reporting_rollups.adapters.postgres.driver import fetch_one
from reporting_rollups.adapters.postgres.statements import MARK
from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.application.ports import AppliedRef


class PostgresAppliedLedger:
    """`reporting_rollup_applied_events` on PostgreSQL."""

    def __init__(self, session: SqlSession, *, distributed: bool = False) -> None:
        self.session = session
        #: a distributed database: each account's marks through its routed function
        self.distributed = distributed

    def mark(self, refs: Sequence[AppliedRef]) -> set[int]:
        if not refs:
            return set()
        ordered = sorted(set(refs))
        before: set[int] = set()
        groups = (
            itertools.groupby(ordered, key=itemgetter(0))
            if self.distributed
            else [(None, iter(ordered))]
        )
        for account_id, group in groups:
            refs_of = list(group)
            params = {
                "account_id": Int8Array([account for account, _ in refs_of]),
                "event_id": Int8Array([event_id for _, event_id in refs_of]),
                "account": account_id,
            }
            statement = MARK if account_id is None else MARKS.call
            (marked_before,) = fetch_one(
                self.session, statement, params, doing="marking events applied"
            )
            before.update(marked_before)
        return {event_id for _, event_id in ordered if event_id not in before}

    def unmark(self, refs: Sequence[AppliedRef]) -> set[int]:
        return queries.unmark(self.session, refs)

    def clear_account(self, account_id: int) -> None:
        queries.clear_marks(self.session, account_id)

    def orphans(self, account_id: int) -> int:
        return queries.orphan_marks(self.session, account_id)

    def drop_orphans(self, account_id: int) -> int:
        return queries.drop_orphan_marks(self.session, account_id)
