"""`rollups backfill | rebuild | verify --all`: every account with a zone, as one resumable job
(the options and the run shared by those commands), and `rollups jobs`: the jobs, unfinished
first.

Ctrl-C or SIGTERM lets the chunks being written commit, then says how many accounts the job
finished and the command that continues it (exit 130). A SIGKILL leaves the job unfinished too:
the same command (or `--resume JOB`) continues it; finished accounts are not redone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Annotated, Final

import attrs
import typer
from rich.console import Console
from rich.table import Table

from reporting_rollups.adapters.cli.app import (
    EXIT_MISMATCH,
    EXIT_USAGE,
    CliInputError,
    command,
    open_database,
    state_of,
)
from reporting_rollups.adapters.cli.interrupts import (
    continue_command,
    interrupted,
    stopping,
)
from reporting_rollups.adapters.cli.options import parse_range
from reporting_rollups.adapters.cli.tables import integer, progress_bar
from reporting_rollups.application.fleet import (
    AccountOutcome,
    FleetProgress,
    FleetResult,
    FleetRun,
    Kind,
)
from reporting_rollups.application.jobs import Job
from reporting_rollups.application.service import Rollups

#: Finished jobs `rollups jobs` lists (after every unfinished one).
RECENT_JOBS: Final = 10

#: Up to this many accounts, the summary lists every one; above, only those not plainly ok.
LISTED_ACCOUNTS: Final = 50

JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs", "-j", min=1, max=15, metavar="N", help="Accounts at once (PostgreSQL only)."
    ),
]
ResumeOption = Annotated[
    int | None,
    typer.Option("--resume", min=1, metavar="JOB", help="Continue this unfinished job."),
]
PauseOption = Annotated[
    int,
    typer.Option(
        "--pause-ms",
        min=0,
        metavar="MS",
        help="Pause after each chunk of days (and, with --all, each account).",
    ),
]


MaxRateOption = Annotated[
    float | None,
    typer.Option(
        "--max-rate",
        min=1,
        metavar="EVENTS/S",
        help="With --all: at most this many events per second over the run (after each account).",
    ),
]


def fleet_of(rollups: Rollups, url: str) -> FleetRun:
    """The fleet runner of `rollups`: accounts in parallel on PostgreSQL only."""
    return rollups.fleet()


AllOption = Annotated[bool, typer.Option("--all", help="Every account with a zone (a job).")]
OptionalAccount = Annotated[int | None, typer.Option("--account", "-a", min=1, help="Account id.")]


def one_or_all(
    ctx: typer.Context,
    kind: Kind,
    account: int | None,
    every: bool,
    fleet_options: tuple[str | None, str | None, int, int | None, int, float | None],
) -> int | None:
    """The account a command works on; None after running it over every account (`--all`)."""
    if (account is None) == (not every):
        raise CliInputError("give --account ID or --all (one of them)")
    since, until, jobs, resume, pause_ms, max_rate = fleet_options
    if account is not None:
        for option, value, default in (("--jobs", jobs, 1), ("--resume", resume, None)):
            if value != default:
                raise CliInputError(f"{option} {value}: only with --all (a job over accounts)")
        if max_rate is not None:
            raise CliInputError(
                f"--max-rate {max_rate:g}: only with --all (with --account, use --pause-ms)"
            )
        return account
    run_fleet(ctx, kind, since, until, jobs, resume, pause_ms, max_rate)
    return None


@attrs.define
class _Seen:
    """The last progress a run reported."""

    done: int = 0
    total: int = 0


@contextlib.contextmanager
def _progress(console: Console, description: str, seen: _Seen) -> Iterator[FleetProgress]:
    bar = progress_bar(console, "accounts")
    task = bar.add_task(description, total=None)

    def update(done: int, total: int, running: Sequence[int]) -> None:
        seen.done, seen.total = done, total
        now = ", ".join(map(str, running[:8])) + (" ..." if len(running) > 8 else "")
        label = f"{description} (accounts {now})" if running else description
        bar.update(task, completed=done, total=total, description=label)

    with bar:
        yield update


def _outcome_cells(kind: str, outcome: AccountOutcome) -> list[str]:
    if outcome.error is not None:
        return ["error", "-", outcome.error]
    if outcome.skipped:
        figure = integer(outcome.mismatches) if kind == "verify" else "-"
        return ["done before", figure, "finished by an earlier run of the job"]
    if kind == "verify":
        notes = []
        if outcome.pending:
            notes.append(f"{integer(outcome.pending)} pending change(s)")
        if outcome.rebuild_pending:
            notes.append("rebuild pending")
        state = "mismatches" if outcome.mismatches else "ok"
        return [state, integer(outcome.mismatches), "; ".join(notes)]
    return ["ok", integer(outcome.events), f"{integer(outcome.days)} day(s)"]


def summary_table(result: FleetResult) -> Table:
    """One row per account (only those not plainly ok above `LISTED_ACCOUNTS`), the totals
    in the caption."""
    job = result.job
    figure = "mismatches" if job.kind == "verify" else "events"
    table = Table(title=f"Job {job.id}: {job.kind} of {integer(len(result.outcomes))} account(s)")
    for name in ("account", "outcome", figure, "note"):
        table.add_column(name, justify="right" if name in ("account", figure) else "left")
    listed = result.outcomes
    if len(listed) > LISTED_ACCOUNTS:
        listed = [o for o in listed if not o.ok or o.pending or o.rebuild_pending]
    for outcome in listed:
        table.add_row(str(outcome.account_id), *_outcome_cells(job.kind, outcome))
    state = "finished" if job.finished else "unfinished (rerun to retry the failed accounts)"
    totals = [
        f"job {job.id} {state}",
        f"{integer(len(result.failed))} failed",
        f"{integer(result.skipped)} done before",
    ]
    if job.kind == "verify":
        totals.append(f"{integer(len(result.mismatched))} with mismatches")
    else:
        totals.append(f"{integer(result.events)} events, {integer(result.days)} days")
    table.caption = "; ".join(totals)
    return table


def run_fleet(
    ctx: typer.Context,
    kind: Kind,
    since: str | None,
    until: str | None,
    jobs: int,
    resume: int | None,
    pause_ms: int,
    max_rate: float | None = None,
) -> None:
    """Run `kind` over every zoned account as a job, print the summary; exit 1 on mismatches,
    2 when an account failed, 130 when interrupted (with the command that resumes)."""
    state = state_of(ctx)
    first, last = parse_range(since, until)
    seen = _Seen()
    job: Job | None = None
    with stopping("chunk") as stop:
        try:
            with open_database(state) as rollups:
                fleet = fleet_of(rollups, state.url)
                job = fleet.start(kind, since=first, until=last, resume=resume)
                if job.accounts_done:
                    state.err.print(
                        f"job {job.id}: resuming, {integer(job.accounts_done)} account(s) "
                        "already done"
                    )
                with _progress(state.err, f"job {job.id} {kind}", seen) as progress:
                    result = fleet.run(
                        job,
                        jobs=jobs,
                        pause_ms=pause_ms,
                        max_rate=max_rate,
                        progress=progress,
                        stop=lambda: stop.signal is not None,
                    )
        except KeyboardInterrupt:
            if job is None:
                interrupted(state, stop, "nothing", "the whole run", "rerun the same command")
            resume_with = continue_command(state, kind, "--all", "--resume", str(job.id))
            interrupted(
                state,
                stop,
                f"job {job.id}: {integer(seen.done)} of {integer(seen.total)} account(s) done",
                "the other accounts (the job is unfinished)",
                f"continue with: {resume_with}",
            )
    state.out.print(summary_table(result))
    if result.failed or result.mismatched:
        raise typer.Exit(EXIT_USAGE if result.failed else EXIT_MISMATCH)


def _when(value: date | object | None) -> str:
    return "-" if value is None else str(value)[:19]


@command("jobs")
def list_jobs(ctx: typer.Context) -> None:
    """Fleet jobs: every unfinished one (resumable) and the most recent finished ones."""
    state = state_of(ctx)
    with open_database(state, migrate=False) as rollups, rollups.uow_factory(read_only=True) as uow:
        found = uow.jobs.recent(RECENT_JOBS)
    table = Table(title="Fleet jobs")
    for name in ("job", "kind", "arguments", "started", "finished", "accounts done"):
        table.add_column(name, justify="right" if name in ("job", "accounts done") else "left")
    for job in found:
        table.add_row(
            str(job.id),
            job.kind,
            job.arguments,
            _when(job.started_at),
            _when(job.finished_at) if job.finished else "unfinished",
            integer(job.accounts_done),
        )
    state.out.print(table if found else "no fleet jobs")
