"""PostgreSQL adapter (psycopg 3): the generic SQL stores, with bulk hot paths and row locks.

Hot path: every write of a batch is one statement over `unnest` of arrays, whatever the batch
size; no statement per row, no multi-row VALUES. The arrays are sent in binary with fixed element
types (`adapters.postgres_arrays`), and the hot statements run on the psycopg connection itself
(`run`), which prepares them after a few runs. `record` costs BEGIN, one statement that locks the
accounts, stores the raw events and marks them applied (`_STORE_BATCH`), the members upsert (only
for handoffs), the rollup upsert and COMMIT. A backfill chunk is a delete and one rebuild
statement (`adapters.sql_aggregation.postgres_rebuild_statement`).

Locking (READ COMMITTED). Each account has a row in `reporting_rollup_accounts`:
- live writers and retractions take it FOR SHARE (`lock_shared`): many run at once;
- backfill chunks, `set_timezone` and `rebuild` take it FOR UPDATE (`lock_exclusive`), so
  while a day is being replaced no writer of that account is between its reads and its commit;
- readers (`rows`, reports, `verify`, plans) take no lock: one REPEATABLE READ, READ ONLY
  snapshot (`PostgresUnitOfWork.read_only_begin`).
Exactly-once: marking is INSERT ... ON CONFLICT DO NOTHING RETURNING on the (account_id, event_id)
key in the writer's transaction: of two transactions marking one event, the second waits for the
first and gets nothing back if it commits.
No deadlocks: every transaction takes its locks in one global order: account rows first (missing
ones inserted, then all locked, each step in account_id order), then raw events by id, applied
marks by (account_id, event_id), members and rollup rows by key. A transaction waiting for a lock
holds only locks that come earlier in that order, so no cycle can form. (`_STORE_BATCH` writes
nothing unless every account row already exists; otherwise the rows are created and locked first,
step by step.) Exclusive holders touch only their account's rows (every key starts with
account_id).
"""

from __future__ import annotations

import select
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final, Self, cast

import attrs
import psycopg
from psycopg.rows import RowFactory, dict_row, namedtuple_row, tuple_row
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc

from reporting_rollups.adapters.postgres_arrays import (
    DateArray,
    Float8Array,
    Int8Array,
    TextArray,
    TimestampArray,
    TypedArray,
    register_array_dumpers,
)
from reporting_rollups.adapters.sql import (
    SqlAccountStore,
    SqlAppliedLedger,
    SqlEventStore,
    SqlRollupStore,
    SqlUnitOfWork,
    SqlUnitOfWorkFactory,
    aggregated_rows,
    conflict,
    operation,
)
from reporting_rollups.adapters.sql_aggregation import (
    naive_utc,
    postgres_aggregate_statement,
    postgres_rebuild_statement,
)
from reporting_rollups.adapters.sql_errors import ErrorTranslator, Explanation, driver_message
from reporting_rollups.adapters.urls import password_forms, redact
from reporting_rollups.application.ports import (
    AccountSettings,
    RebuildStats,
    StoredBatch,
    store_stepwise,
)
from reporting_rollups.domain.errors import ConfigurationError, StorageError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member
from reporting_rollups.domain.timezones import LocalDay

_SCHEMES: Final = ("postgresql", "postgres", "postgresql+psycopg")
_USAGE: Final = "use postgresql://user:password@host:5432/dbname"

_EVENT_ARRAYS: Final = """unnest(
        %(id)b::bigint[], %(name)b::text[], %(value)b::float8[], %(account_id)b::bigint[],
        %(inbox_id)b::bigint[], %(user_id)b::bigint[], %(conversation_id)b::bigint[],
        %(created_at)b::timestamp[], %(value_in_business_hours)b::float8[]
    ) AS u(id, name, value, account_id, inbox_id, user_id, conversation_id, created_at,
           value_in_business_hours)"""

#: Insert the events whose id is new; return the ids that were already stored (usually none),
#: so that 10k new ids do not travel back row by row.
_INSERT_EVENTS: Final = f"""
WITH u AS (SELECT * FROM {_EVENT_ARRAYS}),
inserted AS (
    INSERT INTO reporting_events (id, name, value, account_id, inbox_id, user_id,
                                  conversation_id, created_at, updated_at, value_in_business_hours)
    SELECT id, name, value, account_id, inbox_id, user_id, conversation_id, created_at,
           %(now)s, value_in_business_hours
    FROM u
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
SELECT coalesce(array_agg(u.id), '{{}}') FROM u
WHERE NOT EXISTS (SELECT 1 FROM inserted WHERE inserted.id = u.id)
"""

