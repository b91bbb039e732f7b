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
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from reporting_rollups.adapters.sql.tables import reporting_events
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


def created_at_in_range(
    created_at: ColumnElement[Any] = reporting_events.c.created_at,
) -> list[ColumnElement[bool]]:
    """MIN_CREATED_AT <= `created_at` (by default `reporting_events.created_at`) <
    MAX_CREATED_AT (`domain.limits`)."""
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


def readable_created_at(
    created_at: ColumnElement[Any] = reporting_events.c.created_at,
) -> list[ColumnElement[bool]]:
    """`created_at_in_range`, and on SQLite text that is a timestamp at all: the condition under
    which a row's `created_at` can be read into a datetime."""
    return [*created_at_in_range(created_at), _IsTimestamp(created_at)]


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
