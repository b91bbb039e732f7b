"""Baselines written in the benchmarks, against the same table shapes as the library.

- reference: the reference application's write path, per event: insert the raw event, one
  multi-row ``INSERT ... ON CONFLICT DO UPDATE`` of its rollup rows, commit.
- limit: the fastest bare write of the same rollup rows: merge the batch in a dict, bulk-load the
  merged rows sorted by key (COPY into a temp table on PostgreSQL), one upsert, commit.
- merge: the pure-Python dict merge alone (the memory adapter's floor).
- bare SQL backfill (``INSERT ... SELECT ... GROUP BY``) and the 90-day per-agent summary straight
  from raw events or from rollups.

Plain psycopg and sqlite3 only; the tables come from `adapters.sql.tables` (`create_tables`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any, Final
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import create_engine, text

from reporting_rollups.adapters.sql.tables import (
    metadata,
    reporting_events,
    reporting_events_rollups,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DIMENSION_FIELDS
from reporting_rollups.domain.registry import RULES, Payload, event_names, metrics_for, rules_for
from reporting_rollups.domain.timezones import local_days
from workload import Row

#: (account_id, date, dimension_type, dimension_id, metric, count, sum_value, sum_business)
RollupRow = tuple[int, date, str, int, str, int, float, float]
Key = tuple[int, date, str, int, str]

_DIMENSIONS: Final = tuple((str(d), attrgetter(field)) for d, field in DIMENSION_FIELDS.items())
#: event name -> ((metric, is_duration), ...)
_RULES: Final[dict[str, tuple[tuple[str, bool], ...]]] = {
    name: tuple((str(r.metric), r.payload is Payload.DURATION) for r in rules_for(name))
    for name in event_names()
}
_KEY_COLUMNS: Final = "account_id, date, dimension_type, dimension_id, metric"
_ROLLUP_COLUMNS: Final = (
    "account_id, date, dimension_type, dimension_id, metric, count, sum_value, "
    "sum_value_business_hours, created_at, updated_at"
)
_UPSERT_SET: Final = (
    f"ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET "
    "count = reporting_events_rollups.count + excluded.count, "
    "sum_value = reporting_events_rollups.sum_value + excluded.sum_value, "
    "sum_value_business_hours = reporting_events_rollups.sum_value_business_hours "
    "+ excluded.sum_value_business_hours, updated_at = excluded.updated_at"
)
_RAW_COLUMNS: Final = (
    "id, name, account_id, created_at, value, value_in_business_hours, user_id, inbox_id, "
    "conversation_id, updated_at"
)


#: The binary COPY types of `_RAW_COLUMNS`.
_RAW_TYPES: Final = [
    "int8",
    "text",
    "int4",
    "timestamp",
    "float8",
    "float8",
    "int4",
    "int4",
    "int4",
    "timestamp",
]


def now_naive() -> datetime:
    """The current instant as naive UTC (how the tables store times)."""
    return datetime.now(UTC).replace(tzinfo=None)


def create_tables(sqlalchemy_url: str, *, primary_key_only: bool = False) -> None:
    """Create `reporting_events` and `reporting_events_rollups` as `adapters.sql.tables` has
    them; with `primary_key_only`, `reporting_events` without its other indexes."""
    engine = create_engine(sqlalchemy_url)
    try:
        metadata.create_all(engine, tables=[reporting_events, reporting_events_rollups])
        if primary_key_only:
            with engine.begin() as connection:
                for index in reporting_events.indexes:
                    connection.execute(text(f"DROP INDEX {index.name}"))
    finally:
        engine.dispose()


def event_rollup_rows(event: Event, zone: ZoneInfo) -> list[RollupRow]:
    """The reference's rollup rows of one event (one per dimension with an id and metric)."""
    metrics = metrics_for(event)
    if not metrics:
        return []
    day = event.created_at.astimezone(zone).date()
    rows: list[RollupRow] = []
    for dimension, field in _DIMENSIONS:
        dimension_id = field(event)
        if dimension_id is None:
            continue
        for metric, part in metrics.items():
            rows.append(
                (
                    event.account_id,
                    day,
                    dimension,
                    dimension_id,
                    str(metric),
                    part.count,
                    part.sum_value,
                    part.sum_value_business_hours,
                )
            )
    return rows