#: Mark events applied; return the ids that were marked before (usually none).
_MARK: Final = """
WITH u AS (
    SELECT * FROM unnest(%(account_id)b::integer[], %(event_id)b::bigint[])
        AS u(account_id, event_id)
),
marked AS (
    INSERT INTO reporting_rollup_applied_events (account_id, event_id)
    SELECT account_id, event_id FROM u
    ON CONFLICT (account_id, event_id) DO NOTHING
    RETURNING event_id
)
SELECT coalesce(array_agg(u.event_id), '{}') FROM u
WHERE NOT EXISTS (SELECT 1 FROM marked WHERE marked.event_id = u.event_id)
"""

_UPSERT_MEMBERS: Final = """
INSERT INTO reporting_rollup_members AS m
    (account_id, "date", dimension_type, dimension_id, metric, member_id, occurrences)
SELECT * FROM unnest(
    %(account_id)b::integer[], %(date)b::date[], %(dimension_type)b::text[],
    %(dimension_id)b::bigint[], %(metric)b::text[], %(member_id)b::bigint[],
    %(occurrences)b::integer[])
ON CONFLICT (account_id, "date", dimension_type, dimension_id, metric, member_id)
DO UPDATE SET occurrences = m.occurrences + EXCLUDED.occurrences
RETURNING m.account_id, m."date", m.dimension_type, m.dimension_id, m.metric, m.member_id,
          m.occurrences
"""

_DELETE_EMPTY_MEMBERS: Final = """
DELETE FROM reporting_rollup_members m
USING unnest(
    %(account_id)b::integer[], %(date)b::date[], %(dimension_type)b::text[],
    %(dimension_id)b::bigint[], %(metric)b::text[], %(member_id)b::bigint[]
) AS u(account_id, day, dimension_type, dimension_id, metric, member_id)
WHERE m.account_id = u.account_id AND m."date" = u.day AND m.dimension_type = u.dimension_type
  AND m.dimension_id = u.dimension_id AND m.metric = u.metric AND m.member_id = u.member_id
  AND m.occurrences = 0
"""

#: Additive upsert on index_rollup_unique_key.
_UPSERT_ROLLUPS: Final = """
INSERT INTO reporting_events_rollups AS r
    (account_id, "date", dimension_type, dimension_id, metric, "count", sum_value,
     sum_value_business_hours, created_at, updated_at)
SELECT u.account_id, u.day, u.dimension_type, u.dimension_id, u.metric, u.n, u.s, u.b,
       %(now)s, %(now)s
FROM unnest(
    %(account_id)b::integer[], %(date)b::date[], %(dimension_type)b::text[],
    %(dimension_id)b::bigint[], %(metric)b::text[], %(count)b::bigint[],
    %(sum_value)b::float8[], %(sum_value_business_hours)b::float8[]
) AS u(account_id, day, dimension_type, dimension_id, metric, n, s, b)
ON CONFLICT (account_id, "date", dimension_type, dimension_id, metric) DO UPDATE SET
    "count" = r."count" + EXCLUDED."count",
    sum_value = r.sum_value + EXCLUDED.sum_value,
    sum_value_business_hours = r.sum_value_business_hours + EXCLUDED.sum_value_business_hours,
    updated_at = EXCLUDED.updated_at
"""

#: After an upsert with negative deltas: delete those rows whose count reached 0 (a negative
#: count is returned too; the caller raises and the transaction rolls back).
_DELETE_EMPTY_ROLLUPS: Final = """
DELETE FROM reporting_events_rollups r
USING unnest(
    %(account_id)b::integer[], %(date)b::date[], %(dimension_type)b::text[],
    %(dimension_id)b::bigint[], %(metric)b::text[]
) AS u(account_id, day, dimension_type, dimension_id, metric)
WHERE r.account_id = u.account_id AND r."date" = u.day AND r.dimension_type = u.dimension_type
  AND r.dimension_id = u.dimension_id AND r.metric = u.metric AND r."count" <= 0
RETURNING r.id, r.account_id, r."date", r.dimension_type, r.dimension_id, r.metric, r."count"
"""

