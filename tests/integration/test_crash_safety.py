"""Crash safety: a process killed (SIGKILL) inside a large `record` or in the middle of a
backfill, and a backfill failing after it deleted a day's rows, never leave the rollups
inexact; rerunning the same work counts every event exactly once.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

import psycopg
import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.backfill import Backfill
from reporting_rollups.application.ports import RebuildStats, UnitOfWork, UnitOfWorkFactory
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import RollupError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.timezones import LocalDay
from tests.conftest import sessions_waiting_for_locks
from tests.integration import workers
from tests.integration.workers import CrashSpec

pytestmark = pytest.mark.slow

postgres = pytest.mark.postgres
JOIN_TIMEOUT = 180
SPAWN = multiprocessing.get_context("spawn")


def finish(process: Any, results: Any) -> dict[str, Any]:
    """Wait for a child that must succeed; its report."""
    status, who, payload = results.get(timeout=JOIN_TIMEOUT)
    process.join(JOIN_TIMEOUT)
    assert status == "ok", f"{who} failed:\n{payload}"
    assert process.exitcode == 0
    return dict(payload)


def kill(process: Any) -> None:
    """SIGKILL a child that must still be running."""
    assert process.is_alive(), "the child finished before it could be killed"
    process.kill()
    process.join(JOIN_TIMEOUT)
    assert process.exitcode == -signal.SIGKILL


def sessions(url: str) -> set[int]:
    """Server process ids of the database's other sessions."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return {row[0] for row in rows}


def wait_for_orphans(url: str, earlier: set[int]) -> None:
    """Wait until the sessions a killed child opened (all but `earlier`) are gone: their
    transactions are then aborted."""
    workers.wait_until(lambda: sessions(url) <= earlier, 60, "orphaned sessions to end")


def assert_exact(rollups: Rollups, url: str, account_id: int, zone: str) -> None:
    """Rollups equal the reference aggregation of the raw rows, and `verify` agrees."""
    expected = workers.reference_rows(workers.read_raw(url, account_id), zone)
    assert workers.differences(workers.as_reference(rollups.rows(account_id)), expected) == []
    assert rollups.verify(account_id).mismatches == []


def assert_kept(rollups: Rollups, before: list[Any], day: date) -> None:
    """The failing day's rows are exactly as before (bit for bit: the failed chunk's writes were
    rolled back); the other days' up to float addition order (their chunks were rebuilt)."""
    after = rollups.rows(ACCOUNT)
    assert [row for row in after if row[0].date == day] == [
        row for row in before if row[0].date == day
    ]
    assert workers.differences(workers.as_reference(after), workers.as_reference(before)) == []


def lock_rollup_rows(url: str, account_id: int) -> psycopg.Connection[Any]:
    """A connection whose open transaction holds every rollup row of the account FOR UPDATE."""
    connection = psycopg.connect(url)
    locked = connection.execute(
        "SELECT id FROM reporting_events_rollups WHERE account_id = %s FOR UPDATE", (account_id,)
    ).fetchall()
    assert locked, "no rollup rows to lock"
    return connection


# --- a record killed mid-batch -------------------------------------------------------------


