"""Aggregation of raw events in SQL, generated from the metric registry.

One query builder serves the backfill (rebuild a day's rows and members), `verify`, and reports
from raw events, on SQLite and PostgreSQL alike. The rules come from `domain.registry.RULES` and
the dimensions from `domain.metrics.DIMENSION_FIELDS`, so the SQL cannot drift from the live path.
Raw rows with a NULL or unknown name contribute nothing; NULL values count as 0. Rows that
cannot be an `Event` (a non-positive id, a non-finite value) contribute nothing either, exactly as
the live path, which only ever sees valid events, would have it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    values,
)
from sqlalchemy import DateTime as SADateTime

from adapters.tables import reporting_events, rollup_applied_events
from domain.metrics import DIMENSION_FIELDS, Metric
from domain.registry import RULES, Payload


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


#: The largest finite float: `abs(x) <= _MAX_FLOAT` is false for NaN and the infinities.
_MAX_FLOAT = 1.7976931348623157e308


def valid_event_row() -> list[ColumnElement[bool]]:
    """Conditions a `reporting_events` row must meet to be a valid `Event` (besides a supported
    name and the account): positive ids where present, finite values where present."""
    e = reporting_events
    conditions: list[ColumnElement[bool]] = [e.c.id > 0]
    for field in ("user_id", "inbox_id", "conversation_id"):
        conditions.append(or_(e.c[field].is_(None), e.c[field] > 0))
    for field in ("value", "value_in_business_hours"):
        conditions.append(or_(e.c[field].is_(None), func.abs(e.c[field]) <= _MAX_FLOAT))
    return conditions


def _dimension_rows(
    account_id: int,
    windows: CTE,
    rules: CTE,
    dimensions: Collection[str],
    *,
    applied_only: bool = False,
) -> CTE:
    """One row per (window, event, dimension with an id, rule the event feeds)."""
    e = reporting_events
    conditions = valid_event_row()
    if applied_only:
        applied = rollup_applied_events
        conditions.append(
            exists().where(applied.c.account_id == e.c.account_id, applied.c.event_id == e.c.id)
        )
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
    applied_only: bool = False,
) -> Select[int, str, int, str, int, float, float]:
    """Rows (idx, dimension_type, dimension_id, metric, count, sum_value,
    sum_value_business_hours): the account's raw events aggregated per window.

    Distinct-conversation metrics count distinct conversations per window, plus one per event
    without a conversation; their sums are 0. With `applied_only`, only events marked in
    `reporting_rollup_applied_events` count (a rebuild marks first, then aggregates the marked).
    """
    windows = windows_cte(bounds)
    rules = _rules_cte(metrics)
    rows = _dimension_rows(
        account_id,
        windows,
        rules,
        dimensions if dimensions is not None else list(DIMENSION_FIELDS),
        applied_only=applied_only,
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
    account_id: int, bounds: Sequence[tuple[datetime, datetime]], *, applied_only: bool = False
) -> Select[int, str, int, str, int, int]:
    """Rows (idx, dimension_type, dimension_id, metric, member_id, occurrences): the distinct
    members (conversations) of distinct-count metrics per window (`applied_only` as in
    `aggregate_select`)."""
    windows = windows_cte(bounds)
    distinct_metrics = [r.metric for r in RULES if r.payload is Payload.DISTINCT_CONVERSATIONS]
    rows = _dimension_rows(
        account_id,
        windows,
        _rules_cte(distinct_metrics),
        list(DIMENSION_FIELDS),
        applied_only=applied_only,
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