#: Before a rebuild: delete the days' rollup rows and members.
_DELETE_DAYS: Final = """
WITH rollups AS (
    DELETE FROM reporting_events_rollups
    WHERE account_id = %(account)s AND "date" = ANY(%(dates)b::date[])
)
DELETE FROM reporting_rollup_members
WHERE account_id = %(account)s AND "date" = ANY(%(dates)b::date[])
"""

#: Lock account rows, creating the missing ones first. The INSERT branch runs first (UNION ALL
#: runs its branches in order), so missing rows are created before existing ones are locked; rows
#: it creates are this transaction's own. A row another transaction created while the INSERT
#: waited is invisible to this statement's snapshot: the caller locks it in a second statement.
_LOCK_ACCOUNTS: Final = """
WITH created AS (
    INSERT INTO reporting_rollup_accounts (account_id)
    SELECT a FROM unnest(%(ids)b::integer[]) AS u(a) ORDER BY a
    ON CONFLICT (account_id) DO NOTHING
    RETURNING account_id, reporting_timezone, rollup_timezone, read_path_enabled,
       timezone_generation
),
locked AS (
    SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled,
       timezone_generation
    FROM reporting_rollup_accounts
    WHERE account_id = ANY(%(ids)b::integer[])
    ORDER BY account_id
    FOR {mode}
)
SELECT * FROM created
UNION ALL
SELECT * FROM locked
"""

#: The storing half of `record` in one statement (`PostgresEventStore.store_new`), in the
#: global lock order: lock the account rows FOR SHARE, then insert the raw events (only if every
#: account row exists), then mark applied the events it inserted of accounts with a zone. The
#: scalar subquery in the insert's WHERE clause is a one-time filter: the insert starts once the
#: accounts are locked. One row per account: its settings, whether every account row was there,
#: how many raw rows were inserted, the ids marked by this statement, and (only when some id was
#: stored before) the ids it did not insert: the caller holds those (`_HOLD_EVENTS`) before
#: marking them, so that an event a concurrent retraction deletes is never folded.
_STORE_BATCH: Final = f"""
WITH locked AS (
    SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled,
           timezone_generation
    FROM reporting_rollup_accounts
    WHERE account_id = ANY(%(accounts)b::integer[])
    ORDER BY account_id
    FOR SHARE
),
complete AS (SELECT count(*) = cardinality(%(accounts)b::integer[]) AS ok FROM locked),
inserted AS (
    INSERT INTO reporting_events (id, name, value, account_id, inbox_id, user_id,
                                  conversation_id, created_at, updated_at, value_in_business_hours)
    SELECT id, name, value, account_id, inbox_id, user_id, conversation_id, created_at,
           %(now)s, value_in_business_hours
    FROM {_EVENT_ARRAYS}
    WHERE (SELECT ok FROM complete)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, account_id
),
stored AS (SELECT count(*) AS n FROM inserted),
marked AS (
    INSERT INTO reporting_rollup_applied_events (account_id, event_id)
    SELECT i.account_id, i.id
    FROM inserted i
    JOIN locked ON locked.account_id = i.account_id AND locked.reporting_timezone IS NOT NULL
    ORDER BY i.account_id, i.id
    ON CONFLICT (account_id, event_id) DO NOTHING
    RETURNING event_id
)
SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled, timezone_generation,
       (SELECT ok FROM complete), (SELECT n FROM stored),
       (SELECT coalesce(array_agg(event_id), '{{}}') FROM marked),
       CASE WHEN (SELECT n FROM stored) < cardinality(%(id)b::bigint[]) THEN (
           SELECT coalesce(array_agg(u.id), '{{}}')
           FROM unnest(%(id)b::bigint[]) AS u(id)
           WHERE NOT EXISTS (SELECT 1 FROM inserted WHERE inserted.id = u.id)
       ) END
FROM locked
"""

#: Lock FOR SHARE, in id order, the stored rows of events a batch did not insert (a retraction's
#: DELETE waits for the lock; a row it deleted first is skipped), with whether each row's content
#: differs from the event sent.
_HOLD_EVENTS: Final = f"""
SELECT e.id,
       (e.name, e.value, e.account_id, e.inbox_id, e.user_id, e.conversation_id, e.created_at,
        e.value_in_business_hours)
       IS DISTINCT FROM
       (u.name, u.value, u.account_id, u.inbox_id, u.user_id, u.conversation_id, u.created_at,
        u.value_in_business_hours)
FROM reporting_events e
JOIN {_EVENT_ARRAYS} ON u.id = e.id
ORDER BY e.id
FOR SHARE OF e
"""

