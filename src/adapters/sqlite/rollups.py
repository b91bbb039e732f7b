"""SQLite `RollupStore`: rollup rows with one `executemany` additive upsert, distinct members
with multi-row upserts that return the occurrences after, both in key order."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import date
from typing import Any

from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.rows import member_transitions
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sqlite.driver import (
    MEMBER_KEY,
    ROLLUP_UPSERT,
    returning,
    stored_time,
)
from reporting_rollups.application.ports import DateSpan, RollupRow, Sums
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member

_MEMBER_HEAD = f"INSERT INTO reporting_rollup_members ({MEMBER_KEY}, occurrences)"
_MEMBER_TAIL = (
    f"ON CONFLICT ({MEMBER_KEY}) DO UPDATE SET "
    "occurrences = reporting_rollup_members.occurrences + excluded.occurrences "
    f"RETURNING {MEMBER_KEY}, occurrences"
)


class SQLiteRollupStore:
    """`reporting_events_rollups` and `reporting_rollup_members` on SQLite."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        if not deltas:
            return
        now = stored_time(self.session.now())
        # Key columns first, so the rows sort in key order (ISO dates sort as dates). Enum
        # members become plain strings: sqlite3 binds those without an adapter lookup.
        rows = sorted(
            [
                (
                    account,
                    day.isoformat(),
                    str(dimension),
                    dimension_id,
                    str(metric),
                    *delta,
                    now,
                    now,
                )
                for (account, day, dimension, dimension_id, metric), delta in deltas.items()
            ]
        )

        def upsert(connection: sqlite3.Connection) -> None:
            connection.cursor().executemany(ROLLUP_UPSERT, rows)

        self.session.driver(upsert, doing="adding to rollup rows")
        # Only rows that received a negative count can have reached 0 (stored counts are > 0).
        shrinking = sorted(key for key, delta in deltas.items() if delta.count < 0)
        if shrinking:
            queries.delete_emptied(self.session, shrinking)

    def set_sums(self, sums: Mapping[RollupKey, Sums]) -> None:
        queries.set_sums(self.session, sums)

    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        wanted = {member: delta for member, delta in deltas.items() if delta}
        if not wanted:
            return {}
        rows = sorted(
            (account, day.isoformat(), str(dimension), dimension_id, str(metric), member_id, delta)
            for (
                (account, day, dimension, dimension_id, metric),
                member_id,
            ), delta in wanted.items()
        )

        def upsert(connection: sqlite3.Connection) -> list[Any]:
            return returning(connection.cursor(), _MEMBER_HEAD, _MEMBER_TAIL, rows, 7)

        upserted = self.session.driver(upsert, doing="updating distinct members")
        changes, emptied = member_transitions(
            wanted, [(account, date.fromisoformat(day), *rest) for account, day, *rest in upserted]
        )
        if emptied:
            queries.delete_members(self.session, emptied)
        return changes

    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[RollupRow]:
        return queries.rollup_rows(self.session, account_id, since, until)

    def date_span(self, account_id: int) -> DateSpan | None:
        return queries.date_span(self.session, account_id)

    def clear_account(self, account_id: int) -> None:
        queries.clear_rollups(self.session, account_id)
