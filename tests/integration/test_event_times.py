"""The event's other times (`updated_at`, `event_start_time`, `event_end_time`) are stored in the
raw table as given, read back, and never take part in idempotency or rollups.

Contract on every backend, then the raw columns of a database laid out like the reference
host's (its `reporting_events` exactly as the reference schema defines it), written through the
API and through `rollups ingest` of a host export.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import EXIT_OK, app
from reporting_rollups.application.live import RecordResult
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import TIME_FIELDS, Event
from tests.builders import event, utc
from tests.conftest import fixed_clock
from tests.host_db import host_sql

START = datetime(2026, 11, 20, 11, 58, 30, 250001, tzinfo=UTC)
END = datetime(2026, 11, 20, 12, 0, 0, 999999, tzinfo=UTC)
UPDATED = datetime(2026, 11, 21, 8, 15, tzinfo=UTC)


def timed(event_id: int, **times: datetime | None) -> Event:
    """A first response of account 1 with `times` (default: all three)."""
    given = {"updated_at": UPDATED, "event_start_time": START, "event_end_time": END, **times}
    return attrs.evolve(event(event_id, "first_response", value=90.5, user_id=4), **given)


def times_of(found: Event) -> tuple[datetime | None, ...]:
    return tuple(getattr(found, name) for name in TIME_FIELDS)


# -- every backend -------------------------------------------------------------------------------


def test_the_times_are_stored_and_read_back_in_utc(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    given = [timed(1), timed(2, updated_at=None), timed(3, event_start_time=None)]
    before = datetime.now(UTC)
    assert backend.record(given).stored == 3
    after = datetime.now(UTC)
    first, second, third = backend.events([1, 2, 3])
    assert times_of(first) == (UPDATED, START, END)  # microseconds kept
    assert all(time is None or time.tzinfo is UTC for time in times_of(first))
    assert times_of(third) == (UPDATED, None, END)
    # no updated_at given: the time of the write (as a host's table needs one)
    assert second.updated_at is not None
    assert before - timedelta(seconds=1) <= second.updated_at <= after + timedelta(seconds=1)
    assert (second.event_start_time, second.event_end_time) == (START, END)


def test_a_resent_id_with_other_times_is_a_duplicate_and_keeps_the_first(
    backend: Rollups,
) -> None:
    backend.set_timezone(1, "UTC")
    backend.record([timed(1)])
    later = datetime(2026, 11, 22, tzinfo=UTC)
    again = timed(1, updated_at=later, event_start_time=later, event_end_time=None)
    assert backend.record([again]) == RecordResult(0, 1, 0, 0)
    # in one batch too: the first of the batch is stored
    assert backend.record([timed(2), timed(2, updated_at=later)]) == RecordResult(1, 1, 1, 0)
    first, second = backend.events([1, 2])
    assert times_of(first) == times_of(second) == (UPDATED, START, END)


def test_times_change_no_rollup(backend: Rollups) -> None:
    """The same events with and without times give the same rows (accounts 1 and 2)."""
    backend.set_timezone(1, "Asia/Kolkata")
    backend.set_timezone(2, "Asia/Kolkata")
    plain = [event(i, "first_response", value=float(i), at=utc(2026, 11, 20, i)) for i in (1, 2)]
    far = datetime(1901, 1, 1, tzinfo=UTC)  # a time on another day changes nothing
    with_times = [
        attrs.evolve(e, id=e.id + 10, account_id=2, event_start_time=far, event_end_time=far)
        for e in plain
    ]
    backend.record([*plain, *with_times])
    assert [(k.date, k.metric, v) for k, v in backend.rows(1)] == [
        (k.date, k.metric, v) for k, v in backend.rows(2)
    ]
    assert backend.verify(2).clean


def test_a_batch_mixing_events_with_and_without_times(backend: Rollups) -> None:
    """One statement stores both kinds (PostgreSQL: the batch with times takes their arrays)."""
    backend.set_timezone(1, "UTC")
    mixed = [event(1), timed(2), event(3), timed(4, updated_at=None, event_end_time=None)]
    assert backend.record(mixed).stored == 4
    found = {e.id: e for e in backend.events([1, 2, 3, 4])}
    assert (found[1].event_start_time, found[3].event_end_time) == (None, None)
    assert times_of(found[2]) == (UPDATED, START, END)
    assert (found[4].event_start_time, found[4].event_end_time) == (START, None)
    assert found[1].updated_at is not None  # the write's time
    # and through the event store's own add (the path a host-style write takes)
    with backend.uow_factory() as uow:
        uow.events.add([timed(5), event(6)])
        uow.commit()
    assert times_of(backend.events([5])[0]) == (UPDATED, START, END)


def test_a_retraction_of_an_event_with_times_takes_it_back(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    backend.record([timed(1), timed(2)])
    assert backend.retract([1], account_id=1).retracted == 1
    assert [e.id for e in backend.events([1, 2])] == [2]
    assert backend.verify(1).clean


# -- the raw columns of a database laid out like the reference host's -----------------------------


def raw_times(url: str, *ids: int) -> dict[int, tuple[Any, ...]]:
    """The host's view of the rows: id -> (updated_at, event_start_time, event_end_time) as
    stored (naive UTC; on SQLite, text)."""
    rows = host_sql(
        url,
        "SELECT id, updated_at, event_start_time, event_end_time FROM reporting_events "
        f"WHERE id IN ({', '.join(map(str, ids))}) ORDER BY id",
    )
    return {int(row[0]): tuple(row[1:]) for row in rows}


def naive(value: datetime | None, url: str) -> Any:
    """`value` as the host's column holds it."""
    if value is None:
        return None
    stored = value.astimezone(UTC).replace(tzinfo=None)
    return stored.isoformat(" ", "microseconds") if url.startswith("sqlite") else stored