@postgres
@pytest.mark.parametrize("kill_point", ["blocked_upsert", "random_delay"])
def test_postgres_record_killed_mid_batch_then_rerun_counts_each_event_once(
    database_url: str, kill_point: str
) -> None:
    """`blocked_upsert`: the child is killed while its rollup upsert waits for a row lock the
    test holds (surely inside the transaction, after the raw rows, ledger and members were
    written); `random_delay`: killed a random moment after its transaction first wrote."""
    spec = CrashSpec(
        seed=7,
        account_id=5,
        zone="America/New_York",
        first_day=date(2026, 10, 25),  # America/New_York falls back on 2026-11-01
        days=14,
        count=50_000,
    )
    events = spec.events()
    committed_before = events[::10]  # redelivered inside the big batch
    with open_rollups(database_url, clock=workers.fixed_clock) as rollups:
        rollups.set_timezone(spec.account_id, spec.zone)
        rollups.record(committed_before)

        ready, results = SPAWN.Event(), SPAWN.Queue()
        child = SPAWN.Process(target=workers.run_record, args=(database_url, spec, ready, results))
        locker = (
            lock_rollup_rows(database_url, spec.account_id)
            if kill_point == "blocked_upsert"
            else None
        )
        earlier = sessions(database_url)
        try:
            child.start()
            assert ready.wait(JOIN_TIMEOUT), "the child did not open the database"
            if locker is not None:
                workers.wait_until(
                    lambda: sessions_waiting_for_locks(database_url) > 0 or not child.is_alive(),
                    JOIN_TIMEOUT,
                    "the child to block on the locked rollup rows",
                )
            else:
                workers.wait_until(
                    lambda: (
                        workers.other_backends(database_url, writing=True) > 0
                        or not child.is_alive()
                    ),
                    JOIN_TIMEOUT,
                    "the child's transaction to write",
                )
                time.sleep(random.uniform(0.0, 0.3))
            kill(child)
        finally:
            if child.is_alive():
                child.kill()
                child.join()
            if locker is not None:
                locker.close()
        wait_for_orphans(database_url, earlier)

        # All or nothing of the killed batch; the rollups match whatever is stored.
        stored_ids = {row.id for row in workers.read_raw(database_url, spec.account_id)}
        before_ids = {event.id for event in committed_before}
        assert stored_ids in (before_ids, {event.id for event in events})
        if kill_point == "blocked_upsert":
            assert stored_ids == before_ids
        assert_exact(rollups, database_url, spec.account_id, spec.zone)

        # Rerun the same work in a new process: nothing lost, nothing counted twice.
        ready, results = SPAWN.Event(), SPAWN.Queue()
        rerun = SPAWN.Process(target=workers.run_record, args=(database_url, spec, ready, results))
        rerun.start()
        result = finish(rerun, results)
        assert result["stored"] == len(events) - len(stored_ids)
        assert result["rolled_up"] + result["unsupported"] == len(events) - len(stored_ids)
        assert result["duplicates"] == len(stored_ids)
        raw = workers.read_raw(database_url, spec.account_id)
        assert raw == workers.as_raw(events)
        assert_exact(rollups, database_url, spec.account_id, spec.zone)


# --- a backfill killed between and inside chunks ---------------------------------------------


