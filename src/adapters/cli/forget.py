"""`rollups forget --account ID [--yes]`: remove everything the library keeps for an account
the host deleted (raw events, rollups, marks, members, pending changes, settings)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import command, open_database, state_of
from reporting_rollups.adapters.cli.options import AccountOption
from reporting_rollups.adapters.cli.tables import integer


@command()
def forget(
    ctx: typer.Context,
    account: AccountOption,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove everything kept for an account (the host deleted it), in one transaction."""
    state = state_of(ctx)
    with open_database(state) as rollups:
        if not yes and sys.stdin is not None and sys.stdin.isatty():
            try:
                sure = typer.confirm(f"Forget account {account}: its raw events and rollups?")
            except (EOFError, typer.Abort):
                sure = False
            if not sure:
                state.err.print("nothing removed")
                raise typer.Exit(1)
        removed = rollups.forget(account)
    state.out.print(f"account {account}: forgotten ({integer(removed)} raw event(s) removed)")