def merge(events: Iterable[Event], zones: dict[int, ZoneInfo]) -> dict[Key, list[Any]]:
    """Merge events into rollup rows in a plain dict: key -> [count, sum, sum_business].

    Bot handoffs are counted per event (the reference's semantics), not per conversation.
    """
    merged: dict[Key, list[Any]] = {}
    get = merged.get
    for event in events:
        rules = _RULES.get(event.name)
        if not rules:
            continue
        zone = zones.get(event.account_id)
        if zone is None:
            continue
        day = event.created_at.astimezone(zone).date()
        value = event.value or 0.0
        business = event.value_in_business_hours or 0.0
        account = event.account_id
        for dimension, field in _DIMENSIONS:
            dimension_id = field(event)
            if dimension_id is None:
                continue
            for metric, duration in rules:
                key = (account, day, dimension, dimension_id, metric)
                row = get(key)
                if row is None:
                    merged[key] = [1, value, business] if duration else [1, 0.0, 0.0]
                else:
                    row[0] += 1
                    if duration:
                        row[1] += value
                        row[2] += business
    return merged


def sorted_rows(merged: dict[Key, list[Any]]) -> list[RollupRow]:
    """Merged rows sorted by key (upserts in key order touch the index in order)."""
    return [(*key, *merged[key]) for key in sorted(merged)]


def _raw_params(event: Event, stamp: datetime) -> tuple[Any, ...]:
    return (
        event.id,
        event.name,
        event.account_id,
        event.created_at.replace(tzinfo=None),
        event.value,
        event.value_in_business_hours,
        event.user_id,
        event.inbox_id,
        event.conversation_id,
        stamp,
    )


# --- PostgreSQL --------------------------------------------------------------------------------


