"""`Event`: validation with errors that name the field, the value and the event id."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from domain.errors import InvalidEventError, RollupError
from domain.events import MAX_EVENT_ID, MAX_REFERENCE_ID, Event

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def make(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "id": 7,
        "name": "first_response",
        "account_id": 1,
        "created_at": AT,
        "value": 10.0,
        "value_in_business_hours": 5.0,
        "user_id": 2,
        "inbox_id": 3,
        "conversation_id": 4,
    }
    fields.update(overrides)
    return Event(**fields)


def test_a_valid_event_keeps_its_fields() -> None:
    event = make()
    assert (event.id, event.name, event.account_id) == (7, "first_response", 1)
    assert (event.user_id, event.inbox_id, event.conversation_id) == (2, 3, 4)
    assert (event.value, event.value_in_business_hours) == (10.0, 5.0)
    assert event.created_at == AT


def test_optional_fields_default_to_none() -> None:
    event = Event(id=1, name="conversation_bot_handoff", account_id=1, created_at=AT)
    assert event.value is None
    assert event.value_in_business_hours is None
    assert (event.user_id, event.inbox_id, event.conversation_id) == (None, None, None)


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(2026, 11, 20, 7, 0, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 11, 20, 7, 0, tzinfo=ZoneInfo("America/New_York")),
        datetime(2026, 11, 20, 17, 45, tzinfo=ZoneInfo("Asia/Kathmandu")),
        AT,
    ],
)
def test_created_at_is_normalised_to_utc(created_at: datetime) -> None:
    event = make(created_at=created_at)
    assert event.created_at.tzinfo is UTC
    assert event.created_at == AT
    assert event.created_at.replace(tzinfo=None) == datetime(2026, 11, 20, 12, 0)


def test_created_at_keeps_microseconds() -> None:
    instant = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    assert make(created_at=instant).created_at.microsecond == 123456


def test_the_same_instant_in_two_zones_makes_equal_events() -> None:
    berlin = AT.astimezone(ZoneInfo("Europe/Berlin"))
    assert make(created_at=berlin) == make(created_at=AT)


def test_integer_values_become_floats() -> None:
    event = make(value=120, value_in_business_hours=45)
    assert event.value == 120.0
    assert type(event.value) is float
    assert type(event.value_in_business_hours) is float


def test_negative_and_zero_values_are_accepted() -> None:
    event = make(value=0, value_in_business_hours=-1.5)
    assert (event.value, event.value_in_business_hours) == (0.0, -1.5)


def test_unknown_names_are_valid_events() -> None:
    assert make(name="conversation_created").name == "conversation_created"


def test_events_are_immutable() -> None:
    event = make()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.value = 1.0  # type: ignore[misc]


def test_differences_lists_the_fields_that_differ() -> None:
    assert make().differences(make()) == []
    assert make().differences(make(value=11.0, inbox_id=None)) == ["value", "inbox_id"]


def check_error(error: InvalidEventError, field: str, value: object, event_id: object) -> None:
    assert isinstance(error, RollupError)
    assert isinstance(error, ValueError)
    assert (error.field, error.event_id) == (field, event_id)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(error.value)  # type: ignore[arg-type]
    else:
        assert error.value == value
    message = str(error)
    assert field in message
    assert repr(value) in message
    assert repr(event_id) in message


INVALID = [
    ("created_at", datetime(2026, 11, 20, 12, 0)),
    ("created_at", "2026-11-20T12:00:00Z"),
    ("created_at", 1_700_000_000),
    ("created_at", None),
    ("value", math.nan),
    ("value", math.inf),
    ("value", -math.inf),
    ("value", "10"),
    ("value", True),
    ("value_in_business_hours", math.nan),
    ("value_in_business_hours", math.inf),
    ("value_in_business_hours", [1.0]),
    ("value_in_business_hours", False),
    ("account_id", 0),
    ("account_id", -3),
    ("account_id", None),
    ("account_id", True),
    ("account_id", "1"),
    ("account_id", 1.0),
    ("user_id", 0),
    ("user_id", -1),
    ("user_id", False),
    ("user_id", "2"),
    ("inbox_id", 0),
    ("inbox_id", 2.5),
    ("inbox_id", True),
    ("conversation_id", -4),
    ("conversation_id", "4"),
    ("conversation_id", True),
    ("name", ""),
    ("name", "   "),
    ("name", "\t\n"),
    ("name", None),
    ("name", 5),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_fields_raise_an_error_naming_field_value_and_event_id(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        make(**{field: value})
    check_error(caught.value, field, value, 7)


@pytest.mark.parametrize("bad_id", [0, -1, True, False, "7", 7.0, None])
def test_invalid_ids_raise_an_error_naming_the_id(bad_id: object) -> None:
    with pytest.raises(InvalidEventError) as caught:
        make(id=bad_id)
    check_error(caught.value, "id", bad_id, bad_id)


def test_naive_datetime_message_says_what_to_do() -> None:
    with pytest.raises(InvalidEventError, match="naive"):
        make(created_at=datetime(2026, 11, 20, 12, 0))


def test_nan_is_rejected_even_as_a_numpy_like_float_subclass() -> None:
    class Seconds(float):
        pass

    with pytest.raises(InvalidEventError):
        make(value=Seconds("nan"))
    assert make(value=Seconds(3.0)).value == 3.0


def test_ids_up_to_the_reference_column_limits_are_accepted() -> None:
    event = make(id=MAX_EVENT_ID, account_id=MAX_REFERENCE_ID, conversation_id=MAX_REFERENCE_ID)
    assert (event.id, event.account_id, event.conversation_id) == (
        MAX_EVENT_ID,
        MAX_REFERENCE_ID,
        MAX_REFERENCE_ID,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", MAX_REFERENCE_ID + 1),
        ("user_id", 2**40),
        ("inbox_id", MAX_REFERENCE_ID + 1),
        ("conversation_id", 2**31),
    ],
)
def test_ids_beyond_the_reference_integer_columns_are_rejected(field: str, value: int) -> None:
    with pytest.raises(InvalidEventError, match="at most 2147483647") as caught:
        make(**{field: value})
    check_error(caught.value, field, value, 7)


def test_event_ids_beyond_bigint_are_rejected() -> None:
    with pytest.raises(InvalidEventError, match="at most") as caught:
        make(id=MAX_EVENT_ID + 1)
    check_error(caught.value, "id", MAX_EVENT_ID + 1, MAX_EVENT_ID + 1)
