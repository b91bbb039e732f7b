"""PostgreSQL's own aggregation: a rebuild of an account's days in one statement, and the same
aggregation for `verify`, generated from the metric registry (`domain.registry.RULES`) and the
row checks of `adapters.sql.aggregation.valid_event_row`, so that it cannot drift from the live
path or from the shared aggregation that reports from raw events use."""

from __future__ import annotations

import functools
from collections.abc import Collection

from sqlalchemy import and_
from sqlalchemy.engine import Dialect

from reporting_rollups.adapters.sql.aggregation import valid_event_row
from reporting_rollups.domain.metrics import DIMENSION_FIELDS
from reporting_rollups.domain.registry import RULES, Payload


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _names(payloads: Collection[Payload] | None = None) -> str:
    """The quoted event names with a rule (of one of `payloads`), for `IN (...)`."""
    names = {r.event_name for r in RULES if payloads is None or r.payload in payloads}
    return ", ".join(_literal(name) for name in sorted(names))


@functools.lru_cache(maxsize=16)
def _postgres_aggregation(dialect: Dialect) -> tuple[str, str]:
    """(CTEs, totals): the account's raw rows in the range read once (`ev`, with `idx`, the
    1-based day of `starts`, and `valid`), grouped (`grouped`) and spread over dimensions and
    rules (`parts`); `totals` is the SELECT of the rollup rows from `parts`, (idx,
    dimension_type, dimension_id, metric, count, sum_value, sum_value_business_hours).
    Parameters: `account`, `start`, `end`, `starts`. Shared by the rebuild and `verify`."""
    valid = and_(*valid_event_row()).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    rules = ", ".join(
        f"({_literal(r.event_name)}, {_literal(str(r.metric))}, {_literal(str(r.payload))})"
        for r in RULES
    )
    ids = ", ".join(sorted(set(DIMENSION_FIELDS.values())))
    dimensions = ", ".join(
        f"({_literal(str(dimension))}, g.{field}::bigint)"
        for dimension, field in DIMENSION_FIELDS.items()
    )
    distinct = _literal(str(Payload.DISTINCT_CONVERSATIONS))
    duration = _literal(str(Payload.DURATION))
    ctes = f"""ev AS MATERIALIZED (
    SELECT id, name, value, value_in_business_hours, account_id, user_id, inbox_id,
           conversation_id, width_bucket(created_at, %(starts)b::timestamp[]) AS idx,
           ({valid}) AS valid
    FROM reporting_events
    WHERE account_id = %(account)s AND created_at >= %(start)s AND created_at < %(end)s
),
grouped AS (
    SELECT idx, name, {ids},
           CASE WHEN name IN ({_names([Payload.DISTINCT_CONVERSATIONS])})
                THEN conversation_id END AS member,
           count(*) AS n, sum(value) AS s, sum(value_in_business_hours) AS b
    FROM ev
    WHERE valid AND name IN ({_names()})
    GROUP BY idx, name, {ids}, member
),
parts AS (
    SELECT g.idx, d.dimension_type, d.dimension_id, r.metric, r.payload,
           CASE WHEN r.payload = {distinct} THEN g.member END AS member,
           sum(g.n) AS n, sum(g.s) AS s, sum(g.b) AS b
    FROM grouped g
    JOIN (VALUES {rules}) AS r(event_name, metric, payload) ON r.event_name = g.name
    CROSS JOIN LATERAL (VALUES {dimensions}) AS d(dimension_type, dimension_id)
    WHERE d.dimension_id IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
)"""
    totals = f"""SELECT idx, dimension_type, dimension_id, metric,
           CASE WHEN payload = {distinct}
                THEN count(member) + coalesce(sum(n) FILTER (WHERE member IS NULL), 0)
                ELSE sum(n) END AS count,
           CASE WHEN payload = {duration} THEN coalesce(sum(s), 0) ELSE 0 END AS sum_value,
           CASE WHEN payload = {duration} THEN coalesce(sum(b), 0) ELSE 0 END
               AS sum_value_business_hours
    FROM parts
    GROUP BY idx, dimension_type, dimension_id, metric, payload"""
    return ctes, totals


