"""Every adapter accepts exactly the same events: the accepted ranges of `domain.limits`.

Events just inside the ranges (the first and last accepted instants in the zones furthest east
and west, values of +-1e9 s, 255-character names) are stored, read back equal and rolled up the
same on memory, SQLite and PostgreSQL; values just outside raise `InvalidEventError` before
anything is written. Zone names that are files of the zoneinfo tree but not IANA zones are
refused on every backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    InvalidEventError,
    InvalidRangeError,
    InvalidTimezoneError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.limits import (
    MAX_ABS_VALUE,
    MAX_CREATED_AT,
    MAX_EVENT_ID,
    MAX_LOCAL_DATE,
    MAX_NAME_LENGTH,
    MAX_REFERENCE_ID,
    MIN_CREATED_AT,
    MIN_LOCAL_DATE,
)
from tests.builders import event, row_map, utc
from tests.reference import reference_rows

MICROSECOND = timedelta(microseconds=1)
LAST = MAX_CREATED_AT - MICROSECOND
#: The zones furthest east (UTC+14) and west (UTC-12) today, and UTC.
ZONES = {1: "Pacific/Kiritimati", 2: "Etc/GMT+12", 3: "UTC"}


def inside(account_id: int, first_id: int) -> list[Event]:
    """Events at the edges of every accepted range, for one account."""
    n = first_id
    return [
        event(n, "first_response", at=MIN_CREATED_AT, account_id=account_id, value=MAX_ABS_VALUE,
              business=-MAX_ABS_VALUE, user_id=MAX_REFERENCE_ID),
        event(n + 1, "reply_time", at=LAST, account_id=account_id, value=-MAX_ABS_VALUE,
              business=MAX_ABS_VALUE, inbox_id=MAX_REFERENCE_ID),
        event(n + 2, "conversation_resolved", at=MIN_CREATED_AT + MICROSECOND,
              account_id=account_id, value=10**9, business=0, user_id=1),
        event(n + 3, "conversation_bot_handoff", at=LAST - MICROSECOND, account_id=account_id,
              conversation_id=MAX_REFERENCE_ID),
        event(n + 4, "conversation_bot_resolved", at=LAST, account_id=account_id, user_id=1),
        event(n + 5, "x" * MAX_NAME_LENGTH, at=MIN_CREATED_AT, account_id=account_id),
        event(n + 6, "🙂" * MAX_NAME_LENGTH, at=LAST, account_id=account_id),  # 1,020 bytes
        event(n + 7, "first_response", at=utc(2026, 11, 20), account_id=account_id,
              value=5e-324, business=-0.0, user_id=1),
    ]  # fmt: skip


#: Local days around the first and around the last accepted instant, in any zone.
EDGES = ((MIN_LOCAL_DATE, date(1900, 1, 2)), (date(2199, 12, 30), MAX_LOCAL_DATE))


@pytest.fixture
def bounded(backend: Rollups) -> tuple[Rollups, list[Event]]:
    for account_id, zone in ZONES.items():
        backend.set_timezone(account_id, zone)
    events = [e for account_id in ZONES for e in inside(account_id, 100 * account_id)]
    events.append(event(MAX_EVENT_ID, "reply_time", at=LAST, account_id=3, value=1.5))
    backend.record(events)
    return backend, events


def test_events_at_the_bounds_are_stored_and_read_back_equal(
    bounded: tuple[Rollups, list[Event]],
) -> None:
    rollups, events = bounded
    with rollups.uow_factory() as uow:
        assert uow.events.get([e.id for e in events]) == sorted(events, key=lambda e: e.id)
        spans = {account_id: uow.events.span(account_id) for account_id in ZONES}
    assert spans == dict.fromkeys(ZONES, (MIN_CREATED_AT, LAST))


def test_events_at_the_bounds_roll_up_as_the_reference_says(
    bounded: tuple[Rollups, list[Event]],
) -> None:
    rollups, events = bounded
    for account_id, zone in ZONES.items():
        mine = [e for e in events if e.account_id == account_id]
        expected = {key[1:]: totals for key, totals in reference_rows(mine, zone).items()}
        assert row_map(rollups.rows(account_id)) == expected
        days = sorted({key[0] for key in expected})
        # Local days on both sides of each bound exist in every zone (1899-12-31 west of UTC).
        assert days[0] in {date(1899, 12, 31), date(1900, 1, 1)}
        assert days[-1] in {date(2199, 12, 31), date(2200, 1, 1)}


def test_verify_backfill_and_reports_work_at_the_bounds(
    bounded: tuple[Rollups, list[Event]],
) -> None:
    rollups, _events = bounded
    for account_id in ZONES:
        before = rollups.rows(account_id)
        for since, until in EDGES:
            assert rollups.verify(account_id, since, until).mismatches == []
            rollups.backfill(account_id, since, until)
            raw = rollups.reports.summary(account_id, "account", since, until)
            rollups.enable_read_path(account_id, True)
            served = rollups.reports.summary(account_id, "account", since, until)
            rollups.enable_read_path(account_id, False)
            assert served.rows == raw.rows
        assert rollups.rows(account_id) == before
        assert rollups.verify(account_id, date(2026, 11, 1), date(2026, 11, 30)).mismatches == []
    # A day before or after those can hold no event: asking for it is a range error.
    for since, until in ((date(1, 1, 1), date(1, 1, 2)), (date(9999, 12, 30), date(9999, 12, 31))):
        with pytest.raises(InvalidRangeError):
            rollups.backfill(1, since, until)
        with pytest.raises(InvalidRangeError):
            rollups.reports.summary(1, "account", since, until)


def test_events_at_the_bounds_retract_to_nothing(bounded: tuple[Rollups, list[Event]]) -> None:
    rollups, events = bounded
    results = [
        rollups.retract([e.id for e in events if e.account_id == account_id], account_id=account_id)
        for account_id in ZONES
    ]
    assert sum(result.retracted for result in results) == len(events)
    assert sum(result.unknown for result in results) == 0
    assert [rollups.rows(account_id) for account_id in ZONES] == [[], [], []]


EAST, WEST = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))
#: (field, value) just outside the accepted ranges, or hostile.
OUTSIDE: list[tuple[str, Any]] = [
    ("created_at", MIN_CREATED_AT - MICROSECOND),
    ("created_at", MAX_CREATED_AT),
    ("created_at", datetime(1, 1, 1, 0, 30, tzinfo=EAST)),
    ("created_at", datetime(9999, 12, 31, 23, 30, tzinfo=WEST)),
    ("created_at", datetime(1, 1, 1, tzinfo=WEST)),
    ("created_at", datetime(9999, 12, 31, 23, 59, tzinfo=EAST)),
    ("value", 10**400),
    ("value", MAX_ABS_VALUE * (1 + 2**-52)),
    ("value", -1_000_000_001),
    ("value_in_business_hours", 1e308),
    ("name", "x" * (MAX_NAME_LENGTH + 1)),
    ("name", "first_response\x00"),
    ("name", "first_response\udc80"),
    ("id", MAX_EVENT_ID + 1),
    ("user_id", MAX_REFERENCE_ID + 1),
]


@pytest.mark.parametrize(
    ("field", "value"), OUTSIDE, ids=[f"{f}-{i}" for i, (f, _) in enumerate(OUTSIDE)]
)
def test_events_just_outside_the_bounds_are_rejected_before_anything_is_written(
    backend: Rollups, field: str, value: Any
) -> None:
    backend.set_timezone(1, "UTC")
    good = event(1, "first_response", value=1.0)

    def batch() -> Iterator[Event]:
        # The bad event is made after a good one was handed over: record() writes nothing.
        yield good
        fields: dict[str, Any] = {"id": 2, "name": "first_response", "account_id": 1,
                                  "created_at": utc(2026, 11, 20), field: value}  # fmt: skip
        yield Event(**fields)

    with pytest.raises(InvalidEventError) as caught:
        backend.record(batch())
    assert caught.value.field == field
    assert caught.value.value == value
    assert caught.value.event_id == (value if field == "id" else 2)
    with backend.uow_factory() as uow:
        assert uow.events.get([1, 2]) == []
        assert uow.events.span(1) is None
    assert backend.rows(1) == []


@pytest.mark.parametrize(
    "name", ["localtime", "posixrules", "Factory", "posix/UTC", "right/Europe/Berlin"]
)
def test_zoneinfo_files_are_refused_as_zones(backend: Rollups, name: str) -> None:
    with pytest.raises(InvalidTimezoneError):
        backend.set_timezone(1, name)
    assert backend.account(1).timezone is None


@pytest.mark.parametrize("name", ["UTC", "Asia/Calcutta", "US/Eastern"])
def test_iana_links_are_zones(backend: Rollups, name: str) -> None:
    backend.set_timezone(1, name)
    assert backend.account(1).timezone == name


def test_retractions_of_large_values_leave_no_false_mismatch(backend: Rollups) -> None:
    # 40 first responses of 1e9 s recorded one by one, then retracted: subtracting alone would
    # leave 0.3 up to the rounding of a 4e10 partial sum (about 3e-6, relative 1e-16 of the
    # absolute contributions), which verify, at relative 1e-9 of 0.3, reports as a mismatch; the
    # retraction sums the rows it touched again from the events still applied.
    backend.set_timezone(1, "UTC")
    for event_id in range(1, 41):
        backend.record([event(event_id, "first_response", value=MAX_ABS_VALUE)])
    backend.record([event(100, "first_response", value=0.3)])
    backend.retract(list(range(1, 41)), account_id=1)
    assert backend.verify(1).mismatches == []
