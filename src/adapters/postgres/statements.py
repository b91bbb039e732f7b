"""The PostgreSQL backend's hand-written statements (psycopg parameters; arrays in binary,
`adapters.postgres.arrays`). Every write of a batch is one statement over `unnest` of arrays,
whatever the batch size. Event columns are generated from `adapters.sql.tables.EVENT_FIELDS`.
"""

from __future__ import annotations

from typing import Final

from reporting_rollups.adapters.postgres.arrays import EVENT_ARRAYS
from reporting_rollups.adapters.sql.capture import MARK_LIBRARY_ORIGIN
from reporting_rollups.adapters.sql.tables import EVENT_COLUMNS, EVENT_FIELDS
from reporting_rollups.domain.events import TIME_FIELDS

_FIELDS: Final = ", ".join(EVENT_FIELDS)


def _event_arrays(times: bool) -> str:
    """The events of a batch as rows `u`, from one array per field (with `times`, also per
    `TIME_FIELDS` column)."""
    names = (*EVENT_FIELDS, *TIME_FIELDS) if times else EVENT_FIELDS
    arrays = ", ".join(f"%({name})b::{EVENT_ARRAYS[name].element}[]" for name in names)
    return f"unnest({arrays}) AS u({', '.join(names)})"


def _event_insert(times: bool) -> str:
    """The insert of rows `u`: `updated_at` is the write's time (`%(now)s`) unless the event has
    one; the other times only in a batch that has some (a host table may lack their columns)."""
    if not times:
        return f"INSERT INTO reporting_events ({_FIELDS}, updated_at) SELECT {_FIELDS}, %(now)s"
    return f"""INSERT INTO reporting_events ({", ".join(EVENT_COLUMNS)})
    SELECT {_FIELDS}, coalesce(updated_at, %(now)s), event_start_time, event_end_time"""


#: Whether a stored row `e` differs from the event `u` sent with its id.
_EVENT_DIFFERS: Final = (
    "("
    + ", ".join(f"e.{name}" for name in EVENT_FIELDS[1:])
    + ") IS DISTINCT FROM ("
    + ", ".join(f"u.{name}" for name in EVENT_FIELDS[1:])
    + ")"
)


def _insert_events(times: bool, key: str = "id") -> str:
    return f"""
WITH u AS (SELECT * FROM {_event_arrays(times)}),
inserted AS (
    {_event_insert(times)}
    FROM u
    ON CONFLICT ({key}) DO NOTHING
    RETURNING id
)
SELECT coalesce(array_agg(u.id), '{{}}') FROM u
WHERE NOT EXISTS (SELECT 1 FROM inserted WHERE inserted.id = u.id)
"""


#: Insert a batch's new events; return the ids that were stored before. By whether the batch
#: has `TIME_FIELDS` values.
INSERT_EVENTS: Final = {times: _insert_events(times) for times in (False, True)}
#: The same for the events of one account on a distributed database, where an event is
#: identified by (account_id, id) (`adapters.postgres.citus`).
INSERT_ACCOUNT_EVENTS: Final = {
    times: _insert_events(times, "account_id, id") for times in (False, True)
}

#: Mark events applied; return the ids that were marked before (usually none).
MARK: Final = """
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

UPSERT_MEMBERS: Final = """
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

DELETE_EMPTY_MEMBERS: Final = """
DELETE FROM reporting_rollup_members m
USING unnest(
    %(account_id)b::integer[], %(date)b::date[], %(dimension_type)b::text[],
    %(dimension_id)b::bigint[], %(metric)b::text[], %(member_id)b::bigint[]
) AS u(account_id, day, dimension_type, dimension_id, metric, member_id)
WHERE m.account_id = u.account_id AND m."date" = u.day AND m.dimension_type = u.dimension_type
  AND m.dimension_id = u.dimension_id AND m.metric = u.metric AND m.member_id = u.member_id
  AND m.occurrences = 0
"""
#: The same for one account's members (`%(account)s`), routed to its shard on Citus.
DELETE_EMPTY_ACCOUNT_MEMBERS: Final = DELETE_EMPTY_MEMBERS.replace(
    "AND m.occurrences = 0", "AND m.occurrences = 0 AND m.account_id = %(account)s"
)

