"""`Rollups.sync()` (issue 10, part 2): rows the host itself inserts, updates and deletes in
`reporting_events` (laid out as the reference schema has it) reach the rollups exactly once,
through change capture and the applied marks, on SQLite and PostgreSQL. After every scenario
the rows equal a plain aggregation of the raw rows then stored, and `verify` is clean.

The in-memory backend has no host writing to it (capture is refused there): nothing to sync.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from typing import Any

import attrs
import psycopg
import pytest
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import app
from reporting_rollups.application.service import Rollups
from tests.builders import event, row_map
from tests.conftest import fixed_clock, fresh_database, sessions_waiting_for_locks
from tests.host_db import host_sql, postgres_host
from tests.integration.workers import other_backends, wait_until
from tests.reference_schema import reference_statements

ZONE = "America/New_York"
AT = "2026-11-20 15:00:00.000000"
COLUMNS = "id, name, value, value_in_business_hours, account_id, user_id, inbox_id, "
COLUMNS += "conversation_id, created_at, updated_at"


def host_insert(url: str, *rows: tuple[Any, ...]) -> None:
    """Insert rows (id, name, value, account_id, user_id, conversation_id, created_at) as the
    host does: its own statement, its own transaction."""
    values = ", ".join(
        f"({i}, '{name}', {value}, {value / 2}, {account}, {user}, 7, {conv or 'NULL'}, "
        f"'{at}', '{at}')"
        for i, name, value, account, user, conv, at in rows
    )
    host_sql(url, f"INSERT INTO reporting_events ({COLUMNS}) VALUES {values}")


def expected(rollups: Rollups, accounts: tuple[int, ...] = (1,)) -> list[dict[Any, Any]]:
    """The rows a plain aggregation of the raw rows stored now gives."""
    stored = rollups.events(range(1, 10_000))
    with open_rollups("memory://", clock=fixed_clock) as reference:
        for account in accounts:
            reference.set_timezone(account, ZONE)
        reference.record(stored)
        return [row_map(reference.rows(account)) for account in accounts]


def rows(rollups: Rollups, accounts: tuple[int, ...] = (1,)) -> list[dict[Any, Any]]:
    return [row_map(rollups.rows(account)) for account in accounts]


def opened(url: str) -> Rollups:
    rollups = open_rollups(url, clock=fixed_clock)
    rollups.set_timezone(1, ZONE)
    rollups.capture.install()
    return rollups


def test_host_inserts_updates_and_deletes_are_applied_exactly_once(host_url: str) -> None:
    with opened(host_url) as rollups:
        host_insert(
            host_url,
            (1, "conversation_resolved", 60, 1, 5, 11, AT),
            (2, "first_response", 30, 1, 5, 11, AT),
            (3, "reply_time", 10, 1, 6, 12, AT),
            (4, "conversation_bot_handoff", 0, 1, 5, 13, AT),
            (5, "conversation_bot_handoff", 0, 1, 5, 13, AT),  # same conversation: distinct 1
        )
        first = rollups.sync()
        assert (first.applied, first.retracted, first.consumed, first.pending) == (5, 0, 5, 0)
        assert first.lag_seconds is None
        assert rows(rollups) == expected(rollups)

        host_sql(
            host_url,
            "UPDATE reporting_events SET value = 90 WHERE id = 1",
            "UPDATE reporting_events SET created_at = '2026-11-02 12:00:00.000000' WHERE id = 3",
            "DELETE FROM reporting_events WHERE id IN (2, 4)",
        )
        second = rollups.sync()
        assert (second.applied, second.retracted) == (2, 4)
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).mismatches == []
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 5")  # the last handoff
        rollups.sync()
        assert rows(rollups) == expected(rollups)
        assert rollups.sync().consumed == 0  # nothing twice


def test_an_event_recorded_and_captured_is_folded_once(host_url: str) -> None:
    with opened(host_url) as rollups:
        recorded = event(1, "reply_time", value=4.0, user_id=5)
        rollups.record([recorded])  # folded at once: nothing logged
        host_insert(host_url, (2, "reply_time", 6, 1, 5, None, AT))
        assert rollups.record([recorded]).duplicates == 1
        result = rollups.sync()
        assert (result.applied, result.consumed) == (1, 1)  # the host's row only
        assert rows(rollups) == expected(rollups)
        rollups.retract([1, 2])  # taken back at once: nothing logged
        result = rollups.sync()
        assert (result.retracted, result.consumed) == (0, 0)
        assert rollups.rows(1) == []


def test_an_event_captured_then_recorded_again_is_folded_once(host_url: str) -> None:
    with opened(host_url) as rollups:
        host_insert(host_url, (1, "reply_time", 6, 1, 5, None, "2026-11-20 12:00:00.000000"))
        stored = rollups.events([1])
        assert rollups.record(stored).rolled_up == 1  # redelivered before any sync
        assert rollups.sync().applied == 0
        assert rows(rollups) == expected(rollups)


def test_changes_of_an_account_without_a_zone_are_consumed_and_rebuilt_later(
    host_url: str,
) -> None:
    with opened(host_url) as rollups:
        host_insert(host_url, (1, "reply_time", 6, 2, 5, None, AT))
        result = rollups.sync()
        assert (result.applied, result.consumed, result.pending) == (0, 1, 0)
        assert rollups.rows(2) == []
        rollups.set_timezone(2, ZONE)
        assert rows(rollups, (2,)) == expected(rollups, (2,))


def test_a_backfill_applies_pending_changes_first(host_url: str) -> None:
    """A host update pending in the log while the day is rebuilt: the rebuild starts from a
    state that includes it (without that, a later sync would take the old value back out of
    a row rebuilt with the new one)."""
    with opened(host_url) as rollups:
        host_insert(host_url, (1, "reply_time", 10, 1, 5, None, AT))
        rollups.sync()
        host_sql(
            host_url,
            "UPDATE reporting_events SET value = 25 WHERE id = 1",
            # moved to a day the backfill below does not rebuild
            "UPDATE reporting_events SET created_at = '2026-11-05 12:00:00.000000' WHERE id = 1",
        )
        rollups.backfill(1, since=date(2026, 11, 20), until=date(2026, 11, 20))
        assert rollups.capture.status().pending == 0
        assert rollups.sync().consumed == 0
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).mismatches == []


@pytest.mark.postgres
def test_a_transaction_open_while_later_ones_commit_is_applied_when_it_commits(
    postgres_server_url: str,
) -> None:
    """Transaction A inserts event 1 and stays open while B inserts 2..5 and commits: a sync
    meanwhile applies 2..5 (1 is not visible yet, and nothing is skipped past it); once A
    commits, the next sync applies 1."""
    with postgres_host(postgres_server_url) as url, opened(url) as rollups:
        holder = psycopg.connect(url)
        holder.execute(
            f"INSERT INTO reporting_events ({COLUMNS}) VALUES "
            f"(1, 'reply_time', 100, 50, 1, 5, 7, NULL, '{AT}', '{AT}')"
        )
        host_insert(url, *[(i, "reply_time", i, 1, 5, None, AT) for i in range(2, 6)])
        early = rollups.sync()
        assert (early.applied, early.pending) == (4, 0)
        holder.commit()
        holder.close()
        late = rollups.sync()
        assert late.applied == 1
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).mismatches == []


@pytest.mark.postgres
def test_a_second_worker_skips_an_account_another_is_applying(postgres_server_url: str) -> None:
    """Worker A holds account 1's change stream (its transaction open): worker B applies
    account 2 and leaves account 1 to A; nothing is applied twice."""
    with postgres_host(postgres_server_url) as url, opened(url) as rollups:
        rollups.set_timezone(2, ZONE)
        host_insert(url, (1, "reply_time", 3, 1, 5, None, AT), (2, "reply_time", 4, 2, 5, None, AT))
        taken = threading.Event()
        release = threading.Event()
        held: list[Any] = []

        def worker_a() -> None:
            with rollups.uow_factory() as uow:
                uow.accounts.lock_shared([1])
                held.append(uow.changes.take(1, 100))
                taken.set()
                release.wait(10)
                # rolled back: the changes stay for the next pass

        thread = threading.Thread(target=worker_a)
        thread.start()
        assert taken.wait(10)
        result = rollups.sync()  # worker B
        release.set()
        thread.join(10)
        assert held[0] is not None
        assert len(held[0]) == 1
        assert (result.applied, result.pending) == (1, 1)  # account 2 only
        assert rows(rollups, (2,)) == expected(rollups, (1, 2))[1:]
        assert rollups.rows(1) == []
        assert rollups.sync().applied == 1  # A rolled back: the next pass applies it
        assert rows(rollups, (1, 2)) == expected(rollups, (1, 2))


@pytest.mark.postgres
def test_a_host_write_during_a_rebuild_chunk_commits_after_it(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk holds the host's writes of the account while it applies the account's changes
    and rebuilds its days: a host insert that comes in between (which the rebuild would count
    and the next sync apply again) waits to commit until the chunk has; the next sync folds it
    once."""
    import reporting_rollups.application.backfill as backfill_module

    real_drain = backfill_module.drain
    attempts: list[int] = []
    writers: list[threading.Thread] = []

    def drain_then_host_writes(uow: Any, account_id: int, zones: Any, now: Any) -> Any:
        done = real_drain(uow, account_id, zones, now)
        attempts.append(1)
        if len(attempts) == 1:
            writer = threading.Thread(
                target=host_insert, args=(url, (9, "reply_time", 40, 1, 5, None, AT))
            )
            writer.start()
            writers.append(writer)
            wait_until(lambda: sessions_waiting_for_locks(url) == 1, 10, "the host write to wait")
        return done

    with postgres_host(postgres_server_url) as url, opened(url) as rollups:
        host_insert(url, (1, "reply_time", 10, 1, 5, None, AT))
        monkeypatch.setattr(backfill_module, "drain", drain_then_host_writes)
        rollups.backfill(1, since=date(2026, 11, 20), until=date(2026, 11, 20))
        writers[0].join(30)
        assert not writers[0].is_alive()
        assert len(attempts) == 1
        assert rollups.sync().applied == 1  # event 9, folded once
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).clean


