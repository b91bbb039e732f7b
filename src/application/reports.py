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
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Final, TypeVar
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.application.ports import (
    AccountSettings,
    ReportStore,
    UnitOfWorkFactory,
    Window,
)
from reporting_rollups.application.read_path import GroupBy, Source, choose_source
from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    InvalidRangeError,
    InvalidTimezoneError,
)
from reporting_rollups.domain.metrics import ZERO, DimensionType, Metric, MetricContribution
from reporting_rollups.domain.registry import (
    AVERAGES,
    PAYLOADS,
    REPORT_METRICS,
    Payload,
    ReportMetric,
)
from reporting_rollups.domain.timezones import LocalDay, local_days, parse_timezone

#: Week start names, indexed like `date.weekday()` (Monday is 0).
WEEKDAYS: Final[tuple[str, ...]] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

#: Most periods one time series may have (an hourly series of about 11 years, a daily one of 270),
#: checked before any period is built: a longer series would hold every period in memory.
MAX_PERIODS: Final = 100_000

Value = int | float | None


def _iso(value: date | datetime) -> str:
    return value.isoformat()


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
            "points": self.as_dicts(),
        }


def bucket_start(day: date, group_by: GroupBy, week_start: int = 6) -> date:
    """The first date of the day/week/month/year period holding `day` (`week_start`: 0 is
    Monday, 6 is Sunday)."""
    if group_by is GroupBy.DAY:
        return day
    if group_by is GroupBy.WEEK:
        return day - timedelta(days=(day.weekday() - week_start) % 7)
    if group_by is GroupBy.MONTH:
        return day.replace(day=1)
    if group_by is GroupBy.YEAR:
        return day.replace(month=1, day=1)
    raise InvalidRangeError(f"group_by {group_by.value!r}: has no date buckets")


def period_count(since: date, until: date, group_by: GroupBy, week_start: int = 6) -> int:
    """How many periods a time series of local dates [since, until] has (hours counted as 24 a
    day; a DST change adds or removes one), computed without building them."""
    days = (until - since).days + 1
    if group_by is GroupBy.HOUR:
        return 24 * days
    if group_by is GroupBy.DAY:
        return days
    if group_by is GroupBy.WEEK:
        first, last = (bucket_start(day, group_by, week_start) for day in (since, until))
        return (last - first).days // 7 + 1
    if group_by is GroupBy.MONTH:
        return (until.year - since.year) * 12 + until.month - since.month + 1
    return until.year - since.year + 1


def check_period_count(since: date, until: date, group_by: GroupBy, week_start: int = 6) -> None:
    """`InvalidRangeError` when the series would have more than `MAX_PERIODS` periods."""
    count = period_count(since, until, group_by, week_start)
    if count > MAX_PERIODS:
        raise InvalidRangeError(
            f"a time series by {group_by.value} from {since} to {until} has {count:,} periods; "
            f"at most {MAX_PERIODS:,} are allowed: narrow the range or group by a longer period"
        )


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
class _Period:
    """A reporting period: where it starts (as reported), its local days, its UTC window."""

    start: date | datetime
    days: tuple[LocalDay, ...]
    window: Window


E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], value: object, what: str) -> E:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        for member in kind:
            if member.value == value.lower():
                return member
    expected = ", ".join(member.value for member in kind)
    raise InvalidRangeError(f"{what} {value!r}: unknown {what}; expected one of {expected}")


def _check_date(name: str, value: object) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidRangeError(f"{name} = {value!r}: must be a datetime.date")
    return value


def _check_dates(since: object, until: object) -> tuple[date, date]:
    first, last = _check_date("since", since), _check_date("until", until)
    if first > last:
        raise InvalidRangeError(f"since {first} is after until {last}")
    return first, last


def _check_id(name: str, value: object) -> int:
    if type(value) is not int or value <= 0:
        raise InvalidRangeError(f"{name} = {value!r}: must be a positive integer")
    return value


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidRangeError(f"{name} = {value!r}: must be True or False")
    return value


def _week_start(value: object) -> int:
    if isinstance(value, str) and value.lower() in WEEKDAYS:
        return WEEKDAYS.index(value.lower())
    raise InvalidRangeError(
        f"week_start {value!r}: unknown weekday; expected one of {', '.join(WEEKDAYS)}"
    )


def _check_timezone(timezone: object) -> str | None:
    if timezone is None:
        return None
    if not isinstance(timezone, str):
        raise InvalidTimezoneError(
            timezone, "must be an IANA time zone name such as 'Asia/Kolkata'"
        )
    parse_timezone(timezone)
    return timezone


def _day_periods(
    since: date, until: date, zone: ZoneInfo, group_by: GroupBy, week_start: int
) -> list[_Period]:
    grouped: dict[date, list[LocalDay]] = {}
    for day in local_days(since, until, zone):
        grouped.setdefault(bucket_start(day.date, group_by, week_start), []).append(day)
    return [
        _Period(start, tuple(days), Window(days[0].start, days[-1].end))
        for start, days in grouped.items()
    ]


