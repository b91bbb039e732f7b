"""Reports (the read path): per-dimension summaries and time series of the report metrics.

Reports are asked for in local dates (inclusive) of a zone: the account's reporting zone, or the
caller's `timezone`. They are served from the rollups only when that gives exactly what raw events
give (the rule of `application.read_path`); otherwise from raw events, bucketed here by the local
days and hours of the request zone. Either way a period's `bot_handoffs_count` is the sum over its
local days of that day's distinct handed-off conversations, as the rollups store it (an hour
counts the distinct conversations of that hour).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime

import attrs

from reporting_rollups.application.periods import (
    WEEKDAYS,
    Period,
    bucket_start,
    bucket_starts,
    check_period_count,
    day_periods,
    hour_periods,
    period_windows,
    range_period,
)
from reporting_rollups.application.ports import (
    AccountSettings,
    Clock,
    ReportStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from reporting_rollups.application.read_path import GroupBy, Source, choose_source
from reporting_rollups.application.report_arguments import (
    check_dates,
    check_dimension_id,
    check_flag,
    check_id,
    check_timezone,
    parse_choice,
    parse_week_start,
)
from reporting_rollups.application.report_results import (
    SummaryReport,
    SummaryRow,
    TimeseriesPoint,
    TimeseriesReport,
    report_value,
)
from reporting_rollups.application.status import age_seconds
from reporting_rollups.domain.errors import AccountNotConfiguredError
from reporting_rollups.domain.metrics import ZERO, DimensionType, Metric, MetricContribution
from reporting_rollups.domain.registry import PAYLOADS, REPORT_METRICS, Payload, ReportMetric
from reporting_rollups.domain.timezones import parse_timezone


def _raw_totals(
    store: ReportStore,
    account_id: int,
    metrics: Collection[Metric],
    dimension: DimensionType,
    periods: Sequence[Period],
    dimension_id: int | None = None,
) -> dict[tuple[int, int, Metric], MetricContribution]:
    """Raw totals per (period index, dimension id, metric).

    Additive metrics are aggregated over each period's window at once; distinct-count metrics
    per local day of the period (per window for hour periods), then summed, as rollups do.
    """
    additive = [m for m in metrics if PAYLOADS[m] is not Payload.DISTINCT_CONVERSATIONS]
    distinct = [m for m in metrics if PAYLOADS[m] is Payload.DISTINCT_CONVERSATIONS]
    totals: dict[tuple[int, int, Metric], MetricContribution] = {}
    for group, per_day in ((additive, False), (distinct, True)):
        if not group:
            continue
        windows, owners = period_windows(periods, per_day)
        if not windows:
            continue
        for window, dim_id, metric, total in store.raw_totals(
            account_id, group, dimension, windows, dimension_id
        ):
            key = (owners[window], dim_id, metric)
            totals[key] = totals.get(key, ZERO) + total
    return totals


def _sum_by(
    items: Iterable[tuple[tuple[int, Metric], MetricContribution]],
) -> dict[tuple[int, Metric], MetricContribution]:
    sums: dict[tuple[int, Metric], MetricContribution] = {}
    for key, total in items:
        sums[key] = sums.get(key, ZERO) + total
    return sums


@attrs.frozen
class Reports:
    """Summaries and time series of the report metrics, from rollups or raw events."""

    uow_factory: UnitOfWorkFactory
    clock: Clock

    def summary(
        self,
        account_id: int,
        dimension: DimensionType | str,
        since: date,
        until: date,
        business_hours: bool = False,
        timezone: str | None = None,
    ) -> SummaryReport:
        """One row per dimension id (`account`, `agent` or `inbox`) with the report metrics over
        local dates [since, until]; the account dimension always has its one row, agents and
        inboxes have a row when they have data in the range."""
        account_id = check_id("account_id", account_id)
        dim = parse_choice(DimensionType, dimension, "dimension")
        since, until = check_dates(since, until)
        business_hours = check_flag("business_hours", business_hours)
        requested = check_timezone(timezone)
        metrics = list(REPORT_METRICS.values())
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            zone_name = self._zone_name(settings, requested)
            source = choose_source(settings, zone_name, GroupBy.DAY)
            stale = self._staleness(uow, account_id, source)
            sealed = self._sealed(uow, account_id, source, since)
            if source is Source.ROLLUPS:
                rows = uow.reports.rollup_summary(account_id, metrics, dim, since, until)
                totals = _sum_by(((dim_id, metric), total) for dim_id, metric, total in rows)
            else:
                period = range_period(since, until, parse_timezone(zone_name))
                raw = _raw_totals(uow.reports, account_id, metrics, dim, [period])
                totals = _sum_by(
                    ((dim_id, metric), total) for (_, dim_id, metric), total in raw.items()
                )
        ids = (
            [account_id]
            if dim is DimensionType.ACCOUNT
            else sorted({dim_id for dim_id, _metric in totals})
        )

        def count(dim_id: int, metric: ReportMetric) -> int:
            return totals.get((dim_id, REPORT_METRICS[metric]), ZERO).count

        def average(dim_id: int, metric: ReportMetric) -> float | None:
            total = totals.get((dim_id, REPORT_METRICS[metric]), ZERO)
            value = report_value(metric, total, business_hours)
            assert not isinstance(value, int)
            return value

        summary_rows = tuple(
            SummaryRow(
                dimension_id=dim_id,
                resolutions_count=count(dim_id, ReportMetric.RESOLUTIONS_COUNT),
                avg_resolution_time=average(dim_id, ReportMetric.AVG_RESOLUTION_TIME),
                avg_first_response_time=average(dim_id, ReportMetric.AVG_FIRST_RESPONSE_TIME),
                avg_reply_time=average(dim_id, ReportMetric.AVG_REPLY_TIME),
                bot_resolutions_count=count(dim_id, ReportMetric.BOT_RESOLUTIONS_COUNT),
                bot_handoffs_count=count(dim_id, ReportMetric.BOT_HANDOFFS_COUNT),
            )
            for dim_id in ids
        )
        return SummaryReport(
            account_id,
            dim,
            since,
            until,
            zone_name,
            business_hours,
            source,
            summary_rows,
            stale,
            sealed,
        )

    def timeseries(
        self,
        account_id: int,
        metric: ReportMetric | str,
        since: date,
        until: date,
        group_by: GroupBy | str = GroupBy.DAY,
        dimension: DimensionType | str | None = None,
        dimension_id: int | None = None,
        business_hours: bool = False,
        timezone: str | None = None,
        week_start: str = "sunday",
    ) -> TimeseriesReport:
        """One point per period (`hour`, `day`, `week`, `month`, `year`) of local dates
        [since, until], empty periods included, for the account (default) or one agent or
        inbox (`dimension` with `dimension_id`)."""
        account_id = check_id("account_id", account_id)
        report_metric = parse_choice(ReportMetric, metric, "metric")
        since, until = check_dates(since, until)
        grouping = parse_choice(GroupBy, group_by, "group_by")
        dim = (
            DimensionType.ACCOUNT
            if dimension is None
            else parse_choice(DimensionType, dimension, "dimension")
        )
        dim_id = check_dimension_id(account_id, dimension, dim, dimension_id)
        business_hours = check_flag("business_hours", business_hours)
        requested = check_timezone(timezone)
        first_weekday = parse_week_start(week_start)
        check_period_count(since, until, grouping, first_weekday)
        metrics = [REPORT_METRICS[report_metric]]
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            zone_name = self._zone_name(settings, requested)
            source = choose_source(settings, zone_name, grouping)
            stale = self._staleness(uow, account_id, source)
            sealed = self._sealed(uow, account_id, source, since)
            if source is Source.ROLLUPS:
                rows = uow.reports.rollup_totals(account_id, metrics, dim, since, until, dim_id)
                starts = bucket_starts(since, until, grouping, first_weekday)
                index = {start: i for i, start in enumerate(starts)}
                period_starts: list[date | datetime] = list(starts)
                per_period: dict[int, MetricContribution] = {}
                for day, _id, _metric, total in rows:
                    i = index[bucket_start(day, grouping, first_weekday)]
                    per_period[i] = per_period.get(i, ZERO) + total
            else:
                zone = parse_timezone(zone_name)
                periods = (
                    hour_periods(since, until, zone)
                    if grouping is GroupBy.HOUR
                    else day_periods(since, until, zone, grouping, first_weekday)
                )
                period_starts = [period.start for period in periods]
                raw = _raw_totals(uow.reports, account_id, metrics, dim, periods, dim_id)
                per_period = {}
                for (i, _id, _metric), total in raw.items():
                    per_period[i] = per_period.get(i, ZERO) + total
        points = tuple(
            TimeseriesPoint(
                start,
                report_value(report_metric, per_period.get(i, ZERO), business_hours),
                per_period.get(i, ZERO).count,
            )
            for i, start in enumerate(period_starts)
        )
        return TimeseriesReport(
            account_id,
            report_metric,
            since,
            until,
            grouping,
            dim,
            dim_id,
            zone_name,
            business_hours,
            WEEKDAYS[first_weekday],
            source,
            points,
            stale,
            sealed,
        )

    def _staleness(self, uow: UnitOfWork, account_id: int, source: Source) -> float | None:
        """How stale rollups may be: the age of the account's oldest pending change (None
        when none is pending, or when the report reads raw events, which are never stale)."""
        if source is not Source.ROLLUPS:
            return None
        _count, oldest = uow.changes.pending(account_id)
        return age_seconds(self.clock(), oldest)

    @staticmethod
    def _sealed(uow: UnitOfWork, account_id: int, source: Source, since: date) -> date | None:
        """The account's retention horizon when a report from raw events starts before it: its
        sealed days have no raw data left (the rollups hold them, in the account's zone and by
        day only)."""
        if source is not Source.RAW:
            return None
        horizon = uow.retention.horizon(account_id)
        return horizon if horizon is not None and since < horizon else None

    @staticmethod
    def _zone_name(settings: AccountSettings, requested: str | None) -> str:
        if requested is not None:
            return requested
        if settings.timezone is None:
            raise AccountNotConfiguredError(
                settings.account_id, "requesting its reports (or pass a timezone)"
            )
        return settings.timezone


__all__ = ["Reports"]
