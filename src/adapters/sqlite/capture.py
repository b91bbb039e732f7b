"""SQLite change capture: AFTER INSERT / UPDATE / DELETE row triggers on `reporting_events`
that log each row image into `reporting_rollup_changes`. An update logs only rows whose captured
columns changed: the old image ('D') before the new one ('I'). Rows without an account are not
logged (they contribute nothing). Writers are serialised, so the log's order is commit order."""

from __future__ import annotations

import sqlite3
from typing import Final

from reporting_rollups.adapters.sql.capture import LOG_COLUMNS, LOGGED, TRIGGERS, image, status
from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.unit_of_work import SqlTransaction
from reporting_rollups.adapters.sqlite.driver import fetch
from reporting_rollups.application.ports import CaptureStatus

_INSERT, _UPDATE, _DELETE = TRIGGERS
_LOG = f"INSERT INTO reporting_rollup_changes ({LOG_COLUMNS})"
_CHANGED = " OR ".join(f"OLD.{source} IS NOT NEW.{source}" for _, source in LOGGED)

_CREATE: Final = (
    f"CREATE TRIGGER {_INSERT} AFTER INSERT ON reporting_events "
    f"WHEN NEW.account_id IS NOT NULL BEGIN {_LOG} VALUES ('I', {image('NEW')}); END",
    f"CREATE TRIGGER {_UPDATE} AFTER UPDATE ON reporting_events WHEN {_CHANGED} BEGIN "
    f"{_LOG} SELECT 'D', {image('OLD')} WHERE OLD.account_id IS NOT NULL; "
    f"{_LOG} SELECT 'I', {image('NEW')} WHERE NEW.account_id IS NOT NULL; END",
    f"CREATE TRIGGER {_DELETE} AFTER DELETE ON reporting_events "
    f"WHEN OLD.account_id IS NOT NULL BEGIN {_LOG} VALUES ('D', {image('OLD')}); END",
)
_DROP: Final = tuple(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS)
_PRESENT: Final = (
    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'reporting_events'"
)


def _present(session: SqlSession) -> set[str]:
    def read(connection: sqlite3.Connection) -> set[str]:
        return {str(row[0]) for row in fetch(connection.cursor(), _PRESENT)}

    return session.driver(read, doing="reading the capture triggers")


class SQLiteCapture:
    """`ChangeCapture` on an SQLite database."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    def install(self) -> CaptureStatus:
        return self._change([*_DROP, *_CREATE], "installing change capture")

    def remove(self) -> CaptureStatus:
        return self._change(list(_DROP), "removing change capture")

    def status(self) -> CaptureStatus:
        with SqlTransaction(self.database, read_only=True) as transaction:
            return status(transaction.session, _present(transaction.session))

    def _change(self, statements: list[str], doing: str) -> CaptureStatus:
        """Run DDL in one (write-locked) transaction."""
        with SqlTransaction(self.database) as transaction:
            session = transaction.session

            def run(connection: sqlite3.Connection) -> None:
                cursor = connection.cursor()
                for statement in statements:
                    cursor.execute(statement)

            session.driver(run, doing=doing)
            found = status(session, _present(session))
            transaction.commit()
        return found
