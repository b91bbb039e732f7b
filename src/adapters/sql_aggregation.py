"""Aggregation of raw events in SQL, generated from the metric registry.

One query builder serves the backfill (rebuild a day's rows and members), `verify`, and reports
from raw events, on SQLite and PostgreSQL alike. The rules come from `domain.registry.RULES` and
the dimensions from `domain.metrics.DIMENSION_FIELDS`, so the SQL cannot drift from the live path.
Raw rows with a NULL or unknown name contribute nothing; NULL values count as 0. Rows that
cannot be an `Event` (outside the ranges of `domain.limits`: a non-positive id, a value beyond
1e9 s, a created_at before 1900 or from 2200 on...) contribute nothing either, exactly as the
live path, which only ever sees valid events, would have it (`valid_event_row`).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    values,
)
from sqlalchemy import DateTime as SADateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from reporting_rollups.adapters.tables import reporting_events
from reporting_rollups.domain.limits import (
    MAX_ABS_VALUE,
    MAX_CREATED_AT,
    MAX_NAME_LENGTH,
    MAX_REFERENCE_ID,
    MIN_CREATED_AT,
)
from reporting_rollups.domain.metrics import DIMENSION_FIELDS, Metric
from reporting_rollups.domain.registry import RULES, Payload


def naive_utc(instant: datetime) -> datetime:
    """An aware instant as the naive UTC datetime the tables store."""
    return instant.astimezone(UTC).replace(tzinfo=None)


def windows_cte(bounds: Sequence[tuple[datetime, datetime]]) -> CTE:
    """A CTE (idx, start_at, end_at) of numbered UTC windows."""
    rows = [(index, naive_utc(start), naive_utc(end)) for index, (start, end) in enumerate(bounds)]
    return (
        values(
            column("idx", Integer),
            column("start_at", SADateTime()),
            column("end_at", SADateTime()),
            name="windows",
        )
        .data(rows)
        .cte("windows")
    )


def _rules_cte(metrics: Collection[Metric] | None) -> CTE:
    rows = [
        (rule.event_name, str(rule.metric), str(rule.payload))
        for rule in RULES
        if metrics is None or rule.metric in metrics
    ]
    return (
        values(
            column("event_name", String),
            column("metric", String),
            column("payload", String),
            name="rules",
        )
        .data(rows)
        .cte("rules")
    )


def _naive_literal(instant: datetime) -> ColumnElement[datetime]:
    """A UTC instant as an inline timestamp literal ('YYYY-MM-DD HH:MM:SS'): PostgreSQL casts
    it to `timestamp`, SQLite compares it with its stored text (the same form, plus
    microseconds), and the statements compiled once with bound parameters carry no datetime."""
    return literal_column(f"'{naive_utc(instant):%Y-%m-%d %H:%M:%S}'", SADateTime())


def created_at_in_range() -> list[ColumnElement[bool]]:
    """MIN_CREATED_AT <= `reporting_events.created_at` < MAX_CREATED_AT (`domain.limits`)."""
    created_at = reporting_events.c.created_at
    return [
        created_at >= _naive_literal(MIN_CREATED_AT),
        created_at < _naive_literal(MAX_CREATED_AT),
    ]


class _SQLiteCheck(FunctionElement[bool]):
    """A condition on a column that only SQLite needs (true elsewhere): SQLite text may hold
    anything, PostgreSQL's column types already exclude it. `sqlite_sql` formats the column."""

    type = Boolean()
    inherit_cache = True
    sqlite_sql: ClassVar[str]


@compiles(_SQLiteCheck)
def _sqlite_check(element: _SQLiteCheck, compiler: SQLCompiler, **kw: Any) -> str:
    return "true"


@compiles(_SQLiteCheck, "sqlite")
def _sqlite_check_sqlite(element: _SQLiteCheck, compiler: SQLCompiler, **kw: Any) -> str:
    return element.sqlite_sql.format(compiler.process(element.clauses, **kw))


class _HasNoNul(_SQLiteCheck):
    """`name` holds no NUL character (SQLite's `length()` stops at the first one)."""

    inherit_cache = True
    sqlite_sql = "(instr({}, char(0)) = 0)"


class _IsTimestamp(_SQLiteCheck):
    """The column holds a timestamp: on SQLite, text that `datetime()` reads."""

    inherit_cache = True
    sqlite_sql = "(datetime({}) IS NOT NULL)"


def readable_created_at() -> list[ColumnElement[bool]]:
    """`created_at_in_range`, and on SQLite text that is a timestamp at all: the condition under
    which a row's `created_at` can be read into a datetime."""
    return [*created_at_in_range(), _IsTimestamp(reporting_events.c.created_at)]


def valid_name(name: ColumnElement[str]) -> list[ColumnElement[bool]]:
    """`name` is a valid event name: 1 to MAX_NAME_LENGTH characters, without NUL (for queries
    that do not compare it with the registry's names, `EventStore.span`)."""
    return [name.is_not(None), func.char_length(name).between(1, MAX_NAME_LENGTH), _HasNoNul(name)]


