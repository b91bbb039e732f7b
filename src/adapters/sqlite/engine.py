"""The SQLite engine: URL checks, connection pragmas, how transactions begin, and what the
driver's errors mean (`explain_sqlite`, `sqlite_errors`).

Connections run in WAL mode (readers never block the writer) with `synchronous=NORMAL` (durable
at checkpoints, never corrupt), a 16 MiB page cache and a busy timeout. Every writing transaction
starts with `BEGIN IMMEDIATE`, so writers queue for the database's single write lock up front
instead of failing to upgrade a read transaction: writers are serialised, which is what the
account "locks" of `AccountStore` rely on (they are plain reads here). Read-only units of work
start with `BEGIN DEFERRED`: one WAL snapshot, no lock that a writer waits for or that waits for
a writer.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc

from reporting_rollups.adapters.sql.errors import ErrorTranslator, Explanation, driver_message
from reporting_rollups.adapters.sql.session import READ_ONLY_OPTION
from reporting_rollups.adapters.urls import redact
from reporting_rollups.domain.errors import ConfigurationError, StorageError

#: How long a writer waits for another one's write lock before giving up (milliseconds).
DEFAULT_BUSY_TIMEOUT_MS: Final = 30_000

#: Page cache per connection (KiB; SQLite's default is 2 MiB). Index inserts of the live path
#: and the backfill's scans stay in memory instead of re-reading pages as the database grows.
CACHE_KIB: Final = 16_384

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


def decode_text(value: bytes) -> str:
    """TEXT as read from the file: UTF-8, with bytes that are not (a host can store any) kept as
    lone surrogates, so that such a row reads as text that is no valid event name (it
    contributes nothing) instead of failing every query that reads it."""
    return value.decode("utf-8", "surrogateescape")


def _configure_connection(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # The library emits BEGIN itself (see `_begin`).
        dbapi_connection.isolation_level = None
        dbapi_connection.text_factory = decode_text
        cursor = dbapi_connection.cursor()
        try:
            # PRAGMA values cannot be bound parameters; this one is an int the library controls.
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA temp_store = MEMORY")
            cursor.execute(f"PRAGMA cache_size = -{int(CACHE_KIB)}")
        finally:
            cursor.close()

    return on_connect


def begin_in_database(dbapi_connection: sqlite3.Connection, read_only: bool) -> None:
    """Writers take the write lock up front (`BEGIN IMMEDIATE`); a read-only unit of work opens
    a deferred read transaction, one WAL snapshot that never waits for the writer. Nothing when
    the connection is in a transaction already (a host's, `Rollups.using`)."""
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def _begin(connection: Connection) -> None:
    """`begin_in_database` as SQLAlchemy begins a transaction on the library's engine."""
    read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
    begin_in_database(connection.connection.dbapi_connection, read_only)  # type: ignore[arg-type]


def sqlite_engine(url: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``sqlite:///path`` with the library's pragmas and `_begin`.
    Nothing is opened until first used."""
    path = sqlite_path(url)
    engine = create_engine(
        URL.create("sqlite+pysqlite", database=path),
        hide_parameters=True,
        connect_args={"timeout": busy_timeout_ms / 1000},
    )
    event.listen(engine, "connect", _configure_connection(busy_timeout_ms))
    event.listen(engine, "begin", _begin)
    return engine


def sqlite_errors(url: str) -> ErrorTranslator:
    """The error translator for a ``sqlite:///path`` URL (names the file)."""
    return ErrorTranslator(f"SQLite database {sqlite_path(url)}", explain_sqlite)
