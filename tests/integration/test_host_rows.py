"""Raw rows a host wrote outside the accepted ranges never make an account unusable.

A host may write `reporting_events` itself, bypassing `Event`. Rows outside the ranges of
`domain.limits` (year 1 or 9999, values of 1e308, over-long or NULL names, ids beyond the
reference's INTEGER columns...) contribute nothing, like unknown names, in every path: zone
changes and rebuilds, backfills and their plan, verify, raw reports, and retracting them. They are
written here with plain SQL (sqlite3 / psycopg), as a host would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.live import RetractResult
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import EventConflictError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.limits import MAX_ABS_VALUE, MAX_CREATED_AT, MIN_CREATED_AT
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock, reset_postgres
from tests.integration.workers import RAW_COLUMNS
from tests.reference import reference_rows

pytestmark = pytest.mark.parametrize(
    "backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)

ZONE = "America/New_York"
NAIVE_MIN = MIN_CREATED_AT.replace(tzinfo=None)
NAIVE_MAX = MAX_CREATED_AT.replace(tzinfo=None)
MICROSECOND = timedelta(microseconds=1)
COLUMNS = RAW_COLUMNS

#: Events the host wrote that are valid: they roll up as usual.
VALID = [
    event(1, at=utc(2026, 11, 20, 10), value=100.0, business=50.0, user_id=5, inbox_id=6),
    event(2, "first_response", at=utc(2026, 11, 20, 11), value=MAX_ABS_VALUE, user_id=5),
    event(3, "first_response", at=utc(2026, 11, 19, 11), value=-MAX_ABS_VALUE, business=1.0),
    event(4, "conversation_bot_handoff", at=utc(2026, 11, 18, 9), conversation_id=9),
]


def raw(event_id: int, name: str | None = "conversation_resolved", **fields: Any) -> dict[str, Any]:
    """A `reporting_events` row of account 1 on 2026-11-20, with `fields` overridden."""
    row: dict[str, Any] = {
        "id": event_id,
        "name": name,
        "value": None,
        "account_id": 1,
        "inbox_id": None,
        "user_id": 5,
        "conversation_id": None,
        "created_at": datetime(2026, 11, 20, 12),
        "updated_at": datetime(2026, 11, 20, 12),
        "value_in_business_hours": None,
    }
    row.update(fields)
    return row


#: Rows outside the accepted ranges, on both databases.
HOSTILE = [
    raw(101, created_at=datetime(1, 1, 1)),
    raw(102, created_at=datetime(9999, 12, 31, 23, 59, 59, 999999)),
    raw(103, created_at=NAIVE_MIN - MICROSECOND),  # just outside
    raw(104, created_at=NAIVE_MAX),  # just outside (the end is excluded)
    raw(105, "first_response", value=1e308),  # two of them on one key: the sum overflows
    raw(106, "first_response", value=1e308),
    raw(107, "reply_time", value=-1e308, value_in_business_hours=1e308),
    raw(108, "first_response", value=MAX_ABS_VALUE * (1 + 2**-52)),  # just outside
    raw(109, "reply_time", value=1.0, value_in_business_hours=-1e10),
    raw(110, "conversation_resolved" + "x" * 300),  # over-long name
    raw(111, None),  # NULL name
    raw(112, ""),
    raw(113, "conversation_resolved", user_id=-5),
    raw(114, "conversation_bot_handoff", conversation_id=0),
]
#: Rows only SQLite can hold: NUL in a name, ids beyond the reference's INTEGER columns.
SQLITE_ONLY = [
    raw(201, "conversation_resolved\x00"),
    raw(202, "conversation_resolved", user_id=2**40),
    raw(203, "conversation_bot_handoff", conversation_id=2**31, inbox_id=7),
]
HOSTILE_IDS = [row["id"] for row in HOSTILE + SQLITE_ONLY]


def valid_rows() -> list[dict[str, Any]]:
    return [
        raw(
            e.id,
            e.name,
            value=e.value,
            value_in_business_hours=e.value_in_business_hours,
            user_id=e.user_id,
            inbox_id=e.inbox_id,
            conversation_id=e.conversation_id,
            created_at=e.created_at.replace(tzinfo=None),
        )
        for e in VALID
    ]


def host_insert(backend_name: str, url: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows into `reporting_events` with the database's own driver, as a host does."""
    marks = ", ".join(["?"] * len(COLUMNS)) if backend_name == "sqlite" else None
    if backend_name == "sqlite":
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            with connection:
                connection.executemany(
                    f"INSERT INTO reporting_events ({', '.join(COLUMNS)}) VALUES ({marks})",
                    [tuple(_sqlite_value(row[name]) for name in COLUMNS) for row in rows],
                )
        finally:
            connection.close()
        return
    with psycopg.connect(url) as pg, pg.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO reporting_events ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(COLUMNS))})",
            [tuple(row[name] for name in COLUMNS) for row in rows],
        )


