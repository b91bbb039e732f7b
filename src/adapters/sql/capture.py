"""What change capture on SQLite and PostgreSQL shares: the triggers' names, the columns they
copy into the change log, and how its status is read. The triggers themselves are each
backend's (`adapters.sqlite.capture`, `adapters.postgres.capture`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import func, select

from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.adapters.sql.migrate import lock_migrations
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import EVENT_FIELDS, rollup_changes
from reporting_rollups.adapters.sql.unit_of_work import SqlTransaction
from reporting_rollups.application.ports import CaptureStatus

#: The capture triggers on `reporting_events`, one per kind of write.
TRIGGERS: Final = (
    "reporting_rollup_capture_insert",
    "reporting_rollup_capture_update",
    "reporting_rollup_capture_delete",
)
#: (change-log column, `reporting_events` column) of the row image a trigger logs.
LOGGED: Final = tuple(("event_id" if name == "id" else name, name) for name in EVENT_FIELDS)
#: A transaction-local setting (PostgreSQL) the library's own writing statements set to
#: `LIBRARY_ORIGIN`: the capture triggers log nothing of them (they are folded or taken back in
#: the same transaction). Set with `set_config(..., true)`: it ends with the transaction.
ORIGIN_SETTING: Final = "reporting_rollups.origin"
LIBRARY_ORIGIN: Final = "library"
#: The SQL expression (true) that marks the current transaction as the library's.
MARK_LIBRARY_ORIGIN: Final = f"set_config('{ORIGIN_SETTING}', '{LIBRARY_ORIGIN}', true) IS NOT NULL"
#: The first key of the advisory locks (PostgreSQL) on (`WRITERS_LOCK_CLASS`, account_id) that
#: the capture triggers take shared for each account a host statement wrote, until its
#: transaction ends, and that a rebuild chunk tries to take exclusively: while it holds it, no
#: host write of the account can commit, so the days it rebuilds stay what it read.
WRITERS_LOCK_CLASS: Final = 0x52525752  # "RRWR"
#: The change-log columns a trigger writes (after `op`).
LOG_COLUMNS: Final = ", ".join(("op", *(column for column, _ in LOGGED)))


def image(row: str) -> str:
    """The logged columns of a row image (`NEW`, `OLD` or a transition table's alias)."""
    return ", ".join(f"{row}.{source}" for _, source in LOGGED)


def _status(session: SqlSession, present_sql: str) -> CaptureStatus:
    """The status; `present_sql` lists the names of `reporting_events`' triggers."""

    def names(connection: Any) -> set[str]:
        cursor = connection.cursor()
        try:
            cursor.execute(present_sql)
            return {str(row[0]) for row in cursor.fetchall()}
        finally:
            cursor.close()

    present = session.driver(names, doing="reading the capture triggers")
    pending = session.one(
        select(func.count()).select_from(rollup_changes), doing="counting captured changes"
    )[0]
    return CaptureStatus(
        triggers=tuple(name for name in TRIGGERS if name in present),
        missing=tuple(name for name in TRIGGERS if name not in present),
        pending=int(pending),
    )


def read_status(database: SqlDatabase, present_sql: str) -> CaptureStatus:
    """`ChangeCapture.status`, in a read-only transaction."""
    with SqlTransaction(database, read_only=True) as transaction:
        return _status(transaction.session, present_sql)


def change(
    database: SqlDatabase, statements: Sequence[str], doing: str, present_sql: str
) -> CaptureStatus:
    """Run DDL in one transaction (serialised with migrations and other installs) and return
    the status it leaves."""
    with SqlTransaction(database) as transaction:
        session = transaction.session
        with session.errors(doing):
            lock_migrations(session.connection)

        def run(connection: Any) -> None:
            cursor = connection.cursor()
            try:
                for statement in statements:
                    cursor.execute(statement)
            finally:
                cursor.close()

        session.driver(run, doing=doing)
        found = _status(session, present_sql)
        transaction.commit()
    return found