@pytest.mark.postgres
def test_a_rebuild_chunk_waits_for_an_open_host_write(postgres_server_url: str) -> None:
    """A host transaction that wrote the account and is still open: the chunk does not start
    (it could not see that write, nor keep it from committing after), but pauses and tries
    again, and rebuilds once the host commits."""
    with postgres_host(postgres_server_url) as url, opened(url) as rollups:
        host_insert(url, (1, "reply_time", 10, 1, 5, None, AT))
        host = psycopg.connect(url)
        host.execute(
            f"INSERT INTO reporting_events ({COLUMNS}) VALUES "
            f"(9, 'reply_time', 40, 20, 1, 5, 7, NULL, '{AT}', '{AT}')"
        )
        pauses: list[float] = []

        def pause(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 3:
                host.commit()

        try:
            backfill = attrs.evolve(rollups.backfiller, pause=pause)
            result = backfill.run(backfill.plan(1, date(2026, 11, 20), date(2026, 11, 20)))
        finally:
            host.close()
        assert pauses == [0.01, 0.02, 0.04]
        assert result.events == 2  # the host's row, committed before the chunk ran
        assert rollups.sync().applied == 0  # ... and applied by the chunk's drain
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).clean


@pytest.mark.postgres
def test_rebuilds_finish_under_a_steady_host_load_on_the_same_account(
    postgres_server_url: str,
) -> None:
    """Liveness: a host committing small inserts of the account back to back, on the days
    being rebuilt, cannot keep a rebuild from finishing (its chunks hold the host's writes of
    the account: at most one chunk's time of waiting for the host)."""
    with postgres_host(postgres_server_url) as url, opened(url) as rollups:
        stop = threading.Event()
        written: list[int] = []

        def host() -> None:
            with psycopg.connect(url, autocommit=True) as connection:
                next_id = 1
                while not stop.is_set() or len(written) < 50:
                    connection.execute(
                        f"INSERT INTO reporting_events ({COLUMNS}) VALUES "
                        f"({next_id}, 'reply_time', {next_id % 50}, 1, 1, 5, 7, NULL, "
                        f"'2026-11-{18 + next_id % 4} 12:00', now())"
                    )
                    written.append(next_id)
                    next_id += 1

        writer = threading.Thread(target=host)
        writer.start()
        try:
            wait_until(lambda: len(written) > 20, 10, "the host to write")
            for _ in range(3):
                rollups.rebuild(1)
        finally:
            stop.set()
            writer.join(30)
        rollups.sync()
        assert len(written) >= 50
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).clean


