"""Rollup vocabulary: metrics, dimensions, keys and additive contributions."""

from __future__ import annotations

import math
from datetime import date
from enum import StrEnum
from typing import Final, NamedTuple


class Metric(StrEnum):
    """A rollup metric, as stored in `reporting_events_rollups.metric`."""

    RESOLUTIONS_COUNT = "resolutions_count"
    RESOLUTION_TIME = "resolution_time"
    FIRST_RESPONSE = "first_response"
    REPLY_TIME = "reply_time"
    BOT_RESOLUTIONS_COUNT = "bot_resolutions_count"
    BOT_HANDOFFS_COUNT = "bot_handoffs_count"


class DimensionType(StrEnum):
    """What a rollup row is grouped by, as stored in `dimension_type`."""

    ACCOUNT = "account"
    AGENT = "agent"
    INBOX = "inbox"


#: The one place that says which event field identifies each dimension. Adding a dimension is
#: adding a member to `DimensionType` and a line here; every path (live, backfill, reports)
#: reads it.
DIMENSION_FIELDS: Final[dict[DimensionType, str]] = {
    DimensionType.ACCOUNT: "account_id",
    DimensionType.AGENT: "user_id",
    DimensionType.INBOX: "inbox_id",
}


class RollupKey(NamedTuple):
    """Identity of one rollup row (a tuple: cheap to hash and sort on the hot path)."""

    account_id: int
    date: date
    dimension_type: DimensionType
    dimension_id: int
    metric: Metric


#: Relative tolerance for comparing float sums that were added in different orders.
SUM_TOLERANCE: Final = 1e-9


class MetricContribution(NamedTuple):
    """What one or more events add to a rollup row: additive under `+`."""

    count: int = 0  # type: ignore[assignment]  # shadows tuple.count, by design
    sum_value: float = 0.0
    sum_value_business_hours: float = 0.0

    def __add__(self, other: object) -> MetricContribution:
        if not isinstance(other, MetricContribution):
            return NotImplemented
        return MetricContribution(
            self.count + other.count,
            self.sum_value + other.sum_value,
            self.sum_value_business_hours + other.sum_value_business_hours,
        )

    def __neg__(self) -> MetricContribution:
        return MetricContribution(-self.count, -self.sum_value, -self.sum_value_business_hours)

    def __sub__(self, other: MetricContribution) -> MetricContribution:
        return self + (-other)

    def as_dict(self) -> dict[str, float]:
        """The contribution as the reference registry spells it."""
        return {
            "count": self.count,
            "sum_value": self.sum_value,
            "sum_value_business_hours": self.sum_value_business_hours,
        }

    def matches(self, other: MetricContribution) -> bool:
        """Counts equal exactly; sums equal up to float addition order."""
        return (
            self.count == other.count
            and _close(self.sum_value, other.sum_value)
            and _close(self.sum_value_business_hours, other.sum_value_business_hours)
        )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=SUM_TOLERANCE, abs_tol=1e-6)


ZERO: Final = MetricContribution()
