"""SQLite rebuilds of local days from raw events, and the same search and projection for
`verify` (`aggregate_days`).

A rebuild finds the days' raw events in the reference index (account_id, name, created_at),
named with INDEXED BY so that no planner estimate can turn the range searches into scans: per
local day and per event name the account has (NULL included), a range search. On a host table
without that index (or with more names than bound values) each statement reads the table once
and puts each of the account's rows in its day (`_ids_sql`). The ids go to a temp table keyed by
id, from which the marks are inserted in id order, the events counted, and each event read once,
in table order, into partial sums per (day, name, member, validity, dimension ids). Those few
partials become the rollup rows and distinct members by the domain's projection
(`Projection.add_group`; `valid_event_row` as in the shared aggregation) and are inserted with
`executemany`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Final

from sqlalchemy import and_
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from reporting_rollups.adapters.sql.aggregation import naive_utc, valid_event_row
from reporting_rollups.adapters.sqlite.driver import (
    MARK_HEAD,
    MAX_VARIABLES,
    MEMBER_KEY,
    fetch,
    stored_time,
)
from reporting_rollups.application.ports import RebuildStats
from reporting_rollups.domain.metrics import DIMENSION_FIELDS, MetricContribution, RollupKey
from reporting_rollups.domain.projection import Projection
from reporting_rollups.domain.registry import RULES, Payload
from reporting_rollups.domain.timezones import LocalDay

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
    f"{MARK_HEAD} SELECT :account, id FROM {_IDS} WHERE true "
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
    f"INSERT INTO reporting_rollup_members ({MEMBER_KEY}, occurrences) VALUES (?, ?, ?, ?, ?, ?, ?)"
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
def _ids_sql(days: int, names: int | None) -> str:
    """Insert into the ids table the (id, day) of the account's events of `days` windows
    ``(:dayI, :startI, :endI)``: with `names` names ``:nameI`` (NULL matches NULL), one search
    of the reference index per window and name; with None, one pass over the table (no index
    named) that puts each of the account's rows in its window."""
    windows = ", ".join(f"(:day{i}, :start{i}, :end{i})" for i in range(days))
    in_window = (
        "reporting_events.account_id = :account "
        "AND reporting_events.created_at >= windows.start_at "
        "AND reporting_events.created_at < windows.end_at"
    )
    head = f"INSERT INTO {_IDS} (id, day) WITH windows(day, start_at, end_at) AS (VALUES {windows})"
    if names is None:  # the table outermost (CROSS JOIN keeps SQLite's order): read once
        return (
            f"{head} SELECT reporting_events.id, windows.day "
            f"FROM reporting_events CROSS JOIN windows WHERE {in_window}"
        )
    listed = ", ".join(f"(:name{i})" for i in range(names))
    return (
        f"{head}, names(name) AS (VALUES {listed}) SELECT reporting_events.id, windows.day "
        f"FROM windows CROSS JOIN names CROSS JOIN reporting_events INDEXED BY {_EVENT_INDEX} "
        f"WHERE {in_window} AND reporting_events.name IS names.name"
    )


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _searched_names(cursor: sqlite3.Cursor, account_id: int) -> list[str | None] | None:
    """The event names the indexed id search covers (the account's, and NULL), or None when it
    cannot run on this database (no reference index; more names than bound values): the search
    then goes per day only."""
    indexed = [row[0] for row in fetch(cursor, _INDEX_COLUMNS, [_EVENT_INDEX])]
    if indexed[:3] != _EVENT_INDEX_COLUMNS:  # a host schema without the reference index
        return None
    # A name that is not UTF-8 (read as lone surrogates, `decode_text`) is no event's: its rows
    # contribute nothing, and it could not be bound as a parameter.
    names: list[str | None] = [
        name
        for (name,) in fetch(cursor, _ACCOUNT_NAMES, {"account": account_id})
        if not _has_surrogates(name)
    ]
    names.append(None)
    if (MAX_VARIABLES - len(names) - 1) // 3 < 1:
        return None
    return names