class PostgresReference:
    """The reference write path on PostgreSQL, plain psycopg: one transaction per event."""

    def __init__(self, url: str, zones: dict[int, ZoneInfo]) -> None:
        self.connection = psycopg.connect(url)
        self.zones = zones
        self._statements: dict[int, str] = {}
        self._insert_raw = (
            f"INSERT INTO reporting_events ({_RAW_COLUMNS}) VALUES ({', '.join(['%s'] * 10)})"
        )

    def _upsert(self, n: int) -> str:
        statement = self._statements.get(n)
        if statement is None:
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * n)
            statement = (
                f"INSERT INTO reporting_events_rollups ({_ROLLUP_COLUMNS}) VALUES {values} "
                + _UPSERT_SET
            )
            self._statements[n] = statement
        return statement

    def write(self, event: Event) -> None:
        """Store one event and upsert its rollup rows, in one transaction."""
        stamp = now_naive()
        connection = self.connection
        connection.execute(self._insert_raw, _raw_params(event, stamp))
        rows = event_rollup_rows(event, self.zones[event.account_id])
        if rows:
            params: list[Any] = []
            for row in rows:
                params.extend(row)
                params.append(stamp)
                params.append(stamp)
            connection.execute(self._upsert(len(rows)), params)
        connection.commit()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class PostgresLimit:
    """The fastest bare write of a batch's rollup rows on PostgreSQL: dict merge, binary COPY
    of the sorted rows into a temp table, one ``INSERT ... SELECT ... ON CONFLICT``, commit."""

    def __init__(self, url: str, zones: dict[int, ZoneInfo]) -> None:
        self.connection = psycopg.connect(url)
        self.zones = zones
        self.connection.execute(
            "CREATE TEMP TABLE rollup_batch (account_id integer, date date, dimension_type text, "
            "dimension_id bigint, metric text, count bigint, sum_value float8, "
            "sum_value_business_hours float8) ON COMMIT DELETE ROWS"
        )
        self.connection.commit()
        self._upsert = (
            f"INSERT INTO reporting_events_rollups ({_ROLLUP_COLUMNS}) "
            "SELECT account_id, date, dimension_type, dimension_id, metric, count, sum_value, "
            f"sum_value_business_hours, %s, %s FROM rollup_batch {_UPSERT_SET}"
        )

    def write(self, events: Sequence[Event]) -> None:
        """Merge and upsert one batch, in one transaction."""
        stamp = now_naive()
        with self.connection.cursor() as cursor:
            self._upsert_rollups(cursor, events, stamp)
        self.connection.commit()

    def _upsert_rollups(self, cursor: Any, events: Sequence[Event], stamp: datetime) -> None:
        rows = sorted_rows(merge(events, self.zones))
        with cursor.copy("COPY rollup_batch FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "date", "text", "int8", "text", "int8", "float8", "float8"])
            for row in rows:
                copy.write_row(row)
        cursor.execute(self._upsert, (stamp, stamp))

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class PostgresLimitWithRaw(PostgresLimit):
    """The floor of "store the raw events and roll them up" (`limit_with_raw`): in one
    transaction, a binary COPY of the raw rows into a `reporting_events` that has only its
    primary key (`create_tables(primary_key_only=True)`), then the limit's COPY-merge upsert. No
    exactly-once bookkeeping, no duplicate check (a re-sent id would fail the COPY)."""

    def write(self, events: Sequence[Event]) -> None:
        """Store and upsert one batch, in one transaction."""
        stamp = now_naive()
        with self.connection.cursor() as cursor:
            with cursor.copy(
                f"COPY reporting_events ({_RAW_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(_RAW_TYPES)
                for event in events:
                    copy.write_row(_raw_params(event, stamp))
            self._upsert_rollups(cursor, events, stamp)
        self.connection.commit()


def postgres_load_raw(url: str, rows: Iterable[Row]) -> int:
    """COPY raw event rows into `reporting_events`, then VACUUM ANALYZE it; returns the count."""
    stamp = now_naive()
    count = 0
    with psycopg.connect(url) as connection:
        with connection.cursor() as cursor:
            statement = f"COPY reporting_events ({_RAW_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement) as copy:
                copy.set_types(_RAW_TYPES)
                for row in rows:
                    copy.write_row((*row, stamp))
                    count += 1
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return count


_RULES_VALUES: Final = ", ".join(
    f"('{rule.event_name}', '{rule.metric}', '{rule.payload}')" for rule in RULES
)
_DISTINCT: Final = str(Payload.DISTINCT_CONVERSATIONS)
_DURATION: Final = str(Payload.DURATION)

#: The bare backfill of an account's local days on PostgreSQL: one INSERT ... SELECT ... GROUP
#: BY, local dates by AT TIME ZONE, bot handoffs as distinct conversations per day.
POSTGRES_BACKFILL: Final = f"""
INSERT INTO reporting_events_rollups ({_ROLLUP_COLUMNS})
SELECT e.account_id, (e.created_at AT TIME ZONE 'UTC' AT TIME ZONE %(zone)s)::date AS day,
       d.dimension_type, d.dimension_id, r.metric,
       CASE WHEN r.payload = '{_DISTINCT}'
            THEN count(DISTINCT e.conversation_id)
                 + count(*) FILTER (WHERE e.conversation_id IS NULL)
            ELSE count(*) END,
       CASE WHEN r.payload = '{_DURATION}' THEN coalesce(sum(e.value), 0) ELSE 0 END,
       CASE WHEN r.payload = '{_DURATION}' THEN coalesce(sum(e.value_in_business_hours), 0)
            ELSE 0 END,
       %(stamp)s, %(stamp)s
FROM reporting_events e
JOIN (VALUES {_RULES_VALUES}) AS r(event_name, metric, payload) ON r.event_name = e.name
CROSS JOIN LATERAL (VALUES ('account', e.account_id::bigint), ('agent', e.user_id::bigint),
                           ('inbox', e.inbox_id::bigint)) AS d(dimension_type, dimension_id)
WHERE e.account_id = %(account)s AND e.created_at >= %(start)s AND e.created_at < %(end)s
  AND d.dimension_id IS NOT NULL
GROUP BY e.account_id, day, d.dimension_type, d.dimension_id, r.metric, r.payload
"""


def _bounds(zone: ZoneInfo, since: date, until: date) -> tuple[datetime, datetime]:
    days = local_days(since, until, zone)
    return days[0].start.replace(tzinfo=None), days[-1].end.replace(tzinfo=None)


def postgres_backfill(url: str, account: int, zone: ZoneInfo, since: date, until: date) -> int:
    """Aggregate the account's raw events of [since, until] into rollup rows; returns rows."""
    start, end = _bounds(zone, since, until)
    with psycopg.connect(url) as connection:
        cursor = connection.execute(
            POSTGRES_BACKFILL,
            {
                "zone": zone.key,
                "stamp": now_naive(),
                "account": account,
                "start": start,
                "end": end,
            },
        )
        rows = cursor.rowcount
        connection.commit()
    return rows


#: 90-day per-agent summary straight from raw events (PostgreSQL and SQLite alike).
RAW_SUMMARY: Final = f"""
WITH r(event_name, metric, payload) AS (VALUES {_RULES_VALUES})
SELECT e.user_id, r.metric,
       CASE WHEN r.payload = '{_DISTINCT}' THEN count(DISTINCT e.conversation_id) ELSE count(*) END,
       coalesce(sum(e.value), 0), coalesce(sum(e.value_in_business_hours), 0)
FROM reporting_events e
JOIN r ON r.event_name = e.name
WHERE e.account_id = :account AND e.created_at >= :start AND e.created_at < :end
  AND e.user_id IS NOT NULL
GROUP BY e.user_id, r.metric, r.payload
"""

#: The same summary from the rollups (PostgreSQL and SQLite alike).
ROLLUP_SUMMARY: Final = """
SELECT dimension_id, metric, sum(count), sum(sum_value), sum(sum_value_business_hours)
FROM reporting_events_rollups
WHERE account_id = :account AND dimension_type = 'agent' AND date >= :since AND date <= :until
GROUP BY dimension_id, metric
"""


def _pyformat(statement: str) -> str:
    for name in ("account", "start", "end", "since", "until"):
        statement = statement.replace(f":{name}", f"%({name})s")
    return statement


class PostgresSummary:
    """The 90-day per-agent summary in bare SQL on one psycopg connection."""

    def __init__(self, url: str, account: int, zone: ZoneInfo, since: date, until: date) -> None:
        self.connection = psycopg.connect(url, autocommit=True)
        start, end = _bounds(zone, since, until)
        self.params = {
            "account": account,
            "start": start,
            "end": end,
            "since": since,
            "until": until,
        }

    def raw(self) -> list[tuple[Any, ...]]:
        """The summary aggregated from raw events."""
        return self.connection.execute(_pyformat(RAW_SUMMARY), self.params).fetchall()

    def rollup(self) -> list[tuple[Any, ...]]:
        """The summary from rollup rows."""
        return self.connection.execute(_pyformat(ROLLUP_SUMMARY), self.params).fetchall()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


# --- SQLite ------------------------------------------------------------------------------------

#: Pragmas the benchmarks' SQLite connections use (kept equal to the library adapter's).
SQLITE_PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-16384",
)


def sqlite_time(instant: datetime) -> str:
    """A naive UTC datetime in SQLAlchemy's SQLite storage format."""
    return instant.isoformat(" ", "microseconds")


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A connection with the benchmarks' pragmas (explicit transactions)."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        connection.execute(pragma)
    return connection


def _sqlite_raw_params(event: Event, stamp: str) -> tuple[Any, ...]:
    return (
        event.id,
        event.name,
        event.account_id,
        sqlite_time(event.created_at.replace(tzinfo=None)),
        event.value,
        event.value_in_business_hours,
        event.user_id,
        event.inbox_id,
        event.conversation_id,
        stamp,
    )


class SQLiteReference:
    """The reference write path on SQLite, plain sqlite3: one transaction per event."""

    def __init__(self, path: str, zones: dict[int, ZoneInfo]) -> None:
        self.connection = sqlite_connect(path)
        self.zones = zones
        self._statements: dict[int, str] = {}
        self._insert_raw = (
            f"INSERT INTO reporting_events ({_RAW_COLUMNS}) VALUES ({', '.join(['?'] * 10)})"
        )

    def _upsert(self, n: int) -> str:
        statement = self._statements.get(n)
        if statement is None:
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * n)
            statement = (
                f"INSERT INTO reporting_events_rollups ({_ROLLUP_COLUMNS}) VALUES {values} "
                + _UPSERT_SET
            )
            self._statements[n] = statement
        return statement

    def write(self, event: Event) -> None:
        """Store one event and upsert its rollup rows, in one transaction."""
        stamp = sqlite_time(now_naive())
        connection = self.connection
        connection.execute("BEGIN")
        connection.execute(self._insert_raw, _sqlite_raw_params(event, stamp))
        rows = event_rollup_rows(event, self.zones[event.account_id])
        if rows:
            params: list[Any] = []
            for row in rows:
                params.extend((row[0], row[1].isoformat(), *row[2:], stamp, stamp))
            connection.execute(self._upsert(len(rows)), params)
        connection.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class SQLiteLimit:
    """The fastest bare write of a batch's rollup rows on SQLite: dict merge, one executemany
    upsert of the sorted rows, commit."""

    def __init__(self, path: str, zones: dict[int, ZoneInfo]) -> None:
        self.connection = sqlite_connect(path)
        self.zones = zones
        self._upsert = (
            f"INSERT INTO reporting_events_rollups ({_ROLLUP_COLUMNS}) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {_UPSERT_SET}"
        )

    def write(self, events: Sequence[Event]) -> None:
        """Merge and upsert one batch, in one transaction."""
        merged = merge(events, self.zones)
        stamp = sqlite_time(now_naive())
        params = [
            (a, d.isoformat(), t, i, m, *merged[(a, d, t, i, m)], stamp, stamp)
            for (a, d, t, i, m) in sorted(merged)
        ]
        connection = self.connection
        connection.execute("BEGIN")
        connection.executemany(self._upsert, params)
        connection.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def sqlite_load_raw(path: str, rows: Iterable[Row], chunk: int = 50_000) -> int:
    """Insert raw event rows into `reporting_events` (SQLAlchemy's time format), then ANALYZE."""
    stamp = sqlite_time(now_naive())
    statement = f"INSERT INTO reporting_events ({_RAW_COLUMNS}) VALUES ({', '.join(['?'] * 10)})"
    connection = sqlite_connect(path)
    count = 0
    try:
        buffer: list[tuple[Any, ...]] = []
        connection.execute("BEGIN")
        for row in rows:
            buffer.append((*row[:3], sqlite_time(row[3]), *row[4:], stamp))
            if len(buffer) >= chunk:
                connection.executemany(statement, buffer)
                count += len(buffer)
                buffer.clear()
        connection.executemany(statement, buffer)
        count += len(buffer)
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return count


