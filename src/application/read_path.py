"""The read-path routing rule: whether a report is served from the rollups or from raw events.

Rollups answer only when that gives exactly what raw events give: the account's read path is on,
its rollups are current in its zone, the request is in that zone and grouped by a day or longer.
"""

from __future__ import annotations

from enum import StrEnum

from reporting_rollups.application.ports import AccountSettings


class GroupBy(StrEnum):
    """The period of a time series point."""

    HOUR = "hour"  #: raw events only
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Source(StrEnum):
    """Where a report's numbers came from."""

    ROLLUPS = "rollups"
    RAW = "raw"


def choose_source(settings: AccountSettings, timezone: str, group_by: GroupBy) -> Source:
    """Rollups only when the account's read path is on, its rollups are current in its zone, the
    request is in that zone and the grouping is a day or longer; raw events otherwise."""
    if (
        settings.read_path_enabled
        and settings.timezone is not None
        and settings.rollup_timezone == settings.timezone
        and timezone == settings.timezone
        and group_by is not GroupBy.HOUR
    ):
        return Source.ROLLUPS
    return Source.RAW


__all__ = ["GroupBy", "Source", "choose_source"]