def test_sync_command(tmp_path: Any) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    with opened(db):
        host_insert(db, (1, "reply_time", 10, 1, 5, None, AT), (2, "reply_time", 4, 3, 5, None, AT))
    runner = CliRunner()
    result = runner.invoke(app, ["--db", db, "sync"])
    assert result.exit_code == 0, result.output
    assert "applied 1, retracted 0, consumed 2 change(s)" in result.stdout
    assert "0 pending" in result.stdout
    result = runner.invoke(app, ["--db", "memory://", "sync"])
    assert result.exit_code == 0
    assert "consumed 0 change(s)" in result.stdout


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_sync_follow_applies_as_the_host_writes_and_stops_cleanly_on_a_signal(
    host_url: str, stop_signal: int
) -> None:
    """`rollups sync --follow` in its own process: the host writes while it runs; SIGTERM or
    SIGINT (its normal stop) ends it after the batch it is applying, with the totals and exit
    0; the rows then equal the reference and `verify` is clean."""
    with opened(host_url):
        pass
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reporting_rollups.adapters.cli",
            "--db",
            host_url,
            "sync",
            "--follow",
            "--interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with open_rollups(host_url, clock=fixed_clock) as rollups:
            for batch in range(5):
                first = 1 + batch * 20
                host_insert(
                    host_url,
                    *[(i, "reply_time", i, 1, 5, None, AT) for i in range(first, first + 20)],
                )
            host_sql(host_url, "DELETE FROM reporting_events WHERE id <= 10")
            deadline = time.monotonic() + 30
            while rollups.capture.status().pending and time.monotonic() < deadline:
                time.sleep(0.05)
            assert rollups.capture.status().pending == 0
            daemon.send_signal(stop_signal)
            out, err = daemon.communicate(timeout=30)
            assert daemon.returncode == 0, err
            assert "Traceback" not in err
            assert "applied" in out
            assert out.strip().splitlines()[-1].startswith("stopped: applied 100, retracted 10")
            assert rows(rollups) == expected(rollups)
            assert rollups.verify(1).mismatches == []
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def test_sync_interval_is_checked(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        app, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "sync", "--follow", "--interval", "0"]
    )
    assert result.exit_code == 2
    assert "--interval" in result.stderr