_RELOCK_ACCOUNTS: Final = """
SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled,
       timezone_generation
FROM reporting_rollup_accounts
WHERE account_id = ANY(%(ids)b::integer[])
ORDER BY account_id
FOR {mode}
"""


def run(
    connection: Connection,
    statement: str,
    params: Mapping[str, Any],
    row_factory: RowFactory[Any] = tuple_row,
) -> psycopg.Cursor[Any]:
    """Execute a hot-path statement on the unit of work's psycopg connection, in its transaction,
    without SQLAlchemy's per-statement work (compiling, result metadata). psycopg prepares a
    statement once it has run a few times on a connection."""
    driver = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    return driver.cursor(row_factory=row_factory).execute(statement, params)


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    """The one row a statement returns."""
    row = cursor.fetchone()
    if row is None:
        raise StorageError("a statement that returns one row returned none")
    return row


def _event_arrays(events: Sequence[Event]) -> dict[str, TypedArray]:
    return {
        "id": Int8Array([event.id for event in events]),
        "name": TextArray([event.name for event in events]),
        "value": Float8Array([event.value for event in events]),
        "account_id": Int8Array([event.account_id for event in events]),
        "inbox_id": Int8Array([event.inbox_id for event in events]),
        "user_id": Int8Array([event.user_id for event in events]),
        "conversation_id": Int8Array([event.conversation_id for event in events]),
        "created_at": TimestampArray([event.created_at for event in events]),
        "value_in_business_hours": Float8Array([event.value_in_business_hours for event in events]),
    }


def _event_id(event: Event) -> int:
    return event.id


def _key_arrays(keys: Sequence[RollupKey]) -> dict[str, TypedArray]:
    """The key columns as arrays (the enums are `str`: sent as they are)."""
    columns: list[tuple[Any, ...]] = list(zip(*keys, strict=True)) or [()] * 5
    account_id, day, dimension_type, dimension_id, metric = columns
    return {
        "account_id": Int8Array(account_id),
        "date": DateArray(day),
        "dimension_type": TextArray(dimension_type),
        "dimension_id": Int8Array(dimension_id),
        "metric": TextArray(metric),
    }


class PostgresEventStore(SqlEventStore):
    """Raw events: one `unnest` INSERT per batch, conflicts found in SQL; aggregations
    (`verify`) with the rebuild's own aggregation (`postgres_aggregate_statement`)."""

    @operation("aggregating raw events")
    def aggregate(
        self, account_id: int, days: Sequence[LocalDay]
    ) -> dict[RollupKey, MetricContribution]:
        if not days:
            return {}
        params = {
            "account": account_id,
            "start": naive_utc(days[0].start),
            "end": naive_utc(days[-1].end),
            "starts": TimestampArray([day.start for day in days]),
        }
        statement = postgres_aggregate_statement(self.connection.dialect)
        return aggregated_rows(account_id, days, run(self.connection, statement, params), first=1)

    @operation("storing raw events")
    def store_new(self, events: Sequence[Event]) -> tuple[StoredBatch, list[Event]] | None:
        """Lock the accounts, insert the new events and mark those of zoned accounts, in one
        statement; also return the events that were stored before (usually none: the caller
        holds them, `hold_checked`, before marking them). None (nothing written, the present
        account rows locked) when an account row is missing: the caller then goes step by step.
        """
        ordered = sorted(events, key=_event_id)
        accounts = sorted({event.account_id for event in ordered})
        params: dict[str, Any] = {
            **_event_arrays(ordered),
            "accounts": Int8Array(accounts),
            "now": self.ctx.now(),
        }
        rows = run(self.connection, _STORE_BATCH, params).fetchall()
        if not rows or not rows[0][5]:
            return None
        *_, stored, fresh, existing = rows[0]
        settings = {
            account_id: AccountSettings(account_id, zone, rollup_zone, read_path, generation)
            for account_id, zone, rollup_zone, read_path, generation, *_ in rows
        }
        before = set(existing or ())
        return (
            StoredBatch(settings, stored, set(fresh)),
            [event for event in ordered if event.id in before],
        )

    @operation("holding raw events")
    def hold_checked(self, events: Sequence[Event]) -> set[int]:
        """`hold` for events sent again, in one statement that also checks their content
        (`EventConflictError` for the first that differs)."""
        if not events:
            return set()
        rows = run(self.connection, _HOLD_EVENTS, _event_arrays(events)).fetchall()
        differing = [int(event_id) for event_id, differs in rows if differs]
        if differing:
            event_id = min(differing)
            event = next(event for event in events if event.id == event_id)
            error = conflict(self._rows([event_id])[0], event)
            if error is not None:
                raise error
        return {int(event_id) for event_id, _ in rows}

    def _insert_new(self, events: Sequence[Event]) -> list[int]:
        params: dict[str, Any] = {**_event_arrays(events), "now": self.ctx.now()}
        existing = set(_one(run(self.connection, _INSERT_EVENTS, params))[0])
        return [event.id for event in events if event.id not in existing]

    def _check_duplicates(self, events: Sequence[Event]) -> None:
        self.hold_checked(events)


