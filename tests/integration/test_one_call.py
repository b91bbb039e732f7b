"""`record()` of a few events of one account in one call (`OneCallRecorder`: a server-side
function, autocommitted): on plain PostgreSQL (`PLAIN_RECORD`), on plain PostgreSQL with the
adapter in distributed mode (`RECORD`; both in CI) and on a Citus coordinator (`citus`).

Whatever the path, the result is `record()`'s: the rows equal an in-memory reference that
recorded the same events, and `verify` is clean. Each way the call cannot record the events
(no zone known yet, the zone changed meanwhile, an event stored or applied before, a host
committing the same row while the call waits for it) writes nothing and falls back to the unit
of work, which tells what happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import psycopg
import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.ports import OneCallOutcome
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import EventConflictError
from reporting_rollups.domain.events import Event
from tests.builders import event, utc
from tests.conftest import empty_database, fixed_clock, sessions_waiting_for_locks
from tests.integration.test_distributed_routing import open_as_distributed

ACCOUNT = 1
ZONE = "Asia/Tokyo"


@attrs.frozen
class Target:
    """A database and how the adapter runs on it: "plain", "forced" (plain PostgreSQL in
    distributed mode, `open_as_distributed`) or "citus"."""

    url: str
    mode: str

    def open(self) -> Rollups:
        """The library on it, with its one-call recorder."""
        if self.mode == "forced":
            rollups = open_as_distributed(self.url)
        else:
            rollups = open_rollups(self.url, clock=fixed_clock)
        assert rollups.live.one_call is not None
        return rollups

    def waiting(self) -> int:
        """Sessions waiting for a row lock (on Citus: on a worker, as the coordinator sees
        it)."""
        if self.mode != "citus":
            return sessions_waiting_for_locks(self.url)
        with psycopg.connect(self.url, autocommit=True) as connection:
            return int(connection.execute("SELECT count(*) FROM citus_lock_waits").fetchone()[0])  # type: ignore[index]


@pytest.fixture(params=["plain", "forced", pytest.param("citus", marks=pytest.mark.citus)])
def target(request: pytest.FixtureRequest) -> Target:
    """Plain PostgreSQL, plain PostgreSQL forced into distributed mode, or a Citus
    coordinator's database (its tables dropped first)."""
    if request.param == "citus":
        citus: str = request.getfixturevalue("citus_url")
        empty_database(citus)
        return Target(citus, "citus")
    database: str = request.getfixturevalue("database_url")
    if request.param == "forced":
        open_as_distributed(database).close()
    return Target(database, request.param)


@pytest.fixture
def rollups(target: Target) -> Iterator[Rollups]:
    with target.open() as opened:
        opened.set_timezone(ACCOUNT, ZONE, rebuild=False)
        yield opened


