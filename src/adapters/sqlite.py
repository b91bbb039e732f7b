"""SQLite adapter: the generic SQL stores on one database file, with the hot paths specialised.

Connections run in WAL mode (readers never block the writer) with `synchronous=NORMAL` (durable
at checkpoints, never corrupt), a 16 MiB page cache and a busy timeout. Every writing transaction
starts with `BEGIN IMMEDIATE`, so writers queue for the database's single write lock up front
instead of failing to upgrade a read transaction: writers are serialised, which is what the
account "locks" of `AccountStore` rely on (they are plain reads here). Read-only units of work
start with `BEGIN DEFERRED`: one WAL snapshot, no lock that a writer waits for or that waits for
a writer.

The live path (raw events, applied marks, rollup and member upserts, account reads) and rebuilds
run hand-written SQL on the sqlite3 connection under the unit of work's SQLAlchemy connection, in
its transaction; everything else is the generic SQLAlchemy Core code of `adapters.sql`.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, Self, cast

from sqlalchemy import URL, Connection, Engine, and_, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from reporting_rollups.adapters.sql import (
    READ_ONLY_OPTION,
    SqlAccountStore,
    SqlAppliedLedger,
    SqlEventStore,
    SqlRollupStore,
    SqlUnitOfWorkFactory,
    operation,
)
from reporting_rollups.adapters.sql_aggregation import naive_utc, valid_event_row
from reporting_rollups.adapters.sql_errors import ErrorTranslator, Explanation, driver_message
from reporting_rollups.adapters.urls import redact
from reporting_rollups.application.ports import AccountSettings, RebuildStats
from reporting_rollups.domain.errors import ConfigurationError, StorageError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DIMENSION_FIELDS, MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member, Projection
from reporting_rollups.domain.registry import RULES, Payload
from reporting_rollups.domain.timezones import LocalDay

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


def _begin(connection: Connection) -> None:
    """Writers take the write lock up front (`BEGIN IMMEDIATE`); a read-only unit of work opens
    a deferred read transaction, one WAL snapshot that never waits for the writer."""
    read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
    connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


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


# --- hot path ------------------------------------------------------------------------------------
#
# The live path binds straight to the sqlite3 connection under the unit of work's SQLAlchemy
# connection (same transaction): cached SQL strings, `executemany`, rows fetched by the driver.
# Writers are serialised by BEGIN IMMEDIATE, so what a statement reports is exact.

#: Most bound values in one statement (SQLite >= 3.32 allows 32766; older versions 999).
MAX_VARIABLES: Final = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def stored_time(value: datetime) -> str:
    """A UTC datetime (naive or aware) in the text form SQLAlchemy's SQLite `DateTime` stores."""
    return value.isoformat(" ", "microseconds")[:26]


def driver_cursor(connection: Connection) -> sqlite3.Cursor:
    """A cursor of the sqlite3 connection under `connection` (in its transaction)."""
    raw = cast(sqlite3.Connection, connection.connection.driver_connection)
    return raw.cursor()


