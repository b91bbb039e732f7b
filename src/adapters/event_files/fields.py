"""The fields of an event file and their checks: a JSON object or CSV row becomes an `Event`.

Field names are the reference `reporting_events` columns: id, name, value, account_id, inbox_id,
user_id, conversation_id, created_at, value_in_business_hours (updated_at, event_start_time and
event_end_time are accepted and ignored). `created_at` is ISO 8601 with a zone; a naive time is an
error. Numbers may also be given as strings (CSV has nothing else), in plain ASCII notation only:
`1_000`, `١٢٣`, `nan` or `infinity` are errors, not numbers. The values accepted are those
`domain.events.Event` accepts: every event is built through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import attrs

from reporting_rollups.adapters.event_files.lines import EventFileError, show
from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.domain.events import Event

#: Columns that become `Event` fields, in the reference table's order.
FIELDS: Final = (
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
#: Reference columns that are accepted and ignored.
IGNORED_FIELDS: Final = ("updated_at", "event_start_time", "event_end_time")
#: Columns every event must have.
REQUIRED_FIELDS: Final = ("id", "name", "account_id", "created_at")
#: Every column a file may have.
KNOWN_FIELDS: Final = frozenset(FIELDS) | frozenset(IGNORED_FIELDS)
_INT_FIELDS: Final = ("id", "account_id", "inbox_id", "user_id", "conversation_id")
_FLOAT_FIELDS: Final = ("value", "value_in_business_hours")

#: Integers and decimals as strings: ASCII digits only (`int()` and `float()` also take `1_000`,
#: other scripts' digits, `nan` and `infinity`, which are not numbers in an event file).
_INTEGER: Final = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
#: Longer digit strings are refused before conversion: no accepted id or value comes near, and
#: Python's `int()` refuses more than 4300 digits with a bare ValueError.
MAX_DIGITS: Final = 100


@attrs.frozen(slots=True, repr=False)
class LongNumber:
    """A JSON integer literal with more than `MAX_DIGITS` digits, left unconverted."""

    text: str

    def __repr__(self) -> str:
        return f"a number of {len(self.text):,} characters"


def _number_text(field: str, value: str, pattern: re.Pattern[str], source: str, line: int) -> str:
    """The stripped text of a number given as a string ('' when blank); an error unless it is
    plain ASCII notation of reasonable length."""
    text = value.strip()
    kind = "an integer (ASCII digits)" if pattern is _INTEGER else "a number (ASCII, as 1.5 or 2e3)"
    if len(text) > MAX_DIGITS:
        raise EventFileError(source, line, field, f"{show(value)} has too many digits")
    if text and not pattern.fullmatch(text):
        raise EventFileError(source, line, field, f"{show(value)} is not {kind}")
    return text


def _too_long(field: str, value: LongNumber, source: str, line: int) -> EventFileError:
    return EventFileError(source, line, field, f"{value!r} has too many digits")


def _parse_int(field: str, value: object, source: str, line: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, LongNumber):
        raise _too_long(field, value, source, line)
    if isinstance(value, str):
        text = _number_text(field, value, _INTEGER, source, line)
        return int(text) if text else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise EventFileError(source, line, field, f"{show(value)} is not an integer")


def _parse_float(field: str, value: object, source: str, line: int) -> float | int | None:
    """A value field: a JSON number (passed on: `Event` checks its range, exactly for an int),
    or a number string converted to a float."""
    if value is None:
        return None
    if isinstance(value, LongNumber):
        raise _too_long(field, value, source, line)
    if isinstance(value, str):
        text = _number_text(field, value, _DECIMAL, source, line)
        return float(text) if text else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise EventFileError(source, line, field, f"{show(value)} is not a number")


def _parse_time(value: object, source: str, line: int) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise EventFileError(
            source, line, "created_at", f"{show(value)} is not an ISO 8601 time string"
        )
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise EventFileError(
            source, line, "created_at", f"{show(value)} is not an ISO 8601 time"
        ) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise EventFileError(
            source,
            line,
            "created_at",
            f"{show(value)} has no time zone; add 'Z' or an offset such as '+00:00'",
        )
    return instant


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def event_from_record(record: Mapping[str, object], source: str, line: int) -> Event:
    """The event a JSON object or CSV row describes; `EventFileError` naming the field otherwise.

    Strings are accepted for numbers (CSV has nothing else); empty strings and nulls are None.
    """
    unknown = sorted(key for key in record if key not in KNOWN_FIELDS)
    if unknown:
        raise EventFileError(
            source,
            line,
            unknown[0],
            f"unknown field; expected {', '.join(FIELDS)} (and optionally "
            f"{', '.join(IGNORED_FIELDS)})",
        )
    for field in REQUIRED_FIELDS:
        if _blank(record.get(field)):
            raise EventFileError(source, line, field, "missing")
    name = record["name"]
    if not isinstance(name, str):
        raise EventFileError(source, line, "name", f"{show(name)} is not a string")
    ints = {field: _parse_int(field, record.get(field), source, line) for field in _INT_FIELDS}
    floats = {
        field: _parse_float(field, record.get(field), source, line) for field in _FLOAT_FIELDS
    }
    created_at = _parse_time(record["created_at"], source, line)
    event_id, account_id = ints["id"], ints["account_id"]
    if event_id is None or account_id is None:  # pragma: no cover - required, checked above
        raise EventFileError(source, line, "id" if event_id is None else "account_id", "missing")
    try:
        return Event(
            id=event_id,
            name=name,
            account_id=account_id,
            created_at=created_at,
            value=floats["value"],
            value_in_business_hours=floats["value_in_business_hours"],
            user_id=ints["user_id"],
            inbox_id=ints["inbox_id"],
            conversation_id=ints["conversation_id"],
        )
    except InvalidEventError as error:
        given = record.get(error.field, error.value)  # the file's text, not the parsed value
        reason = f"{error.reason} (got {show(given)})"
        raise EventFileError(source, line, error.field, reason) from None


__all__ = [
    "FIELDS",
    "IGNORED_FIELDS",
    "KNOWN_FIELDS",
    "MAX_DIGITS",
    "REQUIRED_FIELDS",
    "LongNumber",
    "event_from_record",
]
