"""Fleet runs (`FleetRun`, `rollups ... --all`, `rollups jobs`) on every backend: every zoned
account, exact results, an account's error recorded while the run goes on, resumable jobs (an
interruption, then a rerun that does only the rest), PostgreSQL accounts in parallel, and a CLI
run killed with SIGKILL then finished by the same command."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import text

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.job_locks import FileJobLocks, InProcessJobLocks
from reporting_rollups.adapters.sql.backends import engine_for_url
from reporting_rollups.application.backfill import BackfillResult
from reporting_rollups.application.fleet import FleetRun
from reporting_rollups.application.ports import Progress
from reporting_rollups.application.service import Rollups
from reporting_rollups.application.verify import VerifyResult
from reporting_rollups.domain.errors import ConfigurationError, JobRunningError, StorageError
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from tests.builders import event, utc
from tests.conftest import fixed_clock, reset_postgres
from tests.integration.workers import wait_until

ACCOUNTS = (1, 2, 3, 4, 5)
UNZONED = 9
DAY = date(2026, 11, 20)


def populate(rollups: Rollups, accounts: tuple[int, ...] = ACCOUNTS) -> None:
    """Zoned accounts with events on three days, an account without a zone."""
    for account in accounts:
        rollups.set_timezone(account, "UTC")
    events, next_id = [], 1
    for account in (*accounts, UNZONED):
        for day in (10, 15, 20):
            events.append(event(next_id, at=utc(2026, 11, day, 9), account_id=account))
            events.append(
                event(
                    next_id + 1, "reply_time", value=3.0, at=utc(2026, 11, day), account_id=account
                )
            )
            next_id += 2
    rollups.record(events)


def tamper(rollups: Rollups, account: int, day: date = DAY) -> None:
    key = RollupKey(account, day, DimensionType.ACCOUNT, account, Metric.REPLY_TIME)
    with rollups.uow_factory() as uow:
        uow.rollups.add({key: MetricContribution(1, 9.0, 0.0)})
        uow.commit()


def fleet_of(rollups: Rollups, parallel: bool = False, **changes: Any) -> FleetRun:
    fleet = FleetRun(
        rollups.uow_factory,
        rollups.backfiller.clock,
        rollups.backfiller,
        rollups.settings,
        rollups.verifier,
        parallel_ok=parallel,
    )
    return attrs.evolve(fleet, **changes)


@attrs.define
class Rebuilds:
    """A wrapped `rebuild` that records its accounts, and fails or waits as a test asks."""

    rollups: Rollups
    calls: list[int] = attrs.field(factory=list)
    interrupt_at: int | None = None  #: raise KeyboardInterrupt at this call (1-based)
    failing: set[int] = attrs.field(factory=set)
    barrier: threading.Barrier | None = None
    running: int = 0
    most: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def rebuild(self, account_id: int, progress: Progress | None = None) -> BackfillResult:
        with self.lock:
            self.calls.append(account_id)
            self.running += 1
            self.most = max(self.most, self.running)
            call = len(self.calls)
        try:
            if call == self.interrupt_at:
                raise KeyboardInterrupt
            if account_id in self.failing:
                raise StorageError(f"account {account_id}: the server went away")
            if self.barrier is not None:
                self.barrier.wait()
            return self.rollups.settings.rebuild(account_id, progress)
        finally:
            with self.lock:
                self.running -= 1


def mismatches(rollups: Rollups) -> dict[int, int]:
    return {account: len(rollups.verify(account).mismatches) for account in ACCOUNTS}


def test_verify_then_rebuild_every_zoned_account_exactly(backend: Rollups) -> None:
    populate(backend)
    tamper(backend, 2)
    tamper(backend, 4, date(2026, 11, 10))
    seen: list[tuple[int, int, list[int]]] = []
    fleet = fleet_of(backend)
    found = fleet(
        "verify", progress=lambda done, total, running: seen.append((done, total, [*running]))
    )
    assert [o.account_id for o in found.outcomes] == list(ACCOUNTS)  # not the unzoned one
    assert {o.account_id: o.mismatches for o in found.outcomes} == mismatches(backend)
    assert [o.account_id for o in found.mismatched] == [2, 4]
    assert found.job.finished
    assert found.job.accounts_done == len(ACCOUNTS)
    assert seen[0] == (0, 5, [1])
    assert seen[-1] == (5, 5, [])
    rebuilt = fleet("rebuild")
    assert rebuilt.job.id != found.job.id
    assert not rebuilt.failed
    assert rebuilt.events == 6 * len(ACCOUNTS)
    assert rebuilt.days == 14 * len(ACCOUNTS)
    assert mismatches(backend) == dict.fromkeys(ACCOUNTS, 0)
    again = fleet("verify")
    assert again.job.id not in (found.job.id, rebuilt.job.id)  # a finished job is never resumed
    assert again.mismatches == 0


def test_backfill_with_a_range_rebuilds_only_that_range(backend: Rollups) -> None:
    populate(backend)
    tamper(backend, 1, date(2026, 11, 10))
    tamper(backend, 3, date(2026, 11, 20))
    result = fleet_of(backend)("backfill", since=date(2026, 11, 5), until=date(2026, 11, 12))
    assert result.days == 8 * len(ACCOUNTS)
    assert result.events == 2 * len(ACCOUNTS)
    assert mismatches(backend) == {1: 0, 2: 0, 3: 1, 4: 0, 5: 0}


def test_an_account_error_is_recorded_the_run_goes_on_and_a_rerun_retries_it(
    backend: Rollups,
) -> None:
    populate(backend)
    for account in ACCOUNTS:
        tamper(backend, account)
    failing = Rebuilds(backend, failing={3})
    first = fleet_of(backend, rebuilds=failing)("rebuild")
    assert [(o.account_id, o.error) for o in first.failed] == [
        (3, "account 3: the server went away")
    ]
    assert failing.calls == list(ACCOUNTS)
    assert not first.job.finished  # an account failed: the job stays resumable
    assert mismatches(backend) == {1: 0, 2: 0, 3: 1, 4: 0, 5: 0}
    retry = Rebuilds(backend)
    second = fleet_of(backend, rebuilds=retry)("rebuild")
    assert second.job.id == first.job.id
    assert second.job.finished
    assert retry.calls == [3]
    assert second.skipped == 4
    assert mismatches(backend) == dict.fromkeys(ACCOUNTS, 0)


def test_an_interrupted_run_resumes_with_the_accounts_it_did_not_finish(
    backend: Rollups,
) -> None:
    populate(backend)
    for account in ACCOUNTS:
        tamper(backend, account)
    interrupted = Rebuilds(backend, interrupt_at=3)
    fleet = fleet_of(backend, rebuilds=interrupted)
    with pytest.raises(KeyboardInterrupt):
        fleet("rebuild")
    with backend.uow_factory(read_only=True) as uow:
        [job] = uow.jobs.recent(10)
        assert uow.jobs.accounts(job.id) == {1: None, 2: None}
    assert not job.finished
    assert job.accounts_done == 2
    resumed = Rebuilds(backend)
    result = fleet_of(backend, rebuilds=resumed)("rebuild", resume=job.id)
    assert resumed.calls == [3, 4, 5]
    assert result.job.id == job.id
    assert result.job.finished
    assert [o.skipped for o in result.outcomes] == [True, True, False, False, False]
    assert mismatches(backend) == dict.fromkeys(ACCOUNTS, 0)
    with pytest.raises(ConfigurationError, match="never resumed"):
        fleet_of(backend)("rebuild", resume=job.id)
    with pytest.raises(ConfigurationError, match="no such job"):
        fleet_of(backend)("rebuild", resume=job.id + 100)


def interrupting_verify(
    account_id: int,
    since: date | None = None,
    until: date | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    raise KeyboardInterrupt


def test_a_rerun_with_other_arguments_is_another_job(backend: Rollups) -> None:
    populate(backend)
    fleet = fleet_of(backend, verify=interrupting_verify)
    with pytest.raises(KeyboardInterrupt):
        fleet("verify", since=date(2026, 11, 1))
    with backend.uow_factory(read_only=True) as uow:
        [unfinished] = uow.jobs.recent(10)
    with pytest.raises(ConfigurationError, match="not a verify"):
        fleet_of(backend)("verify", resume=unfinished.id)
    other = fleet_of(backend)("verify", since=date(2026, 11, 2))
    assert other.job.id != unfinished.id
    assert other.job.finished
    same = fleet_of(backend)("verify", since=date(2026, 11, 1))
    assert same.job.id == unfinished.id
    assert same.job.finished


def test_pause_ms_waits_after_each_chunk_and_account(open_backend: Any) -> None:
    rollups = open_backend(chunk_days=7)
    populate(rollups, (1, 2))
    pauses: list[float] = []
    result = fleet_of(rollups, sleep=pauses.append)("rebuild", pause_ms=25)
    chunks = sum(-(-o.days // 7) for o in result.outcomes)
    assert pauses == [0.025] * (chunks + 2)


def test_max_rate_waits_after_each_account_for_its_share(backend: Rollups) -> None:
    """At most `max_rate` events/s: after each account, as long as its events at that rate
    would take, less the time it took (a clock the test controls: each reading 1 s later)."""
    populate(backend, (1, 2))
    ticks = iter(range(1_000))
    start = utc(2026, 11, 23, 12)
    clock = lambda: start + timedelta(seconds=next(ticks))  # noqa: E731
    pauses: list[float] = []
    fleet = fleet_of(backend, sleep=pauses.append, clock=clock)
    result = fleet("rebuild", max_rate=2.0)
    events = [o.events for o in result.outcomes]
    assert events == [6, 6]
    # 3 s at 2 events/s, less 2 s spent (the clock read when the account starts, when its
    # end is recorded, and after it)
    assert pauses == [pytest.approx(6 / 2.0 - 2.0)] * 2
    with pytest.raises(ConfigurationError, match="max_rate"):
        fleet("rebuild", max_rate=0)


def test_jobs_run_one_at_a_time_without_parallel_ok(backend: Rollups) -> None:
    populate(backend)
    counted = Rebuilds(backend)
    fleet_of(backend, rebuilds=counted)("rebuild", jobs=4)
    assert counted.most == 1
    assert counted.calls == list(ACCOUNTS)


@pytest.mark.postgres
def test_postgres_jobs_run_accounts_at_once(postgres_url: str) -> None:
    reset_postgres(postgres_url)
    rollups = open_rollups(postgres_url, clock=fixed_clock)
    try:
        populate(rollups, (1, 2, 3, 4))
        for account in (1, 2, 3, 4):
            tamper(rollups, account)
        pair = Rebuilds(rollups, barrier=threading.Barrier(2, timeout=30))  # waits for a partner
        result = fleet_of(rollups, parallel=True, rebuilds=pair)("rebuild", jobs=2)
        assert pair.most == 2
        assert sorted(pair.calls) == [1, 2, 3, 4]
        assert result.job.finished
        assert not result.failed
        assert all(not rollups.verify(account).mismatches for account in (1, 2, 3, 4))
        interrupted = Rebuilds(rollups, interrupt_at=2)
        with pytest.raises(KeyboardInterrupt):
            fleet_of(rollups, parallel=True, rebuilds=interrupted)("rebuild", jobs=2)
        with rollups.uow_factory(read_only=True) as uow:
            job = uow.jobs.recent(1)[0]
        assert not job.finished
        assert job.accounts_done <= 2
    finally:
        rollups.close()
        reset_postgres(postgres_url)


# -- the command line ---------------------------------------------------------------------------

CLI = (sys.executable, "-m", "reporting_rollups.adapters.cli")
MANY = tuple(range(1, 9))


def count(db: str, query: str) -> int:
    engine = engine_for_url(db)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--db", db, *args], capture_output=True, text=True, timeout=300, check=False
    )


def start_cli(db: str, *args: str) -> subprocess.Popen[str]:
    """The CLI running `args` on `db`, in its own process."""
    return subprocess.Popen(
        [*CLI, "--db", db, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


DONE_ACCOUNTS = "SELECT count(*) FROM reporting_rollup_job_accounts"


def wait_for_accounts(db: str, process: subprocess.Popen[str], accounts: int) -> None:
    """Wait until jobs have finished `accounts` accounts, with `process` still running."""
    wait_until(
        lambda: count(db, DONE_ACCOUNTS) >= accounts or process.poll() is not None,
        120,
        f"{accounts} account(s) done",
    )
    assert process.poll() is None, process.communicate()


def test_a_killed_fleet_rebuild_is_finished_by_the_same_command(db: str) -> None:
    with open_rollups(db) as rollups:
        populate(rollups, MANY)
        for account in MANY:
            tamper(rollups, account)
    args = ("rebuild", "--all", "--pause-ms", "150")
    process = start_cli(db, *args)
    done = DONE_ACCOUNTS
    try:
        wait_for_accounts(db, process, 2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    killed_after = count(db, done)
    assert 2 <= killed_after < len(MANY)
    listed = cli(db, "jobs")
    assert listed.returncode == 0, listed.stderr
    assert "unfinished" in listed.stdout
    finished = cli(db, *args)
    assert finished.returncode == 0, finished.stderr
    assert f"resuming, {killed_after} account(s) already done" in finished.stderr
    assert "job 1 finished" in finished.stdout
    assert count(db, "SELECT count(*) FROM reporting_rollup_jobs") == 1
    assert count(db, done) == len(MANY)
    verified = cli(db, "verify", "--all")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with open_rollups(db) as rollups:
        assert all(not rollups.verify(account).mismatches for account in MANY)


def test_fleet_verify_exits_1_on_mismatches_and_lists_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'rollups.db'}"
    with open_rollups(db) as rollups:
        populate(rollups)
        tamper(rollups, 4)
    found = cli(db, "verify", "--all", "--jobs", "3")
    assert found.returncode == 1, found.stderr
    assert "1 with mismatches" in found.stdout
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in found.stdout.splitlines()]
    assert ["4", "mismatches", "1", ""] in rows
    assert ["3", "ok", "0", ""] in rows
    assert "Traceback" not in found.stderr


def test_an_interrupted_fleet_run_prints_the_resume_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'rollups.db'}"
    with open_rollups(db) as rollups:
        populate(rollups, MANY)
    process = start_cli(db, "rebuild", "--all", "--pause-ms", "150")
    try:
        wait_for_accounts(db, process, 1)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "continue with: rollups --db" in err
    assert "rebuild --all --resume 1" in err
    assert "Traceback" not in err


def test_the_api_and_the_all_options_of_backfill_rebuild_and_verify(db: str) -> None:
    """`Rollups.backfill_all / rebuild_all / verify_all` and `rollups backfill --all`,
    `rebuild --all`, `verify --all`."""
    with open_rollups(db, clock=fixed_clock) as rollups:
        populate(rollups)
        tamper(rollups, 2)
        found = rollups.verify_all()
        assert [o.account_id for o in found.mismatched] == [2]
        assert rollups.rebuild_all(jobs=2).failed == []
        assert rollups.verify_all().mismatched == []
        assert rollups.backfill_all(since=date(2026, 11, 10), until=DAY).failed == []
        tamper(rollups, 3)
    verified = cli(db, "verify", "--all")
    assert verified.returncode == 1, verified.stderr
    assert "Traceback" not in verified.stderr
    assert cli(db, "rebuild", "--all", "--jobs", "2").returncode == 0
    assert (
        cli(db, "backfill", "--all", "--since", "2026-11-10", "--until", "2026-11-20").returncode
        == 0
    )
    assert cli(db, "verify", "--all").returncode == 0
    both = cli(db, "verify", "--all", "--account", "1")
    assert both.returncode == 2
    assert "give --account ID or --all" in both.stderr
    assert cli(db, "verify").returncode == 2


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("rebuild", "--account", "1", "--jobs", "2"), "--jobs 2: only with --all"),
        (("verify", "--account", "1", "--resume", "3"), "--resume 3: only with --all"),
        (("backfill", "--account", "1", "--max-rate", "500"), "--max-rate 500: only with --all"),
    ],
)
def test_options_of_a_job_over_accounts_are_refused_with_one_account(
    db: str, args: tuple[str, ...], named: str
) -> None:
    with open_rollups(db, clock=fixed_clock) as rollups:
        populate(rollups)
        before = rollups.rows(1)
    refused = cli(db, *args)
    assert refused.returncode == 2, refused.stderr
    assert named in refused.stderr
    assert "Traceback" not in refused.stderr
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.rows(1) == before


def test_pause_ms_paces_the_chunks_of_one_account(db: str) -> None:
    """`--pause-ms` with `--account`: a pause after each chunk of days but the last."""
    with open_rollups(db, clock=fixed_clock) as rollups:
        populate(rollups)
        tamper(rollups, 1)
    args = ("--since", "2026-11-01", "--until", "2026-11-20", "--yes", "--chunk-days", "5")
    started = time.monotonic()
    paced = cli(db, "backfill", "--account", "1", *args, "--pause-ms", "400")
    took = time.monotonic() - started
    assert paced.returncode == 0, paced.stderr
    assert took >= 3 * 0.4  # four chunks, three pauses
    assert cli(db, "verify", "--account", "1").returncode == 0


def test_a_second_runner_of_a_job_is_refused_until_the_first_is_gone(
    db: str, tmp_path: Path
) -> None:
    """One runner per job: the same command (or `--resume`) while the job runs elsewhere exits
    2 naming it; once the runner is gone (SIGKILL: the server or the OS drops its lock), the
    same command resumes the job."""
    with open_rollups(db) as rollups:
        populate(rollups, MANY)
        for account in MANY:
            tamper(rollups, account)
    first = start_cli(db, "rebuild", "--all", "--pause-ms", "2000")
    try:
        wait_for_accounts(db, first, 1)
        for args in (("rebuild", "--all"), ("rebuild", "--all", "--resume", "1")):
            refused = cli(db, *args)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "job 1 (rebuild --all) is being run by another process" in refused.stderr
            assert "Traceback" not in refused.stderr
        assert first.poll() is None  # the refusals did not disturb it
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    resumed = cli(db, "rebuild", "--all")
    assert resumed.returncode == 0, resumed.stderr
    assert "job 1 finished" in resumed.stdout
    assert count(db, "SELECT count(*) FROM reporting_rollup_jobs") == 1
    assert cli(db, "verify", "--all").returncode == 0
    assert list(tmp_path.glob("*-rollups-job-*.lock")) == []  # SQLite: the lock file went


def test_job_locks_within_one_process(tmp_path: Path) -> None:
    """The same job twice in one process (threads) is refused too; other jobs are not."""
    for locks in (InProcessJobLocks(), FileJobLocks(tmp_path / "r.db")):
        with locks.hold(1) as held, locks.hold(1) as again, locks.hold(2) as other:
            assert (held, again, other) == (True, False, True)
        with locks.hold(1) as later:
            assert later
    assert list(tmp_path.iterdir()) == []


def test_fleet_run_raises_job_running_error_for_a_held_job(db: str) -> None:
    with open_rollups(db, clock=fixed_clock) as rollups:
        populate(rollups)
        fleet = rollups.fleet()
        job = fleet.start("verify")
        assert rollups.job_locks is not None
        with rollups.job_locks.hold(job.id) as held:
            assert held
            with pytest.raises(JobRunningError) as caught:
                fleet.run(job)
        assert caught.value.job_id == job.id
        assert isinstance(caught.value, ConfigurationError)
        assert fleet.run(job).job.finished
