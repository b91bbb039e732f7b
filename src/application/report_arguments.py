"""Checks of the arguments of `Reports`: each returns the value in its checked type (a name given
as a string becomes its enum member) or raises `InvalidRangeError` (`InvalidTimezoneError` for a
zone) saying what is wrong."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

from reporting_rollups.application.periods import WEEKDAYS
from reporting_rollups.domain.errors import InvalidRangeError, InvalidTimezoneError
from reporting_rollups.domain.metrics import DimensionType
from reporting_rollups.domain.timezones import parse_timezone

E = TypeVar("E", bound=StrEnum)


def parse_choice(kind: type[E], value: object, what: str) -> E:
    """The member of `kind` that `value` is, or names (case-insensitive)."""
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


def check_dates(since: object, until: object) -> tuple[date, date]:
    """Two dates (not datetimes), `since` not after `until`."""
    first, last = _check_date("since", since), _check_date("until", until)
    if first > last:
        raise InvalidRangeError(f"since {first} is after until {last}")
    return first, last


def check_id(name: str, value: object) -> int:
    """A positive int (not a bool)."""
    if type(value) is not int or value <= 0:
        raise InvalidRangeError(f"{name} = {value!r}: must be a positive integer")
    return value


def check_flag(name: str, value: object) -> bool:
    """A bool."""
    if not isinstance(value, bool):
        raise InvalidRangeError(f"{name} = {value!r}: must be True or False")
    return value


def parse_week_start(value: object) -> int:
    """The index in `WEEKDAYS` (Monday is 0) of a weekday name (case-insensitive)."""
    if isinstance(value, str) and value.lower() in WEEKDAYS:
        return WEEKDAYS.index(value.lower())
    raise InvalidRangeError(
        f"week_start {value!r}: unknown weekday; expected one of {', '.join(WEEKDAYS)}"
    )


def check_timezone(timezone: object) -> str | None:
    """None, or the name of an IANA time zone."""
    if timezone is None:
        return None
    if not isinstance(timezone, str):
        raise InvalidTimezoneError(
            timezone, "must be an IANA time zone name such as 'Asia/Kolkata'"
        )
    parse_timezone(timezone)
    return timezone


def check_dimension_id(
    account_id: int, given: object, dimension: DimensionType, dimension_id: object
) -> int:
    """The dimension id of a time series: the account id for the account dimension (which
    `dimension_id` may repeat), else the positive `dimension_id` that agents and inboxes need
    (`given` is the dimension as the caller spelled it)."""
    if dimension is DimensionType.ACCOUNT:
        if dimension_id is not None and dimension_id != account_id:
            raise InvalidRangeError(
                f"dimension_id {dimension_id!r}: the account dimension's id is the account "
                f"id {account_id}"
            )
        return account_id
    if dimension_id is None:
        raise InvalidRangeError(f"dimension {given!r}: needs a dimension_id")
    return check_id("dimension_id", dimension_id)


__all__ = [
    "check_dates",
    "check_dimension_id",
    "check_flag",
    "check_id",
    "check_timezone",
    "parse_choice",
    "parse_week_start",
]