@pytest.mark.postgres
@pytest.mark.slow
def test_a_sync_killed_mid_batch_loses_and_doubles_nothing(postgres_server_url: str) -> None:
    """A `rollups sync` process is SIGKILLed while its batch has taken (deleted) changes,
    marked them and waits to upsert a rollup row a side connection holds: its transaction rolls
    back with the changes still in the log, and the rerun applies each of them once."""
    with postgres_host(postgres_server_url) as url, opened(url) as rollups:
        host_insert(url, (1, "reply_time", 1, 1, 5, None, AT))
        rollups.sync()
        host_insert(url, *[(i, "reply_time", i, 1, 5, None, AT) for i in range(2, 2001)])
        blocker = psycopg.connect(url)
        blocker.execute("SELECT 1 FROM reporting_events_rollups WHERE account_id = 1 FOR UPDATE")
        child = subprocess.Popen(
            [sys.executable, "-m", "reporting_rollups.adapters.cli", "--db", url, "sync"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: sessions_waiting_for_locks(url) >= 1, 30, "sync to block")
            with psycopg.connect(url) as probe:  # what the blocked batch has done so far
                assert probe.execute(
                    "SELECT count(*) FROM reporting_rollup_changes"
                ).fetchone() == (1999,)  # its deletes are not visible, not committed
            child.kill()
            assert child.wait(30) == -signal.SIGKILL
        finally:
            blocker.rollback()
            blocker.close()
        wait_until(lambda: other_backends(url, writing=True) == 0, 30, "the killed batch to end")
        assert rollups.capture.status().pending == 1999
        assert rollups.sync().applied == 1999
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).mismatches == []