def _sqlite_value(value: object) -> object:
    # The text form SQLAlchemy stores (and compares) SQLite datetimes in.
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


@pytest.fixture
def host(backend_name: str, backend_url: str, backend: Rollups) -> Callable[..., None]:
    """Writes rows into the backend's `reporting_events` directly."""

    def write(rows: Sequence[dict[str, Any]]) -> None:
        host_insert(backend_name, backend_url, rows)

    return write


@pytest.fixture
def poisoned(backend_name: str, backend: Rollups, host: Callable[..., None]) -> Rollups:
    """Account 1, without a zone, with the valid rows and every hostile row the database can
    hold (account 2, in UTC, has only hostile rows)."""
    hostile = HOSTILE + (SQLITE_ONLY if backend_name == "sqlite" else [])
    host(valid_rows() + hostile)
    host([{**row, "id": row["id"] + 1000, "account_id": 2} for row in hostile])
    return backend


def expected_rows() -> dict[Any, Any]:
    return {
        (date, dimension, dimension_id, metric): totals
        for (_account, date, dimension, dimension_id, metric), totals in reference_rows(
            VALID, ZONE
        ).items()
    }


def test_a_zone_change_rebuilds_from_the_valid_rows_only(poisoned: Rollups) -> None:
    result = poisoned.set_timezone(1, ZONE)
    assert result is not None
    assert result.plan.first_event == date(2026, 11, 18)  # the span ignores year 1 and 9999
    assert result.plan.last_event == date(2026, 11, 20)
    assert row_map(poisoned.rows(1)) == expected_rows()
    assert poisoned.verify(1).mismatches == []
    poisoned.set_timezone(2, "UTC")
    assert poisoned.rows(2) == []
    assert poisoned.verify(2).mismatches == []


def test_backfill_rebuild_and_verify_ignore_the_hostile_rows(poisoned: Rollups) -> None:
    poisoned.set_timezone(1, ZONE, rebuild=False)
    plan = poisoned.backfiller.plan(1)
    assert (plan.first_event, plan.last_event) == (date(2026, 11, 18), date(2026, 11, 20))
    assert poisoned.verify(1).mismatches != []  # nothing built yet: verify reads the raw rows
    result = poisoned.backfill(1)
    assert result.plan.since == date(2026, 11, 18)
    assert row_map(poisoned.rows(1)) == expected_rows()
    assert poisoned.verify(1).mismatches == []
    assert poisoned.verify(1, date(2026, 11, 1), date(2026, 11, 30)).mismatches == []
    poisoned.rebuild(1)
    assert row_map(poisoned.rows(1)) == expected_rows()
    assert poisoned.verify(1).mismatches == []
    # The rows are still there: a backfill over their days, and all the accepted days' edges.
    poisoned.backfill(1, date(1899, 12, 31), date(1900, 1, 2))
    poisoned.backfill(1, date(2199, 12, 30), date(2200, 1, 1))
    assert poisoned.verify(1, date(1899, 12, 31), date(1900, 1, 2)).mismatches == []
    assert row_map(poisoned.rows(1)) == expected_rows()


