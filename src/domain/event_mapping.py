"""An `Event` from a mapping: a dict, a database row of `reporting_events` (a psycopg dict row,
a SQLAlchemy `row._mapping`) or a CSV row (`csv.DictReader`).

Fields are read by their column names (`EVENT_FIELDS`, then the optional `TIME_FIELDS`); other
keys are ignored. Numbers may be given as strings (a CSV row has nothing else), in plain ASCII
notation only: `1_000`, `١٢٣`, `nan` or `infinity` are errors, not numbers; empty strings and
None are None. `created_at` (and `updated_at`, `event_start_time`, `event_end_time` when not
blank) is a datetime or an ISO 8601 string; a naive one (no zone, as Chatwoot's `timestamp
without time zone` columns and exports hold it) is an error unless `assume_utc`. Every event is
built through `Event`, so the values accepted are those it accepts; anything else is an
`InvalidEventError` naming the field, the value given and the event id.

The parsing helpers are shared with the event files of `rollups ingest`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, cast

from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.domain.events import TIME_FIELDS, Event

#: The `reporting_events` columns that become `Event` fields, in the reference table's order.
EVENT_FIELDS: Final = (
    "id",
    "name",
    "value",
    "account_id",
    "inbox_id",
    "user_id",
    "conversation_id",
    "created_at",
    "value_in_business_hours",
)
#: Fields every event must have (not None, not blank).
REQUIRED_FIELDS: Final = ("id", "name", "account_id", "created_at")
#: Integer fields, `id` first.
INTEGER_FIELDS: Final = ("id", "account_id", "inbox_id", "user_id", "conversation_id")
#: Fields of seconds (floats).
NUMBER_FIELDS: Final = ("value", "value_in_business_hours")
#: Longer digit strings are refused before conversion: no accepted id or value comes near, and
#: Python's `int()` refuses more than 4300 digits with a bare ValueError.
MAX_DIGITS: Final = 100

#: Integers and decimals as strings: ASCII digits only (`int()` and `float()` also take `1_000`,
#: other scripts' digits, `nan` and `infinity`, which are not numbers here).
_INTEGER: Final = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_MAPPING_REMEDY: Final = "give it a zone, or pass assume_utc=True if it is UTC"


def is_blank(value: object) -> bool:
    """None, or a string of only white space."""
    return value is None or (isinstance(value, str) and not value.strip())


def _number_text(field: str, value: str, pattern: re.Pattern[str], event_id: object) -> str:
    """The stripped text of a number given as a string ('' when blank); an error unless it is
    plain ASCII notation of reasonable length."""
    text = value.strip()
    if len(text) > MAX_DIGITS:
        raise InvalidEventError(field, value, event_id, "has too many digits")
    if text and not pattern.fullmatch(text):
        kind = (
            "an integer (ASCII digits)"
            if pattern is _INTEGER
            else "a number (ASCII, as 1.5 or 2e3)"
        )
        raise InvalidEventError(field, value, event_id, f"is not {kind}")
    return text


def parse_integer(field: str, value: object, event_id: object) -> int | None:
    """An id field: an int (not a bool), a string of ASCII digits, or None (also for a blank
    string); `InvalidEventError` otherwise. The range is `Event`'s to check."""
    if value is None:
        return None
    if isinstance(value, str):
        text = _number_text(field, value, _INTEGER, event_id)
        return int(text) if text else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidEventError(field, value, event_id, "is not an integer")


