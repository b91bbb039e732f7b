"""`Event`: validation with errors that name the field, the value and the event id."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from reporting_rollups.domain.errors import SHOWN_LENGTH, InvalidEventError, RollupError, shown
from reporting_rollups.domain.events import (
    CONTENT_FIELDS,
    MAX_EVENT_ID,
    MAX_REFERENCE_ID,
    TIME_FIELDS,
    Event,
)
from reporting_rollups.domain.limits import (
    MAX_ABS_VALUE,
    MAX_CREATED_AT,
    MAX_NAME_LENGTH,
    MIN_CREATED_AT,
)
from reporting_rollups.domain.timezones import local_date, local_day

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


# -- the other times: updated_at, event_start_time, event_end_time ------------------------------


@pytest.mark.parametrize("field", TIME_FIELDS)
def test_the_other_times_are_optional_and_kept_in_utc(field: str) -> None:
    assert getattr(make(), field) is None
    given = datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Paris"))
    made = make(**{field: given})
    assert getattr(made, field) == given
    assert getattr(made, field).tzinfo is UTC


@pytest.mark.parametrize("field", TIME_FIELDS)
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (datetime(2026, 1, 1), "naive datetime"),
        ("2026-01-01T00:00:00Z", "must be a datetime"),
        (datetime(1899, 12, 31, tzinfo=UTC), "must be from 1900-01-01"),
        (datetime(2200, 1, 1, tzinfo=UTC), "must be from 1900-01-01"),
    ],
)
def test_a_bad_time_raises_an_error_naming_it(field: str, bad: object, reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        make(**{field: bad})
    check_error(caught.value, field, bad, 7)
    assert reason in caught.value.reason


def test_the_other_times_are_not_content() -> None:
    """Equality, hashing and `differences` ignore them: an id re-sent with other times is the
    same event (a duplicate), not a conflict."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    plain = make()
    timed = make(updated_at=at, event_start_time=at, event_end_time=at)
    assert timed == plain
    assert hash(timed) == hash(plain)
    assert timed.differences(plain) == []
    assert set(CONTENT_FIELDS).isdisjoint(TIME_FIELDS)
    assert {*CONTENT_FIELDS, *TIME_FIELDS} == {f.name for f in attrs.fields(Event)}


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


# --- accepted ranges (domain.limits) ----------------------------------------------------------

EAST = timezone(timedelta(hours=14))
WEST = timezone(timedelta(hours=-12))

#: Values just outside the accepted ranges, and hostile ones that used to escape as
#: OverflowError, UnicodeEncodeError or ValueError (or were accepted).
OUT_OF_RANGE = [
    ("value", 10**400),
    ("value", -(10**400)),
    ("value", 10**5000),  # more digits than Python turns into text
    ("value_in_business_hours", 2**1024),
    ("value", MAX_ABS_VALUE * (1 + 2**-52)),
    ("value", -1_000_000_001),
    ("value", 1e308),
    ("value_in_business_hours", -1e10),
    ("created_at", datetime(1, 1, 1, tzinfo=UTC)),
    ("created_at", datetime(1, 1, 1, 3, 0, tzinfo=EAST)),  # before year 1 in UTC
    ("created_at", datetime(9999, 12, 31, 23, 0, tzinfo=WEST)),  # after year 9999 in UTC
    ("created_at", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("created_at", datetime(1, 1, 2, tzinfo=ZoneInfo("Asia/Tokyo"))),
    ("created_at", datetime(9999, 12, 31, tzinfo=ZoneInfo("America/Los_Angeles"))),
    ("created_at", MIN_CREATED_AT - timedelta(microseconds=1)),
    ("created_at", MAX_CREATED_AT),
    ("created_at", datetime(2200, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))),  # == MAX
    ("name", "first_response\ud800"),  # lone surrogate: not encodable as UTF-8
    ("name", "\udfff"),
    ("name", "first\x00response"),
    ("name", "\x00"),
    ("name", "x" * (MAX_NAME_LENGTH + 1)),
    ("name", "é" * 10_000),
]


@pytest.mark.parametrize(
    ("field", "value"), OUT_OF_RANGE, ids=[f"{f}-{i}" for i, (f, _) in enumerate(OUT_OF_RANGE)]
)
def test_values_outside_the_accepted_ranges_raise_invalid_event_error(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        make(**{field: value})
    error = caught.value
    assert (error.field, error.value, error.event_id) == (field, value, 7)
    assert field in str(error)
    assert len(str(error)) < 400  # one readable line, whatever the value


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("value", MAX_ABS_VALUE, 1e9),
        ("value", -(10**9), -1e9),
        ("value_in_business_hours", 10**9, 1e9),
        ("value", 999_999_999.999_999_9, 999_999_999.999_999_9),
        ("value", 5e-324, 5e-324),
        ("created_at", MIN_CREATED_AT, MIN_CREATED_AT),
        ("created_at", MAX_CREATED_AT - timedelta(microseconds=1), None),
        ("created_at", datetime(1900, 1, 1, 0, 0, tzinfo=WEST), None),
        ("created_at", datetime(2199, 12, 31, 23, 0, tzinfo=EAST), None),
        ("name", "x" * MAX_NAME_LENGTH, None),
        ("name", "🙂" * MAX_NAME_LENGTH, None),  # 1,020 UTF-8 bytes
        ("name", "résolu\tà\u200b", None),
    ],
)
def test_values_at_the_bounds_are_accepted(field: str, value: object, stored: object) -> None:
    event = make(**{field: value})
    expected = value if stored is None else stored
    if field == "created_at":
        assert event.created_at == expected
        assert event.created_at.tzinfo is UTC
    else:
        assert getattr(event, field) == expected


