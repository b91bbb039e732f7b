"""Reporting periods: the hour/day/week/month/year buckets of local dates, their count and limit,
and the UTC windows of their local days in a zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.application.ports import Window
from reporting_rollups.application.read_path import GroupBy
from reporting_rollups.domain.errors import InvalidRangeError
from reporting_rollups.domain.timezones import LocalDay, local_days

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


def bucket_starts(since: date, until: date, group_by: GroupBy, week_start: int = 6) -> list[date]:
    """The first dates of the day/week/month/year periods holding local dates [since, until],
    in order."""
    starts = (
        bucket_start(since + timedelta(days=n), group_by, week_start)
        for n in range((until - since).days + 1)
    )
    return list(dict.fromkeys(starts))


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


@attrs.frozen
class Period:
    """A reporting period: where it starts (as reported), its local days, its UTC window."""

    start: date | datetime
    days: tuple[LocalDay, ...]
    window: Window


def range_period(since: date, until: date, zone: ZoneInfo) -> Period:
    """Local dates [since, until] of `zone` as one period starting at `since`."""
    days = tuple(local_days(since, until, zone))
    return Period(since, days, Window(days[0].start, days[-1].end))


def day_periods(
    since: date, until: date, zone: ZoneInfo, group_by: GroupBy, week_start: int
) -> list[Period]:
    """The day/week/month/year periods of local dates [since, until], each holding only the
    days within the range."""
    grouped: dict[date, list[LocalDay]] = {}
    for day in local_days(since, until, zone):
        grouped.setdefault(bucket_start(day.date, group_by, week_start), []).append(day)
    return [
        Period(start, tuple(days), Window(days[0].start, days[-1].end))
        for start, days in grouped.items()
    ]


def hour_periods(since: date, until: date, zone: ZoneInfo) -> list[Period]:
    """Hours of each local day from its first instant (23 or 25 of them across DST)."""
    periods: list[Period] = []
    for day in local_days(since, until, zone):
        start = day.start
        while start < day.end:
            stop = min(start + timedelta(hours=1), day.end)
            periods.append(Period(start.astimezone(zone), (), Window(start, stop)))
            start = stop
    return periods


def period_windows(periods: Sequence[Period], per_day: bool) -> tuple[list[Window], list[int]]:
    """The non-empty windows to query for `periods` (each period's window, or with `per_day` the
    windows of its local days; an hour period has none and keeps its own) and, for each window,
    the index of its period."""
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
    return windows, owners


__all__ = [
    "MAX_PERIODS",
    "WEEKDAYS",
    "Period",
    "bucket_start",
    "bucket_starts",
    "check_period_count",
    "day_periods",
    "hour_periods",
    "period_count",
    "period_windows",
    "range_period",
]