class PostgresAppliedLedger(SqlAppliedLedger):
    """Applied marks: one `unnest` INSERT ... ON CONFLICT DO NOTHING per batch."""

    @operation("marking events applied")
    def mark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        if not refs:
            return set()
        ordered = sorted(set(refs))
        params = {
            "account_id": Int8Array([account_id for account_id, _ in ordered]),
            "event_id": Int8Array([event_id for _, event_id in ordered]),
        }
        before = set(_one(run(self.connection, _MARK, params))[0])
        return {event_id for _, event_id in ordered if event_id not in before}


class PostgresRollupStore(SqlRollupStore):
    """Rollups and members: one `unnest` upsert each per batch, in key order; rebuilds in one
    statement (`postgres_rebuild_statement`)."""

    @operation("rebuilding rollup days")
    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        if not days:
            return RebuildStats(0, 0)
        dates = DateArray([day.date for day in days])
        run(self.connection, _DELETE_DAYS, {"account": account_id, "dates": dates})
        params = {
            "account": account_id,
            "start": naive_utc(days[0].start),
            "end": naive_utc(days[-1].end),
            "starts": TimestampArray([day.start for day in days]),
            "dates": dates,
            "now": self.ctx.now(),
        }
        events, rows = _one(
            run(self.connection, postgres_rebuild_statement(self.connection.dialect), params)
        )
        return RebuildStats(int(events), int(rows))

    def _upsert(self, items: Sequence[tuple[RollupKey, MetricContribution]]) -> None:
        keys, deltas = zip(*items, strict=True)
        count, sum_value, sum_value_business_hours = zip(*deltas, strict=True)
        params: dict[str, Any] = {
            **_key_arrays(keys),
            "count": Int8Array(count),
            "sum_value": Float8Array(sum_value),
            "sum_value_business_hours": Float8Array(sum_value_business_hours),
            "now": self.ctx.now(),
        }
        run(self.connection, _UPSERT_ROLLUPS, params)

    def _settle_keys(self, keys: Sequence[RollupKey]) -> None:
        result = run(self.connection, _DELETE_EMPTY_ROLLUPS, _key_arrays(keys), dict_row)
        self._check_counts(result.fetchall())

    @operation("updating distinct members")
    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        wanted = {member: delta for member, delta in deltas.items() if delta}
        if not wanted:
            return {}
        members = sorted(wanted)  # the one member order of every writer (no deadlocks)
        keys, member_ids = zip(*members, strict=True)
        params: dict[str, Any] = {
            **_key_arrays(keys),
            "member_id": Int8Array(member_ids),
            "occurrences": Int8Array([wanted[member] for member in members]),
        }
        return self._transitions(wanted, run(self.connection, _UPSERT_MEMBERS, params))

    def _delete_members(self, keys: Sequence[Mapping[str, Any]]) -> None:
        params = {
            "account_id": Int8Array([key["account_id"] for key in keys]),
            "date": DateArray([key["date"] for key in keys]),
            "dimension_type": TextArray([key["dimension_type"] for key in keys]),
            "dimension_id": Int8Array([key["dimension_id"] for key in keys]),
            "metric": TextArray([key["metric"] for key in keys]),
            "member_id": Int8Array([key["member_id"] for key in keys]),
        }
        run(self.connection, _DELETE_EMPTY_MEMBERS, params)