def test_reports_from_raw_and_from_rollups_ignore_the_hostile_rows(poisoned: Rollups) -> None:
    poisoned.set_timezone(1, ZONE)
    since, until = date(2026, 11, 1), date(2026, 11, 30)
    raw_report = poisoned.reports.summary(1, "agent", since, until)
    raw_series = poisoned.reports.timeseries(1, "avg_first_response_time", since, until)
    hourly = poisoned.reports.timeseries(
        1, "avg_first_response_time", since, until, group_by="hour"
    )
    poisoned.enable_read_path(1, True)
    rollup_report = poisoned.reports.summary(1, "agent", since, until)
    rollup_series = poisoned.reports.timeseries(1, "avg_first_response_time", since, until)
    assert (raw_report.source, rollup_report.source) == ("raw", "rollups")
    assert rollup_report.rows == raw_report.rows
    assert rollup_series.points == raw_series.points
    # Agent 5: event 1 (resolved in 100 s) and event 2 (first response of 1e9 s); the hostile
    # first responses 105, 106 and 108 and resolutions 101-104, 110-113 contribute nothing.
    [agent] = raw_report.rows
    assert (agent.dimension_id, agent.resolutions_count) == (5, 1)
    assert (agent.avg_resolution_time, agent.avg_first_response_time) == (100.0, MAX_ABS_VALUE)
    assert agent.avg_reply_time is None
    assert sum(point.count for point in hourly.points) == 2  # events 2 and 3


def test_hostile_rows_can_be_retracted_and_take_nothing_back(
    poisoned: Rollups, backend_name: str, backend_url: str
) -> None:
    poisoned.set_timezone(1, ZONE)
    before = poisoned.rows(1)
    result = poisoned.retract(HOSTILE_IDS)
    assert result.rolled_back == 0
    assert raw_ids(backend_name, backend_url, 1) == [e.id for e in VALID]
    assert poisoned.rows(1) == before
    assert poisoned.verify(1).mismatches == []
    poisoned.retract([e.id for e in VALID])
    assert raw_ids(backend_name, backend_url, 1) == []
    assert poisoned.rows(1) == []
    assert poisoned.verify(1).mismatches == []


def raw_ids(backend_name: str, url: str, account_id: int) -> list[int]:
    """The ids of the account's rows in `reporting_events`, read with the database's driver."""
    query = "SELECT id FROM reporting_events WHERE account_id = {} ORDER BY id"
    if backend_name == "sqlite":
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return [row[0] for row in connection.execute(query.format("?"), (account_id,))]
        finally:
            connection.close()
    with psycopg.connect(url) as pg:
        return [row[0] for row in pg.execute(query.format("%s"), (account_id,))]


def test_a_live_event_beside_hostile_rows_rolls_up_once(poisoned: Rollups) -> None:
    poisoned.set_timezone(1, ZONE)
    late = event(5, "first_response", at=utc(2026, 11, 20, 13), value=7.0, user_id=5)
    poisoned.record([late])
    expected = reference_rows([*VALID, late], ZONE)
    assert row_map(poisoned.rows(1)) == {key[1:]: totals for key, totals in expected.items()}
    assert poisoned.verify(1).mismatches == []
    with poisoned.uow_factory(read_only=True) as uow:
        assert [e.id for e in uow.events.get([*HOSTILE_IDS, 5])] == [5]


def test_the_span_is_the_accepted_rows_span(poisoned: Rollups) -> None:
    with poisoned.uow_factory(read_only=True) as uow:
        span = uow.events.span(1)
        hostile_only = uow.events.span(2)
    assert span == (VALID[3].created_at, VALID[1].created_at)
    assert hostile_only is None


