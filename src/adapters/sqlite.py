"""SQLite adapter: the generic SQL stores on one database file.

Connections run in WAL mode (readers never block the writer) with `synchronous=NORMAL` (durable
at checkpoints, never corrupt) and a busy timeout. Every transaction starts with
`BEGIN IMMEDIATE`, so writers queue for the database's single write lock up front instead of
failing to upgrade a read transaction: units of work are serialised, which is what the account
"locks" of `AccountStore` rely on (they are plain reads here).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, Self

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc

from adapters.sql import (
    ErrorTranslator,
    Explanation,
    SqlAppliedLedger,
    SqlEventStore,
    SqlRollupStore,
    SqlUnitOfWorkFactory,
    driver_message,
    operation,
)
from adapters.urls import redact
from domain.errors import ConfigurationError, StorageError
from domain.events import Event
from domain.metrics import MetricContribution, RollupKey
from domain.projection import Member

#: How long a writer waits for another one's write lock before giving up (milliseconds).
DEFAULT_BUSY_TIMEOUT_MS: Final = 30_000

_USAGE: Final = "use sqlite:///relative/path.db or sqlite:////absolute/path.db"

#: Substrings of sqlite3 messages, and what to do about them.
_PROBLEMS: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (
        ("database is locked", "database table is locked"),
        "another process held the write lock longer than the busy timeout; retry, and keep "
        "other writers' transactions short",
    ),
    (
        ("unable to open database file",),
        "check that the directory exists and that this process may read and write the file "
        "and its directory",
    ),
    (
        ("readonly database", "read-only"),
        "the file or its directory is read-only for this process; fix the permissions "
        "(SQLite also writes -wal and -shm files beside the database)",
    ),
    (
        ("no such table", "no such column"),
        "the schema is missing or out of date; run `rollups migrate`",
    ),
    (
        ("file is not a database",),
        "the file is not an SQLite database (or is encrypted); check the URL",
    ),
    (("malformed",), "the database file is corrupt; restore it from a backup"),
    (
        ("disk i/o error", "database or disk is full"),
        "check the file system and its free space",
    ),
)


def explain_sqlite(error: BaseException) -> Explanation | None:
    """What a sqlite3 error means and what to do about it."""
    if not isinstance(error, sqlite3.Error):
        return None
    message = driver_message(error)
    lowered = message.lower()
    for needles, advice in _PROBLEMS:
        if any(needle in lowered for needle in needles):
            return StorageError, f"{message}; {advice}"
    return None


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///path`` URL; `ConfigurationError` for anything else."""
    shown = redact(url)
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        raise ConfigurationError(f"database URL {shown!r} is malformed; {_USAGE}") from None
    if parsed.get_backend_name() != "sqlite" or parsed.drivername not in ("sqlite",):
        raise ConfigurationError(f"database URL {shown!r} is not an SQLite URL; {_USAGE}")
    if parsed.query:
        raise ConfigurationError(
            f"database URL {shown!r}: query parameters are not supported; {_USAGE}"
        )
    if parsed.host or parsed.username or parsed.port:
        raise ConfigurationError(
            f"database URL {shown!r} names a host; SQLite is a local file: {_USAGE}"
        )
    path = parsed.database or ""
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ConfigurationError(
            f"database URL {shown!r} names no file (in-memory SQLite is not supported: each "
            f"connection would see its own empty database; use memory://); {_USAGE}"
        )
    return path