def test_catch_up_folds_the_rows_written_before_capture_was_installed(host_url: str) -> None:
    host_insert(  # the host's history, before the library was there
        host_url,
        (1, "reply_time", 10, 1, 5, None, "2026-10-03 12:00:00.000000"),
        (2, "conversation_resolved", 20, 1, 6, 4, AT),
        (3, "reply_time", 30, 2, 5, None, AT),  # account 2 gets no zone
    )
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE, rebuild=False)
        rollups.record([event(4, "reply_time", value=5.0, user_id=5)])
        rollups.capture.install()
        host_insert(host_url, (5, "reply_time", 7, 1, 5, None, AT))  # captured
        caught = rollups.catch_up()
        # the days from Oct 3 to Nov 20 hold rows 1, 2, the recorded 4 and the captured 5
        assert (caught.accounts, caught.events) == (1, 4)
        assert rollups.sync().consumed == 0  # the rebuild applied the captured change first
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).mismatches == []
        assert rollups.catch_up().accounts == 0  # nothing left unseen
        assert rollups.rows(2) == []


def test_catch_up_commands(tmp_path: Any) -> None:
    db = f"sqlite:///{tmp_path / 'catch.db'}"
    with opened(db):
        pass
    with open_rollups(db) as rollups:
        rollups.capture.remove()
    host_insert(db, (1, "reply_time", 10, 1, 5, None, AT))  # not captured
    runner = CliRunner()
    result = runner.invoke(app, ["--db", db, "capture", "install", "--catch-up"])
    assert result.exit_code == 0, result.output
    assert "caught up: 1 account(s)" in result.stdout
    assert "change capture installed" in result.stdout
    host_sql(db, "DELETE FROM reporting_rollup_applied_events")  # as if never seen
    result = runner.invoke(app, ["--db", db, "sync", "--catch-up"])
    assert result.exit_code == 0, result.output
    assert "caught up: 1 account(s)" in result.stdout
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rows(rollups) == expected(rollups)


@pytest.mark.postgres
@pytest.mark.slow
def test_stress_host_writes_with_racing_sync_workers_and_backfills(
    postgres_server_url: str,
) -> None:
    """Stochastic: a host thread inserts, updates (value, day, account) and deletes at random
    while two sync workers and a backfill loop run against the same accounts; after a last
    sync the rows of every account equal a plain aggregation of the raw rows, and `verify` is
    clean."""
    accounts = (1, 2)
    with postgres_host(postgres_server_url) as url, opened(url) as rollups:
        rollups.set_timezone(2, ZONE)
        stop = threading.Event()
        errors: list[BaseException] = []
        consumed: list[int] = []  # by the workers while the host wrote
        backfills: list[int] = []

        def host() -> None:
            rng = random.Random(20261201)
            live: list[int] = []
            next_id = 1
            with psycopg.connect(url, autocommit=True) as connection:
                for _ in range(400):
                    action = rng.random()
                    if action < 0.55 or len(live) < 5:
                        batch = [next_id + i for i in range(rng.randint(1, 20))]
                        next_id += len(batch)
                        values = ", ".join(
                            f"({i}, '{rng.choice(['reply_time', 'conversation_bot_handoff'])}',"
                            f" {rng.randint(1, 99)}, 1, {rng.choice(accounts)}, 5, 7,"
                            f" {rng.randint(1, 4)}, '2026-11-{rng.randint(18, 21)} 12:00', now())"
                            for i in batch
                        )
                        connection.execute(
                            f"INSERT INTO reporting_events ({COLUMNS}) VALUES {values}"
                        )
                        live += batch
                    elif action < 0.8:
                        target = rng.choice(live)
                        connection.execute(
                            "UPDATE reporting_events SET value = value + 1, account_id = %s, "
                            "created_at = created_at + interval '20 hours' WHERE id = %s",
                            (rng.choice(accounts), target),
                        )
                    else:
                        target = live.pop(rng.randrange(len(live)))
                        connection.execute("DELETE FROM reporting_events WHERE id = %s", (target,))

        def syncer() -> None:
            try:
                with open_rollups(url, clock=fixed_clock, migrate=False) as worker:
                    while not stop.is_set():
                        consumed.append(worker.sync().consumed)
            except BaseException as error:
                errors.append(error)

        def backfiller() -> None:
            try:
                with open_rollups(url, clock=fixed_clock, migrate=False) as worker:
                    while not stop.is_set():
                        for account in accounts:
                            worker.backfill(account, date(2026, 11, 17), date(2026, 11, 23))
                            backfills.append(account)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=target) for target in (syncer, syncer, backfiller)]
        for thread in threads:
            thread.start()
        try:
            host()
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert errors == []
        assert sum(consumed) > 0  # the workers really raced the host
        assert len(backfills) >= 2
        rollups.sync()
        assert rollups.capture.status().pending == 0
        assert rows(rollups, accounts) == expected(rollups, accounts)
        assert [rollups.verify(account).mismatches for account in accounts] == [[], []]