def _sqlite_windows(zone: ZoneInfo, since: date, until: date) -> list[tuple[str, str, str]]:
    return [
        (
            day.date.isoformat(),
            sqlite_time(day.start.replace(tzinfo=None)),
            sqlite_time(day.end.replace(tzinfo=None)),
        )
        for day in local_days(since, until, zone)
    ]


#: The bare backfill on SQLite (no time zone functions): a temp table of the local days' UTC
#: bounds, each (day, event name)'s events found by a range search of the one default index on
#: (account_id, name, created_at) (the planner, left alone, scans the account's events once per
#: day).
SQLITE_BACKFILL: Final = f"""
WITH r(event_name, metric, payload) AS (VALUES {_RULES_VALUES}),
     d(dimension_type) AS (VALUES ('account'), ('agent'), ('inbox'))
INSERT INTO reporting_events_rollups ({_ROLLUP_COLUMNS})
SELECT e.account_id, w.day, d.dimension_type,
       CASE d.dimension_type WHEN 'account' THEN e.account_id WHEN 'agent' THEN e.user_id
            ELSE e.inbox_id END AS dimension_id,
       r.metric,
       CASE WHEN r.payload = '{_DISTINCT}'
            THEN count(DISTINCT e.conversation_id)
                 + sum(CASE WHEN e.conversation_id IS NULL THEN 1 ELSE 0 END)
            ELSE count(*) END,
       CASE WHEN r.payload = '{_DURATION}' THEN coalesce(sum(e.value), 0) ELSE 0 END,
       CASE WHEN r.payload = '{_DURATION}' THEN coalesce(sum(e.value_in_business_hours), 0)
            ELSE 0 END,
       :stamp, :stamp
FROM backfill_days w
CROSS JOIN r
CROSS JOIN reporting_events e INDEXED BY reporting_events__account_id__name__created_at
CROSS JOIN d
WHERE e.account_id = :account AND e.name = r.event_name
  AND e.created_at >= w.start_at AND e.created_at < w.end_at AND dimension_id IS NOT NULL
GROUP BY e.account_id, w.day, d.dimension_type, dimension_id, r.metric, r.payload
"""


