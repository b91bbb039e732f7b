"""What reports return: summary rows, time series points, the reports holding them, and how a
report metric's value follows from its totals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

import attrs

from reporting_rollups.application.read_path import GroupBy, Source
from reporting_rollups.domain.metrics import DimensionType, MetricContribution
from reporting_rollups.domain.registry import AVERAGES, ReportMetric

Value = int | float | None


def _iso(value: date | datetime) -> str:
    return value.isoformat()


def _staleness(stale_seconds: float | None) -> dict[str, float]:
    """The `stale_seconds` entry of a report's dict, absent when the report is not stale."""
    return {} if stale_seconds is None else {"stale_seconds": stale_seconds}


def _sealed(sealed_before: date | None) -> dict[str, str]:
    """The `sealed_before` entry of a report's dict, absent when no sealed day is in it."""
    return {} if sealed_before is None else {"sealed_before": _iso(sealed_before)}


def report_value(
    metric: ReportMetric, total: MetricContribution, business_hours: bool = False
) -> Value:
    """A report metric's value from its rollup totals: the count, or sum / count (the
    business-hours sum with `business_hours`), None when the count is 0."""
    if metric not in AVERAGES:
        return total.count
    if total.count == 0:
        return None
    total_sum = total.sum_value_business_hours if business_hours else total.sum_value
    return total_sum / total.count


@attrs.frozen
class SummaryRow:
    """The report metrics of one dimension id over the whole range."""

    dimension_id: int
    resolutions_count: int
    avg_resolution_time: float | None
    avg_first_response_time: float | None
    avg_reply_time: float | None
    bot_resolutions_count: int
    bot_handoffs_count: int

    def as_dict(self) -> dict[str, Value]:
        """The row as a plain dict, keys in `SummaryReport.COLUMNS` order."""
        return {name: getattr(self, name) for name in SummaryReport.COLUMNS}


@attrs.frozen
class SummaryReport:
    """`Reports.summary`: one row per dimension id, sorted by id."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("dimension_id", *(m.value for m in ReportMetric))

    account_id: int
    dimension: DimensionType
    since: date
    until: date
    timezone: str
    business_hours: bool
    source: Source
    rows: tuple[SummaryRow, ...]
    #: from rollups with captured host changes pending: the age of the oldest (seconds), the
    #: most the numbers may lag the raw events; None otherwise
    stale_seconds: float | None = None
    #: from raw events over days before the account's retention horizon (this date): those
    #: sealed days have no raw data left, so they count nothing here; None otherwise
    sealed_before: date | None = None

    def as_dicts(self) -> list[dict[str, Value]]:
        """The rows as plain dicts with the keys of `COLUMNS`."""
        return [row.as_dict() for row in self.rows]

    def as_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data (dates as ISO strings)."""
        return {
            "account_id": self.account_id,
            "dimension": self.dimension.value,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "timezone": self.timezone,
            "business_hours": self.business_hours,
            "source": self.source.value,
            **_staleness(self.stale_seconds),
            **_sealed(self.sealed_before),
            "rows": self.as_dicts(),
        }


@attrs.frozen
class TimeseriesPoint:
    """One period: its start (a local date; an aware local datetime for hours), the metric's
    value (a count, or an average that is None when `count` is 0) and the underlying count."""

    period_start: date | datetime
    value: Value
    count: int

    def as_dict(self) -> dict[str, Value | str]:
        """The point as a plain dict (period_start as an ISO string)."""
        return {"period_start": _iso(self.period_start), "value": self.value, "count": self.count}


@attrs.frozen
class TimeseriesReport:
    """`Reports.timeseries`: one point per period from `since` to `until`, empty ones included.

    The first and last periods may extend beyond the range; only days within it are counted.
    """

    COLUMNS: ClassVar[tuple[str, ...]] = ("period_start", "value", "count")

    account_id: int
    metric: ReportMetric
    since: date
    until: date
    group_by: GroupBy
    dimension: DimensionType
    dimension_id: int
    timezone: str
    business_hours: bool
    week_start: str
    source: Source
    points: tuple[TimeseriesPoint, ...]
    #: as `SummaryReport.stale_seconds`
    stale_seconds: float | None = None
    #: as `SummaryReport.sealed_before`
    sealed_before: date | None = None

    def as_dicts(self) -> list[dict[str, Value | str]]:
        """The points as plain dicts with the keys of `COLUMNS`."""
        return [point.as_dict() for point in self.points]

    def as_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data (dates as ISO strings)."""
        return {
            "account_id": self.account_id,
            "metric": self.metric.value,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "group_by": self.group_by.value,
            "dimension": self.dimension.value,
            "dimension_id": self.dimension_id,
            "timezone": self.timezone,
            "business_hours": self.business_hours,
            "week_start": self.week_start,
            "source": self.source.value,
            **_staleness(self.stale_seconds),
            **_sealed(self.sealed_before),
            "points": self.as_dicts(),
        }


__all__ = [
    "SummaryReport",
    "SummaryRow",
    "TimeseriesPoint",
    "TimeseriesReport",
    "Value",
    "report_value",
]
