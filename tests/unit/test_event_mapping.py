"""`event_from_mapping`: an event from a dict, a database row or a CSV row of `reporting_events`,
with the same rules as the event files of `rollups ingest` and the same errors as `Event`."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy
from hypothesis import given
from hypothesis import strategies as st

import reporting_rollups
from reporting_rollups.adapters.event_files.fields import event_from_record
from reporting_rollups.adapters.event_files.lines import EventFileError
from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.domain.event_mapping import EVENT_FIELDS, event_from_mapping
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.limits import MAX_ABS_VALUE, MAX_EVENT_ID, MAX_REFERENCE_ID

AT = datetime(2026, 7, 1, 9, 30, 15, 250000, tzinfo=UTC)
EXPECTED = Event(
    id=41,
    name="first_response",
    account_id=3,
    created_at=AT,
    value=120.5,
    value_in_business_hours=60.0,
    user_id=5,
    inbox_id=6,
    conversation_id=7,
)
#: What a psycopg dict row of Chatwoot's `reporting_events` holds: `timestamp without time zone`
#: columns come back as naive datetimes (in UTC).
HOST_ROW: dict[str, Any] = {
    "id": 41,
    "name": "first_response",
    "value": 120.5,
    "account_id": 3,
    "inbox_id": 6,
    "user_id": 5,
    "conversation_id": 7,
    "created_at": AT.replace(tzinfo=None),
    "updated_at": AT.replace(tzinfo=None) + timedelta(hours=1),
    "value_in_business_hours": 60.0,
    "event_start_time": AT.replace(tzinfo=None) - timedelta(minutes=2),
    "event_end_time": AT.replace(tzinfo=None),
}
CSV_EXPORT = (
    "id,name,value,account_id,inbox_id,user_id,conversation_id,created_at,updated_at,"
    "value_in_business_hours,event_start_time,event_end_time\n"
    "41,first_response,120.5,3,6,5,7,2026-07-01 09:30:15.25,2026-07-01 10:30:15.25,60.0,,\n"
    "42,conversation_resolved,,3,,,8,2026-07-01 09:31:00,2026-07-01 09:31:00,,,\n"
)


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": 41,
        "name": "first_response",
        "account_id": 3,
        "created_at": AT,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def error_of(mapping: dict[str, object], *, assume_utc: bool = False) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as caught:
        event_from_mapping(mapping, assume_utc=assume_utc)
    return caught.value


# -- the kinds of rows ----------------------------------------------------------------------------


def test_a_host_database_row_with_naive_utc_datetimes_needs_assume_utc() -> None:
    made = event_from_mapping(HOST_ROW, assume_utc=True)
    assert made == EXPECTED
    # the other times are carried too, in UTC
    assert made.updated_at == AT + timedelta(hours=1)
    assert made.event_start_time == AT - timedelta(minutes=2)
    assert made.event_end_time == AT
    assert made.updated_at.tzinfo is made.event_start_time.tzinfo is UTC
    error = error_of(HOST_ROW)
    assert (error.field, error.value, error.event_id) == ("created_at", HOST_ROW["created_at"], 41)
    assert "has no time zone" in error.reason
    assert "assume_utc=True" in str(error)


def test_a_row_with_aware_datetimes_needs_no_flag_and_the_flag_does_not_change_it() -> None:
    paris = timezone(timedelta(hours=2))
    times = ("created_at", "updated_at", "event_start_time", "event_end_time")
    aware = {**HOST_ROW, **{f: HOST_ROW[f].replace(tzinfo=UTC).astimezone(paris) for f in times}}
    assert event_from_mapping(aware) == EXPECTED
    assert event_from_mapping(aware, assume_utc=True) == EXPECTED
    assert event_from_mapping(aware).created_at.tzinfo is UTC


def test_csv_dict_reader_rows_of_strings() -> None:
    rows = list(csv.DictReader(io.StringIO(CSV_EXPORT)))
    first, second = (event_from_mapping(row, assume_utc=True) for row in rows)
    assert first == EXPECTED
    assert second == Event(
        id=42,
        name="conversation_resolved",
        account_id=3,
        created_at=datetime(2026, 7, 1, 9, 31, tzinfo=UTC),
        conversation_id=8,
    )
    assert error_of(rows[0]).field == "created_at"


def test_a_sqlalchemy_row_mapping() -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    query = sqlalchemy.text(
        "SELECT 41 AS id, 'first_response' AS name, 120.5 AS value, 3 AS account_id, "
        "6 AS inbox_id, 5 AS user_id, 7 AS conversation_id, "
        "'2026-07-01 09:30:15.250000' AS created_at, 60 AS value_in_business_hours, "
        "NULL AS event_start_time"
    )
    with engine.connect() as connection:
        result = connection.execute(query).one()
    engine.dispose()
    assert event_from_mapping(result._mapping, assume_utc=True) == EXPECTED


def test_extra_keys_of_any_kind_are_ignored() -> None:
    # csv.DictReader puts the cells past the header under the key None.
    extra: dict[Any, object] = {**row(), "host_note": "garbage", None: ["x"], 5: object()}
    assert event_from_mapping(extra) == event_from_mapping(row())


@pytest.mark.parametrize("field", ["updated_at", "event_start_time", "event_end_time"])
def test_the_other_times_are_optional_and_checked_as_created_at_is(field: str) -> None:
    assert getattr(event_from_mapping(row(**{field: ""})), field) is None
    assert getattr(event_from_mapping(row(**{field: None})), field) is None
    given = event_from_mapping(row(**{field: "2026-07-01T11:30:15.25+02:00"}))
    assert getattr(given, field) == AT
    for bad, reason in [
        ("garbage", "is not an ISO 8601 time"),
        (AT.replace(tzinfo=None), "has no time zone"),
        (datetime(1850, 1, 1, tzinfo=UTC), "must be from 1900-01-01"),
        (5, "is not an ISO 8601 time string"),
    ]:
        error = error_of(row(**{field: bad}))
        assert (error.field, error.value, error.event_id) == (field, bad, 41)
        assert reason in error.reason
    assert (
        getattr(event_from_mapping(row(**{field: AT.replace(tzinfo=None)}), assume_utc=True), field)
        == AT
    )


def test_the_package_root_exports_it() -> None:
    assert reporting_rollups.event_from_mapping is event_from_mapping
    assert "event_from_mapping" in reporting_rollups.__all__


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["id", "name", "account_id", "created_at"])
@pytest.mark.parametrize("missing", [..., None, "", "  "])
def test_a_missing_required_field_is_named(field: str, missing: object) -> None:
    error = error_of(row(**{field: missing}))
    assert error.field == field
    assert "required" in error.reason
    assert f"field {field!r}" in str(error)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"id": True}, "id", "is not an integer"),
        ({"account_id": False}, "account_id", "is not an integer"),
        ({"user_id": 2.0}, "user_id", "is not an integer"),
        ({"id": "1_000"}, "id", "is not an integer"),
        ({"id": "\u0661\u0662"}, "id", "is not an integer"),
        ({"id": "9" * 5000}, "id", "has too many digits"),
        ({"id": 0}, "id", "must be a positive integer"),
        ({"id": MAX_EVENT_ID + 1}, "id", "must be at most"),
        ({"inbox_id": str(MAX_REFERENCE_ID + 1)}, "inbox_id", "must be at most"),
        ({"value": True}, "value", "is not a number"),
        ({"value": math.nan}, "value", "must be finite"),
        ({"value": -math.inf}, "value", "must be finite"),
        ({"value": "nan"}, "value", "is not a number"),
        ({"value": "infinity"}, "value", "is not a number"),
        ({"value": Decimal("NaN")}, "value", "must be finite"),
        ({"value_in_business_hours": 2 * MAX_ABS_VALUE}, "value_in_business_hours", "at most"),
        ({"value": "1e10"}, "value", "at most"),
        ({"value": 10**400}, "value", "at most"),
        ({"value": [1]}, "value", "is not a number"),
        ({"name": 5}, "name", "must be a non-empty string"),
        ({"name": "x" * 256}, "name", "at most 255 characters"),
        ({"created_at": "20 Nov 2026"}, "created_at", "is not an ISO 8601 time"),
        ({"created_at": 1763640000}, "created_at", "is not an ISO 8601 time string"),
        ({"created_at": "1800-01-01T00:00:00Z"}, "created_at", "must be from 1900-01-01"),
    ],
)
def test_a_bad_value_is_named_with_the_value_given_and_the_event_id(
    overrides: dict[str, object], field: str, reason: str
) -> None:
    error = error_of(row(**overrides))
    assert (error.field, error.value) == (field, overrides[field])
    assert reason in error.reason
    assert error.event_id == overrides.get("id", 41)


def test_a_naive_time_out_of_range_is_reported_as_given() -> None:
    error = error_of(row(created_at="1899-12-31 23:00:00"), assume_utc=True)
    assert (error.field, error.value) == ("created_at", "1899-12-31 23:00:00")
    assert "must be from 1900-01-01" in error.reason


def test_decimal_values_are_read_as_floats() -> None:
    event = event_from_mapping(row(value=Decimal("1.25"), value_in_business_hours=Decimal(2)))
    assert (event.value, event.value_in_business_hours) == (1.25, 2.0)


# -- properties ---------------------------------------------------------------------------------

_ids = st.integers(1, MAX_REFERENCE_ID)
_optional_ids = st.none() | _ids
_values = st.none() | st.floats(-MAX_ABS_VALUE, MAX_ABS_VALUE, allow_nan=False)
_instants = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30), timezones=st.just(UTC)
)
events = st.builds(
    Event,
    id=st.integers(1, MAX_EVENT_ID),
    name=st.text(min_size=1, max_size=20).filter(lambda name: name.strip() and "\x00" not in name),
    account_id=_ids,
    created_at=_instants,
    value=_values,
    value_in_business_hours=_values,
    user_id=_optional_ids,
    inbox_id=_optional_ids,
    conversation_id=_optional_ids,
)


def as_strings(event: Event, *, naive: bool = True) -> dict[str, str]:
    """The event as a CSV row has it: every field a string, None an empty one; the time naive
    (in UTC, as a Chatwoot export has it) or with its offset."""
    cells = {field: getattr(event, field) for field in EVENT_FIELDS}
    instant = event.created_at.replace(tzinfo=None) if naive else event.created_at
    cells["created_at"] = instant.isoformat(sep=" ")
    return {field: "" if value is None else str(value) for field, value in cells.items()}


@given(events)
def test_every_event_reads_back_from_its_row_and_from_its_strings(event: Event) -> None:
    fields = {field: getattr(event, field) for field in EVENT_FIELDS}
    assert event_from_mapping(fields) == event
    assert event_from_mapping(as_strings(event), assume_utc=True) == event
    naive = {**fields, "created_at": event.created_at.replace(tzinfo=None)}
    assert event_from_mapping(naive, assume_utc=True) == event
    with pytest.raises(InvalidEventError, match="assume_utc"):
        event_from_mapping(naive)


#: Values that a file or a row may hold in any field.
_cell_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(
        ["", " ", "7", " 7 ", "+7", "-7", "1_000", "1.5", ".5", "2e3", "1e10", "nan", "inf"]
    ),
    st.sampled_from(
        [
            "2026-07-01T09:30:00Z",
            "2026-07-01 09:30:00",
            "2026-07-01T09:30:00+05:30",
            "2026-07-01",
            "1899-12-31T23:59:59Z",
        ]
    ),
)


@given(events, st.sampled_from(EVENT_FIELDS), _cell_values, st.booleans())
def test_files_and_mappings_accept_and_refuse_the_same_values(
    event: Event, field: str, value: object, assume_utc: bool
) -> None:
    """One field of a valid string row replaced: the event files' reader and
    `event_from_mapping` build the same event or both refuse that field."""
    record: dict[str, object] = {**as_strings(event, naive=assume_utc), field: value}
    try:
        from_file: Event | str | None = event_from_record(record, "f", 1, assume_utc=assume_utc)
    except EventFileError as error:
        from_file = error.field
    try:
        from_mapping: Event | str = event_from_mapping(record, assume_utc=assume_utc)
    except InvalidEventError as error:
        from_mapping = error.field
    assert from_file == from_mapping