@postgres
def test_postgres_backfill_killed_mid_way_then_rerun_is_exact(database_url: str) -> None:
    """120 days of events: a quarter recorded live (every day has rows), the rest written to
    the raw table by the host. A backfill in chunks of 3 days is killed once 3 chunks committed,
    inside the next chunk after it deleted that chunk's rows (it waits for a table lock the test
    holds on the applied-events ledger). Each day is then either rebuilt or as it was; a
    redelivery folds only events not yet applied; rerunning the backfill makes every day exact.
    """
    spec = CrashSpec(
        seed=11,
        account_id=8,
        zone="America/New_York",
        first_day=date(2026, 7, 24),
        days=120,  # through 2026-11-20, across the 2026-11-01 fall-back
        count=24_000,
    )
    zone = ZoneInfo(spec.zone)
    since, until = spec.first_day, spec.first_day + timedelta(days=spec.days - 1)
    days = [since + timedelta(days=n) for n in range(spec.days)]
    events = spec.events()
    live, host = events[::4], [event for event in events if event.id % 4 != 1]
    with open_rollups(database_url, clock=workers.fixed_clock) as rollups:
        rollups.set_timezone(spec.account_id, spec.zone)
        rollups.record(live)
        workers.insert_raw(database_url, host)
        expected = workers.reference_rows(workers.as_raw(events), spec.zone)
        live_only = workers.reference_rows(workers.as_raw(live), spec.zone)
        assert {key[1] for key in live_only} == set(days)

        chunks_done, results = SPAWN.Value("i", 0), SPAWN.Queue()
        child = SPAWN.Process(
            target=workers.run_backfill,
            args=(database_url, spec.account_id, since, until, 3, chunks_done, results),
        )
        locker = psycopg.connect(database_url)
        earlier = sessions(database_url)
        try:
            child.start()
            workers.wait_until(
                lambda: chunks_done.value >= 3 or not child.is_alive(),
                JOIN_TIMEOUT,
                "3 committed chunks",
            )
            time.sleep(random.uniform(0.0, 0.05))
            # Waits for the chunk in progress to commit; the next one then deletes its days'
            # rows and members and blocks when it marks their events applied.
            locker.execute("LOCK TABLE reporting_rollup_applied_events IN EXCLUSIVE MODE")
            workers.wait_until(
                lambda: sessions_waiting_for_locks(database_url) > 0 or not child.is_alive(),
                JOIN_TIMEOUT,
                "the backfill to block on the locked table",
            )
            kill(child)
        finally:
            if child.is_alive():
                child.kill()
                child.join()
            locker.close()
        wait_for_orphans(database_url, earlier)

        # Each day is rebuilt exactly or as it was; the rebuilt ones are a prefix of the range.
        stored = workers.as_reference(rollups.rows(spec.account_id))
        rebuilt = [
            day
            for day in days
            if not workers.differences(
                workers.on_dates(stored, [day]), workers.on_dates(expected, [day])
            )
        ]
        assert len(rebuilt) >= 9
        assert len(rebuilt) < len(days)
        assert rebuilt == days[: len(rebuilt)]
        untouched = days[len(rebuilt) :]
        assert (
            workers.differences(
                workers.on_dates(stored, untouched), workers.on_dates(live_only, untouched)
            )
            == []
        )

        # Redeliver a sample of all events: live ones and the host's on rebuilt days are
        # applied already; the host's on the other days fold now, once.
        redelivered = random.Random(3).sample(events, 4_000)
        boundary = workers.local_midnight(rebuilt[-1] + timedelta(days=1), zone)
        host_ids = {event.id for event in host}
        late = [e for e in redelivered if e.id in host_ids and e.created_at >= boundary]
        assert late
        result = rollups.record(redelivered)
        assert (result.stored, result.rolled_up + result.unsupported) == (0, len(late))
        want = workers.on_dates(expected, rebuilt) | workers.on_dates(
            workers.reference_rows(workers.as_raw([*live, *late]), spec.zone), untouched
        )
        stored = workers.as_reference(rollups.rows(spec.account_id))
        assert workers.differences(stored, want) == []

        # Rerun the backfill in a new process (chunks of 30 days): every day exact.
        chunks_done, results = SPAWN.Value("i", 0), SPAWN.Queue()
        rerun = SPAWN.Process(
            target=workers.run_backfill,
            args=(database_url, spec.account_id, since, until, 30, chunks_done, results),
        )
        rerun.start()
        assert finish(rerun, results)["events"] == len(events)
        assert chunks_done.value == len(days) // 30
        assert_exact(rollups, database_url, spec.account_id, spec.zone)


# --- a rebuild failing after it deleted the day's rows ---------------------------------------

ACCOUNT, ZONE = 3, "America/New_York"
DAYS = [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]  # 2026-03-08 has 23 hours


def live_events() -> list[Event]:
    """Events on DAYS, recorded live before the failing backfill."""
    return workers.make_events(5, 1, 600, ACCOUNT, ZONE, DAYS[0], len(DAYS), conversations=15)