class Outcomes:
    """The outcomes of the one-call recorder's calls, spied on."""

    def __init__(self, rollups: Rollups, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[bool] = []
        recorder: Any = rollups.live.one_call
        original = recorder.record_new

        def spied(*args: Any) -> OneCallOutcome:
            outcome: OneCallOutcome = original(*args)
            self.seen.append(outcome.recorded)
            return outcome

        monkeypatch.setattr(recorder, "record_new", spied)


def _same_as_reference(
    rollups: Rollups, events: list[Event], zone: str = ZONE, *, verify: bool = True
) -> None:
    """The rows equal those of a memory library that recorded `events` (same zone), and
    (`verify`) `verify` is clean."""
    with open_rollups("memory://", clock=fixed_clock) as reference:
        reference.set_timezone(ACCOUNT, zone, rebuild=False)
        reference.record(events)
        expected = [(row.key, row.value.count) for row in reference.rows(ACCOUNT)]
        sums = [round(row.value.sum_value, 6) for row in reference.rows(ACCOUNT)]
    rows = rollups.rows(ACCOUNT)
    assert [(row.key, row.value.count) for row in rows] == expected
    assert [round(row.value.sum_value, 6) for row in rows] == sums
    if verify:
        assert rollups.verify(ACCOUNT).mismatches == []


def _mixed(first: int, count: int) -> list[Event]:
    names = (
        "reply_time",
        "first_response",
        "conversation_resolved",
        "conversation_bot_handoff",
        "conversation_bot_resolved",
        "not_a_metric",
    )
    return [
        event(
            first + n,
            names[n % len(names)],
            value=float(n * 7 % 300),
            user_id=n % 3 + 1,
            inbox_id=n % 2 + 1,
            conversation_id=n % 4 + 1,
            at=utc(2026, 11, 18, 13 + n % 5),  # around Tokyo's midnight (15:00 UTC)
        )
        for n in range(count)
    ]


def test_single_events_are_each_one_call_and_fold_exactly(
    rollups: Rollups, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first record (the zone is not known yet), every one-event call is recorded by
    the one call: handoffs of a conversation counted once per day, unknown names stored and
    marked but contributing nothing."""
    outcomes = Outcomes(rollups, monkeypatch)
    events = _mixed(1, 36)
    results = [rollups.record([e]) for e in events]
    assert outcomes.seen == [True] * 35
    assert sum(result.stored for result in results) == 36
    assert sum(result.unsupported for result in results) == 6
    assert sum(result.rolled_up for result in results) == 30
    _same_as_reference(rollups, events)


def test_a_small_batch_is_one_call(rollups: Rollups, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = Outcomes(rollups, monkeypatch)
    events = _mixed(1, 31)
    rollups.record(events[:1])
    result = rollups.record(events[1:])
    assert outcomes.seen == [True]
    assert (result.stored, result.rolled_up, result.unsupported) == (30, 25, 5)
    _same_as_reference(rollups, events)


def test_an_event_sent_again_falls_back_and_is_a_duplicate(
    rollups: Rollups, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = Outcomes(rollups, monkeypatch)
    first, second = _mixed(1, 2)
    rollups.record([first])
    rollups.record([second])
    result = rollups.record([second])
    assert outcomes.seen == [True, False]
    assert (result.stored, result.duplicates, result.rolled_up) == (0, 1, 0)
    changed = event(second.id, second.name, value=999.0, at=second.created_at)
    with pytest.raises(EventConflictError):
        rollups.record([changed])
    _same_as_reference(rollups, [first, second])


def test_an_event_applied_before_writes_nothing_in_the_call(
    rollups: Rollups, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mark without a raw row (the raw row purged): the call inserts the row, finds the mark,
    and rolls back; the unit of work stores the row and does not fold it again."""
    outcomes = Outcomes(rollups, monkeypatch)
    events = _mixed(1, 2)
    rollups.record(events[:1])
    with psycopg.connect(target.url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO reporting_rollup_applied_events (account_id, event_id) VALUES (%s, 2)",
            (ACCOUNT,),
        )
    result = rollups.record(events[1:])
    assert outcomes.seen == [False]
    assert (result.stored, result.rolled_up) == (1, 0)
    with psycopg.connect(target.url) as connection:
        (rows,) = connection.execute(
            "SELECT count(*) FROM reporting_events WHERE id = 2"
        ).fetchone()
    assert rows == 1
    # The stored row's contribution is not in the rollups (its mark says it was, then
    # purged): `verify` would report it, as it should.
    _same_as_reference(rollups, events[:1], verify=False)


def test_a_zone_changed_by_another_process_is_seen_under_the_lock(
    rollups: Rollups, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process changes the zone after this one last saw it: the call finds another
    zone under the account's lock and writes nothing; the events are folded in the new one,
    and the next call uses it."""
    outcomes = Outcomes(rollups, monkeypatch)
    events = _mixed(1, 4)
    rollups.record(events[:1])
    with target.open() as other:
        other.set_timezone(ACCOUNT, "America/New_York")
    rollups.record(events[1:2])
    rollups.record(events[2:3])
    rollups.record(events[3:])
    assert outcomes.seen == [False, True, True]
    _same_as_reference(rollups, events, "America/New_York")


def test_a_host_committing_the_same_row_while_the_call_waits(
    rollups: Rollups, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host transaction holds a just-inserted raw row of the event the call inserts: the call
    waits for it; when the host commits, the call finds the row stored and rolls back, and the
    unit of work folds the host's row once (its content is the event's)."""
    outcomes = Outcomes(rollups, monkeypatch)
    events = _mixed(1, 2)
    rollups.record(events[:1])
    late = events[1]
    host = psycopg.connect(target.url)
    try:
        host.execute(
            "INSERT INTO reporting_events (id, name, account_id, created_at, value, "
            "value_in_business_hours, user_id, inbox_id, conversation_id, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, NULL, %s, %s, %s, now())",
            (
                late.id,
                late.name,
                ACCOUNT,
                late.created_at.replace(tzinfo=None),
                late.value,
                late.user_id,
                late.inbox_id,
                late.conversation_id,
            ),
        )
        done: list[Any] = []
        writer = threading.Thread(target=lambda: done.append(rollups.record([late])))
        writer.start()
        deadline = time.monotonic() + 10
        while not target.waiting() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert target.waiting(), "the call never waited for the host's row"
        host.commit()
        writer.join(10)
    finally:
        host.close()
    assert outcomes.seen == [False]
    (result,) = done
    assert (result.stored, result.duplicates, result.rolled_up) == (0, 1, 1)
    _same_as_reference(rollups, events)


def test_an_account_without_a_zone_is_recorded_the_usual_way(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    with target.open() as rollups:
        outcomes = Outcomes(rollups, monkeypatch)
        for e in _mixed(1, 3):
            assert rollups.record([e]).skipped == 1
        assert outcomes.seen == []
        assert rollups.rows(ACCOUNT) == []


def test_without_migrate_the_function_is_used_only_where_it_exists(database_url: str) -> None:
    """Opened with `migrate=False`, plain PostgreSQL records in one call where a migration
    created the function, and through the unit of work where it is missing."""
    open_rollups(database_url, clock=fixed_clock).close()
    with open_rollups(database_url, clock=fixed_clock, migrate=False) as rollups:
        assert rollups.live.one_call is not None
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "DO $$ DECLARE f regprocedure; BEGIN FOR f IN SELECT oid::regprocedure FROM pg_proc "
            "WHERE proname LIKE 'reporting\\_rollup\\_record\\_plain\\_%' "
            "LOOP EXECUTE 'DROP FUNCTION ' || f; END LOOP; END $$"
        )
    with open_rollups(database_url, clock=fixed_clock, migrate=False) as rollups:
        assert rollups.live.one_call is None
        rollups.set_timezone(ACCOUNT, ZONE, rebuild=False)
        events = _mixed(1, 3)
        for e in events:
            assert rollups.record([e]).stored == 1
        _same_as_reference(rollups, events)