def _chunks(rows: Sequence[tuple[Any, ...]], width: int) -> Iterator[tuple[str, list[Any]]]:
    """(VALUES placeholders, flat parameters) for slices of `rows` that fit the variable limit."""
    per_statement = max(1, MAX_VARIABLES // width)
    row_marks = "(" + ", ".join(["?"] * width) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        yield ", ".join([row_marks] * len(chunk)), list(itertools.chain.from_iterable(chunk))


def _returning(
    cursor: sqlite3.Cursor, head: str, tail: str, rows: Sequence[tuple[Any, ...]], width: int
) -> list[Any]:
    """Rows of ``{head} VALUES (...), ... {tail}`` (a RETURNING statement) over `rows`, run in
    multi-row slices that fit the variable limit."""
    found: list[Any] = []
    for marks, params in _chunks(rows, width):
        found.extend(cursor.execute(f"{head} VALUES {marks} {tail}", params).fetchall())
    return found


def _insert_all_new(
    cursor: sqlite3.Cursor, statement: str, rows: Sequence[tuple[Any, ...]]
) -> bool:
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


_EVENT_HEAD: Final = (
    "INSERT INTO reporting_events (id, name, value, account_id, inbox_id, user_id, "
    "conversation_id, value_in_business_hours, created_at, updated_at)"
)
_EVENT_INSERT: Final = (
    f"{_EVENT_HEAD} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)
_MARK_HEAD: Final = "INSERT INTO reporting_rollup_applied_events (account_id, event_id)"
_MARK_INSERT: Final = f"{_MARK_HEAD} VALUES (?, ?) ON CONFLICT (account_id, event_id) DO NOTHING"
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
    """Raw events: one `executemany` insert when every id is new (the usual case), else a
    multi-row ``ON CONFLICT DO NOTHING RETURNING id`` that tells which ones are. Aggregations
    (`verify`) run the rebuild's search and projection (`aggregate_days`)."""

    @operation("aggregating raw events")
    def aggregate(
        self, account_id: int, days: Sequence[LocalDay]
    ) -> dict[RollupKey, MetricContribution]:
        if not days:
            return {}
        found = aggregate_days(driver_cursor(self.connection), account_id, days)
        return super().aggregate(account_id, days) if found is None else found

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
                event.value_in_business_hours,
                event.created_at.isoformat(" ", "microseconds")[:26],
                now,
            )
            for event in events
        ]
        cursor = driver_cursor(self.connection)
        if _insert_all_new(cursor, _EVENT_INSERT, rows):
            return [row[0] for row in rows]
        found = _returning(
            cursor, _EVENT_HEAD, "ON CONFLICT (id) DO NOTHING RETURNING id", rows, 10
        )
        return [row[0] for row in found]


class SQLiteAppliedLedger(SqlAppliedLedger):
    """Applied marks: one `executemany` insert when none was marked yet, else a multi-row
    ``ON CONFLICT DO NOTHING RETURNING``."""

    @operation("marking events applied")
    def mark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        if not refs:
            return set()
        # In the caller's order: events come sorted by id, so each account's marks are appends.
        rows = list(dict.fromkeys(refs))
        cursor = driver_cursor(self.connection)
        if _insert_all_new(cursor, _MARK_INSERT, rows):
            return {event_id for _account, event_id in rows}
        found = _returning(
            cursor,
            _MARK_HEAD,
            "ON CONFLICT (account_id, event_id) DO NOTHING RETURNING event_id",
            rows,
            2,
        )
        return {row[0] for row in found}


# --- rebuilds ------------------------------------------------------------------------------------
#
# A rebuild finds the days' raw events in the reference index (account_id, name, created_at),
# named with INDEXED BY so that no planner estimate can turn the range searches into scans: per
# local day and per event name the account has (NULL included), a range search. Their ids go to a
# temp table keyed by id, from which the marks are inserted in id order, the events counted, and
# each event read once, in table order, into partial sums per (day, name, member, validity,
# dimension ids). Those few partials become the rollup rows and distinct members by the
# domain's projection (`Projection.add_group`; `valid_event_row` as in the generic aggregation's
# sources) and are inserted with `executemany`.

