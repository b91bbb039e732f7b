"""Small builders shared by the unit and contract suites."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey

#: A past instant well inside "yesterday and before" for the fixed clock (2026-11-23 12:00 UTC).
DEFAULT_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def event(
    event_id: int,
    name: str = "conversation_resolved",
    *,
    at: datetime = DEFAULT_AT,
    account_id: int = 1,
    value: float | None = None,
    business: float | None = None,
    user_id: int | None = None,
    inbox_id: int | None = None,
    conversation_id: int | None = None,
) -> Event:
    """An `Event` with test-friendly defaults."""
    return Event(
        id=event_id,
        name=name,
        account_id=account_id,
        created_at=at,
        value=value,
        value_in_business_hours=business,
        user_id=user_id,
        inbox_id=inbox_id,
        conversation_id=conversation_id,
    )


def row_map(
    rows: Iterable[tuple[RollupKey, MetricContribution]],
) -> dict[tuple[date, str, int, str], tuple[int, float, float]]:
    """`Rollups.rows()` as {(date, dimension_type, dimension_id, metric): (count, sum, sum_bh)}."""
    return {
        (key.date, str(key.dimension_type), key.dimension_id, str(key.metric)): (
            value.count,
            value.sum_value,
            value.sum_value_business_hours,
        )
        for key, value in rows
    }
