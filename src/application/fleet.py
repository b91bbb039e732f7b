"""Fleet runs: backfill, rebuild or verify every account with a zone, as one resumable job.

A run is a job in the library's tables (`JobStore`): its kind and arguments, and each account
it finished. An interrupted run (Ctrl-C, SIGKILL, a lost server) leaves the job unfinished;
resuming it (`resume=` its id, or a run of the same kind and arguments while it is unfinished)
skips the accounts it finished. The job is finished when every account ran without an error;
a finished job is never resumed (a new run then starts a new job).

An account is recorded as finished right after its use case returns, in a transaction of its
own (the use cases commit their chunks themselves): a crash in between redoes that account on
resume, which is safe because backfill and rebuild are idempotent and verify only reads. Each
chunk of days stays atomic. An account's library error (`RollupError`) is recorded in the
result and the run goes on with the next account.

With `parallel_ok` (PostgreSQL: each thread's units of work check out their own pooled
connection), `jobs` accounts run at once in threads; otherwise (SQLite writers are serialised,
memory holds one lock) one at a time whatever `jobs` says.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date
from typing import Final, Literal, Protocol, get_args

import attrs

from reporting_rollups.application.backfill import BackfillPlan, BackfillResult, check_range
from reporting_rollups.application.catch_up import zoned_accounts
from reporting_rollups.application.jobs import Job, JobLocks
from reporting_rollups.application.ports import Clock, Progress, UnitOfWorkFactory
from reporting_rollups.application.verify import VerifyResult
from reporting_rollups.domain.errors import ConfigurationError, JobRunningError, RollupError

#: What a fleet run does to each account.
Kind = Literal["backfill", "rebuild", "verify"]
KINDS: Final[tuple[str, ...]] = get_args(Kind)


def job_arguments(since: date | None = None, until: date | None = None) -> str:
    """The canonical JSON of a run's arguments: runs with equal arguments are the same job."""
    found = {"since": since, "until": until}
    return json.dumps(
        {name: str(value) for name, value in found.items() if value is not None},
        sort_keys=True,
        separators=(",", ":"),
    )


def _parse_arguments(arguments: str) -> tuple[date | None, date | None]:
    found = json.loads(arguments)
    since, until = found.get("since"), found.get("until")
    return (
        None if since is None else date.fromisoformat(since),
        None if until is None else date.fromisoformat(until),
    )


@attrs.frozen
class AccountOutcome:
    """What a fleet run did to one account."""

    account_id: int
    days: int = 0  #: local days rebuilt (backfill, rebuild)
    events: int = 0  #: raw events aggregated (backfill, rebuild)
    mismatches: int = 0  #: verify: rollup rows that differ from the raw events
    pending: int = 0  #: verify: captured changes not applied yet (their days not compared)
    rebuild_pending: bool = False  #: verify: the rollups are not current in the account's zone
    error: str | None = None  #: the library error that stopped this account
    skipped: bool = False  #: finished by an earlier run of the job (figures not known here)

    @property
    def ok(self) -> bool:
        """No error and no mismatch."""
        return self.error is None and not self.mismatches


@attrs.frozen
class FleetResult:
    """What a fleet run did: one outcome per account, sorted by account."""

    job: Job
    outcomes: list[AccountOutcome]

    @property
    def failed(self) -> list[AccountOutcome]:
        """Accounts stopped by an error."""
        return [outcome for outcome in self.outcomes if outcome.error is not None]

    @property
    def mismatched(self) -> list[AccountOutcome]:
        """Accounts with mismatches (verify)."""
        return [outcome for outcome in self.outcomes if outcome.mismatches]

    @property
    def skipped(self) -> int:
        """Accounts an earlier run of the job had finished."""
        return sum(outcome.skipped for outcome in self.outcomes)

    @property
    def events(self) -> int:
        """Raw events aggregated by this run."""
        return sum(outcome.events for outcome in self.outcomes)

    @property
    def days(self) -> int:
        """Local days rebuilt by this run."""
        return sum(outcome.days for outcome in self.outcomes)

    @property
    def mismatches(self) -> int:
        """Mismatches of every account (verify)."""
        return sum(outcome.mismatches for outcome in self.outcomes)


class FleetProgress(Protocol):
    """Called when an account starts and when it ends: accounts done of total (earlier runs'
    included), and the accounts under way, in account order."""

    def __call__(self, done: int, total: int, running: Sequence[int]) -> None: ...