def test_the_host_columns_hold_the_times_given(host_url: str) -> None:
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
        rollups.record([timed(1), timed(2, updated_at=None, event_start_time=None), event(3)])
    found = raw_times(host_url, 1, 2, 3)
    assert found[1] == (naive(UPDATED, host_url), naive(START, host_url), naive(END, host_url))
    assert found[2][1:] == (None, naive(END, host_url))
    assert found[3][1:] == (None, None)
    assert found[2][0] is not None  # NOT NULL in the host's table: the write's time
    assert found[3][0] is not None


def test_ingest_of_a_host_export_keeps_its_times(host_url: str, tmp_path: Path) -> None:
    """A Chatwoot export (naive UTC times) through `rollups ingest --assume-utc`."""
    rows = [
        {
            "id": 7,
            "name": "first_response",
            "value": "90.5",
            "account_id": 1,
            "inbox_id": 3,
            "user_id": 4,
            "conversation_id": 5,
            "created_at": "2026-11-20 12:00:00.999999",
            "updated_at": "2026-11-21 08:15:00",
            "value_in_business_hours": "",
            "event_start_time": "2026-11-20 11:58:30.250001",
            "event_end_time": "2026-11-20 12:00:00.999999",
        },
        {"id": 8, "name": "reply_time", "account_id": 1, "created_at": "2026-11-20 13:00:00"},
    ]
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
    done = CliRunner().invoke(app, ["--db", host_url, "ingest", str(export), "--assume-utc"])
    assert done.exit_code == EXIT_OK, done.output
    found = raw_times(host_url, 7, 8)
    assert found[7] == (naive(UPDATED, host_url), naive(START, host_url), naive(END, host_url))
    assert found[8][1:] == (None, None)


def test_a_host_time_that_cannot_be_read_reads_as_unknown(host_url: str) -> None:
    """A host row whose `event_start_time` Python cannot hold (PostgreSQL: infinity) or that is
    not a time (SQLite text) is still its event: that time reads as None."""
    unreadable = "'garbage'" if host_url.startswith("sqlite") else "'infinity'::timestamp"
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
        host_sql(
            host_url,
            "INSERT INTO reporting_events (id, name, value, account_id, created_at, updated_at, "
            f"event_start_time, event_end_time) VALUES (50, 'first_response', 3.5, 1, "
            f"'2026-11-20 12:00:00', '2026-11-20 12:00:00', {unreadable}, '2026-11-20 12:00:00')",
        )
        (found,) = rollups.events([50])
        assert found.event_start_time is None
        assert found.event_end_time == utc(2026, 11, 20, 12)
        assert found.updated_at == utc(2026, 11, 20, 12)
