"""The fast path of the event files: a line or row of the common shape becomes its `Event` without
the general parser; anything else gives None and goes the general way (`json_lines`, `csv_rows`,
`fields.event_from_record`), which accepts it or says what is wrong.

The rule: the fast path gives an event only where the general path gives the same one (every
field, the times that are not content included); where it cannot tell, it gives None. A JSON line
is decoded by msgspec into a typed struct (the event file's fields only; ints for ids, numbers or
null for values, strings or null for times) and taken only when it holds no backslash (no escape)
and names no field twice: msgspec keeps the last of a repeated key, but in a line without
backslashes of only scalar values every `"` opens or closes a key or a string value, so the
quotes number twice the keys and string values the struct holds exactly when no key repeats.
Times go through `datetime.fromisoformat` and the general path's zone rule; the values are then
checked by `Event` itself (an event it refuses goes the general way, for the message).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, cast

import msgspec
from msgspec import UNSET, UnsetType

from reporting_rollups.adapters.event_files.lines import EventFileError
from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.domain.event_mapping import MAX_DIGITS, parse_instant, parse_number
from reporting_rollups.domain.events import CONTENT_FIELDS, Event, plainly_valid


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    """A JSON line of the common shape: the fields of an event file, well typed."""

    id: int
    name: str
    account_id: int
    created_at: str
    value: int | float | UnsetType | None = UNSET
    value_in_business_hours: int | float | UnsetType | None = UNSET
    user_id: int | UnsetType | None = UNSET
    inbox_id: int | UnsetType | None = UNSET
    conversation_id: int | UnsetType | None = UNSET
    updated_at: str | UnsetType | None = UNSET
    event_start_time: str | UnsetType | None = UNSET
    event_end_time: str | UnsetType | None = UNSET


_decode_line: Final = msgspec.json.Decoder(_Line).decode
_values: Final = msgspec.structs.astuple
_from_iso: Final = datetime.fromisoformat


class _General(Exception):
    """Raised inside the fast path where the general path must read the line."""


def _instant(text: str, *, assume_utc: bool) -> datetime:
    """The time `parse_instant` makes of a string (`_General` where it refuses it or where it
    is blank)."""
    try:
        instant = _from_iso(text.strip())
    except ValueError:
        raise _General from None
    if instant.tzinfo is UTC:
        return instant
    try:
        return parse_instant("time", instant, None, assume_utc=assume_utc, remedy="")
    except InvalidEventError:
        raise _General from None


def _optional_time(text: str | None, *, assume_utc: bool) -> datetime | None:
    """An optional time: None when missing or blank (`_General` where it is refused)."""
    if text is None or not text.strip():
        return None
    return _instant(text, assume_utc=assume_utc)


def _event(
    event_id: int,
    name: str,
    account_id: int,
    created_at: str,
    numbers: tuple[float | None, float | None],
    references: tuple[int | None, int | None, int | None],
    times: tuple[str | None, str | None, str | None] | None,
    *,
    assume_utc: bool,
) -> Event | None:
    """The event of well-typed fields, as `event_from_record` makes it; None where that needs
    saying something (a blank name or time, a naive time without `assume_utc`, a value `Event`
    refuses). `numbers`: value, value_in_business_hours; `references`: user_id, inbox_id,
    conversation_id; `times`: updated_at, event_start_time, event_end_time (None: none given).
    """
    try:
        created = _instant(created_at, assume_utc=assume_utc)
        if times is None:
            return Event(event_id, name, account_id, created, *numbers, *references)
        return Event(
            event_id,
            name,
            account_id,
            created,
            *numbers,
            *references,
            *(_optional_time(time, assume_utc=assume_utc) for time in times),
        )
    except (_General, InvalidEventError, ValueError, TypeError, ArithmeticError):
        # `Event` refuses a blank name; `fromisoformat`, a blank time: "missing" is said there
        return None


def _json_fields(text: str) -> tuple[Any, ...] | None:
    """The 12 fields of a JSON line of the common shape (missing ones None), in `_Line`'s order;
    None when the general path must read it (see the module)."""
    if "\\" in text:
        return None
    try:
        values = _values(_decode_line(text))
    except msgspec.MsgspecError:
        return None
    unset = values.count(UNSET)
    updated, start, end = values[9:]
    strings = 2 + (type(updated) is str) + (type(start) is str) + (type(end) is str)
    if text.count('"') != 2 * (12 - unset + strings):  # a key given twice
        return None
    if unset:
        return tuple([None if value is UNSET else value for value in values])
    return values


def json_line_event(text: str, *, assume_utc: bool = False) -> Event | None:
    """The event of a JSON line of the common shape (see the module); None otherwise."""
    values = _json_fields(text)
    if values is None:
        return None
    times = values[9:]
    return _event(
        values[0],
        values[1],
        values[2],
        values[3],
        values[4:6],
        values[6:9],
        None if times == _NO_TIMES else times,
        assume_utc=assume_utc,
    )


#: An event's content: the fields `Event` compares (`CONTENT_FIELDS`), as it holds them.
Content = tuple[
    int, str, int, datetime, float | None, float | None, int | None, int | None, int | None
]
_NO_TIMES: Final = (None, None, None)


#: The `CONTENT_FIELDS` of an event, as a tuple in their order.
_content: Final = operator.attrgetter(*CONTENT_FIELDS)


def content_of(event: Event) -> Content:
    """The content of an event: its `CONTENT_FIELDS` (equal for equal events)."""
    return cast("Content", _content(event))


def line_content(line: int, result: Event | EventFileError) -> tuple[int, Content | EventFileError]:
    """What checking needs of a parsed line: its number and its event's content, or the error."""
    return line, result if isinstance(result, EventFileError) else content_of(result)