def test_every_accepted_instant_has_a_local_day_in_every_zone() -> None:
    # The extreme accepted instants in the zones with the largest offsets either way (and the
    # local mean times of the 1900s): their local day and the day's bounds are computable.
    extremes = [MIN_CREATED_AT, MAX_CREATED_AT - timedelta(microseconds=1)]
    for name in ("Pacific/Kiritimati", "Etc/GMT+12", "Asia/Manila", "America/Sitka", "UTC"):
        zone = ZoneInfo(name)
        for instant in extremes:
            created_at = make(created_at=instant).created_at
            day = local_date(created_at, zone)
            bounds = local_day(day, zone)
            assert bounds.start <= created_at < bounds.end


def test_ids_and_other_ints_keep_their_rules() -> None:
    event = make(id=MAX_EVENT_ID, value=10**9, value_in_business_hours=0, user_id=1)
    assert (event.id, event.value, event.value_in_business_hours) == (MAX_EVENT_ID, 1e9, 0.0)
    with pytest.raises(InvalidEventError) as caught:
        make(id=10**400)
    assert (caught.value.field, caught.value.event_id) == ("id", 10**400)
    with pytest.raises(InvalidEventError) as caught:
        make(conversation_id=10**5000)
    assert caught.value.field == "conversation_id"


def test_an_error_message_never_fails_on_a_hostile_value() -> None:
    assert shown(10**5000) == f"<int of {(10**5000).bit_length()} bits>"
    assert shown("x" * 1000).endswith("...")
    assert len(shown("x" * 1000)) == SHOWN_LENGTH
    assert shown(1.5) == "1.5"


# -- the fast path of validation ---------------------------------------------------------------

_IDS = [None, 0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, True, 1.0, 1.5, "1", 7]
_NAMES = [None, "", " ", "\t\n", "\u3000", "\x85", "x", "conversation_resolved", "a\x00b", "é"]
_NAMES += ["\udcff", "x" * 255, "x" * 256, "é" * 255, "é" * 256, 5, b"x", " x "]
_TIMES: list[Any] = [None, datetime(2026, 1, 1, tzinfo=UTC), datetime(1900, 1, 1, tzinfo=UTC)]
_TIMES += [datetime(1899, 12, 31, 23, 59, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)]
_TIMES += [datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 1, 1)]
_TIMES += [datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))), "2026-01-01"]
_VALUES = [None, 0.0, -0.0, 1.5, 1e9, -1e9, 1e9 + 1, math.nan, math.inf, -math.inf, 3, 10**10]
_VALUES += [True, "1", 2.0**70]
_POOLS = (_IDS, _NAMES, _IDS, _TIMES, _VALUES, _VALUES, _IDS, _IDS, _IDS, _TIMES, _TIMES, _TIMES)


def _outcome(args: tuple[Any, ...]) -> Any:
    try:
        made = Event(*args)
    except InvalidEventError as error:
        return ("error", str(error))
    times = [getattr(made, name) for name in TIME_FIELDS]  # not compared by ==
    return (
        made,
        [type(getattr(made, f.name)) for f in attrs.fields(Event)],
        made.created_at.tzinfo,
        times,
        [None if time is None else time.tzinfo for time in times],
    )


def test_the_fast_path_of_validation_agrees_with_the_detailed_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`Event` checks the common case in one expression (`plainly_valid`) and sends anything
    else through the detailed checks: on edge values of every field, one at a time and mixed,
    both ways give the same event (same types, UTC) or the same error."""
    import random

    import reporting_rollups.domain.events as events

    at = datetime(2026, 1, 1, tzinfo=UTC)
    base = (5, "conversation_resolved", 3, at, 1.5, None, 4, None, 9, None, None, None)
    cases = [base]
    for position, pool in enumerate(_POOLS):
        for value in pool:
            cases.append((*base[:position], value, *base[position + 1 :]))
    rng = random.Random(1)
    cases += [tuple(rng.choice(pool) for pool in _POOLS) for _ in range(5000)]
    fast = [_outcome(args) for args in cases]
    monkeypatch.setattr(events, "plainly_valid", lambda *fields: False)
    detailed = [_outcome(args) for args in cases]
    assert fast == detailed
    assert sum(1 for outcome in fast if outcome[0] != "error") > 20  # both kinds were tried
