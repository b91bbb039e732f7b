"""How the SQLite backend's hot paths run: hand-written SQL on the DB-API connection under a
unit of work's session (same transaction; errors translated by `SqlSession.driver`), with
cached SQL strings, `executemany` and rows fetched by the driver. Only DB-API calls are used,
so the same code runs on SQLAlchemy's adapted asyncio connection under its greenlet bridge.
Writers are serialised by BEGIN IMMEDIATE, so what a statement reports is exact. Column lists
come from `adapters.sql.tables`."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from reporting_rollups.adapters.sql.tables import EVENT_COLUMNS, MEMBER_KEY_COLUMNS
from reporting_rollups.domain.events import Event

#: Most bound values in one statement (SQLite >= 3.32 allows 32766; older versions 999).
MAX_VARIABLES: Final = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999

EVENT_HEAD: Final = f"INSERT INTO reporting_events ({', '.join(EVENT_COLUMNS)})"
EVENT_INSERT: Final = (
    f"{EVENT_HEAD} VALUES ({', '.join(['?'] * len(EVENT_COLUMNS))}) ON CONFLICT (id) DO NOTHING"
)
MARK_HEAD: Final = "INSERT INTO reporting_rollup_applied_events (account_id, event_id)"
MARK_INSERT: Final = f"{MARK_HEAD} VALUES (?, ?) ON CONFLICT (account_id, event_id) DO NOTHING"
MEMBER_KEY: Final = ", ".join(MEMBER_KEY_COLUMNS)
ROLLUP_UPSERT: Final = (
    "INSERT INTO reporting_events_rollups (account_id, date, dimension_type, dimension_id, "
    "metric, count, sum_value, sum_value_business_hours, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_id, date, dimension_type, dimension_id, metric) DO UPDATE SET "
    "count = reporting_events_rollups.count + excluded.count, "
    "sum_value = reporting_events_rollups.sum_value + excluded.sum_value, "
    "sum_value_business_hours = reporting_events_rollups.sum_value_business_hours "
    "+ excluded.sum_value_business_hours, updated_at = excluded.updated_at"
)


def stored_time(value: datetime) -> str:
    """A UTC datetime (naive or aware) in the text form SQLAlchemy's SQLite `DateTime` stores."""
    return value.isoformat(" ", "microseconds")[:26]


def event_row(event: Event, now: str) -> tuple[Any, ...]:
    """An event's values in `EVENT_COLUMNS` order (`now`: the stored `updated_at` when the event
    has none)."""
    updated_at, start, end = event.updated_at, event.event_start_time, event.event_end_time
    return (
        event.id,
        event.name,
        event.account_id,
        event.created_at.isoformat(" ", "microseconds")[:26],
        event.value,
        event.value_in_business_hours,
        event.user_id,
        event.inbox_id,
        event.conversation_id,
        now if updated_at is None else stored_time(updated_at),
        None if start is None else stored_time(start),
        None if end is None else stored_time(end),
    )


def fetch(cursor: Any, statement: str, params: Any = ()) -> list[Any]:
    """Every row of a statement (DB-API calls only: `execute` returns nothing there)."""
    cursor.execute(statement, params)
    return list(cursor.fetchall())


def _chunks(rows: Sequence[tuple[Any, ...]], width: int) -> Iterator[tuple[str, list[Any]]]:
    """(VALUES placeholders, flat parameters) for slices of `rows` that fit the variable limit."""
    per_statement = max(1, MAX_VARIABLES // width)
    row_marks = "(" + ", ".join(["?"] * width) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        yield ", ".join([row_marks] * len(chunk)), list(itertools.chain.from_iterable(chunk))


def returning(
    cursor: sqlite3.Cursor, head: str, tail: str, rows: Sequence[tuple[Any, ...]], width: int
) -> list[Any]:
    """Rows of ``{head} VALUES (...), ... {tail}`` (a RETURNING statement) over `rows`, run in
    multi-row slices that fit the variable limit."""
    found: list[Any] = []
    for marks, params in _chunks(rows, width):
        found.extend(fetch(cursor, f"{head} VALUES {marks} {tail}", params))
    return found


def insert_all_new(cursor: sqlite3.Cursor, statement: str, rows: Sequence[tuple[Any, ...]]) -> bool:
    """Run an ``INSERT ... ON CONFLICT DO NOTHING`` over `rows` (`executemany`) in a savepoint.
    Keep it and return True when every row was inserted; otherwise undo it and return False.
    (An error propagates with the savepoint open: the unit of work rolls back everything.)"""
    cursor.execute("SAVEPOINT rollups_bulk")
    cursor.executemany(statement, rows)
    inserted = cursor.rowcount == len(rows)
    if not inserted:
        cursor.execute("ROLLBACK TO rollups_bulk")
    cursor.execute("RELEASE rollups_bulk")
    return inserted
