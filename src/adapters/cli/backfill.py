"""`rollups backfill` and `rollups rebuild`: rebuild rollups from raw events."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Final

import typer
from rich.table import Table

from reporting_rollups.adapters.cli.app import command, open_database, require_account, state_of
from reporting_rollups.adapters.cli.options import (
    AccountOption,
    SinceOption,
    UntilOption,
    parse_range,
)
from reporting_rollups.adapters.cli.output import backfill_progress, print_backfill_result
from reporting_rollups.adapters.cli.tables import integer, label_table
from reporting_rollups.application.backfill import BackfillPlan

#: Backfills longer than this ask for a second thought.
LONG_BACKFILL_DAYS: Final = 730


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _confirm(plan: BackfillPlan) -> bool:
    """Ask before a backfill writes; end of input or Ctrl-C at the prompt is an interruption."""
    question = f"Rebuild {plan.days} day(s) of account {plan.account_id}?"
    try:
        return typer.confirm(question, default=True, err=True)
    except typer.Abort:
        raise KeyboardInterrupt from None


def _plan_table(plan: BackfillPlan) -> Table:
    return label_table(
        f"Backfill plan, account {plan.account_id}",
        (
            ("account", str(plan.account_id)),
            ("time zone", plan.timezone),
            ("range", f"{plan.since} to {plan.until}" if plan.since else "-"),
            ("days", integer(plan.days)),
            ("first event", str(plan.first_event or "-")),
            ("last event", str(plan.last_event or "-")),
        ),
    )


@command()
def backfill(
    ctx: typer.Context,
    account: AccountOption,
    since: SinceOption = None,
    until: UntilOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before writing.")] = False,
) -> None:
    """Rebuild local days from raw events (default: first event's day to yesterday)."""
    state = state_of(ctx)
    first, last = parse_range(since, until)
    with open_database(state, migrate=not dry_run) as rollups:
        require_account(rollups, account)
        plan = rollups.backfiller.plan(account, first, last)
        state.err.print(_plan_table(plan))
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
        if not yes and _stdin_is_terminal() and not _confirm(plan):
            state.err.print("cancelled: nothing written")
            return
        started = time.perf_counter()
        with backfill_progress(state.err, "backfilling") as progress:
            result = rollups.backfiller.run(plan, progress)
        print_backfill_result(state.out, result, time.perf_counter() - started)
        settings = rollups.account(account)
    if settings.rollup_timezone != settings.timezone:
        state.err.print(
            f"note: account {account}'s rollups are not marked current (a backfill rebuilds "
            "only its range); reports come from raw events until "
            f"`rollups rebuild --account {account}`"
        )


@command()
def rebuild(ctx: typer.Context, account: AccountOption) -> None:
    """Rebuild all of an account's rollups (through today) and mark them current."""
    state = state_of(ctx)
    with open_database(state) as rollups:
        require_account(rollups, account)
        started = time.perf_counter()
        with backfill_progress(state.err, "rebuilding") as progress:
            result = rollups.rebuild(account, progress)
    print_backfill_result(state.out, result, time.perf_counter() - started)