@postgres
def test_postgres_rebuild_failing_after_delete_leaves_day_as_it_was(database_url: str) -> None:
    """A trigger makes the rebuild's insert of the middle day's rows raise (after the adapter
    deleted them): the day keeps its previous rows, verify stays empty, and the failed
    transaction does not poison the next backfill."""
    with open_rollups(database_url, clock=workers.fixed_clock, chunk_days=1) as rollups:
        rollups.set_timezone(ACCOUNT, ZONE)
        rollups.record(live_events())
        before = rollups.rows(ACCOUNT)
        assert {key.date for key, _ in before} == set(DAYS)
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(
                f"""
                CREATE FUNCTION test_fail_rollup_insert() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.date = DATE '{DAYS[1].isoformat()}' THEN
                        RAISE EXCEPTION 'injected failure on %', NEW.date;
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER test_fail_rollup_insert BEFORE INSERT ON reporting_events_rollups
                FOR EACH ROW EXECUTE FUNCTION test_fail_rollup_insert();
                """
            )
        with pytest.raises(RollupError, match="injected failure"):
            rollups.backfill(ACCOUNT, DAYS[0], DAYS[-1])
        assert_kept(rollups, before, DAYS[1])
        assert rollups.verify(ACCOUNT).mismatches == []

        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("DROP TRIGGER test_fail_rollup_insert ON reporting_events_rollups")
        rollups.backfill(ACCOUNT, DAYS[0], DAYS[-1])
        assert_exact(rollups, database_url, ACCOUNT, ZONE)


class InjectedFailure(Exception):
    """Raised by `FailingRebuilds` after the real rebuild of the failing day."""


class _FailingUnitOfWork:
    def __init__(self, inner: UnitOfWork, fail_on: date) -> None:
        self._inner = inner
        self._fail_on = fail_on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        stats = self._inner.rebuild_days(account_id, days)
        if any(day.date == self._fail_on for day in days):
            raise InjectedFailure(f"after rebuilding {self._fail_on}")
        return stats

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, traceback)

    def commit(self) -> None:
        self._inner.commit()


class FailingRebuilds:
    """A unit-of-work factory whose `rebuild_days` does the real work, then raises when the
    chunk holds `fail_on` (before the unit of work could commit)."""

    def __init__(self, inner: UnitOfWorkFactory, fail_on: date) -> None:
        self._inner = inner
        self._fail_on = fail_on

    def __call__(self, *, read_only: bool = False) -> Any:
        return _FailingUnitOfWork(self._inner(read_only=read_only), self._fail_on)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=postgres)])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each backend."""
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rollups.db'}"
    else:
        yield request.getfixturevalue("database_url")


def test_rebuild_failing_after_its_work_leaves_days_as_they_were(any_url: str) -> None:
    """The real rebuild of the middle day runs, then raises before commit: that day keeps its
    previous rows (which differ from a rebuild because of a host-written event the live path
    never saw), the day before is rebuilt, verify reports exactly what it reported before."""
    with open_rollups(any_url, clock=workers.fixed_clock, chunk_days=1) as rollups:
        rollups.set_timezone(ACCOUNT, ZONE)
        live = live_events()
        rollups.record(live)
        host = workers.make_events(9, 10_001, 30, ACCOUNT, ZONE, DAYS[1], 1, conversations=100)
        with rollups.uow_factory() as uow:
            uow.events.add(host)  # stored raw, not rolled up: as the host's own writes
            uow.commit()
        before = rollups.rows(ACCOUNT)
        mismatches = rollups.verify(ACCOUNT).mismatches
        assert mismatches
        assert {mismatch.key.date for mismatch in mismatches} == {DAYS[1]}

        failing = Backfill(
            FailingRebuilds(rollups.uow_factory, DAYS[1]), workers.fixed_clock, chunk_days=1
        )
        with pytest.raises(InjectedFailure):
            failing.run(failing.plan(ACCOUNT, DAYS[0], DAYS[-1]))
        assert_kept(rollups, before, DAYS[1])
        assert rollups.verify(ACCOUNT).mismatches == mismatches

        rollups.backfill(ACCOUNT, DAYS[0], DAYS[-1])
        assert rollups.verify(ACCOUNT).mismatches == []
        expected = workers.reference_rows(workers.as_raw([*live, *host]), ZONE)
        assert workers.differences(workers.as_reference(rollups.rows(ACCOUNT)), expected) == []
