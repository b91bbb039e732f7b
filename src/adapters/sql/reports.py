"""SQL `ReportStore` (SQLite and PostgreSQL): one aggregate query per report.

Rollup queries are `SUM ... GROUP BY` over `reporting_events_rollups` with bound parameters,
served by `index_rollup_summary` (account_id, dimension_type, date) and `index_rollup_timeseries`
(account_id, metric, date). Raw queries reuse the registry-generated aggregation of
`adapters.sql.aggregation` that the backfill uses, so both sources agree by construction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select

from reporting_rollups.adapters.sql.aggregation import aggregate_select
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import reporting_events_rollups
from reporting_rollups.application.ports import DayTotal, GroupTotal, Window, WindowTotal
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution

if TYPE_CHECKING:
    from sqlalchemy.sql.expression import Executable

#: Windows per raw query: keeps the bound parameters (3 per window) far below SQLite's limit.
WINDOWS_PER_QUERY: Final = 1000


def _contribution(count: Any, sum_value: Any, sum_business: Any) -> MetricContribution:
    """Driver numbers (PostgreSQL sums are Decimal or bigint) as a contribution."""
    return MetricContribution(int(count), float(sum_value or 0.0), float(sum_business or 0.0))


class SqlReportStore:
    """Report queries in a unit of work's session (which translates driver errors)."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def _rows(self, query: Executable) -> Sequence[Sequence[Any]]:
        return self.session.rows(query, doing="reading a report")

    def rollup_totals(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        since: date,
        until: date,
        dimension_id: int | None = None,
    ) -> list[DayTotal]:
        r = reporting_events_rollups
        query = (
            select(
                r.c.date,
                r.c.dimension_id,
                r.c.metric,
                func.sum(r.c.count),
                func.sum(r.c.sum_value),
                func.sum(r.c.sum_value_business_hours),
            )
            .where(
                r.c.account_id == account_id,
                r.c.metric.in_([str(metric) for metric in metrics]),
                r.c.date >= since,
                r.c.date <= until,
                r.c.dimension_type == str(dimension),
            )
            .group_by(r.c.date, r.c.dimension_id, r.c.metric)
            .order_by(r.c.date, r.c.dimension_id, r.c.metric)
        )
        if dimension_id is not None:
            query = query.where(r.c.dimension_id == dimension_id)
        return [
            DayTotal(day, int(dim_id), Metric(metric), _contribution(count, total, business))
            for day, dim_id, metric, count, total, business in self._rows(query)
            if int(count) != 0
        ]

    def rollup_summary(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        since: date,
        until: date,
    ) -> list[GroupTotal]:
        r = reporting_events_rollups
        query = (
            select(
                r.c.dimension_id,
                r.c.metric,
                func.sum(r.c.count),
                func.sum(r.c.sum_value),
                func.sum(r.c.sum_value_business_hours),
            )
            .where(
                r.c.account_id == account_id,
                r.c.dimension_type == str(dimension),
                r.c.date >= since,
                r.c.date <= until,
                r.c.metric.in_([str(metric) for metric in metrics]),
            )
            .group_by(r.c.dimension_id, r.c.metric)
            .order_by(r.c.dimension_id, r.c.metric)
        )
        return [
            GroupTotal(int(dim_id), Metric(metric), _contribution(count, total, business))
            for dim_id, metric, count, total, business in self._rows(query)
            if int(count) != 0
        ]

    def raw_totals(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        windows: Sequence[Window],
        dimension_id: int | None = None,
    ) -> list[WindowTotal]:
        if not metrics:
            return []
        found: list[WindowTotal] = []
        for offset in range(0, len(windows), WINDOWS_PER_QUERY):
            chunk = windows[offset : offset + WINDOWS_PER_QUERY]
            aggregated = aggregate_select(
                account_id,
                [(window.start, window.end) for window in chunk],
                dimensions=[str(dimension)],
                metrics=list(metrics),
            ).subquery("aggregated")
            query = select(aggregated)
            if dimension_id is not None:
                query = query.where(aggregated.c.dimension_id == dimension_id)
            for index, _type, dim_id, metric, count, total, business in self._rows(query):
                if int(count) != 0:
                    found.append(
                        WindowTotal(
                            offset + int(index),
                            int(dim_id),
                            Metric(metric),
                            _contribution(count, total, business),
                        )
                    )
        found.sort(key=lambda row: (row[0], row[1], row[2]))
        return found


__all__ = ["WINDOWS_PER_QUERY", "SqlReportStore"]
