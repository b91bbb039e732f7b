"""SQLite change capture: AFTER INSERT / UPDATE / DELETE row triggers on `reporting_events`
that log each row image into `reporting_rollup_changes`. An update logs only rows whose captured
columns changed: the old image ('D') before the new one ('I'). Rows without an account are not
logged (they contribute nothing). Writers are serialised, so the log's order is commit order."""

from __future__ import annotations

from typing import Final

from reporting_rollups.adapters.sql.capture import (
    LOG_COLUMNS,
    LOGGED,
    TRIGGERS,
    change,
    image,
    read_status,
)
from reporting_rollups.adapters.sql.database import SqlDatabase
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


class SQLiteCapture:
    """`ChangeCapture` on an SQLite database."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    def install(self) -> CaptureStatus:
        return change(self.database, [*_DROP, *_CREATE], "installing change capture", _PRESENT)

    def remove(self) -> CaptureStatus:
        return change(self.database, _DROP, "removing change capture", _PRESENT)

    def status(self) -> CaptureStatus:
        return read_status(self.database, _PRESENT)
