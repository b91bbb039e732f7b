"""In-memory `ReportStore`: report queries over an `InMemoryDatabase` (read only)."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Sequence
from datetime import date

import attrs

from reporting_rollups.adapters.memory.database import InMemoryDatabase
from reporting_rollups.application.ports import DayTotal, GroupTotal, Window, WindowTotal
from reporting_rollups.domain.metrics import (
    ZERO,
    DimensionType,
    Metric,
    MetricContribution,
    RollupKey,
)
from reporting_rollups.domain.projection import project
from reporting_rollups.domain.timezones import parse_timezone

_UTC = parse_timezone("UTC")


class InMemoryReportStore:
    """Report queries over an `InMemoryDatabase`."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def _rows(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        since: date,
        until: date,
        dimension_id: int | None,
    ) -> list[tuple[RollupKey, MetricContribution]]:
        wanted = set(metrics)
        return sorted(
            (key, total)
            for key, total in self.db.rollups.get(account_id, {}).items()
            if key.dimension_type == dimension
            and key.metric in wanted
            and since <= key.date <= until
            and (dimension_id is None or key.dimension_id == dimension_id)
        )

    def rollup_totals(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        since: date,
        until: date,
        dimension_id: int | None = None,
    ) -> list[DayTotal]:
        return [
            DayTotal(key.date, key.dimension_id, key.metric, total)
            for key, total in self._rows(account_id, metrics, dimension, since, until, dimension_id)
        ]

    def rollup_summary(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        since: date,
        until: date,
    ) -> list[GroupTotal]:
        sums: dict[tuple[int, Metric], MetricContribution] = {}
        for key, total in self._rows(account_id, metrics, dimension, since, until, None):
            group = (key.dimension_id, key.metric)
            sums[group] = sums.get(group, ZERO) + total
        return [
            GroupTotal(dim_id, metric, total) for (dim_id, metric), total in sorted(sums.items())
        ]

    def raw_totals(
        self,
        account_id: int,
        metrics: Collection[Metric],
        dimension: DimensionType,
        windows: Sequence[Window],
        dimension_id: int | None = None,
    ) -> list[WindowTotal]:
        events = sorted(
            self.db.events.get(account_id, {}).values(), key=lambda event: event.created_at
        )
        instants = [event.created_at for event in events]
        wanted = set(metrics)
        found: list[WindowTotal] = []
        for index, window in enumerate(windows):
            low = bisect.bisect_left(instants, window.start)
            high = bisect.bisect_left(instants, window.end)
            if low >= high:
                continue
            # Every event of the window on one date: the projection's per-day distinct count
            # becomes a per-window one, and its keys differ only by dimension and metric. (The
            # window's first event's instant, not the window's start, which may lie before the
            # first accepted instant.)
            first = events[low].created_at
            inside = [attrs.evolve(event, created_at=first) for event in events[low:high]]
            for key, total in sorted(project(inside, {account_id: _UTC}).totals().items()):
                if (
                    key.dimension_type == dimension
                    and key.metric in wanted
                    and (dimension_id is None or key.dimension_id == dimension_id)
                ):
                    found.append(WindowTotal(index, key.dimension_id, key.metric, total))
        return found