class Backfills(Protocol):
    """What a fleet backfill needs (`Backfill`)."""

    def plan(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> BackfillPlan: ...

    def run(self, plan: BackfillPlan, progress: Progress | None = None) -> BackfillResult: ...


class Rebuilds(Protocol):
    """What a fleet rebuild needs (`AccountSettingsService`)."""

    def rebuild(self, account_id: int, progress: Progress | None = None) -> BackfillResult: ...


class Verifies(Protocol):
    """What a fleet verify needs (`Verify`)."""

    def __call__(
        self,
        account_id: int,
        since: date | None = None,
        until: date | None = None,
        progress: Progress | None = None,
    ) -> VerifyResult: ...


class _Stopped(Exception):
    """A worker stops at a chunk boundary because the run is being stopped."""


@attrs.define
class _Tracker:
    """Counts accounts done and under way, and calls the progress callback (thread-safe)."""

    total: int
    done: int
    progress: FleetProgress | None
    running: set[int] = attrs.field(factory=set)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, sorted(self.running))

    def started(self, account_id: int) -> None:
        with self.lock:
            self.running.add(account_id)
            self.report()

    def ended(self, account_id: int) -> None:
        with self.lock:
            self.running.discard(account_id)
            self.done += 1
            self.report()


@attrs.frozen
class FleetRun:
    """Runs one use case over every zoned account, as a resumable job."""

    uow_factory: UnitOfWorkFactory
    clock: Clock
    backfill: Backfills
    rebuilds: Rebuilds
    verify: Verifies
    #: whether accounts may run in parallel threads (PostgreSQL); else one at a time
    parallel_ok: bool = False
    #: how throttling waits (injected: tests pass a recorder)
    sleep: Callable[[float], None] = time.sleep
    #: one runner per job across processes (None: no lock, for a database only this runner
    #: uses)
    locks: JobLocks | None = None

    def __call__(
        self,
        kind: Kind,
        *,
        since: date | None = None,
        until: date | None = None,
        resume: int | None = None,
        jobs: int = 1,
        pause_ms: int = 0,
        max_rate: float | None = None,
        progress: FleetProgress | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> FleetResult:
        """`start` then `run`."""
        job = self.start(kind, since=since, until=until, resume=resume)
        return self.run(
            job, jobs=jobs, pause_ms=pause_ms, max_rate=max_rate, progress=progress, stop=stop
        )

    def start(
        self,
        kind: Kind,
        *,
        since: date | None = None,
        until: date | None = None,
        resume: int | None = None,
    ) -> Job:
        """The job to run: `resume` (`ConfigurationError` when unknown, finished, or of
        another kind or arguments), else the unfinished job of the same kind and arguments,
        else a new one."""
        if kind not in KINDS:
            raise ConfigurationError(f"fleet run {kind!r}: must be one of {', '.join(KINDS)}")
        if kind == "rebuild" and (since is not None or until is not None):
            raise ConfigurationError("a fleet rebuild takes no range: it rebuilds every day")
        check_range(since, until)
        arguments = job_arguments(since, until)
        with self.uow_factory() as uow:
            if resume is not None:
                job = uow.jobs.get(resume)
                _check_resumable(resume, job, kind, arguments)
            else:
                job = uow.jobs.unfinished(kind, arguments)
            if job is None:
                job = uow.jobs.start(kind, arguments, self.clock())
                uow.commit()
        assert job is not None
        return job

    def run(
        self,
        job: Job,
        *,
        jobs: int = 1,
        pause_ms: int = 0,
        max_rate: float | None = None,
        progress: FleetProgress | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> FleetResult:
        """Run the job's use case on every zoned account it has not finished, `jobs` at a time
        (when `parallel_ok`), pausing `pause_ms` after each chunk of days and each account, and
        with `max_rate` (events/s over the run) after each account as long as its events at
        that rate would have taken (the workers share the rate).
        `stop` is asked between chunks: when true, the accounts under way stop after their
        chunk and `KeyboardInterrupt` is raised (the job stays unfinished). The job is marked
        finished when no account had an error."""
        if jobs < 1 or pause_ms < 0:
            raise ConfigurationError(f"jobs={jobs}, pause_ms={pause_ms}: need jobs >= 1, >= 0 ms")
        if max_rate is not None and not max_rate > 0:
            raise ConfigurationError(f"max_rate={max_rate}: need events per second above 0")
        if job.finished:
            raise ConfigurationError(f"job {job.id} is finished: it is never resumed")
        with self._held(job):
            return self._run(job, jobs, pause_ms / 1000, max_rate, progress, stop)

    @contextlib.contextmanager
    def _held(self, job: Job) -> Iterator[None]:
        """The job held by this runner for the block; `JobRunningError` when another holds it
        (or finished it meanwhile)."""
        if self.locks is None:
            yield
            return
        with self.locks.hold(job.id) as held:
            if not held:
                raise JobRunningError(job.id, job.kind)
            with self.uow_factory(read_only=True) as uow:
                now = uow.jobs.get(job.id)
            if now is not None and now.finished:  # another runner finished it before we held it
                raise ConfigurationError(f"job {job.id} is finished: it is never resumed")
            yield

    def _run(
        self,
        job: Job,
        jobs: int,
        pause: float,
        max_rate: float | None,
        progress: FleetProgress | None,
        stop: Callable[[], bool],
    ) -> FleetResult:
        with self.uow_factory(read_only=True) as uow:
            finished = uow.jobs.accounts(job.id)
        accounts = list(zoned_accounts(self.uow_factory))
        outcomes = {
            account_id: AccountOutcome(
                account_id, mismatches=finished[account_id] or 0, skipped=True
            )
            for account_id in accounts
            if account_id in finished
        }
        todo = [account_id for account_id in accounts if account_id not in finished]
        tracker = _Tracker(len(accounts), len(outcomes), progress)
        halt = threading.Event()
        workers = jobs if self.parallel_ok and jobs > 1 and len(todo) > 1 else 1
        rate = None if max_rate is None else max_rate / workers
        work = _Work(self, job, pause, tracker, halt, stop, rate)
        if workers > 1:
            done = _in_parallel(work, todo, jobs, halt)
        else:
            done = [work(account_id) for account_id in todo]
        outcomes.update({outcome.account_id: outcome for outcome in done})
        if not any(outcome.error is not None for outcome in done):
            with self.uow_factory() as uow:
                uow.jobs.finish(job.id, self.clock())
                uow.commit()
        with self.uow_factory(read_only=True) as uow:
            now = uow.jobs.get(job.id) or job
        return FleetResult(now, [outcomes[account_id] for account_id in sorted(outcomes)])

    def account(
        self, kind: str, arguments: str, account_id: int, progress: Progress
    ) -> AccountOutcome:
        """Run the use case of `kind` on one account."""
        since, until = _parse_arguments(arguments)
        if kind == "backfill":
            plan = self.backfill.plan(account_id, since, until)
            result = self.backfill.run(plan, progress)
            return AccountOutcome(account_id, days=plan.days, events=result.events)
        if kind == "rebuild":
            result = self.rebuilds.rebuild(account_id, progress)
            return AccountOutcome(account_id, days=result.plan.days, events=result.events)
        found = self.verify(account_id, since, until, progress)
        return AccountOutcome(
            account_id,
            mismatches=len(found.mismatches),
            pending=found.pending,
            rebuild_pending=found.rebuild_pending,
        )


def _check_resumable(job_id: int, job: Job | None, kind: str, arguments: str) -> None:
    if job is None:
        raise ConfigurationError(f"job {job_id}: no such job (`rollups jobs` lists them)")
    if job.finished:
        raise ConfigurationError(
            f"job {job_id} finished at {job.finished_at}: a finished job is never resumed; "
            "run without resuming to start a new one"
        )
    if (job.kind, job.arguments) != (kind, arguments):
        raise ConfigurationError(
            f"job {job_id} is a {job.kind} with arguments {job.arguments}, not a {kind} with "
            f"arguments {arguments}"
        )


@attrs.frozen
class _Work:
    """One account of a run: its use case, throttled and stoppable, then its record."""

    fleet: FleetRun
    job: Job
    pause: float  #: seconds after each chunk and each account
    tracker: _Tracker
    halt: threading.Event  #: set when the run stops (an interruption or a failure elsewhere)
    stop: Callable[[], bool]
    rate: float | None = None  #: events/s of this worker's share of `max_rate`

    def check(self) -> None:
        if self.halt.is_set():
            raise _Stopped
        if self.stop():
            raise KeyboardInterrupt("stop requested")

    def chunk_done(self, done: int, total: int, last_day: date) -> None:
        if self.pause:
            self.fleet.sleep(self.pause)
        self.check()

    def __call__(self, account_id: int) -> AccountOutcome:
        self.check()
        fleet, job = self.fleet, self.job
        started = fleet.clock()
        self.tracker.started(account_id)
        try:
            outcome = fleet.account(job.kind, job.arguments, account_id, self.chunk_done)
        except RollupError as error:
            outcome = AccountOutcome(account_id, error=str(error))
        except BaseException:
            with self.tracker.lock:
                self.tracker.running.discard(account_id)
            raise
        if outcome.error is None:
            mismatches = outcome.mismatches if job.kind == "verify" else None
            with fleet.uow_factory() as uow:
                uow.jobs.account_done(job.id, account_id, fleet.clock(), mismatches)
                uow.commit()
        self.tracker.ended(account_id)
        if self.pause:
            fleet.sleep(self.pause)
        if self.rate is not None and outcome.events:
            spent = (fleet.clock() - started).total_seconds()
            if outcome.events / self.rate > spent:
                fleet.sleep(outcome.events / self.rate - spent)
        return outcome


def _in_parallel(
    work: _Work, todo: Sequence[int], jobs: int, halt: threading.Event
) -> list[AccountOutcome]:
    """`work` over `todo` in `jobs` threads; at the first exception (an interruption, a bug)
    the accounts under way stop at their next chunk boundary, the rest are not started, and
    the exception is raised."""
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="rollups-fleet")
    futures: list[Future[AccountOutcome]] = [pool.submit(work, account) for account in todo]
    outcomes: list[AccountOutcome] = []
    try:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            outcomes += [future.result() for future in finished]
    except BaseException:
        halt.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes
