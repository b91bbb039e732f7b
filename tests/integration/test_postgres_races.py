"""Forced interleavings on PostgreSQL: each test holds a lock on a side connection so that two
library calls on their own connections meet at exactly the moment that used to break the
invariant, then releases it and checks the rollups against a plain aggregation of the raw rows.

Every test here failed on the code before the fix it names (issue 8, items 1, 2 and 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.service import Rollups
from tests.builders import event, utc
from tests.conftest import fixed_clock, sessions_waiting_for_locks
from tests.integration import workers

pytestmark = pytest.mark.postgres

T = TypeVar("T")
WAIT_SECONDS = 30


@pytest.fixture
def database_url(database_url: str) -> str:
    """The test's fresh database, migrated."""
    open_rollups(database_url, clock=fixed_clock).close()
    return database_url


@pytest.fixture
def connect(database_url: str) -> Iterator[Callable[[], Rollups]]:
    """Opens `Rollups` instances (each with its own pool) on the test's database."""
    opened: list[Rollups] = []

    def opener() -> Rollups:
        rollups = open_rollups(database_url, migrate=False, clock=fixed_clock)
        opened.append(rollups)
        return rollups

    yield opener
    for rollups in opened:
        rollups.close()


@pytest.fixture
def side(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain connection that holds locks for the test (in an open transaction)."""
    with psycopg.connect(database_url) as connection:
        yield connection


def start_blocked(
    pool: ThreadPoolExecutor, url: str, call: Callable[[], T], waiting: int = 1
) -> Future[T]:
    """Run `call` in a thread and return once `waiting` sessions wait for a lock (the call has
    reached the held lock); fail if the call finishes or never blocks."""
    future = pool.submit(call)
    deadline = time.monotonic() + WAIT_SECONDS
    while sessions_waiting_for_locks(url) < waiting:
        if future.done():
            future.result()  # raises the call's error, if any
            pytest.fail("the call finished without waiting for the held lock")
        if time.monotonic() > deadline:
            pytest.fail("the call never reached the held lock")
        time.sleep(0.01)
    return future


def assert_exact(url: str, rollups: Rollups, account_id: int, zone: str = "UTC") -> None:
    """The account's rollups equal a plain aggregation of its raw rows."""
    raw = workers.read_raw(url, account_id)
    stored = workers.as_reference(rollups.rows(account_id))
    assert workers.differences(stored, workers.reference_rows(raw, zone)) == []
    assert rollups.verify(account_id).mismatches == []


def test_retract_racing_a_record_of_the_same_id_takes_back_what_it_deletes(
    database_url: str, connect: Callable[[], Rollups], side: psycopg.Connection[Any]
) -> None:
    """Item 1. retract([E, F]) reads the raw rows (F only: E is not stored yet), then waits for
    F's account; meanwhile record(E) of another account commits. The retraction must not delete
    E while leaving its contribution (it used to: E's account was never locked or unfolded)."""
    writer, retracter = connect(), connect()
    writer.set_timezone(1, "UTC")
    writer.set_timezone(2, "UTC")
    e = event(10, "conversation_resolved", value=30.0, account_id=1, at=utc(2026, 11, 20, 9))
    f = event(20, "reply_time", value=5.0, account_id=2, at=utc(2026, 11, 20, 9))
    writer.record([f])
    side.execute("SELECT 1 FROM reporting_rollup_accounts WHERE account_id = 2 FOR UPDATE")
    with ThreadPoolExecutor(1) as pool:
        retraction = start_blocked(pool, database_url, lambda: retracter.retract([10, 20]))
        assert writer.record([e]).rolled_up == 1  # account 1 is not locked by anyone
        side.commit()
        result = retraction.result(WAIT_SECONDS)
    assert result.retracted >= 1
    assert_exact(database_url, writer, 1)
    assert_exact(database_url, writer, 2)
    # Whatever the retraction decided about E, a later retraction takes it back exactly once.
    writer.retract([10])
    assert writer.rows(1) == []
    assert_exact(database_url, writer, 1)


def test_redelivery_racing_a_retract_never_folds_a_deleted_event(
    database_url: str, connect: Callable[[], Rollups], side: psycopg.Connection[Any]
) -> None:
    """Item 2. A batch redelivers E (stored, applied) with a new event H. The batch is held
    after its raw insert, waiting on H's applied mark (an uncommitted mark on the side
    connection); a retraction of E commits meanwhile. The batch must not mark and fold E,
    which is no longer stored (it used to: E ended up counted, not stored, and with a stale
    mark that kept a later legitimate record of E from ever being folded)."""
    writer, retracter = connect(), connect()
    writer.set_timezone(1, "UTC")
    h = event(5, "reply_time", value=7.0, account_id=1, at=utc(2026, 11, 20, 8))
    e = event(10, "conversation_resolved", value=30.0, account_id=1, at=utc(2026, 11, 20, 9))
    writer.record([e])
    side.execute("INSERT INTO reporting_rollup_applied_events (account_id, event_id) VALUES (1, 5)")
    with ThreadPoolExecutor(2) as pool:
        batch = start_blocked(pool, database_url, lambda: writer.record([h, e]))
        retraction = pool.submit(retracter.retract, [10])
        retracted = retraction.result(WAIT_SECONDS)  # it does not wait for the held batch
        side.rollback()
        batch.result(WAIT_SECONDS)
    assert retracted.retracted == 1
    assert_exact(database_url, writer, 1)
    # A legitimate later record of E is stored and folded exactly once.
    writer.record([e])
    assert_exact(database_url, writer, 1)
    assert {key.metric for key, _ in writer.rows(1)} >= {"resolutions_count", "reply_time"}


# --- the global lock order (item 4) -------------------------------------------------------------


def test_batches_naming_the_same_new_ids_in_opposite_orders_do_not_deadlock(
    database_url: str, connect: Callable[[], Rollups], side: psycopg.Connection[Any]
) -> None:
    """Raw events are locked in id order. The side connection holds an uncommitted insert of
    id 1; two batches of ids {1, 2}, given in opposite orders, both wait for it. Had the
    second inserted in the order given, it would hold 2 while waiting for 1, and the first,
    which gets 1 when the side transaction rolls back, would wait for 2: a deadlock."""
    first, second = connect(), connect()
    first.set_timezone(1, "UTC")
    one = event(1, "conversation_resolved", value=10.0, at=utc(2026, 11, 20, 9))
    two = event(2, "conversation_resolved", value=20.0, at=utc(2026, 11, 21, 9))
    workers.insert_raw_uncommitted(side, [one])
    with ThreadPoolExecutor(2) as pool:
        # The batch in id order waits first, so it gets id 1 first once the side rolls back.
        forwards = start_blocked(pool, database_url, lambda: second.record([one, two]))
        backwards = start_blocked(pool, database_url, lambda: first.record([two, one]), 2)
        side.rollback()
        results = [backwards.result(WAIT_SECONDS), forwards.result(WAIT_SECONDS)]
    assert sorted(result.stored for result in results) == [0, 2]
    assert sum(result.rolled_up for result in results) == 2
    assert_exact(database_url, first, 1)


def test_batches_touching_the_same_rollup_rows_in_opposite_orders_do_not_deadlock(
    database_url: str, connect: Callable[[], Rollups], side: psycopg.Connection[Any]
) -> None:
    """Rollup rows (and distinct members) are locked in key order. The side connection holds
    the row of the earlier day; two batches of new events on both days, the second given latest
    day first, wait for it. A writer going in its own order would hold the later day's row
    while waiting, and deadlock with the first once the side transaction commits."""
    first, second = connect(), connect()
    first.set_timezone(1, "UTC")
    first.record(
        [
            event(1, "conversation_bot_handoff", conversation_id=7, at=utc(2026, 11, 20, 9)),
            event(2, "conversation_bot_handoff", conversation_id=7, at=utc(2026, 11, 21, 9)),
        ]
    )
    side.execute(
        "UPDATE reporting_events_rollups SET updated_at = updated_at "
        "WHERE account_id = 1 AND date = '2026-11-20'"
    )
    side.execute(
        "UPDATE reporting_rollup_members SET occurrences = occurrences "
        "WHERE account_id = 1 AND date = '2026-11-20'"
    )

    def batch(first_id: int, *days: int) -> list[Any]:
        return [
            event(
                first_id + n,
                "conversation_bot_handoff",
                conversation_id=8 + n,
                at=utc(2026, 11, day, 10),
            )
            for n, day in enumerate(days)
        ]

    with ThreadPoolExecutor(2) as pool:
        # The batch in key order waits first, so it gets the earlier day's row first.
        early_first = start_blocked(pool, database_url, lambda: second.record(batch(20, 20, 21)))
        late_first = start_blocked(pool, database_url, lambda: first.record(batch(10, 21, 20)), 2)
        side.commit()
        assert late_first.result(WAIT_SECONDS).rolled_up == 2
        assert early_first.result(WAIT_SECONDS).rolled_up == 2
    assert_exact(database_url, first, 1)


def test_a_retraction_summing_a_row_again_keeps_a_writer_s_pending_contribution(
    database_url: str, connect: Callable[[], Rollups], side: psycopg.Connection[Any]
) -> None:
    """A retraction sums the rows it touched again from the events it sees applied. The side
    connection holds the row; a record() of a new event on it (stored and marked, its upsert
    waiting) and a retraction of another event on it both wait. Whichever gets the row first,
    the pending event is counted exactly once: the retraction either waits for its commit or
    sums without it, and its writer adds it afterwards."""
    writer, retracter = connect(), connect()
    writer.set_timezone(1, "UTC")
    base = event(1, "reply_time", value=1e9, at=utc(2026, 11, 20, 8), user_id=None, inbox_id=None)
    writer.record([base, event(2, "reply_time", value=0.5, at=utc(2026, 11, 20, 9))])
    side.execute(
        "UPDATE reporting_events_rollups SET updated_at = updated_at "
        "WHERE account_id = 1 AND metric = 'reply_time' AND dimension_type = 'account'"
    )
    pending = event(3, "reply_time", value=2.0, at=utc(2026, 11, 20, 10))
    with ThreadPoolExecutor(2) as pool:
        recording = start_blocked(pool, database_url, lambda: writer.record([pending]))
        retraction = start_blocked(pool, database_url, lambda: retracter.retract([1]), 2)
        side.commit()
        assert recording.result(WAIT_SECONDS).rolled_up == 1
        assert retraction.result(WAIT_SECONDS).rolled_back == 1
    assert_exact(database_url, writer, 1)