def valid_event_row() -> list[ColumnElement[bool]]:
    """Conditions a `reporting_events` row must meet to be a valid `Event`, with the ranges of
    `domain.limits`: positive ids (at most the reference's INTEGER for user, inbox and
    conversation), values within +-MAX_ABS_VALUE where present (so never NaN or infinite),
    MIN_CREATED_AT <= created_at < MAX_CREATED_AT.

    Every query that uses them also compares the name with the registry's names, which are valid
    names (so a NULL, blank, over-long or NUL-holding name never matches). Rows failing them
    contribute nothing to any aggregation and are outside `EventStore.span`, as if they were not
    stored.
    """
    e = reporting_events
    conditions: list[ColumnElement[bool]] = [e.c.id > 0, *readable_created_at()]
    for field in ("user_id", "inbox_id", "conversation_id"):
        conditions.append(or_(e.c[field].is_(None), e.c[field].between(1, MAX_REFERENCE_ID)))
    for field in ("value", "value_in_business_hours"):
        conditions.append(
            or_(e.c[field].is_(None), e.c[field].between(-MAX_ABS_VALUE, MAX_ABS_VALUE))
        )
    return conditions


def _dimension_rows(account_id: int, windows: CTE, rules: CTE, dimensions: Collection[str]) -> CTE:
    """One row per (window, event, dimension with an id, rule the event feeds)."""
    e = reporting_events
    conditions = valid_event_row()
    parts = []
    for dimension, field in DIMENSION_FIELDS.items():
        if dimension not in dimensions:
            continue
        dimension_id = e.c[field]
        parts.append(
            select(
                windows.c.idx,
                literal(str(dimension), String).label("dimension_type"),
                dimension_id.label("dimension_id"),
                rules.c.metric,
                rules.c.payload,
                e.c.conversation_id,
                e.c.value,
                e.c.value_in_business_hours,
            )
            .select_from(e)
            .join(
                windows,
                and_(e.c.created_at >= windows.c.start_at, e.c.created_at < windows.c.end_at),
            )
            .join(rules, rules.c.event_name == e.c.name)
            .where(e.c.account_id == account_id, dimension_id.is_not(None), *conditions)
        )
    return union_all(*parts).cte("dimension_rows")


def aggregate_select(
    account_id: int,
    bounds: Sequence[tuple[datetime, datetime]],
    *,
    dimensions: Collection[str] | None = None,
    metrics: Collection[Metric] | None = None,
) -> Select[int, str, int, str, int, float, float]:
    """Rows (idx, dimension_type, dimension_id, metric, count, sum_value,
    sum_value_business_hours): the account's raw events aggregated per window.

    Distinct-conversation metrics count distinct conversations per window, plus one per event
    without a conversation; their sums are 0.
    """
    windows = windows_cte(bounds)
    rules = _rules_cte(metrics)
    rows = _dimension_rows(
        account_id, windows, rules, dimensions if dimensions is not None else list(DIMENSION_FIELDS)
    )
    distinct = rows.c.payload == str(Payload.DISTINCT_CONVERSATIONS)
    duration = rows.c.payload == str(Payload.DURATION)
    count = case(
        (
            distinct,
            func.count(rows.c.conversation_id.distinct())
            + func.sum(case((rows.c.conversation_id.is_(None), 1), else_=0)),
        ),
        else_=func.count(),
    )
    zero: ColumnElement[float] = literal_column("0.0")
    sum_value = case((duration, func.coalesce(func.sum(rows.c.value), zero)), else_=zero)
    sum_business = case(
        (duration, func.coalesce(func.sum(rows.c.value_in_business_hours), zero)), else_=zero
    )
    return select(
        rows.c.idx,
        rows.c.dimension_type,
        rows.c.dimension_id,
        rows.c.metric,
        count.label("count"),
        sum_value.label("sum_value"),
        sum_business.label("sum_value_business_hours"),
    ).group_by(
        rows.c.idx, rows.c.dimension_type, rows.c.dimension_id, rows.c.metric, rows.c.payload
    )


def members_select(
    account_id: int, bounds: Sequence[tuple[datetime, datetime]]
) -> Select[int, str, int, str, int, int]:
    """Rows (idx, dimension_type, dimension_id, metric, member_id, occurrences): the distinct
    members (conversations) of distinct-count metrics per window."""
    windows = windows_cte(bounds)
    distinct_metrics = [r.metric for r in RULES if r.payload is Payload.DISTINCT_CONVERSATIONS]
    rows = _dimension_rows(
        account_id, windows, _rules_cte(distinct_metrics), list(DIMENSION_FIELDS)
    )
    return (
        select(
            rows.c.idx,
            rows.c.dimension_type,
            rows.c.dimension_id,
            rows.c.metric,
            rows.c.conversation_id.label("member_id"),
            func.count().label("occurrences"),
        )
        .where(rows.c.conversation_id.is_not(None))
        .group_by(
            rows.c.idx,
            rows.c.dimension_type,
            rows.c.dimension_id,
            rows.c.metric,
            rows.c.conversation_id,
        )
    )


# --- PostgreSQL: a rebuild in one statement ------------------------------------------------------


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
def postgres_rebuild_statement(dialect: Dialect) -> str:
    """One PostgreSQL statement that rebuilds an account's days from its raw events (the days'
    old rows and members deleted beforehand), generated from the registry.

    `dialect` (PostgreSQL's) renders the row checks of `valid_event_row`. Parameters: `account`,
    `start` and `end` (naive UTC bounds of the days), `starts` (the days' first instants,
    timestamp[]), `dates` (date[]) and `now`. Returns one row: the raw events in the range and
    the rollup rows written.

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
SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM inserted)
"""
