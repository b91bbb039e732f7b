"""What change capture on SQLite and PostgreSQL shares: the triggers' names, the columns they
copy into the change log, and how its status is read. The triggers themselves are each
backend's (`adapters.sqlite.capture`, `adapters.postgres.capture`)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import func, select

from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import EVENT_FIELDS, rollup_changes
from reporting_rollups.application.ports import CaptureStatus

#: The capture triggers on `reporting_events`, one per kind of write.
TRIGGERS: Final = (
    "reporting_rollup_capture_insert",
    "reporting_rollup_capture_update",
    "reporting_rollup_capture_delete",
)
#: (change-log column, `reporting_events` column) of the row image a trigger logs.
LOGGED: Final = tuple(("event_id" if name == "id" else name, name) for name in EVENT_FIELDS)
#: The change-log columns a trigger writes (after `op`).
LOG_COLUMNS: Final = ", ".join(("op", *(column for column, _ in LOGGED)))


def image(row: str) -> str:
    """The logged columns of a row image (`NEW`, `OLD` or a transition table's alias)."""
    return ", ".join(f"{row}.{source}" for _, source in LOGGED)


def status(session: SqlSession, present: set[str]) -> CaptureStatus:
    """The status, given the capture triggers present."""
    pending = session.one(
        select(func.count()).select_from(rollup_changes), doing="counting captured changes"
    )[0]
    return CaptureStatus(
        triggers=tuple(name for name in TRIGGERS if name in present),
        missing=tuple(name for name in TRIGGERS if name not in present),
        pending=int(pending),
    )