class PostgresAccountStore(SqlAccountStore):
    """Account rows as locks: FOR SHARE for live writers, FOR UPDATE for exclusive work."""

    def _lock(self, account_ids: Collection[int], mode: str) -> dict[int, AccountSettings]:
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        rows = run(
            self.connection,
            _LOCK_ACCOUNTS.format(mode=mode),
            {"ids": Int8Array(ids)},
            namedtuple_row,
        )
        found = {int(row.account_id): self.settings(row) for row in rows}
        missing = [account_id for account_id in ids if account_id not in found]
        if missing:  # created and committed by another transaction while ours waited
            rows = run(
                self.connection,
                _RELOCK_ACCOUNTS.format(mode=mode),
                {"ids": Int8Array(missing)},
                namedtuple_row,
            )
            found.update((int(row.account_id), self.settings(row)) for row in rows)
        return {
            account_id: found.get(account_id) or AccountSettings(account_id) for account_id in ids
        }

    @operation("locking accounts")
    def lock_shared(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        return self._lock(account_ids, "SHARE")

    @operation("locking an account")
    def lock_exclusive(self, account_id: int) -> AccountSettings:
        return self._lock([account_id], "UPDATE")[account_id]


# --- errors --------------------------------------------------------------------------------------

_CONNECT_ADVICE: Final = (
    "check that PostgreSQL is running and that the URL's host and port are right"
)


def explain_postgres(error: BaseException) -> Explanation | None:
    """What a psycopg error means and what to do about it."""
    if not isinstance(error, psycopg.Error):
        return None
    state = error.sqlstate or ""
    message = driver_message(error)
    lowered = message.lower()
    advice: str | None = None
    if (
        state in ("28P01", "28000")
        or "authentication failed" in lowered
        or "no password supplied" in lowered
        or ('role "' in lowered and "does not exist" in lowered)
    ):
        advice = "check the user name and password in the URL (or PGPASSWORD / ~/.pgpass)"
    elif "pg_hba.conf" in lowered:
        advice = "the server refuses this user from this host: check the URL or pg_hba.conf"
    elif state == "3D000" or ('database "' in lowered and "does not exist" in lowered):
        advice = "create the database (createdb NAME) or fix the database name in the URL"
    elif state == "42501" or "permission denied" in lowered:
        advice = (
            "grant the user the privileges it needs (USAGE and CREATE on the schema to migrate; "
            "SELECT, INSERT, UPDATE, DELETE on reporting_events, reporting_events_rollups and "
            "the reporting_rollup_* tables to run), or run `rollups migrate` as the owner and "
            "open with migrate=False"
        )
    elif state in ("42P01", "42703"):
        advice = "the schema is missing or out of date; run `rollups migrate`"
    elif state in ("40P01", "40001"):
        advice = "a concurrent transaction conflicted with this one; retry"
    elif state in ("55P03", "57014"):
        advice = "a lock or statement timeout expired; retry later"
    elif state == "25006":
        advice = "the server is read-only (a standby?); connect to the primary"
    elif state.startswith("53"):
        advice = "the server is out of resources (disk, memory or connections); retry later"
    elif state.startswith("57P") or state.startswith("08"):
        advice = "the connection was lost or the server is restarting; retry"
    elif state == "22003":
        advice = "a number is too large for its column"
    elif isinstance(error, psycopg.OperationalError):
        advice = _CONNECT_ADVICE
    if advice is None:
        return None
    return StorageError, f"{message}; {advice}"


# --- engine and factory --------------------------------------------------------------------------


def postgres_url(url: str) -> URL:
    """The SQLAlchemy URL for ``postgresql://`` / ``postgres://`` / ``postgresql+psycopg://``,
    on the psycopg 3 driver. `ConfigurationError` (password redacted) when malformed or when it
    names no database (in the path, or as ``?dbname=`` / ``?service=``)."""
    shown = redact(url)
    scheme = url.split("://", 1)[0].lower() if isinstance(url, str) and "://" in url else ""
    if scheme not in _SCHEMES:
        raise ConfigurationError(f"database URL {shown!r} is not a PostgreSQL URL; {_USAGE}")
    try:
        parsed = make_url("postgresql+psycopg://" + url.split("://", 1)[1])
    except (sa_exc.ArgumentError, ValueError, TypeError):
        raise ConfigurationError(f"database URL {shown!r} is malformed; {_USAGE}") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigurationError(
            f"database URL {shown!r}: port {parsed.port} is out of range; {_USAGE}"
        )
    if "@" in (parsed.host or ""):
        raise ConfigurationError(
            f"database URL {shown!r} has an '@' after the user name and password; write an '@' "
            f"in the user name or password as %40 (and ':' in the password as %3A); {_USAGE}"
        )
    if not (parsed.database or parsed.query.get("dbname") or parsed.query.get("service")):
        raise ConfigurationError(
            f"database URL {shown!r} names no database (PostgreSQL would pick a default one and "
            f"the library would create its tables there); name the database: {_USAGE}"
        )
    return parsed


#: A pooled connection idle for longer than this is pinged before use (seconds).
IDLE_PING_SECONDS: Final = 10.0


def _on_connect(dbapi_connection: Any, _record: object) -> None:
    register_array_dumpers(dbapi_connection)


def _note_checkin(_dbapi_connection: object, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the server sent something to a connection that is idle in the pool (one
    non-blocking poll of its socket). An idle connection is sent nothing unless the server
    closes it (the FATAL message of `pg_terminate_backend`, a shutdown or an idle timeout, then
    end of file) or reports a parameter change or a notice."""
    fd = dbapi_connection.fileno()
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [fd], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: object) -> None:
    """Check a pooled connection before use; SQLAlchemy replaces one that fails, so a
    connection the server closed is never handed out. The hot path pays one non-blocking poll
    of the socket; a round trip (``SELECT 1``) is made only when the server sent something
    while the connection sat in the pool, or when it sat there longer than
    `IDLE_PING_SECONDS` (a peer that vanished without closing the socket sends nothing)."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise sa_exc.DisconnectionError("connection closed")
    checked_in_at = record.info.get("checked_in_at")
    idle = checked_in_at is not None and time.monotonic() - checked_in_at >= IDLE_PING_SECONDS
    if not (idle or _has_input(dbapi_connection)):
        return
    try:
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.rollback()
    except psycopg.Error as error:
        raise sa_exc.DisconnectionError("stale pooled connection") from error


def postgres_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """A pooled engine (psycopg 3; pooled connections are checked before use, see
    `_ping_if_idle`) for a PostgreSQL URL. Nothing is opened until first used."""
    parsed = postgres_url(url)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 10
    if "application_name" not in parsed.query:
        connect_args["application_name"] = "reporting-rollups"
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args=connect_args,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


class PostgresUnitOfWork(SqlUnitOfWork):
    """A PostgreSQL transaction; stores a batch in one round trip when it can. A read-only one
    is one REPEATABLE READ snapshot that takes no row lock."""

    events: PostgresEventStore
    read_only_begin = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"

    def store_batch(self, events: Sequence[Event]) -> StoredBatch:
        first = self.events.store_new(events)
        if first is None:
            return store_stepwise(events, self.accounts, self.events, self.ledger)
        done, before = first
        if not before:
            return done
        held = self.events.hold_checked(before)
        zoned = {a for a, settings in done.settings.items() if settings.timezone is not None}
        fresh = self.ledger.mark(
            [(e.account_id, e.id) for e in before if e.id in held and e.account_id in zoned]
        )
        return attrs.evolve(done, fresh=done.fresh | fresh)


def postgres_errors(url: str) -> ErrorTranslator:
    """The error translator for a PostgreSQL URL: names the database with its password
    redacted, and scrubs every form of the password from the driver's messages."""
    return ErrorTranslator(f"PostgreSQL {redact(url)}", explain_postgres, password_forms(url))


class PostgresUnitOfWorkFactory(SqlUnitOfWorkFactory):
    """Units of work on a PostgreSQL database, from a connection pool."""

    unit_of_work_class = PostgresUnitOfWork
    event_store_class = PostgresEventStore
    ledger_class = PostgresAppliedLedger
    rollup_store_class = PostgresRollupStore
    account_store_class = PostgresAccountStore

    @classmethod
    def from_url(
        cls, url: str, *, migrate: bool = True, pool_size: int = 5, max_overflow: int = 10
    ) -> Self:
        """Open ``postgresql://...``: create or upgrade the schema (`migrate`), or check that it
        is current. Raises `StorageError` when the server cannot be reached."""
        engine = postgres_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        factory = cls(engine, postgres_errors(url))
        factory.prepare(migrate=migrate)
        return factory


__all__ = [
    "PostgresAccountStore",
    "PostgresAppliedLedger",
    "PostgresEventStore",
    "PostgresRollupStore",
    "PostgresUnitOfWork",
    "PostgresUnitOfWorkFactory",
    "explain_postgres",
    "postgres_engine",
    "postgres_errors",
    "postgres_url",
]
