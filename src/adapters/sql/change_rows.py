"""Taking an account's oldest changes off the change log on the DB-API connection (the hot path
of `rollups sync`): one hand-written DELETE ... RETURNING per batch, its rows made into
`Change`s without SQLAlchemy's per-row work.

An image reads as an `Event` exactly as `rows.event_from_row` reads it (the timestamps parsed by
the dialect's own `DateTime` processor, `created_at` guarded by `readable_created_at`; None when
it is no event).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Final, Protocol

from sqlalchemy import DateTime, and_
from sqlalchemy.engine import Dialect

from reporting_rollups.adapters.sql.aggregation import created_at_in_range, readable_created_at
from reporting_rollups.adapters.sql.rows import event_or_none
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import EVENT_FIELDS, rollup_changes
from reporting_rollups.application.ports import Change

#: The event fields in the order `changes_of` unpacks them (the take statement returns them so).
_CHECKED: Final = (
    "id",
    "name",
    "account_id",
    "created_at",
    "value",
    "value_in_business_hours",
    "user_id",
    "inbox_id",
    "conversation_id",
)
if EVENT_FIELDS != _CHECKED:  # pragma: no cover - a new Event field needs its check here
    raise ImportError(f"change_rows checks {_CHECKED}, but Event has {EVENT_FIELDS}")

_by_change_id: Final = itemgetter(0)
_change: Final = Change._make
#: Text SQLite's `datetime()` reads whenever Python's `fromisoformat` does (ASCII digits only).
_USUAL_TIMESTAMP: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
).fullmatch
_IS_TIMESTAMP: Final = "SELECT datetime(CAST(? AS TEXT)) IS NOT NULL"
_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = _EPOCH.replace(tzinfo=None)


def _utc(value: datetime) -> datetime:
    """`rows.aware` (a naive UTC datetime as an aware one), without `replace`'s cost."""
    if value.tzinfo is None:
        return _EPOCH + (value - _NAIVE_EPOCH)
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=8)
def _take_statement(dialect: Dialect) -> str:
    """The DELETE ... RETURNING of an account's oldest changes, for the DB-API's parameter
    style (``account``, ``limit``): rows (change id, op, logged_at, then `EVENT_FIELDS`), with
    created_at NULL unless `readable_created_at` holds; on SQLite, of its conditions only the
    range (`SQLiteTimestamps.created` tells the rest: `datetime()` is slow in a DELETE)."""
    c = rollup_changes.c
    sqlite = dialect.name == "sqlite"
    conditions = (created_at_in_range if sqlite else readable_created_at)(c.created_at)
    readable = and_(*conditions).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    columns = []
    for name in EVENT_FIELDS:
        if name == "id":
            columns.append("event_id")
        elif name == "created_at":
            columns.append(f"CASE WHEN {readable} THEN created_at END")
        else:
            columns.append(name)
    table = rollup_changes.name
    returning = f"RETURNING id, op, logged_at, {', '.join(columns)}"
    if sqlite:
        oldest = f"SELECT id FROM {table} WHERE account_id = :account ORDER BY id LIMIT :limit"
        return f"DELETE FROM {table} WHERE id IN ({oldest}) {returning}"
    # The ids as an array, looked up in the primary key (`IN (subquery)` is planned as a hash
    # join over a scan of the whole log), read from the (account_id, id) index alone: no FOR
    # UPDATE, which needs the rows and makes the planner walk the primary key past every other
    # account's changes. The stream's advisory lock already keeps other takers out, and the
    # delete locks the rows in log order (the array's, sorted).
    oldest = f"SELECT id FROM {table} WHERE account_id = %(account)s ORDER BY id LIMIT %(limit)s"
    return f"DELETE FROM {table} WHERE id = ANY(ARRAY({oldest})) {returning}"


class DriverTimestamps:
    """Timestamps the driver reads as naive UTC datetimes (psycopg)."""

    @staticmethod
    def logged(value: datetime) -> datetime:
        """A logged_at, aware."""
        return _utc(value)

    @staticmethod
    def created(value: datetime) -> datetime | None:
        """A created_at the statement returned (not NULL), aware."""
        return _utc(value)


class SQLiteTimestamps:
    """Timestamps SQLite holds as text, read by the dialect's `DateTime` processor (as
    SQLAlchemy reads them); `cursor` asks SQLite what `readable_created_at` asks it."""

    def __init__(self, dialect: Dialect, cursor: Any) -> None:
        processor = DateTime().dialect_impl(dialect).result_processor(dialect, None)
        if processor is None:  # pragma: no cover - SQLAlchemy reads SQLite's text itself
            raise TypeError("no DateTime processor for SQLite")
        self.parse: Callable[[Any], Any] = processor
        self.cursor = cursor

    def logged(self, value: str) -> datetime:
        """A logged_at, aware."""
        return _utc(self.parse(value))

    def created(self, value: str) -> datetime | None:
        """A created_at in range (text), aware; None unless SQLite's `datetime()` reads it
        (`_IsTimestamp`). Text of the usual shape that Python reads is a timestamp SQLite
        reads too; SQLite is asked about any other."""
        if _USUAL_TIMESTAMP(value):
            try:
                return _utc(self.parse(value))
            except ValueError:
                pass
        # As stored: the text was read with `decode_text`.
        self.cursor.execute(_IS_TIMESTAMP, (value.encode("utf-8", "surrogateescape"),))
        if not self.cursor.fetchone()[0]:
            return None
        return _utc(self.parse(value))


class Timestamps(Protocol):
    """How the take statement's timestamps are read."""

    def logged(self, value: Any) -> datetime:
        """A logged_at, aware."""
        ...

    def created(self, value: Any) -> datetime | None:
        """A created_at the statement returned (not NULL), aware; None when it is no
        readable timestamp."""
        ...


def changes_of(rows: Iterable[tuple[Any, ...]], times: Timestamps) -> list[Change]:
    """Rows of the take statement (any order) as `Change`s in log order."""
    logged: dict[Any, datetime] = {}  # a host transaction's changes share their logged_at
    changes: list[Change] = []
    append = changes.append
    for (
        change_id,
        op,
        logged_at,
        event_id,
        name,
        account_id,
        created_at,
        value,
        value_in_business_hours,
        user_id,
        inbox_id,
        conversation_id,
    ) in sorted(rows, key=_by_change_id):
        at = logged.get(logged_at)
        if at is None:
            at = logged[logged_at] = times.logged(logged_at)
        event = event_or_none(
            event_id,
            name,
            account_id,
            None if created_at is None else times.created(created_at),
            value,
            value_in_business_hours,
            user_id,
            inbox_id,
            conversation_id,
        )
        append(_change((int(change_id), op, int(account_id), int(event_id), event, at)))
    return changes


def take(session: SqlSession, account_id: int, limit: int) -> list[Change]:
    """Remove and return up to `limit` of the account's oldest visible changes, in log order
    (the caller holds the account's stream)."""
    dialect = session.dialect
    statement = _take_statement(dialect)
    params = {"account": account_id, "limit": limit}

    def work(connection: Any) -> list[Change]:
        cursor = connection.cursor()
        try:
            cursor.execute(statement, params)
            rows = cursor.fetchall()
            times: Timestamps = (
                SQLiteTimestamps(dialect, cursor)
                if dialect.name == "sqlite"
                else DriverTimestamps()
            )
            return changes_of(rows, times)
        finally:
            cursor.close()

    return session.driver(work, doing="taking captured changes")
