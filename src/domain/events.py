"""The raw reporting event: an immutable, validated fact."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import attrs

from domain.errors import InvalidEventError

#: Largest event id: the reference schema's `reporting_events.id` is a BIGINT.
MAX_EVENT_ID = 2**63 - 1
#: Largest account, user, inbox or conversation id: those columns are INTEGER in the reference.
MAX_REFERENCE_ID = 2**31 - 1


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
    number = float(value)
    if not math.isfinite(number):
        raise InvalidEventError(field, value, event_id, "must be finite")
    return number


@attrs.frozen(slots=True)
class Event:
    """One `reporting_events` row. Validated on construction; `created_at` is kept in UTC.

    Unknown names are valid events that contribute nothing to any rollup.
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

    def __attrs_post_init__(self) -> None:
        event_id = self.id
        _check_id("id", self.id, event_id, optional=False, limit=MAX_EVENT_ID)
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidEventError("name", self.name, event_id, "must be a non-empty string")
        _check_id("account_id", self.account_id, event_id, optional=False)
        for field in ("user_id", "inbox_id", "conversation_id"):
            _check_id(field, getattr(self, field), event_id, optional=True)
        created_at: Any = self.created_at
        if not isinstance(created_at, datetime):
            raise InvalidEventError("created_at", created_at, event_id, "must be a datetime")
        if created_at.tzinfo is None or created_at.utcoffset() is None:
            raise InvalidEventError(
                "created_at", created_at, event_id, "naive datetime; give it a time zone (UTC)"
            )
        if created_at.tzinfo is not UTC:
            object.__setattr__(self, "created_at", created_at.astimezone(UTC))
        for field in ("value", "value_in_business_hours"):
            object.__setattr__(self, field, _check_value(field, getattr(self, field), event_id))

    def differences(self, other: Event) -> list[str]:
        """Names of the fields whose values differ from `other`'s."""
        return [
            field.name
            for field in attrs.fields(Event)
            if getattr(self, field.name) != getattr(other, field.name)
        ]