@pytest.mark.postgres
@pytest.mark.slow
def test_end_to_end_on_a_chatwoot_layout_with_sync_follow(postgres_server_url: str) -> None:
    """A database laid out like Chatwoot's (its reporting_events, reporting_events_rollups and
    accounts tables, from the reference schema file): the library migrates beside them,
    captures, catches up on the host's history and runs `rollups sync --follow` in its own
    process while a simulated host inserts, updates and deletes; after SIGTERM the rows equal a
    plain aggregation of the raw rows and `verify` is clean."""
    with fresh_database(postgres_server_url) as url:
        with psycopg.connect(url, autocommit=True) as connection:
            tables = ("reporting_events", "reporting_events_rollups", "accounts")
            for statement in reference_statements("postgresql", tables):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO accounts (id, name, created_at, updated_at, settings) VALUES "
                "(1, 'Acme', now(), now(), '{\"reporting_timezone\": \"America/New_York\"}')"
            )
        host_insert(url, *[(i, "reply_time", i, 1, 5, None, AT) for i in range(1, 51)])
        with open_rollups(url, clock=fixed_clock) as rollups:
            rollups.set_timezone(1, ZONE, rebuild=False)
            rollups.capture.install()
            assert rollups.catch_up().accounts == 1  # the 50 rows written before
            command = ["sync", "--follow", "--interval", "0.05"]
            daemon = subprocess.Popen(
                [sys.executable, "-m", "reporting_rollups.adapters.cli", "--db", url, *command],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                rng = random.Random(7)
                live, next_id = list(range(1, 51)), 51
                with psycopg.connect(url, autocommit=True) as host:
                    for _ in range(300):
                        action = rng.random()
                        if action < 0.5:
                            host.execute(
                                f"INSERT INTO reporting_events ({COLUMNS}) VALUES (%s, "
                                "'conversation_resolved', %s, 1, 1, 5, 7, %s, "
                                "'2026-11-20 16:00', now())",
                                (next_id, rng.randint(1, 500), rng.randint(1, 9)),
                            )
                            live.append(next_id)
                            next_id += 1
                        elif action < 0.8:
                            host.execute(
                                "UPDATE reporting_events SET value = value * 2 WHERE id = %s",
                                (rng.choice(live),),
                            )
                        else:
                            host.execute(
                                "DELETE FROM reporting_events WHERE id = %s",
                                (live.pop(rng.randrange(len(live))),),
                            )
                deadline = time.monotonic() + 30
                while rollups.capture.status().pending and time.monotonic() < deadline:
                    time.sleep(0.05)
                daemon.send_signal(signal.SIGTERM)
                _out, err = daemon.communicate(timeout=30)
                assert daemon.returncode == 0, err
            finally:
                if daemon.poll() is None:
                    daemon.kill()
                    daemon.wait()
            assert rollups.capture.status().pending == 0
            assert rows(rollups) == expected(rollups)
            assert rollups.verify(1).mismatches == []