def parse_number(field: str, value: object, event_id: object) -> float | int | None:
    """A value field: an int or float (passed on: `Event` checks its range, exactly for an int),
    a finite `Decimal` or a number string (converted to a float), or None (also for a blank
    string); `InvalidEventError` otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        text = _number_text(field, value, _DECIMAL, event_id)
        return float(text) if text else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal):  # a NUMERIC column
        if not value.is_finite():
            raise InvalidEventError(field, value, event_id, "must be finite")
        return float(value)
    raise InvalidEventError(field, value, event_id, "is not a number")


def parse_instant(
    field: str, value: object, event_id: object, *, assume_utc: bool, remedy: str
) -> datetime:
    """A time field: a datetime or an ISO 8601 string. A naive one is taken as UTC when
    `assume_utc`, else it is an error saying `remedy` (what the caller can do about it)."""
    if isinstance(value, datetime):
        instant = value
    elif not isinstance(value, str) or not value.strip():
        raise InvalidEventError(field, value, event_id, "is not an ISO 8601 time string")
    else:
        try:
            instant = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidEventError(field, value, event_id, "is not an ISO 8601 time") from None
    try:
        naive = instant.tzinfo is None or instant.utcoffset() is None
    except (ValueError, OverflowError):  # a broken tzinfo: `Event` says what is wrong
        return instant
    if not naive:
        return instant
    if assume_utc:
        return instant.replace(tzinfo=UTC)
    raise InvalidEventError(field, value, event_id, f"has no time zone; {remedy}")


def parse_times(
    row: Mapping[Any, object], event_id: object, *, assume_utc: bool, remedy: str
) -> dict[str, datetime | None]:
    """The `TIME_FIELDS` of `row` (`parse_instant`), None where missing or blank."""
    return {
        field: None
        if is_blank(row.get(field))
        else parse_instant(field, row.get(field), event_id, assume_utc=assume_utc, remedy=remedy)
        for field in TIME_FIELDS
    }


def event_of(
    event_id: int, name: str, account_id: int, created_at: datetime, parsed: Mapping[str, Any]
) -> Event:
    """The `Event` of parsed values: the required ones, and the optional fields by name in
    `parsed` (`INTEGER_FIELDS`, `NUMBER_FIELDS`, `TIME_FIELDS`; missing ones are None)."""
    return Event(
        id=event_id,
        name=name,
        account_id=account_id,
        created_at=created_at,
        value=parsed.get("value"),
        value_in_business_hours=parsed.get("value_in_business_hours"),
        user_id=parsed.get("user_id"),
        inbox_id=parsed.get("inbox_id"),
        conversation_id=parsed.get("conversation_id"),
        updated_at=parsed.get("updated_at"),
        event_start_time=parsed.get("event_start_time"),
        event_end_time=parsed.get("event_end_time"),
    )


def event_from_mapping(row: Mapping[Any, object], *, assume_utc: bool = False) -> Event:
    """The event a `reporting_events` row describes (keys: column names; others are ignored).

    `assume_utc`: naive times are UTC (else they are an error). Raises `InvalidEventError`
    naming the field, the value given and the event id.
    """
    given_id = row.get("id")
    for field in REQUIRED_FIELDS:
        if is_blank(row.get(field)):
            raise InvalidEventError(
                field, row.get(field), given_id, "is required (missing or blank)"
            )
    event_id = parse_integer("id", given_id, given_id)
    ints = {field: parse_integer(field, row.get(field), event_id) for field in INTEGER_FIELDS[1:]}
    numbers = {field: parse_number(field, row.get(field), event_id) for field in NUMBER_FIELDS}
    created_at = parse_instant(
        "created_at",
        row.get("created_at"),
        event_id,
        assume_utc=assume_utc,
        remedy=_MAPPING_REMEDY,
    )
    times = parse_times(row, event_id, assume_utc=assume_utc, remedy=_MAPPING_REMEDY)
    account_id = ints["account_id"]
    if event_id is None or account_id is None:  # pragma: no cover - required, checked above
        raise InvalidEventError(
            "id" if event_id is None else "account_id", None, given_id, "is required"
        )
    try:
        # `Event` checks that the name is a string
        name = cast(str, row.get("name"))
        return event_of(event_id, name, account_id, created_at, {**ints, **numbers, **times})
    except InvalidEventError as error:
        given = row.get(error.field, error.value)  # as the row has it, not as parsed
        raise InvalidEventError(error.field, given, error.event_id, error.reason) from None


__all__ = [
    "EVENT_FIELDS",
    "INTEGER_FIELDS",
    "MAX_DIGITS",
    "NUMBER_FIELDS",
    "REQUIRED_FIELDS",
    "event_from_mapping",
    "event_of",
    "is_blank",
    "parse_instant",
    "parse_integer",
    "parse_number",
    "parse_times",
]
