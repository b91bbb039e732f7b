"""Reporting time zones: validation, local dates, and the UTC bounds of a local day.

A local day D is [first instant of D, first instant of D+1) in the zone: 23 or 25 hours across
DST, other lengths in odd zones, empty for a skipped date. No arithmetic on UTC offsets.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import attrs

from reporting_rollups.domain.errors import InvalidRangeError, InvalidTimezoneError
from reporting_rollups.domain.limits import MAX_LOCAL_DATE, MIN_LOCAL_DATE

_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")
#: Names a zoneinfo tree may hold that are not IANA zone or link names: the placeholder zone
#: `Factory`, the host's `localtime` and `posixrules` files, and the `posix/` and `right/`
#: copies of the whole tree (`right/` counts leap seconds, so its days are not civil days).
NOT_ZONES: Final = frozenset({"Factory", "localtime", "posixrules"})
NOT_ZONE_TREES: Final = ("posix/", "right/")


@functools.cache
def iana_names() -> frozenset[str]:
    """The accepted zone names: the IANA zone and link names (`UTC`, `Asia/Calcutta` and
    `US/Eastern` included) that `zoneinfo` knows, from `tzdata` or the system's tree."""
    return frozenset(
        name
        for name in available_timezones()
        if name not in NOT_ZONES and not name.startswith(NOT_ZONE_TREES)
    )


def parse_timezone(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA zone or link name (`iana_names()`); `InvalidTimezoneError`
    for anything else, such as `localtime`, `Factory` or `posix/...`."""
    if not isinstance(name, str):
        raise InvalidTimezoneError(name, "must be an IANA time zone name such as 'Asia/Kolkata'")
    return _parse_name(name)


@functools.lru_cache(maxsize=1024)
def _parse_name(name: str) -> ZoneInfo:
    if not _NAME.fullmatch(name):
        raise InvalidTimezoneError(
            name, "not an IANA time zone name (letters, digits, '_', '+', '-' and '/' only)"
        )
    if name in NOT_ZONES or name.startswith(NOT_ZONE_TREES):
        raise InvalidTimezoneError(
            name,
            "not an IANA time zone name (a placeholder or a zoneinfo file); "
            "use one such as 'Europe/Berlin'",
        )
    if name not in iana_names():
        raise InvalidTimezoneError(name, "unknown IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise InvalidTimezoneError(name, "unknown IANA time zone") from error


def _wall_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


#: A wall clock set back across midnight (e.g. Canada/Newfoundland 1987-2010 at 00:01) shows the
#: previous date again after day D has begun; such folds are a few hours at most, so only late
#: wall-clock hours need the check against the next day's first instant.
_LATE_HOUR = 20


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The local day of an aware instant in `zone`: the D with start(D) <= instant < start(D+1).

    This is the wall-clock date, except inside a fold that crosses midnight backwards.
    """
    local = instant.astimezone(zone)
    day = local.date()
    if local.hour >= _LATE_HOUR:
        following = day + timedelta(days=1)
        if instant >= local_day(following, zone).start:
            return following
    return day


@attrs.frozen
class LocalDay:
    """A local date in a zone, with its UTC bounds [start, end) as aware UTC datetimes."""

    zone: ZoneInfo
    date: date
    start: datetime
    end: datetime


def _first_instant(day: date, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose local date in `zone` is `day` or later."""
    midnight = datetime.combine(day, time())
    candidates = sorted(midnight.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    step = timedelta(microseconds=1)
    for candidate in candidates:
        if _wall_date(candidate, zone) >= day > _wall_date(candidate - step, zone):
            return candidate
    # Unusual transition: search the first second at or after which the local date is >= day.
    low, high = candidates[0] - timedelta(days=2), candidates[-1] + timedelta(days=2)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if _wall_date(middle, zone) >= day:
            high = middle
        else:
            low = middle
    return high


def check_local_date(day: date) -> None:
    """`InvalidRangeError` unless `day` can hold an accepted instant (`domain.limits`)."""
    if not MIN_LOCAL_DATE <= day <= MAX_LOCAL_DATE:
        raise InvalidRangeError(
            f"date {day} is outside the dates events can have: {MIN_LOCAL_DATE} to {MAX_LOCAL_DATE}"
        )


@functools.lru_cache(maxsize=65536)
def local_day(day: date, zone: ZoneInfo) -> LocalDay:
    """The UTC bounds of local `day` in `zone`; `InvalidRangeError` for a date outside
    `MIN_LOCAL_DATE` to `MAX_LOCAL_DATE` (near year 1 or 9999 the bounds would overflow)."""
    check_local_date(day)
    return LocalDay(
        zone, day, _first_instant(day, zone), _first_instant(day + timedelta(days=1), zone)
    )


def local_days(since: date, until: date, zone: ZoneInfo) -> list[LocalDay]:
    """Every local day from `since` to `until`, both inclusive."""
    check_local_date(since)
    check_local_date(until)
    return [local_day(since + timedelta(days=n), zone) for n in range((until - since).days + 1)]


def local_dates(zone: ZoneInfo) -> Callable[[datetime], date]:
    """`local_date` for many instants of one zone (the live path's hot loop).

    The function returned remembers the local days it has found as [start, end) UTC bounds,
    sorted, and answers an instant inside one of them by bisection, without converting it to the
    zone; any other instant goes through `local_date` once and teaches its day. Same answers as
    `local_date` (which agrees with the bounds, folds included). Not for sharing between
    threads: make one per batch. (A closure rather than a class: calls to it are cheaper.)
    """
    starts: list[datetime] = []  # start of each known day, ascending
    ends: list[tuple[datetime, date]] = []  # (end, date) of the same days

    def date_of(instant: datetime) -> date:
        index = bisect_right(starts, instant) - 1
        if index >= 0:
            end, day = ends[index]
            if instant < end:
                return day
        bounds = local_day(local_date(instant, zone), zone)
        # Empty days (skipped dates) hold no instant, so known days never overlap.
        if bounds.start <= instant < bounds.end:
            index = bisect_right(starts, bounds.start)
            starts.insert(index, bounds.start)
            ends.insert(index, (bounds.end, bounds.date))
        return bounds.date

    return date_of