def _find_ids(cursor: sqlite3.Cursor, account_id: int, days: Sequence[LocalDay]) -> int:
    """Fill the ids table with the (id, day) of the account's raw rows on `days` (searched in
    the reference index per day and name when it can); return how many."""
    names = _searched_names(cursor, account_id)
    listed = len(names) if names is not None else 0
    per_statement = min(_WINDOWS_PER_STATEMENT, (MAX_VARIABLES - listed - 1) // 3)
    cursor.execute(_CREATE_IDS)
    cursor.execute(f"DELETE FROM {_IDS}")
    windows = [
        (day.date.isoformat(), stored_time(naive_utc(day.start)), stored_time(naive_utc(day.end)))
        for day in days
        if day.start < day.end
    ]
    searched = {"account": account_id, **{f"name{i}": name for i, name in enumerate(names or ())}}
    for start in range(0, len(windows), per_statement):
        batch = windows[start : start + per_statement]
        params = dict(searched)
        for i, (day, begin, end) in enumerate(batch):
            params[f"day{i}"], params[f"start{i}"], params[f"end{i}"] = day, begin, end
        cursor.execute(_ids_sql(len(batch), None if names is None else listed), params)
    ((events,),) = fetch(cursor, f"SELECT count(*) FROM {_IDS}")
    return int(events)


def _found_projection(cursor: sqlite3.Cursor, account_id: int) -> Projection:
    """The projection of the events in the ids table (each read once); empties the table."""
    projection = _rebuilt(account_id, fetch(cursor, _REBUILD_PARTIALS, _PARTIALS_PARAMS))
    cursor.execute(f"DELETE FROM {_IDS}")
    return projection


def aggregate_days(
    cursor: sqlite3.Cursor, account_id: int, days: Sequence[LocalDay]
) -> dict[RollupKey, MetricContribution]:
    """What rebuilding `days` would write (the rebuild's search and projection, nothing
    written but the temp ids table). Runs in a read transaction: the temp table is not the
    database file."""
    _find_ids(cursor, account_id, days)
    return _found_projection(cursor, account_id).totals()


def _stored_key(key: RollupKey) -> tuple[int, str, str, int, str]:
    """A rollup key as SQLite stores it (ISO date, plain strings)."""
    account_id, day, dimension, dimension_id, metric = key
    return account_id, day.isoformat(), str(dimension), dimension_id, str(metric)


def _delete_days_sql(table: str, days: int) -> str:
    return f"DELETE FROM {table} WHERE account_id = ? AND date IN ({', '.join(['?'] * days)})"


def rebuild_days(
    cursor: sqlite3.Cursor, account_id: int, days: Sequence[LocalDay], now: str
) -> RebuildStats:
    """Replace the days' rows and members with the aggregation of their raw events and mark
    those events applied (`now`: the stored created_at/updated_at)."""
    dates = sorted(day.date.isoformat() for day in days)
    for start in range(0, len(dates), MAX_VARIABLES - 1):
        part = dates[start : start + MAX_VARIABLES - 1]
        for table in ("reporting_events_rollups", "reporting_rollup_members"):
            cursor.execute(_delete_days_sql(table, len(part)), [account_id, *part])
    events = _find_ids(cursor, account_id, days)
    cursor.execute(_REBUILD_MARKS, {"account": account_id})
    projection = _found_projection(cursor, account_id)
    rows = projection.totals()
    cursor.executemany(
        _REBUILD_ROWS,
        [(*_stored_key(key), *rows[key], now, now) for key in sorted(rows)],
    )
    cursor.executemany(
        _REBUILD_MEMBERS,
        [(*_stored_key(key), member, n) for (key, member), n in sorted(projection.members.items())],
    )
    return RebuildStats(int(events), len(rows))