def test_rows_at_the_accepted_bounds_roll_up(backend: Rollups, host: Callable[..., None]) -> None:
    inside = [
        event(1, "first_response", at=MIN_CREATED_AT, value=MAX_ABS_VALUE, user_id=5),
        event(2, "reply_time", at=MAX_CREATED_AT - MICROSECOND, value=-MAX_ABS_VALUE),
    ]
    host(
        [
            raw(e.id, e.name, value=e.value, created_at=e.created_at.replace(tzinfo=None))
            for e in inside
        ]
    )
    backend.set_timezone(1, "UTC", rebuild=False)
    backend.backfill(1, date(1900, 1, 1), date(1900, 1, 1))
    backend.backfill(1, date(2199, 12, 31), date(2199, 12, 31))
    expected = reference_rows([_with_user(e) for e in inside], "UTC")
    assert row_map(backend.rows(1)) == {key[1:]: totals for key, totals in expected.items()}
    with backend.uow_factory(read_only=True) as uow:
        assert uow.events.span(1) == (MIN_CREATED_AT, MAX_CREATED_AT - MICROSECOND)
        assert uow.events.get([1, 2]) == [_with_user(e) for e in inside]


def _with_user(e: Event) -> Event:
    # raw() gives every row user 5.
    return Event(
        id=e.id,
        name=e.name,
        account_id=e.account_id,
        created_at=e.created_at,
        value=e.value,
        user_id=5,
    )


def test_timestamps_python_cannot_hold_are_not_events_and_can_be_retracted(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    """PostgreSQL stores timestamps Python's datetime cannot hold (infinity, BC, year 10000 on).
    Such host rows are read as "not an event": a record of the same id is a conflict, not a
    driver error, and a retraction removes them and takes nothing back."""
    if backend_name != "postgres":
        pytest.skip("SQLite stores timestamps as text: it has no such values")
    postgres_url: str = request.getfixturevalue("postgres_url")
    reset_postgres(postgres_url)
    with open_rollups(postgres_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
        with psycopg.connect(postgres_url) as pg:
            for event_id, stamp in (
                (901, "infinity"),
                (902, "0044-03-15 BC"),
                (903, "12000-01-01"),
            ):
                pg.execute(
                    "INSERT INTO reporting_events (id, name, account_id, created_at, updated_at)"
                    " VALUES (%s, 'conversation_resolved', 1, %s::timestamp, now())",
                    (event_id, stamp),
                )
        with pytest.raises(EventConflictError):
            rollups.record([event(901, "conversation_resolved")])
        assert rollups.verify(1).mismatches == []
        result = rollups.retract([901, 902, 903])
        assert (result.retracted, result.rolled_back) == (0, 0)
        assert rollups.rows(1) == []


def test_a_retraction_of_one_account_leaves_rows_without_an_account(
    backend: Rollups, host: Callable[..., None], backend_name: str, backend_url: str
) -> None:
    """A row without an account is no event of any account: `retract(ids, account_id=...)`
    leaves it (unknown); a retraction without an account removes it."""
    backend.set_timezone(1, ZONE)
    host([raw(600, account_id=None), raw(601)])
    backend.record([event(602)])
    assert backend.retract([600, 601, 602], account_id=1) == RetractResult(2, 1, 1)
    assert raw_ids(backend_name, backend_url, 1) == []
    assert unowned_ids(backend_name, backend_url) == [600]
    assert backend.retract([600]).retracted == 0  # not an event: removed, nothing to count
    assert unowned_ids(backend_name, backend_url) == []
    assert backend.rows(1) == []
    assert backend.verify(1).clean


def unowned_ids(backend_name: str, url: str) -> list[int]:
    """The ids of the rows without an account."""
    query = "SELECT id FROM reporting_events WHERE account_id IS NULL ORDER BY id"
    if backend_name == "sqlite":
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            return [row[0] for row in connection.execute(query)]
        finally:
            connection.close()
    with psycopg.connect(url) as pg:
        return [row[0] for row in pg.execute(query)]
