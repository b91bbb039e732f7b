"""SQLite `EventStore`: raw events stored with one `executemany` insert when every id is new
(the usual case), else a multi-row ``ON CONFLICT DO NOTHING RETURNING id`` that tells which ones
are; aggregations (`verify`) run the rebuild's search and projection (`rebuild.aggregate_days`).

The library's own raw writes leave nothing in the change log (they are folded or taken back in
the same transaction): writers are serialised, so the rows the capture triggers log during one
of them are its own, deleted before it returns."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection, Iterator, Sequence

from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sqlite.driver import (
    EVENT_HEAD,
    EVENT_INSERT,
    event_row,
    insert_all_new,
    returning,
    stored_time,
)
from reporting_rollups.adapters.sqlite.rebuild import aggregate_days
from reporting_rollups.application.ports import TimeSpan
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.timezones import LocalDay


def _event_id(event: Event) -> int:
    return event.id


def _last_change(cursor: sqlite3.Cursor) -> int:
    """The change log's last id (0 when empty)."""
    return int(cursor.execute(_LAST_CHANGE).fetchone()[0])


def _forget_changes_after(cursor: sqlite3.Cursor, last: int) -> None:
    """Delete what the capture triggers logged after `last` (this transaction's own writes)."""
    cursor.execute(_FORGET_CHANGES, (last,))


_LAST_CHANGE = "SELECT coalesce(max(id), 0) FROM reporting_rollup_changes"
_FORGET_CHANGES = "DELETE FROM reporting_rollup_changes WHERE id > ?"


@contextlib.contextmanager
def unlogged(session: SqlSession, doing: str) -> Iterator[None]:
    """The library's raw writes in the block leave nothing in the change log: what the capture
    triggers log meanwhile is this transaction's own (writers are serialised), deleted after."""
    logged = session.driver(lambda connection: _last_change(connection.cursor()), doing=doing)
    yield
    session.driver(
        lambda connection: _forget_changes_after(connection.cursor(), logged), doing=doing
    )


class SQLiteEventStore:
    """The raw `reporting_events` table on SQLite."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def add(self, events: Sequence[Event]) -> list[int]:
        if not events:
            return []
        ordered = sorted(events, key=_event_id)
        now = stored_time(self.session.now())
        rows = [event_row(event, now) for event in ordered]

        def insert(connection: sqlite3.Connection) -> list[int]:
            cursor = connection.cursor()
            logged = _last_change(cursor)
            if insert_all_new(cursor, EVENT_INSERT, rows):
                stored = [row[0] for row in rows]
            else:
                tail = "ON CONFLICT (id) DO NOTHING RETURNING id"
                stored = [row[0] for row in returning(cursor, EVENT_HEAD, tail, rows, len(rows[0]))]
            _forget_changes_after(cursor, logged)
            return stored

        stored = self.session.driver(insert, doing="storing raw events")
        fresh = set(stored)
        queries.check_conflicts(self.session, [e for e in ordered if e.id not in fresh])
        return sorted(stored)

    def hold(self, events: Sequence[Event]) -> set[int]:
        return queries.hold(self.session, [event.id for event in events])

    def get(self, ids: Collection[int]) -> list[Event]:
        return queries.get_events(self.session, ids)

    def owners(self, ids: Collection[int]) -> set[int]:
        return queries.owners(self.session, ids)

    def remove(
        self, ids: Collection[int], account_ids: Collection[int], *, unowned: bool = True
    ) -> list[Event]:
        with unlogged(self.session, "removing raw events"):
            return queries.remove(self.session, ids, account_ids, unowned=unowned)

    def span(self, account_id: int) -> TimeSpan | None:
        return queries.span(self.session, account_id)

    def applied_in_days(
        self, account_id: int, days: Sequence[LocalDay], names: Collection[str]
    ) -> list[Event]:
        return queries.applied_in_days(self.session, account_id, days, names)

    def has_events(self, account_id: int) -> bool:
        return queries.has_events(self.session, account_id)

    def unapplied_span(self, account_id: int) -> TimeSpan | None:
        return queries.unapplied_span(self.session, account_id)

    def aggregate(
        self, account_id: int, days: Sequence[LocalDay]
    ) -> dict[RollupKey, MetricContribution]:
        if not days:
            return {}

        def aggregate(connection: sqlite3.Connection) -> dict[RollupKey, MetricContribution]:
            return aggregate_days(connection.cursor(), account_id, days)

        return self.session.driver(aggregate, doing="aggregating raw events")
