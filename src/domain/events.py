"""The raw reporting event: an immutable, validated fact."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.domain.limits import (
    MAX_ABS_VALUE,
    MAX_CREATED_AT,
    MAX_EVENT_ID,
    MAX_NAME_LENGTH,
    MAX_REFERENCE_ID,
    MIN_CREATED_AT,
)

__all__ = ["CONTENT_FIELDS", "MAX_EVENT_ID", "MAX_REFERENCE_ID", "TIME_FIELDS", "Event"]

#: The optional times of the reference's `reporting_events` row that are not content.
TIME_FIELDS: Final = ("updated_at", "event_start_time", "event_end_time")


def _check_id(
    field: str, value: object, event_id: object, *, optional: bool, limit: int = MAX_REFERENCE_ID
) -> None:
    if value is None and optional:
        return
    if type(value) is not int or value <= 0:
        raise InvalidEventError(field, value, event_id, "must be a positive integer")
    if value > limit:
        raise InvalidEventError(
            field, value, event_id, f"must be at most {limit} (the reference schema's column)"
        )


def _check_value(field: str, value: object, event_id: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError(field, value, event_id, "must be a number of seconds or None")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEventError(field, value, event_id, "must be finite")
    # Compared before converting: an int too large for a float compares exactly.
    if not -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:
        raise InvalidEventError(
            field, value, event_id, f"must be at most {MAX_ABS_VALUE:g} seconds in magnitude"
        )
    return float(value)


def _check_name(name: object, event_id: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidEventError("name", name, event_id, "must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidEventError(
            "name", name, event_id, f"must be at most {MAX_NAME_LENGTH} characters"
        )
    if "\x00" in name:
        raise InvalidEventError("name", name, event_id, "must not contain NUL characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEventError(
            "name", name, event_id, "must be valid Unicode text (it holds a lone surrogate)"
        ) from None


def _check_time(field: str, value: object, event_id: object) -> datetime:
    """A time field (`created_at`, or a given `TIME_FIELDS` value) in UTC, or
    `InvalidEventError`."""
    if not isinstance(value, datetime):
        raise InvalidEventError(field, value, event_id, "must be a datetime")
    try:
        offset = value.utcoffset()
        instant = value if value.tzinfo is UTC else value.astimezone(UTC)
    except (OverflowError, ValueError):
        # The instant in UTC is before year 1 or after year 9999, or the tzinfo is broken.
        instant, offset = None, timedelta()
    if value.tzinfo is None or offset is None:
        raise InvalidEventError(field, value, event_id, "naive datetime; give it a time zone (UTC)")
    if instant is None or not MIN_CREATED_AT <= instant < MAX_CREATED_AT:
        raise InvalidEventError(
            field,
            value,
            event_id,
            f"must be from {MIN_CREATED_AT:%Y-%m-%d} (inclusive) to {MAX_CREATED_AT:%Y-%m-%d} "
            "(exclusive) UTC",
        )
    return instant


def _plain_time(value: object) -> bool:
    """A time already as `_check_time` leaves it (or None)."""
    return value is None or (
        type(value) is datetime and value.tzinfo is UTC and MIN_CREATED_AT <= value < MAX_CREATED_AT
    )


def plainly_valid(
    event_id: object,
    name: object,
    account_id: object,
    created_at: object,
    value: object,
    business: object,
    user_id: object,
    inbox_id: object,
    conversation_id: object,
    updated_at: object = None,
    start: object = None,
    end: object = None,
) -> bool:
    """The common case, checked in one expression: every field of an event (in `Event`'s
    order) already as the detailed checks would leave it (ints, ASCII names, floats or None,
    times in UTC) and within range. False sends the event through the detailed checks, which
    accept it or say what is wrong. Parsers use it too, to trust values without an `Event`."""
    return (
        type(event_id) is int
        and 0 < event_id <= MAX_EVENT_ID
        and type(account_id) is int
        and 0 < account_id <= MAX_REFERENCE_ID
        and type(name) is str
        and name.isascii()  # so encodable as UTF-8
        and len(name) <= MAX_NAME_LENGTH
        and "\x00" not in name
        and bool(name.strip())
        and type(created_at) is datetime
        and created_at.tzinfo is UTC
        and MIN_CREATED_AT <= created_at < MAX_CREATED_AT
        # floats in range (NaN fails the comparison); ints are converted by the detailed checks
        and (value is None or (type(value) is float and -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE))
        and (
            business is None
            or (type(business) is float and -MAX_ABS_VALUE <= business <= MAX_ABS_VALUE)
        )
        and (user_id is None or (type(user_id) is int and 0 < user_id <= MAX_REFERENCE_ID))
        and (inbox_id is None or (type(inbox_id) is int and 0 < inbox_id <= MAX_REFERENCE_ID))
        and (
            conversation_id is None
            or (type(conversation_id) is int and 0 < conversation_id <= MAX_REFERENCE_ID)
        )
        and (
            (updated_at is None and start is None and end is None)
            or (_plain_time(updated_at) and _plain_time(start) and _plain_time(end))
        )
    )


@attrs.frozen(slots=True)
class Event:
    """One `reporting_events` row. Validated on construction; `created_at` is kept in UTC.

    Accepted ranges (`domain.limits`): positive ids up to the reference's BIGINT (`id`) and
    INTEGER (the others) columns; `created_at` aware, from 1900-01-01 (inclusive) to 2200-01-01
    (exclusive) UTC; values finite with magnitude at most 1e9 seconds, or None; a name of 1 to
    255 characters, not blank, without NUL, encodable as UTF-8. Anything else raises
    `InvalidEventError` naming the field, the value and the event id.

    Unknown names are valid events that contribute nothing to any rollup.

    `updated_at`, `event_start_time` and `event_end_time` (`TIME_FIELDS`, the reference's other
    columns) are optional and checked as `created_at` is. They are stored as given, but they are
    not the event's content: equality, hashing and the check of a re-sent id ignore them (an id
    sent again with other times is a duplicate; the first stored row keeps its times).
    """

    id: int
    name: str
    account_id: int
    created_at: datetime
    value: float | None = None
    value_in_business_hours: float | None = None
    user_id: int | None = None
    inbox_id: int | None = None
    conversation_id: int | None = None
    updated_at: datetime | None = attrs.field(default=None, eq=False)
    event_start_time: datetime | None = attrs.field(default=None, eq=False)
    event_end_time: datetime | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if plainly_valid(
            self.id,
            self.name,
            self.account_id,
            self.created_at,
            self.value,
            self.value_in_business_hours,
            self.user_id,
            self.inbox_id,
            self.conversation_id,
            self.updated_at,
            self.event_start_time,
            self.event_end_time,
        ):
            return
        event_id = self.id
        _check_id("id", self.id, event_id, optional=False, limit=MAX_EVENT_ID)
        _check_name(self.name, event_id)
        _check_id("account_id", self.account_id, event_id, optional=False)
        for field in ("user_id", "inbox_id", "conversation_id"):
            _check_id(field, getattr(self, field), event_id, optional=True)
        for field in ("created_at", *TIME_FIELDS):
            given = getattr(self, field)
            if given is None and field != "created_at":
                continue
            instant = _check_time(field, given, event_id)
            if instant is not given:
                object.__setattr__(self, field, instant)
        for field in ("value", "value_in_business_hours"):
            object.__setattr__(self, field, _check_value(field, getattr(self, field), event_id))

    def differences(self, other: Event) -> list[str]:
        """Names of the content fields (`CONTENT_FIELDS`) whose values differ from `other`'s."""
        return [name for name in CONTENT_FIELDS if getattr(self, name) != getattr(other, name)]


#: The fields that are an event's content, in `Event`'s order: compared to tell a re-sent id
#: with other content (a conflict) from a duplicate.
CONTENT_FIELDS: Final = tuple(field.name for field in attrs.fields(Event) if field.eq)
