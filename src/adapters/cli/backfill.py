"""`rollups backfill` and `rollups rebuild`: rebuild rollups from raw events.

Ctrl-C or SIGTERM lets the chunk being written commit, then says which days were rebuilt, which
were not and the command that continues (exit 130, see `interrupts`)."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Annotated, Final, NoReturn

import attrs
import typer
from rich.table import Table

from reporting_rollups.adapters.cli.app import (
    State,
    command,
    open_database,
    require_account,
    state_of,
)
from reporting_rollups.adapters.cli.fleet import (
    AllOption,
    JobsOption,
    MaxRateOption,
    OptionalAccount,
    PauseOption,
    ResumeOption,
    one_or_all,
)
from reporting_rollups.adapters.cli.interrupts import (
    CommittedDays,
    Stop,
    chunk_progress,
    command_words,
    continue_command,
    interrupted,
    stopping,
)
from reporting_rollups.adapters.cli.options import (
    SinceOption,
    UntilOption,
    parse_range,
)
from reporting_rollups.adapters.cli.output import print_backfill_result
from reporting_rollups.adapters.cli.tables import integer, label_table
from reporting_rollups.application.backfill import BackfillPlan

#: Backfills longer than this ask for a second thought.
LONG_BACKFILL_DAYS: Final = 730


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _confirm(plan: BackfillPlan, stop: Stop) -> bool:
    """Ask before a backfill writes; end of input, Ctrl-C or SIGTERM at the prompt is an
    interruption."""
    question = f"Rebuild {plan.days} day(s) of account {plan.account_id}?"
    try:
        with stop.anytime():
            return typer.confirm(question, default=True, err=True)
    except typer.Abort:
        raise KeyboardInterrupt from None


def _plan_table(plan: BackfillPlan, replaced: int | None = None) -> Table:
    rows = [
        ("account", str(plan.account_id)),
        ("time zone", plan.timezone),
        ("range", f"{plan.since} to {plan.until}" if plan.since else "-"),
        ("days", integer(plan.days)),
        ("first event", str(plan.first_event or "-")),
        ("last event", str(plan.last_event or "-")),
    ]
    if replaced is not None:
        rows.append(("rollup rows replaced", integer(replaced)))
    return label_table(f"Backfill plan, account {plan.account_id}", rows)


def rebuild_interrupted(
    state: State,
    stop: Stop,
    account: int,
    done: CommittedDays,
    words: list[str],
    before: str = "",
) -> NoReturn:
    """What an interrupted rebuild of `account` committed (after `before`, what else the
    command committed), and the command that rebuilds it: `words` (it starts over)."""
    if done.last_day is None:
        rebuilt = "no chunk of days had committed"
        committed = f"account {account}: {before}{rebuilt}" if before else f"nothing ({rebuilt})"
    else:
        rebuilt = (
            f"rebuilt {integer(done.days)} of {integer(done.total or done.days)} day(s), "
            f"through {done.last_day}"
        )
        committed = f"account {account}: {before}{rebuilt}"
    left = (
        "the days after those; the rollups are not marked current by this run"
        if done.last_day is not None
        else "every day; the rollups are not marked current by this run"
    )
    again = continue_command(state, *words)
    interrupted(state, stop, committed, left, f"continue with: {again} (starts over)")


def _backfill_interrupted(
    ctx: typer.Context, stop: Stop, plan: BackfillPlan | None, done: CommittedDays
) -> NoReturn:
    """What an interrupted backfill rebuilt, and the command rebuilding the rest."""
    state = state_of(ctx)
    if plan is None or plan.since is None or plan.until is None:
        resume = continue_command(state, *command_words(ctx, yes=True))
        interrupted(state, stop, "nothing", "the whole backfill", f"continue with: {resume}")
    committed = "nothing (no chunk of days had committed)"
    first_left = plan.since
    if done.last_day is not None:
        committed = (
            f"account {plan.account_id}: rebuilt {integer(done.days)} of {integer(plan.days)} "
            f"day(s), {plan.since} to {done.last_day}"
        )
        first_left = done.last_day + timedelta(days=1)
    if first_left > plan.until:
        interrupted(
            state, stop, committed, "nothing (every day was rebuilt)", "nothing to continue"
        )
    left = (
        f"{first_left} to {plan.until} ({integer((plan.until - first_left).days + 1)} day(s)) "
        "keep the rollup rows they had"
    )
    words = command_words(ctx, since=str(first_left), until=str(plan.until), yes=True)
    resume = continue_command(state, *words)
    interrupted(state, stop, committed, left, f"continue with: {resume}")


@command()
def backfill(
    ctx: typer.Context,
    account: OptionalAccount = None,
    since: SinceOption = None,
    until: UntilOption = None,
    every: AllOption = False,
    jobs: JobsOption = 1,
    resume: ResumeOption = None,
    pause_ms: PauseOption = 0,
    max_rate: MaxRateOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before writing.")] = False,
    chunk_days: Annotated[
        int | None,
        typer.Option(
            "--chunk-days", min=1, metavar="N", help="Days per transaction (default: 31)."
        ),
    ] = None,
) -> None:
    """Rebuild local days from raw events (default: first event's day to yesterday).

    Ctrl-C or SIGTERM stops after the chunk of days being written (exit 130) and prints the
    command that rebuilds the rest. With --all, every account with a zone, as a resumable job
    (`rollups jobs`)."""
    options = (since, until, jobs, resume, pause_ms, max_rate)
    picked = one_or_all(ctx, "backfill", account, every, options)
    if picked is None:
        return
    account = picked
    state = state_of(ctx)
    first, last = parse_range(since, until)
    plan: BackfillPlan | None = None
    done = CommittedDays()
    with stopping("chunk") as stop:
        try:
            with open_database(state, migrate=not dry_run) as rollups:
                require_account(rollups, account)
                backfiller = rollups.backfiller
                if chunk_days is not None:
                    backfiller = attrs.evolve(backfiller, chunk_days=chunk_days)
                plan = backfiller.plan(account, first, last)
                replaced = None
                if dry_run and plan.since is not None:
                    replaced = len(rollups.rows(account, plan.since, plan.until))
                state.err.print(_plan_table(plan, replaced))
                if plan.days == 0:
                    state.out.print(f"account {account}: nothing to backfill (no events in range)")
                    return
                if plan.days > LONG_BACKFILL_DAYS:
                    state.err.print(
                        f"[yellow]warning:[/] {integer(plan.days)} days is more than "
                        f"{LONG_BACKFILL_DAYS}; check the range (--since/--until)"
                    )
                if dry_run:
                    state.err.print("dry run: nothing written")
                    return
                if not yes and _stdin_is_terminal() and not _confirm(plan, stop):
                    state.err.print("cancelled: nothing written")
                    return
                started = time.perf_counter()
                stop.check()
                with chunk_progress(state.err, "backfilling", stop, done, pause_ms) as progress:
                    result = backfiller.run(plan, progress)
                print_backfill_result(state.out, result, time.perf_counter() - started)
                settings = rollups.account(account)
        except KeyboardInterrupt:
            _backfill_interrupted(ctx, stop, plan, done)
    if settings.rollup_timezone != settings.timezone:
        state.err.print(
            f"note: account {account}'s rollups are not marked current (a backfill rebuilds "
            "only its range); reports come from raw events until "
            f"`rollups rebuild --account {account}`"
        )


@command()
def rebuild(
    ctx: typer.Context,
    account: OptionalAccount = None,
    every: AllOption = False,
    jobs: JobsOption = 1,
    resume: ResumeOption = None,
    pause_ms: PauseOption = 0,
    max_rate: MaxRateOption = None,
) -> None:
    """Rebuild all of an account's rollups (through today) and mark them current.

    Ctrl-C or SIGTERM stops after the chunk of days being written (exit 130); the rollups are
    marked current only by a rebuild that finishes. With --all, every account with a zone, as a
    resumable job (`rollups jobs`)."""
    options = (None, None, jobs, resume, pause_ms, max_rate)
    picked = one_or_all(ctx, "rebuild", account, every, options)
    if picked is None:
        return
    account = picked
    state = state_of(ctx)
    done = CommittedDays()
    with stopping("chunk") as stop:
        try:
            with open_database(state) as rollups:
                require_account(rollups, account)
                started = time.perf_counter()
                stop.check()
                with chunk_progress(state.err, "rebuilding", stop, done, pause_ms) as progress:
                    result = rollups.rebuild(account, progress)
        except KeyboardInterrupt:
            rebuild_interrupted(state, stop, account, done, command_words(ctx))
    print_backfill_result(state.out, result, time.perf_counter() - started)