#: Additive upsert on index_rollup_unique_key.
UPSERT_ROLLUPS: Final = """
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
DELETE_EMPTY_ROLLUPS: Final = """
DELETE FROM reporting_events_rollups r
USING unnest(
    %(account_id)b::integer[], %(date)b::date[], %(dimension_type)b::text[],
    %(dimension_id)b::bigint[], %(metric)b::text[]
) AS u(account_id, day, dimension_type, dimension_id, metric)
WHERE r.account_id = u.account_id AND r."date" = u.day AND r.dimension_type = u.dimension_type
  AND r.dimension_id = u.dimension_id AND r.metric = u.metric AND r."count" <= 0
RETURNING r.id, r.account_id, r."date", r.dimension_type, r.dimension_id, r.metric, r."count"
"""
#: The same for one account's rows (`%(account)s`), routed to its shard on Citus.
DELETE_EMPTY_ACCOUNT_ROLLUPS: Final = DELETE_EMPTY_ROLLUPS.replace(
    'r."count" <= 0', 'r."count" <= 0 AND r.account_id = %(account)s'
)

#: Before a rebuild: delete the days' rollup rows and members.
DELETE_DAYS: Final = """
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
LOCK_ACCOUNTS: Final = f"""
WITH created AS (
    INSERT INTO reporting_rollup_accounts (account_id)
    SELECT a FROM unnest(%(ids)b::integer[]) AS u(a) WHERE {MARK_LIBRARY_ORIGIN} ORDER BY a
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
    FOR {{mode}}
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
#: stored before) the ids it did not insert: the caller holds those (`HOLD_EVENTS`) before
#: marking them, so that an event a concurrent retraction deletes is never folded.
def _store_batch(times: bool) -> str:
    return f"""
WITH locked AS (
    SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled,
           timezone_generation
    FROM reporting_rollup_accounts
    WHERE account_id = ANY(%(accounts)b::integer[])
    ORDER BY account_id
    FOR SHARE
),
complete AS (
    SELECT count(*) = cardinality(%(accounts)b::integer[]) AND {MARK_LIBRARY_ORIGIN} AS ok
    FROM locked
),
inserted AS (
    {_event_insert(times)}
    FROM {_event_arrays(times)}
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


#: The storing half of `record`, by whether the batch has `TIME_FIELDS` values.
STORE_BATCH: Final = {times: _store_batch(times) for times in (False, True)}

#: Lock FOR SHARE, in id order, the stored rows of events a batch did not insert (a retraction's
#: DELETE waits for the lock; a row it deleted first is skipped), with whether each row's content
#: differs from the event sent.
HOLD_EVENTS: Final = f"""
SELECT e.id, {_EVENT_DIFFERS}
FROM reporting_events e
JOIN {_event_arrays(False)} ON u.id = e.id
ORDER BY e.id
FOR SHARE OF e
"""

#: `HOLD_EVENTS` for the events of one account (`%(account)s`) on a distributed database.
HOLD_ACCOUNT_EVENTS: Final = f"""
SELECT e.id, {_EVENT_DIFFERS}
FROM reporting_events e
JOIN {_event_arrays(False)} ON u.id = e.id AND u.account_id = e.account_id
WHERE e.account_id = %(account)s
ORDER BY e.id
FOR SHARE OF e
"""

#: Create one account's row if missing, then lock it (a distributed database: one shard each).
CREATE_ACCOUNT: Final = """
INSERT INTO reporting_rollup_accounts (account_id) VALUES (%(id)s)
ON CONFLICT (account_id) DO NOTHING
"""
LOCK_ACCOUNT: Final = """
SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled,
       timezone_generation
FROM reporting_rollup_accounts
WHERE account_id = %(id)s
FOR {mode}
"""

RELOCK_ACCOUNTS: Final = """
SELECT account_id, reporting_timezone, rollup_timezone, read_path_enabled,
       timezone_generation
FROM reporting_rollup_accounts
WHERE account_id = ANY(%(ids)b::integer[])
ORDER BY account_id
FOR {mode}
"""