@functools.lru_cache(maxsize=16)
def postgres_aggregate_statement(dialect: Dialect) -> str:
    """One PostgreSQL query of the rollup rows that rebuilding an account's days would write
    (`_postgres_aggregation`: the rebuild's own aggregation), nothing written. Parameters:
    `account`, `start`, `end` (naive UTC bounds of the days) and `starts` (the days' first
    instants, timestamp[]). Rows: (idx, 1-based; dimension_type, dimension_id, metric, count,
    sum_value, sum_value_business_hours)."""
    ctes, totals = _postgres_aggregation(dialect)
    return f"WITH {ctes}\n{totals}\n"


@functools.lru_cache(maxsize=16)
def postgres_rebuild_statement(dialect: Dialect, *, changes: bool = True) -> str:
    """One PostgreSQL statement that rebuilds an account's days from its raw events (the days'
    old rows and members deleted beforehand), generated from the registry.

    `dialect` (PostgreSQL's) renders the row checks of `valid_event_row`. Parameters: `account`,
    `start` and `end` (naive UTC bounds of the days), `starts` (the days' first instants,
    timestamp[]), `dates` (date[]) and `now`. Returns one row: the raw events in the range, the
    rollup rows written, and whether a captured change of the account is visible (the caller
    applied them all before: one that is means a host commit in between, `ChangesArrived`);
    without `changes` (a distributed database, which has no change capture, and whose planner
    fails on that check beside writing CTEs) always false.

    One snapshot serves every step, so the events marked applied are exactly the events
    aggregated, whatever the host commits meanwhile. The caller holds the account's row FOR
    UPDATE, so no other transaction marks the account's events: a plain INSERT of the events not
    yet marked suffices (cheaper than ON CONFLICT; a unique violation would only fail the chunk).

    The account's raw rows in the range are read once (`ev`); each gets its day by binary search
    over the days' first instants (`width_bucket`: 23- and 25-hour and empty days included). They
    are first grouped per (day, event name, dimension ids, member conversation), which leaves few
    rows to spread over the dimensions and rules; distinct counts are then the number of member
    groups, with no COUNT(DISTINCT) sort (`_postgres_aggregation`, which `verify` runs too).
    """
    ctes, totals = _postgres_aggregation(dialect)
    arrived = (
        "EXISTS (SELECT FROM reporting_rollup_changes WHERE account_id = %(account)s)"
        if changes
        else "false"
    )
    return f"""
WITH {ctes},
marked AS (
    INSERT INTO reporting_rollup_applied_events (account_id, event_id)
    SELECT account_id, id FROM ev
    WHERE NOT EXISTS (
        SELECT FROM reporting_rollup_applied_events a
        WHERE a.account_id = %(account)s AND a.event_id = ev.id
    )
    ORDER BY id
),
members AS (
    INSERT INTO reporting_rollup_members
        (account_id, "date", dimension_type, dimension_id, metric, member_id, occurrences)
    SELECT %(account)s, (%(dates)b::date[])[idx], dimension_type, dimension_id, metric, member, n
    FROM parts
    WHERE member IS NOT NULL
    ORDER BY idx, dimension_type, dimension_id, metric, member
),
totals AS (
    {totals}
),
inserted AS (
    INSERT INTO reporting_events_rollups
        (account_id, "date", dimension_type, dimension_id, metric, "count", sum_value,
         sum_value_business_hours, created_at, updated_at)
    SELECT %(account)s, (%(dates)b::date[])[idx], dimension_type, dimension_id, metric,
           count, sum_value, sum_value_business_hours, %(now)s, %(now)s
    FROM totals
    ORDER BY idx, dimension_type, dimension_id, metric
    RETURNING 1
)
SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM inserted), {arrived}
"""
