"""PostgreSQL change capture: statement-level AFTER INSERT / UPDATE / DELETE triggers on
`reporting_events` with transition tables (a bulk insert costs one trigger call), each logging
the statement's row images into `reporting_rollup_changes` with the writing transaction's id.
An update logs only rows whose captured columns changed: the old image ('D') before the new
one ('I'). Rows without an account are not logged (they contribute nothing), nor the library's own
writes (`ORIGIN_SETTING`: folded or taken back in their own transaction). Each trigger also takes
the host-writes lock of the statement's accounts shared (`WRITERS_LOCK_CLASS`), which a rebuild
chunk holds exclusively while it reads and rewrites the account's days."""

from __future__ import annotations

from typing import Final

from reporting_rollups.adapters.sql.capture import (
    LIBRARY_ORIGIN,
    LOG_COLUMNS,
    LOGGED,
    ORIGIN_SETTING,
    TRIGGERS,
    WRITERS_LOCK_CLASS,
    change,
    image,
    read_status,
)
from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.application.ports import CaptureStatus

_INSERT, _UPDATE, _DELETE = TRIGGERS
_SAME = (
    f"({', '.join(f'n.{source}' for _, source in LOGGED)}) IS NOT DISTINCT FROM "
    f"({', '.join(f'o.{source}' for _, source in LOGGED)})"
)
_LOG = f"INSERT INTO reporting_rollup_changes ({LOG_COLUMNS})"
_SKIP_LIBRARY = (
    f"IF current_setting('{ORIGIN_SETTING}', true) = '{LIBRARY_ORIGIN}' THEN RETURN NULL; END IF;"
)


def _hold(*tables: str) -> str:
    """Take the host-writes lock of each account the statement wrote, shared, in account
    order (a rebuild chunk of one of them holds it exclusively: the host's commit waits)."""
    rows = " UNION ALL ".join(f"SELECT account_id FROM {table}" for table in tables)
    return (
        f"PERFORM pg_advisory_xact_lock_shared({WRITERS_LOCK_CLASS}, a.account_id) FROM ("
        f"SELECT DISTINCT account_id FROM ({rows}) u WHERE account_id IS NOT NULL ORDER BY 1"
        ") a;"
    )


#: (function name, its body's statements, trigger event, REFERENCING clause).
_TRIGGERS: Final = (
    (
        _INSERT,
        f"{_hold('captured_new')} {_LOG} SELECT 'I', {image('n')} FROM captured_new n "
        "WHERE n.account_id IS NOT NULL ORDER BY n.id",
        "INSERT",
        "NEW TABLE AS captured_new",
    ),
    (
        _UPDATE,
        f"{_hold('captured_old', 'captured_new')} {_LOG} SELECT c.op, {image('c')} FROM ("
        f"SELECT 'D' AS op, 0 AS k, {image('o')} FROM captured_old o "
        f"WHERE NOT EXISTS (SELECT FROM captured_new n WHERE n.id = o.id AND {_SAME}) "
        f"UNION ALL SELECT 'I', 1, {image('n')} FROM captured_new n "
        f"WHERE NOT EXISTS (SELECT FROM captured_old o WHERE o.id = n.id AND {_SAME})"
        ") c WHERE c.account_id IS NOT NULL ORDER BY c.id, c.k",
        "UPDATE",
        "OLD TABLE AS captured_old NEW TABLE AS captured_new",
    ),
    (
        _DELETE,
        f"{_hold('captured_old')} {_LOG} SELECT 'D', {image('o')} FROM captured_old o "
        "WHERE o.account_id IS NOT NULL ORDER BY o.id",
        "DELETE",
        "OLD TABLE AS captured_old",
    ),
)

_PRESENT: Final = (
    "SELECT tgname FROM pg_trigger "
    "WHERE tgrelid = 'reporting_events'::regclass AND NOT tgisinternal"
)


class PostgresCapture:
    """`ChangeCapture` on a PostgreSQL database."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    def install(self) -> CaptureStatus:
        statements = []
        for name, body, event, referencing in _TRIGGERS:
            statements += [
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$capture$ BEGIN {_SKIP_LIBRARY} {body}; RETURN NULL; END $capture$",
                f"CREATE OR REPLACE TRIGGER {name} AFTER {event} ON reporting_events "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
            ]
        return change(self.database, statements, "installing change capture", _PRESENT)

    def remove(self) -> CaptureStatus:
        statements = []
        for name, *_ in _TRIGGERS:
            statements += [
                f"DROP TRIGGER IF EXISTS {name} ON reporting_events",
                f"DROP FUNCTION IF EXISTS {name}()",
            ]
        return change(self.database, statements, "removing change capture", _PRESENT)

    def status(self) -> CaptureStatus:
        return read_status(self.database, _PRESENT)
