"""The fields of an event file and their checks: a JSON object or CSV row becomes an `Event`.

Field names are the reference `reporting_events` columns: id, name, value, account_id, inbox_id,
user_id, conversation_id, created_at, value_in_business_hours, and optionally updated_at,
event_start_time and event_end_time (stored as given). Times are ISO 8601 with a zone; a naive
time is an error, unless `assume_utc` (`rollups ingest --assume-utc`) takes it as UTC. Numbers
may also be given as strings (CSV has nothing else), in plain ASCII notation only: `1_000`,
`١٢٣`, `nan` or `infinity` are errors, not numbers. The parsing rules are
`domain.event_mapping`'s and the values accepted are those `domain.events.Event` accepts: every
event is built through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from reporting_rollups.adapters.event_files.lines import EventFileError, show
from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.domain.event_mapping import (
    EVENT_FIELDS,
    INTEGER_FIELDS,
    MAX_DIGITS,
    NUMBER_FIELDS,
    REQUIRED_FIELDS,
    event_of,
    is_blank,
    parse_instant,
    parse_integer,
    parse_number,
    parse_times,
)
from reporting_rollups.domain.events import TIME_FIELDS, Event

#: Columns that become `Event` fields, in the reference table's order.
FIELDS: Final = EVENT_FIELDS
#: Optional columns: the event's other times.
OPTIONAL_FIELDS: Final = TIME_FIELDS
#: Every column a file may have.
KNOWN_FIELDS: Final = frozenset(FIELDS) | frozenset(OPTIONAL_FIELDS)
#: What the message for a naive `created_at` suggests.
_NAIVE_REMEDY: Final = (
    "add 'Z' or an offset such as '+00:00', or use --assume-utc if the file's times are UTC"
)


@attrs.frozen(slots=True, repr=False)
class LongNumber:
    """A JSON integer literal with more than `MAX_DIGITS` digits, left unconverted."""

    text: str

    def __repr__(self) -> str:
        return f"a number of {len(self.text):,} characters"


def _too_long(field: str, value: LongNumber, source: str, line: int) -> EventFileError:
    return EventFileError(source, line, field, f"{value!r} has too many digits")


def _parse_int(field: str, value: object, source: str, line: int) -> int | None:
    if isinstance(value, LongNumber):
        raise _too_long(field, value, source, line)
    return parse_integer(field, value, None)


def _parse_float(field: str, value: object, source: str, line: int) -> float | int | None:
    """A value field: a JSON number (passed on: `Event` checks its range, exactly for an int),
    or a number string converted to a float."""
    if isinstance(value, LongNumber):
        raise _too_long(field, value, source, line)
    return parse_number(field, value, None)


def event_from_record(
    record: Mapping[str, object], source: str, line: int, *, assume_utc: bool = False
) -> Event:
    """The event a JSON object or CSV row describes; `EventFileError` naming the field otherwise.

    Strings are accepted for numbers (CSV has nothing else); empty strings and nulls are None.
    `assume_utc`: naive times are UTC (else they are an error).
    """
    unknown = sorted(key for key in record if key not in KNOWN_FIELDS)
    if unknown:
        raise EventFileError(
            source,
            line,
            unknown[0],
            f"unknown field; expected {', '.join(FIELDS)} (and optionally "
            f"{', '.join(OPTIONAL_FIELDS)})",
        )
    for field in REQUIRED_FIELDS:
        if is_blank(record.get(field)):
            raise EventFileError(source, line, field, "missing")
    name = record["name"]
    if not isinstance(name, str):
        raise EventFileError(source, line, "name", f"{show(name)} is not a string")
    try:
        ints = {
            field: _parse_int(field, record.get(field), source, line) for field in INTEGER_FIELDS
        }
        floats = {
            field: _parse_float(field, record.get(field), source, line) for field in NUMBER_FIELDS
        }
        created_at = parse_instant(
            "created_at", record["created_at"], None, assume_utc=assume_utc, remedy=_NAIVE_REMEDY
        )
        times = parse_times(record, None, assume_utc=assume_utc, remedy=_NAIVE_REMEDY)
    except InvalidEventError as error:  # a value that is not of its field's type
        reason = f"{show(error.value)} {error.reason}"
        raise EventFileError(source, line, error.field, reason) from None
    event_id, account_id = ints["id"], ints["account_id"]
    if event_id is None or account_id is None:  # pragma: no cover - required, checked above
        raise EventFileError(source, line, "id" if event_id is None else "account_id", "missing")
    try:
        return event_of(event_id, name, account_id, created_at, {**ints, **floats, **times})
    except InvalidEventError as error:
        given = record.get(error.field, error.value)  # the file's text, not the parsed value
        reason = f"{error.reason} (got {show(given)})"
        raise EventFileError(source, line, error.field, reason) from None


__all__ = [
    "FIELDS",
    "KNOWN_FIELDS",
    "MAX_DIGITS",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "LongNumber",
    "event_from_record",
]