def _plain_instant(text: str | None, *, assume_utc: bool) -> datetime | str | None:
    """A time string as `Event` keeps it when it is UTC (or naive, with `assume_utc`): the
    datetime, for `plainly_valid` to check its range; None when missing or blank; the text
    itself (which `plainly_valid` refuses) otherwise."""
    if text is None or not text.strip():
        return None
    try:
        instant = _from_iso(text.strip())
    except ValueError:
        return text
    if instant.tzinfo is UTC:
        return instant
    if instant.tzinfo is None and assume_utc:
        return instant.replace(tzinfo=UTC)
    return text


def _plain_number(value: int | float | None) -> float | int | None:
    """A value as `Event` keeps it (an int as its float, which compares with the range as the
    int does below 2**53 and stays out of range above); an int too large for a float stays as
    it is, which `plainly_valid` refuses."""
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            return value
    return value


def json_line_content(text: str, *, assume_utc: bool = False) -> Content | None:
    """The content of the event a JSON line of the common shape holds when `Event` would take
    every value as it is (`domain.events.plainly_valid`): what the check pass needs, without
    building the event. None otherwise: the line's event is built (or its error found)."""
    values = _json_fields(text)
    if values is None:
        return None
    event_id, name, account_id, created_at, value, business, user_id, inbox_id, conversation = (
        values[:9]
    )
    content = (
        event_id,
        name,
        account_id,
        _plain_instant(created_at, assume_utc=assume_utc),
        _plain_number(value),
        _plain_number(business),
        user_id,
        inbox_id,
        conversation,
    )
    times = (_plain_instant(time, assume_utc=assume_utc) for time in values[9:])
    if not plainly_valid(*content, *times):
        return None
    return cast("Content", content)  # `plainly_valid`: the types of an event's content


def _cell_int(text: str) -> int | UnsetType | None:
    """An id cell: ASCII digits only (no sign, no space), or empty (None); UNSET otherwise."""
    if not text:
        return None
    if len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return UNSET


def _cell_number(field: str, text: str) -> float | UnsetType | None:
    """A value cell, as `parse_number` reads it; UNSET where it refuses it."""
    try:
        number = parse_number(field, text, None)
    except InvalidEventError:
        return UNSET
    return None if number is None else float(number)


def csv_row_event(row: Mapping[str, str], *, assume_utc: bool = False) -> Event | None:
    """The event of a CSV row (its header checked: known columns, the required ones present)
    whose cells are of the common shape; None otherwise."""
    get = row.get
    event_id, account_id = _cell_int(row["id"]), _cell_int(row["account_id"])
    user_id, inbox_id = _cell_int(get("user_id", "")), _cell_int(get("inbox_id", ""))
    conversation_id = _cell_int(get("conversation_id", ""))
    value = _cell_number("value", get("value", ""))
    business = _cell_number("value_in_business_hours", get("value_in_business_hours", ""))
    if not (
        type(event_id) is int
        and type(account_id) is int
        and not isinstance(user_id, UnsetType)
        and not isinstance(inbox_id, UnsetType)
        and not isinstance(conversation_id, UnsetType)
        and not isinstance(value, UnsetType)
        and not isinstance(business, UnsetType)
    ):
        return None
    times = (
        get("updated_at") or None,
        get("event_start_time") or None,
        get("event_end_time") or None,
    )
    return _event(
        event_id,
        row["name"],
        account_id,
        row["created_at"],
        (value, business),
        (user_id, inbox_id, conversation_id),
        None if times == (None, None, None) else times,
        assume_utc=assume_utc,
    )


__all__ = [
    "Content",
    "content_of",
    "csv_row_event",
    "json_line_content",
    "json_line_event",
    "line_content",
]
