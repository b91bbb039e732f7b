"""The SQL `RetentionStore` (the same on SQLite and PostgreSQL, with the dialect's `insert`).

A purge deletes raw rows the host's capture triggers may log: each backend gives the way its own
writes stay out of the change log (`Unlogged`: on PostgreSQL nothing to do, the transaction is
marked by the account lock, `capture.ORIGIN_SETTING`; on SQLite what the triggers log meanwhile
is deleted).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, delete, func, select

from reporting_rollups.adapters.sql.aggregation import naive_utc, readable_created_at
from reporting_rollups.adapters.sql.queries import InsertOf
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import (
    reporting_events,
    reporting_events_rollups,
    rollup_applied_events,
    rollup_members,
    rollup_retention,
    rollup_retention_windows,
)

_e, _r = reporting_events, rollup_retention
#: The row of the default window (account ids are positive).
DEFAULT_WINDOW = 0


#: How a backend keeps its own raw writes in a block out of the change log.
Unlogged = Callable[[SqlSession, str], AbstractContextManager[None]]


def _nothing_to_do(session: SqlSession, doing: str) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


class SqlRetentionStore:
    """`reporting_rollup_retention`, and the purge over the raw table and the marks."""

    def __init__(
        self, session: SqlSession, insert: InsertOf, unlogged: Unlogged = _nothing_to_do
    ) -> None:
        self.session = session
        self._insert = insert
        self._unlogged = unlogged

    def horizon(self, account_id: int) -> date | None:
        rows = self.session.rows(
            select(_r.c.horizon).where(_r.c.account_id == account_id),
            doing="reading the retention horizon",
        )
        return None if not rows else rows[0][0]

    def seal(self, account_id: int, horizon: date | None) -> None:
        if horizon is None:
            statement = delete(_r).where(_r.c.account_id == account_id)
            self.session.execute(statement, doing="clearing the retention horizon")
            return
        upsert = self._insert(_r).values(account_id=account_id, horizon=horizon)
        upsert = upsert.on_conflict_do_update(
            index_elements=[_r.c.account_id], set_={"horizon": upsert.excluded.horizon}
        )
        self.session.execute(upsert, doing="recording the retention horizon")

    def advance(self, account_id: int, horizon: date) -> None:
        upsert = self._insert(_r).values(account_id=account_id, horizon=horizon)
        later = case(
            (upsert.excluded.horizon > _r.c.horizon, upsert.excluded.horizon), else_=_r.c.horizon
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[_r.c.account_id], set_={"horizon": later}
        )
        self.session.execute(upsert, doing="advancing the retention horizon")

    def window(self, account_id: int) -> int | None:
        w = rollup_retention_windows
        query = (
            select(w.c.days)
            .where(w.c.account_id.in_([account_id, DEFAULT_WINDOW]))
            .order_by(w.c.account_id.desc())
            .limit(1)
        )
        rows = self.session.rows(query, doing="reading the retention window")
        return None if not rows else int(rows[0][0])

    def windows(self) -> dict[int | None, int]:
        w = rollup_retention_windows
        rows = self.session.rows(
            select(w.c.account_id, w.c.days), doing="reading retention windows"
        )
        found: dict[int | None, int] = {}
        for account_id, days in (tuple(row) for row in rows):
            found[None if account_id == DEFAULT_WINDOW else int(account_id)] = int(days)
        return found

    def set_window(self, account_id: int | None, days: int | None) -> None:
        w = rollup_retention_windows
        key = DEFAULT_WINDOW if account_id is None else account_id
        if days is None:
            self.session.execute(
                delete(w).where(w.c.account_id == key), doing="removing a retention window"
            )
            return
        upsert = self._insert(w).values(account_id=key, days=days)
        upsert = upsert.on_conflict_do_update(
            index_elements=[w.c.account_id], set_={"days": upsert.excluded.days}
        )
        self.session.execute(upsert, doing="setting a retention window")

    def _before(self, account_id: int, end: datetime) -> list[ColumnElement[bool]]:
        return [
            _e.c.account_id == account_id,
            *readable_created_at(),
            _e.c.created_at < naive_utc(end),
        ]

    def count_before(self, account_id: int, end: datetime) -> int:
        query = select(func.count()).select_from(_e).where(*self._before(account_id, end))
        return int(self.session.one(query, doing="counting raw events to purge")[0])

    def purge(self, account_id: int, end: datetime) -> int:
        session = self.session
        doomed = select(_e.c.id).where(*self._before(account_id, end))
        a = rollup_applied_events
        session.execute(
            delete(a).where(a.c.account_id == account_id, a.c.event_id.in_(doomed)),
            doing="purging applied marks",
        )
        statement = delete(_e).where(*self._before(account_id, end))
        with self._unlogged(session, "purging raw events"), session.errors("purging raw events"):
            return int(session.connection.execute(statement).rowcount)

    def drop_members(self, account_id: int, before: date) -> None:
        m = rollup_members
        self.session.execute(
            delete(m).where(m.c.account_id == account_id, m.c.date < before),
            doing="dropping sealed days' members",
        )

    def rows_before(self, account_id: int, before: date) -> int:
        t = reporting_events_rollups
        query = select(func.count()).where(t.c.account_id == account_id, t.c.date < before)
        return int(self.session.one(query, doing="counting sealed rollup rows")[0])