def _hour_periods(since: date, until: date, zone: ZoneInfo) -> list[_Period]:
    """Hours of each local day from its first instant (23 or 25 of them across DST)."""
    periods: list[_Period] = []
    for day in local_days(since, until, zone):
        start = day.start
        while start < day.end:
            stop = min(start + timedelta(hours=1), day.end)
            periods.append(_Period(start.astimezone(zone), (), Window(start, stop)))
            start = stop
    return periods


def _raw_totals(
    store: ReportStore,
    account_id: int,
    metrics: Collection[Metric],
    dimension: DimensionType,
    periods: Sequence[_Period],
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
        windows: list[Window] = []
        owners: list[int] = []
        for index, period in enumerate(periods):
            parts = (
                [Window(day.start, day.end) for day in period.days]
                if per_day and period.days
                else [period.window]
            )
            for window in parts:
                if window.start < window.end:
                    windows.append(window)
                    owners.append(index)
        if not windows:
            continue
        for window_index, dim_id, metric, total in store.raw_totals(
            account_id, group, dimension, windows, dimension_id
        ):
            key = (owners[window_index], dim_id, metric)
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
        account_id = _check_id("account_id", account_id)
        dim = _choice(DimensionType, dimension, "dimension")
        since, until = _check_dates(since, until)
        business_hours = _check_flag("business_hours", business_hours)
        requested = _check_timezone(timezone)
        metrics = list(REPORT_METRICS.values())
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            zone_name = self._zone_name(settings, requested)
            source = choose_source(settings, zone_name, GroupBy.DAY)
            if source is Source.ROLLUPS:
                rows = uow.reports.rollup_summary(account_id, metrics, dim, since, until)
                totals = _sum_by(((dim_id, metric), total) for dim_id, metric, total in rows)
            else:
                zone = parse_timezone(zone_name)
                days = tuple(local_days(since, until, zone))
                period = _Period(since, days, Window(days[0].start, days[-1].end))
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
            account_id, dim, since, until, zone_name, business_hours, source, summary_rows
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
        account_id = _check_id("account_id", account_id)
        report_metric = _choice(ReportMetric, metric, "metric")
        since, until = _check_dates(since, until)
        grouping = _choice(GroupBy, group_by, "group_by")
        dim = (
            DimensionType.ACCOUNT
            if dimension is None
            else _choice(DimensionType, dimension, "dimension")
        )
        dim_id = self._dimension_id(account_id, dimension, dim, dimension_id)
        business_hours = _check_flag("business_hours", business_hours)
        requested = _check_timezone(timezone)
        first_weekday = _week_start(week_start)
        check_period_count(since, until, grouping, first_weekday)
        metrics = [REPORT_METRICS[report_metric]]
        with self.uow_factory(read_only=True) as uow:
            settings = uow.accounts.get(account_id)
            zone_name = self._zone_name(settings, requested)
            source = choose_source(settings, zone_name, grouping)
            if source is Source.ROLLUPS:
                rows = uow.reports.rollup_totals(account_id, metrics, dim, since, until, dim_id)
                starts = [
                    bucket_start(since + timedelta(days=n), grouping, first_weekday)
                    for n in range((until - since).days + 1)
                ]
                index = {start: i for i, start in enumerate(dict.fromkeys(starts))}
                period_starts: list[date | datetime] = list(index)
                per_period: dict[int, MetricContribution] = {}
                for day, _id, _metric, total in rows:
                    i = index[bucket_start(day, grouping, first_weekday)]
                    per_period[i] = per_period.get(i, ZERO) + total
            else:
                zone = parse_timezone(zone_name)
                periods = (
                    _hour_periods(since, until, zone)
                    if grouping is GroupBy.HOUR
                    else _day_periods(since, until, zone, grouping, first_weekday)
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
        )

    @staticmethod
    def _zone_name(settings: AccountSettings, requested: str | None) -> str:
        if requested is not None:
            return requested
        if settings.timezone is None:
            raise AccountNotConfiguredError(
                settings.account_id, "requesting its reports (or pass a timezone)"
            )
        return settings.timezone

    @staticmethod
    def _dimension_id(
        account_id: int, given: object, dimension: DimensionType, dimension_id: object
    ) -> int:
        if dimension is DimensionType.ACCOUNT:
            if dimension_id is not None and dimension_id != account_id:
                raise InvalidRangeError(
                    f"dimension_id {dimension_id!r}: the account dimension's id is the account "
                    f"id {account_id}"
                )
            return account_id
        if dimension_id is None:
            raise InvalidRangeError(f"dimension {given!r}: needs a dimension_id")
        return _check_id("dimension_id", dimension_id)


__all__ = [
    "MAX_PERIODS",
    "WEEKDAYS",
    "Reports",
    "SummaryReport",
    "SummaryRow",
    "TimeseriesPoint",
    "TimeseriesReport",
    "bucket_start",
    "check_period_count",
    "period_count",
    "report_value",
]