_IDS: Final = "temp.reporting_rollup_rebuild_ids"
#: The reference schema's index the rebuild searches, and its leading columns.
_EVENT_INDEX: Final = "reporting_events__account_id__name__created_at"
_EVENT_INDEX_COLUMNS: Final = ["account_id", "name", "created_at"]
_INDEX_COLUMNS: Final = (
    "SELECT i.name FROM sqlite_master AS m, pragma_index_info(m.name) AS i "
    "WHERE m.type = 'index' AND m.name = ? AND m.tbl_name = 'reporting_events' ORDER BY i.seqno"
)
#: Most local days searched by one statement (bounded statement shapes and prepare costs).
_WINDOWS_PER_STATEMENT: Final = 64
_CREATE_IDS: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS reporting_rollup_rebuild_ids "
    "(id INTEGER PRIMARY KEY, day TEXT)"
)
#: The account's distinct event names, one index search each (a loose index scan).
_ACCOUNT_NAMES: Final = (
    "WITH RECURSIVE names(name) AS ("
    f"SELECT min(name) FROM reporting_events INDEXED BY {_EVENT_INDEX} "
    "WHERE account_id = :account "
    f"UNION ALL SELECT (SELECT min(e.name) FROM reporting_events AS e INDEXED BY {_EVENT_INDEX} "
    "WHERE e.account_id = :account AND e.name > names.name) "
    "FROM names WHERE names.name IS NOT NULL) "
    "SELECT name FROM names WHERE name IS NOT NULL"
)
_REBUILD_MARKS: Final = (
    f"{_MARK_HEAD} SELECT :account, id FROM {_IDS} WHERE true "
    "ON CONFLICT (account_id, event_id) DO NOTHING"
)
#: Event names feeding a distinct-count rule: their partials keep the conversation as member.
_DISTINCT_NAMES: Final = tuple(
    dict.fromkeys(r.event_name for r in RULES if r.payload is Payload.DISTINCT_CONVERSATIONS)
)
#: The partials' dimension-id columns (after 7 fixed ones): the events' dimension fields.
_DIMENSION_COLUMNS: Final = tuple(dict.fromkeys(DIMENSION_FIELDS.values()))
_VALID: Final = and_(*valid_event_row()).compile(dialect=sqlite_dialect(paramstyle="named"))
#: Rows (day, name, member, valid, events, sum_value, sum_business, *dimension ids): the
#: events summed per day, name, member (the conversation, for names feeding a distinct-count
#: rule; NULL otherwise), validity and dimension ids. (A WHERE on the events' own columns would
#: let SQLite build a Bloom filter on the events table: a full scan per statement.)
_REBUILD_PARTIALS: Final = (
    "SELECT ids.day, e.name, CASE WHEN e.name IN ("
    + (", ".join(f":distinct{i}" for i in range(len(_DISTINCT_NAMES))) or "NULL")
    + ") THEN e.conversation_id END AS member, coalesce("
    + _VALID.string.replace("reporting_events.", "e.")
    + ", 0) AS valid, count(*), coalesce(sum(e.value), 0.0), "
    "coalesce(sum(e.value_in_business_hours), 0.0)"
    + "".join(f", e.{column}" for column in _DIMENSION_COLUMNS)
    + f" FROM {_IDS} AS ids CROSS JOIN reporting_events AS e WHERE e.id = ids.id "
    "GROUP BY ids.day, e.name, member, valid"
    + "".join(f", e.{column}" for column in _DIMENSION_COLUMNS)
)
_PARTIALS_PARAMS: Final = {
    **{f"distinct{i}": name for i, name in enumerate(_DISTINCT_NAMES)},
    **_VALID.params,
}
_REBUILD_ROWS: Final = (
    "INSERT INTO reporting_events_rollups (account_id, date, dimension_type, dimension_id, "
    "metric, count, sum_value, sum_value_business_hours, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_REBUILD_MEMBERS: Final = (
    f"INSERT INTO reporting_rollup_members ({_MEMBER_KEY}, occurrences) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _rebuilt(account_id: int, partials: Iterable[Sequence[Any]]) -> Projection:
    """The projection of partial sums (rows of `_REBUILD_PARTIALS`): the domain's rules turn
    them into rollup rows and distinct members; invalid events contribute nothing."""
    projection = Projection()
    for day, name, member, valid, events, total, business, *ids in partials:
        if valid:
            projection.add_group(
                account_id,
                date.fromisoformat(day),
                name,
                dict(zip(_DIMENSION_COLUMNS, ids, strict=True)),
                member,
                events,
                total,
                business,
            )
    return projection


@functools.lru_cache(maxsize=64)
def _ids_sql(days: int, names: int) -> str:
    """Insert into the ids table the (id, day) of the account's events of `days` windows
    ``(:dayI, :startI, :endI)`` with `names` names ``:nameI`` (NULL matches NULL)."""
    windows = ", ".join(f"(:day{i}, :start{i}, :end{i})" for i in range(days))
    listed = ", ".join(f"(:name{i})" for i in range(names))
    return (
        f"INSERT INTO {_IDS} (id, day) WITH windows(day, start_at, end_at) AS (VALUES {windows}), "
        f"names(name) AS (VALUES {listed}) SELECT reporting_events.id, windows.day "
        f"FROM windows CROSS JOIN names CROSS JOIN reporting_events INDEXED BY {_EVENT_INDEX} "
        "WHERE reporting_events.account_id = :account AND reporting_events.name IS names.name "
        "AND reporting_events.created_at >= windows.start_at "
        "AND reporting_events.created_at < windows.end_at"
    )


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _searched_names(cursor: sqlite3.Cursor, account_id: int) -> list[str | None] | None:
    """The event names the id search covers (the account's, and NULL), or None when it cannot
    run on this database (no reference index; more names than bound values)."""
    indexed = [row[0] for row in cursor.execute(_INDEX_COLUMNS, [_EVENT_INDEX])]
    if indexed[:3] != _EVENT_INDEX_COLUMNS:  # a host schema without the reference index
        return None
    # A name that is not UTF-8 (read as lone surrogates, `decode_text`) is no event's: its rows
    # contribute nothing, and it could not be bound as a parameter.
    names: list[str | None] = [
        name
        for (name,) in cursor.execute(_ACCOUNT_NAMES, {"account": account_id})
        if not _has_surrogates(name)
    ]
    names.append(None)
    if (MAX_VARIABLES - len(names) - 1) // 3 < 1:
        return None
    return names


def _find_ids(
    cursor: sqlite3.Cursor, account_id: int, days: Sequence[LocalDay], names: Sequence[str | None]
) -> int:
    """Fill the ids table with the (id, day) of the account's raw rows on `days`, searched in the
    reference index per day and name; return how many."""
    per_statement = min(_WINDOWS_PER_STATEMENT, (MAX_VARIABLES - len(names) - 1) // 3)
    cursor.execute(_CREATE_IDS)
    cursor.execute(f"DELETE FROM {_IDS}")
    windows = [
        (day.date.isoformat(), stored_time(naive_utc(day.start)), stored_time(naive_utc(day.end)))
        for day in days
        if day.start < day.end
    ]
    searched = {"account": account_id, **{f"name{i}": name for i, name in enumerate(names)}}
    for start in range(0, len(windows), per_statement):
        batch = windows[start : start + per_statement]
        params = dict(searched)
        for i, (day, begin, end) in enumerate(batch):
            params[f"day{i}"], params[f"start{i}"], params[f"end{i}"] = day, begin, end
        cursor.execute(_ids_sql(len(batch), len(names)), params)
    (events,) = cursor.execute(f"SELECT count(*) FROM {_IDS}").fetchone()
    return int(events)


def _found_projection(cursor: sqlite3.Cursor, account_id: int) -> Projection:
    """The projection of the events in the ids table (each read once); empties the table."""
    projection = _rebuilt(
        account_id, cursor.execute(_REBUILD_PARTIALS, _PARTIALS_PARAMS).fetchall()
    )
    cursor.execute(f"DELETE FROM {_IDS}")
    return projection


def aggregate_days(
    cursor: sqlite3.Cursor, account_id: int, days: Sequence[LocalDay]
) -> dict[RollupKey, MetricContribution] | None:
    """What rebuilding `days` would write (the rebuild's search and projection, nothing
    written but the temp ids table), or None when the search cannot run on this database.
    Runs in a read transaction: the temp table is not the database file."""
    names = _searched_names(cursor, account_id)
    if names is None:
        return None
    _find_ids(cursor, account_id, days, names)
    return _found_projection(cursor, account_id).totals()


def _stored_key(key: RollupKey) -> tuple[int, str, str, int, str]:
    """A rollup key as SQLite stores it (ISO date, plain strings)."""
    account_id, day, dimension, dimension_id, metric = key
    return account_id, day.isoformat(), str(dimension), dimension_id, str(metric)


def _delete_days_sql(table: str, days: int) -> str:
    return f"DELETE FROM {table} WHERE account_id = ? AND date IN ({', '.join(['?'] * days)})"


class SQLiteRollupStore(SqlRollupStore):
    """Rollups: one `executemany` additive upsert; members: multi-row upserts with RETURNING;
    rebuilds: see above."""

    @operation("adding to rollup rows")
    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        if not deltas:
            return
        now = stored_time(self.ctx.now())
        # Key columns first, so the rows sort in key order (ISO dates sort as dates). Enum
        # members become plain strings: sqlite3 binds those without an adapter lookup.
        rows = sorted(
            [
                (
                    account,
                    day.isoformat(),
                    str(dimension),
                    dimension_id,
                    str(metric),
                    *delta,
                    now,
                    now,
                )
                for (account, day, dimension, dimension_id, metric), delta in deltas.items()
            ]
        )
        driver_cursor(self.connection).executemany(_ROLLUP_UPSERT, rows)
        # Only rows that received a negative count can have reached 0 (stored counts are > 0).
        shrinking = sorted(key for key, delta in deltas.items() if delta.count < 0)
        if shrinking:
            self._settle_keys(shrinking)

    @operation("updating distinct members")
    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        wanted = {member: delta for member, delta in deltas.items() if delta}
        if not wanted:
            return {}
        rows = sorted(
            (account, day.isoformat(), str(dimension), dimension_id, str(metric), member_id, delta)
            for (
                (account, day, dimension, dimension_id, metric),
                member_id,
            ), delta in wanted.items()
        )
        upserted = _returning(
            driver_cursor(self.connection),
            f"INSERT INTO reporting_rollup_members ({_MEMBER_KEY}, occurrences)",
            f"ON CONFLICT ({_MEMBER_KEY}) DO UPDATE SET "
            "occurrences = reporting_rollup_members.occurrences + excluded.occurrences "
            f"RETURNING {_MEMBER_KEY}, occurrences",
            rows,
            7,
        )
        return self._transitions(
            wanted, [(account, date.fromisoformat(day), *rest) for account, day, *rest in upserted]
        )

    @operation("rebuilding rollup days")
    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        if not days:
            return RebuildStats(0, 0)
        cursor = driver_cursor(self.connection)
        names = _searched_names(cursor, account_id)
        if names is None:
            return super().rebuild_days(account_id, days)
        dates = sorted(day.date.isoformat() for day in days)
        for start in range(0, len(dates), MAX_VARIABLES - 1):
            part = dates[start : start + MAX_VARIABLES - 1]
            for table in ("reporting_events_rollups", "reporting_rollup_members"):
                cursor.execute(_delete_days_sql(table, len(part)), [account_id, *part])
        events = _find_ids(cursor, account_id, days, names)
        cursor.execute(_REBUILD_MARKS, {"account": account_id})
        projection = _found_projection(cursor, account_id)
        rows = projection.totals()
        now = stored_time(self.ctx.now())
        cursor.executemany(
            _REBUILD_ROWS,
            [(*_stored_key(key), *rows[key], now, now) for key in sorted(rows)],
        )
        cursor.executemany(
            _REBUILD_MEMBERS,
            [
                (*_stored_key(key), member, n)
                for (key, member), n in sorted(projection.members.items())
            ],
        )
        return RebuildStats(int(events), len(rows))


class SQLiteAccountStore(SqlAccountStore):
    """Account settings, read with one cached statement (the live path's per-call read)."""

    def _read(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        wanted = sorted(set(account_ids))
        found: dict[int, AccountSettings] = {}
        cursor = driver_cursor(self.connection)
        for start in range(0, len(wanted), MAX_VARIABLES):
            part = wanted[start : start + MAX_VARIABLES]
            marks = ", ".join(["?"] * len(part))
            for account_id, zone, rollup_zone, enabled, generation in cursor.execute(
                "SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled, "
                f"timezone_generation FROM reporting_rollup_accounts WHERE account_id IN ({marks})",
                part,
            ):
                found[account_id] = AccountSettings(
                    account_id, zone, rollup_zone, bool(enabled), int(generation)
                )
        return {
            account_id: found.get(account_id) or AccountSettings(account_id)
            for account_id in wanted
        }


def sqlite_errors(url: str) -> ErrorTranslator:
    """The error translator for a ``sqlite:///path`` URL (names the file)."""
    return ErrorTranslator(f"SQLite database {sqlite_path(url)}", explain_sqlite)


class SQLiteUnitOfWorkFactory(SqlUnitOfWorkFactory):
    """Units of work on an SQLite file (serialised writers, WAL readers)."""

    event_store_class = SQLiteEventStore
    ledger_class = SQLiteAppliedLedger
    rollup_store_class = SQLiteRollupStore
    account_store_class = SQLiteAccountStore

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
        factory = cls(engine, sqlite_errors(url))
        factory.prepare(migrate=migrate)
        return factory


__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "SQLiteAccountStore",
    "SQLiteAppliedLedger",
    "SQLiteEventStore",
    "SQLiteRollupStore",
    "SQLiteUnitOfWorkFactory",
    "explain_sqlite",
    "sqlite_engine",
    "sqlite_errors",
    "sqlite_path",
]
