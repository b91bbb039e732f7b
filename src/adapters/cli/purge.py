"""`rollups purge (--account ID | --all) --before DATE [--dry-run] [--yes]`: delete old raw
events and keep their rollups as history (the days before DATE become sealed)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import CliInputError, command, open_database, state_of
from reporting_rollups.adapters.cli.options import parse_date
from reporting_rollups.adapters.cli.output import backfill_progress
from reporting_rollups.adapters.cli.tables import integer
from reporting_rollups.application.purge import PurgePlan


def _plan_line(plan: PurgePlan) -> str:
    return (
        f"account {plan.account_id} ({plan.timezone}): purge {integer(plan.events)} raw "
        f"event(s) of {integer(plan.days)} local day(s) before {plan.before}, keep "
        f"{integer(plan.rollup_rows)} rollup row(s); days before {plan.before} become sealed"
    )


def _confirmed(count: int) -> bool:
    if sys.stdin is None or not sys.stdin.isatty():
        return True
    try:
        return typer.confirm(f"Purge the raw events of {count} account(s)? They cannot be rebuilt")
    except (EOFError, typer.Abort):
        return False


@command()
def purge(
    ctx: typer.Context,
    before: Annotated[
        str, typer.Option("--before", metavar="DATE", help="First local day kept, YYYY-MM-DD.")
    ],
    account: Annotated[
        int | None, typer.Option("--account", "-a", min=1, help="One account.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every account with a zone.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting.")] = False,
) -> None:
    """Delete the raw events of the local days before DATE, keep their rollups (sealed days)."""
    if (account is None) == (not every):
        raise CliInputError("give --account ID or --all (one of them)")
    day = parse_date(before, "--before")
    assert day is not None
    state = state_of(ctx)
    with open_database(state) as rollups:
        if account is not None:
            accounts = [account]
        else:
            accounts = []
            for found in rollups.status().accounts:
                if found.settings.timezone is not None:
                    accounts.append(found.account_id)
                elif found.raw_events:
                    state.err.print(
                        f"account {found.account_id}: skipped (no reporting zone: it has no "
                        "local days)"
                    )
        plans = [rollups.purge_plan(account_id, day) for account_id in accounts]
        for plan in plans:
            state.err.print(_plan_line(plan))
        if dry_run or not plans:
            return
        if not yes and not _confirmed(len(plans)):
            state.err.print("nothing purged")
            raise typer.Exit(1)
        with backfill_progress(state.err, "purging") as progress:
            results = [rollups.purge(day, plan.account_id, progress)[0] for plan in plans]
    for result in results:
        state.out.print(
            f"account {result.plan.account_id}: purged {integer(result.events)} raw event(s); "
            f"days before {day} are sealed"
        )