def _configure_connection(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # The library emits BEGIN itself (see `_begin_immediate`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # PRAGMA values cannot be bound parameters; this one is an int the library controls.
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA temp_store = MEMORY")
        finally:
            cursor.close()

    return on_connect


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_engine(url: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``sqlite:///path`` with the library's pragmas and `BEGIN IMMEDIATE`.
    Nothing is opened until first used."""
    path = sqlite_path(url)
    engine = create_engine(
        URL.create("sqlite+pysqlite", database=path),
        hide_parameters=True,
        connect_args={"timeout": busy_timeout_ms / 1000},
    )
    event.listen(engine, "connect", _configure_connection(busy_timeout_ms))
    event.listen(engine, "begin", _begin_immediate)
    return engine


# --- hot path ------------------------------------------------------------------------------------

#: Most bound values in one statement (SQLite >= 3.32 allows 32766; older versions 999).
MAX_VARIABLES: Final = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def stored_time(value: datetime) -> str:
    """A naive UTC datetime in the text form SQLAlchemy's SQLite `DateTime` stores."""
    return value.isoformat(" ", "microseconds")


def _chunks(rows: Sequence[tuple[Any, ...]], width: int) -> Iterator[tuple[str, list[Any]]]:
    """(VALUES placeholders, flat parameters) for slices of `rows` that fit the variable limit."""
    per_statement = max(1, MAX_VARIABLES // width)
    row_marks = "(" + ", ".join(["?"] * width) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        yield ", ".join([row_marks] * len(chunk)), list(itertools.chain.from_iterable(chunk))


_EVENT_COLUMNS: Final = (
    "id, name, value, account_id, inbox_id, user_id, conversation_id, created_at, updated_at, "
    "value_in_business_hours"
)
_MEMBER_KEY: Final = "account_id, date, dimension_type, dimension_id, metric, member_id"
_ROLLUP_UPSERT: Final = (
    "INSERT INTO reporting_events_rollups (account_id, date, dimension_type, dimension_id, "
    "metric, count, sum_value, sum_value_business_hours, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account_id, date, dimension_type, dimension_id, metric) DO UPDATE SET "
    "count = reporting_events_rollups.count + excluded.count, "
    "sum_value = reporting_events_rollups.sum_value + excluded.sum_value, "
    "sum_value_business_hours = reporting_events_rollups.sum_value_business_hours "
    "+ excluded.sum_value_business_hours, updated_at = excluded.updated_at"
)


class SQLiteEventStore(SqlEventStore):
    """Raw events; new ones inserted with multi-row VALUES bound straight to sqlite3 (writers
    are serialised, so ON CONFLICT DO NOTHING RETURNING tells exactly which ids are new)."""

    def _insert_new(self, events: Sequence[Event]) -> list[int]:
        now = stored_time(self.ctx.now())
        rows = [
            (
                event.id,
                event.name,
                event.value,
                event.account_id,
                event.inbox_id,
                event.user_id,
                event.conversation_id,
                stored_time(event.created_at.replace(tzinfo=None)),
                now,
                event.value_in_business_hours,
            )
            for event in events
        ]
        stored: list[int] = []
        for marks, params in _chunks(rows, 10):
            result = self.connection.exec_driver_sql(
                f"INSERT INTO reporting_events ({_EVENT_COLUMNS}) VALUES {marks} "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                tuple(params),
            )
            stored.extend(row[0] for row in result)
        return stored


class SQLiteAppliedLedger(SqlAppliedLedger):
    """Applied marks, inserted with multi-row VALUES."""

    @operation("marking events applied")
    def mark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        fresh: set[int] = set()
        for marks, params in _chunks(sorted(set(refs)), 2):
            result = self.connection.exec_driver_sql(
                "INSERT INTO reporting_rollup_applied_events (account_id, event_id) "
                f"VALUES {marks} ON CONFLICT (account_id, event_id) DO NOTHING "
                "RETURNING event_id",
                tuple(params),
            )
            fresh.update(row[0] for row in result)
        return fresh


class SQLiteRollupStore(SqlRollupStore):
    """Rollups: one executemany upsert; members: multi-row VALUES upserts with RETURNING."""

    def _upsert(self, items: Sequence[tuple[RollupKey, MetricContribution]]) -> None:
        now = stored_time(self.ctx.now())
        rows = [
            (
                key.account_id,
                key.date.isoformat(),
                str(key.dimension_type),
                key.dimension_id,
                str(key.metric),
                delta.count,
                delta.sum_value,
                delta.sum_value_business_hours,
                now,
                now,
            )
            for key, delta in items
        ]
        self.connection.exec_driver_sql(_ROLLUP_UPSERT, rows)

    @operation("updating distinct members")
    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        wanted = {member: delta for member, delta in deltas.items() if delta}
        if not wanted:
            return {}
        rows = [
            (
                key.account_id,
                key.date.isoformat(),
                str(key.dimension_type),
                key.dimension_id,
                str(key.metric),
                member_id,
                delta,
            )
            for (key, member_id), delta in sorted(wanted.items())
        ]
        upserted: list[tuple[Any, ...]] = []
        for marks, params in _chunks(rows, 7):
            result = self.connection.exec_driver_sql(
                f"INSERT INTO reporting_rollup_members ({_MEMBER_KEY}, occurrences) "
                f"VALUES {marks} ON CONFLICT ({_MEMBER_KEY}) DO UPDATE SET "
                "occurrences = reporting_rollup_members.occurrences + excluded.occurrences "
                f"RETURNING {_MEMBER_KEY}, occurrences",
                tuple(params),
            )
            upserted.extend(
                (account, date.fromisoformat(day), *rest) for account, day, *rest in result
            )
        return self._transitions(wanted, upserted)


class SQLiteUnitOfWorkFactory(SqlUnitOfWorkFactory):
    """Units of work on an SQLite file (serialised writers, WAL readers)."""

    event_store_class = SQLiteEventStore
    ledger_class = SQLiteAppliedLedger
    rollup_store_class = SQLiteRollupStore

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        migrate: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> Self:
        """Open ``sqlite:///path``: create or upgrade the schema (`migrate`), or check that it is
        current. The file is created when missing; its directory must exist."""
        path = sqlite_path(url)
        directory = Path(path).expanduser().resolve().parent
        if not directory.is_dir():
            raise StorageError(
                f"SQLite database {path}: the directory {directory} does not exist; create it "
                "or fix the URL"
            )
        engine = sqlite_engine(url, busy_timeout_ms)
        factory = cls(engine, ErrorTranslator(f"SQLite database {path}", explain_sqlite))
        factory.prepare(migrate=migrate)
        return factory


__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "SQLiteAppliedLedger",
    "SQLiteEventStore",
    "SQLiteRollupStore",
    "SQLiteUnitOfWorkFactory",
    "explain_sqlite",
    "sqlite_engine",
    "sqlite_path",
]