def sqlite_backfill(path: str, account: int, zone: ZoneInfo, since: date, until: date) -> int:
    """Aggregate the account's raw events of [since, until] into rollup rows; returns rows."""
    connection = sqlite_connect(path)
    try:
        connection.execute("BEGIN")
        connection.execute(
            "CREATE TEMP TABLE IF NOT EXISTS backfill_days "
            "(day TEXT, start_at TEXT PRIMARY KEY, end_at TEXT)"
        )
        connection.execute("DELETE FROM backfill_days")
        connection.executemany(
            "INSERT INTO backfill_days VALUES (?, ?, ?)", _sqlite_windows(zone, since, until)
        )
        before = connection.total_changes
        connection.execute(SQLITE_BACKFILL, {"stamp": sqlite_time(now_naive()), "account": account})
        rows = connection.total_changes - before
        connection.execute("COMMIT")
    finally:
        connection.close()
    return rows


class SQLiteSummary:
    """The 90-day per-agent summary in bare SQL on one sqlite3 connection."""

    def __init__(self, path: str, account: int, zone: ZoneInfo, since: date, until: date) -> None:
        self.connection = sqlite_connect(path)
        start, end = _bounds(zone, since, until)
        self.params = {
            "account": account,
            "start": sqlite_time(start),
            "end": sqlite_time(end),
            "since": since.isoformat(),
            "until": until.isoformat(),
        }

    def raw(self) -> list[tuple[Any, ...]]:
        """The summary aggregated from raw events."""
        return self.connection.execute(RAW_SUMMARY, self.params).fetchall()

    def rollup(self) -> list[tuple[Any, ...]]:
        """The summary from rollup rows."""
        return self.connection.execute(ROLLUP_SUMMARY, self.params).fetchall()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()
